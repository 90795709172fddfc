"""The mel family: a Fourier basis whose magnitudes, mel-weighted, give a mel spectrogram.

The basis is linear (``frames @ basis``), so the mel weighting, which needs
the magnitude first, cannot live inside it. :class:`MelFilterbank` is the
``fourier`` basis plus the mel options; the post-processing layer
:class:`~framebank.postprocessing.MelSpectrum` (which reads those options, the family
importing nothing of post-processing) turns its coefficients into ``mel @ |X|^power``,
exactly what ``librosa.feature.melspectrogram`` computes::

    enc = framebank.Encoder(2 * (400 // 2 + 1), 400, 160, filterbank="mel",
                            sample_rate=16000, n_mels=64)
    mel = MelSpectrum.for_encoder(enc)(enc(waveform))  # [batch, frames, 64]
"""

from __future__ import annotations

import warnings
from typing import Any

from framebank._validation import MEL_OPTIONS, mel_options
from framebank.filterbanks.base import register_filterbank
from framebank.filterbanks.fourier import FourierFilterbank

__all__ = ["MelFilterbank"]


@register_filterbank("mel")
class MelFilterbank(FourierFilterbank):
    """The ``fourier`` basis, fixed by default, with the options of its mel weighting.

    Its coefficients are the STFT's real and imaginary parts;
    ``MelSpectrum.for_encoder(encoder)`` (post-processing) maps them to
    a mel spectrogram equal to ``librosa.feature.melspectrogram`` on the same
    frames and window.

    Args:
        num_basis: optional; ``2 * (fft_length // 2 + 1)``.
        frame_len: samples per frame (``win_length``).
        sample_rate: Hz (required).
        window, fft_length: as in :class:`FourierFilterbank`.
        n_mels, fmin, fmax, htk, norm: as in ``librosa.filters.mel``.
        power: 1 (magnitude) or 2 (power), as librosa's ``power``.
        trainable: False by default (a fixed front end); True trains the basis.
    """

    needs_sample_rate = True
    mel_spectrum = True

    def __init__(
        self,
        num_basis: int | None = None,
        frame_len: int | None = None,
        sample_rate: float | None = None,
        window: str = "hann",
        fft_length: int | None = None,
        n_mels: int = 64,
        fmin: float = 0.0,
        fmax: float | None = None,
        power: float = 2.0,
        htk: bool = False,
        norm: str | None = "slaney",
        trainable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            num_basis, frame_len, sample_rate, window, fft_length, trainable=trainable, **kwargs
        )
        rate = self._require_sample_rate()
        for key, value in mel_options(n_mels, fmin, fmax, power, htk, norm, rate).items():
            setattr(self, key, value)

    def _mel_options(self) -> dict:
        """The mel weighting's options: what :meth:`spectrum_options` and ``get_config`` carry."""
        return {key: getattr(self, key) for key in MEL_OPTIONS}

    def spectrum_options(self) -> dict:
        """The options of the :class:`MelSpectrum` that completes this basis."""
        return dict(
            sample_rate=self.sample_rate,
            fft_length=self.fft_length or self.frame_len,
            **self._mel_options(),
        )

    def spectrum(self, **overrides: Any) -> Any:
        """Deprecated: ``framebank.postprocessing.MelSpectrum.for_encoder(encoder)`` makes
        the layer that completes this basis (it reads :meth:`spectrum_options`)."""
        warnings.warn(
            "MelFilterbank.spectrum() is deprecated and will be removed in the next release; "
            "use framebank.postprocessing.MelSpectrum.for_encoder(encoder, **overrides).",
            DeprecationWarning,
            stacklevel=2,
        )
        # Kept one release; the family's only import of post-processing, which goes with it.
        from framebank.postprocessing.mel import MelSpectrum

        return MelSpectrum(**{**self.spectrum_options(), **overrides})

    def get_config(self) -> dict:
        return {**super().get_config(), **self._mel_options()}
