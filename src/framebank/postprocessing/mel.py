"""The mel weighting: Fourier coefficients (real then imaginary parts) to a mel spectrogram."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from framebank._validation import MEL_OPTIONS, check_mel_options, check_positive_int, mel_options
from framebank.postprocessing._common import Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing

__all__ = ["MelSpectrum", "check_mel_options", "mel_weights"]


def mel_weights(
    sample_rate: float,
    fft_length: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> np.ndarray:
    """librosa's mel filterbank, transposed: ``[fft_length // 2 + 1, n_mels]`` float64."""
    import librosa

    return librosa.filters.mel(
        sr=sample_rate,
        n_fft=fft_length,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        htk=htk,
        norm=norm,
        dtype=np.float64,
    ).T


@register_postprocessing("mel_spectrum")
class MelSpectrum(Float32Postprocessing):
    """Fourier coefficients to a mel spectrogram: ``|X|^power @ mel``.

    Args:
        sample_rate: Hz.
        fft_length: the DFT size of the coefficients.
        n_mels, fmin, fmax, htk, norm: as in ``librosa.filters.mel``.
        power: the exponent of ``|X|``: 1 (magnitude), 2 (power), or any positive number,
            as librosa's ``power``.
        trainable: the mel weights are fixed by default; trained, they are kept >= 0
            after each optimizer step (``keras.constraints.NonNeg``).

    Input shape:
        ``[batch, frames, 2 * (fft_length // 2 + 1)]``, real parts then
        imaginary parts (the ``fourier`` / ``mel`` families' layout).

    Output shape:
        ``[batch, frames, n_mels]``.
    """

    frame_wise = True

    def __init__(
        self,
        sample_rate: float,
        fft_length: int,
        n_mels: int = 64,
        fmin: float = 0.0,
        fmax: float | None = None,
        power: float = 2.0,
        htk: bool = False,
        norm: str | None = "slaney",
        trainable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(trainable=trainable, **kwargs)
        for key, value in mel_options(n_mels, fmin, fmax, power, htk, norm, sample_rate).items():
            setattr(self, key, value)
        self.sample_rate = float(sample_rate)
        self.fft_length = check_positive_int("fft_length", fft_length)
        self.n_freq = self.fft_length // 2 + 1

    @classmethod
    def for_encoder(cls, encoder: Any, **options: Any) -> MelSpectrum:
        """Defaults from a ``mel`` encoder's filterbank (its sample rate, DFT size and mel
        options); for other families ``sample_rate`` defaults to the encoder's."""
        filterbank = encoder.filterbank
        defaults = {}
        if hasattr(filterbank, "spectrum_options"):
            defaults = filterbank.spectrum_options()
        elif getattr(filterbank, "sample_rate", None) is not None:
            defaults = {"sample_rate": filterbank.sample_rate}
        return cls(**{**defaults, **options})

    def build(self, input_shape: tuple) -> None:
        if input_shape[-1] != 2 * self.n_freq:
            raise ValueError(
                f"MelSpectrum expects 2 * (fft_length // 2 + 1) = {2 * self.n_freq} "
                f"coefficients (real then imaginary). Received: input_shape={tuple(input_shape)}"
            )
        weights = self.initial_weights()
        # Trained, a negative weight could make a band's power negative: the log's floor
        # then holds it, a dead band with no gradient. NonNeg keeps the (>= 0) start exact.
        self.mel = self.add_array_weight("mel", weights, keras.constraints.NonNeg())

    def initial_weights(self) -> np.ndarray:
        """The ``[fft_length // 2 + 1, n_mels]`` float64 weights the layer starts from."""
        return mel_weights(
            self.sample_rate,
            self.fft_length,
            self.n_mels,
            self.fmin,
            self.fmax,
            self.htk,
            self.norm,
        )

    def call(self, coefficients: Any) -> Any:
        # In float32 even under mixed_float16: a full-scale tone's power (256**2 for
        # fft_length 1024) is past float16's largest number, 65504.
        coefficients = ops.cast(coefficients, self.working_dtype)
        # One split, not two slices: its gradient is one concatenation, where two slices'
        # are two zero-padded copies and their sum (benchmarks/README.md, "through the FFT").
        real, imag = ops.split(coefficients, 2, axis=-1)
        power = ops.square(real) + ops.square(imag)
        if self.power != 2.0:
            # The floor keeps the gradient of |X| finite where X = 0.
            tiny = ops.cast(1e-20 if power.dtype != "float16" else 1e-7, power.dtype)
            power = ops.power(ops.maximum(power, tiny), self.power / 2.0)
        mel = ops.cast(self.mel, power.dtype)
        if self.working_dtype == "float64":
            # Keras's torch matmul returns float64 products as float32; einsum keeps them.
            return ops.einsum("...f,fm->...m", power, mel)
        return ops.matmul(power, mel)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.n_mels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate,
            fft_length=self.fft_length,
            **{key: getattr(self, key) for key in MEL_OPTIONS},
        )
        return config
