"""The pure streaming step of a layer or model: ``step(block, state) -> (output, state)``.

Design: one compiled step consumes a fixed block of ``hop`` samples (the front end's output
hop; the encoder's hop for a bare encoder or an encoder-decoder) and returns exactly one
output frame (or ``hop`` output samples). A fixed size traces once, compiles once and
exports (TFLite and ONNX need static shapes but for the batch). :class:`~framebank.streaming.Stream`
gives any chunk length on top of it by buffering samples in Python.

Steps are *phased*: the stream starts with ``phase`` zeros before the first sample, chosen so
that every step ends exactly where an output frame completes, so frames are emitted as soon
as their last sample arrives and every stage's state is a fixed-size buffer. The first
``warmup`` steps' outputs lie before the signal (they are dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import ops

from framebank._validation import as_waveform
from framebank.decoder import Decoder
from framebank.frontends.base import FrontEnd, ReadyMade
from framebank.layers import Encoder
from framebank.streaming._stages import (
    NO_LIMIT,
    DecoderStage,
    EncoderStage,
    NotStreamableError,
    Stage,
    Timing,
    stage_for,
)

__all__ = ["Latency", "StreamingStep", "latency", "streaming_step"]


@dataclass(frozen=True)
class Latency:
    """The algorithmic latency of a streamed layer, in samples at its sample rate.

    Attributes:
        hop: samples a step consumes (and the output hop: one frame, or ``hop`` samples).
        lookback: samples before an output's position that it depends on.
        delay: samples after an output's position that must arrive before it is emitted
            (the algorithmic delay). A frame's position is ``frame * hop`` (its centre for a
            centred front end, its first sample otherwise); an output sample's position is
            its own index.
        phase: zeros a stream starts with so that steps end where frames complete.
        sample_rate: Hz, where the model says (else None).
    """

    hop: int
    lookback: int
    delay: int
    phase: int
    sample_rate: float | None = None

    @property
    def receptive_field(self) -> int:
        return self.lookback + self.delay + 1

    def as_dict(self) -> dict:
        """The metadata form: every field, milliseconds where the sample rate is known."""
        out = {
            "hop": self.hop,
            "lookback": self.lookback,
            "delay": self.delay,
            "phase": self.phase,
            "receptive_field": self.receptive_field,
            "sample_rate": self.sample_rate,
        }
        if self.sample_rate:
            for key in ("hop", "lookback", "delay"):
                out[f"{key}_ms"] = 1000.0 * out[key] / self.sample_rate
        return out


def flatten(layer: Any, call_kwargs: dict | None = None) -> list[keras.layers.Layer]:
    """The layers ``layer`` applies, in order: a front end's encoder and post-processing,
    a model's chain of layers (nested front ends and models flattened). ``call_kwargs``,
    when given, receives ``{layer name: keyword arguments}`` of a model's calls."""
    call_kwargs = {} if call_kwargs is None else call_kwargs
    if isinstance(layer, FrontEnd):
        # A front end that pads or drops by the whole clip (a pretrained model's) says why.
        reason = getattr(layer, "not_streamable", "")
        if reason:
            raise NotStreamableError(f"{type(layer).__name__} does not stream: {reason}")
        steps = [s for step in layer.postprocessing for s in flatten(step, call_kwargs)]
        return [layer.encoder, *steps]
    if isinstance(layer, keras.Model):
        return _model_chain(layer, call_kwargs)
    if isinstance(layer, keras.layers.Layer):
        return [layer]
    raise TypeError(
        "Streaming needs a Keras layer or model (an Encoder, a FrontEnd, a Decoder or a "
        f"model chaining them). Received: {layer!r} of type {type(layer).__name__}"
    )


def _model_chain(model: keras.Model, call_kwargs: dict) -> list[keras.layers.Layer]:
    """A functional or Sequential model's layers, which must form one chain."""
    if isinstance(model, keras.Sequential):
        layers = list(model.layers)
    else:
        layers = [op for op in getattr(model, "operations", model.layers)]
        layers = [layer for layer in layers if not isinstance(layer, keras.layers.InputLayer)]
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise NotStreamableError(
                f"Model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} "
                "outputs; streaming takes a model with one waveform input and one output."
            )
        previous = model.inputs[0]
        for layer in layers:
            # The node of this model's graph: a layer may also be called elsewhere.
            calls = [c for c in symbolic_calls(layer) if len(c[0]) == 1 and c[0][0] is previous]
            if len(calls) != 1 or len(calls[0][1]) != 1:
                raise NotStreamableError(
                    f"Model {model.name!r} is not a chain: layer {layer.name!r} does not take "
                    "the previous layer's output as its one input; streaming follows one "
                    "chain of layers."
                )
            call_kwargs[layer.name] = calls[0][2]
            previous = calls[0][1][0]
        if previous is not model.outputs[0]:
            raise NotStreamableError(
                f"Model {model.name!r} is not a chain: its output is not its last layer's."
            )
    out = []
    for layer in layers:
        nested = isinstance(layer, (keras.Model, FrontEnd))
        out.extend(flatten(layer, call_kwargs) if nested else [layer])
    return out


