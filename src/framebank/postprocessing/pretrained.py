"""The steps pretrained models put after their spectrograms: Whisper's log compression, a fixed
mean and scale (AST, BEATs), a fixed number of frames (AST's 1024), and
``keras.layers.MelSpectrogram``'s mel matrix and decibels."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from keras import ops

from framebank._validation import check_choice, check_number, check_positive_int
from framebank.postprocessing._common import Float32Postprocessing, holds_no_values
from framebank.postprocessing.base import register_postprocessing
from framebank.postprocessing.mel import MelSpectrum

__all__ = [
    "FitFrames",
    "KerasDecibels",
    "KerasMelSpectrum",
    "Standardize",
    "WhisperCompression",
]


@register_postprocessing("whisper_compression")
class WhisperCompression(Float32Postprocessing):
    """openai-whisper's compression of a mel power spectrogram.

    ``y = log10(max(x, 1e-10))``, then ``max(y, max(y) - 8)``, then ``(y + 4) / 4``. openai's
    ``log_mel_spectrogram`` takes ``max(y)`` over the whole input it is given
    (``max_over="input"``: for a batch, over the batch); KerasHub's
    ``WhisperAudioConverter`` takes it per example (``max_over="example"``), which makes an
    example's features independent of the others in its batch.

    Args:
        max_over: ``"input"`` or ``"example"``.
        dynamic_range: the clamp below the maximum, in log10 units (8).

    Input shape:
        ``[batch, frames, n_mels]``, non-negative.

    Output shape:
        The input's. Not frame-wise: the maximum spans frames, so it does not stream.
    """

    def __init__(self, max_over: str = "input", dynamic_range: float = 8.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_over = check_choice("max_over", max_over, ("input", "example"))
        self.dynamic_range = check_number("dynamic_range", dynamic_range)

    def call(self, x: Any) -> Any:
        x = ops.cast(x, self.working_dtype)
        if holds_no_values(x):
            return x  # 0 frames: no maximum to take, the empty output
        # log10 as log / log(10): float32 rounding, well inside the reference's own.
        log_spec = ops.log(ops.clip(x, 1e-10, float("inf"))) / ops.log(ops.cast(10.0, x.dtype))
        if self.max_over == "input":
            top = ops.max(log_spec)
        else:
            top = ops.max(log_spec, axis=(1, 2), keepdims=True)
        # where, not maximum: Keras's torch maximum returns float64 as float32.
        floor = top - self.dynamic_range
        log_spec = ops.where(log_spec >= floor, log_spec, floor)
        return (log_spec + 4.0) / 4.0

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "max_over": self.max_over,
            "dynamic_range": self.dynamic_range,
        }


@register_postprocessing("standardize")
class Standardize(Float32Postprocessing):
    """``(x - mean) / std`` with fixed numbers: a pretrained model's dataset statistics.

    Args:
        mean, std: the constants (AST: ``-4.2677393`` and ``2 * 4.5689974``).

    Input shape:
        ``[batch, frames, channels]``.

    Output shape:
        The input's.
    """

    frame_wise = True

    def __init__(self, mean: float = 0.0, std: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mean = check_number("mean", mean)
        self.std = check_number("std", std)
        if self.std == 0:
            raise ValueError(f"`std` must not be zero. Received: std={std!r}")

    def call(self, x: Any) -> Any:
        return (ops.cast(x, self.working_dtype) - self.mean) / self.std

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@register_postprocessing("fit_frames")
class FitFrames(Float32Postprocessing):
    """Pad with ``pad_value`` or cut to exactly ``frames`` frames (AST's 1024).

    Args:
        frames: the number of frames out.
        pad_value: the value of the added frames (AST pads its fbank with zeros).

    Input shape:
        ``[batch, frames_in, channels]``.

    Output shape:
        ``[batch, frames, channels]``.
    """

    def __init__(self, frames: int = 1024, pad_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.frames = check_positive_int("frames", frames)
        self.pad_value = check_number("pad_value", pad_value)

    def call(self, x: Any) -> Any:
        x = ops.cast(x, self.working_dtype)
        x = ops.pad(
            x,
            [[0, 0], [0, ops.maximum(0, self.frames - ops.shape(x)[1])], [0, 0]],
            constant_values=self.pad_value,
        )
        return x[:, : self.frames]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.frames, *input_shape[2:])

    def get_config(self) -> dict:
        return {**super().get_config(), "frames": self.frames, "pad_value": self.pad_value}


@register_postprocessing("keras_mel_spectrum")
class KerasMelSpectrum(MelSpectrum):
    """:class:`~framebank.MelSpectrum` with ``keras.layers.MelSpectrogram``'s mel matrix.

    Keras's (``tf.signal``'s) triangles are linear in HTK's mel scale, not in Hz as librosa's
    ``htk=True``, and the DC bin gets no weight. The weights are Keras's own
    ``linear_to_mel_weight_matrix``, transcribed in float64. ``htk`` and ``norm`` are ignored.

    Args:
        as :class:`~framebank.MelSpectrum`; ``fmin``, ``fmax``: Keras's ``min_freq``,
        ``max_freq`` (``None``: Nyquist).
    """

    def initial_weights(self) -> np.ndarray:
        # Keras's linear_to_mel_weight_matrix in numpy (it runs backend ops, which a build
        # inside a traced function cannot turn into numbers).
        def mel(hz: Any) -> Any:
            return 1127.0 * np.log(1.0 + np.asarray(hz, np.float64) / 700.0)

        fmax = self.sample_rate / 2 if self.fmax is None else self.fmax
        bins = mel(np.linspace(0.0, self.sample_rate / 2, self.n_freq)[1:])[:, None]
        edges = np.linspace(mel(self.fmin), mel(fmax), self.n_mels + 2)
        lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
        rising = (bins - lower) / (center - lower)
        falling = (upper - bins) / (upper - center)
        weights = np.maximum(0.0, np.minimum(rising, falling))
        return np.concatenate([np.zeros((1, self.n_mels)), weights])  # no weight on DC


@register_postprocessing("keras_decibels")
class KerasDecibels(Float32Postprocessing):
    """``keras.layers.MelSpectrogram``'s ``power_to_db``: decibels clamped below the maximum.

    ``10 log10(max(x, min_power)) - 10 log10(max(|ref_power|, min_power))``, then (unless
    ``top_db`` is None) ``max(y, max(y) - top_db)`` with ``max(y)`` over the whole input, as
    Keras (``max_over="example"``: per example).

    Args:
        top_db, min_power, ref_power: Keras's.
        max_over: ``"input"`` (Keras's) or ``"example"``.

    Input shape:
        ``[batch, frames, channels]``, non-negative.

    Output shape:
        The input's.
    """

    def __init__(
        self,
        top_db: float | None = 80.0,
        min_power: float = 1e-10,
        ref_power: float = 1.0,
        max_over: str = "input",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.top_db = None if top_db is None else check_number("top_db", top_db)
        self.min_power = check_number("min_power", min_power)
        self.ref_power = check_number("ref_power", ref_power)
        self.max_over = check_choice("max_over", max_over, ("input", "example"))

    def call(self, x: Any) -> Any:
        x = ops.cast(x, self.working_dtype)
        ten_over_ln10 = 10.0 / math.log(10.0)
        ref = 10.0 * math.log10(max(abs(self.ref_power), self.min_power))
        db = ten_over_ln10 * ops.log(ops.clip(x, self.min_power, float("inf"))) - ref
        if self.top_db is None or holds_no_values(db):
            return db  # top_db None, or 0 frames: no maximum to take (the empty output)
        if self.max_over == "input":
            top = ops.max(db)
        else:
            top = ops.max(db, axis=(1, 2), keepdims=True)
        floor = top - self.top_db  # where, not maximum: as WhisperCompression
        return ops.where(db >= floor, db, floor)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "top_db": self.top_db,
            "min_power": self.min_power,
            "ref_power": self.ref_power,
            "max_over": self.max_over,
        }
