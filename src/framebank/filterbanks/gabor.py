"""LEAF's Gabor filters: Gaussian-windowed complex sinusoids."""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from framebank._validation import check_choice, check_number, check_positive_int
from framebank.filterbanks.base import (
    Filterbank,
    register_filterbank,
)

__all__ = ["GABOR_INITS", "GaborFilterbank", "leaf_gabor_init", "tf_mel_weight_matrix"]

GABOR_INITS = ("mel_triangles", "leaf", "analytic")
# FWHM of a Gaussian = 2 sqrt(2 ln 2) standard deviations.
_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _hz_to_mel(hz: Any) -> Any:
    """HTK's mel scale in the form TensorFlow and LEAF write it: 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(hz) / 700.0)


def _mel_to_hz(mel: Any) -> Any:
    return 700.0 * np.expm1(np.asarray(mel) / 1127.0)


def tf_mel_weight_matrix(
    n_mels: int, n_bins: int, sample_rate: float, low_hz: float, high_hz: float
) -> np.ndarray:
    """``tf.signal.linear_to_mel_weight_matrix`` in numpy: ``[n_bins, n_mels]``, float32.

    Triangles between mel edges equally spaced from ``low_hz`` to ``high_hz``, read at
    ``n_bins`` linear frequencies from 0 to Nyquist, the DC bin set to zero; computed
    in float32 as TensorFlow computes it, so that peaks and half-peak counts agree.
    """
    f32 = np.float32
    linear = np.linspace(0.0, sample_rate / 2.0, n_bins, dtype=f32)[1:]
    bins_mel = (f32(1127.0) * np.log1p(linear / f32(700.0)))[:, None]
    edges = np.linspace(
        _hz_to_mel(f32(low_hz)).astype(f32), _hz_to_mel(f32(high_hz)).astype(f32), n_mels + 2
    ).astype(f32)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel - lower) / (centre - lower)
    falling = (upper - bins_mel) / (upper - centre)
    weights = np.maximum(f32(0.0), np.minimum(rising, falling))
    return np.concatenate([np.zeros((1, n_mels), f32), weights], axis=0)


def leaf_gabor_init(
    count: int, sample_rate: float, low_hz: float, high_hz: float, fft_length: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """LEAF's ``GaborInit``: ``(centre [rad/sample], sigma [samples])`` of ``count`` filters.

    From the square root of each filter of :func:`tf_mel_weight_matrix`: the centre
    is its peak bin times ``2 pi / fft_length``; the width is the number of bins at
    or above half its peak (FWHM), and ``sigma = sqrt(2 ln 2) fft_length / (pi FWHM)``.
    """
    filters = tf_mel_weight_matrix(count, fft_length // 2 + 1, sample_rate, low_hz, high_hz).T
    # LEAF first divides each filter by its area (the same float32 rounding as there).
    nonzero = (filters > 0).sum(axis=1, keepdims=True).astype("float32")
    area = filters.max(axis=1, keepdims=True) * (nonzero + 2) * np.float32(np.pi / fft_length)
    root = np.sqrt(filters / area)
    peak_bin = root.argmax(axis=1).astype("float64")
    fwhm = (root >= root.max(axis=1, keepdims=True) / 2).sum(axis=1).astype("float64")
    centre = peak_bin * 2.0 * np.pi / fft_length
    sigma = np.sqrt(2.0 * np.log(2.0)) * fft_length / (np.pi * fwhm)
    return centre, sigma


@register_filterbank("gabor")
class GaborFilterbank(Filterbank):
    """Complex Gabor filters with a learnable centre frequency and bandwidth each.

    Filter ``k`` is ``phi(t) exp(-j mu_k t)`` with the Gaussian ``phi(t) =
    exp(-t^2 / (2 sigma_k^2)) / (sqrt(2 pi) sigma_k)``, ``t`` samples from the
    frame centre, ``mu_k`` in radians per sample. The basis holds the real
    parts of the ``num_basis / 2`` filters, then their imaginary parts (the
    ``fourier`` layout), so pairs give a magnitude. Only ``2 * num_basis / 2``
    values are learned.

    Validity (LEAF's constraint): ``centre`` in ``[edge, pi - edge]`` (so the
    centre frequency is inside ``(0, sample_rate / 2)``) and ``sigma`` in
    ``[4 sqrt(2 ln 2) / pi, frame_len sqrt(2 ln 2) / pi]`` samples, by an
    :class:`InRange` constraint after each optimizer step and a clip in
    ``filters()``.

    Initialisation (``init``), all from a mel filterbank between ``min_hz``
    and ``max_hz`` (default Nyquist):

    * ``"mel_triangles"`` (default): centres equally spaced on the HTK mel
      scale, each with the full width at half maximum of its triangle;
    * ``"leaf"``: LEAF's ``GaborInit`` exactly: TensorFlow's
      ``linear_to_mel_weight_matrix`` (HTK mel, ``fft_length`` 512, no DC bin),
      the square root of each filter, its peak bin as the centre and the count
      of bins at or above half its peak as the width (LEAF uses 60-7800 Hz at
      16 kHz, which is invalid at 8 kHz);
    * ``"analytic"``: EfficientLEAF's closed form of the same mel bank:
      ``num_basis / 2 + 2`` peaks equally spaced on the mel scale, the centre
      at each inner peak, ``sigma = (sample_rate / 2) / (f[i+1] - f[i-1])``;
      valid at any sample rate.

    Args:
        num_basis: even; ``num_basis / 2`` complex filters.
        frame_len: filter length in samples.
        sample_rate: Hz (required: the mel initialisation is in Hz).
        min_hz, max_hz: range of the initial mel filterbank.
        init: ``"mel_triangles"``, ``"leaf"`` or ``"analytic"`` (above).
        fft_length: the DFT size of the ``"leaf"`` initialisation's mel matrix.

    Attributes:
        centre: ``[num_basis / 2]`` centre frequencies, radians per sample.
        sigma: ``[num_basis / 2]`` Gaussian widths, samples.

    References:
        Zeghidour et al., "LEAF: A Learnable Frontend for Audio
        Classification", ICLR 2021.
    """

    EDGE = 1e-3  # radians per sample kept clear of 0 and pi

    complex_pairs = True
    needs_sample_rate = True

    def __init__(
        self,
        num_basis: int,
        frame_len: int | None = None,
        sample_rate: float | None = None,
        min_hz: float = 60.0,
        max_hz: float | None = None,
        init: str = "mel_triangles",
        fft_length: int = 512,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_basis, frame_len, sample_rate, **kwargs)
        nyquist = self._require_sample_rate() / 2
        min_hz = check_number("min_hz", min_hz)
        max_hz = None if max_hz is None else check_number("max_hz", max_hz)
        top = nyquist if max_hz is None else max_hz
        if not 0 <= min_hz < top <= nyquist:
            raise ValueError(
                f"Expected 0 <= min_hz < max_hz <= sample_rate / 2 = {nyquist:g}. "
                f"Received: min_hz={min_hz!r}, max_hz={max_hz!r}"
            )
        self.min_hz = float(min_hz)
        self.max_hz = None if max_hz is None else float(max_hz)
        self.init = check_choice("init", init, GABOR_INITS)
        self.fft_length = check_positive_int("fft_length", fft_length)

    @property
    def centre_range(self) -> tuple[float, float]:
        return self.EDGE, np.pi - self.EDGE

    @property
    def sigma_range(self) -> tuple[float, float]:
        root = np.sqrt(2.0 * np.log(2.0)) / np.pi
        return 4.0 * root, max(4.0, float(self.frame_len)) * root

    def initial_parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """``(centre, sigma)``: radians per sample and samples, ``[num_basis / 2]`` each."""
        count = self.num_basis // 2
        top = self.sample_rate / 2 if self.max_hz is None else self.max_hz
        if self.init == "leaf":
            centre, sigma = leaf_gabor_init(
                count, self.sample_rate, self.min_hz, top, self.fft_length
            )
        elif self.init == "analytic":
            peaks = _mel_to_hz(np.linspace(_hz_to_mel(self.min_hz), _hz_to_mel(top), count + 2))
            centre = 2.0 * np.pi * peaks[1:-1] / self.sample_rate
            sigma = (self.sample_rate / 2.0) / (peaks[2:] - peaks[:-2])
        else:
            import librosa

            edges = librosa.mel_frequencies(count + 2, fmin=self.min_hz, fmax=top, htk=True)
            fwhm_hz = (edges[2:] - edges[:-2]) / 2  # a triangle's width at half its height
            centre = 2.0 * np.pi * edges[1:-1] / self.sample_rate
            sigma = _FWHM / (2.0 * np.pi * fwhm_hz / self.sample_rate)  # FWHM in frequency
        return np.clip(centre, *self.centre_range), np.clip(sigma, *self.sigma_range)

    def make_weights(self) -> None:
        centre, sigma = self.initial_parameters()
        self.centre = self.add_parameter("centre", centre, *self.centre_range)
        self.sigma = self.add_parameter("sigma", sigma, *self.sigma_range)
        self._t = (np.arange(self.frame_len) - (self.frame_len - 1) / 2)[:, None]

    def centre_hz(self) -> Any:
        """Centre frequencies in Hz, ``[num_basis / 2]``, clipped into range."""
        return ops.clip(self.centre, *self.centre_range) * (self.sample_rate / (2.0 * np.pi))

    def filters(self) -> Any:
        return self._gabor(self._t)

    def impulse_responses(self, taps: int, members: Any = None) -> Any:
        """The filters over ``taps`` samples centred on the middle one, ``[taps, 2 count]``
        (real parts, then imaginary parts), for the filters ``members`` (indices; all by
        default, ``count`` of them): the same filters as :meth:`filters`, cut to another
        length (a grouped filterbank gives each group its own)."""
        t = (np.arange(check_positive_int("taps", taps)) - (taps - 1) / 2)[:, None]
        return self._gabor(t, members)

    def _gabor(self, t: Any, members: Any = None) -> Any:
        mu = ops.clip(self.centre, *self.centre_range)
        sigma = ops.clip(self.sigma, *self.sigma_range)
        if members is not None:
            mu, sigma = ops.take(mu, members), ops.take(sigma, members)
        t = ops.cast(t, mu.dtype)
        gauss = ops.exp(-0.5 * ops.square(t / sigma)) / (np.sqrt(2.0 * np.pi) * sigma)
        phase = t * mu
        return ops.concatenate([gauss * ops.cos(phase), -gauss * ops.sin(phase)], axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            min_hz=self.min_hz, max_hz=self.max_hz, init=self.init, fft_length=self.fft_length
        )
        return config
