"""Why a frames method's peak memory reads one output above the bare matmul under TensorFlow.

TensorFlow-only on purpose: it probes TensorFlow's own executor (oneDNN,
Grappler), so it is written in ``tf`` directly, not through framebank. Each
variant runs in a fresh process (peak RSS is per process) and prints its peak
over a baseline taken after the input exists, as a multiple of the output
``[batch*frames, num_basis]`` (L32 h16 N512, batch 16 x 4 s at 16 kHz: 125 MB)::

    python benchmarks/tf_memory_probe.py            # every variant, oneDNN on and off
    python benchmarks/tf_memory_probe.py --one computed square tape   # one variant, this process

Variants: frames fed in as the input (``input``) or made in the graph from the
waveform (``computed``); the loss ``0.5*sum(y**2)`` (``square``),
``0.5*sum(y*y)`` (``mul``), ``sum(|y|)`` (``abs``), ``sum(y)`` (``sum``) or
``0.5*sum(y**2)`` with its gradient written out as ``y * upstream`` instead of
TensorFlow's own (``square_written``); the
projection's gradient from the tape (``tape``) or written by hand
(``custom``). ``--disable PASS`` turns one Grappler pass off.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys

L, HOP, N, BATCH, TIME = 32, 16, 512, 16, 64000
FRAMES = ("input", "computed")
LOSSES = ("square", "mul", "abs", "sum", "square_written")
GRADS = ("tape", "custom")


def _hwm_mb() -> float:
    from framebank.device import peak_rss_bytes

    return peak_rss_bytes() / 2**20


def run_one(frames: str, loss: str, grad: str, disable: str | None) -> float:
    """Peak RSS rise of two steps of one variant, over the output's size."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    if disable:
        tf.config.optimizer.set_experimental_options({disable: False})
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((BATCH, TIME)).astype("float32")
    windows = np.lib.stride_tricks.sliding_window_view(signal, L, axis=1)[:, ::HOP]
    x = tf.constant(np.ascontiguousarray(windows) if frames == "input" else signal)
    w = tf.Variable(rng.standard_normal((L, N)).astype("float32"))
    output_mb = windows.shape[0] * windows.shape[1] * N * 4 / 2**20

    @tf.custom_gradient
    def project(a, b):
        def backward(dy):
            return tf.matmul(dy, b, transpose_b=True), tf.matmul(a, dy, transpose_a=True)

        return tf.matmul(a, b), backward

    @tf.custom_gradient
    def square_written(t):
        # The gradient of 0.5*sum(t**2) is t times the scalar upstream: one output-sized
        # product, where TensorFlow's own broadcasts the upstream and forms 2*t first.
        def backward(upstream):
            return t * upstream

        return 0.5 * tf.reduce_sum(tf.square(t)), backward

    @tf.function
    def step(xin):
        with tf.GradientTape() as tape:
            framed = xin if frames == "input" else tf.signal.frame(xin, L, HOP)
            flat = tf.reshape(framed, (-1, L))
            y = project(flat, w) if grad == "custom" else tf.matmul(flat, w)
            value = {
                "square": lambda: 0.5 * tf.reduce_sum(tf.square(y)),
                "mul": lambda: 0.5 * tf.reduce_sum(y * y),
                "abs": lambda: tf.reduce_sum(tf.abs(y)),
                "sum": lambda: tf.reduce_sum(y),
                "square_written": lambda: square_written(y),
            }[loss]()
        return tape.gradient(value, [w])

    base = _hwm_mb()
    step(x)
    step(x)
    return (_hwm_mb() - base) / output_mb


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=3, metavar=("FRAMES", "LOSS", "GRAD"))
    parser.add_argument("--disable", default=None, help="a Grappler pass to turn off")
    args = parser.parse_args(argv)
    if args.one:
        frames, loss, grad = args.one
        print(f"{run_one(frames, loss, grad, args.disable):.2f}")
        return
    print("| oneDNN | frames | loss | gradient | peak over baseline, x output |")
    print("|---|---|---|---|---|")
    for onednn, frames, loss, grad in itertools.product(("1", "0"), FRAMES, LOSSES, GRADS):
        if grad == "custom" and loss != "square":
            continue  # the hand-written gradient is asked once, on the timed steps' loss
        env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn)
        command = [sys.executable, __file__, "--one", frames, loss, grad]
        if args.disable:
            command += ["--disable", args.disable]
        proc = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        ratio = proc.stdout.strip().splitlines()[-1]
        print(f"| {'on' if onednn == '1' else 'off'} | {frames} | {loss} | {grad} | {ratio}x |")


if __name__ == "__main__":
    main()
