"""SincNet's parametrised band-pass filters."""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from framebank._validation import check_number
from framebank.filterbanks.base import (
    Filterbank,
    register_filterbank,
)

__all__ = ["SincFilterbank", "mel_band_edges"]


def mel_band_edges(count: int, low_hz: float, high_hz: float) -> np.ndarray:
    """``count + 1`` band edges in Hz, equally spaced on the (HTK) mel scale."""
    import librosa

    return librosa.mel_frequencies(count + 1, fmin=low_hz, fmax=high_hz, htk=True)


@register_filterbank("sinc")
class SincFilterbank(Filterbank):
    """Band-pass filters with a learnable low cut-off and band width each.

    Filter ``k`` is the ideal band-pass between ``f1 = low_hz[k]`` and
    ``f2 = f1 + band_hz[k]``, ``g[n] = (sin(2 pi f2 n / sr) - sin(2 pi f1 n /
    sr)) / (pi n)`` (``2 (f2 - f1) / sr`` at ``n = 0``, so the pass band has
    gain 1), centred in the frame and multiplied by a symmetric Hamming
    window. Only ``2 * num_basis`` values are learned.

    Units: the weights ``low`` and ``band`` are frequencies as fractions of the
    sample rate (``low_hz / sample_rate``), as LEAF's Gabor family stores its
    centres: Adam moves a parameter by about its learning rate a step whatever
    the gradient's scale, so in Hz a step of 1e-3 moved a cut-off 0.001 Hz
    (nothing audible in a whole training run), in this unit it moves it
    ``1e-3 * sample_rate`` (16 Hz at 16 kHz). ``low_hz``, ``band_hz`` and
    :meth:`cutoffs` give Hz. Weights saved in Hz (before this unit) are
    recognised when loaded (a value above 0.5, beyond Nyquist in this unit)
    and converted, so such files give the same filters.

    Validity: ``low`` is kept in ``[min_low_hz, sr/2 - min_band_hz] / sr`` and
    ``band`` in ``[min_band_hz, sr/2 - min_low_hz] / sr`` by an :class:`InRange`
    constraint after every optimizer step, and ``filters()`` also clips (so
    ``f2 <= sr/2``), so every cut-off stays in ``(0, sample_rate / 2)``.

    Args:
        num_basis: number of band-pass filters.
        frame_len: filter length in samples.
        sample_rate: Hz (required).
        min_low_hz: lowest low cut-off, Hz.
        min_band_hz: narrowest band, Hz.
        init_low_hz: lowest band edge of the mel-scale initialisation.

    Attributes:
        low, band: the ``[num_basis]`` weights: low cut-offs and band widths as
            fractions of the sample rate.
        low_hz, band_hz: the same in Hz (read-only tensors).

    References:
        Ravanelli & Bengio, "Speaker Recognition from Raw Waveform with
        SincNet", SLT 2018; asteroid-filterbanks ``ParamSincFB``.
    """

    needs_sample_rate = True

    def __init__(
        self,
        num_basis: int,
        frame_len: int | None = None,
        sample_rate: float | None = None,
        min_low_hz: float = 50.0,
        min_band_hz: float = 50.0,
        init_low_hz: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_basis, frame_len, sample_rate, **kwargs)
        nyquist = self._require_sample_rate() / 2
        for name, value in (
            ("min_low_hz", min_low_hz),
            ("min_band_hz", min_band_hz),
            ("init_low_hz", init_low_hz),
        ):
            if check_number(name, value) <= 0:
                raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")
        if min_low_hz + min_band_hz >= nyquist:
            raise ValueError(
                f"min_low_hz + min_band_hz must be below sample_rate / 2 = {nyquist:g}. "
                f"Received: min_low_hz={min_low_hz}, min_band_hz={min_band_hz}"
            )
        self.min_low_hz = float(min_low_hz)
        self.min_band_hz = float(min_band_hz)
        self.init_low_hz = float(init_low_hz)

    @property
    def low_range(self) -> tuple[float, float]:
        return self.min_low_hz, self.sample_rate / 2 - self.min_band_hz

    @property
    def band_range(self) -> tuple[float, float]:
        return self.min_band_hz, self.sample_rate / 2 - self.min_low_hz

    def make_weights(self) -> None:
        # The parameters stay float32 under mixed precision (add_parameter): sin(2 pi f n /
        # sr) needs it, and only the basis is cast.
        # SincNet's initialisation: bands tiling the mel scale up to Nyquist.
        high_hz = self.sample_rate / 2 - (self.min_low_hz + self.min_band_hz)
        edges = mel_band_edges(self.num_basis, min(self.init_low_hz, high_hz / 2), high_hz)
        low = np.clip(edges[:-1], *self.low_range)
        # Each band ends where the next begins, also after the first low edge is
        # raised to min_low_hz (a band from the unclipped edges overlapped the next).
        band = np.clip(edges[1:] - low, *self.band_range)
        rate = self.sample_rate
        self.low = self.add_parameter("low", low / rate, *(np.asarray(self.low_range) / rate))
        self.band = self.add_parameter("band", band / rate, *(np.asarray(self.band_range) / rate))
        n = np.arange(self.frame_len) - (self.frame_len - 1) / 2  # centred sample index
        self._n = n[:, None]
        self._centre = (n == 0)[:, None]
        # n = 0 replaced by 1 where it is masked out anyway, so no 0/0 (or NaN gradient).
        self._n_safe = np.where(self._centre, 1.0, self._n)
        import scipy.signal

        self._window = scipy.signal.get_window("hamming", self.frame_len, fftbins=False)[:, None]

    @property
    def low_hz(self) -> Any:
        """``[num_basis]`` low cut-offs in Hz (the weight ``low`` times the sample rate)."""
        return self.low * self.sample_rate

    @property
    def band_hz(self) -> Any:
        """``[num_basis]`` band widths in Hz (the weight ``band`` times the sample rate)."""
        return self.band * self.sample_rate

    def cutoffs(self) -> tuple[Any, Any]:
        """``(f1, f2)`` in Hz, ``[num_basis]`` each, clipped into range."""
        f1 = ops.clip(self.low_hz, *self.low_range)
        band = ops.clip(self.band_hz, *self.band_range)
        f2 = ops.minimum(f1 + band, self.sample_rate / 2)
        return f1, f2

    def centre_hz(self) -> Any:
        """Each band's centre in Hz, ``[num_basis]``: ``(f1 + f2) / 2`` of :meth:`cutoffs`,
        the band the filters pass (``low_hz + band_hz / 2`` while the weights are in range;
        a weight past its range, or a band past Nyquist, is clipped as the filters clip it)."""
        f1, f2 = self.cutoffs()
        return (f1 + f2) / 2

    def load_own_variables(self, store: Any) -> None:
        """Load ``low`` and ``band``; weights saved in Hz are converted to this unit."""
        super().load_own_variables(store)
        for weight in (self.low, self.band):
            value = np.asarray(ops.convert_to_numpy(weight))
            # In this unit every value is at most 0.5 (Nyquist); in Hz a bank's cut-offs
            # reach far above 0.5 Hz.
            if np.max(value) > 0.5:
                weight.assign(value / self.sample_rate)

    def filters(self) -> Any:
        f1, f2 = self.cutoffs()
        dtype = f1.dtype
        n = ops.cast(self._n_safe, dtype)
        scale = 2.0 * np.pi / self.sample_rate
        response = (ops.sin(scale * f2 * n) - ops.sin(scale * f1 * n)) / (np.pi * n)
        at_centre = 2.0 * (f2 - f1) / self.sample_rate
        response = ops.where(self._centre, ops.expand_dims(at_centre, 0), response)
        return response * ops.cast(self._window, dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            min_low_hz=self.min_low_hz,
            min_band_hz=self.min_band_hz,
            init_low_hz=self.init_low_hz,
        )
        return config
