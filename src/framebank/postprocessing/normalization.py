"""Per-example, per-channel normalisation over time."""

from __future__ import annotations

from typing import Any

from keras import ops

from framebank._validation import check_bool, check_positive_number
from framebank.postprocessing._common import Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing

__all__ = ["InstanceNorm"]


@register_postprocessing("instance_norm")
class InstanceNorm(Float32Postprocessing):
    """Each channel of each example to zero mean and unit variance over its frames.

    ``y = gamma (x - mean) / sqrt(var + epsilon) + beta``, with the mean and the
    (biased, divided by ``frames``) variance taken over the frames of one
    example and one channel, at training and at inference alike (no moving
    statistics), as LEAF's optional ``InstanceNormalization``.

    Args:
        epsilon: added to the variance before the square root, ``> 0``: it
            bounds the gain on a constant channel (variance 0 gives 0 out, not
            NaN) and sets how far a near-silent channel is amplified
            (LEAF: 1e-6).
        center: learn an offset ``beta`` per channel (initial 0).
        scale: learn a scale ``gamma`` per channel (initial 1).

    Input shape:
        ``[batch, frames, channels]``.

    Output shape:
        The input's; float32 under 16-bit policies.

    References:
        Ulyanov et al., "Instance normalization: the missing ingredient for
        fast stylization", 2016; LEAF (Zeghidour et al., ICLR 2021) applies it
        after PCEN.

    Example:
        >>> x = np.array([[[1.0], [3.0]]], "float32")
        >>> keras.ops.convert_to_numpy(InstanceNorm(epsilon=1e-6)(x)).round(4)
        array([[[-1.],
                [ 1.]]], dtype=float32)
    """

    def __init__(
        self, epsilon: float = 1e-6, center: bool = True, scale: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.epsilon = check_positive_number("epsilon", epsilon)
        self.center = check_bool("center", center)
        self.scale = check_bool("scale", scale)

    def build(self, input_shape: tuple) -> None:
        channels = self._channels(input_shape)
        self.gamma = self.add_channel_weight("gamma", 1.0, channels, True) if self.scale else None
        self.beta = self.add_channel_weight("beta", 0.0, channels, True) if self.center else None

    def call(self, x: Any) -> Any:
        x = ops.cast(x, self.working_dtype)
        mean = ops.mean(x, axis=1, keepdims=True)
        centred = x - mean
        variance = ops.mean(ops.square(centred), axis=1, keepdims=True)
        y = centred * ops.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(epsilon=self.epsilon, center=self.center, scale=self.scale)
        return config
