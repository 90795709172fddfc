"""Energies of coefficients, and their logarithm."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from framebank._validation import check_bool, check_number
from framebank.postprocessing.base import Postprocessing, register_postprocessing

__all__ = ["LogEnergy"]


@register_postprocessing("log_energy")
class LogEnergy(Postprocessing):
    """Coefficients to log energies: ``log(eps + x^2)``, or ``log(eps + re^2 + im^2)``.

    Args:
        pairs: the last axis holds real parts, then imaginary parts (the
            ``fourier``, ``gabor`` and ``analytic`` layout); each pair gives one
            energy, so the channels halve.
        square: square the input first; ``False`` takes it as energies already
            (a mel spectrogram).
        eps: added before the logarithm, so silence gives ``log(eps)``, not -inf.

    Input shape:
        ``[batch, frames, channels]``.

    Output shape:
        ``[batch, frames, channels]`` (``channels / 2`` with ``pairs``).

    Example:
        >>> LogEnergy(pairs=True)(np.ones((1, 3, 8), "float32")).shape
        (1, 3, 4)
    """

    def __init__(
        self, pairs: bool = False, square: bool = True, eps: float = 1e-6, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.pairs = check_bool("pairs", pairs)
        self.square = check_bool("square", square)
        self.eps = check_number("eps", eps)
        if not self.eps >= 0:
            raise ValueError(f"`eps` must be a number >= 0. Received: eps={eps!r}")

    def build(self, input_shape: tuple) -> None:
        if self.pairs and input_shape[-1] is not None and input_shape[-1] % 2:
            raise ValueError(
                "LogEnergy(pairs=True) expects real parts then imaginary parts, an even number "
                f"of channels. Received: input_shape={tuple(input_shape)}"
            )

    def call(self, x: Any) -> Any:
        power = ops.square(x) if self.square else x
        if self.pairs:
            half = x.shape[-1] // 2
            power = power[..., :half] + power[..., half:]
        return ops.log(power + self.eps)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        last = input_shape[-1]
        if self.pairs and last is not None:
            last //= 2
        return (*input_shape[:-1], last)

    def get_config(self) -> dict:
        config = super().get_config()
        return {**config, "pairs": self.pairs, "square": self.square, "eps": self.eps}


# Models saved before the layer moved here name it "framebank>LogPower".
keras.saving.get_custom_objects()["framebank>LogPower"] = LogEnergy
