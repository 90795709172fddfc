"""LEAF's Gabor filters: Gaussian-windowed complex sinusoids."""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from framebank._validation import check_number
from framebank._weights import constant_initializer
from framebank.filterbanks.base import (
    Filterbank,
    InRange,
    register_filterbank,
)

__all__ = ["GaborFilterbank"]

# FWHM of a Gaussian = 2 sqrt(2 ln 2) standard deviations.
_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))


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

    Initialisation: centres equally spaced on the mel scale between
    ``min_hz`` and ``max_hz`` (default Nyquist), each with the full width at
    half maximum of the matching triangular mel band.

    Args:
        num_basis: even; ``num_basis / 2`` complex filters.
        frame_len: filter length in samples.
        sample_rate: Hz (required: the mel initialisation is in Hz).
        min_hz, max_hz: range of the initial centre frequencies.

    Attributes:
        centre: ``[num_basis / 2]`` centre frequencies, radians per sample.
        sigma: ``[num_basis / 2]`` Gaussian widths, samples.

    References:
        Zeghidour et al., "LEAF: A Learnable Frontend for Audio
        Classification", ICLR 2021.
    """

    EDGE = 1e-3  # radians per sample kept clear of 0 and pi

    def __init__(
        self,
        num_basis: int,
        frame_len: int | None = None,
        sample_rate: float | None = None,
        min_hz: float = 60.0,
        max_hz: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_basis, frame_len, sample_rate, **kwargs)
        nyquist = self._require_sample_rate() / 2
        if num_basis % 2:
            raise ValueError(
                "The 'gabor' filterbank holds real and imaginary rows, so num_basis must be "
                f"even. Received: num_basis={num_basis}"
            )
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

    @property
    def centre_range(self) -> tuple[float, float]:
        return self.EDGE, np.pi - self.EDGE

    @property
    def sigma_range(self) -> tuple[float, float]:
        root = np.sqrt(2.0 * np.log(2.0)) / np.pi
        return 4.0 * root, max(4.0, float(self.frame_len)) * root

    def initial_parameters(self) -> tuple[np.ndarray, np.ndarray]:
        import librosa

        count = self.num_basis // 2
        top = self.sample_rate / 2 if self.max_hz is None else self.max_hz
        edges = librosa.mel_frequencies(count + 2, fmin=self.min_hz, fmax=top, htk=True)
        centre_hz = edges[1:-1]
        fwhm_hz = (edges[2:] - edges[:-2]) / 2  # a triangle's width at half its height
        centre = 2.0 * np.pi * centre_hz / self.sample_rate
        sigma = _FWHM / (2.0 * np.pi * fwhm_hz / self.sample_rate)  # FWHM in frequency
        return np.clip(centre, *self.centre_range), np.clip(sigma, *self.sigma_range)

    def make_weights(self) -> None:
        # autocast=False: filters are computed in float32 under mixed precision too.
        centre, sigma = self.initial_parameters()
        count = self.num_basis // 2
        self.centre = self.add_weight(
            name="centre",
            shape=(count,),
            initializer=constant_initializer(centre),
            constraint=InRange(*self.centre_range),
            autocast=False,
        )
        self.sigma = self.add_weight(
            name="sigma",
            shape=(count,),
            initializer=constant_initializer(sigma),
            constraint=InRange(*self.sigma_range),
            autocast=False,
        )
        self._t = (np.arange(self.frame_len) - (self.frame_len - 1) / 2)[:, None]

    def centre_hz(self) -> Any:
        """Centre frequencies in Hz, ``[num_basis / 2]``, clipped into range."""
        return ops.clip(self.centre, *self.centre_range) * (self.sample_rate / (2.0 * np.pi))

    def filters(self) -> Any:
        mu = ops.clip(self.centre, *self.centre_range)
        sigma = ops.clip(self.sigma, *self.sigma_range)
        t = ops.cast(self._t, mu.dtype)
        gauss = ops.exp(-0.5 * ops.square(t / sigma)) / (np.sqrt(2.0 * np.pi) * sigma)
        phase = t * mu
        return ops.concatenate([gauss * ops.cos(phase), -gauss * ops.sin(phase)], axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(min_hz=self.min_hz, max_hz=self.max_hz)
        return config
