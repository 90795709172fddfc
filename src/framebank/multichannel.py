"""Multichannel audio through a mono front end: each channel through the same layer."""

from __future__ import annotations

import os
from typing import Any

import keras
from keras import ops

__all__ = ["Multichannel"]


@keras.saving.register_keras_serializable(package="framebank")
class Multichannel(keras.layers.Wrapper):
    """Runs a mono front end on every channel of ``[batch, time, channels]`` audio.

    The channels are folded into the batch, the wrapped layer runs once on
    ``[batch * channels, time]`` (same weights for every channel), and the channel axis is
    unfolded before the frames: channel ``c`` of the output equals the layer on channel
    ``c`` alone.

    Args:
        layer: a layer taking ``[batch, time]`` (a front end, an :class:`~framebank.Encoder`,
            an :class:`~framebank.STFT`), or what :func:`~framebank.build_frontend` takes
            (a ready-made front end's name such as ``"log_mel"``, a config dict or file).

    Input shape:
        ``[batch, time, channels]``, ``channels`` known.

    Output shape:
        ``[batch, channels, *layer's output without its batch axis]``: for a front end
        ``[batch, channels, frames, features]``.

    Example:
        >>> fe = Multichannel(framebank.frontends.LogMel(sample_rate=16000))
        >>> fe(np.zeros((2, 8000, 3), "float32")).shape
        (2, 3, 51, 40)
    """

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        if isinstance(layer, (str, dict, os.PathLike)):
            # A front end by name or config, as build_frontend takes it; imported here
            # because config sits above this toolkit layer.
            from framebank.config import build_frontend

            layer = build_frontend(layer)
        elif not isinstance(layer, keras.layers.Layer):
            raise TypeError(
                "Multichannel takes a layer on [batch, time] (a front end, an Encoder), a "
                "front end's name (e.g. 'log_mel') or a config dict. "
                f"Received: layer={layer!r} of type {type(layer).__name__}"
            )
        super().__init__(layer, **kwargs)

    @property
    def not_streamable(self) -> str:
        return "a stream takes mono chunks; stream each channel with its own Stream"

    def build(self, input_shape: tuple) -> None:
        self._check(input_shape)
        self.channels = int(input_shape[-1])  # what an export's input signature needs
        if not self.layer.built:
            self.layer.build((None, input_shape[1]))
        self.built = True

    def _check(self, input_shape: tuple) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"Multichannel({type(self.layer).__name__}) expects audio [batch, time, "
                f"channels] with channels known. Received: input_shape={tuple(input_shape)}"
            )

    def call(self, signal: Any) -> Any:
        self._check(signal.shape)
        channels = signal.shape[-1]
        time = ops.shape(signal)[1]
        mono = ops.reshape(ops.transpose(signal, (0, 2, 1)), (-1, time))
        out = self.layer(mono)
        return ops.reshape(out, (-1, channels, *ops.shape(out)[1:]))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check(input_shape)
        inner = self.layer.compute_output_shape((None, input_shape[1]))
        return (input_shape[0], input_shape[-1], *tuple(inner)[1:])
