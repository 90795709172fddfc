"""Deltas: ``librosa.feature.delta`` along frames, a Savitzky-Golay derivative."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from keras import ops

from framebank._validation import check_choice, check_positive_int
from framebank.postprocessing._common import Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing

__all__ = ["Deltas", "savgol_derivative_matrix"]

# savgol_filter's modes that extend the frames before filtering them all alike.
_PAD_MODES = ("nearest", "mirror", "constant")


def savgol_derivative_matrix(width: int, order: int) -> np.ndarray:
    """``[width, width]`` float64: row ``i`` maps ``width`` samples to the ``order``-th
    derivative at sample ``i`` of their least-squares polynomial of degree ``order``.

    The middle row is ``scipy.signal.savgol_coeffs(width, order, deriv=order, use="dot")``;
    the rows before and after it are what ``savgol_filter(mode="interp")`` gives at the
    edges (the polynomial fitted to the first or last ``width`` samples).
    """
    t = np.arange(width, dtype=np.float64)
    fit = np.linalg.pinv(np.vander(t, order + 1, increasing=True))  # [order + 1, width]
    powers = np.arange(order + 1)
    falling = np.array([math.perm(int(k), order) for k in powers], dtype=np.float64)
    exponent = np.clip(powers - order, 0, None)
    derivative = falling[None, :] * t[:, None] ** exponent[None, :]  # [width, order + 1]
    return derivative @ fit


@register_postprocessing("deltas")
class Deltas(Float32Postprocessing):
    """``librosa.feature.delta(x, width, order, axis=frames, mode)``: local derivatives.

    A Savitzky-Golay filter of ``width`` frames and polynomial order ``order`` taking the
    ``order``-th derivative along frames. ``mode="interp"`` (librosa's default) fits the
    polynomial to the first and last ``width`` frames for the edges; ``"nearest"``,
    ``"mirror"`` and ``"constant"`` extend the frames as ``scipy.signal.savgol_filter``.

    Stack ``x``, ``Deltas()(x)`` and ``Deltas(order=2)(x)`` on the channel axis for the
    usual MFCC + delta + delta-delta features.

    Args:
        width: frames in the filter, odd, ``>= 3``.
        order: the derivative, ``>= 1``.
        mode: ``"interp"``, ``"nearest"``, ``"mirror"`` or ``"constant"``.

    Input shape:
        ``[batch, frames, channels]``; ``mode="interp"`` needs ``frames >= width``,
        ``"mirror"`` ``frames > width // 2``.

    Output shape:
        The input's; float32 under 16-bit policies. It does not stream: a centred
        derivative needs ``width // 2`` frames after each frame.

    Example:
        >>> ramp = np.arange(12, dtype="float32").reshape(1, 12, 1)
        >>> keras.ops.convert_to_numpy(Deltas(width=5)(ramp))[0, :, 0].round(4).tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, width: int = 9, order: int = 1, mode: str = "interp", **kwargs: Any):
        super().__init__(**kwargs)
        self.width = check_positive_int("width", width)
        if self.width < 3 or self.width % 2 == 0:
            raise ValueError(f"`width` must be an odd integer >= 3. Received: width={width!r}")
        self.order = check_positive_int("order", order)
        if self.order >= self.width:
            raise ValueError(
                f"`order` must be less than `width`. Received: order={order!r}, width={width!r}"
            )
        self.mode = check_choice("mode", mode, ("interp", *_PAD_MODES))
        self._matrix = savgol_derivative_matrix(self.width, self.order)

    @property
    def not_streamable(self) -> str:
        return (
            f"a centred delta over {self.width} frames needs {self.width // 2} frames after "
            "each one; compute deltas downstream of the stream"
        )

    def build(self, input_shape: tuple) -> None:
        self._check_rank(input_shape)
        self._check_frames(input_shape[1])

    def _check_frames(self, frames: int | None) -> None:
        need = self.width if self.mode == "interp" else self.width // 2 + 1
        if frames is not None and frames < need:
            raise ValueError(
                f"Deltas(width={self.width}, mode={self.mode!r}) needs at least {need} "
                f"frames. Received: {frames} frames"
            )

    def call(self, x: Any) -> Any:
        x = ops.cast(x, self.working_dtype)
        self._check_frames(x.shape[1])
        half = self.width // 2
        matrix = ops.convert_to_tensor(self._matrix, dtype=x.dtype)
        if self.mode != "interp":
            x = self._extend(x, half)
        inner = self._filter(x, matrix[half])
        if self.mode != "interp":
            return inner
        head = ops.einsum("ij,bjc->bic", matrix[:half], x[:, : self.width])
        tail = ops.einsum("ij,bjc->bic", matrix[half + 1 :], x[:, -self.width :])
        return ops.concatenate([head, inner, tail], axis=1)

    def _extend(self, x: Any, half: int) -> Any:
        """``half`` frames added at each end as ``savgol_filter``'s ``mode`` does."""
        if self.mode == "mirror":
            return ops.pad(x, [[0, 0], [half, half], [0, 0]], mode="reflect")
        if self.mode == "nearest":
            before, after = x[:, :1], x[:, -1:]
        else:
            before = after = ops.zeros_like(x[:, :1])
        repeat = [ops.repeat(before, half, axis=1), x, ops.repeat(after, half, axis=1)]
        return ops.concatenate(repeat, axis=1)

    def _filter(self, x: Any, kernel: Any) -> Any:
        """``sum_j kernel[j] x[:, t + j]`` for every ``t`` where all ``width`` frames exist."""
        frames = ops.shape(x)[1] - (self.width - 1)
        return sum(kernel[j] * x[:, j : j + frames] for j in range(self.width))

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width, "order": self.order, "mode": self.mode}
