"""The pieces of a streaming plan: one stage a layer, each saying what its state is.

A stage maps a stream of *items* to a stream of items: samples ``[batch, n]`` or frames
``[batch, n, channels]``. Item ``i`` of every stream is complete once the input has
delivered ``a * i + hi + 1`` samples (``a`` samples per item) and depends on input samples
``a * i + lo .. a * i + hi``: the affine :class:`Timing` each stage derives from the one
before it. A plan's steps are aligned so that every stage's items complete exactly at the
end of a step, so each stage's state is a fixed-size buffer.

Index bookkeeping: at step ``k`` a stage receives its input items ``k * m_in + first_in``
onwards (``m_in`` of them). Items of negative index (before the signal, or inside a
centring or 'same' pad) or at or past ``limit`` (after the end, set by a flush) are
replaced by the stage's pad value before they reach a window, and never move a recurrence.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

from framebank import framing
from framebank.decoder import Decoder
from framebank.layers import Encoder
from framebank.postprocessing import PCEN, FreeLowpass, GaussianLowpass, InstanceNorm

__all__ = [
    "STAGES",
    "FrameWise",
    "NotStreamableError",
    "Stage",
    "StepStage",
    "Timing",
    "Windowed",
    "register_stage",
    "stage_for",
]

# The largest int32: the limit of a stream whose end is not known yet.
NO_LIMIT = 2**31 - 1


class NotStreamableError(ValueError):
    """A layer whose output depends on samples a stream has not seen (or that framebank
    cannot yet stream); the message names it."""


@dataclass(frozen=True)
class Timing:
    """Item ``i`` depends on input samples ``a*i + lo .. a*i + hi`` (``a`` samples an item)."""

    a: int
    lo: int
    hi: int


class Stage:
    """One layer's streaming form.

    Attributes:
        layer: the Keras layer it runs.
        ratio: input items per output item (a window's hop; 1 for frame-wise layers).
        needs_limit: whether it masks its input by index (its state holds a ``limit``).
    """

    ratio = 1
    needs_limit = False

    def __init__(self, layer: keras.layers.Layer) -> None:
        self.layer = layer
        self.m_in = 0
        self.first_in = 0  # index of the first input item at step 0

    def timing(self, t: Timing) -> Timing:
        return t

    def configure(self, m_in: int, first_in: int) -> None:
        """Fix the items a step receives: ``m_in`` of them, the first at ``first_in`` at step 0."""
        self.m_in, self.first_in = m_in, first_in

    @property
    def m_out(self) -> int:
        return self.m_in // self.ratio

    @property
    def first_out(self) -> int:
        """Index of the first output item at step 0."""
        return self.first_in  # frame-wise: one out for one in

    def state_shapes(self, feature: tuple) -> dict[str, tuple[tuple, str]]:
        """``{name: (shape without batch, dtype)}`` for an input of per-item shape ``feature``."""
        return {}

    def initial(self, name: str, batch: int, shape: tuple, dtype: str) -> Any:
        return ops.zeros((batch, *shape), dtype)

    def output_feature(self, feature: tuple) -> tuple:
        """Per-item output shape, ``()`` for samples."""
        shape = self.layer.compute_output_shape((None, None, *feature))
        return tuple(shape[2:])

    def count(self, count_in: int) -> int:
        """Output items offline gives for ``count_in`` input items."""
        return count_in

    def step(self, x: Any, state: dict, position: Any) -> tuple[Any, dict]:
        return self.layer(x), {}

    def _indices(self, position: Any, first: int, m: int) -> Any:
        """``[m]`` int32: the indices of a step's items."""
        start = ops.cast(position, "int32") * m + first
        return start + ops.arange(m, dtype="int32")

    def _valid(self, position: Any, state: dict) -> Any:
        index = self._indices(position, self.first_in, self.m_in)
        return ops.logical_and(index >= 0, index < state["limit"]), index


class FrameWise(Stage):
    """A layer that maps each frame on its own (a pointwise function, a per-frame norm)."""


class Windowed(Stage):
    """Windows of ``size`` items every ``hop`` items, ``pad`` items of padding at the start.

    Its state is the window buffer: the last ``size - hop`` input items (the pad value
    before the signal). ``reduce`` maps ``[batch, items, ...]`` to the windows' outputs.
    """

    pad_value = 0.0
    same = False  # TensorFlow's 'same' padding, whose grid depends on the input's length

    def __init__(self, layer: Any, size: int, hop: int, pad: int) -> None:
        super().__init__(layer)
        self.size, self.ratio, self.pad = size, hop, pad
        self.keep = max(size - hop, 0)

    def timing(self, t: Timing) -> Timing:
        last = self.size - 1 - self.pad
        return Timing(t.a * self.ratio, t.lo - t.a * self.pad, t.hi + t.a * last)

    @property
    def first_out(self) -> int:
        # The last output of step 0 ends at the last input item of step 0.
        last_in = self.first_in + self.m_in - 1
        return (last_in + self.pad - self.size + 1) // self.ratio - self.m_out + 1

    def state_shapes(self, feature: tuple) -> dict:
        shapes = {"buffer": ((self.keep, *feature), keras.backend.floatx())}
        if self.needs_limit:
            shapes["limit"] = ((), "int32")
        return shapes

    def initial(self, name: str, batch: int, shape: tuple, dtype: str) -> Any:
        if name == "buffer":
            return ops.full((batch, *shape), self.pad_value, dtype)
        return super().initial(name, batch, shape, dtype)

    def step(self, x: Any, state: dict, position: Any) -> tuple[Any, dict]:
        if self.needs_limit:
            valid, _ = self._valid(position, state)
            mask = ops.reshape(valid, (1, -1) + (1,) * (len(x.shape) - 2))
            x = ops.where(mask, x, ops.cast(self.pad_value, x.dtype))
        buffer = ops.cast(state["buffer"], x.dtype)
        joined = ops.concatenate([buffer, x], axis=1)
        new = {"buffer": joined[:, framing.axis_len(joined, 1) - self.keep :]}
        if self.keep == 0:
            new["buffer"] = joined[:, :0]
        if self.needs_limit:
            new["limit"] = state["limit"]
        return self.reduce(joined), new

    def reduce(self, joined: Any) -> Any:
        raise NotImplementedError


class EncoderStage(Windowed):
    """:class:`~framebank.Encoder`: the framing buffer holds the last ``frame_len - hop``
    samples; a step's frames are the encoder's projection of buffer + new samples."""

    def __init__(self, layer: Encoder) -> None:
        if layer.center and layer.pad_mode == "reflect":
            raise ValueError(
                f"Encoder {layer.name!r} pads with pad_mode='reflect', which mirrors the samples "
                "after the clip's end: a stream does not have them yet. Build it with "
                "pad_mode='constant' (zeros) to stream it; the weights are the same."
            )
        pad = layer.frame_len // 2 if layer.center else 0
        super().__init__(layer, layer.frame_len, layer.hop, pad)

    def state_shapes(self, feature: tuple) -> dict:
        return {"buffer": ((self.keep,), keras.backend.floatx())}

    def output_feature(self, feature: tuple) -> tuple:
        return (self.layer.num_basis,)

    def count(self, count_in: int) -> int:
        return framing.frames_for_shape((None, count_in), self.layer)

    def reduce(self, joined: Any) -> Any:
        layer = self.layer
        return layer.project_padded(ops.cast(joined, layer.compute_dtype))


def _same_left(size: int, hop: int) -> int:
    """TensorFlow's 'same' left padding for an input of a whole number of hops."""
    return max(size - hop, 0) // 2


class LowpassStage(Windowed):
    """:class:`~framebank.GaussianLowpass` / :class:`~framebank.FreeLowpass`: the buffer
    holds the last ``kernel_size - strides`` frames not yet fully consumed."""

    needs_limit = True

    def __init__(self, layer: Any) -> None:
        self.same = layer.padding == "same"
        pad = _same_left(layer.kernel_size, layer.strides) if self.same else 0
        super().__init__(layer, layer.kernel_size, layer.strides, pad)

    def count(self, count_in: int) -> int:
        return self.layer.output_frames(count_in)

    def reduce(self, joined: Any) -> Any:
        return self.layer.pool_frames(joined)


class MaxPoolStage(Windowed):
    """``keras.layers.MaxPooling1D``: its padding never wins a maximum."""

    needs_limit = True

    def __init__(self, layer: Any) -> None:
        if layer.data_format != "channels_last":
            raise NotStreamableError(
                f"Layer {layer.name!r} (MaxPooling1D) streams channels-last only. "
                f"Received: data_format={layer.data_format!r}"
            )
        (size,), (hop,) = layer.pool_size, layer.strides
        self.same = layer.padding == "same"
        pad = _same_left(size, hop) if self.same else 0
        super().__init__(layer, size, hop, pad)
        self.pad_value = -3.4e38  # float32's lowest, a finite -inf

    def count(self, count_in: int) -> int:
        same = self.layer.padding == "same"
        return framing.num_frames(count_in, self.size, self.ratio, pad_end=same)

    def reduce(self, joined: Any) -> Any:
        return ops.max_pool(joined, self.size, self.ratio, padding="valid")


class PCENStage(Stage):
    """:class:`~framebank.PCEN`: its state is the smoother ``M`` after the last frame,
    ``[batch, channels]``; the frame of index 0 starts it as the layer's ``state_init`` says."""

    needs_limit = True

    def state_shapes(self, feature: tuple) -> dict:
        return {"smoother": (feature, self.layer.working_dtype), "limit": ((), "int32")}

    def step(self, x: Any, state: dict, position: Any) -> tuple[Any, dict]:
        valid, index = self._valid(position, state)
        smoother = state["smoother"]
        outputs = []
        for i in range(self.m_in):
            frame = ops.cast(x[:, i : i + 1], self.layer.working_dtype)
            initial = ops.where(index[i] == 0, self.layer.start_state(frame[:, 0]), smoother)
            out, after = self.layer(frame, initial_state=initial, return_state=True)
            smoother = ops.where(valid[i], after, smoother)
            outputs.append(out)
        y = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=1)
        return y, {"smoother": smoother, "limit": state["limit"]}


