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
inverse amplifies that by the basis's condition number, so the SNR is bounded
near ``-20 log10(eps * cond(B))`` (measured figures: ``README.md``). Extra
basis vectors (``num_basis > frame_len``) make a free basis well conditioned.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any

import keras
import numpy as np
from keras import ops

from framebank import framing, initializers, tuning
from framebank._deprecation import deprecated_names
from framebank._tensors import value_now
from framebank._validation import (
    as_real,
    check_bool,
    check_choice,
    check_floating_policy,
    check_framing_args,
    check_positive_int,
    is_tensor,
    refuse_sequence,
)
from framebank.filterbanks import FreeFilterbank
from framebank.layers import Encoder, freeze_sublayer
from framebank.methods import AUTO, Method, get_method, resolve_method, runnable
from framebank.structures import WindowedDFT, WindowedInverseDFT

__all__ = [
    "Decoder",
    "DECODER_KINDS",
    "RENAMED_METHODS",
    "Synthesis",
    "TiedSynthesis",
    "FreeSynthesis",
    "PinvSynthesis",
    "get_synthesis",
]

# Older names of a method, still read from configs and saved models.
RENAMED_METHODS = {"conv_transpose": "strided_conv"}
_HALF = ("float16", "bfloat16")
_EPS = {"float64": 2.2e-16, "float32": 1.2e-7}  # machine epsilon; 1e-3 for 16-bit floats


def _decoder_methods() -> dict:
    """The old ``DECODER_METHODS``: name -> ``f(coefficients, synthesis, hop)``, now each
    method's ``synthesize``."""
    names = {"dense": "dense", "matmul": "matmul", "pointwise_conv": "pointwise_conv"}
    names.update(RENAMED_METHODS)
    return {old: get_method(new).synthesize for old, new in names.items()}


__getattr__ = deprecated_names(
    __name__,
    {
        "DECODER_METHODS": (
            _decoder_methods,
            "every registered method synthesises: framebank.get_method(name).synthesize",
        )
    },
)


def _decoder_method(method: Any, structures: tuple = ()) -> Method:
    """The synthesis method: ``"auto"``'s pick, a registered name or an instance;
    ``structures`` what the synthesis basis is known to be (``("windowed_dft",)``)."""
    if isinstance(method, str) and method in RENAMED_METHODS:
        new = RENAMED_METHODS[method]
        warnings.warn(
            f"Decoder method {method!r} is now called {new!r}, the same name as the encoder's "
            "method; the old name will be removed.",
            DeprecationWarning,
            stacklevel=4,
        )
        method = new
    return get_method(resolve_method(method, synthesis=True, structures=structures))


class Synthesis:
    """A decoder variant: what its synthesis basis is. The base says what a variant decides;
    :class:`Decoder` runs the rest (the method's product, overlap-add, centring, length).

    Attributes:
        name: the ``kind`` string it stands for (``get_config`` writes it).
        uses_encoder: its basis is made from the encoder's, so the decoder needs and
            tracks the encoder (a model holding both saves the basis once).
        normalises: the overlap-added output is divided by the overlap-added frame
            weights that :meth:`basis` returns (streaming carries their tail too).
    """

    name = ""
    uses_encoder = True
    normalises = False

    def make_filterbank(self, decoder: Decoder, filterbank: Any) -> Any:
        """The decoder's own filterbank sub-layer (``filterbank``: one given, or None), or
        None where the basis is the encoder's."""
        return None

    def basis(self, decoder: Decoder, dtype: Any) -> tuple[Any, Any]:
        """``(synthesis [num_basis, frame_len], weights [frame_len] or None)``."""
        raise NotImplementedError(f"{type(self).__name__} must define basis()")

    def prepare(self, decoder: Decoder, dtype: Any) -> None:
        """Make what :meth:`basis` can make once, when the decoder is built (default:
        nothing)."""

    def frame_weights(self, decoder: Decoder, dtype: Any) -> Any:
        """:meth:`basis`'s ``weights`` alone (a variant may make them without the basis)."""
        return self.basis(decoder, dtype)[1] if self.normalises else None

    def basis_trains(self, decoder: Decoder) -> bool:
        """Whether a gradient reaches the basis weight through this synthesis."""
        return bool(decoder.encoder.filterbank.trainable)

    def inverse_dft(self, dft: WindowedDFT) -> WindowedInverseDFT | None:
        """This synthesis of an encoder whose basis is ``dft``, as an inverse windowed DFT
        (what ``rfft`` runs by ``irfft``), or None where it is not one."""
        return None

    def undo_bias(self, decoder: Decoder, coefficients: Any, dtype: Any) -> Any:
        """The coefficients the synthesis basis reads (the encoder's bias kept or undone)."""
        return coefficients

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Synthesis:
        return cls(**config)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({options})"


