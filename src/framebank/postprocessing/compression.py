"""Compression of energies: ``log(x + eps)``, ``log1p(x)``, a learnable ``log1p``, and a floor."""

from __future__ import annotations

import math
from typing import Any

from keras import ops

from framebank._validation import check_number, check_positive_number
from framebank.postprocessing._common import Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing

__all__ = ["Floor", "LearnableLog1p", "Log", "Log1p"]


@register_postprocessing("floor")
class Floor(Float32Postprocessing):
    """``max(x, min_value)``: LEAF's floor on pooled energies before PCEN.

    Args:
        min_value: the smallest value let through (LEAF: 1e-5).

    Input shape:
        ``[batch, frames, channels]``.

    Output shape:
        The input's; float32 under 16-bit policies.

    Example:
        >>> keras.ops.convert_to_numpy(Floor(0.5)(np.zeros((1, 1, 2), "float32")))
        array([[[0.5, 0.5]]], dtype=float32)
    """

    frame_wise = True

    def __init__(self, min_value: float = 1e-5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_value = check_number("min_value", min_value)

    def call(self, x: Any) -> Any:
        # clip, not maximum: Keras's torch maximum returns float64 as float32.
        return ops.clip(ops.cast(x, self.working_dtype), self.min_value, float("inf"))

    def get_config(self) -> dict:
        return {**super().get_config(), "min_value": self.min_value}


@register_postprocessing("log")
class Log(Float32Postprocessing):
    """``log(x + eps)``: the log-mel compression.

    Args:
        eps: added before the logarithm, ``> 0``, so silence gives ``log(eps)``,
            not ``-inf`` (LEAF's mel and TD-filterbanks front ends: 1e-5).

    Input shape:
        ``[batch, frames, channels]``, non-negative (energies).

    Output shape:
        The input's; float32 under 16-bit policies.

    References:
        LEAF's ``log_compression`` (Zeghidour et al., ICLR 2021).

    Example:
        >>> keras.ops.convert_to_numpy(Log(eps=1.0)(np.zeros((1, 1, 2), "float32")))
        array([[[0., 0.]]], dtype=float32)
    """

    frame_wise = True

    def __init__(self, eps: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eps = check_positive_number("eps", eps)

    def call(self, x: Any) -> Any:
        return ops.log(ops.cast(x, self.working_dtype) + self.eps)

    def get_config(self) -> dict:
        return {**super().get_config(), "eps": self.eps}


@register_postprocessing("log1p")
class Log1p(Float32Postprocessing):
    """``log(1 + x)``: TD-filterbanks' compression (after a modulus, ``log(1 + |x|)``).

    Input shape:
        ``[batch, frames, channels]``, values above -1 (energies).

    Output shape:
        The input's; float32 under 16-bit policies.

    References:
        Zeghidour et al., "Learning filterbanks from raw speech for phone
        recognition", ICASSP 2018.

    Example:
        >>> keras.ops.convert_to_numpy(Log1p()(np.zeros((1, 1, 2), "float32")))
        array([[[0., 0.]]], dtype=float32)
    """

    frame_wise = True

    def call(self, x: Any) -> Any:
        return ops.log1p(ops.cast(x, self.working_dtype))


@register_postprocessing("learnable_log1p")
class LearnableLog1p(Float32Postprocessing):
    """``log(1 + 10**a x)`` with a learnable ``a`` per channel (EfficientLEAF's ``Log1p``).

    Learning ``a`` learns where the compression turns from linear (``10**a x``
    small) to logarithmic.

    Args:
        log10_gain: the initial ``a`` of every channel; EfficientLEAF's front
            end starts at 5 (``a = 0`` is a plain ``log1p``).
        trainable: learn ``a`` (default).

    Input shape:
        ``[batch, frames, channels]``, non-negative (energies).

    Output shape:
        The input's; float32 under 16-bit policies.

    References:
        Schlüter and Gutenbrunner, "EfficientLEAF: a faster learnable audio
        frontend of questionable use", EUSIPCO 2022 (CPJKU/EfficientLEAF,
        ``model/efficientleaf.py``).

    Example:
        >>> layer = LearnableLog1p(log10_gain=1.0)
        >>> keras.ops.convert_to_numpy(layer(np.full((1, 1, 2), 0.9, "float32")))  # log(1 + 9)
        array([[[2.3025851, 2.3025851]]], dtype=float32)
    """

    frame_wise = True

    def __init__(self, log10_gain: float = 5.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log10_gain_init = check_number("log10_gain", log10_gain)
        if not math.isfinite(self.log10_gain_init):
            raise ValueError(
                f"`log10_gain` must be a finite number. Received: log10_gain={log10_gain!r}"
            )

    def build(self, input_shape: tuple) -> None:
        self.log10_gain = self.add_channel_weight(
            "log10_gain", self.log10_gain_init, self._channels(input_shape), True
        )

    def call(self, x: Any) -> Any:
        gain = ops.exp(self.log10_gain * math.log(10.0))
        return ops.log1p(gain * ops.cast(x, self.working_dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "log10_gain": self.log10_gain_init}