class StepStage(Stage):
    """A layer that streams by its own step (a user's layer with state, for one): one output
    frame for each input frame, its state carried from one frame to the next.

    The layer implements the hook::

        def streaming_state(self, feature) -> {name: (shape without batch, dtype)}
        def stream_step(self, frame, state) -> (output frame, new state)

    ``frame`` is ``[batch, 1, *feature]``; the state starts at zeros. Frames before the
    signal or past its end leave the state as it was, so the stream equals the offline call.
    For a layer that is not yours to change, a subclass of this stage implements the same
    two methods (reading ``self.layer``) and :func:`register_stage` registers it for the
    layer's type.
    """

    needs_limit = True

    def streaming_state(self, feature: tuple) -> dict[str, tuple[tuple, str]]:
        """``{name: (shape without batch, dtype)}``: the layer's own, by default."""
        return self.layer.streaming_state(feature)

    def stream_step(self, frame: Any, state: dict) -> tuple[Any, dict]:
        """``(output frame, new state)`` for ``frame`` ``[batch, 1, *feature]``: the layer's."""
        return self.layer.stream_step(frame, state)

    def state_shapes(self, feature: tuple) -> dict:
        spec = dict(self.streaming_state(feature))
        if "limit" in spec:
            raise ValueError(
                f"Layer {self.layer.name!r}: `limit` is the stream's own state name; "
                f"streaming_state() must name its state otherwise. Received: {sorted(spec)}"
            )
        return {**spec, "limit": ((), "int32")}

    def step(self, x: Any, state: dict, position: Any) -> tuple[Any, dict]:
        valid, _ = self._valid(position, state)
        carried = {name: value for name, value in state.items() if name != "limit"}
        outputs = []
        for i in range(self.m_in):
            out, after = self.stream_step(x[:, i : i + 1], dict(carried))
            carried = {name: ops.where(valid[i], after[name], carried[name]) for name in carried}
            outputs.append(out)
        y = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=1)
        return y, {**carried, "limit": state["limit"]}


