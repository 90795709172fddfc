"""One-off comparisons behind choices in framebank's code (quoted in ``benchmarks/README.md``).

Each trial times two or three ways of computing the same thing, in interleaved
rounds in one process (``worker.time_interleaved``), under the backend in
``KERAS_BACKEND``, and prints one line per shape and gradient case::

    KERAS_BACKEND=jax python benchmarks/trials.py overlap-add
    KERAS_BACKEND=tensorflow python benchmarks/trials.py framing-gradient
    KERAS_BACKEND=torch python benchmarks/trials.py torch-channels-first

* ``overlap-add``: :func:`framebank.framing.overlap_add`'s column slices against
  the earlier pad-every-frame-and-reshape (kept here as ``padded_reshape``),
  forward plus backward on ``[batch, frames, frame_len]``.
* ``framing-gradient``: frames, then one matmul, with the framing's gradient
  from the backend's own gather gradient or from an explicit overlap-add
  (``keras.ops.custom_gradient``); framebank uses the latter under TensorFlow.
* ``decoder``: every ``Decoder`` method (synthesis product plus overlap-add),
  forward plus backward with the coefficients' gradient (a decoder sits inside
  a model), ratios to the first method (``dense``, the default).
* ``torch-channels-first``: the ``strided_conv`` method's Keras conv on a
  ``[batch, time, 1]`` input against the same conv on ``[batch, 1, time]``
  (``data_format="channels_first"``) and a transpose of the output; not
  adopted (slower in the training case).
* ``pcen-smoother``: PCEN's exponential moving average over ``[16, frames, 40]``
  (``--frames``), forward plus backward (input and per-channel coefficient):
  a loop over frames (``keras.ops.scan``, as LEAF's ``tf.scan``), a
  ``keras.ops.associative_scan`` on the linear recurrence, and framebank's
  blocked products (:func:`framebank.postprocessing.exponential_moving_average`)
  at 16 frames a block (its default), 32 and 64.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import worker  # noqa: E402

MODES = {"tensorflow": "graph", "jax": "jit", "torch": "eager"}


def padded_reshape(y, hop: int):
    """The overlap-add framebank used before: pad every frame to whole hops, reshape, shift."""
    from keras import ops

    frame_len, count = y.shape[-1], y.shape[1]
    segments = -(-frame_len // hop)
    if segments * hop > frame_len:
        y = ops.pad(y, [[0, 0], [0, 0], [0, segments * hop - frame_len]])
    y = ops.reshape(y, (-1, count, segments, hop))
    total = None
    for k in range(segments):
        part = ops.pad(y[:, :, k, :], [[0, 0], [k, segments - 1 - k], [0, 0]])
        total = part if total is None else total + part
    out = ops.reshape(total, (-1, (count + segments - 1) * hop))
    return out[:, : (count - 1) * hop + frame_len]


def _report(label: str, results: dict) -> None:
    first = next(iter(results.values()))[0]
    cells = "  ".join(f"{k} {v[0] * 1e3:.1f} ms ({v[0] / first:.2f}x)" for k, v in results.items())
    print(f"{label}: {cells}", flush=True)


def _weights(s: worker.Shape):
    import keras

    rng = np.random.default_rng(1)
    return keras.Variable(rng.standard_normal((s.frame_len, s.num_basis)).astype("float32") / 20)


def overlap_add_shape(s: worker.Shape, repeats: int, mode: str) -> None:
    import keras

    from framebank.framing import overlap_add

    frames = np.random.default_rng(0).standard_normal((s.batch, s.frames, s.frame_len))
    frames = frames.astype("float32")
    scale = keras.Variable(np.ones((1,), "float32"))  # a step needs one variable
    fns = {
        "padded_reshape": lambda x: padded_reshape(x * scale, s.hop),
        "column_slices": lambda x: overlap_add(x * scale, s.hop),
    }
    steps = {k: worker.make_step(f, [scale], frames, "weights+input", mode) for k, f in fns.items()}
    _report(f"{s.name} {mode} overlap-add", worker.time_interleaved(steps, repeats, 60))


def framing_gradient_shape(s: worker.Shape, repeats: int, mode: str) -> None:
    from keras import ops

    from framebank.framing import _gather_frames, _overlap_add_blocks, fit_length

    signal, w = worker.make_signal(s), _weights(s)

    @ops.custom_gradient
    def frames_overlap_add_grad(x):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return fit_length(_overlap_add_blocks(upstream, s.hop), s.time)

        return _gather_frames(x, s.frames, s.frame_len, s.hop), grad

    def project(frames):
        flat = ops.matmul(ops.reshape(frames, (-1, s.frame_len)), w)
        return ops.reshape(flat, (-1, s.frames, s.num_basis))

    fns = {
        "gather_gradient": lambda x: project(_gather_frames(x, s.frames, s.frame_len, s.hop)),
        "overlap_add_gradient": lambda x: project(frames_overlap_add_grad(x)),
    }
    limit_fn, limit_x, limit_vars, _ = worker.build_impl("limit", s, signal, "float32")
    for case in worker.GRAD_CASES:
        steps = {"limit": worker.make_step(limit_fn, limit_vars, limit_x, case, mode)}
        steps.update({k: worker.make_step(f, [w], signal, case, mode) for k, f in fns.items()})
        _report(f"{s.name} {mode} {case}", worker.time_interleaved(steps, repeats, 60))


def torch_channels_first_shape(s: worker.Shape, repeats: int, mode: str) -> None:
    import keras
    from keras import ops

    if keras.backend.backend() != "torch":
        raise SystemExit("torch-channels-first: run with KERAS_BACKEND=torch")
    signal, w = worker.make_signal(s), _weights(s)

    def channels_last(x):
        kernel = ops.reshape(w, (s.frame_len, 1, s.num_basis))
        return ops.conv(ops.expand_dims(x, -1), kernel, strides=s.hop)

    def channels_first(x):
        kernel = ops.reshape(w, (s.frame_len, 1, s.num_basis))
        y = ops.conv(ops.expand_dims(x, 1), kernel, strides=s.hop, data_format="channels_first")
        return ops.transpose(y, (0, 2, 1))

    for case in worker.GRAD_CASES:
        steps = {
            "channels_last": worker.make_step(channels_last, [w], signal, case, mode),
            "channels_first": worker.make_step(channels_first, [w], signal, case, mode),
        }
        _report(f"{s.name} {mode} {case}", worker.time_interleaved(steps, repeats, 60))


def decoder_shape(s: worker.Shape, repeats: int, mode: str) -> None:
    import keras

    from framebank.methods import METHODS, get_method

    rng = np.random.default_rng(0)
    coefficients = rng.standard_normal((s.batch, s.frames, s.num_basis)).astype("float32")
    synthesis = keras.Variable(
        (rng.standard_normal((s.num_basis, s.frame_len)) / np.sqrt(s.num_basis)).astype("float32")
    )
    steps = {
        name: worker.make_step(
            lambda c, fn=fn: fn(c, synthesis, s.hop), [synthesis], coefficients, case, mode
        )
        for name, fn in ((name, get_method(name).synthesize) for name in sorted(METHODS))
        for case in ["weights+input"]
    }
    _report(f"{s.name} {mode} decoder, weights+input", worker.time_interleaved(steps, repeats, 60))


def sequential_smoother(x, coef, initial):
    """The smoother one frame at a time (``keras.ops.scan``): LEAF's form."""
    from keras import ops

    def step(state, frame):
        state = coef * frame + (1 - coef) * state
        return state, state

    _, states = ops.scan(step, initial, ops.transpose(x, (1, 0, 2)))
    return ops.transpose(states, (1, 0, 2))


