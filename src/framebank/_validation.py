"""Argument checks shared by every room of framebank (private to the package).

Each check returns the value in its canonical Python type and raises a
``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, refused
value) whose message names the argument and the value received, before any
work is done. Imports nothing of framebank, so every module may import it.

It is also the one config-schema checker: the key, type and range checks that every
config reader shares (the recipe configs, their variants and family entries, the
front-end configs of :func:`framebank.build_frontend`).
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Iterable
from typing import Any

import numpy as np

# The keyword arguments every Keras layer accepts, with their defaults; a layer
# that forwards "everything else" to another object sets these aside first.
# (``input_shape`` and ``input_dim`` are what a Sequential's first layer takes.)
KERAS_LAYER_KEYWORDS: dict[str, Any] = {
    "name": None,
    "dtype": None,
    "trainable": True,
    "autocast": True,
    "activity_regularizer": None,
}
KERAS_INPUT_KEYWORDS = ("input_shape", "input_dim")


def layer_options(cls: type, stop_at: tuple[type, ...], skip: Iterable[str] = ()) -> dict[str, Any]:
    """The keyword options a layer class's constructors accept, with their defaults.

    Read from each ``__init__`` in ``cls``'s MRO up to (not including) the first
    class in ``stop_at``; ``inspect.Parameter.empty`` marks a required option.
    Keras's layer keywords are included; names in ``skip`` are left out.
    """
    skip = set(skip)
    options: dict[str, Any] = {}
    for klass in cls.__mro__:
        if klass in stop_at:
            break
        if "__init__" not in vars(klass):
            continue
        for param in inspect.signature(klass.__init__).parameters.values():
            if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL) or param.name == "self":
                continue
            if param.name not in skip:
                options.setdefault(param.name, param.default)
    for name, default in KERAS_LAYER_KEYWORDS.items():
        options.setdefault(name, default)
    return options


def scalar(value: Any) -> Any:
    """A 0-d numpy array as its numpy scalar (``np.array(0.5)``); anything else unchanged."""
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


def is_tensor(x: Any) -> bool:
    """A backend or Keras tensor (a value known at run time); numpy values are plain numbers."""
    numpy = isinstance(x, (np.ndarray, np.generic))
    return hasattr(x, "shape") and hasattr(x, "dtype") and not numpy


def is_integer(value: Any) -> bool:
    """A Python or numpy integer, not a bool."""
    value = scalar(value)
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_int(name: str, value: Any, low: int, expected: str) -> int:
    """``value`` as a Python int: TypeError if not an integer (numpy's count), ValueError if
    below ``low``; both messages say it must be ``expected``."""
    if not is_integer(value):
        raise TypeError(f"`{name}` must be {expected}. Received: {name}={value!r}")
    if scalar(value) < low:
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
    return int(scalar(value))


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as a Python int: TypeError if not an integer (numpy's count), ValueError if < 1."""
    return _check_int(name, value, 1, "a positive integer")


def check_framing_args(frame_len: Any, hop: Any) -> tuple[int, int]:
    """Validate ``frame_len`` and ``hop``; return them as Python ints."""
    return check_positive_int("frame_len", frame_len), check_positive_int("hop", hop)


def check_non_negative_int(name: str, value: Any) -> int:
    """``value`` as a Python int >= 0 (TypeError if not an integer, ValueError if negative)."""
    return _check_int(name, value, 0, "an integer >= 0")


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a Python bool; TypeError for anything else (``"no"`` is not False)."""
    if not isinstance(scalar(value), (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False. Received: {name}={value!r}")
    return bool(value)


def check_number(name: str, value: Any) -> float:
    """``value`` as a Python float; TypeError for anything but a real number."""
    value_ = scalar(value)
    if isinstance(value_, (bool, np.bool_, np.complexfloating)) or not isinstance(
        value_, (int, float, np.number)
    ):
        raise TypeError(f"`{name}` must be a real number. Received: {name}={value!r}")
    return float(value_)


def check_positive_number(name: str, value: Any) -> float:
    """``value`` as a finite Python float > 0."""
    number = check_number(name, value)
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")
    return number


def check_in_range(
    name: str, value: Any, low: float, high: float, *, low_open: bool = False
) -> float:
    """``value`` as a Python float in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    number = check_number(name, value)
    above = number > low if low_open else number >= low
    if not (above and number <= high):
        bracket = "(" if low_open else "["
        raise ValueError(
            f"`{name}` must be in {bracket}{low:g}, {high:g}]. Received: {name}={value!r}"
        )
    return number


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices`` (strings); ValueError naming them otherwise."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(repr, choices))}. Received: {name}={value!r}"
        )
    return value


