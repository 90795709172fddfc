"""EfficientLEAF's LogTBN after :class:`~framebank.postprocessing.LearnableLog1p`: each band's
median over time subtracted, then batch normalisation per band over the batch and time.

Both read the whole clip (the median) or the whole batch (the statistics while training),
so neither is frame-wise and neither streams.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from framebank._validation import check_bool, check_in_range, check_positive_number
from framebank.postprocessing._common import Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing

__all__ = ["MedianSubtraction", "TemporalBatchNorm"]

# Up to this many frames the median is found by counting (frames**2 comparisons), above
# by bisection: measured crossing between 25 and 50 frames under JAX and TensorFlow.
_FEW_FRAMES = 32


def _order_keys(x: Any) -> Any:
    """int32 keys of float32 ``x`` in the floats' order (NaN above +inf, as a sort)."""
    bits = ops.view(x, "int32")
    # Negative floats order backwards in their bits: reflect them below the positives,
    # ``-(bits + 2**31) - 1``, in steps that stay inside int32 (and without bitwise
    # operations, which TFLite lacks).
    keys = ops.where(bits < 0, (-2147483647 - bits) - 2, bits)
    # A NaN of either sign ranks above +inf, where a sort puts it (and where ``torch``'s
    # branch of this layer finds it): the sign bit would put a negative NaN below -inf.
    return ops.where(ops.not_equal(x, x), 2147483647, keys)  # x != x: NaN (no isnan in TFLite)


def _lower_median_by_count(x: Any, rank: int) -> Any:
    """:func:`_lower_median`'s result by counting, for each frame, the frames below it and
    at or below it: the wanted value is the one with fewer than ``rank`` below and
    ``rank`` or more at or below (every copy of it; the gradient is a maximum's, shared).

    Why: for a few frames (``frames**2`` comparisons a channel) this is one pass, where
    the bisection's 32 dependent steps cost XLA 5-10x more (``benchmarks/README.md``)."""
    keys = _order_keys(x)
    mine, other = ops.expand_dims(keys, 2), ops.expand_dims(keys, 1)  # frames i, j
    below = ops.sum(ops.cast(other < mine, "int32"), axis=2)
    at_or_below = ops.sum(ops.cast(other <= mine, "int32"), axis=2)
    wanted = ops.logical_and(below < rank, at_or_below >= rank)
    # The wanted key, then the largest of x at or below it, as the bisection takes it: -0.0
    # and +0.0 (other keys, equal values) then share the gradient there as well.
    key = ops.max(ops.where(wanted, keys, -2147483647 - 1), axis=1, keepdims=True)
    return ops.max(ops.where(keys <= key, x, float("-inf")), axis=1)


def _lower_median(x: Any, rank: Any) -> Any:
    """The ``rank``-th smallest of ``x`` ``[batch, frames, channels]`` over the frames,
    ``[batch, channels]``, exactly.

    Why not a sort: XLA's and TensorFlow's sorts on the CPU cost more than the rest of
    LogTBN together (``benchmarks/README.md``). Instead a bisection over the float32 bit
    patterns, mapped to integers in the floats' order: the smallest key with ``rank``
    keys at or below it is the wanted value's, found in 32 halvings of the int32 range;
    the value itself is then the largest of ``x`` at or below that key, so the gradient
    flows as a maximum's."""
    keys = _order_keys(x)
    low = ops.min(keys, axis=1, keepdims=True) - 1  # fewer than `rank` at or below
    high = ops.max(keys, axis=1, keepdims=True)  # `rank` or more at or below
    for _ in range(32):
        # floor((low + high) / 2) without the int32 overflow of the sum.
        middle = low // 2 + high // 2 + (low % 2 + high % 2) // 2
        enough = ops.sum(ops.cast(keys <= middle, "int32"), axis=1, keepdims=True) >= rank
        high = ops.where(enough, middle, high)
        low = ops.where(enough, low, middle)
    return ops.max(ops.where(keys <= high, x, float("-inf")), axis=1)


@register_postprocessing("median_subtraction")
class MedianSubtraction(Float32Postprocessing):
    """Each channel minus its median over the frames of its example.

    The median of an even number of frames is the lower of the two middle values (as
    ``torch.median``, which EfficientLEAF uses); its gradient reaches the frames that
    hold that value (shared equally among ties, where ``torch.median`` picks one).

    Args:
        append: return ``[x, x - median]`` along the channels (EfficientLEAF's
            ``append_filtered``: the median-subtracted copy as a second channel) instead
            of ``x - median``.

    Input shape:
        ``[batch, frames, channels]``; 0 frames give 0 frames, where the frame count is
        known when the layer is traced (eager calls, a fixed-length input).

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
        # 0 frames: nothing to subtract from, the empty output (as the other post-processing
        # layers give); a median of no values would be an error on every backend.
        filtered = x if x.shape[1] == 0 else x - ops.expand_dims(self._median(x), 1)
        return ops.concatenate([x, filtered], axis=-1) if self.append else filtered

    def _median(self, x: Any) -> Any:
        """The lower median over the frames, ``[batch, channels]``."""
        frames = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
        lower_middle = (frames - 1) // 2
        float32 = keras.backend.standardize_dtype(x.dtype) == "float32"
        if keras.backend.backend() == "torch" or not float32:
            # torch: a native sort, and each op runs eagerly; the bisection reads float32's bits.
            return ops.take(ops.sort(x, axis=1), lower_middle, axis=1)
        if isinstance(frames, int) and frames <= _FEW_FRAMES:
            return _lower_median_by_count(x, lower_middle + 1)
        return _lower_median(x, lower_middle + 1)

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
