"""The front ends of pretrained models against LogMel in single-threaded CPU time.

The same step as ``benchmarks/frontends.py`` (batch 16 x 1 s of speech at 16 kHz, forward
plus backward of ``0.5 * sum(y**2)`` with respect to the weights and the input, TensorFlow
graph or JAX jit) with the backend held to one thread, timed by the process's CPU time
(``time.process_time``) in interleaved rounds. Why: on a machine shared with other work,
wall-clock ratios move by 2x between rows that do the same work, while the CPU time a
single-threaded step spends moves by a few percent; it measures work, not parallel speed-up.

    KERAS_BACKEND=tensorflow python benchmarks/pretrained_cpu_time.py --repeats 15
    KERAS_BACKEND=jax python benchmarks/pretrained_cpu_time.py --repeats 15

The row ``keras.ops.stft log-mel (hand-written)`` is LogMel's parameters written by hand
with ``keras.ops.stft`` (``benchmarks/frontends.py``'s row): LogMel's target is 1.2x it. The
row ``keras_mel (no weight check)`` runs ``rfft``'s FFT without its per-call check that the
fixed weight is still the DFT: the difference to ``keras_mel`` is what the check costs.
``LogMel (matmul)`` (its basis as a dense product) and ``PCENMel`` (a learnable PCEN on the
same mel) are the fixed front ends' other rows. ``--rows hand,PCEN`` times only LogMel and
the rows whose name contains one of those parts; ``--shape 8000,0.25,32`` another step (the
language-ID recipe's; the presets, 16 kHz, are left out at another rate).
The learnable front ends ``EfficientLEAF``, ``LEAF`` (band-limited, the default) and
``LEAF (stride-1)`` (``band_limited=False``, the definition) are timed only when ``--rows``
names them exactly (``--rows "EfficientLEAF,LEAF,LEAF (stride-1)"``; LEAF's compilation
takes minutes, and a LEAF step's memory traffic slows the cheap rows it is interleaved with:
time those apart), at the step's
rate with their default 25 ms window and 10 ms hop; EfficientLEAF's LogTBN in training mode.
The rows ``(dense mel product)`` run the mel weighting as one dense product instead of the
banded one (``BandedProduct``): the difference is what the band saves.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# One thread for XLA (JAX), set before JAX starts.
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

HAND_WRITTEN = "keras.ops.stft log-mel (hand-written)"
PRESETS = ("whisper", "kaldi_fbank", "ast", "beats", "torchaudio_mel", "keras_mel")


def _unchecked(layer, methods):
    """``layer``'s call with ``rfft`` running its FFT unchecked while it is traced."""
    checked = methods.RFFT.project_structured

    def call(x):
        methods.RFFT.project_structured = lambda self, s, basis, structure, hop: self._stft(
            s, structure, hop
        )
        try:
            return layer(x)
        finally:
            methods.RFFT.project_structured = checked

    return call


def _rows(bench, x, wanted: list[str]) -> dict:
    """``{row name: (fn, variables)}``: LogMel first, the rows whose name contains a part of
    ``wanted`` (all if empty); the pretrained presets only at 16 kHz (their rate)."""
    from framebank import frontends, methods

    def fixed(name):
        if name == "LogMel":
            return frontends.LogMel(bench.RATE)
        if name == "LogMel (matmul)":
            return frontends.LogMel(bench.RATE, method="matmul")
        return frontends.PCENMel(bench.RATE) if name == "PCENMel" else frontends.FRONTENDS[name]()

    rows = {}
    for name in ("LogMel", "LogMel (matmul)", "PCENMel", *(PRESETS if bench.RATE == 16000 else ())):
        layer = fixed(name)
        layer(x[:1])
        rows[name] = (layer, list(layer.trainable_variables))
        if name == "LogMel":
            rows[HAND_WRITTEN] = (bench._stft_log_mel(layer), [])
    if "keras_mel" in rows:
        rows["keras_mel (no weight check)"] = (_unchecked(rows["keras_mel"][0], methods), [])
    return {
        name: row
        for name, row in rows.items()
        if name == "LogMel" or not wanted or any(part in name for part in wanted)
    } | _learnable(bench.RATE, x, wanted)


