"""The Keras layers users import: :class:`FrameProjection` and :class:`Encoder`.

They compose the three independent concerns: framing (which samples form a
frame), a filterbank (what the basis is) and a method (how ``frames @ basis``
is executed). Swapping the method changes speed and memory, never the
numbers beyond float rounding, and never the weights.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from framebank import framing, tuning
from framebank._validation import (
    KERAS_INPUT_KEYWORDS,
    KERAS_LAYER_KEYWORDS,
    AudioInput,
    as_waveform,
    check_bool,
    check_floating_policy,
    check_framing_args,
    check_number,
    check_positive_int,
)
from framebank.filterbanks import FILTERBANKS, Filterbank, family_options, get_filterbank
from framebank.methods import (
    AUTO,
    METHODS,
    Method,
    get_method,
    resolve_method,
    runnable,
    with_static_channels,
)

__all__ = ["FrameProjection", "Encoder"]


@keras.saving.register_keras_serializable(package="framebank")
class _Bias(keras.layers.Layer):
    """A ``[num_basis]`` bias; a sub-layer only to fix the weights' order."""

    def __init__(self, num_basis: int, initializer: Any = "zeros", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_basis = num_basis
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape: Any = None) -> None:
        self.bias = self.add_weight(
            name="bias", shape=(self.num_basis,), initializer=self.initializer
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_basis=self.num_basis, initializer=keras.initializers.serialize(self.initializer)
        )
        return config


def freeze_sublayer(parent: keras.layers.Layer, sublayer: keras.layers.Layer) -> None:
    """A layer made with ``trainable=False`` freezes the sub-layers it holds.

    Why: Keras propagates ``layer.trainable = False`` to sub-layers only when it
    is set after they exist; a model collects the weights of every sub-layer, so
    one made later (or given in) would otherwise still train. A trainable parent
    leaves a sub-layer's own setting alone (the ``mel`` family stays fixed), until
    ``parent.trainable = True`` is set, which Keras passes down to every sub-layer.
    """
    if not parent.trainable:
        sublayer.trainable = False


def _compute_dtype(layer_kwargs: dict) -> str:
    """The compute dtype a layer made with these keywords will have (``auto`` depends on it)."""
    return keras.dtype_policies.get(layer_kwargs.get("dtype")).compute_dtype


