"""Where EfficientLEAF's step goes, stage by stage, in single-threaded CPU time.

Forward plus backward (the gradient of ``0.5 * sum(y**2)`` with respect to the input and every
weight), TensorFlow graph or JAX jit held to one thread, timed by ``time.process_time`` in
interleaved rounds (as ``benchmarks/pretrained_cpu_time.py``). Rows: LogMel (the ratios'
base); the stages cumulatively (the runs' Gabor kernels; + their strided filters; + squared
modulus and Gaussian pooling; + log1p; + median subtraction; + batch norm, the whole step in
training mode); and each run of groups alone (its kernel, filters, modulus and pooling).

    KERAS_BACKEND=jax python benchmarks/efficient_leaf_stages.py --repeats 15
    KERAS_BACKEND=tensorflow python benchmarks/efficient_leaf_stages.py --shape 8000,0.25,32
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402


def _stages(efficient) -> dict:
    """``{row: fn}``: EfficientLEAF cut after each stage, and each run of groups alone."""
    from keras import ops

    from framebank.frontends import _grouping as grouping

    gabor, pool = efficient.encoder.filterbank, efficient.postprocessing[1]
    runs = grouping._shared_runs(efficient.groups)

    def kernels(signal):
        kernels = grouping._run_kernels(gabor, runs, signal.dtype)
        return ops.concatenate([ops.reshape(kernel, (-1,)) for kernel in kernels], 0)

    def filters(signal):
        parts = []
        for run, kernel in zip(runs, grouping._run_kernels(gabor, runs, signal.dtype), strict=True):
            half = kernel.shape[0] // 2
            padded = ops.pad(signal, [[0, 0], [half, half]])
            y = grouping._strided_filter(padded, kernel, run[0].stride)
            parts.append(ops.reshape(y, (-1,)))
        return ops.concatenate(parts, 0)

    def pooled(groups):
        def energies(signal):
            width = ops.clip(pool.sigma, pool.sigma_low, 0.5)
            return grouping.grouped_pooled_energy(
                signal, gabor, width, groups, pool.kernel_size, pool.strides
            )

        return energies

    def upto(count):
        def call(signal):
            x = pooled(efficient.groups)(signal)
            for step in efficient.postprocessing[2 : 2 + count]:
                x = step(x, training=True) if step.name == "batch_norm" else step(x)
            return x

        return call

    rows = {"Gabor kernels of the runs": kernels, "+ strided filters": filters}
    rows["+ squared modulus, pooling"] = pooled(efficient.groups)
    for count, name in enumerate(s.name for s in efficient.postprocessing[2:]):
        rows[f"+ {name}"] = upto(count + 1)
    for run in runs:
        rows[
            f"run {run[0].start}-{run[-1].stop - 1} alone (stride {run[0].stride}, "
            f"{max(g.kernel_size for g in run)} taps, pooling {run[0].window_size})"
        ] = pooled(run)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--shape", default="16000,1.0,16", help="rate (Hz),seconds,batch")
    args = parser.parse_args(argv)
    import keras
    from pretrained_cpu_time import _interleaved, single_thread_speech

    from framebank import frontends

    bench, worker, x = single_thread_speech(args.shape)
    logmel, efficient = frontends.LogMel(bench.RATE), frontends.EfficientLEAF(bench.RATE)
    logmel(x[:1]), efficient(x[:1])
    rows = {"LogMel": logmel, **_stages(efficient)}
    steps = {
        name: worker.make_step(
            fn,
            list((logmel if name == "LogMel" else efficient).trainable_variables),
            x,
            "weights+input",
            "graph",
        )  # fmt: skip
        for name, fn in rows.items()
    }
    laps = _interleaved(steps, args.repeats)
    base = float(np.median(laps["LogMel"]))
    print(
        f"{keras.backend.backend()}, one thread, {args.shape} (rate, s, batch), "
        f"CPU ms per step (median of {args.repeats})"
    )
    print("| stage | CPU ms | x LogMel |\n|---|---|---|")
    for name, lap in laps.items():
        median = float(np.median(lap))
        print(f"| {name} | {median * 1e3:.1f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
