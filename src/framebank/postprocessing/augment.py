"""SpecAugment-style masking: training-time augmentation of ``[batch, frames, channels]``."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from framebank._validation import check_non_negative_int
from framebank.postprocessing._common import Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing

__all__ = ["SpecAugment"]


@register_postprocessing("spec_augment")
@keras.saving.register_keras_serializable(package="framebank")
class SpecAugment(Float32Postprocessing):
    """Time and frequency masking (Park et al., 2019), at training time only.

    Each example gets ``time_masks`` bands of ``0..time_width`` consecutive frames and
    ``freq_masks`` bands of ``0..freq_width`` consecutive channels, each width and start
    drawn uniformly and independently per example; masked values become the example's
    mean feature (after log compression, that is "no information" rather than silence,
    which a log would make ``-inf``-like). At inference the layer is the identity, so a
    model keeps it and streaming runs it as nothing.

    Args:
        time_masks, freq_masks: how many bands of each kind, ``>= 0``.
        time_width, freq_width: the largest band, frames or channels, ``>= 0``.
        seed: an int for reproducible masks (as ``keras.random.SeedGenerator``).

    Input shape:
        ``[batch, frames, channels]``.

    Output shape:
        The input's; float32 under 16-bit policies, as the layers before it.
    """

    frame_wise = True  # the identity whenever it streams (inference)

    def __init__(
        self,
        time_masks: int = 2,
        time_width: int = 10,
        freq_masks: int = 2,
        freq_width: int = 8,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.time_masks = check_non_negative_int("time_masks", time_masks)
        self.time_width = check_non_negative_int("time_width", time_width)
        self.freq_masks = check_non_negative_int("freq_masks", freq_masks)
        self.freq_width = check_non_negative_int("freq_width", freq_width)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"`seed` must be an int or None. Received: {seed!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple) -> None:
        self._check_rank(input_shape)
        super().build(input_shape)

    def _masked(self, size: Any, count: int, width: int, batch: Any, dtype: Any) -> Any:
        """``[batch, size]`` booleans, True inside any of ``count`` random bands."""
        positions = ops.cast(ops.arange(size), dtype)[None, :]
        masked = ops.zeros((batch, size), "bool")
        for _ in range(count):
            draw = keras.random.uniform((batch, 2), dtype=dtype, seed=self.seed_generator)
            band = ops.floor(draw[:, :1] * (width + 1))
            start = ops.floor(draw[:, 1:] * ops.maximum(ops.cast(size, dtype) - band + 1, 1.0))
            masked = ops.logical_or(
                masked, ops.logical_and(positions >= start, positions < start + band)
            )
        return masked

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training or (self.time_masks == 0 and self.freq_masks == 0):
            return inputs
        shape = ops.shape(inputs)
        batch, frames, channels = shape[0], shape[1], shape[2]
        dtype = "float32"  # positions and draws: exact for any realistic length
        in_time = self._masked(frames, self.time_masks, self.time_width, batch, dtype)
        in_freq = self._masked(channels, self.freq_masks, self.freq_width, batch, dtype)
        masked = ops.logical_or(in_time[:, :, None], in_freq[:, None, :])
        fill = ops.mean(inputs, axis=(1, 2), keepdims=True)
        return ops.where(masked, ops.broadcast_to(fill, ops.shape(inputs)), inputs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "time_masks": self.time_masks,
            "time_width": self.time_width,
            "freq_masks": self.freq_masks,
            "freq_width": self.freq_width,
            "seed": self.seed,
        }