class TiedSynthesis(Synthesis):
    """``tied``: the encoder's own basis, transposed (weights shared, trained through both)."""

    name = "tied"

    def basis(self, decoder: Decoder, dtype: Any) -> tuple[Any, Any]:
        return ops.transpose(ops.cast(decoder.encoder.filterbank.filters(), dtype)), None

    def inverse_dft(self, dft: WindowedDFT) -> WindowedInverseDFT | None:
        return WindowedInverseDFT.transpose_of(dft)


class FreeSynthesis(Synthesis):
    """``free``: a basis of its own, ``[frame_len, num_basis]``, trained freely."""

    name = "free"
    uses_encoder = False

    def make_filterbank(self, decoder: Decoder, filterbank: Any) -> Any:
        if isinstance(filterbank, dict):
            filterbank = keras.saving.deserialize_keras_object(filterbank)
        return filterbank or FreeFilterbank(
            decoder.num_basis,
            decoder.frame_len,
            kernel_initializer=decoder.kernel_initializer,
            dtype=decoder.dtype_policy,
        )

    def basis(self, decoder: Decoder, dtype: Any) -> tuple[Any, Any]:
        return ops.transpose(ops.cast(decoder.filterbank.filters(), dtype)), None

    def basis_trains(self, decoder: Decoder) -> bool:
        return bool(decoder.filterbank.trainable)


