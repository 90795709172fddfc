"""Decibels as librosa writes them: ``power_to_db`` and ``amplitude_to_db`` as layers."""

from __future__ import annotations

import math
from typing import Any

from keras import ops

from framebank._validation import check_number, check_positive_number
from framebank.postprocessing._common import Float32Postprocessing, holds_no_values
from framebank.postprocessing.base import register_postprocessing

__all__ = ["AmplitudeToDb", "PowerToDb", "decibels"]

_TEN_OVER_LN10 = 10.0 / math.log(10.0)


def _check_ref(ref: Any) -> float | str:
    if ref == "max":
        return "max"
    if isinstance(ref, str):
        raise ValueError(f'`ref` must be a number or "max". Received: ref={ref!r}')
    return check_number("ref", ref)


def _check_top_db(top_db: Any) -> float | None:
    if top_db is None:
        return None
    top_db = check_number("top_db", top_db)
    if top_db < 0:
        raise ValueError(f"`top_db` must be non-negative or None. Received: top_db={top_db!r}")
    return top_db


def decibels(power: Any, ref: float | str, amin: float, top_db: float | None) -> Any:
    """``10 log10(max(power, amin) / max(ref, amin))``, floored ``top_db`` below the top.

    ``ref="max"`` and the ``top_db`` floor take the largest value of each example
    (over frames and channels), where librosa takes it over the array it is given.

    Args:
        power: ``[batch, ...]``, non-negative, float32 or float64.
        ref: a number (``|ref|`` is used) or ``"max"``.
        amin: the smallest power let through, ``> 0``.
        top_db: the floor below each example's largest decibel value, or None.

    Returns:
        Decibels, the shape of ``power``.
    """
    if holds_no_values(power):
        return power  # 0 frames (or examples): no maximum to take, the empty output
    axes = tuple(range(1, len(power.shape)))
    # clip and where, not maximum: Keras's torch maximum returns float64 as float32.
    db = _TEN_OVER_LN10 * ops.log(ops.clip(power, amin, float("inf")))
    if ref == "max":
        top = ops.max(power, axis=axes, keepdims=True)
        db = db - _TEN_OVER_LN10 * ops.log(ops.clip(top, amin, float("inf")))
    else:
        db = db - 10.0 * math.log10(max(abs(ref), amin))
    if top_db is None:
        return db
    floor = ops.max(db, axis=axes, keepdims=True) - top_db
    return ops.where(db >= floor, db, floor)


class _Decibels(Float32Postprocessing):
    """What power and amplitude decibels share: options, streaming rule, config."""

    def __init__(self, ref: float | str, amin: float, top_db: float | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ref = _check_ref(ref)
        self.amin = check_positive_number("amin", amin)
        self.top_db = _check_top_db(top_db)
        # A fixed reference and no floor make each frame's decibels its own: it streams.
        self.frame_wise = self.ref != "max" and self.top_db is None

    def build(self, input_shape: tuple) -> None:
        # Each example's top is over every axis but the first: without a batch axis it
        # would silently be each frame's.
        if len(input_shape) < 3:
            raise ValueError(
                f"{type(self).__name__} expects [batch, frames, channels] (each example's "
                f"largest value sets ref='max' and top_db). Received: input_shape="
                f"{tuple(input_shape)}. For one spectrogram, add the batch axis (x[None])."
            )
        super().build(input_shape)

    @property
    def not_streamable(self) -> str:
        if self.frame_wise:
            return ""
        return (
            f"ref={self.ref!r} and top_db={self.top_db!r} take the largest value of the whole "
            "clip, which a stream has not seen; it streams with a fixed ref and top_db=None"
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "ref": self.ref, "amin": self.amin, "top_db": self.top_db}


@register_postprocessing("power_to_db")
class PowerToDb(_Decibels):
    """``librosa.power_to_db``: a power spectrogram in decibels.

    ``10 log10(max(x, amin)) - 10 log10(max(|ref|, amin))``, then, unless ``top_db`` is
    None, ``max(y, max(y) - top_db)``. librosa takes ``ref="max"`` and ``max(y)`` over the
    array of one call; this layer takes them per example (over its frames and channels), so
    an example's decibels never depend on the rest of its batch.

    Args:
        ref: a number or ``"max"`` (each example relative to its largest value).
        amin: the smallest power, ``> 0`` (librosa: 1e-10).
        top_db: the floor below each example's top, ``>= 0``, or None (librosa: 80).

    Input shape:
        ``[batch, frames, channels]``, non-negative (powers).

    Output shape:
        The input's; float32 under 16-bit policies. Streams only with a number for
        ``ref`` and ``top_db=None`` (each frame then depends on itself alone).

    Example:
        >>> keras.ops.convert_to_numpy(PowerToDb()(np.full((1, 1, 2), 100.0, "float32")))
        array([[[20., 20.]]], dtype=float32)
    """

    def __init__(
        self,
        ref: float | str = 1.0,
        amin: float = 1e-10,
        top_db: float | None = 80.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(ref, amin, top_db, **kwargs)

    def call(self, x: Any) -> Any:
        return decibels(ops.cast(x, self.working_dtype), self.ref, self.amin, self.top_db)


@register_postprocessing("amplitude_to_db")
class AmplitudeToDb(_Decibels):
    """``librosa.amplitude_to_db``: a magnitude spectrogram in decibels.

    ``PowerToDb(ref**2, amin**2, top_db)`` of ``|x|**2`` (``ref="max"``: each example's
    largest magnitude, as :class:`PowerToDb`).

    Args:
        ref: a number or ``"max"``.
        amin: the smallest magnitude, ``> 0`` (librosa: 1e-5).
        top_db: the floor below each example's top, ``>= 0``, or None (librosa: 80).

    Input shape:
        ``[batch, frames, channels]`` (magnitudes; the sign is dropped).

    Output shape:
        The input's; float32 under 16-bit policies. Streams as :class:`PowerToDb`.

    Example:
        >>> keras.ops.convert_to_numpy(AmplitudeToDb()(np.full((1, 1, 2), 10.0, "float32")))
        array([[[20., 20.]]], dtype=float32)
    """

    def __init__(
        self,
        ref: float | str = 1.0,
        amin: float = 1e-5,
        top_db: float | None = 80.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(ref, amin, top_db, **kwargs)

    def call(self, x: Any) -> Any:
        x = ops.cast(x, self.working_dtype)
        ref = self.ref if self.ref == "max" else self.ref**2
        return decibels(ops.square(x), ref, self.amin**2, self.top_db)
