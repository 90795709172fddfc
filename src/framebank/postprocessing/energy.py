"""Energies and moduli of coefficients, and log energies."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from framebank._validation import check_bool, check_number
from framebank.postprocessing._common import Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing

__all__ = ["Energy", "LogEnergy", "Modulus"]


class _PairedChannels(Float32Postprocessing):
    """Shared by :class:`Energy`, :class:`Modulus` and :class:`LogEnergy`: one output per
    channel, or per pair of channels (real part, imaginary part) on the last axis."""

    frame_wise = True

    def __init__(self, pairs: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pairs = check_bool("pairs", pairs)

    def build(self, input_shape: tuple) -> None:
        self._check_rank(input_shape)
        self._check_pairs(input_shape)

    def _check_pairs(self, input_shape: tuple) -> None:
        if self.pairs and input_shape[-1] is not None and input_shape[-1] % 2:
            raise ValueError(
                f"{type(self).__name__}(pairs=True) expects real parts then imaginary parts, "
                f"an even number of channels. Received: input_shape={tuple(input_shape)}"
            )

    def _energy(self, x: Any) -> Any:
        x = ops.cast(x, self.working_dtype)
        if not self.pairs:
            return ops.square(x)
        # One split, not two slices: under TensorFlow each slice's gradient is a padded copy.
        real, imag = ops.split(x, 2, axis=-1)
        return ops.square(real) + ops.square(imag)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        last = input_shape[-1]
        if self.pairs and last is not None:
            last //= 2
        return (*input_shape[:-1], last)

    def get_config(self) -> dict:
        return {**super().get_config(), "pairs": self.pairs}


@register_postprocessing("energy")
class Energy(_PairedChannels):
    """Squared modulus of complex coefficients, ``re**2 + im**2``, or the square of real ones.

    Args:
        pairs: the channels hold real parts, then imaginary parts (the
            ``fourier``, ``gabor`` and ``analytic`` families' layout): channel
            ``c`` and channel ``c + channels / 2`` make one complex number and
            one energy, so the channels halve. ``False``: each channel squared
            (a real basis: ``free``, ``sinc``).

    Input shape:
        ``[batch, frames, channels]``.

    Output shape:
        ``[batch, frames, channels / 2]`` with ``pairs``, else
        ``[batch, frames, channels]``; float32 under 16-bit policies.

    References:
        LEAF's squared modulus (Zeghidour et al., ICLR 2021), there on
        interleaved real and imaginary channels.

    Example:
        >>> x = np.array([[[3.0, 1.0, 4.0, 2.0]]], "float32")  # 3 + 4j, 1 + 2j
        >>> keras.ops.convert_to_numpy(Energy()(x))
        array([[[25.,  5.]]], dtype=float32)
    """

    def call(self, x: Any) -> Any:
        return self._energy(x)


@register_postprocessing("modulus")
class Modulus(_PairedChannels):
    """Modulus of complex coefficients, ``sqrt(re**2 + im**2)``, or ``|x|`` of real ones.

    The gradient of the square root is taken as 0 where the modulus is 0 (it is
    infinite there), so silence gives finite gradients.

    Args:
        pairs: real parts, then imaginary parts, as in :class:`Energy`;
            ``False``: ``|x|`` per channel.

    Input shape, Output shape:
        as :class:`Energy`.

    References:
        TD-filterbanks' modulus, an L2 pooling over each real/imaginary pair
        (Zeghidour et al., "Learning filterbanks from raw speech for phone
        recognition", ICASSP 2018).

    Example:
        >>> x = np.array([[[3.0, 0.0, 4.0, 0.0]]], "float32")
        >>> keras.ops.convert_to_numpy(Modulus()(x))
        array([[[5., 0.]]], dtype=float32)
    """

    def call(self, x: Any) -> Any:
        if not self.pairs:
            return ops.abs(ops.cast(x, self.working_dtype))
        energy = self._energy(x)
        positive = energy > 0
        # sqrt's gradient is infinite at 0: take the root of 1 there and put back 0.
        root = ops.sqrt(ops.where(positive, energy, ops.ones_like(energy)))
        return ops.where(positive, root, ops.zeros_like(root))


@register_postprocessing("log_energy")
class LogEnergy(_PairedChannels):
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
        >>> tuple(LogEnergy(pairs=True)(np.ones((1, 3, 8), "float32")).shape)
        (1, 3, 4)
    """

    def __init__(
        self, pairs: bool = False, square: bool = True, eps: float = 1e-6, **kwargs: Any
    ) -> None:
        super().__init__(pairs, **kwargs)
        self.square = check_bool("square", square)
        self.eps = check_number("eps", eps)
        if not self.eps >= 0:
            raise ValueError(f"`eps` must be a number >= 0. Received: eps={eps!r}")

    def build(self, input_shape: tuple) -> None:
        # Any rank: only the last axis is read.
        self._check_pairs(input_shape)

    def call(self, x: Any) -> Any:
        # Energies overflow float16: computed in float32 under 16-bit policies.
        x = ops.cast(x, self.working_dtype)
        power = ops.square(x) if self.square else x
        if self.pairs:
            real, imag = ops.split(power, 2, axis=-1)  # one split: see Energy
            power = real + imag
        return ops.log(power + self.eps)

    def get_config(self) -> dict:
        return {**super().get_config(), "square": self.square, "eps": self.eps}


# Models saved before the layer moved here name it "framebank>LogPower".
keras.saving.get_custom_objects()["framebank>LogPower"] = LogEnergy
