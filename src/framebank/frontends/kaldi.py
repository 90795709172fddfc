"""Kaldi's filterbank features (``compute-fbank``) and the models trained on them: AST, BEATs."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from framebank._validation import (
    check_bool,
    check_non_negative_int,
    check_number,
    check_positive_int,
    check_positive_number,
)
from framebank.frontends._pretrained import (
    Pretrained,
    check_defined_rate,
    check_learnable,
    reflect_pad,
)
from framebank.frontends.base import _arguments, register_ready_made
from framebank.layers import Encoder
from framebank.postprocessing import FitFrames, KaldiMelSpectrum, Standardize

__all__ = ["AST", "BEATs", "KaldiFbank", "kaldi_frame_sizes"]

_BASIS_OPTIONS = (
    "window_type",
    "blackman_coeff",
    "remove_dc_offset",
    "preemphasis_coefficient",
    "scale",
)
_FBANK_OPTIONS = (
    "num_mel_bins",
    "low_freq",
    "high_freq",
    "use_power",
    "use_log_fbank",
    "use_energy",
    "raw_energy",
    "energy_floor",
    "htk_compat",
    "empty_bins",
)


def kaldi_frame_sizes(sample_rate: float, frame_length: float, frame_shift: float) -> tuple:
    """Kaldi's window and shift in samples: ``int(rate * 0.001 * ms)`` in float32, as Kaldi."""
    rate, milli = np.float32(sample_rate), np.float32(0.001)
    size = int(rate * milli * np.float32(frame_length))
    shift = int(rate * milli * np.float32(frame_shift))
    if size < 1 or shift < 1:
        raise ValueError(
            f"frame_length={frame_length} ms and frame_shift={frame_shift} ms give {size} and "
            f"{shift} samples at sample_rate={sample_rate}; both must be at least one"
        )
    return size, shift


def _pieces(o: dict, train_basis: bool, train_mel: bool) -> tuple:
    """:class:`KaldiFbank`'s encoder (the ``kaldi`` basis) and fbank layer, from its options."""
    rate = check_positive_number("sample_rate", o["sample_rate"])
    size, shift = kaldi_frame_sizes(
        rate,
        check_positive_number("frame_length", o["frame_length"]),
        check_positive_number("frame_shift", o["frame_shift"]),
    )
    rounded = check_bool("round_to_power_of_two", o["round_to_power_of_two"])
    fft = 1 << (size - 1).bit_length() if rounded else size
    raw = check_bool("use_energy", o["use_energy"]) and check_bool("raw_energy", o["raw_energy"])
    encoder = Encoder(
        frame_len=size,
        hop=shift,
        method=o["method"],
        filterbank="kaldi",
        sample_rate=o["sample_rate"],
        fft_length=fft,
        frame_columns=raw,
        name="kaldi_stft",
        **{k: o[k] for k in _BASIS_OPTIONS},
    )
    encoder.filterbank.trainable = train_basis
    fbank = KaldiMelSpectrum(
        rate,
        fft,
        frame_len=size if raw else None,
        trainable=train_mel,
        name="fbank",
        **{k: o[k] for k in _FBANK_OPTIONS},
    )
    return encoder, fbank