class DecoderStage(Stage):
    """:class:`~framebank.Decoder`: its state is the overlap-add tail, the last
    ``frame_len - hop`` samples that later frames still add to (and, for ``pinv``, the
    tail of the overlapped frame weights that normalise them). Each frame gives ``hop``
    samples: output item ``i`` is samples ``i*hop .. (i+1)*hop - 1`` before centring."""

    needs_limit = True

    def __init__(self, layer: Decoder) -> None:
        super().__init__(layer)
        self.hop, self.frame_len = layer.hop, layer.frame_len
        self.keep = max(layer.frame_len - layer.hop, 0)

    def timing(self, t: Timing) -> Timing:
        return t  # samples of frame i's hop are final when frame i is

    def state_shapes(self, feature: tuple) -> dict:
        shapes = {"tail": ((self.keep,), keras.backend.floatx()), "limit": ((), "int32")}
        if self.layer.variant.normalises:
            shapes["norm_tail"] = ((self.keep,), keras.backend.floatx())
        return shapes

    def output_feature(self, feature: tuple) -> tuple:
        return ()

    def step(self, x: Any, state: dict, position: Any) -> tuple[Any, dict]:
        layer = self.layer
        valid, _ = self._valid(position, state)
        x = ops.cast(x, layer.compute_dtype)
        dtype = keras.backend.standardize_dtype(x.dtype)
        half = dtype in ("float16", "bfloat16")
        synthesis, weights = layer.synthesis("float32" if half else dtype)
        synthesis = ops.cast(synthesis, dtype)
        x = layer.variant.undo_bias(layer, x, dtype)
        mask = ops.cast(ops.reshape(valid, (1, -1, 1)), dtype)
        out = layer.method.synthesize(x * mask, synthesis, self.hop)
        emit = self.m_in * self.hop
        out = self._add_tail(out, state["tail"], emit)
        new = {"tail": out[:, emit:], "limit": state["limit"]}
        y = out[:, :emit]
        if weights is not None:
            weights = ops.cast(weights, dtype)
            # Per example, so that the norm's tail has the batch of the state.
            frames = ops.ones_like(x[:, :, :1]) * mask * weights[None, None, :]
            norm = self._add_tail(framing.overlap_add(frames, self.hop), state["norm_tail"], emit)
            new["norm_tail"] = norm[:, emit:]
            norm = norm[:, :emit]
            floor = ops.max(weights) * 1e-8
            y = ops.where(norm > floor, y / ops.where(norm > floor, norm, 1.0), 0.0)
        return y, new

    def _add_tail(self, out: Any, tail: Any, emit: int) -> Any:
        """``out`` (``[b, (m-1)*hop + frame_len]``) padded to ``emit + keep``, plus the tail."""
        length = framing.axis_len(out, 1)
        total = emit + self.keep
        if length < total:
            out = ops.pad(out, [[0, 0], [0, total - length]])
        tail = ops.cast(tail, out.dtype)
        head = out[:, : self.keep] + tail
        return ops.concatenate([head, out[:, self.keep :]], axis=1)


