"""Fixed mel front ends: log-mel (librosa's) and PCEN-mel (a learnable PCEN on a fixed mel)."""

from __future__ import annotations

from typing import Any

import keras

from framebank._validation import check_bool, check_positive_int
from framebank.frontends.base import ReadyMade, _arguments, _common, _hop, register_ready_made
from framebank.layers import Encoder
from framebank.postprocessing import PCEN, Log, MelSpectrum


@register_ready_made("log_mel")
@keras.saving.register_keras_serializable(package="framebank")
class LogMel(ReadyMade):
    """A fixed log-mel front end: ``log(eps + mel @ |STFT|^2)``, librosa's log-mel.

    The ``mel`` family's Fourier basis (Hann window, ``frame_len = round(sample_rate *
    window_ms / 1000)``, DFT of ``fft_length``), :class:`~framebank.MelSpectrum` (librosa's
    Slaney mel filters) and :class:`~framebank.postprocessing.Log`: equal to
    ``np.log(eps + librosa.feature.melspectrogram(y, sr, n_fft=fft_length,
    hop_length=hop, win_length=frame_len, n_mels=n_filters))`` (``center=True``).

    Args:
        sample_rate: Hz.
        n_filters: mel bands.
        window_ms, hop_ms: window and hop, milliseconds.
        fft_length: DFT size; default the next power of two >= the window.
        fmin, fmax: the mel filters' range, Hz (``fmax`` default Nyquist).
        eps: added before the logarithm.
        center: pad half a window at both ends, as librosa's ``center=True``.
        method: how the projection runs (``"auto"`` or a name in ``framebank.METHODS``).

    Input shape:
        ``[batch, time]``.

    Output shape:
        ``[batch, frames, n_filters]``.
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        n_filters: int = 40,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        fft_length: int | None = None,
        fmin: float = 0.0,
        fmax: float | None = None,
        eps: float = 1e-6,
        center: bool = True,
        method: str = "auto",
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        sample_rate, n_filters, window_ms, hop_ms = _common(
            sample_rate, n_filters, window_ms, hop_ms
        )
        frame_len = int(round(sample_rate * window_ms / 1000))
        if fft_length is not None:
            fft_length = check_positive_int("fft_length", fft_length)
        fft = fft_length or 1 << max(0, frame_len - 1).bit_length()
        encoder = Encoder(
            frame_len=frame_len,
            hop=_hop(sample_rate, hop_ms),
            method=method,
            filterbank="mel",
            sample_rate=sample_rate,
            fft_length=fft,
            n_mels=n_filters,
            fmin=fmin,
            fmax=fmax,
            center=check_bool("center", center),
            name="mel_encoder",
        )
        steps = [MelSpectrum.for_encoder(encoder, name="mel"), Log(eps=eps, name="log")]
        super().__init__(encoder, steps, options, **kwargs)


@register_ready_made("pcen_mel")
@keras.saving.register_keras_serializable(package="framebank")
class PCENMel(ReadyMade):
    """A fixed mel spectrogram, then a learnable PCEN (per-channel energy normalisation).

    :class:`LogMel`'s mel power, then :class:`~framebank.postprocessing.PCEN` with LEAF's
    initial values (``alpha=0.96, delta=2, root=2, smooth_coef=0.04``), each learned per
    channel. The analyses of learnable front ends find PCEN is the part that learns; this
    isolates it.

    Args:
        sample_rate, n_filters, window_ms, hop_ms, fft_length, fmin, fmax, center, method: as
            :class:`LogMel`.
        alpha, delta, root, smooth_coef, floor: PCEN's initial values.
        learn: which PCEN parameters learn.
        state_init: PCEN's smoother before the first frame (``"first_frame"``, LEAF's;
            ``"ones"``, librosa's).
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        n_filters: int = 40,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        fft_length: int | None = None,
        fmin: float = 0.0,
        fmax: float | None = None,
        center: bool = True,
        method: str = "auto",
        alpha: float = 0.96,
        delta: float = 2.0,
        root: float = 2.0,
        smooth_coef: float = 0.04,
        floor: float = 1e-12,
        learn: tuple | list = ("alpha", "delta", "root", "smooth_coef"),
        state_init: str = "first_frame",
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        mel = LogMel(
            sample_rate, n_filters, window_ms, hop_ms, fft_length, fmin, fmax, 1e-6, center, method
        )
        pcen = PCEN(
            alpha=alpha,
            delta=delta,
            root=root,
            smooth_coef=smooth_coef,
            floor=floor,
            learn=learn,
            state_init=state_init,
            name="pcen",
        )
        super().__init__(mel.encoder, [mel.postprocessing[0], pcen], options, **kwargs)
