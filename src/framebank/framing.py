"""Framing: which samples form frame *f*, and the inverse overlap-add.

Everything here is written with ``keras.ops`` so that it runs, with gradients,
on every Keras backend. The rules (frame count, padding) live in this module
only; the strided-convolution method imports them instead of restating them.

Conventions (as ``tf.signal.frame``):

* ``pad_end=False``: ``1 + (time - frame_len) // hop`` frames; a signal shorter
  than one frame is an error (``tf.signal.frame`` would silently return zero
  frames) where its length is known when the graph is built; a length known
  only at run time gives zero frames, as ``tf.signal.frame`` does.
* ``pad_end=True``: ``ceil(time / hop)`` frames, the end padded with
  ``pad_value``.
* ``center=True``: ``frame_len // 2`` zeros on both sides first, as
  ``librosa.stft(center=True)`` does, so frame *f* is centred on sample
  ``f * hop``.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from framebank._validation import (
    AudioInput,
    as_real,
    as_waveform,
    check_bool,
    check_floating_policy,
    check_framing_args,
    check_non_negative_int,
    check_number,
    check_positive_int,
    is_tensor,
)

__all__ = [
    "frame",
    "overlap_add",
    "num_frames",
    "pad_signal",
    "frame_valid",
    "divide_by_overlapped",
    "Framing",
    "OverlapAdd",
]


def num_frames(time: Any, frame_len: int, hop: int, pad_end: bool = False) -> Any:
    """Number of frames for a signal of ``time`` samples (after any centring).

    ``tf.signal.frame``'s rule: ``max(0, 1 + (time - frame_len) // hop)``
    without end padding, ``ceil(time / hop)`` with it. ``time`` is an int >= 0,
    or a scalar tensor for a length known only at run time (then so is the
    result).

    Example:
        >>> num_frames(10, 4, 3), num_frames(10, 4, 3, pad_end=True)
        (3, 4)
    """
    frame_len, hop = check_framing_args(frame_len, hop)
    pad_end = check_bool("pad_end", pad_end)
    if not is_tensor(time):
        time = check_non_negative_int("time", time)
    # Non-negative numerators only: tf2onnx turns an integer floor division into ONNX's
    # Div, which truncates toward zero, so a negative one exported one frame wrong.
    if pad_end:
        return (time + hop - 1) // hop
    if isinstance(time, int):
        return max(0, time - frame_len + hop) // hop
    return ops.maximum(0, time - frame_len + hop) // hop


def as_batch_time(signal: Any, name: str = "signal", dtype: str | None = None) -> tuple[Any, int]:
    """Return ``signal`` as a float ``[batch, time]`` tensor and its original rank.

    Accepts ``[time]``, ``[batch, time]`` and ``[batch, time, 1]``; integer PCM
    (int8, int16, int32, uint8) is scaled by its full scale to ``dtype`` (default
    ``keras.backend.floatx()``), as soundfile reads it.
    """
    x = as_waveform(signal, name, dtype or keras.backend.floatx())
    rank = len(x.shape)
    if rank == 1:
        x = ops.expand_dims(x, 0)
    elif rank == 3:
        if x.shape[-1] != 1:
            raise ValueError(
                f"`{name}` of rank 3 must be mono, [batch, time, 1]. "
                f"Received: {name}.shape={tuple(x.shape)} (for [batch, time, channels], wrap "
                "the layer: framebank.Multichannel(layer))"
            )
        x = ops.squeeze(x, -1)
    elif rank != 2:
        raise ValueError(
            f"`{name}` must be [time], [batch, time] or [batch, time, 1]. "
            f"Received: {name}.shape={tuple(x.shape)} (rank {rank})"
        )
    return x, rank


def _batch_len(x: Any) -> Any:
    """The batch axis length to reshape with: an int, a tensor, or -1 for a Keras symbolic tensor.

    Why not always -1: a reshape of zero frames cannot infer the batch from -1.
    """
    static = x.shape[0]
    if static is not None:
        return static
    return -1 if keras.backend.is_keras_tensor(x) else ops.shape(x)[0]


def axis_len(x: Any, axis: int) -> Any:
    """The length of ``x`` along ``axis``: a Python int when static, else a tensor."""
    static = x.shape[axis]
    return static if static is not None else ops.shape(x)[axis]


def _time_len(x: Any) -> Any:
    """The time axis length of a ``[batch, time]`` tensor: a Python int when static."""
    return axis_len(x, 1)


def pad_signal(
    signal: Any,
    frame_len: int,
    hop: int,
    pad_end: bool = False,
    center: bool = False,
    pad_value: float = 0.0,
    pad_mode: str = "constant",
) -> Any:
    """Pad a ``[batch, time]`` signal so that valid framing gives the requested frames.

    After this, frames are exactly ``signal[:, f*hop : f*hop + frame_len]`` for
    ``f < num_frames(padded_time, frame_len, hop)``. This is the single padding
    rule shared by :func:`frame` and the ``strided_conv`` method. ``pad_mode`` is how
    ``center`` pads: ``"constant"`` (zeros) or ``"reflect"`` (the signal mirrored about
    its end samples, ``numpy.pad``'s and librosa's ``"reflect"``; needs more than
    ``frame_len // 2`` samples).

    Returns:
        ``[batch, padded_time]``.
    """
    x = signal
    if center:
        half = frame_len // 2
        if pad_mode == "reflect":
            check_reflectable(x, half)
            x = ops.pad(x, [[0, 0], [half, half]], mode="reflect")
        else:
            x = ops.pad(x, [[0, 0], [half, half]], constant_values=0.0)
    if pad_end:
        time = _time_len(x)
        extra = (num_frames(time, frame_len, hop, pad_end=True) - 1) * hop + frame_len - time
        if isinstance(time, int):
            if extra > 0:
                x = ops.pad(x, [[0, 0], [0, extra]], constant_values=pad_value)
        else:
            x = ops.pad(x, [[0, 0], [0, ops.maximum(0, extra)]], constant_values=pad_value)
    return x


PAD_MODES = ("constant", "reflect")


def check_pad_mode(pad_mode: Any) -> str:
    """``pad_mode`` as one of :data:`PAD_MODES` (how ``center=True`` pads)."""
    if pad_mode not in PAD_MODES:
        raise ValueError(
            f"`pad_mode` must be 'constant' (zeros, librosa's default) or 'reflect'. "
            f"Received: pad_mode={pad_mode!r}"
        )
    return pad_mode


def check_reflectable(x: Any, half: int) -> None:
    """Reflect padding of ``half`` samples needs more than ``half`` samples."""
    time = x.shape[1]
    if time is not None and time <= half:
        raise ValueError(
            f"pad_mode='reflect' pads {half} samples by mirroring the signal, so it needs at "
            f"least {half + 1} samples. Received: {time} samples. Pass a longer signal or "
            "pad_mode='constant'."
        )


def check_long_enough(x: Any, frame_len: int, name: str = "signal") -> None:
    time = x.shape[1]
    if time is not None and time < frame_len:
        raise ValueError(
            f"`{name}` is shorter than one frame: {time} samples < frame_len={frame_len}. "
            "Pass pad_end=True (or center=True) to pad it, or use a shorter frame_len."
        )


def frame(
    signal: Any,
    frame_len: int,
    hop: int,
    pad_end: bool = False,
    pad_value: float = 0.0,
    center: bool = False,
    pad_mode: str = "constant",
) -> Any:
    """Slice a waveform into (possibly overlapping) frames.

    Equal to ``tf.signal.frame(signal, frame_len, hop, pad_end, pad_value)``
    on the last axis, written with ``keras.ops`` only.

    Args:
        signal: ``[time]``, ``[batch, time]`` or ``[batch, time, 1]``; float, or an
            int/bool dtype (cast to ``keras.backend.floatx()``).
        frame_len: samples per frame, >= 1.
        hop: samples between frame starts, >= 1.
        pad_end: pad the end with ``pad_value`` to ``ceil(time / hop)`` frames.
        pad_value: value used by ``pad_end``.
        center: pad ``frame_len // 2`` samples on both sides first (librosa's
            ``center=True``), as ``pad_mode`` says.
        pad_mode: how ``center`` pads: ``"constant"`` (zeros, librosa's default) or
            ``"reflect"`` (the signal mirrored about its end samples, ``numpy.pad``'s,
            librosa's and ``torch.stft``'s ``"reflect"``; needs more than ``frame_len // 2``
            samples).

    Returns:
        ``[batch, frames, frame_len]`` (``[frames, frame_len]`` for a 1-D input).

    Raises:
        TypeError, ValueError: non-integer or non-positive ``frame_len``/``hop``,
            an unreadable rank or dtype, an unknown ``pad_mode``, a signal too short to
            reflect, or (``pad_end=False``) a signal shorter than one frame.

    Example:
        >>> frame(np.arange(10.0), frame_len=4, hop=3).shape
        (3, 4)
    """
    frame_len, hop = check_framing_args(frame_len, hop)
    pad_end, center = check_bool("pad_end", pad_end), check_bool("center", center)
    pad_value = check_number("pad_value", pad_value)
    pad_mode = check_pad_mode(pad_mode)
    x, rank = as_batch_time(signal)
    if x.shape[1] == 0:
        raise ValueError("`signal` is empty (0 samples); there is nothing to frame.")
    x = pad_signal(x, frame_len, hop, pad_end, center, pad_value, pad_mode)
    check_long_enough(x, frame_len)
    frames = frame_valid(x, frame_len, hop)
    return frames[0] if rank == 1 else frames


# The most hops a frame may span for TensorFlow's framing gradient to be an
# overlap-add (see frame_valid): it costs one slice, pad and add per hop, so it
# loses to the gather's gradient beyond a few (benchmarks/trials.py framing-gradient).
OVERLAP_ADD_GRADIENT_SEGMENTS = 8


def frame_valid(x: Any, frame_len: int, hop: int) -> Any:
    """Frames of an already padded ``[batch, time]`` signal: ``[batch, frames, frame_len]``.

    "Valid" as in a convolution's ``padding="valid"``: only frames that lie
    wholly inside ``x`` (pad it with :func:`pad_signal` first). Non-overlapping
    frames are a reshape; otherwise :func:`_gather_frames`. Under TensorFlow,
    when a frame spans at most :data:`OVERLAP_ADD_GRADIENT_SEGMENTS` hops, the
    gradient with respect to ``x`` is an explicit overlap-add instead of the
    gather's own ``UnsortedSegmentSum``, which is slower there (under JAX and
    torch the gather's own gradient is as fast; ``benchmarks/README.md``).
    """
    time = _time_len(x)
    n = num_frames(time, frame_len, hop)
    if hop == frame_len:
        return ops.reshape(x[:, : n * hop], (_batch_len(x), n, frame_len))
    # A symbolic input (``keras.Input``) has no gradient to override, and
    # TensorFlow's custom_gradient cannot take one.
    if (
        keras.backend.backend() != "tensorflow"
        or keras.backend.is_keras_tensor(x)
        or -(-frame_len // hop) > OVERLAP_ADD_GRADIENT_SEGMENTS
    ):
        return _gather_frames(x, n, frame_len, hop)

    @ops.custom_gradient
    def frames_of(signal: Any) -> tuple[Any, Any]:
        # ``grad(*args, upstream=None)`` is the signature keras.ops.custom_gradient
        # documents for every backend; TensorFlow passes the upstream positionally.
        def grad(*args: Any, upstream: Any = None) -> Any:
            if upstream is None:
                (upstream,) = args
            summed = _overlap_add_blocks(upstream, hop)
            return fit_length(summed, time)

        return _gather_frames(signal, n, frame_len, hop), grad

    return frames_of(x)


def samples_used(n: Any, frame_len: int, hop: int) -> Any:
    """How many samples ``n`` frames span: ``(n - 1) * hop + frame_len``, and 0 for zero
    frames (a signal shorter than one frame), where that formula could exceed the signal
    or be negative. ``n`` is an int or a scalar tensor."""
    used = (n - 1) * hop + frame_len
    if isinstance(n, int):
        return used if n > 0 else 0
    return ops.where(n > 0, used, 0)


def _gather_frames(x: Any, n: Any, frame_len: int, hop: int) -> Any:
    """``n`` frames of ``x`` (``[batch, time]``) by one gather of whole sub-frames.

    Why this shape of computation: split the signal into sub-frames of
    ``g = gcd(frame_len, hop)`` samples (a free reshape); every frame is then
    ``frame_len / g`` consecutive sub-frames, so one gather of whole sub-frames
    (indices ``frames x frame_len/g``, ``g`` times fewer than gathering samples)
    builds all frames. ``tf.signal.frame`` does the same.
    """
    used = samples_used(n, frame_len, hop)
    batch = _batch_len(x)
    g = math.gcd(frame_len, hop)
    sub_per_frame, sub_per_hop = frame_len // g, hop // g
    subframes = ops.reshape(x[:, :used], (batch, used // g, g))
    index = ops.expand_dims(ops.arange(n) * sub_per_hop, 1) + ops.expand_dims(
        ops.arange(sub_per_frame), 0
    )
    gathered = ops.take(subframes, index, axis=1)  # [batch, n, sub_per_frame, g]
    return ops.reshape(gathered, (batch, n, frame_len))


def fit_length(x: Any, length: Any) -> Any:
    """``x`` (``[batch, time]``) cut or zero-padded at the end to ``length`` samples."""
    have = _time_len(x)
    if isinstance(have, int) and isinstance(length, int):
        if have >= length:
            return x[:, :length]
        return ops.pad(x, [[0, 0], [0, length - have]])
    x = ops.pad(x, [[0, 0], [0, ops.maximum(0, length - have)]])
    return x[:, :length]


def overlap_add(frames: Any, hop: int, window: Any = None) -> Any:
    """Join frames by overlap-add: the inverse of :func:`frame`.

    Without ``window`` it equals ``tf.signal.overlap_and_add(frames, hop)`` (no
    normalisation). With ``window`` (``[frame_len]``) each frame is multiplied
    by the window again (synthesis window) and the sum is divided by the
    overlapped squared window wherever that is non-zero, so
    ``overlap_add(frame(x, L, hop) * w, hop, window=w)`` returns ``x`` exactly
    where the frames cover it (weighted overlap-add with a squared-window
    normaliser, as ``istft`` does).

    Args:
        frames: ``[batch, frames, frame_len]`` or ``[frames, frame_len]``.
        hop: samples between frame starts, >= 1.
        window: optional ``[frame_len]`` analysis window.

    Returns:
        ``[batch, (frames - 1) * hop + frame_len]`` (``[time]`` for 2-D input).
    """
    hop = check_positive_int("hop", hop)
    y = as_real(frames, "frames", keras.backend.floatx())
    rank = len(y.shape)
    if rank == 2:
        y = ops.expand_dims(y, 0)
    elif rank != 3:
        raise ValueError(
            "`frames` must be [batch, frames, frame_len] or [frames, frame_len]. "
            f"Received: frames.shape={tuple(y.shape)} (rank {rank})"
        )
    frame_len = y.shape[-1]
    if frame_len is None:
        raise ValueError("`frames` must have a known frame_len (last axis). Received: None")
    if window is None:
        out = _overlap_add_raw(y, hop)
    else:
        w = ops.cast(ops.convert_to_tensor(window), y.dtype)
        if tuple(w.shape) != (frame_len,):
            raise ValueError(
                f"`window` must have shape [frame_len]=({frame_len},). "
                f"Received: window.shape={tuple(w.shape)}"
            )
        # Weighted overlap-add: the window is applied again as synthesis window,
        # then the sum is normalised by the overlapped squared window.
        out = _overlap_add_raw(y * w, hop)
        # Divide wherever the normaliser is a normal number, as librosa's istft does: an
        # absolute cut-off (1e-8) would drop sample 1 of a periodic Hann window of 400
        # (w[1]**2 = 3.8e-9), which x * w**2 / w**2 recovers to float rounding.
        tiny = ops.cast(float(np.finfo(_numpy_dtype(y.dtype)).tiny), y.dtype)
        out = divide_by_overlapped(out, ops.square(w), hop, axis_len(y, 1), tiny)
    return out[0] if rank == 2 else out


def divide_by_overlapped(out: Any, weights: Any, hop: int, count: Any, floor: Any) -> Any:
    """Normalise an overlap-add by the overlap-add of per-sample frame ``weights``.

    ``out`` (``[batch, (count - 1) * hop + frame_len]``) is the overlap-add of
    ``count`` frames each weighted by ``weights`` (``[frame_len]``, e.g. the
    squared window); every sample is divided by the summed weights it received
    wherever that sum exceeds ``floor``, and set to 0 where no frame weighs it.
    """
    frame_len = weights.shape[0]
    norm = _overlap_add_raw(ops.broadcast_to(weights[None, None, :], (1, count, frame_len)), hop)
    safe = ops.where(norm > floor, norm, ops.ones_like(norm))
    return ops.where(norm > floor, out / safe, ops.zeros_like(out))


def _numpy_dtype(dtype: Any) -> Any:
    """The numpy dtype of a backend float dtype (bfloat16 by its float32 range: same exponent)."""
    name = keras.backend.standardize_dtype(dtype)
    return np.float32 if name == "bfloat16" else np.dtype(name)


def _overlap_add_raw(y: Any, hop: int) -> Any:
    """Overlap-add of ``[batch, frames, frame_len]``: ``[batch, (frames-1)*hop + frame_len]``."""
    frame_len = y.shape[-1]
    count = axis_len(y, 1)
    return _overlap_add_blocks(y, hop)[:, : (count - 1) * hop + frame_len]


def _overlap_add_blocks(y: Any, hop: int) -> Any:
    """Overlap-add of ``[batch, frames, frame_len]`` in whole hops.

    Why: column segment *k* (``k*hop .. (k+1)*hop``) of frame *f* lands in
    output block ``f + k``, so the sum is one slice, one pad (shifting it by
    *k* blocks) and one add per segment, with no scatter (slow gradients on
    some backends). Slicing columns, instead of padding every frame to whole
    segments and reshaping, skips a padded copy of all frames
    (``benchmarks/trials.py overlap-add``).

    Returns:
        ``[batch, (frames + segments - 1) * hop]``, ``segments =
        ceil(frame_len / hop)``: the tail past the last frame is zeros.
    """
    frame_len = y.shape[-1]
    count = axis_len(y, 1)
    segments = -(-frame_len // hop)
    total = None
    for k in range(segments):
        part = y[:, :, k * hop : (k + 1) * hop]  # lands in blocks k .. k + frames - 1
        width = min(hop, frame_len - k * hop)
        part = ops.pad(part, [[0, 0], [k, segments - 1 - k], [0, hop - width]])
        total = part if total is None else total + part
    return ops.reshape(total, (_batch_len(y), (count + segments - 1) * hop))


@keras.saving.register_keras_serializable(package="framebank")
class Framing(AudioInput, keras.layers.Layer):
    """Keras layer around :func:`frame`.

    Args:
        frame_len: samples per frame.
        hop: samples between frame starts.
        pad_end, pad_value, center, pad_mode: as in :func:`frame`.

    Input shape:
        ``[batch, time]`` or ``[batch, time, 1]``.

    Output shape:
        ``[batch, frames, frame_len]``.
    """

    def __init__(
        self,
        frame_len: int,
        hop: int,
        pad_end: bool = False,
        pad_value: float = 0.0,
        center: bool = False,
        pad_mode: str = "constant",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_floating_policy("Framing", self.dtype_policy)
        self.frame_len, self.hop = check_framing_args(frame_len, hop)
        self.pad_end = check_bool("pad_end", pad_end)
        self.pad_value = check_number("pad_value", pad_value)
        self.center = check_bool("center", center)
        self.pad_mode = check_pad_mode(pad_mode)

    def call(self, signal: Any) -> Any:
        signal = as_waveform(signal, "signal", self.compute_dtype)
        return frame(signal, **framing_config(self))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], frames_for_shape(input_shape, self), self.frame_len)

    def get_config(self) -> dict:
        return {**super().get_config(), **framing_config(self)}


# What a layer that frames its input (Framing, Encoder) holds and saves of its framing.
FRAMING_OPTIONS = ("frame_len", "hop", "pad_end", "pad_value", "center", "pad_mode")


def framing_config(layer: Any) -> dict:
    """The :data:`FRAMING_OPTIONS` of a layer that frames, as its ``get_config`` saves them."""
    return {name: getattr(layer, name) for name in FRAMING_OPTIONS}


def frames_for_shape(input_shape: tuple, spec: Any) -> int | None:
    """Static frame count for a ``[batch, time(, 1)]`` input shape, or None if unknown.

    ``spec`` is anything with ``frame_len``, ``hop``, ``pad_end`` and ``center``.
    """
    time = input_shape[1] if len(input_shape) >= 2 else input_shape[0]
    if time is None:
        return None
    if spec.center:
        time += 2 * (spec.frame_len // 2)
    return num_frames(time, spec.frame_len, spec.hop, spec.pad_end)


@keras.saving.register_keras_serializable(package="framebank")
class OverlapAdd(keras.layers.Layer):
    """Keras layer around :func:`overlap_add`.

    Args:
        hop: samples between frame starts.
        window: optional ``[frame_len]`` window (list or array) for the
            normalised, exactly invertible overlap-add.

    Input shape:
        ``[batch, frames, frame_len]``.

    Output shape:
        ``[batch, (frames - 1) * hop + frame_len]``.
    """

    def __init__(self, hop: int, window: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_floating_policy("OverlapAdd", self.dtype_policy)
        self.hop = check_positive_int("hop", hop)
        self.window = None if window is None else np.asarray(window, dtype="float64")
        if self.window is not None and self.window.ndim != 1:
            raise ValueError(
                f"`window` must be 1-D [frame_len]. Received: window.shape={self.window.shape}"
            )

    def call(self, frames: Any) -> Any:
        return overlap_add(as_real(frames, "frames", self.compute_dtype), self.hop, self.window)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        count, frame_len = input_shape[1], input_shape[2]
        time = None if count is None else (count - 1) * self.hop + frame_len
        return (input_shape[0], time)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(hop=self.hop, window=None if self.window is None else self.window.tolist())
        return config