def symbolic_calls(layer: keras.layers.Layer) -> list[tuple[list, list, dict]]:
    """Every call of ``layer`` on symbolic tensors (each functional graph it is in), as
    ``(input tensors, output tensors, keyword arguments)``.

    Why private Keras: Keras 3 has no public API for a layer's calls. ``Operation.input``
    and ``output`` give its first call only (a layer may be called in several models) and
    no keyword arguments (a Decoder's ``length``). So ``Layer._inbound_nodes`` is read here
    and nowhere else; a Keras that changes it fails here, saying so.
    """
    try:
        return [
            (list(node.input_tensors), list(node.output_tensors), dict(node.arguments.kwargs))
            for node in layer._inbound_nodes
        ]
    except AttributeError as error:
        raise RuntimeError(
            "Streaming a functional model reads its graph through Keras's private "
            "Layer._inbound_nodes (each node's input_tensors, output_tensors and "
            f"arguments.kwargs), which Keras {keras.__version__} no longer has as expected: "
            f"{error}"
        ) from error


def model_sample_rate(layer: Any) -> float | None:
    """The sample rate the layer was built for, where it says: a ready-made front end's
    option, else its encoder's filterbank's."""
    # A ready-made front end's config is its options (a cheap, public read).
    rate = layer.get_config().get("sample_rate") if isinstance(layer, ReadyMade) else None
    if rate:
        return float(rate)
    for inner in flatten(layer):
        if isinstance(inner, (Encoder, Decoder)):
            encoder = inner if isinstance(inner, Encoder) else inner.encoder
            rate = getattr(getattr(encoder, "filterbank", None), "sample_rate", None)
            if rate:
                return float(rate)
    return None


