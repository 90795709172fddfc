"""Whisper's log-mel spectrogram (openai-whisper's ``log_mel_spectrogram``), fixed or learnable."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from framebank._validation import check_bool, check_choice, check_positive_int
from framebank.frontends._pretrained import (
    Pretrained,
    check_defined_rate,
    check_learnable,
    mel_encoder,
    reflect_pad,
)
from framebank.frontends.base import _arguments, register_ready_made
from framebank.postprocessing import MelSpectrum, WhisperCompression

__all__ = ["WhisperLogMel", "WhisperV3LogMel"]

RATE, N_FFT, HOP = 16000, 400, 160
CHUNK_SAMPLES = 30 * RATE  # whisper.audio.N_SAMPLES


@register_ready_made("whisper")
@keras.saving.register_keras_serializable(package="framebank")
class WhisperLogMel(Pretrained):
    """openai-whisper's ``log_mel_spectrogram``, as ``[batch, frames, n_mels]``.

    16 kHz audio in [-1, 1]; ``torch.stft`` with ``n_fft`` 400, hop 160, the periodic Hann
    window, centred with reflect padding (the ``mel`` family's Fourier basis on the
    reflect-padded waveform); the last frame dropped; power; librosa's Slaney mel filters
    (``librosa.filters.mel(sr=16000, n_fft=400, n_mels)``, what Whisper ships in
    ``mel_filters.npz``); then :class:`~framebank.postprocessing.WhisperCompression`
    (``log10``, clamp 8 below the maximum, ``(x + 4) / 4``). ``time // 160`` frames.

    Args:
        n_mels: 80 (Whisper up to large-v2) or 128 (large-v3).
        max_over: ``"input"`` (openai's: the maximum over the whole batch given) or
            ``"example"`` (KerasHub's ``WhisperAudioConverter``: per example).
        pad_or_trim: pad with zeros or cut the waveform to 30 s (3000 frames), as Whisper's
            ``pad_or_trim`` before its encoder.
        learnable: False (fixed), ``"mel"`` (the mel weights train), ``"basis"`` (the
            Fourier basis trains) or True (both); they start at these exact numbers.
        sample_rate: must be 16000 (accepted so that a config can give it).
        method: how the projection runs.

    Input shape:
        ``[batch, time]``, ``time > 200`` (``torch.stft``'s reflect padding needs it).

    Output shape:
        ``[batch, time // 160, n_mels]`` (``[batch, 3000, n_mels]`` with ``pad_or_trim``).

    Raises:
        ValueError: at the first call, for a clip of 200 samples or fewer; from streaming,
            always (the maximum spans the clip).

    Example:
        >>> WhisperLogMel()(np.zeros((1, 16000), "float32")).shape
        (1, 100, 80)
    """

    reference = "openai-whisper log_mel_spectrogram"

    def __init__(
        self,
        n_mels: int = 80,
        max_over: str = "input",
        pad_or_trim: bool = False,
        learnable: bool | str = False,
        sample_rate: int = RATE,
        method: str = "auto",
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        check_defined_rate("Whisper", sample_rate, RATE)
        train_basis, train_mel = check_learnable(learnable)
        pad_or_trim = check_bool("pad_or_trim", pad_or_trim)
        n_mels = check_positive_int("n_mels", n_mels)
        encoder = mel_encoder(N_FFT, HOP, method, RATE, n_mels, train_basis, window="hann")
        steps = [
            MelSpectrum.for_encoder(encoder, trainable=train_mel, name="mel"),
            WhisperCompression(
                max_over=check_choice("max_over", max_over, ("input", "example")),
                name="compression",
            ),
        ]
        super().__init__(encoder, steps, options, **kwargs)
        self.pad_or_trim = pad_or_trim

    @property
    def not_streamable(self) -> str:
        return (
            "Whisper's log-mel clamps at 8 below the maximum over the whole clip, which a "
            "chunk cannot know; compute it on the whole clip"
        )

    def prepare(self, waveform: Any) -> Any:
        if self.pad_or_trim:
            waveform = waveform[:, :CHUNK_SAMPLES]
            extra = ops.maximum(0, CHUNK_SAMPLES - ops.shape(waveform)[1])
            waveform = ops.pad(waveform, [[0, 0], [0, extra]])
        time = waveform.shape[1]
        if time is not None and time <= N_FFT // 2:
            raise ValueError(
                f"Whisper's torch.stft reflect-pads 200 samples, so a clip needs more than 200. "
                f"Received: {time} samples"
            )
        half = N_FFT // 2
        return reflect_pad(waveform, half, ops.shape(waveform)[1] + 2 * half, include_edge=False)

    @property
    def shortest_input(self) -> int:
        return 1 if self.pad_or_trim else N_FFT // 2 + 1

    def _length_rule(self) -> str:
        return (
            f"Whisper's torch.stft reflect-pads {N_FFT // 2} samples at each end, so a clip "
            f"needs more than {N_FFT // 2}"
        )

    def prepared_length(self, time: int | None) -> int | None:
        time = CHUNK_SAMPLES if self.pad_or_trim else time
        return None if time is None else time + N_FFT

    def trim(self, frames: Any) -> Any:
        return frames[:, :-1]  # whisper drops the STFT's last frame

    def trimmed_frames(self, frames: int | None) -> int | None:
        return None if frames is None else frames - 1


@register_ready_made("whisper_v3")
@keras.saving.register_keras_serializable(package="framebank")
class WhisperV3LogMel(WhisperLogMel):
    """:class:`WhisperLogMel` with 128 mel bands, Whisper large-v3's."""

    def __init__(self, n_mels: int = 128, **kwargs: Any) -> None:
        super().__init__(n_mels=n_mels, **kwargs)