def as_real(x: Any, name: str, float_dtype: str) -> Any:
    """``x`` as a tensor of real numbers: an integer or bool dtype becomes ``float_dtype``.

    The one rule every framebank layer applies to its input: integers are
    converted to the layer's compute dtype (an integer basis would truncate
    every weight to zero); complex numbers and strings are refused, since the
    layers work on real and imaginary parts laid side by side.
    """
    import keras

    if not (hasattr(x, "shape") and hasattr(x, "dtype")) or isinstance(x, np.ndarray):
        x = keras.ops.convert_to_tensor(x)
    dtype = keras.backend.standardize_dtype(x.dtype)
    if dtype.startswith(("complex", "string")) or dtype == "object":
        raise TypeError(
            f"`{name}` must hold real numbers (a float dtype, or an int/bool dtype that is "
            f"converted to {float_dtype}); lay real and imaginary parts side by side. "
            f"Received: {name}.dtype={dtype}"
        )
    if not dtype.startswith(("float", "bfloat")):
        x = keras.ops.cast(x, float_dtype)
    return x


# Integer PCM as soundfile and torchaudio read it: a signed k-bit sample divided by its
# full scale 2**(k-1) lies in [-1, 1); 8-bit PCM (WAV) is unsigned, centred on 128.
# (offset, full scale) by dtype name; other integer dtypes have no audio meaning.
PCM_FULL_SCALE: dict[str, tuple[int, int]] = {
    "int8": (0, 2**7),
    "int16": (0, 2**15),
    "int32": (0, 2**31),
    "uint8": (2**7, 2**7),
}


def pcm_scale(dtype: str, name: str) -> tuple[int, int]:
    """``(offset, full_scale)`` for integer PCM of ``dtype``; TypeError for any other integer.

    The one rule for integer audio: ``(x - offset) / full_scale``, so an int16
    waveform gives the same features as the float waveform soundfile reads.
    """
    if dtype not in PCM_FULL_SCALE:
        raise TypeError(
            f"`{name}` is audio: a float dtype (samples in [-1, 1]) or integer PCM "
            f"({', '.join(PCM_FULL_SCALE)}), which is divided by its full scale. "
            f"Received: {name}.dtype={dtype} (convert it to float yourself, in [-1, 1])"
        )
    return PCM_FULL_SCALE[dtype]


