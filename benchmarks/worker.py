"""One benchmark process: time (or measure the memory of) framebank's methods on one backend.

Run by ``benchmarks/run.py`` with ``KERAS_BACKEND`` set; it prints one JSON
object per line. Not meant to be run by hand, but it can be::

    KERAS_BACKEND=jax python benchmarks/worker.py time --shapes tasnet8k --repeats 10

Every timed step is a forward plus backward pass of ``0.5 * sum(y**2)`` (so the
output's gradient is the output itself, a full-size tensor as in training),
in one of two gradient cases: ``weights`` (the training case: a front end on
raw audio needs no input gradient) and ``weights+input`` (the in-model case).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


@dataclass(frozen=True)
class Shape:
    """One benchmark shape: ``batch`` signals of ``seconds`` at ``sample_rate``."""

    name: str
    sample_rate: int
    frame_len: int
    hop: int
    num_basis: int
    batch: int = 16
    seconds: float = 4.0

    @property
    def time(self) -> int:
        return int(round(self.sample_rate * self.seconds))

    @property
    def frames(self) -> int:
        return 1 + (self.time - self.frame_len) // self.hop


SHAPES = {
    "tasnet8k": Shape("tasnet8k", 8000, 16, 8, 512),
    "tasnet16k": Shape("tasnet16k", 16000, 32, 16, 512),
    "stft25ms": Shape("stft25ms", 16000, 400, 160, 256),
    "nooverlap": Shape("nooverlap", 16000, 80, 80, 256),
}
# --quick: the same four framings on tiny signals (file plumbing, not timing).
QUICK_SHAPES = {
    name: Shape(s.name, s.sample_rate, s.frame_len, s.hop, s.num_basis // 8, 2, 0.25)
    for name, s in SHAPES.items()
}

METHOD_NAMES = ["reshape_conv", "pointwise_conv", "dense", "matmul", "strided_conv"]
GRAD_CASES = ("weights", "weights+input")


def get_shape(name: str, quick: bool) -> Shape:
    return (QUICK_SHAPES if quick else SHAPES)[name]


def make_signal(shape: Shape) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((shape.batch, shape.time)).astype("float32")


def fourier_num_basis(frame_len: int) -> int:
    """Real and imaginary parts of ``frame_len // 2 + 1`` bins (Keras's ``stft`` mode)."""
    return 2 * (frame_len // 2 + 1)


# --------------------------------------------------------------------------- the things timed


def build_impl(impl: str, shape: Shape, signal: np.ndarray, compute_dtype: str):
    """Return ``(fn, x, variables, num_basis)``: ``fn(x) -> y`` is what a step differentiates.

    ``impl`` is ``limit`` (one matmul on pre-framed data, the floor), a method
    name, ``auto``, ``keras_stft`` (``keras.layers.STFTSpectrogram``),
    ``fourier`` (framebank's Fourier basis by the resolved auto method) or
    ``limit_stft`` (the floor at the Fourier num_basis).
    """
    import keras
    from keras import ops

    import framebank as fb

    L, hop, N = shape.frame_len, shape.hop, shape.num_basis
    if impl in ("limit", "limit_stft"):
        n = N if impl == "limit" else fourier_num_basis(L)
        frames = np.lib.stride_tricks.sliding_window_view(signal, L, axis=1)[:, ::hop]
        x = np.ascontiguousarray(frames.reshape(-1, L))
        rng = np.random.default_rng(1)
        w = keras.Variable(rng.standard_normal((L, n)).astype("float32") / np.sqrt(L), name="w")

        def fn(frames2d: Any) -> Any:
            return ops.matmul(ops.cast(frames2d, compute_dtype), ops.cast(w, compute_dtype))

        return fn, x, [w], n
    if impl == "keras_stft":
        layer = keras.layers.STFTSpectrogram(
            mode="stft", frame_length=L, frame_step=hop, fft_length=L, padding="valid",
            trainable=True,
        )  # fmt: skip
        x = signal[:, :, None]
        layer.build(x.shape)
        return layer, x, layer.trainable_variables, fourier_num_basis(L)
    if impl == "fourier":
        n = fourier_num_basis(L)
        try:
            layer = fb.Encoder(n, L, hop, method="auto", filterbank="fourier")
        except (ValueError, TypeError, KeyError):
            # No Fourier family yet: a free basis of the same size costs the same.
            layer = fb.Encoder(n, L, hop, method="auto")
        layer.build(signal.shape)
        return layer, signal, layer.trainable_variables, n
    layer = fb.Encoder(N, L, hop, method=impl)
    layer.build(signal.shape)
    return layer, signal, layer.trainable_variables, N


def flops(m: int, k: int, n: int, grad_case: str) -> float:
    """Multiply-adds x 2 of the forward product and its backward products."""
    products = 2 if grad_case == "weights" else 3
    return products * 2.0 * m * k * n


# --------------------------------------------------------------------------- per-backend steps


def make_step(
    fn: Callable, variables: list, x: np.ndarray, grad_case: str, mode: str, loss: str = "square"
):
    """A zero-argument callable running one forward+backward step and waiting for it.

    ``loss="square"`` differentiates ``0.5 * sum(y**2)`` (the timed steps);
    ``loss="sum"`` differentiates ``sum(y)``, whose forward makes no
    output-sized temporary, so a memory figure shows what the projection
    itself holds: the output and its gradient.
    """
    import keras

    backend = keras.backend.backend()
    input_grad = grad_case == "weights+input"
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)
        tvars = [v.value for v in variables]

        @tf.function(jit_compile=(mode == "xla"), reduce_retracing=True)
        def step(xin):
            with tf.GradientTape() as tape:
                if input_grad:
                    tape.watch(xin)
                y = tf.cast(fn(xin), tf.float32)
                value = tf.reduce_sum(y) if loss == "sum" else 0.5 * tf.reduce_sum(tf.square(y))
            return tape.gradient(value, tvars + ([xin] if input_grad else []))

        return lambda: step(xt)  # a tf.function on the CPU returns when its result is ready
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        xj = jnp.asarray(x)

        def value(var_values, xin):
            with keras.StatelessScope(state_mapping=list(zip(variables, var_values, strict=True))):
                y = fn(xin).astype("float32")
            return jnp.sum(y) if loss == "sum" else 0.5 * jnp.sum(jnp.square(y))

        grad = jax.jit(jax.grad(value, argnums=(0, 1) if input_grad else 0))
        values = [v.value for v in variables]
        return lambda: jax.block_until_ready(grad(values, xj))
    if backend == "torch":
        import torch

        # On Keras's device (a GPU where there is one), so no step copies its input.
        xt = keras.ops.convert_to_tensor(x).requires_grad_(input_grad)
        sync = _torch_sync(xt.device)

        def step():
            for v in variables:
                v.value.grad = None
            xt.grad = None
            y = fn(xt).float()
            (torch.sum(y) if loss == "sum" else 0.5 * torch.sum(y * y)).backward()
            sync()

        return step
    raise NotImplementedError(backend)


