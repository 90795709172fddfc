"""LEAF's Gabor energies, Gaussian-pooled, computed at a rate set by each filter's bandwidth.

The stride-1 definition: ``y_n(t) = sum_j x[t + j - W // 2] h_n[j]`` for every sample,
``e_n = |y_n|^2``, then ``z_n[m] = sum_j phi_n[j] e_n(hop m - left + j)`` with ``e_n``
zero outside the signal (TensorFlow's 'SAME' padding). Here, per group of filters of
similar width:

* ``y_n`` is computed only on a grid of stride ``D``, from one FFT of the zero-padded
  signal (``N`` long, so that nothing wraps): the bins of ``X G_n`` within ``0.945 / D``
  rad/sample of the filter's centre (``G_n`` the FFT of the filter's 401 taps, so the
  window's cut is the definition's), shifted to the grid's first sample, zero-padded to
  ``N / D`` bins and inverse-transformed (the band holds the Gaussian; what lies outside
  it, the sidelobes of a cut below 1e-3 of the peak, is dropped: about 1e-5 of the largest
  output; the band's squared modulus is within the interpolator's flat band, so those
  sidelobes do not alias either). The band follows the learned centres at run time (the
  bins are gathered by index). ``D = hop / k`` for a 5-smooth integer ``k``, not
  necessarily an integer: the grid is any rate whose hop is whole grid steps;
* ``e_n`` is band-limited: a Gabor filter is a Gaussian of width ``1 / sigma`` in
  frequency, so ``|y_n|^2`` has no energy beyond about ``7.4 / sigma`` rad/sample (its
  spectrum is the autocorrelation of ``y_n``'s, below 1e-6 there). Sampled at every
  ``D``-th sample with ``D <= 0.255 sigma``, it is recovered between samples by a
  Gaussian-windowed sinc ``k`` (flat to ``1.89 / D``, zero on the aliases), so that
  ``z_n[m] = sum_i e_n(grid) psi_m[i]`` exactly, with ``psi = (phi masked to the signal)
  convolved with k``: the pooling window's own 401-tap truncation and the signal's edges
  cost nothing, whatever the pooling width.
* filters that the window cuts where their Gaussian is still above 1e-3 of its peak (the
  low, narrow-band ones: 401 taps hold less than 3.7 of their widths) are not
  band-limited (the cut's sidelobes fall as ``1 / frequency``) and run at stride 1: all
  ``N`` bins, one inverse FFT per filter, in place of a 401-tap convolution.

The plan (groups and their strides) is fixed from the initial widths with a margin;
at run time every width is checked against its plan and, if one has left it (a filter
widened or narrowed during training past the margin, or a width at its constraint's
extreme), the stride-1 definition runs instead (``keras.ops.cond``): the output never
depends on the plan beyond rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

__all__ = ["BandLimitedPlan"]

# e's spectrum is below exp(-(sigma w)^2 / 4) of its peak: 1e-6 at w = 7.4 / sigma.
_ENERGY_BAND = 2.0 * np.sqrt(np.log(1e6))
# The interpolation kernel: sinc(u / D) exp(-u^2 / (2 (4 D)^2)), cut at 20 D samples;
# flat to 1.89 / D rad/sample and zero from 4.39 / D (5 Gaussian widths of 1 / (4 D)).
_TAU, _REACH = 4, 20
_PASSBAND = np.pi - 5.0 / _TAU
# Gabor taps kept: 5.5 sigma either side (the dropped tail is below 1e-6 of the peak).
_TAPS_SIGMA = 5.5


def _smooth(number: int) -> bool:
    for factor in (2, 3, 5):
        while number % factor == 0:
            number //= factor
    return number == 1


def _stride(hop: int, per_hop: int) -> float:
    """``hop / per_hop``, an int where it is one."""
    return hop // per_hop if hop % per_hop == 0 else hop / per_hop


def _ladder(hop: int, rung: float) -> list[float]:
    """Strides ``hop / k`` (``k`` 5-smooth, up to ``hop``), each at least ``rung`` times the
    one below, from 1."""
    ladder = [1]
    for per_hop in range(hop - 1, 0, -1):
        stride = _stride(hop, per_hop)
        if _smooth(per_hop) and stride >= rung * ladder[-1] - 1e-9:
            ladder.append(stride)
    return ladder


def _fft_real(signal: Any) -> tuple[Any, Any]:
    return ops.fft((signal, ops.zeros_like(signal)))


def _interpolator(u: np.ndarray, stride: float) -> np.ndarray:
    return np.sinc(u / stride) * np.exp(-0.5 * np.square(u / (_TAU * stride)))


class BandLimitedPlan:
    """Groups of Gabor filters with a stride each, from widths ``sigma``.

    Args:
        sigma: ``[filters]`` the widths the plan is made for (samples).
        window: the Gabor filters' and the pooling's length ``W`` (odd or even).
        hop: the pooling stride; a group's stride ``D`` is ``hop / k`` for a 5-smooth
            integer ``k`` (the hop is ``k`` grid steps; ``D`` need not be an integer: the
            grid is an inverse FFT of ``N k / hop`` bins, 5-smooth when ``N / hop`` is).
        margin: the plan holds for widths within ``[sigma / margin, sigma * margin]``.
        truncated: the largest stride for a filter that the window cuts where its
            Gaussian is still above ``edge`` of its peak. Such a filter's spectrum has
            sidelobes falling only as ``1 / frequency`` (the window's Dirichlet kernel), so
            its energy is not band-limited: measured on speech, stride 2 leaves errors of
            3.6e-4 of the largest output at 16 kHz and 1.2e-2 at 8 kHz (the band's bins
            only), stride 1 about 1e-5 (``benchmarks/README.md``).
        edge: the Gaussian's height at the window's edge above which a filter counts as cut.
        rung: the least ratio between consecutive strides of the ladder (fewer groups,
            each a batched FFT, against strides closer to each filter's band).
    """

    def __init__(
        self,
        sigma: Any,
        window: int,
        hop: int,
        margin: float = 1.25,
        truncated: int = 1,
        edge: float = 1e-3,
        rung: float = 1.25,
    ) -> None:
        sigma = np.asarray(sigma, "float64")
        ladder = _ladder(hop, rung)
        half = window // 2
        self.window, self.hop = int(window), int(hop)
        low, high = sigma / margin, sigma * margin
        strides = [
            max(d for d in ladder if d <= max(1.0, low_n * _PASSBAND / _ENERGY_BAND))
            for low_n in low
        ]
        cut = np.exp(-0.5 * np.square(half / high)) > edge
        strides = [min(s, truncated) if c else s for s, c in zip(strides, cut, strict=True)]
        self.strides = np.asarray(strides)
        self.groups = []  # (stride, half-length of the kernel, filter indices)
        for stride in sorted(set(strides), reverse=True):
            self.groups.append((stride, half, np.flatnonzero(self.strides == stride)))
        # Per filter, the widths its group's stride holds for: wide enough in time for the
        # stride's band and, above the strides kept for cut filters, cut by the window no
        # more than ``edge``.
        self.sigma_low = np.zeros(len(sigma))
        self.sigma_high = np.full(len(sigma), np.inf)
        widest_uncut = half / np.sqrt(2.0 * np.log(1.0 / edge))
        for stride, _, members in self.groups:
            if stride > 1:
                self.sigma_low[members] = stride * _ENERGY_BAND / _PASSBAND
            if stride > truncated:
                self.sigma_high[members] = widest_uncut
        self.order = np.argsort(np.concatenate([g[2] for g in self.groups]))

    def holds(self, sigma: Any) -> Any:
        """A boolean scalar: every width (``[filters]``, clipped) is within its plan."""
        low = ops.convert_to_tensor(self.sigma_low, sigma.dtype)
        high = ops.convert_to_tensor(np.minimum(self.sigma_high, 1e30), sigma.dtype)
        return ops.logical_and(ops.all(sigma >= low), ops.all(sigma <= high))

    def pooled_energy(self, signal: Any, basis: Any, window: Any, centre: Any) -> Any:
        """``[batch, ceil(time / hop), filters]`` from ``signal [batch, time]`` (static time),
        ``basis [W, 2 filters]`` (real parts, then imaginary parts), the pooling
        ``window [W, filters]`` and the filters' ``centre [filters]`` (rad/sample)."""
        time = int(signal.shape[1])
        count = -(-time // self.hop)
        excess = max((count - 1) * self.hop + self.window - time, 0)
        left = excess // 2
        length = self.fft_length(time)
        spectrum = _fft_real(ops.pad(signal, [[0, 0], [0, length - time]]))
        gains = self._gains(basis, length)
        parts = []
        for stride, _, members in self.groups:
            energy = self._energy(spectrum, gains, centre, members, stride, left, count)
            pool = ops.take(window, members, axis=1)
            parts.append(self._pool(energy, pool, stride, left, count, time))
        pooled = ops.concatenate(parts, axis=-1)
        return ops.take(pooled, self.order, axis=-1)

    def _step(self, stride: float) -> int:
        """Grid samples per hop."""
        return int(round(self.hop / stride))

    def _grid(self, stride: float, count: int) -> tuple[float, int, int, int]:
        """A group's energy grid: first sample ``t0 = -left - lead``, samples, and per
        pooling window the grid samples it reads and the hop-long segments they fill."""
        lead = _REACH * stride  # _REACH grid samples before the first window's start
        taps = int(np.floor((self.window - 1) / stride + 1e-9)) + 2 * _REACH + 1
        step = self._step(stride)
        segments = -(-taps // step)
        return lead, taps, segments, (count + segments - 1) * step

    def fft_length(self, time: int) -> int:
        """The circular length that holds every group's grid and the filters' support
        without wrapping: a multiple of ``hop`` (so ``N k / hop`` bins for every group's
        ``k`` grid steps a hop), 5-smooth."""
        count = -(-time // self.hop)
        left = max((count - 1) * self.hop + self.window - time, 0) // 2
        centre = self.window // 2
        span = 0
        for stride, _, _ in self.groups:
            lead, _, _, samples = self._grid(stride, count)
            first = -left - lead
            span = max(
                span, max(first + samples * stride, time + self.window) - min(first, -centre)
            )
        quotient = -(-int(np.ceil(span - 1e-9)) // self.hop)
        # A hop with a prime factor above 5 (441 at 44.1 kHz) makes no multiple of it
        # 5-smooth: then the quotient alone is made smooth.
        smooth_hop = _smooth(self.hop)
        while not _smooth(quotient * self.hop if smooth_hop else quotient):
            quotient += 1
        return quotient * self.hop

    def _gains(self, basis: Any, length: int) -> tuple[Any, Any]:
        """``[filters, length]`` real and imaginary parts of each filter's frequency response
        as a correlation: ``y = ifft(X G)`` equals ``sum_j x[t + j - W // 2] h[j]``."""
        centre = self.window // 2
        taps = ops.transpose(basis)  # [2 filters, W]
        # y = x convolved with f, f[v] = h[centre - v]: put h[j] at (centre - j) mod N.
        flipped = ops.flip(taps, axis=1)  # h[j] at W - 1 - j
        padded = ops.pad(flipped, [[0, 0], [0, length - self.window]])
        rolled = ops.roll(padded, centre - (self.window - 1), axis=1)
        filters = basis.shape[1] // 2
        real, imag = ops.fft((rolled[:filters], rolled[filters:]))
        return real, imag

    def _energy(
        self,
        spectrum: tuple[Any, Any],
        gains: tuple[Any, Any],
        centre: Any,
        members: np.ndarray,
        stride: float,
        left: int,
        count: int,
    ) -> Any:
        """``[batch, samples, G]`` squared moduli of the group's filters on its grid
        ``t0 + stride s``: the bins within ``_PASSBAND / (2 stride)`` of each centre, their
        inverse FFT of ``length / stride`` points (the band holds the filter's Gaussian and
        its squared modulus the interpolator's flat band, so nothing aliases)."""
        lead, _, _, samples = self._grid(stride, count)
        first = -left - lead
        length = int(gains[0].shape[1])
        bins = length * self._step(stride) // self.hop
        xr, xi = spectrum
        gr, gi = (ops.take(g, members, axis=0) for g in gains)
        if stride == 1:
            index = offsets = ops.convert_to_tensor(np.arange(length)[None], "int32")
            xr, xi = xr[:, None], xi[:, None]
        else:
            # Only the bins within the energy's passband / 2 of the centre: their product's
            # squared modulus is band-limited to the interpolator's flat band, so nothing
            # aliases onto the grid whatever lies outside (the window's cut sidelobes).
            mu = ops.take(centre, members, axis=0) * (length / (2.0 * np.pi))
            reach = _PASSBAND / (2.0 * stride) * length / (2.0 * np.pi)
            kept = min(2 * int(np.floor(reach)) + 3, bins)
            low = ops.cast(ops.round(mu), "int32") - kept // 2
            offsets = low[:, None] + np.arange(kept, dtype="int32")[None]
            inside = ops.abs(ops.cast(offsets, mu.dtype) - mu[:, None]) <= reach
            index = ops.mod(offsets, length)
            mask = ops.cast(inside, gr.dtype)
            gr = ops.take_along_axis(gr, index, axis=1) * mask
            gi = ops.take_along_axis(gi, index, axis=1) * mask
            xr, xi = ops.take(xr, index, axis=1), ops.take(xi, index, axis=1)
        # Delay by the grid's first sample: exp(2 pi i k t0 / N), folded into the gains (k
        # the band's own frequencies, not modulo N: t0 and the grid need not be integers).
        angle = ops.cast(offsets, gr.dtype) * (2.0 * np.pi * first / length)
        cos, sin = ops.cos(angle), ops.sin(angle)
        gr, gi = gr * cos - gi * sin, gr * sin + gi * cos
        # |sum_k z_k exp(2 pi i k s / M)| = |fft(conj z)[s]|: Keras has no inverse FFT.
        zr, zi = xr * gr - xi * gi, -(xr * gi + xi * gr)
        if zr.shape[-1] < bins:  # the band, then zeros: the modulus is shift-invariant
            pad = [[0, 0], [0, 0], [0, bins - int(zr.shape[-1])]]
            zr, zi = ops.pad(zr, pad), ops.pad(zi, pad)
        yr, yi = ops.fft((zr, zi))  # [batch, G, bins]
        scale = 1.0 / length**2
        energy = (ops.square(yr[..., :samples]) + ops.square(yi[..., :samples])) * scale
        return ops.transpose(energy, (0, 2, 1))

    def _pool(self, energy: Any, pool: Any, stride: float, left: int, count: int, time: int) -> Any:
        """One group's pooling of its energies at rate ``stride`` onto the hop grid."""
        size = self.window
        lead, taps, segments, blocks_samples = self._grid(stride, count)
        step = self._step(stride)
        blocks = blocks_samples // step
        # psi[i] = sum_j phi[j] k(j - (stride i - lead)), for whole windows and edge ones.
        offsets = np.arange(size)[:, None] - (stride * np.arange(taps)[None] - lead)
        spread = ops.convert_to_tensor(_interpolator(offsets, stride), pool.dtype)
        psi = ops.matmul(ops.transpose(pool), spread)  # [G, taps]
        psi = ops.pad(ops.transpose(psi), [[0, segments * step - taps], [0, 0]])
        grouped = ops.reshape(energy, (-1, blocks, step, energy.shape[-1]))
        total = None
        for k in range(segments):
            part = ops.sum(grouped[:, k : k + count] * psi[k * step : (k + 1) * step], axis=2)
            total = part if total is None else total + part
        return self._edges(total, energy, pool, spread, stride, left, count, time, taps)

    def _edges(
        self,
        total: Any,
        energy: Any,
        pool: Any,
        spread: Any,
        stride: float,
        left: int,
        count: int,
        time: int,
        taps: int,
    ) -> Any:
        """Replace the frames whose window reaches past the signal: their window is masked."""
        step = self._step(stride)
        edge = [
            m
            for m in range(count)
            if self.hop * m - left < 0 or self.hop * m - left + self.window > time
        ]
        if not edge:
            return total

        def row(m: int) -> Any:
            place = self.hop * m - left + np.arange(self.window)
            mask = ((place >= 0) & (place < time)).astype("float32")[:, None]
            psi = ops.matmul(ops.transpose(pool * ops.cast(mask, pool.dtype)), spread)
            piece = energy[:, step * m : step * m + taps]  # [batch, taps, G]
            return ops.sum(piece * ops.transpose(psi)[None], axis=1)[:, None]

        # Edge frames sit at the start and the end; the interior ones need no mask.
        first = next((m for m in range(count) if m not in edge), count)
        last = next((m for m in reversed(range(count)) if m not in edge), -1) + 1
        if first >= last:
            return ops.concatenate([row(m) for m in range(count)], axis=1)
        head = [row(m) for m in range(first)]
        tail = [row(m) for m in range(last, count)]
        return ops.concatenate([*head, total[:, first:last], *tail], axis=1)


def plan_for(gabor: Any, hop: int) -> BandLimitedPlan:
    """The plan for a :class:`~framebank.GaborFilterbank`'s initial widths."""
    _, sigma = gabor.initial_parameters()
    return BandLimitedPlan(sigma, gabor.frame_len, hop)


def as_batch_time(waveform: Any) -> Any:
    if len(waveform.shape) == 3:
        waveform = waveform[..., 0]
    return ops.cast(waveform, "float32")
