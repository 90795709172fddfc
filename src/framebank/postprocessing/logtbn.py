"""EfficientLEAF's LogTBN after :class:`~framebank.postprocessing.LearnableLog1p`: each band's
median over time subtracted, then batch normalisation per band over the batch and time.

Both read the whole clip (the median) or the whole batch (the statistics while training),
so neither is frame-wise and neither streams.
"""

from __future__ import annotations

from typing import Any

from keras import ops

from framebank._validation import check_bool, check_in_range, check_positive_number
from framebank.postprocessing._common import Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing

__all__ = ["MedianSubtraction", "TemporalBatchNorm"]


@register_postprocessing("median_subtraction")
class MedianSubtraction(Float32Postprocessing):
    """Each channel minus its median over the frames of its example.

    The median of an even number of frames is the lower of the two middle values (as
    ``torch.median``, which EfficientLEAF uses); its gradient reaches that frame alone.

    Args:
        append: return ``[x, x - median]`` along the channels (EfficientLEAF's
            ``append_filtered``: the median-subtracted copy as a second channel) instead
            of ``x - median``.

    Input shape:
        ``[batch, frames, channels]``, at least one frame.

    Output shape:
        ``[batch, frames, channels]``, or ``[batch, frames, 2 channels]`` with
        ``append``; float32 under 16-bit policies.

    References:
        Schlüter and Gutenbrunner, "EfficientLEAF: a faster learnable audio frontend of
        questionable use", EUSIPCO 2022 (CPJKU/EfficientLEAF, ``LogTBN``).

    Example:
        >>> x = np.array([[[1.0], [5.0], [2.0]]], "float32")
        >>> keras.ops.convert_to_numpy(MedianSubtraction()(x))[0, :, 0]
        array([-1.,  3.,  0.], dtype=float32)
    """

    not_streamable = "each channel's median is over the whole clip, which a stream has not seen"

    def __init__(self, append: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.append = check_bool("append", append)

    def call(self, x: Any) -> Any:
        x = ops.cast(x, self.working_dtype)
        frames = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
        lower_middle = (frames - 1) // 2
        median = ops.expand_dims(ops.take(ops.sort(x, axis=1), lower_middle, axis=1), 1)
        filtered = x - median
        return ops.concatenate([x, filtered], axis=-1) if self.append else filtered

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check_rank(input_shape)
        channels = input_shape[2]
        if self.append and channels is not None:
            channels = 2 * channels
        return (input_shape[0], input_shape[1], channels)

    def get_config(self) -> dict:
        return {**super().get_config(), "append": self.append}


@register_postprocessing("temporal_batch_norm")
class TemporalBatchNorm(Float32Postprocessing):
    """Batch normalisation per channel over the batch and the frames (EfficientLEAF's TBN).

    While training, ``y = gamma (x - mean) / sqrt(var + epsilon) + beta`` with the mean and
    the biased variance over every example and frame of the batch, and the moving
    statistics move by ``momentum`` towards them (the variance unbiased), as
    ``torch.nn.BatchNorm1d``; at inference the moving statistics replace them.

    Args:
        momentum: the weight of the batch in the moving statistics, in ``(0, 1]``
            (``torch``'s convention: 0.1 is Keras's 0.9).
        epsilon: added to the variance, ``> 0``.
        affine: learn ``gamma`` (initial 1) and ``beta`` (initial 0) per channel.

    Input shape:
        ``[batch, frames, channels]``.

    Output shape:
        The input's; float32 under 16-bit policies.

    References:
        Ioffe and Szegedy, "Batch normalization", ICML 2015; Schlüter and Gutenbrunner,
        EUSIPCO 2022 (CPJKU/EfficientLEAF, ``TemporalBatchNorm``).

    Example:
        >>> x = np.array([[[1.0], [3.0]]], "float32")
        >>> keras.ops.convert_to_numpy(TemporalBatchNorm()(x, training=True)).round(3)[0, :, 0]
        array([-1.,  1.], dtype=float32)
    """

    def __init__(
        self, momentum: float = 0.1, epsilon: float = 1e-5, affine: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.momentum = check_in_range("momentum", momentum, 0.0, 1.0, low_open=True)
        self.epsilon = check_positive_number("epsilon", epsilon)
        self.affine = check_bool("affine", affine)

    def build(self, input_shape: tuple) -> None:
        channels = self._channels(input_shape)
        self.gamma = self.add_channel_weight("gamma", 1.0, channels, self.affine)
        self.beta = self.add_channel_weight("beta", 0.0, channels, self.affine)
        self.moving_mean = self.add_channel_weight("moving_mean", 0.0, channels, False)
        self.moving_variance = self.add_channel_weight("moving_variance", 1.0, channels, False)

    def call(self, x: Any, training: bool | None = None) -> Any:
        x = ops.cast(x, self.working_dtype)
        if training:
            mean = ops.mean(x, axis=(0, 1))
            variance = ops.mean(ops.square(x - mean), axis=(0, 1))
            count = ops.cast(ops.shape(x)[0] * ops.shape(x)[1], x.dtype)
            unbiased = variance * count / ops.maximum(count - 1.0, 1.0)
            keep = 1.0 - self.momentum
            self.moving_mean.assign(keep * self.moving_mean + self.momentum * mean)
            self.moving_variance.assign(keep * self.moving_variance + self.momentum * unbiased)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        scale = self.gamma * ops.rsqrt(variance + self.epsilon)
        return (x - mean) * scale + self.beta

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(momentum=self.momentum, epsilon=self.epsilon, affine=self.affine)
        return config