# ---------------------------------------------------------------------------- the registry

StageFactory = Callable[[keras.layers.Layer], Stage]

_STAGES: dict[type, StageFactory] = {}
# What users see: a read-only view (register_stage is the way in).
STAGES: Mapping[type, StageFactory] = types.MappingProxyType(_STAGES)


def register_stage(layer_type: type, factory: StageFactory | None = None) -> Any:
    """Stream every layer of ``layer_type`` (and its subclasses) by ``factory(layer)``.

    ``factory`` takes the layer and returns its :class:`Stage` (a stage class is one:
    ``register_stage(MyLayer, FrameWise)``), or raises :class:`NotStreamableError` naming
    it. Called without ``factory``, it is a class decorator for a stage. A type registered
    again is streamed by the new factory. :func:`stage_for` takes the most specific
    registered type in the layer's MRO; a layer's own hook (``streaming_state`` and
    ``stream_step``, see :class:`StepStage`) counts as registered for the class that
    defines ``stream_step``.

    Args:
        layer_type: a ``keras.layers.Layer`` subclass.
        factory: ``layer -> Stage``.

    Returns:
        ``factory`` (so that it decorates), or the decorator when ``factory`` is None.

    Raises:
        TypeError: ``layer_type`` not a Keras layer class, or ``factory`` not callable.
    """
    if not (isinstance(layer_type, type) and issubclass(layer_type, keras.layers.Layer)):
        raise TypeError(
            "register_stage expects a keras.layers.Layer subclass as `layer_type`. "
            f"Received: {layer_type!r}"
        )
    if factory is None:
        return lambda given: register_stage(layer_type, given)
    if not callable(factory):
        raise TypeError(
            "register_stage expects a callable `factory` (layer -> Stage). "
            f"Received: {factory!r} of type {type(factory).__name__}"
        )
    _STAGES[layer_type] = factory
    return factory


