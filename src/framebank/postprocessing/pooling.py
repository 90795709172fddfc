"""Learnable lowpass pooling over time: one window a channel, applied depthwise with a stride."""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from framebank._validation import check_choice, check_in_range, check_positive_int
from framebank.framing import num_frames
from framebank.postprocessing._common import Clip, Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing

__all__ = ["FreeLowpass", "GaussianLowpass", "PADDINGS", "squared_hann", "strided_window_sum"]

PADDINGS = ("same", "valid")


def squared_hann(size: int) -> np.ndarray:
    """``sin(pi n / (size - 1))**4``, ``n = 0 .. size - 1``: a symmetric Hann window, squared."""
    return np.hanning(size) ** 2


def strided_window_sum(x: Any, window: Any, stride: int) -> Any:
    """``y[t] = sum_n window[n, c] x[t * stride + n, c]`` for every whole window in ``x``.

    ``x`` is ``[batch, frames, channels]``, ``window`` ``[size, channels]``; the output is
    ``[batch, 1 + (frames - size) // stride, channels]``.

    Why not ``ops.depthwise_conv``: its gradient with a long, strided window is slow
    on the CPU (it dominated LEAF's step under JAX). Instead the
    window is cut into ``ceil(size / stride)`` segments of one stride each:
    segment ``k`` meets stride-long blocks of ``x`` shifted by ``k`` blocks, so each
    is one multiply-and-sum over aligned blocks (``benchmarks/README.md``).
    """
    size, channels = window.shape
    segments = -(-size // stride)
    window = ops.pad(window, [[0, segments * stride - size], [0, 0]])
    frames = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
    count = num_frames(frames, size, stride)  # whole windows in x
    blocks = count + segments - 1
    need = blocks * stride
    if isinstance(need, int) and isinstance(frames, int):
        x = x[:, :need] if frames >= need else ops.pad(x, [[0, 0], [0, need - frames], [0, 0]])
    else:
        x = ops.pad(x, [[0, 0], [0, ops.maximum(need - frames, 0)], [0, 0]])[:, :need]
    x = ops.reshape(x, (-1, blocks, stride, channels))
    total = None
    for k in range(segments):
        part = ops.sum(x[:, k : k + count] * window[k * stride : (k + 1) * stride], axis=2)
        total = part if total is None else total + part  # [batch, count, channels]
    return total


class _DepthwiseLowpass(Float32Postprocessing):
    """A window ``[kernel_size, channels]`` slid over the frames of each channel with a stride.

    ``"same"`` padding is TensorFlow's (``tf.nn.conv*(padding="SAME")``, as LEAF
    pools): ``ceil(frames / strides)`` outputs, and the ``max((out - 1) *
    strides + kernel_size - frames, 0)`` padded zeros split with the smaller
    half first. ``"valid"``: no padding, ``1 + (frames - kernel_size) //
    strides`` outputs. The padding is explicit, so every backend agrees.
    """

    def __init__(
        self, kernel_size: int, strides: int = 1, padding: str = "same", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.strides = check_positive_int("strides", strides)
        self.padding = check_choice("padding", padding, PADDINGS)

    def window(self) -> Any:
        """The windows, ``[kernel_size, channels]``, in the working dtype."""
        return self._window()

    def _window(self) -> Any:
        raise NotImplementedError

    def output_frames(self, frames: Any) -> Any:
        """Output frames for ``frames`` input frames (an int, or a scalar tensor)."""
        pad_end = self.padding == "same"
        return num_frames(frames, self.kernel_size, self.strides, pad_end=pad_end)

    def pool_frames(self, x: Any) -> Any:
        """Every whole window of ``x`` (already padded), ``strides`` frames apart.

        The one computation of the pooling: :meth:`call` runs it on the padded clip and
        streaming on the frames it has buffered.

        Args:
            x: ``[batch, frames, channels]``.

        Returns:
            ``[batch, 1 + (frames - kernel_size) // strides, channels]`` in the working dtype.
        """
        x = ops.cast(x, self.working_dtype)
        return strided_window_sum(x, self._window(), self.strides)

    def call(self, x: Any) -> Any:
        x = ops.cast(x, self.working_dtype)
        frames = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
        if self.padding == "same":
            excess = (self.output_frames(frames) - 1) * self.strides + self.kernel_size - frames
            left = None  # half of the padding, the smaller half first
        else:
            # Fewer frames than the window give no output: pad to one window, keep none.
            excess = self.kernel_size - frames
            left = 0
        static = isinstance(excess, int)
        if not static or excess > 0:
            total = max(excess, 0) if static else ops.maximum(excess, 0)
            left = total // 2 if left is None else left
            x = ops.pad(x, [[0, 0], [left, total - left], [0, 0]])
        if not static:
            # A run-time pad leaves TensorFlow no static channel count: restate it.
            x = ops.reshape(x, (ops.shape(x)[0], -1, self._window().shape[1]))
        y = self.pool_frames(x)
        return y if self.padding == "same" else y[:, : self.output_frames(frames)]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        frames = input_shape[1]
        frames = None if frames is None else self.output_frames(int(frames))
        return (input_shape[0], frames, input_shape[2])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(kernel_size=self.kernel_size, strides=self.strides, padding=self.padding)
        return config


@register_postprocessing("gaussian_lowpass")
class GaussianLowpass(_DepthwiseLowpass):
    """LEAF's pooling: a Gaussian window of learnable width per channel, with a stride.

    ``phi(n) = exp(-0.5 ((n - (W - 1) / 2) / (sigma (W - 1) / 2))**2)``,
    ``n = 0 .. W - 1`` (``W = kernel_size``), not normalised, ``sigma`` clipped
    to ``[2 / W, 0.5]`` (at 0.4 it is close to a Hann window).

    Args:
        kernel_size: ``W``, frames in the window (LEAF: 401 samples at 16 kHz),
            at least 5 (so that the default width, 0.4, is within ``[2 / W, 0.5]``).
        strides: the hop between outputs (LEAF: 160).
        padding: ``"same"`` (TensorFlow's rule, as LEAF) or ``"valid"``.
        sigma: the initial width of every channel's window, in ``[2 / W, 0.5]``.
        trainable: learn the widths (LEAF does).

    Input shape:
        ``[batch, frames, channels]``.

    Output shape:
        ``[batch, ceil(frames / strides), channels]`` (``"same"``), or
        ``[batch, 1 + (frames - kernel_size) // strides, channels]``
        (``"valid"``); float32 under 16-bit policies.

    References:
        Zeghidour et al., "LEAF: a learnable frontend for audio
        classification", ICLR 2021 (``leaf_audio/pooling.py``,
        ``impulse_responses.gaussian_lowpass``).

    Example:
        >>> pool = GaussianLowpass(kernel_size=401, strides=160)
        >>> tuple(pool(np.ones((2, 16000, 40), "float32")).shape)
        (2, 100, 40)
    """

    def __init__(
        self,
        kernel_size: int = 401,
        strides: int = 160,
        padding: str = "same",
        sigma: float = 0.4,
        **kwargs: Any,
    ) -> None:
        super().__init__(kernel_size, strides, padding, **kwargs)
        if self.kernel_size < 5:
            raise ValueError(
                "`kernel_size` must be at least 5 (the width is clipped to "
                f"[2 / kernel_size, 0.5]). Received: kernel_size={kernel_size!r}"
            )
        self.sigma_low = 2.0 / self.kernel_size
        self.sigma_init = check_in_range("sigma", sigma, self.sigma_low, 0.5)

    def build(self, input_shape: tuple) -> None:
        self.sigma = self.add_channel_weight(
            "sigma", self.sigma_init, self._channels(input_shape), True, Clip(self.sigma_low, 0.5)
        )

    def _window(self) -> Any:
        # Each channel's clipped width applied.
        half = 0.5 * (self.kernel_size - 1)
        offsets = ops.convert_to_tensor(
            np.arange(self.kernel_size)[:, None] - half, self.working_dtype
        )
        sigma = ops.clip(self.sigma, self.sigma_low, 0.5)
        return ops.exp(-0.5 * ops.square(offsets / (sigma * half)))

    def get_config(self) -> dict:
        return {**super().get_config(), "sigma": self.sigma_init}


@register_postprocessing("free_lowpass")
class FreeLowpass(_DepthwiseLowpass):
    """TD-filterbanks' pooling: a window per channel whose every tap is learned, with a stride.

    Each channel's window starts as a squared Hann window (:func:`squared_hann`,
    symmetric, peak 1, not normalised), the temporal averaging that a
    Hann-windowed spectrogram's energy implies; pass ``trainable=False`` for a
    fixed window.

    Args:
        kernel_size: taps in the window (TD-filterbanks: 401 samples at 16 kHz).
        strides: the hop between outputs (TD-filterbanks: 160).
        padding: ``"same"`` (TensorFlow's rule) or ``"valid"`` (TD-filterbanks'
            own code pads nothing).
        trainable: learn the taps (default) or keep the squared Hann window.

    Input shape, Output shape:
        as :class:`GaussianLowpass`.

    References:
        Zeghidour et al., "Learning filterbanks from raw speech for phone
        recognition", ICASSP 2018 (facebookresearch/tdfbanks); LEAF's
        ``LowpassInit`` with ``SQUARED_HANNING``.

    Example:
        >>> pool = FreeLowpass(kernel_size=5, strides=2, trainable=False)
        >>> tuple(pool(np.ones((1, 9, 3), "float32")).shape)
        (1, 5, 3)
    """

    def __init__(
        self, kernel_size: int = 401, strides: int = 160, padding: str = "same", **kwargs: Any
    ) -> None:
        super().__init__(kernel_size, strides, padding, **kwargs)

    def build(self, input_shape: tuple) -> None:
        channels = self._channels(input_shape)
        window = np.repeat(squared_hann(self.kernel_size)[:, None], channels, axis=1)
        self.kernel = self.add_array_weight("kernel", window)

    def _window(self) -> Any:
        return self.kernel
