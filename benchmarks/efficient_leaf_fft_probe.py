"""A/B probe: EfficientLEAF's grouped strided Gabor filters as convolutions (today's path)
against one FFT of the signal and, per filter, its spectrum folded onto ``N / D`` bins.

The FFT route (exact to rounding): ``X = fft(x)`` of the zero-padded signal (``N`` points, a
5-smooth multiple of the hop, so of every group's stride, long enough that nothing wraps onto
an output), shared by every group; per complex filter ``G = fft(h)`` of its own truncated
kernel (the run's kernel, masked to each group's length) placed for a correlation; the
product ``X G`` folded onto ``N / D`` bins (the sum of its ``D`` aliases: the spectrum of every
``D``-th sample); one FFT of ``N / D`` points per filter gives the filter's output on the
stride's grid, whose squared modulus the pooling reads. Two folds: elementwise (the product
``[batch, filters, N]``, then a sum over aliases) and as one batched matmul per run. No band
of bins can be gathered instead: EfficientLEAF's strides alias (up to 17% of a filter's
energy lies outside one alias period at 16 kHz), and the convolution's output includes that.

Timed: forward plus backward w.r.t. the input and every weight, single-thread CPU time,
interleaved rounds (``pretrained_cpu_time``'s). Rows: LogMel; the filters' squared moduli
alone (conv, fft); the whole EfficientLEAF step, LogTBN in training mode (conv, fft; the
conv row is the layer's call, checked equal). Also printed: the largest difference of the
energies (relative to the largest) and of the outputs.

    KERAS_BACKEND=jax python benchmarks/efficient_leaf_fft_probe.py --repeats 9
    KERAS_BACKEND=tensorflow python benchmarks/efficient_leaf_fft_probe.py --shape 8000,0.25,32
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


def _smooth(number: int) -> bool:
    for factor in (2, 3, 5):
        while number % factor == 0:
            number //= factor
    return number == 1


def fft_length(time: int, runs: list, hop: int) -> int:
    """A 5-smooth multiple of ``hop`` (so of every stride) with no wrap onto any output."""
    need = 0
    for run in runs:
        stride, half = run[0].stride, max(g.kernel_size for g in run) // 2
        count = -(-time // stride)
        need = max(need, time + half, (count - 1) * stride + half + 1)
    quotient = -(-need // hop)
    while not _smooth(quotient * hop):
        quotient += 1
    return quotient * hop


def fft_energies(signal, kernels: list, runs: list, hop: int) -> list:
    """Per run ``[batch, ceil(time / stride), channels]``: ``|y|^2`` of its complex filters
    (``kernels[i]`` ``[taps, 2 channels]``, real parts then imaginary parts) at its stride."""
    from keras import ops

    time = int(signal.shape[1])
    length = fft_length(time, runs, hop)
    padded = ops.pad(signal, [[0, 0], [0, length - time]])
    xr, xi = ops.fft((padded, ops.zeros_like(padded)))
    xr, xi = xr[:, None], xi[:, None]  # [batch, 1, N]
    out = []
    for run, kernel in zip(runs, kernels, strict=True):
        taps, stride = kernel.shape[0], run[0].stride
        channels = kernel.shape[1] // 2
        # y[s] = sum_n x[s + n - half] h[n]: h[n] placed at (half - n) mod N.
        placed = ops.pad(ops.flip(ops.transpose(kernel), axis=1), [[0, 0], [0, length - taps]])
        placed = ops.roll(placed, -(taps // 2), axis=1)
        gr, gi = ops.fft((placed[:channels], placed[channels:]))  # [channels, N]
        zr, zi = xr * gr - xi * gi, xr * gi + xi * gr
        bins = length // stride
        zr = ops.sum(ops.reshape(zr, (-1, channels, stride, bins)), axis=2)
        zi = ops.sum(ops.reshape(zi, (-1, channels, stride, bins)), axis=2)
        # The inverse FFT's modulus: |ifft(z)| = |fft(conj z)| / M.
        yr, yi = ops.fft((zr, -zi))
        count = -(-time // stride)
        energy = (ops.square(yr[..., :count]) + ops.square(yi[..., :count])) / float(length) ** 2
        out.append(ops.transpose(energy, (0, 2, 1)))
    return out


def fft_matmul_energies(signal, kernels: list, runs: list, hop: int) -> list:
    """:func:`fft_energies` with the product and the fold as one batched matmul per run:
    ``[M, batch, 2 D] @ [M, 2 D, 2 channels]`` (bin ``k'``'s inner product over its ``D``
    aliases ``k' + j M``, complex as real blocks), so no ``[batch, channels, N]`` product is
    held (the elementwise fold was 40x the convolutions under JAX)."""
    from keras import ops

    time = int(signal.shape[1])
    length = fft_length(time, runs, hop)
    padded = ops.pad(signal, [[0, 0], [0, length - time]])
    xr, xi = ops.fft((padded, ops.zeros_like(padded)))
    out = []
    for run, kernel in zip(runs, kernels, strict=True):
        taps, stride = kernel.shape[0], run[0].stride
        channels, bins = kernel.shape[1] // 2, length // stride
        placed = ops.pad(ops.flip(ops.transpose(kernel), axis=1), [[0, 0], [0, length - taps]])
        placed = ops.roll(placed, -(taps // 2), axis=1)
        gr, gi = ops.fft((placed[:channels], placed[channels:]))  # [channels, N]
        xs = ops.concatenate(
            [ops.reshape(xr, (-1, stride, bins)), ops.reshape(xi, (-1, stride, bins))], 1
        )
        gr, gi = (ops.reshape(g, (channels, stride, bins)) for g in (gr, gi))
        # Rows for xr give (gr, gi), rows for xi give (-gi, gr): (xr + i xi)(gr + i gi).
        g = ops.concatenate([ops.concatenate([gr, gi], 0), ops.concatenate([-gi, gr], 0)], 1)
        z = ops.matmul(ops.transpose(xs, (2, 0, 1)), ops.transpose(g, (2, 1, 0)))
        zr, zi = ops.split(ops.transpose(z, (1, 2, 0)), [channels], axis=1)  # [B, c, M]
        yr, yi = ops.fft((zr, -zi))
        count = -(-time // stride)
        energy = (ops.square(yr[..., :count]) + ops.square(yi[..., :count])) / float(length) ** 2
        out.append(ops.transpose(energy, (0, 2, 1)))
    return out


def conv_energies(signal, kernels: list, runs: list) -> list:
    from keras import ops

    from framebank.frontends import _grouping as grouping

    out = []
    for run, kernel in zip(runs, kernels, strict=True):
        half = kernel.shape[0] // 2
        padded = ops.pad(signal, [[0, 0], [half, half]])
        y = grouping._strided_filter(padded, kernel, run[0].stride)
        real, imag = ops.split(y, [kernel.shape[1] // 2], axis=-1)
        out.append(ops.square(real) + ops.square(imag))
    return out


def pooled_with(energies_of, efficient):
    """EfficientLEAF's call with the filters' energies from ``energies_of``."""
    from keras import ops

    from framebank.frontends import _grouping as grouping

    gabor, pool = efficient.encoder.filterbank, efficient.postprocessing[1]
    runs = grouping._shared_runs(efficient.groups)
    hop = pool.strides

    def call(signal):
        width = ops.clip(pool.sigma, pool.sigma_low, 0.5)
        spreads = grouping._spreads(width, runs, pool.kernel_size, hop)
        kernels = grouping._run_kernels(gabor, runs, signal.dtype)
        parts = []
        for run, energy, spread in zip(
            runs, energies_of(signal, kernels, runs), spreads, strict=True
        ):
            size = run[0].window_size
            padded = ops.pad(energy, [[0, 0], [size // 2, size // 2], [0, 0]])
            parts.append(grouping._pooled(padded, spread, size, hop // run[0].stride))
        x = ops.concatenate(parts, axis=-1)
        for step in efficient.postprocessing[2:]:
            x = step(x, training=True) if step.name == "batch_norm" else step(x)
        return x

    return call


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--shape", default="16000,1.0,16", help="rate (Hz),seconds,batch")
    parser.add_argument("--elementwise", action="store_true", help="time the elementwise fold")
    args = parser.parse_args(argv)
    import keras
    from keras import ops
    from pretrained_cpu_time import _interleaved, single_thread_speech

    from framebank import frontends
    from framebank.frontends import _grouping as grouping

    bench, worker, x = single_thread_speech(args.shape)
    logmel, efficient = frontends.LogMel(bench.RATE), frontends.EfficientLEAF(bench.RATE)
    logmel(x[:1]), efficient(x[:1])
    gabor = efficient.encoder.filterbank
    runs = grouping._shared_runs(efficient.groups)
    hop = efficient.postprocessing[1].strides

    def flat(parts):
        return ops.concatenate([ops.reshape(p, (-1,)) for p in parts], 0)

    energies = {
        "conv": conv_energies,
        "fft, elementwise fold": lambda s, k, r: fft_energies(s, k, r, hop),
        "fft, matmul fold": lambda s, k, r: fft_matmul_energies(s, k, r, hop),
    }
    if not args.elementwise:  # 40x the convolutions under JAX: its exactness only
        timed = [name for name in energies if name != "fft, elementwise fold"]
    else:
        timed = list(energies)

    def filt(kind):
        def call(signal):
            kernels = grouping._run_kernels(gabor, runs, signal.dtype)
            return flat(energies[kind](signal, kernels, runs))

        return call

    xt = ops.convert_to_tensor(x)
    print(f"N = {fft_length(x.shape[1], runs, hop)}")
    a, full = ops.convert_to_numpy(filt("conv")(xt)), pooled_with(conv_energies, efficient)(xt)
    full, layer = ops.convert_to_numpy(full), ops.convert_to_numpy(efficient(xt, training=True))
    print(f"conv call vs the layer: max |diff| {np.abs(full - layer).max():.2e}")
    for name in list(energies)[1:]:
        b = ops.convert_to_numpy(filt(name)(xt))
        out = ops.convert_to_numpy(pooled_with(energies[name], efficient)(xt))
        print(
            f"{name}: energies max |diff| / max {np.abs(a - b).max() / np.abs(a).max():.2e}; "
            f"output max |diff| {np.abs(out - full).max():.2e} (max |y| {np.abs(full).max():.1f})"
        )
    variables = list(efficient.trainable_variables)
    rows = {"LogMel": (logmel, list(logmel.trainable_variables))}
    for name in timed:
        rows[f"filters' energies, {name}"] = (filt(name), variables)
    for name in timed:
        rows[f"EfficientLEAF step, {name}"] = (pooled_with(energies[name], efficient), variables)
    steps = {
        name: worker.make_step(fn, v, x, "weights+input", "graph") for name, (fn, v) in rows.items()
    }
    laps = _interleaved(steps, args.repeats)
    base = float(np.median(laps["LogMel"]))
    print(f"{keras.backend.backend()}, one thread, {args.shape}, CPU ms (median of {args.repeats})")
    print("| row | CPU ms | x LogMel |\n|---|---|---|")
    for name, lap in laps.items():
        median = float(np.median(lap))
        print(f"| {name} | {median * 1e3:.1f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