def associative_scan_smoother(x, coef, initial):
    """``keras.ops.associative_scan`` over (decay, input) pairs: (a, b), (c, d) -> (ac, cb + d)."""
    from keras import ops

    b = coef * x
    b = ops.concatenate([b[:, :1] + (1 - coef) * initial[:, None], b[:, 1:]], axis=1)
    decay = ops.broadcast_to(1 - coef, x.shape)

    def combine(first, second):
        return first[0] * second[0], second[0] * first[1] + second[1]

    return ops.associative_scan(combine, (decay, b), axis=1)[1]


def pcen_smoother(frame_counts: list[int], repeats: int, mode: str) -> None:
    import keras

    from framebank.postprocessing import pcen

    def blocked(size):
        def smooth(x, coef, initial):
            default, pcen.BLOCK = pcen.BLOCK, size
            try:
                return pcen.exponential_moving_average(x, coef, initial)
            finally:
                pcen.BLOCK = default

        return smooth

    fns = {
        "sequential": sequential_smoother,
        "associative_scan": associative_scan_smoother,
        "blocked16": blocked(16),
        "blocked32": blocked(32),
        "blocked64": blocked(64),
    }
    if mode == "xla":
        # Under TensorFlow with XLA, keras.ops.scan's gradient does not compile (a while
        # loop's TensorArray without a maximum size) and keras.ops.associative_scan fails
        # at 100 frames (it concatenates halves of unequal length): both left out.
        print("xla: sequential and associative_scan left out (they fail to compile)", flush=True)
        del fns["sequential"], fns["associative_scan"]
    rng = np.random.default_rng(0)
    for frames in frame_counts:
        x = (100 * rng.random((16, frames, 40)) ** 4).astype("float32")
        coef = keras.Variable(rng.uniform(0.02, 0.06, 40).astype("float32"))
        steps = {
            k: worker.make_step(
                lambda t, f=f, c=coef: f(t, c.value, t[:, 0]), [coef], x, "weights+input", mode
            )
            for k, f in fns.items()
        }
        label = f"[16, {frames}, 40] {mode} pcen-smoother, weights+input"
        _report(label, worker.time_interleaved(steps, repeats, 120))


TRIALS = {
    "decoder": decoder_shape,
    "overlap-add": overlap_add_shape,
    "framing-gradient": framing_gradient_shape,
    "pcen-smoother": pcen_smoother,
    "torch-channels-first": torch_channels_first_shape,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trial", choices=sorted(TRIALS))
    parser.add_argument(
        "--shapes", default="tasnet8k,tasnet16k,stft25ms", help="names or frame_len/hop/num_basis"
    )
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--mode", default=None, help="graph or xla under TensorFlow")
    parser.add_argument("--frames", default="100,1000", help="pcen-smoother: frame counts")
    args = parser.parse_args(argv)
    import keras

    mode = args.mode or MODES[keras.backend.backend()]
    if args.trial == "pcen-smoother":
        pcen_smoother([int(n) for n in args.frames.split(",")], args.repeats, mode)
        return
    for name in args.shapes.split(","):
        TRIALS[args.trial](shape(name), args.repeats, mode)


def shape(name: str) -> worker.Shape:
    """A benchmark shape by name, or ``frame_len/hop/num_basis`` (16 kHz, batch 16, 4 s)."""
    if name in worker.SHAPES:
        return worker.SHAPES[name]
    frame_len, hop, num_basis = (int(v) for v in name.split("/"))
    return worker.Shape(f"L{frame_len}h{hop}N{num_basis}", 16000, frame_len, hop, num_basis)


if __name__ == "__main__":
    main()