class _BasisLayer(keras.layers.Layer):
    """Shared plumbing: a filterbank sub-layer, a method, an optional bias."""

    def __init__(
        self,
        num_basis: int | None,
        method: str | Method,
        filterbank: str | Filterbank | dict,
        use_bias: bool,
        bias_initializer: Any,
        family_options: dict,
        auto: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_floating_policy(type(self).__name__, self.dtype_policy)
        if num_basis is not None:
            num_basis = check_positive_int("num_basis", num_basis)
        if isinstance(filterbank, dict):  # a serialised filterbank, from get_config
            filterbank = keras.saving.deserialize_keras_object(filterbank)
        made_here = isinstance(filterbank, str)
        self.filterbank = get_filterbank(filterbank, **family_options)
        if made_here:
            # A family made here takes the layer's dtype, as a Dense's kernel would; set
            # after construction, since a user's own family need not accept `dtype`.
            self.filterbank.dtype_policy = self.dtype_policy
        freeze_sublayer(self, self.filterbank)
        if num_basis is not None and self.filterbank.num_basis != num_basis:
            raise ValueError(
                f"The filterbank makes {self.filterbank.num_basis} basis vectors but the layer "
                f"was asked for num_basis={num_basis}"
            )
        # Families that fix their size (fourier, mel) let num_basis be left out.
        self.num_basis = self.filterbank.num_basis
        # "auto" becomes a concrete method now, knowing what the basis is (get_config
        # records that name).
        structures = [s for s in _structure_names() if self._structure(s) is not None]
        self.method = get_method(resolve_method(method, **(auto or {}), structures=structures))
        # With measuring on (framebank.tuning), "auto" is timed at build, knowing the shape.
        self._auto = isinstance(method, str) and method == AUTO
        self._measured = False
        _check_structure(self.method, self.filterbank)
        self.filterbank.bind_method(self.method.name)
        self.use_bias = check_bool("use_bias", use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.bias_layer: _Bias | None = None

    def _measure_auto(self, direction: str, batch: int | None, frames: int | None) -> None:
        """Replace the fixed rule's pick by the measured one (cached per shape class) when
        the layer was made with ``method="auto"`` and measuring is on. The filterbank keeps
        the rule's method for its initialiser, so initial weights never depend on timing."""
        if not (self._auto and tuning.measuring_enabled()):
            return
        fb = self.filterbank
        structure = next((s for s in _structure_names() if self._structure(s) is not None), "")
        shape = tuning.ShapeClass.make(
            direction, fb.frame_len, getattr(self, "hop", 1), self.num_basis, batch, frames,
            structure=structure, trainable=bool(self.trainable and fb.trainable),
            dtype=self.compute_dtype,
        )  # fmt: skip
        rule = self.method.name
        pick = tuning.measured_pick(shape, rule, self._structure(structure or None))
        self.method = get_method(pick)
        self._measured = True

    def _build_basis(self, frame_len: int) -> None:
        self.filterbank.build(frame_len)
        # The bias lives in a sub-layer made after the filterbank so that
        # get_weights() lists [kernel, bias], as keras.layers.Dense does.
        self.bias_layer = None
        if self.use_bias:
            self.bias_layer = _Bias(
                self.num_basis,
                self.bias_initializer,
                dtype=self.dtype_policy,
                trainable=self.trainable,
            )
        if self.bias_layer is not None:
            self.bias_layer.build()

    @property
    def bias(self) -> Any:
        return None if self.bias_layer is None else self.bias_layer.bias

    def _basis(self, dtype: Any) -> Any:
        return ops.cast(self.filterbank.filters(), dtype)

    def _structure(self, name: str | None) -> Any:
        """The filterbank's description of its basis that a method asks for (None: absent)."""
        return None if name is None else getattr(self.filterbank, name, None)

    def _project(self, x: Any, hop: int | None = None) -> Any:
        """Coefficients by this layer's method, or its fallback where it cannot run: ``x``
        is frames (``hop=None``) or a padded waveform framed every ``hop`` samples."""
        # Any method (a user's too) keeps the static batch and num_basis of an unknown length.
        return with_static_channels(self._run_method(x, hop), x.shape[0], self.num_basis)

    def _run_method(self, x: Any, hop: int | None) -> Any:
        structure = self._structure(self.method.structure)
        method = runnable(self.method, structure)
        basis = self._basis(x.dtype)
        if method is self.method and structure is not None:
            return method.project_structured(x, basis, structure, hop)
        if not method.needs_frames:
            return method.project_signal(x, basis, hop)
        frames = x if hop is None else framing.frame_valid(x, self.filterbank.frame_len, hop)
        return method.project(frames, basis)

    def _add_bias(self, coefficients: Any) -> Any:
        if self.bias_layer is not None:
            coefficients = coefficients + ops.cast(self.bias_layer.bias, coefficients.dtype)
        return coefficients

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_basis=self.num_basis,
            # A measured pick belongs to this machine: "auto" measures again where it loads.
            method=AUTO if self._measured else self.method.name,
            filterbank=keras.saving.serialize_keras_object(self.filterbank),
            use_bias=self.use_bias,
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config


@keras.saving.register_keras_serializable(package="framebank")
class FrameProjection(AudioInput, _BasisLayer):
    """Project frames onto a learned basis: ``frames @ basis``.

    ``reshape_conv`` (Method 1), ``pointwise_conv`` (Method 2), ``dense`` and
    ``matmul`` all compute ``frames @ kernel`` with one ``[frame_len,
    num_basis]`` kernel; they differ only in the op that runs.

    Args:
        num_basis: basis vectors (outputs per frame).
        method: ``"auto"`` (default: the method measured fastest for this
            backend and device, recorded by name in ``get_config``) or a name
            from :data:`framebank.METHODS` (not ``strided_conv``, which needs
            the waveform: use :class:`Encoder`).
        use_bias: add a ``[num_basis]`` bias.
        kernel_initializer: ``basis_glorot_uniform`` (default), ``keras_default``
            or any Keras initializer.
        filterbank: ``"free"`` (default) or a :class:`Filterbank`.

    Input shape:
        ``[batch, frames, frame_len]``: frames of audio; integer PCM (int16...)
        is divided by its full scale, as soundfile reads it.

    Output shape:
        ``[batch, frames, num_basis]``.

    Example:
        >>> layer = FrameProjection(64, method="reshape_conv")
        >>> layer(np.zeros((2, 10, 80), "float32")).shape
        (2, 10, 64)
    """

    _expected_input = "frames [batch, frames, frame_len]"

    def __init__(
        self,
        num_basis: int,
        method: str | Method = "auto",
        use_bias: bool = False,
        kernel_initializer: Any = "basis_glorot_uniform",
        bias_initializer: Any = "zeros",
        filterbank: str | Filterbank | dict = "free",
        **kwargs: Any,
    ) -> None:
        # "auto" becomes a concrete method at construction (frame_len is not known
        # yet, so the rule for frames is used); get_config records that name.
        auto = dict(num_basis=num_basis, needs_frames=True, compute_dtype=_compute_dtype(kwargs))
        options = _family_options_for(filterbank, num_basis, kernel_initializer)
        super().__init__(
            num_basis, method, filterbank, use_bias, bias_initializer, options, auto, **kwargs
        )
        if not self.method.needs_frames:
            raise ValueError(
                f"FrameProjection receives frames, but method={self.method.name!r} reads the "
                "waveform. Use framebank.Encoder(..., method='strided_conv') for it, or one of "
                "'reshape_conv', 'pointwise_conv', 'dense', 'matmul' here."
            )

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "FrameProjection expects frames [batch, frames, frame_len] with a known "
                f"frame_len. Received: input_shape={tuple(input_shape)}"
            )
        self._build_basis(int(input_shape[-1]))
        self._measure_auto("frames", input_shape[0], input_shape[1])
        # Keras then checks every call's frame_len, with an error naming both lengths.
        self.input_spec = keras.InputSpec(ndim=3, axes={-1: int(input_shape[-1])})

    def call(self, frames: Any) -> Any:
        frames = as_waveform(frames, "frames", self.compute_dtype)
        if len(frames.shape) != 3:
            raise ValueError(
                "FrameProjection expects frames [batch, frames, frame_len]. "
                f"Received: shape={tuple(frames.shape)}"
            )
        return self._add_bias(self._project(frames))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.num_basis)