def _learnable(rate: int, x, wanted: list[str]) -> dict:
    """The learnable rows that ``wanted`` names exactly (none when it is empty: they are
    slow to build and compile)."""
    from framebank import frontends

    makers = {
        "EfficientLEAF": lambda: frontends.EfficientLEAF(rate),
        "LEAF": lambda: frontends.LEAF(rate),
        "LEAF (stride-1)": lambda: frontends.LEAF(rate, band_limited=False),
    }
    rows = {}
    for name, make in makers.items():
        if name in wanted:
            layer = make()
            layer(x[:1])
            call = (lambda s, layer=layer: layer(s, training=True)) if "Eff" in name else layer
            rows[name] = (call, list(layer.trainable_variables))
    return rows


def _interleaved(steps: dict, repeats: int) -> dict[str, list[float]]:
    """CPU seconds of each step, ``repeats`` rounds, each round's order rotated."""
    laps: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        step(), step()  # trace or compile, then warm up
    names = list(steps)
    for k in range(repeats):
        for name in names[k % len(names) :] + names[: k % len(names)]:
            start = time.process_time()
            steps[name]()
            laps[name].append(time.process_time() - start)
    return laps


def _dense_mel(layer):
    """``layer``'s call with its mel weighting traced as the dense product."""
    products = [sub.product for sub in layer._flatten_layers() if hasattr(sub, "product")]

    def call(x):
        used = [product.used for product in products]
        for product in products:
            product.used = False
        try:
            return layer(x)
        finally:
            for product, flag in zip(products, used, strict=True):
                product.used = flag

    return call


def single_thread_speech(shape: str) -> tuple:
    """One thread for the backend (TensorFlow's pools set here; JAX by the caller's
    XLA_FLAGS), ``frontends.py``'s shape set from ``shape`` ("rate,seconds,batch"), and its
    speech batch: ``(the frontends module, the worker module, x)``."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import frontends as bench
    import worker

    rate, seconds, batch = shape.split(",")
    bench.RATE, bench.SECONDS, bench.BATCH = int(rate), float(seconds), int(batch)
    return bench, worker, bench._speech()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rows", default="", help="comma-separated parts of row names")
    parser.add_argument("--shape", default="16000,1.0,16", help="rate (Hz),seconds,batch")
    parser.add_argument(
        "--dense-rows",
        default="keras_mel",
        help="comma-separated front ends also timed with the dense mel product",
    )
    args = parser.parse_args(argv)
    import keras

    bench, worker, x = single_thread_speech(args.shape)
    rows = _rows(bench, x, [part for part in args.rows.split(",") if part])
    for name in filter(None, args.dense_rows.split(",")):
        if name in rows:  # the presets run at 16 kHz only
            rows[f"{name} (dense mel product)"] = (_dense_mel(rows[name][0]), [])
    steps = {
        name: worker.make_step(fn, variables, x, "weights+input", "graph")
        for name, (fn, variables) in rows.items()
    }
    laps = _interleaved(steps, args.repeats)
    base = float(np.median(laps["LogMel"]))
    print(
        f"{keras.backend.backend()}, one thread, {args.shape} (rate, s, batch), "
        f"CPU ms per step (median of {args.repeats})"
    )
    print("| front end | CPU ms | x LogMel |\n|---|---|---|")
    for name, lap in laps.items():
        median = float(np.median(lap))
        print(f"| {name} | {median * 1e3:.1f} | {median / base:.2f}x |")
    if HAND_WRITTEN in laps:
        print(f"LogMel / hand-written: {base / float(np.median(laps[HAND_WRITTEN])):.2f}x")


if __name__ == "__main__":
    main()