class PinvSynthesis(Synthesis):
    """``pinv``: the pseudo-inverse of the encoder's basis, for resynthesis; the encoder's
    bias, if any, is subtracted first, and the output normalised by the overlapped frame
    weights ``diag(B B^T)`` (the module docstring says why).

    Args:
        rcond: singular values below ``rcond`` times the largest count as 0; default
            ``max(frame_len, num_basis)`` times the dtype's machine epsilon.
    """

    name = "pinv"
    normalises = True

    def __init__(self, rcond: float | None = None) -> None:
        self.rcond = None if rcond is None else float(rcond)
        # decoder -> {dtype: (basis, its synthesis basis) as numpy}: the SVD of a basis once,
        # not at every call (seconds a step under JAX on a CPU). Weak keys: the entry goes
        # with its decoder, and a later decoder never finds it (an id() can be reused).
        self._made: weakref.WeakKeyDictionary[Decoder, dict[str, tuple[Any, Any]]] = (
            weakref.WeakKeyDictionary()
        )

    def basis(self, decoder: Decoder, dtype: Any) -> tuple[Any, Any]:
        # No gradient through the SVD: it is undefined at repeated singular
        # values, which a DFT basis has. The encoder still trains through the
        # coefficients.
        basis = ops.stop_gradient(ops.cast(decoder.encoder.filterbank.filters(), dtype))
        weights = ops.sum(ops.square(basis), axis=1)  # diag(B B^T), [frame_len]
        key = keras.backend.standardize_dtype(dtype)
        known = value_now(basis)
        made = self._made.setdefault(decoder, {}).get(key)
        if known is not None:  # eager: make it now unless this basis's is already made
            if made is None or not np.array_equal(made[0], known):
                made = (known, value_now(self._synthesis(decoder, basis, weights, dtype)))
                self._made[decoder][key] = made
            return ops.convert_to_tensor(made[1], dtype), weights
        if made is None or keras.backend.backend() == "tensorflow":
            # A TensorFlow graph is what SavedModel, TFLite and ONNX export convert, and
            # tf2onnx writes an invalid If around the SVD: there the SVD stays in the graph.
            return self._synthesis(decoder, basis, weights, dtype), weights
        # Traced (a compiled step): the made basis serves while the weights equal those it
        # was made from; after a change (training, set_weights) the SVD runs again.
        same = ops.all(ops.equal(basis, ops.convert_to_tensor(made[0], dtype)))
        synthesis = ops.cond(
            same,
            lambda: ops.convert_to_tensor(made[1], dtype),
            lambda: self._synthesis(decoder, basis, weights, dtype),
        )
        return synthesis, weights

    def prepare(self, decoder: Decoder, dtype: Any) -> None:
        self.basis(decoder, dtype)

    def _synthesis(self, decoder: Decoder, basis: Any, weights: Any, dtype: Any) -> Any:
        """The weighted pseudo-inverse ``pinv(B) * g`` ``[num_basis, frame_len]``."""
        rcond = self.rcond
        if rcond is None:
            rcond = max(decoder.frame_len, decoder.num_basis) * _EPS.get(dtype, 1e-3)
        inverse = ops.pinv(basis, rcond=rcond)  # [num_basis, frame_len]
        # One Newton step, P += P (I - B P): the backends' float32 SVD leaves the
        # inverse of a full-rank basis short of what float32 allows.
        residual = ops.eye(decoder.frame_len, dtype=dtype) - ops.matmul(basis, inverse)
        inverse = inverse + ops.matmul(inverse, residual)
        return inverse * weights[None, :]

    def frame_weights(self, decoder: Decoder, dtype: Any) -> Any:
        # What basis() computes, without the SVD.
        basis = ops.stop_gradient(ops.cast(decoder.encoder.filterbank.filters(), dtype))
        return ops.sum(ops.square(basis), axis=1)

    def basis_trains(self, decoder: Decoder) -> bool:
        return False

    def inverse_dft(self, dft: WindowedDFT) -> WindowedInverseDFT | None:
        return WindowedInverseDFT.weighted_pinv_of(dft)

    def undo_bias(self, decoder: Decoder, coefficients: Any, dtype: Any) -> Any:
        if decoder.encoder.bias is None:
            return coefficients
        # The inverse of the encoder undoes its bias too.
        return coefficients - ops.cast(decoder.encoder.bias, dtype)

    def get_config(self) -> dict:
        return {"rcond": self.rcond}


_KINDS: dict[str, type[Synthesis]] = {
    cls.name: cls for cls in (TiedSynthesis, FreeSynthesis, PinvSynthesis)
}
DECODER_KINDS = tuple(_KINDS)


def get_synthesis(kind: str | Synthesis | dict, rcond: float | None = None) -> Synthesis:
    """The variant ``kind`` names: a :class:`Synthesis` as it is, a name in
    :data:`DECODER_KINDS` (``rcond`` goes to ``pinv``), or a serialised variant."""
    if isinstance(kind, Synthesis):
        return kind
    if isinstance(kind, dict):  # a user's registered variant, from get_config
        kind = keras.saving.deserialize_keras_object(kind)
        if isinstance(kind, Synthesis):
            return kind
    if kind is not None and not isinstance(kind, str):
        raise TypeError(
            "`kind` must be one of "
            f"{', '.join(map(repr, DECODER_KINDS))} or a framebank.decoder.Synthesis. "
            f"Received: kind={kind!r} of type {type(kind).__name__}"
        )
    name = check_choice("kind", kind, DECODER_KINDS)
    return PinvSynthesis(rcond) if name == "pinv" else _KINDS[name]()


