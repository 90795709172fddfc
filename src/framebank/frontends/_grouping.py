"""EfficientLEAF's grouped Gabor filterbank: contiguous groups of filters, each run at its
own stride and pooled at that rate onto the common hop grid.

The plan (EfficientLEAF's ``GroupedGaborFilterbank``): filters in mel order are split into
``num_groups`` contiguous groups (``n * filters // num_groups`` boundaries). A group's
stride is ``max(1, stride_factor * pi / mu_max)`` (``mu_max`` its highest centre, radians
per sample) rounded down to a divisor of the hop; its kernel ``conv_win_factor`` times its
widest ``sigma``, truncated to an integer and made odd; its pooling window the pooling
size divided by the stride, rounded and made odd, with the Gaussian's width scaled to
match. Each group's output frame ``m`` is centred on sample ``m * hop``; there are
``ceil(time / hop)`` of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from keras import ops

from framebank.postprocessing.pooling import strided_window_sum

__all__ = ["Group", "grouped_pooled_energy", "plan_groups"]


def _odd(size: int) -> int:
    return size + 1 - size % 2


@dataclass(frozen=True)
class Group:
    """Filters ``start:stop`` run at ``stride`` with ``kernel_size`` taps, pooled by a
    window of ``window_size`` of their outputs at ``hop / stride``."""

    start: int
    stop: int
    stride: int
    kernel_size: int
    window_size: int


def plan_groups(
    centre: Any,
    sigma: Any,
    num_groups: int,
    pool_size: int,
    hop: int,
    conv_win_factor: float,
    stride_factor: float,
) -> list[Group]:
    """The groups for centres ``centre`` (radians per sample) and widths ``sigma`` (samples),
    ``[filters]`` each, in mel order."""
    centre, sigma = np.asarray(centre, "float64"), np.asarray(sigma, "float64")
    divisors = [d for d in range(1, hop + 1) if hop % d == 0]
    bounds = np.arange(num_groups + 1) * len(centre) // num_groups
    groups = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        wanted = max(1.0, np.pi / centre[start:stop].max() * stride_factor)
        stride = max(d for d in divisors if d <= wanted)
        kernel = _odd(int(sigma[start:stop].max() * conv_win_factor))
        window = _odd(int(pool_size / stride + 0.5))
        if window < 3:
            raise ValueError(
                f"A group at stride {stride} leaves its pooling window {window} tap of the "
                f"{pool_size}: a Gaussian needs 3. Use a window longer than the hop ({hop}) "
                f"or a smaller stride_factor. Received: stride_factor={stride_factor!r}"
            )
        groups.append(Group(int(start), int(stop), stride, kernel, window))
    return groups


def _strided_filter(x: Any, kernel: Any, stride: int) -> Any:
    """``y[t] = sum_n x[t * stride + n] kernel[n]``, ``[batch, steps, columns]``, for every
    whole kernel in ``x`` ``[batch, time]`` (a strided 'valid' convolution).

    Why not ``ops.conv`` at the stride, or products of shifted blocks: both have slow
    gradients on the CPU (``benchmarks/README.md``). Instead ``x`` is cut into
    stride-long blocks as channels, and the kernel into ``ceil(taps / stride)`` segments
    of one stride each: one stride-1 convolution of ``segments`` taps over the blocks."""
    taps, columns = kernel.shape
    segments = -(-taps // stride)
    kernel = ops.pad(kernel, [[0, segments * stride - taps], [0, 0]])
    count = (x.shape[1] - taps) // stride + 1
    blocks = count + segments - 1
    need = blocks * stride
    x = x[:, :need] if x.shape[1] >= need else ops.pad(x, [[0, 0], [0, need - x.shape[1]]])
    x = ops.reshape(x, (-1, blocks, stride))
    kernel = ops.reshape(kernel, (segments, stride, columns))
    return ops.conv(x, kernel, strides=1, padding="valid")


def _pooled(x: Any, spread: Any, size: int, step: int) -> Any:
    """``y[m, c] = sum_n window[n, c] x[m * step + n, c]``, ``[batch, count, channels]``, for
    every whole window of ``size`` taps in ``x`` ``[batch, frames, channels]`` (a known
    number of frames); :func:`~framebank.postprocessing.pooling.strided_window_sum`'s
    result, with the window given as :func:`_spreads` lays it out.

    Why: there the windowed sums and their gradients cost TensorFlow more than the
    group's convolution (``benchmarks/README.md``). Here ``x``'s step-long blocks meet
    every window segment in one product, ``[step * channels, segments * channels]``
    (zero off each channel), and block ``m + k``'s product with segment ``k`` is summed:
    ``channels`` times the multiplications, a few channels a group."""
    channels = x.shape[2]
    segments = -(-size // step)
    count = (x.shape[1] - size) // step + 1
    blocks = count + segments - 1
    need = blocks * step
    x = x[:, :need] if x.shape[1] >= need else ops.pad(x, [[0, 0], [0, need - x.shape[1]], [0, 0]])
    x = ops.reshape(x, (-1, blocks, step * channels))
    products = ops.matmul(x, spread)  # [batch, blocks, segments * channels]
    total = products[:, :count, :channels]
    for k in range(1, segments):
        total = total + products[:, k : k + count, k * channels : (k + 1) * channels]
    return total


def _spread_layout(run: list[Group], pool_size: int, hop: int) -> tuple:
    """numpy ``[step * channels, segments * channels]`` each: the pooling window's tap
    position ``u`` in ``[-1, 1]``, the filter, the width's scale and 1 where the entry is a
    tap (row ``n * channels + c``, column ``k * channels + c``: tap ``k * step + n`` of
    channel ``c``) for a run's :func:`_pooled` product."""
    start, channels, size = run[0].start, run[-1].stop - run[0].start, run[0].window_size
    step = hop // run[0].stride
    segments = -(-size // step)
    tap = np.arange(segments)[None, :, None] * step + np.arange(step)[:, None, None]
    own = np.eye(channels)[:, None, :][None]  # [1, channels, 1, channels]
    tap = np.broadcast_to(tap[:, None], (step, channels, segments, channels))
    mask = own * (tap < size)
    u = tap * (2.0 / (size - 1)) - 1.0
    filters = np.broadcast_to(start + np.arange(channels), mask.shape)
    scale = np.full(mask.shape, pool_size / (run[0].stride * size))
    shape = (step * channels, segments * channels)
    return tuple(np.reshape(a, shape) for a in (u, filters, scale, mask))


def _spreads(pool_sigma: Any, runs: list[list[Group]], pool_size: int, hop: int) -> list:
    """Each run's Gaussian pooling windows as its :func:`_pooled` product
    ``[step * channels, segments * channels]``, for widths ``pool_sigma`` ``[filters]``.

    Why all runs at once: under TensorFlow each op (and its gradient) has a fixed cost, and
    a window per run took a dozen; here the entries of every run's product are one flat
    vector, evaluated as LEAF's window (``exp(-u**2 / (2 width**2))``, the same numbers)."""
    layouts = [_spread_layout(run, pool_size, hop) for run in runs]
    u, filters, scale, mask = (np.concatenate([a[i].ravel() for a in layouts]) for i in range(4))
    dtype = pool_sigma.dtype
    width = ops.take(pool_sigma, filters) * ops.cast(scale, dtype)
    values = ops.exp(-0.5 * ops.square(ops.cast(u, dtype) / width)) * ops.cast(mask, dtype)
    ends = list(np.cumsum([a[0].size for a in layouts])[:-1])
    parts = ops.split(values, ends) if ends else [values]
    return [ops.reshape(part, a[0].shape) for part, a in zip(parts, layouts, strict=True)]


def _shared_runs(groups: list[Group]) -> list[list[Group]]:
    """Adjacent groups with the same stride and pooling window, run together: the cost is
    per group's ops (and their gradients), not per product (``benchmarks/README.md``)."""
    runs: list[list[Group]] = []
    for group in groups:
        last = runs[-1][-1] if runs else None
        if last and (last.stride, last.window_size) == (group.stride, group.window_size):
            runs[-1].append(group)
        else:
            runs.append([group])
    return runs


def _run_kernels(gabor: Any, runs: list[list[Group]], dtype: Any) -> list:
    """Each run's ``[taps, 2 filters]`` kernel (real parts, then imaginary parts), each group
    at its own length, zero-padded to the run's longest (odd lengths, so each stays centred).

    Why one Gabor evaluation for all runs: a filter's value at an offset from the centre
    does not depend on the length it is cut to, so every run's kernel is a centred slice of
    the longest one (the same numbers), with the taps beyond each group's own length zeroed:
    a few ops in place of a Gabor evaluation, pad and concatenation per group."""
    longest = max(group.kernel_size for run in runs for group in run)
    first, stop = runs[0][0].start, runs[-1][-1].stop
    full = gabor.impulse_responses(longest, np.arange(first, stop))  # [taps, 2 (stop - first)]
    # Columns reordered so that each run's real parts, then its imaginary parts, are adjacent.
    spans = [np.arange(run[0].start, run[-1].stop) - first for run in runs]
    order = np.concatenate([np.r_[span, span + stop - first] for span in spans])
    full = ops.take(ops.cast(full, dtype), order, axis=1)
    ends = list(np.cumsum([2 * len(span) for span in spans])[:-1])
    kernels = []
    split = ops.split(full, ends, axis=1) if ends else [full]
    for run, kernel in zip(runs, split, strict=True):
        taps = max(group.kernel_size for group in run)
        side = (longest - taps) // 2
        kernel = kernel[side : side + taps]
        lengths = [group.kernel_size for group in run for _ in range(group.stop - group.start)]
        if min(lengths) < taps:  # zero the taps beyond each group's own length
            kernel = kernel * ops.cast(_length_mask(taps, lengths * 2), dtype)
        kernels.append(kernel)
    return kernels


def _length_mask(taps: int, lengths: list[int]) -> np.ndarray:
    """``[taps, columns]``: 1 on the central ``lengths[c]`` taps of column ``c``, else 0."""
    offset = np.abs(np.arange(taps) - (taps - 1) // 2)[:, None]
    return (offset <= (np.asarray(lengths) - 1) // 2).astype("float32")


def _window(pool_sigma: Any, run: list[Group], pool_size: int) -> Any:
    """A run's Gaussian pooling windows, ``[size, channels]``."""
    size, stride = run[0].window_size, run[0].stride
    u = np.arange(size)[:, None] * (2.0 / (size - 1)) - 1.0
    width = ops.take(pool_sigma, np.arange(run[0].start, run[-1].stop)) * (
        pool_size / (stride * size)
    )
    return ops.exp(-0.5 * ops.square(ops.cast(u, pool_sigma.dtype) / width))


def grouped_pooled_energy(
    signal: Any, gabor: Any, pool_sigma: Any, groups: list[Group], pool_size: int, hop: int
) -> Any:
    """``[batch, ceil(time / hop), filters]``: the pooled squared moduli of ``gabor``'s
    filters (a :class:`~framebank.GaborFilterbank`) on ``signal`` ``[batch, time]``, with
    pooling widths ``pool_sigma`` ``[filters]`` (clipped, as LEAF's, in units of half the
    pooling size), group by group (adjacent groups at one stride together)."""
    parts = []
    runs = _shared_runs(groups)
    spreads = _spreads(pool_sigma, runs, pool_size, hop)
    for run, kernel, spread in zip(
        runs, _run_kernels(gabor, runs, signal.dtype), spreads, strict=True
    ):
        members = np.arange(run[0].start, run[-1].stop)
        count, stride = len(members), run[0].stride
        half = kernel.shape[0] // 2
        padded = ops.pad(signal, [[0, 0], [half, half]])
        if padded.shape[1] is not None:
            y = _strided_filter(padded, kernel, stride)
        else:  # a length known only at run time
            # expand_dims, not [..., None]: TFLite has no strided slice that adds an axis.
            x = ops.expand_dims(padded, -1)
            y = ops.conv(x, ops.expand_dims(kernel, 1), strides=stride, padding="valid")
        # One split, not two slices: under TensorFlow each slice's gradient is a zero-padded
        # copy of all of y (the same change made LogMel's step 1.5x cheaper there).
        real, imag = ops.split(y, [count], axis=-1)
        energy = ops.square(real) + ops.square(imag)
        size = run[0].window_size
        padded = ops.pad(energy, [[0, 0], [size // 2, size // 2], [0, 0]])
        if padded.shape[1] is not None:
            parts.append(_pooled(padded, spread, size, hop // stride))
        else:
            parts.append(
                strided_window_sum(padded, _window(pool_sigma, run, pool_size), hop // stride)
            )
    return ops.concatenate(parts, axis=-1)
