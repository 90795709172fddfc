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

No length limit: ``position`` counts steps modulo a period (``StreamingStep.period``) once
past the start, so int32 item indices never overflow and a stream runs indefinitely.
"""

from framebank.streaming._plan import Latency, StreamingStep, latency, streaming_step
from framebank.streaming._stages import NotStreamableError
from framebank.streaming._stream import Stream, compile_step

__all__ = [
    "Latency",
    "NotStreamableError",
    "Stream",
    "StreamingStep",
    "compile_step",
    "latency",
    "streaming_step",
]
