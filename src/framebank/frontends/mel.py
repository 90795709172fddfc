"""Fixed mel front ends: log-mel (librosa's) and PCEN-mel (a learnable PCEN on a fixed mel)."""

from __future__ import annotations

from typing import Any

import keras

from framebank._validation import check_bool, check_positive_int
from framebank.frontends._pretrained import check_learnable, mel_encoder
from framebank.frontends.base import (
    FrameSpec,
    ReadyMade,
    _arguments,
    _common,
    register_ready_made,
)
from framebank.postprocessing import PCEN, Log, MelSpectrum


@register_ready_made("log_mel")
@keras.saving.register_keras_serializable(package="framebank")
class LogMel(ReadyMade):
    """A fixed log-mel front end: ``log(eps + mel @ |STFT|^2)``, librosa's log-mel.

    The ``mel`` family's Fourier basis (Hann window of ``win_length`` samples, DFT of
    ``n_fft``), :class:`~framebank.MelSpectrum` (librosa's mel filters) and
    :class:`~framebank.postprocessing.Log`: equal to ``np.log(eps +
    librosa.feature.melspectrogram(y=y, sr=sample_rate, n_fft=n_fft, hop_length=hop_length,
    win_length=win_length, n_mels=n_filters, htk=htk, norm=norm, center=center,
    pad_mode=pad_mode))``. Sizes are given in milliseconds (``window_ms``, ``hop_ms``, the
    window ``round(sample_rate * window_ms / 1000)`` samples) or in samples, librosa's way
    (``n_fft``, ``hop_length``, ``win_length``; ``win_length`` defaults to ``n_fft``, and a
    shorter window sits centred in the ``n_fft`` frame as librosa's).

    Args:
        sample_rate: Hz, a whole number.
        n_filters: mel bands (at most ``n_fft // 2 + 1``, the DFT's bins).
        window_ms, hop_ms: window and hop, milliseconds (default 25 and 10).
        fft_length: DFT size; default ``n_fft``, else the next power of two >= the window.
        fmin, fmax: the mel filters' range, Hz (``fmax`` default Nyquist).
        eps: added before the logarithm.
        center: pad half a window at both ends, as librosa's ``center=True``.
        method: how the projection runs (``"auto"`` or a name in ``framebank.METHODS``).
        n_fft: librosa's DFT size in samples (the window too, unless given); the same as
            ``fft_length``, give one of them.
        hop_length, win_length: hop and window in samples, instead of ``hop_ms`` and
            ``window_ms`` (one unit a size, both is an error).
        htk: the HTK mel scale instead of Slaney's (librosa's ``htk``).
        norm: ``"slaney"`` (each filter of unit area, librosa's default) or None (peak 1).
        pad_mode: how ``center`` pads: ``"constant"`` (zeros, librosa's default since 0.10)
            or ``"reflect"``. Reflect padding cannot stream (it needs samples after a
            chunk); streaming refuses it.
        learnable: False (fixed, the default), ``"mel"`` (the mel weights train from
            librosa's, kept >= 0 after each optimizer step), ``"basis"`` (the STFT basis
            trains) or True (both).

    Raises:
        ValueError: both units for one size, a window longer than ``n_fft`` or not
            centrable in it, more bands than DFT bins, a rate that is not whole Hz or
            below 1000 (a rate in kHz), ``trainable=True`` without ``learnable`` (nothing
            would train).

    Input shape:
        ``[batch, time]``.

    Output shape:
        ``[batch, frames, n_filters]``.
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        n_filters: int = 40,
        window_ms: float | None = None,
        hop_ms: float | None = None,
        fft_length: int | None = None,
        fmin: float = 0.0,
        fmax: float | None = None,
        eps: float = 1e-6,
        center: bool = True,
        method: str = "auto",
        n_fft: int | None = None,
        hop_length: int | None = None,
        win_length: int | None = None,
        htk: bool = False,
        norm: str | None = "slaney",
        pad_mode: str = "constant",
        learnable: bool | str = False,
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        train_basis, train_mel = check_learnable(learnable)
        if not learnable:
            _refuse_trainable(type(self).__name__, kwargs)
        sample_rate, n_filters = _common(sample_rate, n_filters)
        center = check_bool("center", center)
        fft, frame_len, hop = _stft_sizes(sample_rate, options, center)
        _check_bands(n_filters, fft)
        encoder = mel_encoder(
            frame_len,
            hop,
            method,
            sample_rate,
            n_filters,
            train_basis,
            name="mel_encoder",
            fft_length=fft,
            fmin=fmin,
            fmax=fmax,
            htk=check_bool("htk", htk),
            norm=norm,
            center=center,
            pad_mode=pad_mode,
        )
        steps = [
            MelSpectrum.for_encoder(encoder, trainable=train_mel, name="mel"),
            Log(eps=eps, name="log"),
        ]
        super().__init__(encoder, steps, options, **kwargs)

    @classmethod
    def from_config(cls, config: dict) -> LogMel:
        # A saved LogMel records Keras's default trainable=True; only a user's is refused.
        return cls(**{k: v for k, v in config.items() if k != "trainable" or v is False})

    def _length_rule(self) -> str:
        return (
            f"one frame is {self.encoder.frame_len} samples (center={self.encoder.center}). "
            "Pass center=True (half a window of padding at each end), or a shorter window_ms "
            "(or win_length)"
        )


def _refuse_trainable(name: str, kwargs: dict) -> None:
    if kwargs.get("trainable") is True:
        raise ValueError(
            f"{name} is a fixed transform by default: trainable=True alone gives it no weight "
            "to train. Choose what learns with learnable='mel' (the mel weights), 'basis' (the "
            "STFT basis) or True (both); or use PCENMel (a learnable PCEN on this mel "
            "spectrogram, learn=)."
        )


def _stft_sizes(sample_rate: Any, options: dict, center: bool) -> tuple[int, int, int]:
    """``(fft_length, frame_len, hop)`` from milliseconds or librosa's sample counts.

    A window shorter than ``n_fft`` is framed on its own samples (``frame_len = win``) and
    zero-padded to ``n_fft``: the same magnitudes as librosa's window centred in an
    ``n_fft`` frame when ``center=True`` and ``n_fft - win`` is even (both frames start
    at the same sample); otherwise the frames differ, which is refused for sizes given in
    librosa's samples (milliseconds keep the window at the frame's start).
    """
    fft_length, n_fft = options["fft_length"], options["n_fft"]
    if fft_length is not None and n_fft is not None:
        raise ValueError(
            "`n_fft` and `fft_length` are the same size (the DFT's); give one. Received: "
            f"n_fft={n_fft!r} and fft_length={fft_length!r}"
        )
    fft = fft_length if n_fft is None else n_fft
    if fft is not None:
        fft = check_positive_int("n_fft" if n_fft is not None else "fft_length", fft)
    sizes = dict(options)
    if n_fft is not None and options["window_ms"] is None and options["win_length"] is None:
        sizes["win_length"] = fft  # librosa's default: the window fills the DFT
    frame_len, hop = FrameSpec.from_options(sample_rate, sizes)
    fft = fft or 1 << max(0, frame_len - 1).bit_length()
    if frame_len > fft:
        raise ValueError(
            f"The window ({frame_len} samples) must fit in the DFT: win_length <= n_fft. "
            f"Received: window of {frame_len} samples and n_fft (fft_length)={fft}"
        )
    in_samples = options["n_fft"] is not None or options["win_length"] is not None
    if in_samples and frame_len < fft and (not center or (fft - frame_len) % 2):
        raise ValueError(
            f"A window of {frame_len} samples centred in an n_fft={fft} frame (librosa's "
            f"framing) is only representable here with center=True and n_fft - win_length "
            f"even. Received: win_length={frame_len}, n_fft={fft}, center={center}. Use "
            "win_length=n_fft, or an even difference with center=True."
        )
    return fft, frame_len, hop


def _check_bands(n_filters: int, fft: int) -> None:
    bins = fft // 2 + 1
    if n_filters > bins:
        raise ValueError(
            f"{n_filters} mel bands need more DFT bins than n_fft={fft} gives ({bins}): some "
            f"filters would be empty. Received: n_filters={n_filters}. Use n_filters <= {bins} "
            "or a longer n_fft (fft_length)."
        )


@register_ready_made("pcen_mel")
@keras.saving.register_keras_serializable(package="framebank")
class PCENMel(ReadyMade):
    """A fixed mel spectrogram, then a learnable PCEN (per-channel energy normalisation).

    :class:`LogMel`'s mel power, then :class:`~framebank.postprocessing.PCEN` with LEAF's
    initial values (``alpha=0.96, delta=2, root=2, smooth_coef=0.04``), each learned per
    channel. The analyses of learnable front ends find PCEN is the part that learns; this
    isolates it.

    Args:
        sample_rate, n_filters, window_ms, hop_ms, fft_length, fmin, fmax: as :class:`LogMel`.
        center, method, n_fft, hop_length, win_length, htk, norm, pad_mode: as :class:`LogMel`.
        alpha, delta, root, smooth_coef, floor: PCEN's initial values.
        learn: which PCEN parameters learn.
        state_init: PCEN's smoother before the first frame (``"first_frame"``, LEAF's;
            ``"ones"``, librosa's).
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        n_filters: int = 40,
        window_ms: float | None = None,
        hop_ms: float | None = None,
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
        n_fft: int | None = None,
        hop_length: int | None = None,
        win_length: int | None = None,
        htk: bool = False,
        norm: str | None = "slaney",
        pad_mode: str = "constant",
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        mel_options = ("n_fft", "hop_length", "win_length", "htk", "norm", "pad_mode")
        mel = LogMel(
            sample_rate, n_filters, window_ms, hop_ms, fft_length, fmin, fmax, 1e-6, center,
            method, **{k: options[k] for k in mel_options},
        )  # fmt: skip
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
