"""Streaming: every front end, encoder and decoder chunk by chunk, equal to the offline output.

Each stateful piece says what its state is (``StreamingStep.state_spec()`` lists it):

* an :class:`~framebank.Encoder`'s framing buffer: the last ``frame_len - hop`` samples;
* a lowpass or max pooling (``GaussianLowpass``, ``FreeLowpass``, ``MaxPooling1D``): its
  input frames not yet consumed, ``kernel_size - strides`` of them;
* :class:`~framebank.PCEN`: its smoother after the last frame;
* a :class:`~framebank.Decoder`: the overlap-add tail, ``frame_len - hop`` samples;
* a layer of the user's: what its ``streaming_state()`` says, carried by its own
  ``stream_step(frame, state)`` (the hook a layer implements to stream);
* ``position`` (steps taken) and, for the pieces that need it, ``limit`` (their input
  frames before the end; set by a flush), so that padding and the end are exact.

The pure API is :class:`StreamingStep` (``step(block, state) -> (output, state)`` on a fixed
block of one hop, ``initial_state(batch)``); :class:`Stream` takes any chunk length on top of
it. Non-causal layers (``InstanceNorm`` over the clip) are refused, naming the layer
(:class:`NotStreamableError`). :func:`latency` gives each model's look-back and delay.
Export of the step: :mod:`framebank.streaming.export`.

Which stage streams a layer is one registry, :data:`STAGES` (``{layer type: factory}``,
read-only; :func:`register_stage` adds to it, framebank's own stages included), searched
in the layer's MRO, most specific type first (:func:`stage_for`). Each stage runs its
layer's own public pieces (an encoder's ``project_padded``, a lowpass's ``pool_frames``,
PCEN's call with its state), so the stream and the offline call share one computation.

No length limit: ``position`` counts steps modulo a period (``StreamingStep.period``) once
past the start, so int32 item indices never overflow and a stream runs indefinitely.
"""

from framebank.streaming._plan import Latency, StreamingStep, latency, streaming_step
from framebank.streaming._stages import (
    STAGES,
    FrameWise,
    NotStreamableError,
    Stage,
    StepStage,
    Timing,
    Windowed,
    register_stage,
    stage_for,
)
from framebank.streaming._stream import Stream, compile_step

__all__ = [
    "STAGES",
    "FrameWise",
    "Latency",
    "NotStreamableError",
    "Stage",
    "Stream",
    "StepStage",
    "StreamingStep",
    "Timing",
    "Windowed",
    "compile_step",
    "latency",
    "register_stage",
    "stage_for",
    "streaming_step",
]
