"""Kaldi's filterbank energies: mel triangles linear in Kaldi's mel scale, log, frame energy."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from framebank._validation import check_bool, check_choice, check_number, check_positive_int
from framebank.postprocessing._common import Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing
from framebank.postprocessing.mel import BandedProduct, mel_band_values, mel_product

__all__ = ["KaldiMelSpectrum", "kaldi_high_freq", "kaldi_mel_weights"]

# Kaldi floors energies at float32's machine epsilon before the logarithm.
FLT_EPSILON = float(np.finfo(np.float32).eps)


def _mel(freq: Any) -> Any:
    return np.float32(1127.0) * np.log1p(np.asarray(freq, np.float32) / np.float32(700.0))


def kaldi_high_freq(sample_rate: float, low_freq: float, high_freq: float) -> float:
    """Kaldi's upper edge (``high_freq <= 0`` counts from Nyquist), checked by Kaldi's rule."""
    nyquist = 0.5 * float(sample_rate)
    high = float(high_freq) if high_freq > 0 else nyquist + float(high_freq)
    if not (0.0 <= low_freq < nyquist and 0.0 < high <= nyquist and high > low_freq):
        raise ValueError(
            f"Bad values in options: low_freq={low_freq} and high_freq={high_freq} (giving "
            f"{high:g} Hz) vs. Nyquist {nyquist:g} Hz at sample_rate={sample_rate}; Kaldi needs "
            "0 <= low_freq < Nyquist and low_freq < high_freq <= Nyquist"
        )
    return high


def kaldi_mel_weights(
    sample_rate: float,
    fft_length: int,
    num_mel_bins: int = 23,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
    empty_bins: str = "error",
) -> np.ndarray:
    """Kaldi's ``MelBanks`` as a ``[fft_length // 2 + 1, num_mel_bins]`` float64 matrix.

    Mel ``1127 ln(1 + f / 700)``; triangles linear in mel between ``num_mel_bins + 2``
    equally spaced mel points; the Nyquist bin gets no weight. Computed in float32 as Kaldi
    does, so that the bins at a triangle's edge fall on the same side. A mel bin that holds
    no FFT bin is Kaldi's error (``empty_bins="error"``); torchaudio's ``kaldi.fbank`` (AST's
    and BEATs' reference) leaves it at zero (``"allow"``).
    """
    check_choice("empty_bins", empty_bins, ("error", "allow"))
    num_mel_bins = check_positive_int("num_mel_bins", num_mel_bins)
    if num_mel_bins < 3:
        raise ValueError(f"Kaldi needs at least 3 mel bins. Received: num_mel_bins={num_mel_bins}")
    if fft_length % 2:
        raise ValueError(f"Kaldi's padded window must be even. Received: fft_length={fft_length}")
    high = kaldi_high_freq(sample_rate, low_freq, high_freq)
    mel_low, mel_high = _mel(low_freq), _mel(high)
    delta = (mel_high - mel_low) / np.float32(num_mel_bins + 1)
    bins = fft_length // 2
    mel = _mel(np.float32(np.float32(sample_rate) / np.float32(fft_length)) * np.arange(bins))
    weights = np.zeros((bins + 1, num_mel_bins))
    for b in range(num_mel_bins):
        left, center, right = (mel_low + np.float32(b + k) * delta for k in range(3))
        rising = (mel - left) / (center - left)
        falling = (right - mel) / (right - center)
        inside = (mel > left) & (mel < right)
        if not inside.any() and empty_bins == "error":
            raise ValueError(
                f"Mel bin {b} holds no FFT bin: num_mel_bins={num_mel_bins} is too many for "
                f"fft_length={fft_length} between {low_freq:g} and {high:g} Hz (Kaldi: 'You may "
                "have set num_mel_bins too large')"
            )
        weights[:bins, b] = np.where(inside, np.where(mel <= center, rising, falling), 0.0)
    return weights


@register_postprocessing("kaldi_mel")
class KaldiMelSpectrum(Float32Postprocessing):
    """Kaldi ``compute-fbank``'s features from its DFT coefficients (the ``kaldi`` family's).

    ``log(max(mel @ |X|^2, eps))`` (``|X|`` without ``use_power``; no log without
    ``use_log_fbank``), with the frame's log energy first (last with ``htk_compat``) when
    ``use_energy``: from the windowed frame through Parseval's identity, or from the raw
    frame (``raw_energy``: the coefficients end with ``frame_len`` samples of it), floored at
    ``log(energy_floor)`` when ``energy_floor > 0``. ``eps`` is float32's epsilon, Kaldi's.

    Args:
        sample_rate: Hz.
        fft_length: the DFT size of the coefficients (even).
        num_mel_bins, low_freq, high_freq: Kaldi's mel options (``high_freq <= 0`` counts
            from Nyquist).
        use_power, use_log_fbank, use_energy, raw_energy, energy_floor, htk_compat: Kaldi's.
        frame_len: samples per frame (only with ``use_energy`` and ``raw_energy``).
        empty_bins: ``"error"`` (Kaldi's) or ``"allow"`` (torchaudio's) for a mel bin that
            holds no FFT bin.
        trainable: the mel weights are fixed by default; trained, they are kept >= 0
            after each optimizer step (``keras.constraints.NonNeg``).

    Input shape:
        ``[batch, frames, 2 * (fft_length // 2 + 1) (+ frame_len)]``.

    Output shape:
        ``[batch, frames, num_mel_bins (+ 1 with use_energy)]``.
    """

    frame_wise = True

    def __init__(
        self,
        sample_rate: float,
        fft_length: int,
        num_mel_bins: int = 23,
        low_freq: float = 20.0,
        high_freq: float = 0.0,
        use_power: bool = True,
        use_log_fbank: bool = True,
        use_energy: bool = False,
        raw_energy: bool = True,
        energy_floor: float = 0.0,
        htk_compat: bool = False,
        frame_len: int | None = None,
        empty_bins: str = "error",
        trainable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(trainable=trainable, **kwargs)
        self.sample_rate = float(sample_rate)
        self.fft_length = check_positive_int("fft_length", fft_length)
        self.n_freq = self.fft_length // 2 + 1
        self.num_mel_bins = check_positive_int("num_mel_bins", num_mel_bins)
        self.low_freq = check_number("low_freq", low_freq)
        self.high_freq = check_number("high_freq", high_freq)
        self.use_power = check_bool("use_power", use_power)
        self.use_log_fbank = check_bool("use_log_fbank", use_log_fbank)
        self.use_energy = check_bool("use_energy", use_energy)
        self.raw_energy = check_bool("raw_energy", raw_energy)
        self.energy_floor = check_number("energy_floor", energy_floor)
        self.htk_compat = check_bool("htk_compat", htk_compat)
        self.empty_bins = check_choice("empty_bins", empty_bins, ("error", "allow"))
        self.frame_len = None if frame_len is None else check_positive_int("frame_len", frame_len)
        if self.use_energy and self.raw_energy and self.frame_len is None:
            raise ValueError("`raw_energy` needs `frame_len` (the raw frame's samples).")
        # Checked now, with Kaldi's messages, rather than at the first call.
        self._initial = kaldi_mel_weights(
            self.sample_rate,
            self.fft_length,
            self.num_mel_bins,
            self.low_freq,
            self.high_freq,
            self.empty_bins,
        )

    def _expected_channels(self) -> int:
        extra = self.frame_len if self.use_energy and self.raw_energy else 0
        return 2 * self.n_freq + extra

    def build(self, input_shape: tuple) -> None:
        self._check_rank(input_shape)
        if input_shape[-1] is not None and input_shape[-1] < self._expected_channels():
            raise ValueError(
                f"KaldiMelSpectrum expects {self._expected_channels()} coefficients (real, "
                f"imaginary parts, then the raw frame for raw_energy). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        # Trained, kept >= 0: a negative weight could floor a band at the log (MelSpectrum).
        self.mel = self.add_array_weight("mel", self._initial, keras.constraints.NonNeg())
        self.product = BandedProduct(self._initial)

    def parameter_values(self) -> dict[str, np.ndarray]:
        """Per mel band, while the weights train (``framebank inspect``'s table): as
        :meth:`MelSpectrum.parameter_values`."""
        return mel_band_values(self, self._initial)

    def _log_energy(self, rest: Any, power: Any) -> Any:
        if self.raw_energy:
            energy = ops.sum(ops.square(rest[..., : self.frame_len]), axis=-1)
        else:
            # Parseval: the windowed frame's energy from the one-sided spectrum.
            weights = np.full(self.n_freq, 2.0 / self.fft_length)
            weights[0] = weights[-1] = 1.0 / self.fft_length
            energy = ops.sum(power * ops.convert_to_tensor(weights, power.dtype), axis=-1)
        log_energy = ops.log(ops.clip(energy, FLT_EPSILON, float("inf")))
        if self.energy_floor > 0:
            log_energy = ops.clip(log_energy, float(np.log(self.energy_floor)), float("inf"))
        # expand_dims, not [..., None]: TFLite's builtin strided slice has no new-axis mask.
        return ops.expand_dims(log_energy, -1)

    def _split(self, x: Any) -> tuple[Any, Any, Any]:
        """Real parts, imaginary parts and the channels after them (the raw frame, or None).
        Split, not sliced where the width is known: a split's gradient is one concatenation,
        two slices' two zero-padded copies and their sum (as in MelSpectrum)."""
        n = self.n_freq
        if x.shape[-1] == 2 * n:
            return (*ops.split(x, 2, axis=-1), None)
        if x.shape[-1] is not None:
            return tuple(ops.split(x, [n, 2 * n], axis=-1))
        return x[..., :n], x[..., n : 2 * n], x[..., 2 * n :]

    def call(self, coefficients: Any) -> Any:
        x = ops.cast(coefficients, self.working_dtype)
        real, imag, rest = self._split(x)
        power = ops.square(real) + ops.square(imag)
        spectrum = power
        if not self.use_power:
            # The floor keeps the gradient of |X| finite where X = 0.
            spectrum = ops.sqrt(ops.clip(power, 1e-30, float("inf")))
        features = mel_product(self, spectrum)
        if self.use_log_fbank:
            features = ops.log(ops.clip(features, FLT_EPSILON, float("inf")))
        if self.use_energy:
            parts = [features, self._log_energy(rest, power)]
            features = ops.concatenate(parts if self.htk_compat else parts[::-1], axis=-1)
        return features

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.num_mel_bins + int(self.use_energy))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate,
            fft_length=self.fft_length,
            num_mel_bins=self.num_mel_bins,
            low_freq=self.low_freq,
            high_freq=self.high_freq,
            use_power=self.use_power,
            use_log_fbank=self.use_log_fbank,
            use_energy=self.use_energy,
            raw_energy=self.raw_energy,
            energy_floor=self.energy_floor,
            htk_compat=self.htk_compat,
            frame_len=self.frame_len,
            empty_bins=self.empty_bins,
        )
        return config
