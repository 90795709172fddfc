"""The decoder: the encoder run backwards (basis transposed, then overlap-add).

``Decoder(encoder, kind=..., method=...)`` maps coefficients ``[batch,
frames, num_basis]`` back to a waveform ``[batch, time]``. Its *kind* says
which synthesis basis it uses, its *method* only how the product is run:

* ``tied``: the encoder's own basis, transposed (weights shared).
* ``free``: a basis of its own, ``[frame_len, num_basis]``, trained freely.
* ``pinv``: the pseudo-inverse of the encoder's basis, for resynthesis
  (the encoder's bias, if any, is subtracted first).

Why ``pinv`` is weighted: with ``B`` the encoder's ``[frame_len, num_basis]``
basis, ``coefficients @ pinv(B)`` returns each frame projected onto what the
basis can see. A plain overlap-add of those frames scaled by ``hop /
frame_len`` is exact only when ``B`` has full rank and the frames tile
evenly; a windowed DFT with a periodic Hann window has a zero row (its
window is 0 at ``n = 0``), which leaves about 30 dB. Instead each frame is
weighted by ``g = diag(B B^T)``, the energy the basis puts on each sample of
the frame, and the overlap-added result is divided by the overlap-added
``g``. For a windowed DFT ``g`` is proportional to the squared window, so
this is exactly the weighted overlap-add with the dual window that
``istft`` performs; for a full-rank free basis it is exact for any positive
``g``. Samples no frame sees (``g`` summed to 0) come back as 0.

Precision: in float32 the coefficients themselves are rounded, and the
inverse amplifies that by the basis's condition number, so the SNR is
bounded near ``-20 log10(eps * cond(B))``: about 130 dB for a windowed DFT,
110 dB for a random square free basis with cond ~ 300, but 88-90 dB for an
unlucky one with cond ~ 5000 (measured on real speech; the decoder is within
2-4 dB of a float64 pseudo-inverse of the same float32 coefficients). Extra
basis vectors (``num_basis > frame_len``) make a free basis well conditioned.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from framebank import framing, initializers
from framebank.filterbanks import FreeFilterbank
from framebank.layers import Encoder, freeze_sublayer

__all__ = ["Decoder", "DECODER_KINDS", "DECODER_METHODS"]

DECODER_KINDS = ("tied", "free", "pinv")
_ENCODER_METHOD = {"conv_transpose": "strided_conv"}
_HALF = ("float16", "bfloat16")
_EPS = {"float64": 2.2e-16, "float32": 1.2e-7}  # machine epsilon; 1e-3 for 16-bit floats


def _frames_dense(coefficients: Any, synthesis: Any, hop: int) -> Any:
    """``[batch, frames, num_basis] @ [num_basis, frame_len]``, then overlap-add."""
    return framing.overlap_add(ops.matmul(coefficients, synthesis), hop)


def _frames_matmul(coefficients: Any, synthesis: Any, hop: int) -> Any:
    """One 2-D product over all frames of the batch, then overlap-add."""
    num_basis, frame_len = synthesis.shape
    # Batch and frame count may both be unknown: reshape back with the
    # run-time frame count (only one -1 is allowed).
    count = framing.axis_len(coefficients, 1)
    frames = ops.matmul(ops.reshape(coefficients, (-1, num_basis)), synthesis)
    return framing.overlap_add(ops.reshape(frames, (-1, count, frame_len)), hop)


def _frames_pointwise_conv(coefficients: Any, synthesis: Any, hop: int) -> Any:
    """A kernel-size-1 Conv1D over frames (``num_basis`` channels in, ``frame_len`` out)."""
    num_basis, frame_len = synthesis.shape
    kernel = ops.reshape(synthesis, (1, num_basis, frame_len))
    return framing.overlap_add(ops.conv(coefficients, kernel, padding="valid"), hop)


def _conv_transpose(coefficients: Any, synthesis: Any, hop: int) -> Any:
    """A transposed Conv1D of stride ``hop``: frames are never materialised.

    ``ops.conv_transpose``'s kernel is ``[frame_len, out_channels=1,
    in_channels=num_basis]``; output step ``f * hop + n`` gathers
    ``coefficients[f] @ synthesis[:, n]``, which is the overlap-add.
    """
    num_basis, frame_len = synthesis.shape
    kernel = ops.expand_dims(ops.transpose(synthesis), 1)  # [frame_len, 1, num_basis]
    out = ops.conv_transpose(coefficients, kernel, strides=hop, padding="valid")[..., 0]
    # When hop > frame_len the op pads every frame to hop samples; keep overlap_add's length.
    count = framing.axis_len(coefficients, 1)
    return out[:, : (count - 1) * hop + frame_len]


DECODER_METHODS = {
    "dense": _frames_dense,
    "matmul": _frames_matmul,
    "pointwise_conv": _frames_pointwise_conv,
    "conv_transpose": _conv_transpose,
}


def _check_choice(name: str, value: Any, choices: Any) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"Unknown decoder {name} {value!r}. Expected one of: {', '.join(choices)}. "
            f"Received: {name}={value!r}"
        )
    return value


@keras.saving.register_keras_serializable(package="framebank")
class Decoder(keras.layers.Layer):
    """Coefficients to a waveform: synthesis basis, then overlap-add.

    Args:
        encoder: the :class:`framebank.Encoder` to invert. Its framing
            (``frame_len``, ``hop``, ``center``) is reused; ``tied`` and
            ``pinv`` also use its basis (and track it, so a model holding
            both saves it once and reloads them sharing it).
        kind: ``tied``, ``free`` or ``pinv`` (see the module docstring).
        method: ``matmul`` (default), ``dense``, ``pointwise_conv`` or
            ``conv_transpose`` (a strided transposed convolution on the
            coefficients). Equal outputs, like the encoder's methods.
            ``matmul`` is the default because it had no slow case
            (``benchmarks/trials.py decoder``, 2 CPU cores, the four
            benchmark shapes with the coefficients' gradient: 0.93-1.04x
            ``dense``'s time under TensorFlow and torch, 0.60-1.06x under JAX,
            0.60x at L400 where ``dense`` is a rank-3 product); each
            convolution wins some shapes and loses others by 1.4-10x.
        kernel_initializer: for ``kind="free"``.
        rcond: for ``pinv``: singular values below ``rcond`` times the largest
            count as 0; default ``max(frame_len, num_basis)`` times the dtype's
            machine epsilon.
        num_basis, frame_len, hop, center: the geometry, needed only without
            an encoder (``kind="free"`` rebuilt from its config).
        filterbank: a serialised free filterbank (from ``get_config``).

    Call arguments:
        coefficients: ``[batch, frames, num_basis]``.
        length: optional int: trim or zero-pad the output to this many
            samples (the encoder's input length).

    Output shape:
        ``[batch, time]``: ``(frames - 1) * hop + frame_len`` samples, less
        ``2 * (frame_len // 2)`` when the encoder centres, or ``length``.

    Example:
        >>> enc = Encoder(18, 16, 4, filterbank="fourier", window="hann", center=True)
        >>> dec = Decoder(enc, kind="pinv")
        >>> x = np.random.randn(2, 100).astype("float32")
        >>> dec(enc(x), length=100).shape
        (2, 100)
    """

    def __init__(
        self,
        encoder: Encoder | dict | None = None,
        kind: str = "tied",
        method: str = "matmul",
        kernel_initializer: Any = "basis_glorot_uniform",
        rcond: float | None = None,
        num_basis: int | None = None,
        frame_len: int | None = None,
        hop: int | None = None,
        center: bool = False,
        filterbank: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kind = _check_choice("kind", kind, DECODER_KINDS)
        self.method = _check_choice("method", method, tuple(DECODER_METHODS))
        if isinstance(encoder, dict):  # serialised, from get_config
            encoder = keras.saving.deserialize_keras_object(encoder)
        if encoder is not None and not isinstance(encoder, Encoder):
            raise TypeError(
                "`encoder` must be a framebank.Encoder. "
                f"Received: encoder={encoder!r} of type {type(encoder).__name__}"
            )
        if encoder is None and kind != "free":
            raise ValueError(
                f"A {kind!r} decoder uses the encoder's basis, so it needs `encoder`. "
                "Received: encoder=None"
            )
        if encoder is not None:
            num_basis, frame_len, hop = encoder.num_basis, encoder.frame_len, encoder.hop
            center = encoder.center
        elif num_basis is None or frame_len is None or hop is None:
            raise ValueError(
                "Without an encoder a decoder needs num_basis, frame_len and hop. "
                f"Received: num_basis={num_basis}, frame_len={frame_len}, hop={hop}"
            )
        self.frame_len, self.hop = framing.check_framing_args(frame_len, hop)
        self.num_basis = framing.check_positive_int("num_basis", num_basis)
        self.center = framing.check_bool("center", center)
        self.rcond = None if rcond is None else float(rcond)
        self.kernel_initializer = initializers.get(kernel_initializer)
        # Only tied and pinv track the encoder: their basis is its basis.
        self.encoder = encoder if kind != "free" else None
        self.filterbank = None
        if kind == "free":
            if isinstance(filterbank, dict):
                filterbank = keras.saving.deserialize_keras_object(filterbank)
            self.filterbank = filterbank or FreeFilterbank(
                self.num_basis,
                self.frame_len,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
            )
            freeze_sublayer(self, self.filterbank)
            # keras_default imitates the Keras layer that would do this product;
            # a transposed Conv1D's kernel has the strided Conv1D's layout.
            self.filterbank.bind_method(_ENCODER_METHOD.get(self.method, self.method))

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 3 or input_shape[-1] != self.num_basis:
            raise ValueError(
                f"Decoder expects coefficients [batch, frames, num_basis={self.num_basis}]. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        if self.filterbank is not None:
            self.filterbank.build(self.frame_len)
        elif not self.encoder.built:
            self.encoder.build((None, None))

    def synthesis(self, dtype: Any = "float32") -> tuple[Any, Any]:
        """``(synthesis [num_basis, frame_len], weights [frame_len] or None)``.

        ``weights`` (``pinv`` only) is the per-sample frame weighting whose
        overlap-add normalises the output.
        """
        if self.kind == "free":
            return ops.transpose(ops.cast(self.filterbank.filters(), dtype)), None
        basis = ops.cast(self.encoder.filterbank.filters(), dtype)
        if self.kind == "tied":
            return ops.transpose(basis), None
        # No gradient through the SVD: it is undefined at repeated singular
        # values, which a DFT basis has. The encoder still trains through the
        # coefficients.
        basis = ops.stop_gradient(basis)
        rcond = self.rcond
        if rcond is None:
            rcond = max(self.frame_len, self.num_basis) * _EPS.get(dtype, 1e-3)
        weights = ops.sum(ops.square(basis), axis=1)  # diag(B B^T), [frame_len]
        inverse = ops.pinv(basis, rcond=rcond)  # [num_basis, frame_len]
        # One Newton step, P += P (I - B P): the backends' float32 SVD leaves the
        # inverse of a full-rank basis about 7 dB short of what float32 allows.
        residual = ops.eye(self.frame_len, dtype=dtype) - ops.matmul(basis, inverse)
        inverse = inverse + ops.matmul(inverse, residual)
        return inverse * weights[None, :], weights

    def __call__(self, coefficients: Any, length: int | None = None, **kwargs: Any) -> Any:
        # Keras would turn a numpy integer (x.shape[1] of an array) into a tensor.
        if isinstance(length, np.integer):
            length = int(length)
        return super().__call__(coefficients, length=length, **kwargs)

    def call(self, coefficients: Any, length: int | None = None) -> Any:
        dtype = keras.backend.standardize_dtype(coefficients.dtype)
        # A 16-bit pseudo-inverse (SVD) is neither supported everywhere nor accurate:
        # the synthesis basis is made in float32 and only the product runs in 16 bits.
        synthesis, weights = self.synthesis("float32" if dtype in _HALF else dtype)
        synthesis = ops.cast(synthesis, dtype)
        if self.kind == "pinv" and self.encoder.bias is not None:
            # The inverse of the encoder undoes its bias too.
            coefficients = coefficients - ops.cast(self.encoder.bias, dtype)
        out = DECODER_METHODS[self.method](coefficients, synthesis, self.hop)
        if weights is not None:
            weights = ops.cast(weights, dtype)
            count = framing.axis_len(coefficients, 1)
            norm = framing.overlap_add(
                ops.broadcast_to(weights[None, None, :], (1, count, self.frame_len)), self.hop
            )
            # Relative, unlike overlap_add's cut-off at the dtype's smallest normal
            # number: these frames are projections carrying rounding, which dividing
            # by a near-zero weight (a window's first samples) would amplify.
            tiny = ops.max(weights) * 1e-8
            safe = ops.where(norm > tiny, norm, ops.ones_like(norm))
            out = ops.where(norm > tiny, out / safe, ops.zeros_like(out))
        half = self.frame_len // 2
        if self.center and half:
            out = out[:, half:]
            if length is None:  # drop the end's centring pad too (else `length` decides)
                out = out[:, : framing.axis_len(out, 1) - half]
        if length is not None:
            out = _fit_length(out, length)
        return out

    def compute_output_spec(self, coefficients: Any, length: int | None = None) -> Any:
        shape = self.compute_output_shape(coefficients.shape, length)
        return keras.KerasTensor(shape, dtype=coefficients.dtype)

    def compute_output_shape(self, input_shape: tuple, length: int | None = None) -> tuple:
        """``(batch, time)``; ``length`` (when the call gives one) decides ``time``."""
        if length is not None:
            return (input_shape[0], int(length))
        count = input_shape[1]
        if count is None:
            return (input_shape[0], None)
        time = (count - 1) * self.hop + self.frame_len
        if self.center:
            time -= 2 * (self.frame_len // 2)
        return (input_shape[0], time)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            kind=self.kind,
            method=self.method,
            encoder=None
            if self.encoder is None
            else keras.saving.serialize_keras_object(self.encoder),
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            rcond=self.rcond,
            num_basis=self.num_basis,
            frame_len=self.frame_len,
            hop=self.hop,
            center=self.center,
            filterbank=None
            if self.filterbank is None
            else keras.saving.serialize_keras_object(self.filterbank),
        )
        return config


def _fit_length(out: Any, length: Any) -> Any:
    """Trim or zero-pad ``[batch, time]`` to ``length`` samples, a positive int."""
    return framing.fit_length(out, framing.check_positive_int("length", length))