@register_ready_made("kaldi_fbank")
@keras.saving.register_keras_serializable(package="framebank")
class KaldiFbank(Pretrained):
    """Kaldi's ``compute-fbank`` (kaldi-native-fbank, torchaudio's ``compliance.kaldi.fbank``).

    The ``kaldi`` family's basis (the waveform times ``scale``, each frame's DC removed,
    pre-emphasised, windowed and zero-padded to a power of two, as one matrix), then
    :class:`~framebank.postprocessing.KaldiMelSpectrum` (Kaldi's mel triangles, log floored at
    float32's epsilon, the optional energy). The options are Kaldi's, with Kaldi's defaults
    except ``dither`` (0 here).

    Args:
        sample_rate: Hz.
        frame_length, frame_shift: milliseconds.
        window_type: ``povey``, ``hanning``, ``hamming``, ``rectangular`` or ``blackman``
            (or ``hann``, kaldi-native-fbank's periodic Hann).
        blackman_coeff: the Blackman window's constant.
        dither: Kaldi's: ``dither`` times a standard Gaussian is added to every sample of
            every frame, in Kaldi's units (after ``scale``), before the DC removal; drawn
            anew for each frame, so that overlapping frames do not share it (as Kaldi's
            ``ProcessWindow`` and torchaudio's ``kaldi.fbank``). 0 (none) by default here,
            as torchaudio's; Kaldi's ``compute-fbank`` defaults to 1. The draws are Keras's
            (``keras.random.normal``), not Kaldi's generator: the same statistics, other
            numbers.
        seed: the dither's seed: two layers with the same seed draw the same noise, call
            for call (None: unseeded).
        remove_dc_offset, preemphasis_coefficient, snip_edges, round_to_power_of_two: Kaldi's
            framing options (``snip_edges=False``: frames centred on multiples of the shift,
            the ends reflected, ``round(time / shift)`` frames).
        num_mel_bins, low_freq, high_freq: Kaldi's mel options (``high_freq <= 0`` counts from
            Nyquist).
        use_energy, raw_energy, energy_floor, use_log_fbank, use_power, htk_compat: Kaldi's.
        scale: multiplies the waveform. Kaldi reads 16-bit samples as numbers in
            [-32768, 32767]: pass ``scale=32768`` for [-1, 1] audio to get Kaldi's numbers,
            ``scale=1`` for audio already at that scale (or to feed [-1, 1] audio as AST does).
            Integer PCM (int16 and the like) is divided by its full scale first, as every
            framebank layer does (it becomes [-1, 1] audio), so int16 samples also need
            ``scale=32768`` for Kaldi's numbers; with the default ``scale=1`` the log fbank
            is ``log(32768**2)`` (about 20.8) lower in every bin.
        empty_bins: ``"error"`` (Kaldi's rule) or ``"allow"`` (torchaudio's: a mel bin with no
            FFT bin gives ``log(eps)``; AST and BEATs, 128 bins at 16 kHz, have one).
        learnable: False, ``"mel"``, ``"basis"`` or True (both), from these exact numbers;
            learned mel weights are kept >= 0 after each optimizer step.
        method: how the projection runs.

    Input shape:
        ``[batch, time]``.

    Output shape:
        ``[batch, frames, num_mel_bins (+ 1 with use_energy)]``; ``frames`` is
        ``1 + (time - window) // shift`` with ``snip_edges``, else
        ``(time + shift // 2) // shift``.

    Raises:
        ValueError: Kaldi's rules: a clip shorter than one frame with ``snip_edges``,
            ``high_freq`` above Nyquist, a mel bin with no FFT bin (too many mel bins).

    Example:
        >>> KaldiFbank(num_mel_bins=40)(np.zeros((1, 16000), "float32")).shape
        (1, 98, 40)
    """

    reference = "kaldi-native-fbank"

    def __init__(
        self,
        sample_rate: float = 16000,
        frame_length: float = 25.0,
        frame_shift: float = 10.0,
        window_type: str = "povey",
        blackman_coeff: float = 0.42,
        dither: float = 0.0,
        seed: int | None = None,
        remove_dc_offset: bool = True,
        preemphasis_coefficient: float = 0.97,
        snip_edges: bool = True,
        round_to_power_of_two: bool = True,
        num_mel_bins: int = 23,
        low_freq: float = 20.0,
        high_freq: float = 0.0,
        use_energy: bool = False,
        raw_energy: bool = True,
        energy_floor: float = 0.0,
        use_log_fbank: bool = True,
        use_power: bool = True,
        htk_compat: bool = False,
        scale: float = 1.0,
        empty_bins: str = "error",
        learnable: bool | str = False,
        method: str = "auto",
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        train_basis, train_mel = check_learnable(learnable)
        encoder, fbank = _pieces(options, train_basis, train_mel)
        dither = check_number("dither", dither)
        if dither < 0:
            raise ValueError(f"`dither` must be >= 0. Received: dither={dither!r}")
        snip_edges = check_bool("snip_edges", snip_edges)
        super().__init__(encoder, [fbank], options, **kwargs)
        self.snip_edges, self.dither = snip_edges, dither
        self.seed = None if seed is None else check_non_negative_int("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed) if dither else None

    def _append(self, steps: list, options: dict) -> None:
        """A model's own steps after the fbank, and their options in the config."""
        for step in steps:
            step.dtype_policy = self.dtype_policy
        self.postprocessing.extend(steps)
        self._options.update(options)

    @property
    def not_streamable(self) -> str:
        if self.dither:
            return "the dither is drawn at random for each call's frames; stream with dither=0"
        if not self.snip_edges:
            return "snip_edges=False reflects the clip's end, which a stream has not seen"
        return ""

    def prepare(self, waveform: Any) -> Any:
        size, shift = self.encoder.frame_len, self.encoder.hop
        time = waveform.shape[1]
        if time is not None and time < size and self.snip_edges:
            raise ValueError(
                f"With snip_edges=True Kaldi makes no frame of a clip shorter than one frame: "
                f"{time} samples < {size} (frame_length at this rate). Pass a longer clip or "
                "snip_edges=False."
            )
        if time is not None and not self.snip_edges and (time + shift // 2) // shift == 0:
            raise ValueError(
                f"A clip of {time} samples gives round(time / shift) = 0 frames at shift={shift}"
            )
        if self.snip_edges:
            return waveform
        length = ops.shape(waveform)[1]
        frames = (length + shift // 2) // shift
        left = size // 2 - shift // 2  # Kaldi's first frame starts at shift // 2 - size // 2
        return reflect_pad(waveform, left, (frames - 1) * shift + size, include_edge=True)

    def trim(self, coefficients: Any) -> Any:
        if not self.dither or not self.encoder.filterbank.scale:
            return coefficients
        # Kaldi's dither is a fresh draw for each frame's samples; the basis is linear, so
        # the noisy frames' coefficients are the clean ones plus the noise's, through the
        # same basis (the basis scales its input: the noise is divided by scale first).
        kernel = ops.cast(self.encoder.filterbank.filters(), coefficients.dtype)
        shape = (*ops.shape(coefficients)[:2], self.encoder.frame_len)
        noise = keras.random.normal(shape, seed=self.seed_generator, dtype=coefficients.dtype)
        strength = self.dither / self.encoder.filterbank.scale
        return coefficients + ops.matmul(strength * noise, kernel)

    @property
    def _window_option(self) -> str | None:
        """Kaldi's options that give a short clip a frame (AST's and BEATs' are fixed)."""
        return "frame_length, or with snip_edges=False" if self.snip_edges else "frame_length"

    def _length_rule(self) -> str:
        if self.snip_edges:
            return f"one frame is {self.encoder.frame_len} samples (snip_edges=True)"
        return f"Kaldi makes round(time / {self.encoder.hop}) frames (snip_edges=False)"

    def prepared_length(self, time: int | None) -> int | None:
        if self.snip_edges or time is None:
            return time
        shift = self.encoder.hop
        return ((time + shift // 2) // shift - 1) * shift + self.encoder.frame_len


@register_ready_made("ast")
@keras.saving.register_keras_serializable(package="framebank")
class AST(KaldiFbank):
    """The Audio Spectrogram Transformer's input (YuanGongND/ast ``dataloader.py``).

    :class:`KaldiFbank` on [-1, 1] audio with 128 bins, the ``hanning`` window,
    ``htk_compat``, no energy, dither 0; then ``(x + 4.2677393) / (2 * 4.5689974)`` (AudioSet's
    statistics); with ``target_length`` (AST: 1024), padded with zero fbank frames (before the
    normalisation, as AST) or cut. AST also removes the clip's mean first: the per-frame DC
    removal makes that a no-op, so it is not repeated.

    Args:
        target_length: frames out, or None to keep ``1 + (time - 400) // 160``.
        mean, std: AST's normalisation (``std`` is already doubled).
        **kwargs: :class:`KaldiFbank`'s options, to change AST's.
    """

    _window_option = None  # the pretrained model's frame

    reference = "torchaudio.compliance.kaldi.fbank as AST's dataloader calls it"

    def __init__(
        self,
        target_length: int | None = None,
        mean: float = -4.2677393,
        std: float = 2 * 4.5689974,
        num_mel_bins: int = 128,
        window_type: str = "hanning",
        htk_compat: bool = True,
        empty_bins: str = "allow",
        **kwargs: Any,
    ) -> None:
        check_defined_rate("AST", kwargs.get("sample_rate", 16000))
        if target_length is not None:
            target_length = check_positive_int("target_length", target_length)
        super().__init__(
            num_mel_bins=num_mel_bins,
            window_type=window_type,
            htk_compat=htk_compat,
            empty_bins=empty_bins,
            **kwargs,
        )
        steps = [] if target_length is None else [FitFrames(target_length, name="fit_frames")]
        steps.append(Standardize(mean, std, name="standardize"))
        self._append(steps, dict(target_length=target_length, mean=mean, std=std))

    @property
    def not_streamable(self) -> str:
        target = self._options.get("target_length")
        if target is None:
            return super().not_streamable
        return (
            f"target_length={target} pads or cuts the clip to {target} frames, which needs the "
            "whole clip; AST without target_length streams (pad or cut its frames afterwards)"
        )


@register_ready_made("beats")
@keras.saving.register_keras_serializable(package="framebank")
class BEATs(KaldiFbank):
    """BEATs' input (microsoft/unilm ``beats/BEATs.py``, ``preprocess``).

    [-1, 1] audio times 2^15, :class:`KaldiFbank` with 128 bins (Kaldi's other defaults:
    ``povey``, 25 ms / 10 ms, dither 0 as torchaudio's), then ``(x - 15.41663) / (2 *
    6.55582)``.

    Args:
        mean, std: BEATs' normalisation (``std`` is already doubled).
        **kwargs: :class:`KaldiFbank`'s options.
    """

    _window_option = None  # the pretrained model's frame
    _default_name = "beats"  # Keras would say "bea_ts"

    reference = "torchaudio.compliance.kaldi.fbank as BEATs' preprocess calls it"

    def __init__(
        self,
        mean: float = 15.41663,
        std: float = 2 * 6.55582,
        num_mel_bins: int = 128,
        scale: float = 2.0**15,
        empty_bins: str = "allow",
        **kwargs: Any,
    ) -> None:
        check_defined_rate("BEATs", kwargs.get("sample_rate", 16000))
        super().__init__(num_mel_bins=num_mel_bins, scale=scale, empty_bins=empty_bins, **kwargs)
        self._append([Standardize(mean, std, name="standardize")], dict(mean=mean, std=std))