@keras.saving.register_keras_serializable(package="framebank")
class Encoder(AudioInput, _BasisLayer):
    """Waveform to coefficients: framing, then a basis executed by ``method``.

    Args:
        num_basis: basis vectors (coefficients per frame); may be left out
            (``None``) for families that fix it from ``frame_len`` (``fourier``,
            ``mel``).
        frame_len: samples per frame (required).
        hop: samples between frame starts (required).
        method: ``"auto"`` (default: the method measured fastest for this
            backend, device and shape, recorded by name in ``get_config``, see
            :func:`framebank.methods.resolve_method`) or a name from
            :data:`framebank.METHODS`. ``strided_conv`` never materialises frames.
        use_bias: add a ``[num_basis]`` bias.
        kernel_initializer: for the free filterbank: ``basis_glorot_uniform``
            (default), ``keras_default`` or any Keras initializer.
        pad_end: pad the end to ``ceil(time / hop)`` frames (``tf.signal.frame``).
        center: pad ``frame_len // 2`` on both sides (librosa's ``center=True``).
        pad_value: value used by ``pad_end``.
        pad_mode: how ``center`` pads: ``"constant"`` (zeros, librosa's default) or
            ``"reflect"`` (librosa's ``pad_mode="reflect"``; not streamable: it needs
            samples after the chunk's end).
        filterbank: family name (``"free"``, ``"fourier"``, ``"analytic"``,
            ``"sinc"``, ``"gabor"``, ``"mel"``, or a registered one) or a
            :class:`Filterbank` instance.
        sample_rate: Hz, given to the family (sinc, gabor and mel need it).
        **kwargs: Keras layer keywords (``name``, ``dtype``, ``trainable``);
            any other keyword is an option of the family (``window="hann"``).

    Input shape:
        ``[batch, time]`` or ``[batch, time, 1]``; ``time`` may be unknown.
        Integer PCM (int8, int16, int32, uint8) is divided by its full scale
        (int16 by 32768), as soundfile and torchaudio read it; other integer
        and bool dtypes are refused.

    Output shape:
        ``[batch, frames, num_basis]``; no activation (add one yourself).

    Raises:
        ValueError, TypeError: bad sizes or names at construction; a signal
            shorter than one frame (without padding) at the first call. A
            length known only at run time (TensorFlow with an unknown time
            axis, as in an exported SavedModel) cannot raise there: such a
            signal gives zero frames, ``[batch, 0, num_basis]``, as
            ``tf.signal.frame`` does.

    Example:
        >>> enc = Encoder(64, frame_len=16, hop=8, method="strided_conv")
        >>> enc(np.zeros((2, 800), "float32")).shape
        (2, 99, 64)
        >>> Encoder(frame_len=256, hop=80, filterbank="mel", sample_rate=8000).num_basis
        258
    """

    def __init__(
        self,
        num_basis: int | None = None,
        frame_len: int | None = None,
        hop: int | None = None,
        method: str | Method = "auto",
        use_bias: bool = False,
        kernel_initializer: Any = "basis_glorot_uniform",
        bias_initializer: Any = "zeros",
        pad_end: bool = False,
        center: bool = False,
        pad_value: float = 0.0,
        filterbank: str | Filterbank | dict = "free",
        sample_rate: float | None = None,
        pad_mode: str = "constant",
        **kwargs: Any,
    ) -> None:
        self.frame_len, self.hop = check_framing_args(frame_len, hop)
        auto = dict(
            frame_len=self.frame_len,
            hop=self.hop,
            num_basis=num_basis,
            compute_dtype=_compute_dtype(kwargs),
        )
        # Keras's own keywords (name, dtype, trainable, ...) stay with the layer;
        # everything else is an option of the filterbank family.
        keras_keywords = (*KERAS_LAYER_KEYWORDS, *KERAS_INPUT_KEYWORDS)
        family = {k: kwargs.pop(k) for k in list(kwargs) if k not in keras_keywords}
        options = _family_options_for(
            filterbank, num_basis, kernel_initializer, sample_rate=sample_rate, family=family
        )
        if isinstance(filterbank, str):
            options.setdefault("frame_len", self.frame_len)
        super().__init__(
            num_basis, method, filterbank, use_bias, bias_initializer, options, auto, **kwargs
        )
        self.pad_end = check_bool("pad_end", pad_end)
        self.center = check_bool("center", center)
        self.pad_value = check_number("pad_value", pad_value)
        self.pad_mode = framing.check_pad_mode(pad_mode)

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) not in (2, 3) or (len(input_shape) == 3 and input_shape[-1] != 1):
            raise ValueError(
                f"{type(self).__name__} {self.name!r} expects a mono waveform [batch, time] or "
                "[batch, time, 1]. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self._build_basis(self.frame_len)
        frames = framing.frames_for_shape(tuple(input_shape), self)
        self._measure_auto("signal", input_shape[0], frames)

    def call(self, signal: Any) -> Any:
        x, _ = framing.as_batch_time(signal, dtype=self.compute_dtype)
        if x.shape[1] == 0:
            raise ValueError("Encoder received an empty signal (0 samples).")
        x = framing.pad_signal(
            x, self.frame_len, self.hop, self.pad_end, self.center, self.pad_value, self.pad_mode
        )
        framing.check_long_enough(x, self.frame_len)
        return self.project_padded(x)

    def project_padded(self, x: Any) -> Any:
        """Coefficients ``[batch, frames, num_basis]`` (bias included) of a waveform
        ``[batch, time]`` already padded by :func:`framebank.framing.pad_signal`: the
        encoder's step after padding, which streaming runs on its buffered samples."""
        return self._add_bias(self._project(x, self.hop))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (
            input_shape[0],
            framing.frames_for_shape(input_shape, self),
            self.num_basis,
        )

    def get_config(self) -> dict:
        return {**super().get_config(), **framing.framing_config(self)}


_DEFAULT_INITIALIZER = "basis_glorot_uniform"


def _check_structure(method: Method, filterbank: Filterbank) -> None:
    """Refuse a method that exploits a structure the family never declares (``rfft`` on a
    Gabor or free basis), which would otherwise run its fallback silently. A family that
    declares it (``fourier``, ``mel``) keeps the method, falling back only while its basis
    is not that structure (trainable, say)."""
    name = method.structure
    if name is None or getattr(type(filterbank), name, None) is not getattr(Filterbank, name):
        return
    family = getattr(filterbank, "family", type(filterbank).__name__)
    raise ValueError(
        f"method={method.name!r} runs a basis that is a `{name}` structure, which filterbank "
        f"{family!r} ({type(filterbank).__name__}) never is: it needs a fixed 'fourier' or "
        "'mel'-type basis (a family declaring `"
        f"{name}`). Use method='auto' or 'matmul' for this filterbank."
    )


def _structure_names() -> list[str]:
    """The basis descriptions some registered method can exploit (``windowed_dft``)."""
    return sorted({m.structure for m in METHODS.values() if m.structure})


def _family_options_for(
    filterbank: Any,
    num_basis: int | None,
    kernel_initializer: Any,
    sample_rate: float | None = None,
    family: dict | None = None,
) -> dict:
    """Constructor options for a filterbank given by name.

    ``kernel_initializer`` goes to families that take one (free, analytic);
    for an instance (or a serialised one) the family options must be empty
    and ``sample_rate`` must agree with the instance's.
    """
    family = dict(family or {})
    if not isinstance(filterbank, str):
        if isinstance(filterbank, Filterbank) and sample_rate is not None:
            if filterbank.sample_rate != sample_rate:
                raise ValueError(
                    f"sample_rate={sample_rate} disagrees with the filterbank instance's "
                    f"sample_rate={filterbank.sample_rate}"
                )
        return family  # get_filterbank rejects options given with an instance
    options: dict[str, Any] = {"num_basis": num_basis, **family}
    if sample_rate is not None:
        options["sample_rate"] = sample_rate
    cls = FILTERBANKS.get(filterbank)
    if cls is not None and "kernel_initializer" in family_options(cls):
        options.setdefault("kernel_initializer", kernel_initializer)
    elif cls is not None and not (
        isinstance(kernel_initializer, str) and kernel_initializer == _DEFAULT_INITIALIZER
    ):
        raise ValueError(
            f"The {filterbank!r} filterbank takes no kernel_initializer (its basis is made "
            f"from its own parameters). Received: kernel_initializer={kernel_initializer!r}"
        )
    return options