def _rcond_of(variant: Synthesis) -> float | None:
    return getattr(variant, "rcond", None)


def _variant(kind: str | Synthesis | dict, rcond: float | None) -> Synthesis:
    """The decoder's variant; ``rcond`` beside a variant object only if it agrees."""
    if isinstance(kind, Synthesis) and rcond is not None and _rcond_of(kind) != rcond:
        raise ValueError(
            "With a variant object, `rcond` is the variant's own option: "
            f"PinvSynthesis(rcond=...). Received: kind={kind!r}, rcond={rcond!r}"
        )
    return get_synthesis(kind, rcond)


def _as_encoder(encoder: Any) -> Encoder | None:
    """``encoder`` (deserialised if a config dict); TypeError for anything else."""
    if isinstance(encoder, dict):  # serialised, from get_config
        encoder = keras.saving.deserialize_keras_object(encoder)
    if encoder is not None and not isinstance(encoder, Encoder):
        raise TypeError(
            "`encoder` must be a framebank.Encoder. "
            f"Received: encoder={encoder!r} of type {type(encoder).__name__}"
        )
    return encoder


def _synthesis_structures(encoder: Any, variant: Synthesis) -> tuple:
    """``("windowed_dft",)`` where the decoder's synthesis inverts a fixed windowed DFT (so
    ``auto`` runs its inverse FFT); elsewhere (a free basis, one that trains) none, and
    ``rfft`` runs its fallback, ``matmul``."""
    dft = getattr(getattr(encoder, "filterbank", None), "windowed_dft", None)
    # Frame processing (Kaldi's) has no inverse FFT here: its synthesis is a dense product.
    usable = (
        dft is not None
        and dft.plain
        and variant.uses_encoder
        and variant.inverse_dft(dft) is not None
    )
    return ("windowed_dft",) if usable else ()