def _streams_by_its_own_step(layer: keras.layers.Layer) -> bool:
    return callable(getattr(layer, "stream_step", None)) and callable(
        getattr(layer, "streaming_state", None)
    )


def _factory_for(layer: keras.layers.Layer) -> StageFactory | None:
    """The most specific factory in ``layer``'s MRO (its own hook included), or None."""
    hook = _streams_by_its_own_step(layer)
    for cls in type(layer).__mro__:
        if hook and "stream_step" in vars(cls):
            return StepStage
        if cls in _STAGES:
            return _STAGES[cls]
    return StepStage if hook else None


def stage_for(layer: keras.layers.Layer) -> Stage:
    """The stage that streams ``layer``; :class:`NotStreamableError` naming it otherwise.

    A layer that says why it cannot stream (its ``not_streamable`` reason) is refused;
    otherwise the registry decides (:func:`register_stage`), then a ``frame_wise`` layer
    streams as it is.
    """
    reason = getattr(layer, "not_streamable", "")
    if reason:
        raise NotStreamableError(f"Layer {layer.name!r} ({type(layer).__name__}): {reason}.")
    factory = _factory_for(layer)
    if factory is not None:
        stage = factory(layer)
        if not isinstance(stage, Stage):
            raise TypeError(
                f"The stage factory {factory!r} registered for layer {layer.name!r} "
                f"({type(layer).__name__}) must return a Stage. Received: {stage!r}"
            )
        return stage
    if getattr(layer, "frame_wise", False):  # framebank's own post-processing says so
        return FrameWise(layer)
    raise NotStreamableError(
        f"Layer {layer.name!r} ({type(layer).__name__}) has no streaming form: framebank "
        "streams Encoder, Decoder, GaussianLowpass, FreeLowpass, MaxPooling1D, PCEN and "
        "frame-wise layers (energies, logs, floors, MelSpectrum, activations, Dense, "
        "LayerNormalization over channels); a layer of yours streams by implementing "
        "streaming_state() and stream_step() (framebank.streaming's StepStage says how), "
        "or by a stage registered for its type (framebank.streaming.register_stage)."
    )


def _layer_norm_stage(layer: keras.layers.LayerNormalization) -> Stage:
    axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    if list(axis) in ([-1], [2]):
        return FrameWise(layer)
    raise NotStreamableError(
        f"Layer {layer.name!r} (LayerNormalization) normalises over axis={layer.axis}, "
        "which includes time; only axis=-1 (each frame on its own) streams."
    )


def _instance_norm_stage(layer: InstanceNorm) -> Stage:
    raise NotStreamableError(
        f"Layer {layer.name!r} (InstanceNorm) normalises each channel over the whole "
        "clip, so no frame is final before the clip ends: it does not stream. Build the "
        "front end without it (instance_norm=False) and normalise downstream."
    )


register_stage(Encoder, EncoderStage)
register_stage(Decoder, DecoderStage)
register_stage(GaussianLowpass, LowpassStage)
register_stage(FreeLowpass, LowpassStage)
register_stage(keras.layers.MaxPooling1D, MaxPoolStage)
register_stage(PCEN, PCENStage)
register_stage(keras.layers.LayerNormalization, _layer_norm_stage)
register_stage(InstanceNorm, _instance_norm_stage)
# Keras layers that map each frame on its own: streamed as they are.
for _frame_wise_type in (
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.Activation,
    keras.layers.Dense,
    keras.layers.Dropout,
    keras.layers.Identity,
):
    register_stage(_frame_wise_type, FrameWise)