class AudioInput:
    """Mixin for a Keras layer whose input is audio samples: a numpy integer input is
    checked against :data:`PCM_FULL_SCALE` before Keras converts it (a backend may narrow
    int64 to int32 on the way, which would then pass as PCM)."""

    # What the layer reads, for the message refusing a Python list.
    _expected_input = "a waveform [batch, samples]"

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        self._check_audio_value(inputs)
        return self._call_checked(inputs, *args, **kwargs)

    def _call_checked(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """The call once the value is checked: a subclass adds its own checks here, so the
        value is checked once per call."""
        return super().__call__(inputs, *args, **kwargs)  # type: ignore[misc]

    def _check_audio_value(self, inputs: Any) -> None:
        """Refuse a Python list or tuple, and integer samples that are not PCM."""
        refuse_sequence(type(self).__name__, self._expected_input, inputs)
        if isinstance(inputs, (np.ndarray, np.generic)) and inputs.dtype.kind in "iub":
            pcm_scale(str(inputs.dtype), "waveform")


def refuse_sequence(owner: str, expected: str, inputs: Any) -> None:
    """A ``TypeError`` for a Python list or tuple given as a layer's tensor input.

    As Keras layers do, a list is not converted; Keras's own message would name one of
    its numbers as a misplaced positional argument."""
    if isinstance(inputs, (list, tuple)):
        raise TypeError(
            f"{owner} takes {expected} as a tensor or array, not a Python "
            f"{type(inputs).__name__}: pass np.asarray(x, 'float32'). "
            f"Received: {describe_sequence(inputs)}"
        )


def describe_sequence(value: list | tuple) -> str:
    """``a list of 16000 float`` (its length, and its first item's type where it has one)."""
    first = f" {type(value[0]).__name__}" if value else ""
    return f"a {type(value).__name__} of {len(value)}{first}"


def as_waveform(x: Any, name: str, float_dtype: str) -> Any:
    """Audio samples as a float tensor: integer PCM scaled to [-1, 1) (:data:`PCM_FULL_SCALE`).

    Every layer that reads samples (a waveform, or frames of one) goes through here,
    so int16 audio gives the features of the float audio it encodes, not features of
    samples 32768 times too loud. Complex, string and bool samples are refused.
    """
    import keras

    if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind in "iub":
        # Checked before conversion: a backend may narrow int64 to int32 (JAX without x64).
        pcm_scale(str(x.dtype), name)
    if not (hasattr(x, "shape") and hasattr(x, "dtype")) or isinstance(x, np.ndarray):
        x = keras.ops.convert_to_tensor(x)
    dtype = keras.backend.standardize_dtype(x.dtype)
    if dtype.startswith(("float", "bfloat")):
        return x
    if dtype.startswith(("int", "uint")):
        offset, full_scale = pcm_scale(dtype, name)
        x = keras.ops.cast(x, float_dtype)
        if offset:
            x = x - offset
        return x * (1.0 / full_scale)
    raise TypeError(
        f"`{name}` must hold audio samples: a float dtype, or integer PCM "
        f"({', '.join(PCM_FULL_SCALE)}) scaled by its full scale. Received: {name}.dtype={dtype}"
    )


def check_floating_policy(owner: str, policy: Any) -> None:
    """Refuse a dtype policy whose variables or computations are not floating point.

    A basis, a window or a smoother cannot be an integer: an ``int32`` layer would
    fail deep inside the backend's random or trigonometric ops instead.
    """
    for what, dtype in (("variable", policy.variable_dtype), ("compute", policy.compute_dtype)):
        if not str(dtype).startswith(("float", "bfloat")):
            raise TypeError(
                f"{owner} computes in floating point; its dtype policy must be a float one "
                f"(float32, float64, mixed_float16, ...). Received: dtype={policy.name!r} "
                f"({what} dtype {dtype})"
            )


def check_mel_options(
    n_mels: Any, power: Any, norm: Any, fmin: Any, fmax: Any, sample_rate: float
) -> None:
    """A mel weighting's options, as ``librosa.filters.mel`` takes them: checked once for the
    mel family and the :class:`~framebank.postprocessing.MelSpectrum` layer alike."""
    nyquist = float(sample_rate) / 2
    low = check_number("fmin", fmin)
    high = nyquist if fmax is None else check_number("fmax", fmax)
    if not 0 <= low < high <= nyquist:
        # librosa only warns, and the filters outside the band come out all zero.
        raise ValueError(
            f"Expected 0 <= fmin < fmax <= sample_rate / 2 = {nyquist:g}. "
            f"Received: fmin={fmin!r}, fmax={fmax!r}"
        )
    check_positive_int("n_mels", n_mels)
    if check_number("power", power) <= 0:
        raise ValueError(f"`power` must be a positive number (1 or 2). Received: power={power!r}")
    if norm not in (None, "slaney"):
        raise ValueError(f"`norm` must be 'slaney' or None. Received: norm={norm!r}")


# The mel weighting's options in their order, as a layer keeps and saves them.
MEL_OPTIONS = ("n_mels", "fmin", "fmax", "power", "htk", "norm")


def mel_options(
    n_mels: Any, fmin: Any, fmax: Any, power: Any, htk: Any, norm: Any, sample_rate: float
) -> dict[str, Any]:
    """The options of :data:`MEL_OPTIONS`, checked (:func:`check_mel_options`) and in the
    types the mel family and the ``MelSpectrum`` layer keep them in."""
    check_mel_options(n_mels, power, norm, fmin, fmax, sample_rate)
    return dict(
        n_mels=int(n_mels),
        fmin=float(fmin),
        fmax=None if fmax is None else float(fmax),
        power=float(power),
        htk=bool(htk),
        norm=norm,
    )


# The config schema checker: the typed-field checks that every config reader (the recipe
# dataclasses, a recipe's variants and family entries, the front-end configs) shares.

NUMBER = (int, float)


def check_known_keys(
    where: str, mapping: dict, accepted: Iterable[str], what: str = "field"
) -> None:
    """Refuse keys of ``mapping`` outside ``accepted``, naming them and listing ``accepted``
    (in its order)."""
    accepted = list(accepted)
    unknown = sorted(str(k) for k in set(mapping) - set(accepted))
    if unknown:
        raise ValueError(
            f"{where}: unknown {what}(s) {', '.join(unknown)}. Accepted: {', '.join(accepted)}"
        )


def type_problem(what: str, value: Any, accepted: tuple[type, ...] | None) -> str | None:
    """What is wrong with ``value`` against the ``accepted`` types, or None (also for None
    and for ``accepted`` None: not checked). A bool is never taken for a number."""
    if accepted is None or value is None:
        return None
    is_bool = isinstance(value, bool)
    if isinstance(value, accepted) and not (is_bool and bool not in accepted):
        return None
    names = " or ".join(sorted({t.__name__ for t in accepted}))
    return f"{what} must be {names}. Received: {value!r} ({type(value).__name__})"


def accepted_types(hint: Any, default: Any) -> tuple[type, ...] | None:
    """The plain types a config value may have for an option annotated ``hint`` (or, with
    no annotation, of ``default``'s type); None when they are not plain config types."""
    if hint is not None:
        args = typing.get_args(hint) if _is_union(hint) else (hint,)
        accepted = tuple(a for a in args if isinstance(a, type) and a is not type(None))
        if accepted and all(a in (int, float, bool, str, dict, list) for a in accepted):
            if float in accepted and int not in accepted:
                accepted = (*accepted, int)
            return accepted
        return None
    if default is None or default is inspect.Parameter.empty:
        return None
    if isinstance(default, bool):
        return (bool,)
    if isinstance(default, (int, float)):
        return NUMBER if isinstance(default, float) else (int,)
    if isinstance(default, (list, tuple)):
        return (list, tuple)  # YAML and JSON have lists only: a tuple default takes one
    return (type(default),)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def check_field(name: str, value: Any, annotation: Any) -> Any:
    """``value`` of config field ``name`` checked against its type annotation (a float
    field takes an int and gives a float; a list field gives a list)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if _is_union(annotation):
        for option in args:
            try:
                return check_field(name, value, option)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"config field `{name}` must be {annotation}. Received: {value!r}")
    if annotation is type(None):
        if value is None:
            return None
        raise TypeError(f"config field `{name}` must be null. Received: {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"config field `{name}` must be a list. Received: {value!r}")
        return [check_field(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value)]
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise TypeError(f"config field `{name}` must be a mapping. Received: {value!r}")
        return dict(value)
    wanted = {float: "a number", int: "an integer", str: "a str", bool: "a bool"}
    if annotation in wanted:
        accepted = NUMBER if annotation is float else (annotation,)
        if value is None or type_problem(name, value, accepted):
            raise TypeError(
                f"config field `{name}` must be {wanted[annotation]}. Received: {value!r}"
            )
        return float(value) if annotation is float else value
    return value


def check_values(
    config: Any,
    positive: tuple[str, ...] = (),
    positive_or_none: tuple[str, ...] = (),
    finite: tuple[str, ...] = (),
    unique: tuple[str, ...] = (),
) -> None:
    """Range checks of a config's fields (attributes of ``config``), so that a bad value
    stops a run before any work (a learning rate of 0 trained without complaint; a
    repeated seed shared one run folder and counted twice).

    ``positive``: numbers > 0 and finite; ``positive_or_none`` likewise, or null;
    ``finite``: a number or a list of numbers, none NaN or infinite; ``unique``: lists
    without repeats.
    """
    for name in positive + positive_or_none:
        value = getattr(config, name)
        if value is None and name in positive_or_none:
            continue
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"config `{name}` must be a positive number. Received: {value!r}")
    for name in finite:
        value = getattr(config, name)
        values = value if isinstance(value, list) else [value]
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"config `{name}` must be finite. Received: {value!r}")
    for name in unique:
        value = getattr(config, name)
        repeated = sorted({str(v) for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(
                f"config `{name}` lists {', '.join(repeated)} more than once. Received: {value!r}"
            )


def check_registry_name(function: str, name: Any) -> str:
    """A registry name: a non-empty str (a TypeError names any other value)."""
    if not isinstance(name, str):
        raise TypeError(
            f"{function} takes a name (str). Received: {name!r} of type {type(name).__name__}"
        )
    if not name:
        raise ValueError(f"{function} takes a non-empty name. Received: {name!r}")
    return name


def register_class(
    registry: dict, name: str, cls: Any, base: type, function: str, override: bool
) -> str:
    """The registries' one rule: ``cls`` must subclass ``base``; a name already held by
    another class is replaced only with ``override=True`` (a ValueError otherwise, so a
    shipped entry is never replaced by accident). The same class again under the same name,
    or a class of the same module and name (a script or notebook cell run twice), replaces
    without a word, as ``keras.saving.register_keras_serializable`` does. A class already
    registered under another name gets this one as an alias (an old name kept for saved
    configs): it keeps its first name, which the caller writes on it (a filterbank's
    ``family``), so that a config saved from it names what it was first built as.

    Returns:
        The class's name: the first it was registered under (``name`` for a new class)."""
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(
            f"{function} expects a {base.__name__} subclass. Received: {cls!r} of type "
            f"{type(cls).__name__}"
        )
    first = next((held for held, entry in registry.items() if entry is cls), name)
    held = registry.get(name)
    same = held is not None and (held.__module__, held.__qualname__) == (
        cls.__module__,
        cls.__qualname__,
    )
    if held is not None and not same and not override:
        raise ValueError(
            f"{name!r} is already registered, to {held.__module__}.{held.__qualname__}: pass "
            f"override=True to {function} to replace it with {cls.__qualname__}, or choose "
            "another name"
        )
    registry[name] = cls
    return first
