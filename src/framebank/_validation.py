"""Argument checks shared by every room of framebank (private to the package).

Each check returns the value in its canonical Python type and raises a
``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, refused
value) whose message names the argument and the value received, before any
work is done. Imports nothing of framebank, so every module may import it.
"""

from __future__ import annotations

import inspect
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


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as a Python int: TypeError if not an integer (numpy's count), ValueError if < 1."""
    if not is_integer(value):
        raise TypeError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    if scalar(value) < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(scalar(value))


def check_framing_args(frame_len: Any, hop: Any) -> tuple[int, int]:
    """Validate ``frame_len`` and ``hop``; return them as Python ints."""
    return check_positive_int("frame_len", frame_len), check_positive_int("hop", hop)


def check_non_negative_int(name: str, value: Any) -> int:
    """``value`` as a Python int >= 0 (TypeError if not an integer, ValueError if negative)."""
    if not is_integer(value):
        raise TypeError(f"`{name}` must be an integer >= 0. Received: {name}={value!r}")
    if scalar(value) < 0:
        raise ValueError(f"`{name}` must be an integer >= 0. Received: {name}={value!r}")
    return int(scalar(value))


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

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(inputs, (np.ndarray, np.generic)) and inputs.dtype.kind in "iub":
            pcm_scale(str(inputs.dtype), "waveform")
        return super().__call__(inputs, *args, **kwargs)  # type: ignore[misc]


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
