"""What every ready-made front end shares: :class:`FrontEnd` (an encoder, then
post-processing, as one Keras layer), the one registry of ready-made front ends by name,
and the frame rules the references use (LEAF's window and hop from milliseconds).

A ready-made front end states only its options and its pieces (a subclass of
:class:`ReadyMade`); its config is those options.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from framebank._validation import AudioInput, check_positive_int, check_positive_number
from framebank.decoder import Decoder
from framebank.layers import Encoder

__all__ = ["FRONTENDS", "FrontEnd", "ReadyMade", "register_ready_made"]

# Ready-made front ends by name: a config naming one, ``{"frontend": "leaf",
# "sample_rate": 16000}``, builds it with the other keys. FRONTENDS is the read-only view.
_READY_MADE: dict[str, type] = {}
FRONTENDS: Mapping[str, type] = types.MappingProxyType(_READY_MADE)


def register_ready_made(name: str) -> Any:
    """Class decorator: a ready-made :class:`FrontEnd` that configs can name with ``frontend``."""

    def decorator(cls: type) -> type:
        _READY_MADE[name] = cls
        return cls

    return decorator


@keras.saving.register_keras_serializable(package="framebank")
class FrontEnd(AudioInput, keras.layers.Layer):
    """A whole front end as one Keras layer: an encoder, then post-processing, in order.

    Calling it maps a waveform to features; the optional decoder is held beside
    (it inverts the encoder's coefficients, not the features) and saved with it,
    sharing the encoder's basis.

    Args:
        encoder: the :class:`~framebank.Encoder`.
        postprocessing: layers applied in order to the coefficients.
        decoder: an optional :class:`~framebank.Decoder` of ``encoder``.

    Input shape:
        ``[batch, time]`` or ``[batch, time, 1]``: float samples in ``[-1, 1]``, or
        integer PCM (int8, int16, int32, uint8) which is divided by its full scale
        (int16 by 32768) as soundfile and torchaudio read it; every front end applies
        this one rule (its encoder does).

    Output shape:
        what the last post-processing layer returns (the coefficients
        ``[batch, frames, num_basis]`` without post-processing).

    Example:
        >>> log_mel = ["mel_spectrum", {"log_energy": {"square": False}}]
        >>> fe = build_frontend({"filterbank": "mel", "frame_len": 256, "hop": 80,
        ...                      "sample_rate": 8000, "n_mels": 40, "postprocessing": log_mel})
        >>> fe(np.zeros((2, 8000), "float32")).shape
        (2, 97, 40)
    """

    def __init__(
        self,
        encoder: Encoder | dict,
        postprocessing: list | tuple = (),
        decoder: Decoder | dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(encoder, dict):  # serialised, from get_config
            encoder = keras.saving.deserialize_keras_object(encoder)
        if not isinstance(encoder, Encoder):
            raise TypeError(
                "`encoder` must be a framebank.Encoder. "
                f"Received: encoder={encoder!r} of type {type(encoder).__name__}"
            )
        if not isinstance(postprocessing, (list, tuple)):
            raise TypeError(
                "`postprocessing` must be a list of Keras layers. "
                f"Received: postprocessing={postprocessing!r}"
            )
        steps = []
        for step in postprocessing:
            if isinstance(step, dict):
                step = keras.saving.deserialize_keras_object(step)
            if not isinstance(step, keras.layers.Layer):
                raise TypeError(
                    "Each post-processing step must be a Keras layer. "
                    f"Received: {step!r} of type {type(step).__name__}"
                )
            steps.append(step)
        if isinstance(decoder, dict):
            # Rebuilt around this encoder, so that a tied or pinv decoder shares its basis.
            decoder = Decoder(encoder=encoder, **decoder)
        if decoder is not None and not isinstance(decoder, Decoder):
            raise TypeError(
                "`decoder` must be a framebank.Decoder. "
                f"Received: decoder={decoder!r} of type {type(decoder).__name__}"
            )
        self.encoder = encoder
        self.postprocessing = steps
        self.decoder = decoder

    def build(self, input_shape: tuple) -> None:
        if not self.encoder.built:
            self.encoder.build(input_shape)
        shape = self.encoder.compute_output_shape(input_shape)
        if self.decoder is not None and not self.decoder.built:
            self.decoder.build(shape)
        for step in self.postprocessing:
            if not step.built:
                step.build(shape)
            shape = step.compute_output_shape(shape)

    def call(self, waveform: Any) -> Any:
        x = self.encoder(waveform)
        for step in self.postprocessing:
            x = step(x)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = self.encoder.compute_output_shape(input_shape)
        for step in self.postprocessing:
            shape = step.compute_output_shape(shape)
        return shape

    def get_config(self) -> dict:
        config = super().get_config()
        decoder = None
        if self.decoder is not None:
            decoder = self.decoder.get_config()
            decoder.pop("encoder", None)  # rebuilt around this front end's encoder
        config.update(
            encoder=keras.saving.serialize_keras_object(self.encoder),
            postprocessing=[keras.saving.serialize_keras_object(s) for s in self.postprocessing],
            decoder=decoder,
        )
        return config


def _window(sample_rate: float, window_ms: float) -> int:
    """LEAF's filter length: ``int(sample_rate * window_ms // 1000 + 1)`` (401 at 16 kHz)."""
    return int(sample_rate * window_ms // 1000 + 1)


def _hop(sample_rate: float, hop_ms: float) -> int:
    """LEAF's stride: ``int(sample_rate * hop_ms // 1000)`` (160 at 16 kHz)."""
    hop = int(sample_rate * hop_ms // 1000)
    if hop < 1:
        raise ValueError(
            f"`hop_ms` must give at least one sample at sample_rate={sample_rate}. "
            f"Received: hop_ms={hop_ms}"
        )
    return hop


def _arguments(values: dict) -> dict:
    """A constructor's arguments from its ``locals()`` taken first thing: its config."""
    return {k: v for k, v in values.items() if k not in ("self", "kwargs", "__class__")}


class ReadyMade(FrontEnd):
    """A front end built from plain options; its config is those options (with the method
    that ``"auto"`` picked, so a reloaded model runs the same one)."""

    def __init__(self, encoder: Encoder, steps: list, options: dict, **kwargs: Any) -> None:
        super().__init__(encoder, steps, **kwargs)
        self._options = {**options, "method": encoder.method.name}
        if "dtype" in kwargs:
            # The pieces were made before this layer knew its dtype: they take it now (as a
            # layer's own weights would), before any is built.
            for layer in (encoder, encoder.filterbank, *steps):
                layer.dtype_policy = self.dtype_policy

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            **self._options,
        }

    @classmethod
    def from_config(cls, config: dict) -> ReadyMade:
        return cls(**config)


def _common(sample_rate: Any, n_filters: Any, window_ms: Any, hop_ms: Any) -> tuple:
    rate = check_positive_number("sample_rate", sample_rate)
    sample_rate = sample_rate if isinstance(sample_rate, int) else rate
    n_filters = check_positive_int("n_filters", n_filters)
    window_ms = check_positive_number("window_ms", window_ms)
    hop_ms = check_positive_number("hop_ms", hop_ms)
    return sample_rate, n_filters, window_ms, hop_ms


def _upper_edge(sample_rate: Any, max_hz: Any) -> float:
    """The initial filters' upper edge: ``max_hz``, or LEAF's 7800 Hz scaled to the rate
    (``0.4875 * sample_rate``); above Nyquist is an error (the mel matrix would be empty)."""
    nyquist = float(sample_rate) / 2
    if max_hz is None:
        return min(7800.0, 0.4875 * float(sample_rate))
    if check_positive_number("max_hz", max_hz) > nyquist:
        raise ValueError(
            f"`max_hz`={max_hz} is above Nyquist ({nyquist:g} Hz at sample_rate={sample_rate})"
        )
    return float(max_hz)


@keras.saving.register_keras_serializable(package="framebank")
class _FixedInitializer(keras.initializers.Initializer):
    """Values computed from a ready-made front end's options (rebuilt from them, not saved)."""

    def __init__(self, values: Any) -> None:
        self.values = np.asarray(values)

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        if tuple(shape) != self.values.shape:
            raise ValueError(f"Expected shape {self.values.shape}. Received: {tuple(shape)}")
        return keras.ops.convert_to_tensor(self.values, dtype=dtype)

    def get_config(self) -> dict:
        return {"values": self.values.tolist()}
