"""``Stream``: any chunk length on top of the fixed-size compiled step, state kept for you."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from framebank._validation import describe_sequence, pcm_scale
from framebank.streaming._plan import Latency, StreamingStep
from framebank.streaming._stages import EncoderStage

__all__ = ["Stream", "compile_step"]


def compile_step(fn: Callable) -> Callable:
    """``fn`` compiled for the backend: ``tf.function``, ``jax.jit``; torch runs it eagerly
    without gradients (``torch.compile`` costs more to start than a stream saves)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "torch":
        import torch

        def run(*args: Any) -> Any:
            with torch.no_grad():
                return fn(*args)

        return run
    return fn


class Stream:
    """Run a layer or model chunk by chunk, equal to its offline output.

    ``process(chunk)`` takes ``[batch, samples]`` of any length (one sample, a hop, a
    second) and returns what became complete: frames ``[batch, frames, channels]`` for a
    front end or encoder, samples ``[batch, samples]`` for a model ending in a
    :class:`~framebank.Decoder`. ``flush()`` ends the clip and returns the rest, so that
    the concatenated outputs equal the offline output of the whole clip: the end's
    centring and ``pad_end`` padding as offline, and a decoder's ``length`` taken as the
    input's length. (Before a 'same' pooling, LEAF's, TD-filterbanks' and SincNet's, a
    clip that is not a whole number of hops gives offline's output of the clip padded with
    zeros to one: :meth:`StreamingStep.aligned_length`.)

    Non-finite input: a chunk holding NaN or inf (a broken driver, a bad file) is refused
    with a ValueError that says where; nothing of it is kept, so the stream's state is
    unchanged and the next good chunk gives what a stream that never saw it gives. (A
    float32 chunk that overflows on conversion, a float64 value past 3.4e38, is refused
    too.)

    Internally every step is one compiled call of :meth:`StreamingStep.step` on one hop
    of samples; the stream buffers the samples of an incomplete hop in Python and starts
    with ``latency.phase`` zeros so that a frame is emitted by the call in which its
    last sample arrives.

    Args:
        layer: what :class:`StreamingStep` takes (built).
        sample_rate: the rate of the audio that will be streamed; refused if the model
            was built for another one.
        compile: compile the step (``tf.function`` / ``jax.jit``); False runs it eagerly.
        step_fn: run this instead of the layer's own step: ``(block, state) -> (output,
            state)``, e.g. an exported step from
            :func:`framebank.streaming.export.tflite_step_runner` (numpy in and out).
        frames_per_step: output frames a compiled call gives (:class:`StreamingStep`).

    Attributes:
        latency: :class:`Latency` (samples).
        step: the :class:`StreamingStep`.

    Raises:
        NotStreamableError (a ValueError): a non-causal layer (``InstanceNorm``), naming it.
        ValueError: a sample rate that differs from the model's.

    Example:
        >>> stream = Stream(framebank.frontends.LogMel(sample_rate=16000))
        >>> parts = [stream.process(x[:, i : i + 160]) for i in range(0, x.shape[1], 160)]
        >>> features = np.concatenate([*parts, stream.flush()], axis=1)  # == offline
    """

    def __init__(
        self,
        layer: Any,
        sample_rate: float | None = None,
        compile: bool = True,
        step_fn: Callable | None = None,
        frames_per_step: int = 1,
    ) -> None:
        if isinstance(layer, StreamingStep):
            self.step = layer
        else:
            self.step = StreamingStep(layer, frames_per_step=frames_per_step)
        own = self.step.sample_rate
        if sample_rate is not None:
            if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)):
                raise TypeError(f"`sample_rate` must be a number. Received: {sample_rate!r}")
            if own is not None and float(sample_rate) != own:
                raise ValueError(
                    f"The audio's sample rate is {sample_rate:g} Hz but the model was built "
                    f"for {own:g} Hz; resample the audio (framebank.audio.load_audio(path, "
                    f"{own:g})) or use a model built for {sample_rate:g} Hz."
                )
        if step_fn is not None:
            self._run = step_fn
        else:
            self._run = compile_step(self.step.step) if compile else self.step.step
        self.reset()

    @property
    def latency(self) -> Latency:
        return self.step.latency

    @property
    def samples_received(self) -> int:
        """Samples (a channel) given to :meth:`process` since the last reset."""
        return self._received

    def reset(self) -> None:
        """Forget the clip: the next chunk starts a new one (any batch size)."""
        self._state: dict | None = None
        self._batch: int | None = None
        self._pending: np.ndarray | None = None
        self._received = 0
        self._steps = 0
        self._finished = False

    # ------------------------------------------------------------------ input

    def _check_chunk(self, chunk: Any) -> np.ndarray:
        if isinstance(chunk, (list, tuple)):
            # As the layers refuse one: a list of floats would be read as float64 samples,
            # a list of clips of unequal lengths as a ragged object array.
            raise TypeError(
                "Stream.process takes a chunk [batch, samples] as a tensor or array, not a "
                f"Python {type(chunk).__name__}: pass np.asarray(chunk, 'float32'). "
                f"Received: {describe_sequence(chunk)}"
            )
        try:
            x = chunk if isinstance(chunk, np.ndarray) else np.asarray(ops.convert_to_numpy(chunk))
        except Exception as err:  # not array-like
            raise TypeError(
                f"A chunk must be an array [batch, samples]. Received: {type(chunk).__name__}"
            ) from err
        feature = self.step.input_feature
        want = 2 + len(feature)
        what = "[batch, samples]" if not feature else f"[batch, frames, {feature[0]}]"
        if x.ndim != want:
            hint = " (a mono 1-D chunk: pass chunk[None])" if x.ndim == 1 and not feature else ""
            raise ValueError(
                f"A chunk must be rank {want}, {what}. Received: shape={x.shape}{hint}"
            )
        if tuple(x.shape[2:]) != feature:
            raise ValueError(f"A chunk must be {what}. Received: shape={x.shape}")
        if np.issubdtype(x.dtype, np.integer) and not feature:
            # Integer PCM by the layers' one rule: divided by its full scale.
            offset, full_scale = pcm_scale(str(x.dtype), "chunk")
            x = (x.astype(np.float32) - offset) / np.float32(full_scale)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(
                f"A chunk must be floating point (samples in [-1, 1]). Received: dtype={x.dtype}"
            )
        if self._batch is not None and x.shape[0] != self._batch:
            raise ValueError(
                f"This stream's batch is {self._batch}, but the chunk has batch {x.shape[0]}; "
                "reset() the stream to start another clip."
            )
        if x.shape[0] < 1:
            raise ValueError(f"A chunk needs a batch of at least 1. Received: shape={x.shape}")
        x = x.astype(np.float32, copy=False)
        finite = np.isfinite(x)
        if not finite.all():
            # Refused whole and before any state moves: PCEN's smoother would carry a NaN
            # into every later frame. The next good chunk continues as if this one never came.
            bad = np.argwhere(~finite)[0]
            raise ValueError(
                f"A chunk must be finite: {int((~finite).sum())} of its {x.size} values are "
                f"NaN or inf (the first at index {tuple(int(i) for i in bad)}, "
                f"{x[tuple(bad)]!r}). The chunk was refused and the stream's state is "
                "unchanged; replace the bad samples (e.g. with zeros) and send it again, or "
                "send the next chunk."
            )
        return x

    def _start(self, batch: int) -> None:
        self._batch = batch
        self._state = self.step.initial_state(batch)
        self._pending = np.zeros((batch, self.step.phase, *self.step.input_feature), np.float32)

    # ------------------------------------------------------------------ stepping

    def _advance(self, block: np.ndarray) -> tuple[int, np.ndarray]:
        y, self._state = self._run(ops.convert_to_tensor(block), self._state)
        index = self._steps * self.step.frames_per_step + self.step.out_first
        self._steps += 1
        return index, ops.convert_to_numpy(y)

    def _drain(self, limit: int | None = None) -> list:
        outs = []
        size = self.step.block
        while self._pending.shape[1] >= size:
            block, self._pending = self._pending[:, :size], self._pending[:, size:]
            outs.append(self._advance(block))
        return outs

    def _empty(self) -> np.ndarray:
        batch = self._batch or 0
        if self.step.waveform_out:
            return np.zeros((batch, 0), np.float32)
        return np.zeros((batch, 0, *self.step.output_feature), np.float32)

    def _select(self, outs: list, end: int | None) -> np.ndarray:
        """Keep the outputs that are the signal's: items ``0 .. end - 1`` (samples
        ``shift .. shift + end - 1`` before centring, for a decoder)."""
        if not outs:
            return self._empty()
        if not self.step.waveform_out:
            keep = []
            for first, y in outs:  # items first .. first + frames_per_step - 1
                lo = max(0, -first)
                hi = y.shape[1] if end is None else min(y.shape[1], end - first)
                if hi > lo:
                    keep.append(y[:, lo:hi])
            return np.concatenate(keep, axis=1) if keep else self._empty()
        decoder = self.step.stages[-1]
        hop, shift = decoder.hop, self._shift()
        pieces = []
        for i, y in outs:
            start = i * hop - shift  # output index of y's first sample
            lo = max(0, -start)
            hi = y.shape[1] if end is None else min(y.shape[1], end - start)
            if hi > lo:
                pieces.append(y[:, lo:hi])
        return np.concatenate(pieces, axis=1) if pieces else self._empty()

    def _shift(self) -> int:
        decoder = self.step.stages[-1].layer
        return decoder.frame_len // 2 if decoder.center else 0

    # ------------------------------------------------------------------ public

    def process(self, chunk: Any) -> np.ndarray:
        """Feed ``chunk`` (``[batch, samples]``, float); return what became complete."""
        if self._finished:
            raise ValueError("This stream was flushed; reset() it to start another clip.")
        x = self._check_chunk(chunk)
        if self._batch is None:
            self._start(x.shape[0])
        self._received += x.shape[1]
        self._pending = np.concatenate([self._pending, x], axis=1)
        return self._select(self._drain(), None)

    def flush(self) -> np.ndarray:
        """End the clip: return the outputs its end completes (offline's end padding)."""
        if self._finished:
            raise ValueError("This stream was flushed already; reset() it to start another.")
        self._finished = True
        if self._batch is None:
            return self._empty()
        step = self.step
        total = step.aligned_length(self._received) if step.input_feature == () else self._received
        counts = step.counts(total)
        count_in = total
        # The state's position trails the steps taken by whole periods: so do its limits.
        position = int(ops.convert_to_numpy(self._state["position"]))
        behind = self._steps - position
        for index, stage in enumerate(step.stages):
            if stage.needs_limit:
                for key, (i, name, _, _) in step._names.items():
                    if i == index and name == "limit":
                        limit = np.int32(count_in - behind * stage.m_in)
                        self._state[key] = ops.convert_to_tensor(limit)
            count_in = counts[index]
        if step.waveform_out:
            decoder = step.stages[-1].layer
            frames = counts[-1]
            raw = (frames - 1) * decoder.hop + decoder.frame_len if frames > 0 else 0
            end = raw - 2 * self._shift() if raw else 0
            if step.call_kwargs.get(decoder.name, {}).get("length") is not None:
                # A model that calls its decoder with a length returns the input's length.
                end = self._received
            last_item = -(-max(raw, 1) // decoder.hop) - 1
        else:
            end = counts[-1]
            last_item = end - 1
        feed = self._end_padding(total - self._received)
        outs = []
        while self._last_item() < last_item:
            need = step.block - self._pending.shape[1]
            if need > 0:
                self._pending = np.concatenate([self._pending, feed(need)], axis=1)
            outs.extend(self._drain())
        result = self._select(outs, end)
        if step.waveform_out and end > 0:
            # A decoder called with a length past its frames pads zeros, as offline.
            emitted = self._emitted_samples(end)
            if emitted < end:
                result = np.pad(result, [(0, 0), (0, end - emitted)])
        return result

    def _emitted_samples(self, end: int) -> int:
        decoder = self.step.stages[-1]
        last = self._last_item()
        return min(end, (last + 1) * decoder.hop - self._shift())

    def _last_item(self) -> int:
        """Index of the last output item emitted so far."""
        return self._steps * self.step.frames_per_step + self.step.out_first - 1

    def _end_padding(self, zeros: int) -> Callable[[int], np.ndarray]:
        """What follows the last sample: ``zeros`` zeros (to an aligned length), the
        encoder's centring zeros, then its ``pad_value`` (with ``pad_end``) or zeros."""
        first = self.step.stages[0]
        feature = self.step.input_feature
        value = 0.0
        if isinstance(first, EncoderStage):
            encoder = first.layer
            zeros += encoder.frame_len // 2 if encoder.center else 0
            value = encoder.pad_value if encoder.pad_end else 0.0
        given = [0]

        def feed(n: int) -> np.ndarray:
            out = np.full((self._batch, n, *feature), value, np.float32)
            start = given[0]
            out[:, : max(0, min(n, zeros - start))] = 0.0
            given[0] += n
            return out

        return feed
