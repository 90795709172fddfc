"""The mel spectrograms of torchaudio and Keras, with their defaults: ``torchaudio_mel`` and
``keras_mel``."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from framebank._validation import check_positive_int, check_positive_number
from framebank.frontends._pretrained import (
    Pretrained,
    check_learnable,
    mel_encoder,
    reflect_pad,
)
from framebank.frontends.base import _arguments, register_ready_made
from framebank.postprocessing import KerasDecibels, KerasMelSpectrum, MelSpectrum

__all__ = ["KerasMel", "TorchaudioMel"]


class _CentredMel(Pretrained):
    """A centred STFT (``frame_len // 2`` reflected at both ends, ``torch.stft``'s and
    ``keras.ops.stft``'s ``center=True``), then a mel weighting."""

    @property
    def not_streamable(self) -> str:
        return "a centred STFT reflects the clip's end, which a stream has not seen"

    def prepare(self, waveform: Any) -> Any:
        half = self.encoder.frame_len // 2
        time = waveform.shape[1]
        if time is not None and time <= half:
            raise ValueError(
                f"{type(self).__name__} reflects {half} samples at each end, so a clip needs "
                f"more than {half}. Received: {time} samples"
            )
        return reflect_pad(waveform, half, ops.shape(waveform)[1] + 2 * half, include_edge=False)

    @property
    def shortest_input(self) -> int:
        return self.encoder.frame_len // 2 + 1

    def _length_rule(self) -> str:
        half = self.encoder.frame_len // 2
        return (
            f"its centred STFT reflects {half} samples at each end, so a clip needs more "
            f"than {half}"
        )

    def prepared_length(self, time: int | None) -> int | None:
        return None if time is None else time + 2 * (self.encoder.frame_len // 2)


@register_ready_made("torchaudio_mel")
@keras.saving.register_keras_serializable(package="framebank")
class TorchaudioMel(_CentredMel):
    """``torchaudio.transforms.MelSpectrogram``'s defaults, as ``[batch, frames, n_mels]``.

    16 kHz, ``n_fft`` 400 (the window), hop 200, periodic Hann, centred with reflect
    padding, power 2, 128 HTK mel bands without normalisation (triangles in Hz between
    HTK-mel-spaced points: librosa's ``htk=True, norm=None``), no log. ``1 + time // hop``
    frames.

    Args:
        sample_rate, n_fft, hop_length (None: ``n_fft // 2``), n_mels, f_min, f_max (None:
            Nyquist), power: torchaudio's.
        learnable: False, ``"mel"``, ``"basis"`` or True (both), from these exact numbers;
            learned mel weights are kept >= 0 after each optimizer step.
        method: how the projection runs.
    """

    reference = "torchaudio.transforms.MelSpectrogram (a numpy transcription of it)"

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 400,
        hop_length: int | None = None,
        n_mels: int = 128,
        f_min: float = 0.0,
        f_max: float | None = None,
        power: float = 2.0,
        learnable: bool | str = False,
        method: str = "auto",
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        train_basis, train_mel = check_learnable(learnable)
        n_fft = check_positive_int("n_fft", n_fft)
        hop = n_fft // 2 if hop_length is None else check_positive_int("hop_length", hop_length)
        rate = check_positive_number("sample_rate", sample_rate)
        encoder = mel_encoder(n_fft, hop, method, rate, n_mels, train_basis, window="hann")
        mel = MelSpectrum(
            rate,
            n_fft,
            n_mels,
            f_min,
            f_max,
            power=power,
            htk=True,
            norm=None,
            trainable=train_mel,
            name="mel",
        )
        super().__init__(encoder, [mel], options, **kwargs)


@register_ready_made("keras_mel")
@keras.saving.register_keras_serializable(package="framebank")
class KerasMel(_CentredMel):
    """``keras.layers.MelSpectrogram``'s defaults, as ``[batch, frames, num_mel_bins]`` (Keras
    returns ``[batch, num_mel_bins, frames]``).

    FFT 2048 (the window), stride 512, periodic Hann, centred with reflect padding,
    ``|X|^2``, 128 mel bands from 20 Hz by Keras's own mel matrix (triangles linear in HTK
    mel), then decibels clamped 80 dB below the maximum over the whole input.
    ``1 + time // sequence_stride`` frames.

    Args:
        fft_length, sequence_stride, window, sampling_rate, num_mel_bins: Keras's own
            (``window`` is ``"hann"`` or ``"hamming"``; a ``sequence_length`` shorter than
            ``fft_length`` is not offered).
        min_freq, max_freq, power_to_db, top_db, mag_exp, min_power, ref_power: Keras's own.
        learnable: False, ``"mel"``, ``"basis"`` or True (both), from these exact numbers;
            learned mel weights are kept >= 0 after each optimizer step.
        method: how the projection runs.
    """

    reference = "keras.layers.MelSpectrogram"

    def __init__(
        self,
        fft_length: int = 2048,
        sequence_stride: int = 512,
        window: str = "hann",
        sampling_rate: int = 16000,
        num_mel_bins: int = 128,
        min_freq: float = 20.0,
        max_freq: float | None = None,
        power_to_db: bool = True,
        top_db: float | None = 80.0,
        mag_exp: float = 2.0,
        min_power: float = 1e-10,
        ref_power: float = 1.0,
        learnable: bool | str = False,
        method: str = "auto",
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        train_basis, train_mel = check_learnable(learnable)
        if window not in ("hann", "hamming"):
            raise ValueError(f"`window` must be 'hann' or 'hamming'. Received: window={window!r}")
        fft = check_positive_int("fft_length", fft_length)
        rate = check_positive_number("sampling_rate", sampling_rate)
        stride = check_positive_int("sequence_stride", sequence_stride)
        encoder = mel_encoder(fft, stride, method, rate, num_mel_bins, train_basis, window=window)
        mel = KerasMelSpectrum(
            rate,
            fft,
            num_mel_bins,
            min_freq,
            max_freq,
            power=mag_exp,
            trainable=train_mel,
            name="mel",
        )
        steps = [mel]
        if power_to_db:
            steps.append(KerasDecibels(top_db, min_power, ref_power, name="decibels"))
        super().__init__(encoder, steps, options, **kwargs)