@keras.saving.register_keras_serializable(package="framebank")
class Decoder(keras.layers.Layer):
    """Coefficients to a waveform: synthesis basis, then overlap-add.

    Args:
        encoder: the :class:`framebank.Encoder` to invert. Its framing
            (``frame_len``, ``hop``, ``center``) is reused; ``tied`` and
            ``pinv`` also use its basis (and track it, so a model holding
            both saves it once and reloads them sharing it).
        kind: ``tied``, ``free`` or ``pinv`` (see the module docstring), or a
            :class:`Synthesis` object (:class:`TiedSynthesis`, :class:`FreeSynthesis`,
            :class:`PinvSynthesis`, or a user's own subclass).
        method: ``"auto"`` (default: ``matmul``, the pick with no slow case)
            or any name in :data:`framebank.METHODS`, the same names as the
            encoder's: the framed methods run their own product on the
            coefficients and overlap-add; ``strided_conv`` is a strided
            transposed convolution (no frames). Equal outputs.
        kernel_initializer: for ``kind="free"``.
        rcond: for ``kind="pinv"``: singular values below ``rcond`` times the
            largest count as 0; default ``max(frame_len, num_basis)`` times the
            dtype's machine epsilon (:class:`PinvSynthesis`).
        num_basis, frame_len, hop, center: the geometry, needed only without
            an encoder (``kind="free"`` rebuilt from its config).
        filterbank: a serialised free filterbank (from ``get_config``).

    Call arguments:
        coefficients: ``[batch, frames, num_basis]``; an integer dtype is
            converted to the layer's compute dtype.
        length: optional positive int: trim or zero-pad the output to this
            many samples (the encoder's input length).

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
        kind: str | Synthesis = "tied",
        method: str | Method = "auto",
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
        check_floating_policy("Decoder", self.dtype_policy)
        self.variant = _variant(kind, rcond)
        encoder = _as_encoder(encoder)
        self.method = _decoder_method(method, _synthesis_structures(encoder, self.variant))
        # With measuring on (framebank.tuning), "auto" is timed at build, knowing the shape.
        self._auto = isinstance(method, str) and method == AUTO
        self._measured = False
        if encoder is None and self.variant.uses_encoder:
            raise ValueError(
                f"A {self.kind!r} decoder uses the encoder's basis, so it needs `encoder`. "
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
        self.frame_len, self.hop = check_framing_args(frame_len, hop)
        self.num_basis = check_positive_int("num_basis", num_basis)
        self.center = check_bool("center", center)
        self.rcond = None if rcond is None else float(rcond)
        if self.rcond is None:
            self.rcond = _rcond_of(self.variant)
        self.kernel_initializer = initializers.get(kernel_initializer)
        # Only a variant made from the encoder's basis tracks the encoder.
        self.encoder = encoder if self.variant.uses_encoder else None
        self.filterbank = self.variant.make_filterbank(self, filterbank)
        if self.filterbank is not None:
            freeze_sublayer(self, self.filterbank)
            # keras_default imitates the Keras layer that would run this method: the
            # strided method's transposed Conv1D has the strided Conv1D's layout.
            self.filterbank.bind_method(self.method.name)

    @property
    def kind(self) -> str:
        """The variant's name: ``tied``, ``free``, ``pinv`` (or a user variant's)."""
        return self.variant.name

    def _check_width(self, shape: tuple) -> None:
        """ValueError naming ``num_basis`` and the encoder unless ``shape`` is
        ``[batch, frames, num_basis]`` (checked at every call, not only the first)."""
        if len(shape) == 3 and shape[-1] in (None, self.num_basis):
            return
        source = (
            f"the {self.num_basis} basis vectors of its encoder {self.encoder.name!r}"
            if self.encoder is not None
            else f"its own basis of {self.num_basis} vectors"
        )
        raise ValueError(
            f"Decoder {self.name!r} expects coefficients [batch, frames, "
            f"num_basis={self.num_basis}], one a basis vector ({source}). "
            f"Received: shape={tuple(shape)}"
        )

    def build(self, input_shape: tuple) -> None:
        self._check_width(tuple(input_shape))
        if self.filterbank is not None:
            self.filterbank.build(self.frame_len)
        elif not self.encoder.built:
            self.encoder.build((None, None))
        self._measure_auto(input_shape[0], input_shape[1])
        dtype = keras.backend.standardize_dtype(self.compute_dtype)
        self.variant.prepare(self, "float32" if dtype in _HALF else dtype)

    def _measure_auto(self, batch: int | None, frames: int | None) -> None:
        """Replace the fixed rule's pick by the measured one (cached per shape class, the
        key's direction ``synthesis``) when made with ``method="auto"`` and measuring is
        on; a free filterbank keeps the rule's method for its initialiser. The variant's
        name is part of the key: tied and pinv synthesise with different bases."""
        if not (self._auto and tuning.measuring_enabled()):
            return
        dft = (
            getattr(self.encoder.filterbank, "windowed_dft", None)
            if self.encoder is not None
            else None
        )
        inverse = None if dft is None else self.variant.inverse_dft(dft)
        shape = tuning.ShapeClass.make(
            "synthesis", self.frame_len, self.hop, self.num_basis, batch, frames,
            structure="" if inverse is None else "windowed_dft",
            trainable=bool(self.trainable and self.variant.basis_trains(self)),
            dtype=self.compute_dtype, kind=self.variant.name,
        )  # fmt: skip
        self.method = get_method(tuning.measured_pick(shape, self.method.name, inverse))
        self._measured = True

    def synthesis(self, dtype: Any = "float32") -> tuple[Any, Any]:
        """``(synthesis [num_basis, frame_len], weights [frame_len] or None)``.

        ``weights`` (a variant that ``normalises``: ``pinv``) is the per-sample frame
        weighting whose overlap-add normalises the output.
        """
        return self.variant.basis(self, dtype)

    def _inverse_dft(self) -> WindowedInverseDFT | None:
        """The synthesis basis as an inverse windowed DFT, for a method that runs one
        (``rfft``: ``irfft``) while the encoder's basis is a fixed windowed DFT; else None."""
        if self.method.structure != "windowed_dft" or not self.variant.uses_encoder:
            return None
        dft = getattr(self.encoder.filterbank, "windowed_dft", None)
        plain = dft is not None and dft.plain
        inverse = self.variant.inverse_dft(dft) if plain else None
        if inverse is None:
            return None
        return inverse if runnable(self.method, inverse) is self.method else None

    def __call__(self, coefficients: Any, length: Any = None, **kwargs: Any) -> Any:
        refuse_sequence("Decoder", "coefficients [batch, frames, num_basis]", coefficients)
        # Checked here, before Keras builds a symbolic output of that length; a
        # numpy integer (x.shape[1] of an array) would become a tensor inside Keras.
        if length is not None and not is_tensor(length):
            length = check_positive_int("length", length)
        return super().__call__(coefficients, length=length, **kwargs)

    def call(self, coefficients: Any, length: Any = None) -> Any:
        coefficients = as_real(coefficients, "coefficients", self.compute_dtype)
        self._check_width(tuple(coefficients.shape))
        dtype = keras.backend.standardize_dtype(coefficients.dtype)
        # A 16-bit pseudo-inverse (SVD) is neither supported everywhere nor accurate:
        # the synthesis basis is made in float32 and only the product runs in 16 bits.
        made_in = "float32" if dtype in _HALF else dtype
        coefficients = self.variant.undo_bias(self, coefficients, dtype)
        inverse = self._inverse_dft()
        if inverse is not None:
            basis = ops.cast(self.encoder.filterbank.filters(), dtype)
            weights = self.variant.frame_weights(self, made_in)
            # The explicit basis (pinv's SVD) is made only in the branch that reads it.
            out = self.method.synthesize_structured(
                coefficients,
                lambda: ops.cast(self.synthesis(made_in)[0], dtype),
                basis,
                inverse,
                self.hop,
            )
        else:
            synthesis, weights = self.synthesis(made_in)
            synthesis = ops.cast(synthesis, dtype)
            out = runnable(self.method).synthesize(coefficients, synthesis, self.hop)
        if weights is not None:
            weights = ops.cast(weights, dtype)
            # Relative, unlike overlap_add's cut-off at the dtype's smallest normal
            # number: these frames are projections carrying rounding, which dividing
            # by a near-zero weight (a window's first samples) would amplify.
            out = framing.divide_by_overlapped(
                out, weights, self.hop, framing.axis_len(coefficients, 1), ops.max(weights) * 1e-8
            )
        half = self.frame_len // 2
        if self.center and half:
            out = out[:, half:]
            if length is None:  # drop the end's centring pad too (else `length` decides)
                out = out[:, : framing.axis_len(out, 1) - half]
        if length is not None:
            out = framing.fit_length(out, length)
        return out

    def compute_output_spec(self, coefficients: Any, length: Any = None) -> Any:
        shape = self.compute_output_shape(coefficients.shape, length)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple, length: Any = None) -> tuple:
        """``(batch, time)``; ``length`` (when the call gives one) decides ``time``."""
        if length is not None:
            return (input_shape[0], length if isinstance(length, int) else None)
        count = input_shape[1]
        if count is None:
            return (input_shape[0], None)
        time = max(0, (count - 1) * self.hop + self.frame_len)
        if self.center:
            time = max(0, time - 2 * (self.frame_len // 2))
        return (input_shape[0], time)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            kind=self._kind_config(),
            method=AUTO if self._measured else self.method.name,
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

    def _kind_config(self) -> str | dict:
        """A built-in variant by its name (``rcond`` has its own key), as configs always
        had it; a user's variant serialised (its class must be registered with Keras)."""
        if type(self.variant) is _KINDS.get(self.variant.name):
            return self.variant.name
        return keras.saving.serialize_keras_object(self.variant)