def asteroid_step(shape: Shape, signal: np.ndarray, grad_case: str, loss: str = "square"):
    """asteroid-filterbanks' ``Encoder(FreeFB)``, the PyTorch peer, as a step."""
    import torch
    from asteroid_filterbanks import Encoder, FreeFB

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    enc = Encoder(FreeFB(shape.num_basis, shape.frame_len, shape.hop)).to(device)
    xt = torch.tensor(signal[:, None, :], device=device, requires_grad=grad_case == "weights+input")
    sync = _torch_sync(device)

    def step():
        enc.zero_grad(set_to_none=True)
        xt.grad = None
        y = enc(xt)
        (torch.sum(y) if loss == "sum" else 0.5 * torch.sum(y * y)).backward()
        sync()

    return step


def _torch_sync(device: Any) -> Callable[[], None]:
    """What a torch step calls last: CUDA runs asynchronously, so wait for it there."""
    import torch

    if torch.device(device).type == "cuda":
        return torch.cuda.synchronize
    return lambda: None


def probe(
    fn: Callable, variables: list, x: np.ndarray, batch: int, grad_case: str, mode: str
) -> float:
    """Seconds one full-batch step would take, from a step on one batch item.

    A cheap guard: Method 1 under TensorFlow's XLA takes seconds to minutes a
    step on the full batch, which would stall the whole run.
    """
    small = make_step(fn, variables, x[: max(1, len(x) // batch)], grad_case, mode)
    small()  # trace / compile
    start = time.perf_counter()
    small()
    return (time.perf_counter() - start) * batch


def time_interleaved(
    steps: dict[str, Callable], repeats: int, budget_s: float
) -> dict[str, tuple[float, int, float]]:
    """Median seconds per step of each callable, timed in interleaved rounds.

    The machine is shared, so load comes and goes: one step of every
    implementation per round (in a rotating order) exposes them all, and the
    limit, to the same load, which keeps the ratios fair. A step slower than
    ``budget_s / repeats`` after warm-up (a pathological case) is timed in 3
    rounds only.

    Returns ``{name: (median seconds, steps timed, first-call seconds)}``.
    """
    first, laps, rounds = {}, {}, {}
    for name, step in steps.items():
        start = time.perf_counter()
        step()  # trace / compile
        first[name] = time.perf_counter() - start
        start = time.perf_counter()
        step()  # warm-up
        one = time.perf_counter() - start
        laps[name] = []
        rounds[name] = repeats if one * repeats <= budget_s else 3
    names = list(steps)
    for k in range(repeats):
        order = names[k % len(names) :] + names[: k % len(names)]
        for name in order:
            if len(laps[name]) >= rounds[name]:
                continue
            start = time.perf_counter()
            steps[name]()
            laps[name].append(time.perf_counter() - start)
    return {n: (float(np.median(laps[n])), len(laps[n]), first[n]) for n in names}


def run_time(args: argparse.Namespace) -> None:
    import keras

    import framebank as fb
    from framebank.device import device_description

    warnings.simplefilter("ignore")  # Method 1's warning: the benchmark asks for it on purpose
    backend = keras.backend.backend()
    device = device_description()[1]
    if backend == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # one tf.function a configuration is the point
    modes = {"tensorflow": ["graph", "xla"], "jax": ["jit"], "torch": ["eager"]}[backend]
    if args.modes:
        modes = [m for m in modes if m in args.modes.split(",")]
    impls = ["limit", *METHOD_NAMES, "auto"]
    if args.impls:
        impls = args.impls.split(",")
    precisions = args.precisions.split(",")
    for shape_name in args.shapes.split(","):
        shape = get_shape(shape_name, args.quick)
        signal = make_signal(shape)
        m = shape.batch * shape.frames
        for mode in modes:
            for precision in precisions:
                keras.mixed_precision.set_global_policy(precision)
                compute = keras.mixed_precision.global_policy().compute_dtype
                if precision != "float32" and mode != modes[0] and not args.mixed_all_modes:
                    continue  # mixed precision: the backend's first mode only, to save time
                cases = GRAD_CASES if precision == "float32" else ("weights",)
                extra = ["limit_stft", "keras_stft", "fourier"] if precision == "float32" else []
                if args.no_stft:
                    extra = []
                for grad_case in cases:
                    todo = impls + (extra if grad_case == "weights" else [])
                    if backend == "torch" and precision == "float32" and args.asteroid:
                        todo = todo + ["asteroid"]
                    rows, steps = {}, {}
                    for impl in todo:
                        row = dict(
                            backend=backend, mode=mode, precision=precision, shape=shape.name,
                            grad=grad_case, impl=impl, frame_len=shape.frame_len, hop=shape.hop,
                            device=device,
                        )  # fmt: skip
                        rows[impl] = row
                        try:
                            if impl == "asteroid":
                                steps[impl] = asteroid_step(shape, signal, grad_case)
                                n = shape.num_basis
                            else:
                                fn, x, variables, n = build_impl(impl, shape, signal, compute)
                                estimate = probe(fn, variables, x, shape.batch, grad_case, mode)
                                if estimate > args.budget / 3:
                                    # Pathological: seconds a step. Its time is the batch-1
                                    # step times the batch, marked as an estimate.
                                    row.update(estimated=True, est_ms=estimate * 1e3)
                                else:
                                    steps[impl] = make_step(fn, variables, x, grad_case, mode)
                            if impl in ("auto", "fourier"):
                                row["resolved"] = fb.methods.resolve_method(
                                    "auto", shape.frame_len, shape.hop, n
                                )
                            row["num_basis"] = n
                            if impl in steps:
                                start = time.perf_counter()
                                steps[impl]()  # trace / compile; fail here, not when timing
                                row["first_ms"] = (time.perf_counter() - start) * 1e3
                        except Exception as err:  # a method that fails is a result too
                            row["error"] = f"{type(err).__name__}: {str(err)[:300]}"
                            steps.pop(impl, None)
                    timed = time_interleaved(steps, args.repeats, args.budget)
                    for impl, row in rows.items():
                        if "est_ms" in row:
                            timed[impl] = (row.pop("est_ms") / 1e3, 0, 0.0)
                        if impl in timed:
                            sec, count, _ = timed[impl]
                            row.update(
                                ms=sec * 1e3, steps=count,
                                gflops=flops(m, shape.frame_len, row["num_basis"], grad_case)
                                / sec / 1e9,
                            )  # fmt: skip
                        print(json.dumps(row), flush=True)
        keras.mixed_precision.set_global_policy("float32")


# --------------------------------------------------------------------------- memory


def run_memory(args: argparse.Namespace) -> None:
    """Peak memory of a fresh process: imports, the input, then (unless ``none``) two steps.

    On a CPU, ``peak_mb`` is the process's peak RSS over its whole life (the
    issue's measure: compare it with the ``none`` process); ``step_mb`` is the
    peak rise during the second step alone, after the first step's freed memory
    was returned to the OS, which leaves out tracing and compilation. On a GPU
    both come from the backend's allocator (device memory): ``peak_mb`` its
    peak, ``step_mb`` the second step's peak over the bytes in use before it
    (under JAX, whose peak cannot be reset, the process's peak over them).
    """
    import keras

    from framebank import device as devices

    backend = keras.backend.backend()
    kind, device = devices.device_description()
    gpu_memory = devices.gpu_memory
    shape = get_shape(args.shapes, args.quick)
    signal = make_signal(shape)
    row = dict(
        backend=backend, mode=args.modes, shape=shape.name, impl=args.impls,
        grad="weights", loss=args.loss, frame_len=shape.frame_len, hop=shape.hop,
        output_mb=shape.batch * shape.frames * shape.num_basis * 4 / 2**20,
        frames_mb=shape.batch * shape.frames * shape.frame_len * 4 / 2**20,
        device=device, measure="allocator peak" if kind == "gpu" else "peak RSS",
    )  # fmt: skip
    if args.impls == "none":
        row["peak_mb"] = (gpu_memory()[1] if kind == "gpu" else devices.peak_rss_bytes()) / 2**20
        print(json.dumps(row), flush=True)
        return
    if args.impls == "asteroid":
        step = asteroid_step(shape, signal, "weights", loss=args.loss)
    else:
        fn, x, variables, _ = build_impl(args.impls, shape, signal, "float32")
        step = make_step(fn, variables, x, "weights", args.modes, loss=args.loss)
    step()
    if kind == "gpu":
        first_peak = gpu_memory()[1]  # read before the reset clears it
        before = gpu_memory(reset_peak=True)[0]
        step()
        peak = gpu_memory()[1]
        row["step_mb"] = (peak - before) / 2**20
        row["peak_mb"] = max(first_peak, peak) / 2**20
    else:
        first_peak = devices.peak_rss_bytes()  # the reset clears it: keep the life peak here
        before = devices.reset_peak_rss()
        step()
        row["step_mb"] = (devices.peak_rss_bytes() - before) / 2**20
        row["peak_mb"] = max(first_peak, devices.peak_rss_bytes()) / 2**20
    if args.impls == "auto":
        import framebank as fb

        row["resolved"] = fb.methods.resolve_method(
            "auto", shape.frame_len, shape.hop, shape.num_basis
        )
    print(json.dumps(row), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["time", "memory"])
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--modes", default="")
    parser.add_argument("--impls", default="")
    parser.add_argument("--precisions", default="float32")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per configuration")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--asteroid", action="store_true")
    parser.add_argument("--no-stft", action="store_true")
    parser.add_argument("--mixed-all-modes", action="store_true")
    parser.add_argument("--loss", choices=["square", "sum"], default="square", help="memory only")
    args = parser.parse_args(argv)
    if args.what == "time":
        run_time(args)
    else:
        run_memory(args)


if __name__ == "__main__":
    sys.exit(main())
