"""Execution methods: how ``frames @ basis`` is computed, and ``coefficients @ basis.T`` back.

Every method computes the same linear map in both directions:

* analysis, coefficients ``[batch, frames, num_basis] = frames [batch, frames,
  frame_len] @ basis [frame_len, num_basis]`` (:meth:`Method.project`, or
  :meth:`Method.project_signal` for a method that reads the waveform);
* synthesis, a waveform ``[batch, time]`` from the overlap-add of
  ``coefficients @ synthesis [num_basis, frame_len]``
  (:meth:`Method.synthesize`, used by :class:`~framebank.Decoder`).

Each really runs its own operation (a convolution method calls a convolution
op), because comparing them is the point. A method never knows where its basis
came from; it receives a tensor and reshapes it to its own kernel layout at
call time, so the trained weight is the same whatever the method.

Methods are chosen by name through :data:`METHODS` (read-only); a user adds one
with :func:`register_method`, and it then works in ``Encoder``,
``FrameProjection``, ``Decoder`` and front-end configs. The measurements behind
``method="auto"`` are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import types
from collections.abc import Collection, Iterator, Mapping
from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

# value_now: also asked for here by its callers before it moved to _tensors.
from framebank._tensors import known_cond, value_now  # noqa: F401
from framebank._validation import check_registry_name, register_class
from framebank.device import current_device
from framebank.framing import axis_len, frame_valid, num_frames, overlap_add
from framebank.structures import WindowedDFT

__all__ = [
    "Method",
    "METHODS",
    "register_method",
    "get_method",
    "ReshapeConv",
    "PointwiseConv",
    "DenseMethod",
    "Matmul",
    "StridedConv",
    "RFFT",
    "portable",
    "runnable",
]

AUTO = "auto"  # the measured pick, resolved when a layer is made

_REGISTRY: dict[str, type[Method]] = {}
# What users see: a read-only view (register_method is the way in).
METHODS: Mapping[str, type[Method]] = types.MappingProxyType(_REGISTRY)


def register_method(cls: type[Method] | None = None, *, override: bool = False) -> Any:
    """Class decorator: make a :class:`Method` subclass available by its ``name``.

    A framed method implements :meth:`Method.project` only; synthesis then runs
    the same product on the coefficients, followed by overlap-add::

        @framebank.register_method
        class Einsum(framebank.Method):
            name = "einsum"

            def project(self, frames, basis):
                return keras.ops.einsum("bfl,ln->bfn", frames, basis)

    A name already registered to another class (``"matmul"``) raises a ``ValueError``
    unless registered with ``@framebank.register_method(override=True)``.
    """
    if cls is None:
        return lambda cls: register_method(cls, override=override)
    if isinstance(cls, type) and issubclass(cls, Method):
        if not isinstance(cls.name, str):  # the rule of every registry's names
            check_registry_name("register_method", cls.name)
        if not cls.name:
            raise ValueError(f"A method class needs a non-empty `name`. Received: {cls!r}")
        if cls.name == AUTO:
            raise ValueError(f"{AUTO!r} is reserved for the measured pick. Received: {cls!r}")
    register_class(_REGISTRY, getattr(cls, "name", None), cls, Method, "register_method", override)
    return cls


def get_method(method: str | Method) -> Method:
    """Return a method instance from its name (or pass an instance through)."""
    if isinstance(method, Method):
        return method
    if not isinstance(method, str):
        raise TypeError(
            f"`method` must be a method name or a Method instance. Received: method={method!r} "
            f"of type {type(method).__name__}"
        )
    if method == AUTO:
        raise ValueError(
            f"{AUTO!r} is resolved where a layer is made (framebank.methods.resolve_method); "
            f"get_method takes one of: {', '.join(sorted(_REGISTRY))}"
        )
    try:
        return _REGISTRY[method]()
    except KeyError:
        raise _unknown_method(method) from None


def _unknown_method(method: str) -> ValueError:
    """The error for a name no layer accepts, listing every one that a layer does."""
    # Names are case-sensitive, as Keras's activations and initializers are.
    names = [AUTO, *sorted(_REGISTRY)]
    near = next((n for n in names if n == method.lower() != method), None)
    hint = f" (names are lowercase: {near!r})" if near else ""
    return ValueError(f"Unknown method {method!r}{hint}. Expected one of: {', '.join(names)}")


def _leading_shape(x: Any) -> tuple:
    """``x.shape[:-1]`` with dynamic dimensions as scalar tensors."""
    dynamic = ops.shape(x)
    return tuple(s if s is not None else dynamic[i] for i, s in enumerate(x.shape[:-1]))


def with_static_channels(y: Any, batch: int | None, num_basis: int) -> Any:
    """``y`` ``[batch, frames, num_basis]`` with its static batch (where known) and
    ``num_basis``: a TensorFlow trace of an unknown length loses them through some ops (the
    FFT's slices), and a layer after (``LayerNormalization``) needs the channel count.
    Returns ``y`` itself, no op added, when its static shape already says so."""
    if y.shape[-1] == num_basis and (batch is None or y.shape[0] == batch):
        return y
    dynamic = ops.shape(y)
    frames = y.shape[1] if y.shape[1] is not None else dynamic[1]
    return ops.reshape(y, (batch if batch is not None else dynamic[0], frames, num_basis))


class Method:
    """Base class of execution methods.

    A framed method implements :meth:`project`; synthesis reuses it (the
    product ``coefficients @ synthesis`` has the same form) and overlap-adds.
    A frame-free method implements :meth:`project_signal` and :meth:`synthesize`.
    No frame gives ``[batch, 0, num_basis]`` from every method: frames
    ``[batch, 0, frame_len]``, or a signal shorter than one frame (layers refuse such a
    signal before, with a ``ValueError``).

    Attributes:
        name: the registry name.
        needs_frames: True when the method consumes materialised frames
            ``[batch, frames, frame_len]``; False when it reads the (padded)
            waveform ``[batch, time]`` directly.
        exportable: False when its ops have no TFLite/ONNX equivalent.
        structure: None for a method that runs any basis; otherwise the name of
            the filterbank attribute describing the structure it exploits
            (``"windowed_dft"``), which the layer hands to
            :meth:`project_structured`.
        fallback: a method computing the same numbers that runs in this one's
            place where it cannot: its structure is absent, or (inside
            :func:`portable`) its ops cannot be exported.
    """

    name: ClassVar[str] = ""
    needs_frames: ClassVar[bool] = True
    exportable: ClassVar[bool] = True
    structure: ClassVar[str | None] = None
    fallback: ClassVar[str | None] = None

    def kernel_layout(self, frame_len: int, num_basis: int) -> tuple[int, ...]:
        """Shape of the kernel the equivalent plain Keras layer would hold.

        Used only to reproduce Keras's own default initialisation
        (``keras_default``), whose fan-out depends on this layout.
        """
        return (frame_len, num_basis)

    def project(self, frames: Any, basis: Any) -> Any:
        """``[batch, frames, frame_len] x [frame_len, num_basis] -> [batch, frames, num_basis]``."""
        raise NotImplementedError

    def project_signal(self, signal: Any, basis: Any, hop: int) -> Any:
        """``[batch, time] -> [batch, frames, num_basis]`` for frame-free methods."""
        raise NotImplementedError(f"method {self.name!r} consumes frames, not a waveform")

    def project_structured(self, x: Any, basis: Any, structure: Any, hop: int) -> Any:
        """The coefficients where the basis is described by ``structure`` (methods with a
        ``structure``): ``x`` is the padded waveform ``[batch, time]`` for a frame-free
        method, frames for a framed one; ``basis`` is the tensor, which the description
        must equal."""
        raise NotImplementedError(f"method {self.name!r} runs an explicit basis")

    def synthesize(self, coefficients: Any, synthesis: Any, hop: int) -> Any:
        """Coefficients ``[batch, frames, num_basis]`` and a synthesis basis
        ``[num_basis, frame_len]`` to ``[batch, (frames - 1) * hop + frame_len]``.

        The default runs this method's own product on the coefficients (frames
        ``= coefficients @ synthesis``), then overlap-adds them.
        """
        return overlap_add(self.project(coefficients, synthesis), hop)

    def synthesize_structured(
        self, coefficients: Any, synthesis: Any, basis: Any, structure: Any, hop: int
    ) -> Any:
        """:meth:`synthesize` where ``synthesis`` is described by ``structure`` (methods
        with a ``structure``): ``basis`` is the analysis weight the description inverts."""
        raise NotImplementedError(f"method {self.name!r} runs an explicit synthesis basis")

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@register_method
class ReshapeConv(Method):
    """Method 1: every frame becomes a one-channel sequence of length ``frame_len``.

    ``[batch*frames, frame_len, 1]`` convolved with a ``[frame_len, 1, num_basis]``
    kernel (valid padding) gives one output step per frame.
    """

    name = "reshape_conv"

    def kernel_layout(self, frame_len: int, num_basis: int) -> tuple[int, ...]:
        return (frame_len, 1, num_basis)

    def project(self, frames: Any, basis: Any) -> Any:
        frame_len, num_basis = basis.shape
        lead = _leading_shape(frames)
        x = ops.reshape(frames, (-1, frame_len, 1))
        kernel = ops.reshape(basis, (frame_len, 1, num_basis))
        y = ops.conv(x, kernel, strides=1, padding="valid")  # [batch*frames, 1, num_basis]
        return ops.reshape(y, (*lead, num_basis))


@register_method
class PointwiseConv(Method):
    """Method 2: a kernel-size-1 Conv1D over frames, ``frame_len`` as channels."""

    name = "pointwise_conv"

    def kernel_layout(self, frame_len: int, num_basis: int) -> tuple[int, ...]:
        return (1, frame_len, num_basis)

    def project(self, frames: Any, basis: Any) -> Any:
        frame_len, num_basis = basis.shape
        if frames.shape[1] == 0:
            # Nothing to convolve, and torch's conv refuses an empty sequence.
            return ops.matmul(frames, basis)
        kernel = ops.reshape(basis, (1, frame_len, num_basis))
        y = ops.conv(frames, kernel, strides=1, padding="valid")
        # A free reshape; TensorFlow's conv of zero frames (a run-time count)
        # returns [batch, 0, frame_len], which this makes [batch, 0, num_basis].
        return ops.reshape(y, (*_leading_shape(frames), num_basis))


@register_method
class DenseMethod(Method):
    """What ``keras.layers.Dense`` does: ``ops.matmul`` of the rank-3 frames."""

    name = "dense"

    def project(self, frames: Any, basis: Any) -> Any:
        return ops.matmul(frames, basis)


@register_method
class Matmul(Method):
    """One explicit 2-D matrix product: ``[batch*frames, frame_len] @ [frame_len, num_basis]``."""

    name = "matmul"

    def project(self, frames: Any, basis: Any) -> Any:
        frame_len, num_basis = basis.shape
        lead = _leading_shape(frames)
        y = ops.matmul(ops.reshape(frames, (-1, frame_len)), basis)
        return ops.reshape(y, (*lead, num_basis))


@register_method
class StridedConv(Method):
    """A Conv1D of kernel ``frame_len`` and stride ``hop`` on the waveform.

    Frames are never materialised; the waveform must already be padded by
    :func:`framebank.framing.pad_signal` so the conv's windows are the frames.
    """

    name = "strided_conv"
    needs_frames = False

    def kernel_layout(self, frame_len: int, num_basis: int) -> tuple[int, ...]:
        return (frame_len, 1, num_basis)

    def project_signal(self, signal: Any, basis: Any, hop: int) -> Any:
        frame_len, num_basis = basis.shape
        kernel = ops.reshape(basis, (frame_len, 1, num_basis))
        count = None
        if signal.shape[1] is None or signal.shape[1] < frame_len:
            # A signal shorter than the kernel: TensorFlow's conv returns its input
            # instead of zero windows, JAX's and torch's raise. Pad to one frame, then
            # keep the frames the signal really has (none).
            time = axis_len(signal, 1)
            count = num_frames(time, frame_len, hop)
            short = frame_len - time
            short = max(0, short) if isinstance(short, int) else ops.maximum(0, short)
            signal = ops.pad(signal, [[0, 0], [0, short]])
        x = ops.expand_dims(signal, -1)  # [batch, time, 1]
        y = ops.conv(x, kernel, strides=hop, padding="valid")
        return y if count is None else y[:, :count]

    def synthesize(self, coefficients: Any, synthesis: Any, hop: int) -> Any:
        """A transposed Conv1D of stride ``hop``: frames are never materialised.

        ``ops.conv_transpose``'s kernel is ``[frame_len, out_channels=1,
        in_channels=num_basis]``; output step ``f * hop + n`` gathers
        ``coefficients[f] @ synthesis[:, n]``, which is the overlap-add.
        """
        num_basis, frame_len = synthesis.shape
        count = axis_len(coefficients, 1)
        if isinstance(count, int) and count == 0:
            # No frame to transpose; overlap_add gives the empty-frames length.
            return overlap_add(ops.matmul(coefficients, synthesis), hop)
        kernel = ops.expand_dims(ops.transpose(synthesis), 1)  # [frame_len, 1, num_basis]
        out = ops.conv_transpose(coefficients, kernel, strides=hop, padding="valid")[..., 0]
        # When hop > frame_len the op pads every frame to hop samples; keep overlap_add's length.
        return out[:, : (count - 1) * hop + frame_len]


@register_method
class FFTConv(Method):
    """The strided convolution computed through the FFT: exact, and cheap where frames
    overlap heavily (``hop`` much smaller than ``frame_len``, e.g. LEAF's stride-1
    filters), since its cost grows with ``log(time)`` instead of ``frame_len``.

    Frame ``f`` is ``sum_n x[f * hop + n] basis[n]``: a cross-correlation, so
    ``irfft(rfft(x) * conj(rfft(basis)))`` read every ``hop`` samples; the FFT is at
    least as long as the (padded) signal, so no valid frame wraps around. Synthesis
    is the transposed convolution the same way (coefficients spread ``hop`` apart).
    TFLite and ONNX have no general FFT operator, so it does not export.
    """

    name = "fft_conv"
    needs_frames = False
    exportable = False

    def kernel_layout(self, frame_len: int, num_basis: int) -> tuple[int, ...]:
        return (frame_len, 1, num_basis)

    @staticmethod
    def _fft_length(samples: Any) -> Any:
        """A power of two >= ``samples`` when it is known; the length itself at run time."""
        if isinstance(samples, int):
            return 1 << max(0, samples - 1).bit_length()
        return samples

    def project_signal(self, signal: Any, basis: Any, hop: int) -> Any:
        frame_len, num_basis = basis.shape
        dtype = signal.dtype
        # The FFT runs in float32 at least (not every backend has a 16-bit FFT).
        signal, basis = _at_least_float32(signal), _at_least_float32(basis)
        time = axis_len(signal, 1)
        count = num_frames(time, frame_len, hop)
        length = self._fft_length(time)
        signal_real, signal_imag = ops.rfft(signal, length)  # [batch, bins]
        # rfft zero-pads (or, for a signal shorter than a frame, crops) the basis to length.
        basis_real, basis_imag = ops.rfft(ops.transpose(basis), length)  # [num_basis, bins]
        # x correlated with b: X * conj(B).
        real = signal_real[:, None] * basis_real[None] + signal_imag[:, None] * basis_imag[None]
        imag = signal_imag[:, None] * basis_real[None] - signal_real[:, None] * basis_imag[None]
        full = ops.irfft((real, imag), length)  # [batch, num_basis, length]
        y = ops.cast(ops.transpose(full[:, :, ::hop][:, :, :count], (0, 2, 1)), dtype)
        return with_static_channels(y, signal.shape[0], num_basis)

    def synthesize(self, coefficients: Any, synthesis: Any, hop: int) -> Any:
        num_basis, frame_len = synthesis.shape
        count = axis_len(coefficients, 1)
        if isinstance(count, int) and count == 0:
            return overlap_add(ops.matmul(coefficients, synthesis), hop)
        dtype = coefficients.dtype
        coefficients, synthesis = _at_least_float32(coefficients), _at_least_float32(synthesis)
        out_len = (count - 1) * hop + frame_len
        length = self._fft_length(out_len)
        # Coefficients spread hop samples apart: [batch, num_basis, count * hop].
        spread = ops.transpose(coefficients, (0, 2, 1))[..., None]
        spread = ops.pad(spread, [[0, 0], [0, 0], [0, 0], [0, hop - 1]])
        spread = ops.reshape(spread, (-1, num_basis, count * hop))
        spread_real, spread_imag = ops.rfft(spread, length)
        kernel_real, kernel_imag = ops.rfft(synthesis, length)  # [num_basis, bins]
        real = ops.sum(spread_real * kernel_real - spread_imag * kernel_imag, axis=1)
        imag = ops.sum(spread_real * kernel_imag + spread_imag * kernel_real, axis=1)
        return ops.cast(ops.irfft((real, imag), length)[:, :out_len], dtype)


@register_method
class RFFT(Method):
    """A windowed DFT basis through the real FFT: ``rfft(window * frame, fft_length)``.

    For a basis that is a :class:`~framebank.structures.WindowedDFT` (a fixed
    ``fourier``, ``mel`` or ``kaldi`` family), the same coefficients as ``frames @ basis``
    (real parts, then imaginary parts) in ``O(fft_length log fft_length)`` per
    frame instead of ``frame_len * num_basis``; Kaldi's frame processing (DC removal,
    pre-emphasis, scale) costs two rank-one terms per frame on top of one STFT. The
    layer hands it the basis's description (``structure = "windowed_dft"``), never the
    family. A layer refuses it for a family that never declares that structure (free,
    Gabor, sinc); a basis of a family that does but is not one now (a Fourier basis
    that trains) it runs as ``matmul``, its ``fallback``, as it does inside
    :func:`portable`: TFLite and ONNX have no general FFT, and the matmul is the same
    numbers from the same weight.
    """

    name = "rfft"
    needs_frames = False
    exportable = False
    structure = "windowed_dft"
    fallback = "matmul"

    def project(self, frames: Any, basis: Any) -> Any:
        # Frames given with a basis and no description (a decoder's synthesis): the fallback.
        return Matmul().project(frames, basis)

    def project_signal(self, signal: Any, basis: Any, hop: int) -> Any:
        return Matmul().project(frame_valid(signal, basis.shape[0], hop), basis)

    def project_structured(self, x: Any, basis: Any, structure: Any, hop: int) -> Any:
        # The description is a promise about the weight: checked at every call, so that
        # weights loaded or assigned since still give exactly `frames @ basis`.
        count = num_frames(axis_len(x, 1), basis.shape[0], hop)
        if isinstance(count, int) and count == 0:
            # Shorter than a frame: the fallback's zero frames (JAX's and torch's STFT raise).
            return self.project_signal(x, basis, hop)
        dtype = x.dtype
        exact = _is_exactly(basis, structure.basis())
        known = value_now(exact)
        if known is not None:  # an eager call: one branch, in the layer's own dtype
            return (
                self._stft(x, structure, hop) if bool(known) else self.project_signal(x, basis, hop)
            )
        wide, wide_basis = _at_least_float32(x), _at_least_float32(basis)
        # Both branches in one dtype (float32 under 16-bit policies, as the FFT runs): a
        # TensorFlow cond whose branches differ (float16 matmul, float32 FFT) prints a type-
        # inference dump when it is differentiated.
        return ops.cast(
            ops.cond(
                exact,
                lambda: self._stft(wide, structure, hop),
                lambda: self.project_signal(wide, wide_basis, hop),
            ),
            dtype,
        )

    def synthesize(self, coefficients: Any, synthesis: Any, hop: int) -> Any:
        # A synthesis basis given without a description: the fallback's product.
        return Matmul().synthesize(coefficients, synthesis, hop)

    def synthesize_structured(
        self, coefficients: Any, synthesis: Any, basis: Any, structure: Any, hop: int
    ) -> Any:
        """The inverse real FFT of each frame's coefficients (``structure``: a
        :class:`~framebank.structures.WindowedInverseDFT`), windowed, then overlap-added;
        checked at every call, as analysis is, against the weight it inverts. ``synthesis``
        (the fallback's basis) may be a callable that makes it, called only there."""
        return known_cond(
            _is_exactly(basis, structure.source.basis()),
            lambda: overlap_add(self._inverse_frames(coefficients, structure), hop),
            lambda: Matmul().synthesize(
                coefficients, synthesis() if callable(synthesis) else synthesis, hop
            ),
        )

    @staticmethod
    def _inverse_frames(coefficients: Any, structure: Any) -> Any:
        """``coefficients @ structure.basis()``: ``[batch, frames, frame_len]`` by ``irfft``."""
        dtype = coefficients.dtype
        x = _at_least_float32(coefficients)
        n, n_freq, length = structure.fft_length, structure.n_freq, structure.frame_len
        # N * irfft counts every bin but DC (and Nyquist, N even) twice: halve those.
        halve = np.full(n_freq, 0.5)
        halve[0] = 1.0
        if n % 2 == 0:
            halve[-1] = 1.0
        halve = ops.convert_to_tensor(halve * n, dtype=x.dtype)
        y = ops.irfft((x[..., :n_freq] * halve, x[..., n_freq:] * halve), n)[..., :length]
        if structure.correction.shape[1]:
            project = ops.convert_to_tensor(structure.project.T, dtype=x.dtype)
            correction = ops.convert_to_tensor(structure.correction.T, dtype=x.dtype)
            y = y - ops.matmul(ops.matmul(y, project), correction)
        window = ops.convert_to_tensor(structure.window, dtype=x.dtype)
        return ops.cast(y * window, dtype)

    @staticmethod
    def _stft(signal: Any, structure: Any, hop: int) -> Any:
        """``ops.stft`` of frames ``fft_length`` long whose window is zero past ``frame_len``:
        the frames zero-padded to ``fft_length``, without building the short frames."""
        dtype = signal.dtype
        # The FFT runs in float32 at least (not every backend has a 16-bit FFT).
        signal = _at_least_float32(signal)
        if not structure.plain:
            return ops.cast(_processed_stft(signal, structure, hop), dtype)
        return ops.cast(_windowed_stft(signal, structure.window, structure.fft_length, hop), dtype)


def _windowed_stft(signal: Any, window: np.ndarray, fft_length: int, hop: int) -> Any:
    """Real parts then imaginary parts of the DFT of every ``window * frame`` (``frame_len =
    len(window)`` samples every ``hop``), zero-padded to ``fft_length``."""
    extra = fft_length - window.shape[0]
    if extra:
        signal = ops.pad(signal, [[0, 0], [0, extra]])
    return ops.concatenate(_stft_parts(signal, window, fft_length, hop), axis=-1)


def _stft_parts(padded: Any, window: np.ndarray, fft_length: int, hop: int) -> tuple:
    """``(real, imag)`` of :func:`_windowed_stft` from a signal already ``fft_length -
    len(window)`` samples longer (what those samples hold meets only the window's zeros)."""
    extra = fft_length - window.shape[0]
    window = ops.convert_to_tensor(np.pad(window, (0, extra)), dtype=padded.dtype)
    return ops.stft(padded, fft_length, hop, fft_length, window=window, center=False)


def _processed_stft(signal: Any, structure: Any, hop: int) -> Any:
    """The coefficients of a :class:`~framebank.structures.WindowedDFT` with frame processing
    (Kaldi's), exactly, from one STFT of the whole signal pre-emphasised once.

    Why it holds: with ``p[t] = x[t] - c x[t - 1]``, frame ``f`` (first sample ``t0``) after
    scaling by ``s``, mean removal (mean ``m``) and pre-emphasis is ``s (p[t0 + i] - (1 - c)
    m)`` for ``i > 0`` and that plus ``s c (x[t0 - 1] - x[t0])`` at ``i = 0`` (where the
    frame's own pre-emphasis uses no earlier sample). So its windowed DFT is ``s`` times the
    STFT of ``p``, minus ``s (1 - c) m DFT(w)``, plus ``s c (x[t0 - 1] - x[t0])`` times the
    basis's first row: two rank-one terms per frame. With the mean removed, a constant
    added to ``x`` changes nothing: the signal's offset is taken out first.
    """
    length, c, scale = structure.frame_len, structure.preemphasis, structure.scale
    if structure.remove_mean:
        signal = _without_offset(signal, hop)
    padded, previous = _with_previous(signal, structure.fft_length - length)
    emphasised = padded - c * previous if c else padded
    real, imag = _stft_parts(emphasised, scale * structure.window, structure.fft_length, hop)
    # TensorFlow's graph runs a gather's gradient as a scatter and fuses nothing: there the
    # per-frame numbers are strided slices; XLA (JAX) fuses the gathers, which measured
    # faster there than the slices (benchmarks/README.md, "Front ends of pretrained models").
    sliced = keras.backend.backend() == "tensorflow"
    mean = None
    if structure.remove_mean:
        mean = (_sliced_frame_sums if sliced else _frame_sums)(signal, length, hop) / length
    terms = _rank_one_terms(structure, signal, previous - padded if c else None, mean, hop)
    out = _joined_plus_rank_one(real, imag, terms)
    if structure.raw_frames:
        frames = frame_valid(signal, length, hop)
        raw = scale * (frames - mean[..., None]) if mean is not None else scale * frames
        out = ops.concatenate([out, raw], axis=-1)
    return out


def _with_previous(signal: Any, extra: int) -> tuple[Any, Any]:
    """``(x[t], x[t - 1])`` (0 before the start) of ``signal [batch, time]``, each ``extra``
    samples longer, the STFT's zero padding: one pad each, where a slice then a pad cost
    TensorFlow a pass more each way. Past the end ``x[t - 1]`` holds the last sample, which
    meets only the window's zeros, as every sample there does."""
    if not extra:
        return signal, ops.pad(signal[:, :-1], [[0, 0], [1, 0]])
    return ops.pad(signal, [[0, 0], [0, extra]]), ops.pad(signal, [[0, 0], [1, extra - 1]])


def _rank_one_terms(structure: Any, signal: Any, step: Any, mean: Any, hop: int) -> list:
    """``[(term [batch, frames], direction [coefficients])]`` that :func:`_processed_stft`
    adds: each frame's first sample's (``step``: ``x[t - 1] - x[t]``, or None without
    pre-emphasis) and its mean's (``mean``, or None)."""
    length, c, scale = structure.frame_len, structure.preemphasis, structure.scale
    rows = WindowedDFT(structure.window, structure.fft_length).basis()
    terms = []
    # A window that starts at 0 (povey, hanning, blackman) zeroes the first sample's term.
    if step is not None and rows[0].any():
        count = num_frames(axis_len(signal, 1), length, hop)
        if keras.backend.backend() == "tensorflow":
            first = step[:, ::hop][:, :count]
        else:
            first = _frame_starts(step, length, hop)[:, :count]
        terms.append((first, scale * c * rows[0]))  # each frame's first sample
    if mean is not None and c != 1.0:
        terms.append((mean, -scale * (1.0 - c) * rows.sum(axis=0)))
    return terms


def _joined_plus_rank_one(real: Any, imag: Any, terms: list) -> Any:
    """``concatenate([real, imag])`` plus ``terms`` (:func:`_plus_rank_one`). Under JAX each
    part gets its share before the join: XLA then reads each part's gradient where it
    would otherwise build the joined one for the terms' product (measured faster there,
    slower under TensorFlow, whose one product then becomes two)."""
    if keras.backend.backend() != "jax" or not terms:
        return _plus_rank_one(ops.concatenate([real, imag], axis=-1), terms)
    n = real.shape[-1]
    real = _plus_rank_one(real, [(t, d[:n]) for t, d in terms])
    imag = _plus_rank_one(imag, [(t, d[n:]) for t, d in terms])
    return ops.concatenate([real, imag], axis=-1)


def _plus_rank_one(out: Any, terms: list) -> Any:
    """``out [batch, frames, coefficients]`` plus each ``(term [batch, frames], direction
    [coefficients])``'s outer product, as one ``[frames, terms] @ [terms, coefficients]``
    product: its gradient is a product too, where a broadcast's is a reduction over the
    coefficients, which cost XLA (JAX) a pass of its own (benchmarks/README.md)."""
    if not terms:
        return out
    directions = ops.convert_to_tensor(np.stack([d for _, d in terms]), out.dtype)
    stacked = ops.stack([t for t, _ in terms], axis=-1)
    if keras.backend.standardize_dtype(out.dtype) == "float64":
        # Keras's torch matmul returns float64 products as float32; einsum keeps them.
        return out + ops.einsum("...k,kc->...c", stacked, directions)
    return out + ops.matmul(stacked, directions)


def _without_offset(signal: Any, hop: int) -> Any:
    """``signal`` less a constant that no frame with its own mean removed sees: the mean of
    every ``hop``-th sample (about the signal's mean, at a ``hop``-th of a full mean's cost).

    Taken out first, a large offset no longer passes through the STFT and the mean's
    rank-one term, each rounded to the offset's size, only to cancel between them: the
    rounding follows what the frames keep. The coefficients do not depend on the constant,
    so no gradient flows through it."""
    return signal - ops.stop_gradient(ops.mean(signal[:, ::hop], axis=1, keepdims=True))


def _blocks(x: Any, frame_len: int, hop: int) -> tuple[Any, int]:
    """``x``'s samples as ``[batch, blocks, g]`` blocks of ``g = gcd(frame_len, hop)`` samples
    (a frame is ``frame_len // g`` whole blocks; the last block zero-padded), and ``g``.
    The whole signal, not the samples frames use: a frame past those is cut by the caller,
    and cutting the signal instead cost TensorFlow a strided slice's gradient, a full pass
    that measured about a tenth of LogMel's step (benchmarks/README.md)."""
    g = math.gcd(frame_len, hop)
    short = -axis_len(x, 1) % g
    if not isinstance(short, int) or short:
        x = ops.pad(x, [[0, 0], [0, short]])
    return ops.reshape(x, (ops.shape(x)[0], -1, g)), g


def _frame_sums(x: Any, frame_len: int, hop: int) -> Any:
    """``[batch, frames]``: each frame's sum, from sums of blocks (never the frames)."""
    blocks, g = _blocks(x, frame_len, hop)
    sums = frame_valid(ops.sum(blocks, axis=-1), frame_len // g, hop // g)
    return ops.sum(sums, axis=-1)[:, : num_frames(axis_len(x, 1), frame_len, hop)]


# Up to this many blocks per frame, _sliced_frame_sums adds that many strided slices.
_SLICED_BLOCKS = 8


def _sliced_frame_sums(x: Any, frame_len: int, hop: int) -> Any:
    """:func:`_frame_sums` with block ``j`` of every frame as a strided slice of the block
    sums (whose gradient is a strided slice too), up to :data:`_SLICED_BLOCKS` blocks."""
    blocks, g = _blocks(x, frame_len, hop)
    per_frame, step = frame_len // g, hop // g
    if per_frame > _SLICED_BLOCKS:
        return _frame_sums(x, frame_len, hop)
    sums = ops.sum(blocks, axis=-1)
    count = num_frames(axis_len(x, 1), frame_len, hop)
    total = sums[:, ::step][:, :count]
    for j in range(1, per_frame):
        total = total + sums[:, j::step][:, :count]
    return total


def _frame_starts(x: Any, frame_len: int, hop: int) -> Any:
    """``[batch, frames]``: each frame's first sample."""
    blocks, g = _blocks(x, frame_len, hop)
    starts = frame_valid(blocks[..., 0], frame_len // g, hop // g)[..., 0]
    return starts[:, : num_frames(axis_len(x, 1), frame_len, hop)]


_PORTABLE = contextvars.ContextVar("framebank_portable", default=False)


@contextlib.contextmanager
def portable() -> Iterator[None]:
    """Within this context, a method that cannot be exported runs its ``fallback``.

    Export (``framebank.export``, streaming export) traces the model inside it, so
    a layer whose method is ``rfft`` writes the ``matmul`` it equals.
    """
    token = _PORTABLE.set(True)
    try:
        yield
    finally:
        _PORTABLE.reset(token)


def runnable(method: Method, structure: Any = None) -> Method:
    """The method that runs in ``method``'s place now: itself, or its ``fallback`` where its
    ``structure`` is absent (None) or, inside :func:`portable`, it cannot be exported."""
    missing = method.structure is not None and structure is None
    if method.fallback and (missing or (_PORTABLE.get() and not method.exportable)):
        return get_method(method.fallback)
    return method


def _is_exactly(basis: Any, definition: np.ndarray) -> Any:
    """A scalar boolean tensor: ``basis`` (a weight made from the float64 ``definition``,
    cast to the compute dtype) still holds the values it was made with, bit for bit.

    Why equality: a weight is made by converting the definition to its own dtype (float32,
    or float64 under a float64 policy) and cast to the compute dtype, which is repeated here,
    so an untouched weight is equal; any edit, however small, is not. One comparison and one
    reduction over ``frame_len * num_basis`` values, no tolerance to argue, on every CPU.
    """
    dtype = keras.backend.standardize_dtype(basis.dtype)
    stored = "float64" if dtype == "float64" else "float32"
    expected = ops.cast(ops.convert_to_tensor(definition, dtype=stored), dtype)
    return ops.all(ops.equal(ops.stop_gradient(basis), expected))


def _at_least_float32(x: Any) -> Any:
    half = keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16")
    return ops.cast(x, "float32") if half else x


# --------------------------------------------------------------------------- method="auto"


def resolve_method(
    method: str | Method,
    frame_len: int | None = None,
    hop: int | None = None,
    num_basis: int | None = None,
    *,
    backend: str | None = None,
    device: str | None = None,
    jit_compile: bool | None = None,
    needs_frames: bool = False,
    compute_dtype: str | None = None,
    synthesis: bool = False,
    structures: Collection[str] = (),
) -> str | Method:
    """The concrete method ``method`` stands for: itself, or the pick for ``"auto"``.

    The pick is a fixed rule (:data:`AUTO_RULES`) read off the measurements in
    ``benchmarks/README.md`` (forward plus backward, ratio to a bare matmul), so
    it is deterministic and costs nothing.

    Args:
        method: a method name, ``"auto"``, or a :class:`Method` instance.
        frame_len, hop, num_basis: the projection's sizes; ``hop=None`` when
            the caller has frames, not a waveform.
        backend: Keras backend name; default ``keras.backend.backend()``.
        device: ``"cpu"`` or ``"gpu"``; default :func:`framebank.device.current_device`.
        jit_compile: whether the step will be XLA-compiled; None means Keras's
            default for the backend and device (JAX: always; TensorFlow: on a
            GPU; torch: never).
        needs_frames: the caller has frames, so a waveform method
            (``strided_conv``) cannot be picked.
        compute_dtype: the dtype the projection computes in (a layer's
            ``dtype_policy.compute_dtype``); default the global Keras policy's.
        synthesis: the pick for a decoder (coefficients back to a waveform).
        structures: what the basis is known to be (its family's attributes that
            are set, e.g. ``("windowed_dft",)`` for a fixed Fourier basis): a
            method exploiting one of them (``rfft``) is picked first.

    Returns:
        ``method`` itself unless it is ``"auto"``; for ``"auto"``, a name in
        :data:`METHODS`.

    Warns:
        UserWarning: a method known to be pathological where it will run
            (``reshape_conv`` under XLA), naming the faster one.
    """
    import keras

    if method != AUTO:
        name = method.name if isinstance(method, Method) else get_method(method).name
        if not synthesis and name == "reshape_conv":
            # The advice names what "auto" picks for this very layer.
            pick = resolve_method(
                AUTO, frame_len, hop, num_basis, backend=backend, device=device,
                jit_compile=jit_compile, needs_frames=needs_frames, compute_dtype=compute_dtype,
            )  # fmt: skip
            _warn_if_pathological(name, backend or keras.backend.backend(), jit_compile, pick)
        return method
    if synthesis:
        # A fixed windowed DFT's transpose or pseudo-inverse: its inverse FFT.
        return "rfft" if "windowed_dft" in structures else SYNTHESIS_PICK
    if "windowed_dft" in structures and not needs_frames:
        # The FFT of the frames: a fixed Fourier basis at the cost of an STFT
        # (benchmarks/README.md, "front ends").
        return "rfft"
    if (
        not needs_frames
        and frame_len is not None
        and hop is not None
        and frame_len >= FFT_OVERLAP * hop
    ):
        # Every sample is in many frames: building them (or a stride-hop convolution)
        # costs frame_len per output, the FFT log(time).
        return "fft_conv"
    backend = backend or keras.backend.backend()
    device = device or current_device()
    if jit_compile is None:
        jit_compile = backend == "jax" or (backend == "tensorflow" and device == "gpu")
    if compute_dtype is None:
        compute_dtype = keras.config.dtype_policy().compute_dtype
    rule = AUTO_RULES.get((backend, device, bool(jit_compile)), AUTO_RULES["default"])
    if callable(rule):
        return rule(frame_len, hop, num_basis, needs_frames, compute_dtype)
    return rule


def _torch_cpu_rule(
    frame_len: int | None,
    hop: int | None,
    num_basis: int | None,
    needs_frames: bool,
    compute_dtype: str,
) -> str:
    """torch on the CPU: ``strided_conv`` where the frames outweigh the output, else ``matmul``.

    Why: torch's strided ``conv1d`` skips building the frames (a cost in
    proportion to ``frame_len``) but Keras's channels-last layout adds a
    transpose of the output (in proportion to ``num_basis``) each way, so it
    wins only where frames overlap and ``frame_len >= num_basis``; with ``hop ==
    frame_len`` frames are a free reshape. Only in float32: torch's 16-bit
    convolutions on the CPU are slow.
    """
    frames_outweigh_output = (
        frame_len is not None
        and hop is not None
        and num_basis is not None
        and hop < frame_len
        and frame_len >= num_basis
    )
    if frames_outweigh_output and not needs_frames and compute_dtype == "float32":
        return "strided_conv"
    return "matmul"


# (backend, device, jit_compile) -> a method name, or a rule
# ``(frame_len, hop, num_basis, needs_frames, compute_dtype) -> name``; "default"
# for anything not measured (GPUs included). ``matmul`` is the only method with no
# pathological case on any backend measured (benchmarks/README.md, "auto").
AUTO_RULES: dict = {
    ("tensorflow", "cpu", False): "matmul",
    ("tensorflow", "cpu", True): "matmul",
    ("jax", "cpu", True): "matmul",
    ("torch", "cpu", False): _torch_cpu_rule,
    "default": "matmul",
}
# From how many frames a sample is in (frame_len / hop) "auto" runs the FFT
# (benchmarks/README.md, "front ends": a stride-1 filterbank of 401 taps).
FFT_OVERLAP = 32
# A decoder's pick: the convolutions each lose some shapes by a wide margin
# (benchmarks/README.md, "decoder").
SYNTHESIS_PICK = "matmul"


def _warn_if_pathological(
    name: str, backend: str, jit_compile: bool | None, pick: str = "matmul"
) -> None:
    """Say so when ``name`` is known to be far slower than another method where it runs,
    naming ``pick``, what ``"auto"`` picks for the same layer.

    ``reshape_conv`` (Method 1) under XLA: the gradient of its ``[batch*frames,
    frame_len, 1]`` convolution with respect to its input (needed whenever the
    front end sits inside a model) is orders of magnitude slower than a matmul,
    and Keras compiles TensorFlow with XLA by default on a GPU. A layer cannot
    see how it will be compiled, so under these backends the warning is given
    whenever Method 1 is asked for, unless ``jit_compile=False`` is known.
    """
    if name == "reshape_conv" and backend in ("tensorflow", "jax") and jit_compile is not False:
        import warnings

        warnings.warn(
            f"method='reshape_conv' under {backend} is pathological with XLA (jit_compile=True; "
            "always under JAX, Keras's default for TensorFlow on a GPU): a forward plus backward "
            "step that also needs the input's gradient took 12-790x the time of one matmul "
            "(benchmarks/README.md); TensorFlow without XLA took 3-12x. "
            f"method={pick!r} (what method='auto' picks for this layer) computes the same "
            "numbers faster.",
            UserWarning,
            stacklevel=4,
        )
