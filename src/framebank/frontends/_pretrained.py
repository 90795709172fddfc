"""What the front ends of pretrained models share: the padding their references apply to the
waveform before framing, the frames they drop after it, and ``learnable=``.

A reference pads the waveform by reflection (``torch.stft``'s ``center=True``, Kaldi's
``snip_edges=False``) where framebank's :class:`~framebank.Encoder` pads with zeros; these
front ends do that padding (by index, so that repeated reflections are exact as Kaldi's) and
then run the encoder unpadded, which is why a front end with such a step does not stream.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from framebank import framing
from framebank.frontends.base import ReadyMade
from framebank.layers import Encoder

__all__ = [
    "LEARNABLE",
    "Pretrained",
    "check_defined_rate",
    "check_learnable",
    "mel_encoder",
    "reflect_pad",
]

# learnable=: what trains from the reference's numbers.
LEARNABLE = (False, True, "mel", "basis")


def check_learnable(learnable: Any) -> tuple[bool, bool]:
    """``(basis trains, mel trains)`` for a ``learnable`` option (True: both)."""
    if not any(learnable is v or (isinstance(v, str) and learnable == v) for v in LEARNABLE):
        raise ValueError(
            "`learnable` must be False (fixed), True (the Fourier basis and the mel weights "
            f"train), 'mel' or 'basis'. Received: learnable={learnable!r}"
        )
    return learnable in (True, "basis"), learnable in (True, "mel")


def check_defined_rate(model: str, sample_rate: Any, rate: int = 16000) -> None:
    """Refuse a ``sample_rate`` other than the one ``model``'s features are defined at: the
    pretrained model saw features at that rate only (resample the audio to it instead)."""
    if sample_rate != rate:
        raise ValueError(
            f"{model}'s front end is defined at {rate} Hz. Received: sample_rate={sample_rate!r}"
        )


def mel_encoder(
    frame_len: int,
    hop: int,
    method: str,
    sample_rate: Any,
    n_mels: int,
    train_basis: bool,
    name: str = "stft",
    **options: Any,
) -> Encoder:
    """The STFT encoder of a mel front end: the ``mel`` family (``fft_length`` defaults to
    ``frame_len``; ``options`` are the family's and the framing's), its Fourier basis
    trainable only where ``train_basis`` says (``MelSpectrum.for_encoder`` completes it)."""
    encoder = Encoder(
        frame_len=frame_len,
        hop=hop,
        method=method,
        filterbank="mel",
        sample_rate=sample_rate,
        n_mels=n_mels,
        name=name,
        **{"fft_length": frame_len, **options},
    )
    encoder.filterbank.trainable = train_basis
    return encoder


def reflect_pad(x: Any, left: int, length: Any, include_edge: bool) -> Any:
    """``[batch, length]``: samples ``-left .. length - left - 1`` of ``x`` ``[batch, time]``,
    reflected at both ends as often as needed.

    ``include_edge``: Kaldi's reflection (``-1 -> 0``, numpy's ``symmetric``); otherwise
    ``torch.stft``'s ``reflect`` (``-1 -> 1``).
    """
    time = ops.shape(x)[1]
    edge = 0 if include_edge else 1
    right = length - left - time if isinstance(length, int) and isinstance(time, int) else None
    if right is not None and 0 <= left <= time - edge and right <= time - edge:
        # One reflection at each end: slices and flips, whose gradients are slices too
        # (the gather's is a scatter, which costs TensorFlow more than the STFT's padding).
        head = ops.flip(x[:, edge : edge + left], axis=1)
        tail = ops.flip(x[:, time - edge - max(right, 0) : time - edge], axis=1)
        return ops.concatenate([head, x, tail], axis=1)[:, :length]
    index = ops.arange(length, dtype="int32") - left
    period = 2 * time if include_edge else 2 * time - 2
    index = ops.mod(index, ops.cast(ops.maximum(period, 1), "int32"))
    mirror = (period - 1 if include_edge else period) - index
    index = ops.where(index >= time, mirror, index)
    return ops.take(x, index, axis=1)


class Pretrained(ReadyMade):
    """A ready-made front end that reproduces a pretrained model's own, number for number.

    A subclass sets :attr:`reference` and may override :meth:`prepare` (the waveform before
    the encoder), :meth:`trim` (the encoder's frames before post-processing) and their
    shapes. The projection runs in float32 under mixed policies: the references' powers
    (int16-scale audio for Kaldi) are past float16's range, and they are what is matched.

    Attributes:
        reference: the implementation matched, in words.
        not_streamable: why the front end cannot run chunk by chunk, or ``""``.
    """

    reference: str = ""

    def __init__(self, encoder: Any, steps: list, options: dict, **kwargs: Any) -> None:
        super().__init__(encoder, steps, options, **kwargs)
        if self.dtype_policy.compute_dtype in ("float16", "bfloat16"):
            for layer in (encoder, encoder.filterbank):
                layer.dtype_policy = keras.dtype_policies.get("float32")

    @property
    def not_streamable(self) -> str:
        return ""

    def prepare(self, waveform: Any) -> Any:
        """The waveform ``[batch, time]`` the encoder frames, unpadded."""
        return waveform

    def prepared_length(self, time: int | None) -> int | None:
        return time

    def trim(self, frames: Any) -> Any:
        """The encoder's coefficients ``[batch, frames, num_basis]`` kept."""
        return frames

    def trimmed_frames(self, frames: int | None) -> int | None:
        return frames

    @property
    def shortest_input(self) -> int:
        """The fewest samples the reference's padding takes (its reflection needs more
        samples than it reflects); fewer is an error, whatever the frames."""
        return 1

    _window_option = None  # the reference's window is what the pretrained model expects

    def _length_rule(self) -> str:
        return f"one frame is {self.encoder.frame_len} samples"

    def _frames(self, samples: int) -> int:
        # The frames the reference makes, before post-processing (which may pad them).
        if samples < self.shortest_input:
            return 0
        frames = self.encoder.compute_output_shape((None, self.prepared_length(samples)))[1]
        return self.trimmed_frames(frames)

    def call(self, waveform: Any) -> Any:
        x, _ = framing.as_batch_time(waveform, dtype=self.encoder.compute_dtype)
        x = self.trim(self.encoder(self.prepare(x)))
        for step in self.postprocessing:
            x = step(x)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if input_shape[1] is not None and self._frames(input_shape[1]) < 1:
            self._check_input_shape(input_shape)  # raises, with the length that works
        shape = (input_shape[0], self.prepared_length(input_shape[1]))
        batch, frames, channels = self.encoder.compute_output_shape(shape)
        shape = (batch, self.trimmed_frames(frames), channels)
        for step in self.postprocessing:
            shape = step.compute_output_shape(shape)
        return shape