def _period(stages: list[Stage]) -> int:
    """The steps by which ``position`` is taken back: a power of two ``P`` such that every
    index a step computes stays below 2**30 for positions below ``2 P``, and every stage's
    items are past its start (index >= 1) from position ``P`` on."""
    widest = max(stage.m_in for stage in stages)
    period = 1 << max(((2**30 - 1) // (2 * widest + 2)).bit_length() - 1, 0)
    for stage in stages:
        if period * stage.m_in + stage.first_in < 1:
            raise NotStreamableError(
                f"Layer {stage.layer.name!r} takes {stage.m_in} items a step: too many for a "
                "stream's int32 item indices. Use fewer frames_per_step."
            )
    return period


class StreamingStep:
    """The streaming form of a layer or model: a pure step and its state.

    Args:
        layer: an :class:`~framebank.Encoder`, a :class:`~framebank.FrontEnd` (every
            ready-made front end), a :class:`~framebank.Decoder` (coefficients in), or a
            model chaining them (``Encoder -> ... -> Decoder``, as ``framebank compare``'s
            denoiser). An encoder, front end or decoder not built yet is built by one call
            on zeros (its initial weights, as an offline call would use); any other layer
            must be built.
        frames_per_step: output frames a step gives (default 1: one hop a step); more
            spreads a call's fixed cost over several hops, at that many hops of latency.

    Attributes:
        hop: input items an output frame advances (samples; frames for a bare decoder).
        block: input items a step consumes, ``frames_per_step * hop``.
        phase: zeros to put before the first sample (:class:`Stream` does).
        warmup: output frames (from the first) that lie before the signal.
        stages: the stages, in order.
        waveform_out: whether the output is samples (a decoder last) or frames.
        latency: :class:`Latency`.
        period: a stream has no length limit: ``position`` (int32) counts steps up to
            ``2 * period``, then is taken back by ``period`` (each stage's ``limit`` with it),
            which changes no output (a stage's items are past its start from position
            ``period`` on). A position at or past ``2 * period``, or negative (an int32
            counter that wrapped), is read as ``period``.

    Raises:
        NotStreamableError (a ValueError): a layer that does not stream (``InstanceNorm``,
            a layer with no streaming form), naming it.
    """

    # long: the plan in one pass: stages, their timings, then each stage's window of items
    def __init__(self, layer: Any, frames_per_step: int = 1) -> None:
        if (
            isinstance(frames_per_step, bool)
            or not isinstance(frames_per_step, int)
            or frames_per_step < 1
        ):
            raise ValueError(
                f"`frames_per_step` must be a positive integer. Received: {frames_per_step!r}"
            )
        self.frames_per_step = frames_per_step
        self.layer = layer
        self.call_kwargs: dict[str, dict] = {}
        _build_if_needed(layer)
        layers = flatten(layer, self.call_kwargs)
        for inner in layers:
            if not inner.built:
                raise ValueError(
                    f"Layer {inner.name!r} is not built, so it has no weights to stream with. "
                    "Call the model on a waveform (or load a trained one) first."
                )
        self.stages: list[Stage] = [stage_for(inner) for inner in layers]
        first = self.stages[0]
        if isinstance(first, DecoderStage):
            self.input_feature: tuple = (first.layer.num_basis,)
        elif isinstance(first, EncoderStage):
            self.input_feature = ()
        else:
            raise NotStreamableError(
                f"Streaming starts at an Encoder (waveform in) or a Decoder (coefficients in). "
                f"Received first layer {first.layer.name!r} ({type(first.layer).__name__})."
            )
        for stage in self.stages[1:]:
            if isinstance(stage, EncoderStage):
                raise NotStreamableError(
                    f"Layer {stage.layer.name!r} is an Encoder after the first layer; a stream "
                    "takes one waveform in."
                )
        self.waveform_out = isinstance(self.stages[-1], DecoderStage)
        # Timings, from the input (item i is input sample i) to the output.
        timing = Timing(1, 0, 0)
        timings = []
        for stage in self.stages:
            timing = stage.timing(timing)
            timings.append(timing)
        self.hop = timing.a
        self.block = self.hop * frames_per_step
        # Steps end at input counts j*block + r, r in 1..block: where output items complete.
        completes = timing.hi + 1
        r = (completes - 1) % self.block + 1
        self.phase = self.block - r
        first_in, m_in = r - self.block, self.block  # step 0's input items
        for stage in self.stages:
            stage.configure(m_in, first_in)
            first_in, m_in = stage.first_out, stage.m_out
        self.out_first = first_in  # index of the first output item at step 0
        if m_in != frames_per_step:
            raise NotStreamableError(
                f"Expected {frames_per_step} output items a step. Received: {m_in}"
            )
        self.warmup = max(0, -self.out_first)  # output items before the signal
        self.period = _period(self.stages)
        self.timing = timing
        self.sample_rate = model_sample_rate(layer)
        self.latency = self._latency()
        self._names = self._state_names()

    # ------------------------------------------------------------------ latency

    def _latency(self) -> Latency:
        t = self.timing
        if not self.waveform_out:
            return Latency(self.hop, -t.lo, t.hi, self.phase, self.sample_rate)
        decoder = self.stages[-1].layer
        if self.input_feature:  # a bare decoder: frames in, output samples
            return Latency(decoder.hop, decoder.frame_len - 1, 0, 0, self.sample_rate)
        shift = decoder.frame_len // 2 if decoder.center else 0
        # Output sample n = frame i's hop (i*hop .. i*hop + hop - 1, less the centring
        # shift) is final when frame i is: its first sample waits longest.
        overlaps = -(-decoder.frame_len // decoder.hop) - 1
        lookback = overlaps * decoder.hop - t.lo + decoder.hop - 1 - shift
        return Latency(self.hop, max(lookback, 0), t.hi + shift, self.phase, self.sample_rate)

    # ------------------------------------------------------------------ state

    def _state_names(self) -> dict[str, tuple[int, str, tuple, str]]:
        """``{key: (stage index, name, shape without batch, dtype)}``."""
        names: dict[str, tuple[int, str, tuple, str]] = {}
        feature = self.input_feature
        for index, stage in enumerate(self.stages):
            for name, (shape, dtype) in stage.state_shapes(feature).items():
                names[f"s{index}_{_clean(stage.layer.name)}_{name}"] = (index, name, shape, dtype)
            feature = stage.output_feature(feature)
        self.output_feature = feature
        return names

    def state_spec(self) -> dict[str, tuple[tuple, str]]:
        """``{key: (shape, dtype)}``, the batch axis ``None`` (``position`` is a scalar)."""
        spec = {"position": ((), "int32")}
        for key, (_, _, shape, dtype) in self._names.items():
            spec[key] = (() if shape == () and dtype == "int32" else (None, *shape), dtype)
        return spec

    def initial_state(self, batch: int) -> dict[str, Any]:
        """The state before the first sample: buffers of the pad value, no end known."""
        if not isinstance(batch, (int, np.integer)) or isinstance(batch, bool) or batch < 1:
            raise ValueError(f"`batch` must be a positive integer. Received: batch={batch!r}")
        state = {"position": ops.convert_to_tensor(np.int32(0))}
        for key, (index, name, shape, dtype) in self._names.items():
            if name == "limit":
                state[key] = ops.convert_to_tensor(np.int32(NO_LIMIT))
            else:
                state[key] = self.stages[index].initial(name, int(batch), shape, dtype)
        return state

    def check_state(self, state: Any, batch: int | None = None) -> None:
        """Raise, naming the key, if ``state`` is not this step's (another model's, a wrong
        shape or dtype, another batch)."""
        if not isinstance(state, dict):
            raise TypeError(
                "`state` must be the dict initial_state() returns. "
                f"Received: {type(state).__name__}"
            )
        spec = self.state_spec()
        if set(state) != set(spec):
            missing, extra = sorted(set(spec) - set(state)), sorted(set(state) - set(spec))
            raise ValueError(
                "`state` is not this model's streaming state (from another model?): "
                f"missing keys {missing}, unexpected keys {extra}"
            )
        for key, (shape, dtype) in spec.items():
            value = state[key]
            got = tuple(value.shape)
            ok = len(got) == len(shape) and all(
                want is None or want == have for want, have in zip(shape, got, strict=True)
            )
            if ok and shape and shape[0] is None and batch is not None and got[0] != batch:
                raise ValueError(
                    f"`state[{key!r}]` is for batch {got[0]}, but the block has batch {batch}"
                )
            if not ok:
                raise ValueError(
                    f"`state[{key!r}]` has shape {got}; this model's is {shape} "
                    "(None: the batch). Is it from another model?"
                )
            got_dtype = keras.backend.standardize_dtype(value.dtype)
            if got_dtype != dtype:
                raise ValueError(f"`state[{key!r}]` has dtype {got_dtype}; expected {dtype}")

    # ------------------------------------------------------------------ the step

    def __call__(self, block: Any, state: dict) -> tuple[Any, dict]:
        """:meth:`step` after checking ``block`` and ``state`` (eagerly: errors name the
        wrong value, a state from another model included)."""
        block = self._as_block(block)
        self.check_block(block)
        self.check_state(state, batch=int(block.shape[0]))
        return self.step(block, state)

    def _as_block(self, block: Any) -> Any:
        """``block`` as a tensor, integer PCM samples scaled by the layers' rule
        (:func:`as_waveform`); a block of known length other than :attr:`block` is refused."""
        if hasattr(block, "shape"):
            self._check_length(tuple(block.shape))
        if self.input_feature:  # a bare decoder's frames: not audio samples
            return ops.convert_to_tensor(block)
        block = as_waveform(block, "block", "float32")
        self._check_length(tuple(block.shape))
        return block

    def _check_length(self, shape: tuple) -> None:
        if len(shape) >= 2 and shape[1] is not None and shape[1] != self.block:
            items = "frames" if self.input_feature else "samples"
            raise ValueError(
                f"A block must hold {self.block} {items} (hop {self.hop} x frames_per_step "
                f"{self.frames_per_step}): shape [batch, {self.block}"
                f"{''.join(f', {d}' for d in self.input_feature)}]. "
                f"Received: {shape[1]} {items}, shape={shape}"
            )

    def step(self, block: Any, state: dict) -> tuple[Any, dict]:
        """One step: ``block`` ``[batch, block]`` samples (``[batch, block, num_basis]`` frames
        for a bare decoder) to ``(output, new_state)``.

        The output is ``[batch, frames_per_step, channels]`` or ``[batch, frames_per_step *
        decoder hop]`` samples. A block holding NaN or inf anywhere (any example) is
        refused: the new state is ``state`` unchanged (the position too), and the output
        of that block (computed with zeros for the bad values) is not to be used; the next
        good block continues as if it never came.
        Integer samples are PCM, scaled as the layers scale them (int16 divided by 32768).
        Pure: ``keras.ops`` only, so it traces, compiles and exports.

        Raises:
            ValueError: a block whose length is not :attr:`block`, naming both.
        """
        block = self._as_block(block)
        period = self.period
        position = ops.cast(state["position"], "int32")
        # A counter outside [0, 2 P) (a wrapped or foreign one) is read as P: past the
        # start, as it must have been (no output depends on how far past).
        outside = ops.logical_or(position < 0, position >= 2 * period)
        position = ops.where(outside, period, position)
        # NaN and inf give NaN in x - x. Zeros stand in for them, so that nothing in the step
        # sees them (the `d != d` form is one tf2onnx exports as a select, not arithmetic).
        difference = block - block
        bad = ops.not_equal(difference, difference)
        x = ops.where(bad, ops.zeros_like(block), block)
        after = position + 1
        taken_back = after >= 2 * period
        new_state = {"position": ops.where(taken_back, after - period, after)}
        for index, stage in enumerate(self.stages):
            own = {name: state[key] for key, (i, name, _, _) in self._names.items() if i == index}
            x, updated = stage.step(x, own, position)
            if "limit" in updated:
                # A limit set by a flush moves with the position; "no limit" stays.
                limit = updated["limit"]
                moved = ops.logical_and(taken_back, limit != NO_LIMIT)
                updated["limit"] = ops.where(moved, limit - period * stage.m_in, limit)
            for key, (i, name, _, _) in self._names.items():
                if i == index:
                    new_state[key] = updated[name]
        # A block holding NaN or inf is refused: the state comes back unchanged, so the next
        # good block continues as if it never came.
        refused = ops.max(ops.cast(bad, "float32")) > 0.5
        for key, value in new_state.items():
            new_state[key] = ops.where(refused, ops.cast(state[key], value.dtype), value)
        return x, new_state

    def check_block(self, block: Any) -> None:
        """Raise, naming it, on a block of the wrong rank, length or dtype."""
        want_rank = 2 + len(self.input_feature)
        shape = tuple(block.shape)
        if len(shape) != want_rank:
            raise ValueError(
                f"A block must be rank {want_rank}, [batch, {self.block}"
                f"{''.join(f', {d}' for d in self.input_feature)}]. Received: shape={shape}"
            )
        if shape[1] != self.block or tuple(shape[2:]) != self.input_feature:
            raise ValueError(
                f"A block must be [batch, {self.block}"
                f"{''.join(f', {d}' for d in self.input_feature)}]. Received: shape={shape}"
            )
        dtype = keras.backend.standardize_dtype(block.dtype)
        if not dtype.startswith(("float", "bfloat")):
            raise TypeError(
                f"A block must be floating point (samples in [-1, 1]). Received: dtype={dtype}"
            )

    # ------------------------------------------------------------------ ends

    def counts(self, samples: int) -> list[int]:
        """Items each stage outputs offline for ``samples`` input items."""
        counts = []
        count = samples
        for stage in self.stages:
            count = stage.count(count)
            counts.append(count)
        return counts

    def aligned_length(self, samples: int) -> int:
        """The length, >= ``samples``, whose offline output the stream gives.

        Equal to ``samples`` except before a 'same' pooling (LEAF's, TD-filterbanks',
        SincNet's) whose input is not a whole number of its strides: TensorFlow's 'same'
        rule then shifts the whole pooling grid by the clip's length, which a stream
        cannot know in advance; the stream gives offline's output of the clip padded with
        zeros to a whole number of strides.
        """
        for extra in range(0, 64 * self.hop):
            counts, count_in, ok = self.counts(samples + extra), samples + extra, True
            for stage, count in zip(self.stages, counts, strict=True):
                if getattr(stage, "same", False):
                    ok = ok and count_in % stage.ratio == 0
                count_in = count
            if ok:
                return samples + extra
        raise NotStreamableError(f"No aligned length found for {samples} samples")


def _build_if_needed(layer: Any) -> None:
    """Build an unbuilt encoder, front end or decoder by calling it on zeros."""
    if getattr(layer, "built", True):
        return
    if isinstance(layer, Decoder):
        layer(np.zeros((1, 4, layer.num_basis), "float32"))
    elif isinstance(layer, (Encoder, FrontEnd)):
        encoder = layer if isinstance(layer, Encoder) else layer.encoder
        layer(np.zeros((1, max(4 * encoder.frame_len, 16 * encoder.hop)), "float32"))


def _clean(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def streaming_step(layer: Any) -> StreamingStep:
    """The pure streaming step of ``layer`` (see :class:`StreamingStep`)."""
    return StreamingStep(layer)


def latency(layer: Any) -> Latency:
    """The algorithmic latency of streaming ``layer`` (derived from its configuration)."""
    return StreamingStep(layer).latency
