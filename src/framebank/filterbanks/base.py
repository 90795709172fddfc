"""The filterbank base class and the family registry.

A filterbank answers one question: what is the ``[frame_len, num_basis]``
basis, and which weights make it. A subclass creates its weights in
:meth:`Filterbank.make_weights` and returns the basis from
:meth:`Filterbank.filters`; the base class owns validation, building and
serialisation. It never knows which method executes the basis.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np

from framebank._validation import (
    check_number,
    check_positive_int,
    check_registry_name,
    layer_options,
    register_class,
)
from framebank._weights import constant_initializer

__all__ = [
    "Filterbank",
    "FILTERBANKS",
    "WINDOWS",
    "InRange",
    "register_filterbank",
    "get_filterbank",
    "family_options",
    "make_window",
]

WINDOWS = ("hann", "hamming", "sqrt_hann", "rectangular")

_REGISTRY: dict[str, type[Filterbank]] = {}
# What users see: a read-only view (register_filterbank is the way in).
FILTERBANKS: Mapping[str, type[Filterbank]] = types.MappingProxyType(_REGISTRY)


def register_filterbank(name: str, *, override: bool = False) -> Callable[[type], type]:
    """Class decorator: make a :class:`Filterbank` subclass available as ``name``.

    It also registers the class for Keras serialisation, so a model holding
    it saves and loads. A user's own family needs nothing more::

        @framebank.register_filterbank("my_family")
        class MyFamily(framebank.Filterbank):
            def make_weights(self): ...
            def filters(self): ...

    Its constructor's keyword options are then accepted by
    ``Encoder(filterbank="my_family", ...)`` and by ``framebank.build_frontend``
    configs (checked by name and type); :mod:`framebank.config` has a complete,
    tested example. A name already registered to another class (``"gabor"``) raises a
    ``ValueError`` unless ``override=True``.
    """
    check_registry_name("register_filterbank", name)

    def decorator(cls: type[Filterbank]) -> type[Filterbank]:
        # A second name is an alias: the class keeps its first as its family.
        cls.family = register_class(
            _REGISTRY, name, cls, Filterbank, "register_filterbank", override
        )
        return keras.saving.register_keras_serializable(package="framebank")(cls)

    return decorator


def get_filterbank(filterbank: str | Filterbank, **options: Any) -> Filterbank:
    """Return a filterbank instance from its family name and options (or pass one through)."""
    if isinstance(filterbank, Filterbank):
        if options:
            raise ValueError(
                "Family options are given to the filterbank's constructor when passing an "
                f"instance. Received instance {filterbank!r} and options {sorted(options)}"
            )
        return filterbank
    if not isinstance(filterbank, str):
        raise TypeError(
            "`filterbank` must be a family name or a Filterbank instance. "
            f"Received: filterbank={filterbank!r}"
        )
    try:
        cls = FILTERBANKS[filterbank]
    except KeyError:
        raise ValueError(
            f"Unknown filterbank {filterbank!r}. Expected one of: {', '.join(sorted(FILTERBANKS))}"
        ) from None
    accepted = family_options(cls)
    unknown = sorted(set(options) - set(accepted) - {"num_basis", "frame_len", "sample_rate"})
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for filterbank {filterbank!r}. Accepted: "
            f"num_basis, frame_len, sample_rate, {', '.join(accepted)}"
        )
    return cls(**options)


def family_options(cls: type[Filterbank]) -> dict[str, Any]:
    """The options a family's constructor accepts beyond ``num_basis``, ``frame_len``,
    ``sample_rate``, with their defaults (``inspect.Parameter.empty`` when required).

    Keras layer keywords (``name``, ``trainable``, ``dtype``, ...) are included.
    """
    return layer_options(cls, (Filterbank,), skip=("num_basis", "frame_len", "sample_rate"))


def make_window(window: str, frame_len: int) -> np.ndarray:
    """A ``[frame_len]`` float64 analysis window by name (see :data:`WINDOWS`).

    ``hann`` and ``hamming`` are periodic (``fftbins=True``), as
    ``tf.signal.hann_window`` and ``librosa.stft`` use them; ``sqrt_hann`` is
    the square root of the periodic Hann window, whose square satisfies the
    overlap-add condition at hop ``frame_len / 2``.
    """
    import scipy.signal

    if window == "hann":
        return scipy.signal.get_window("hann", frame_len, fftbins=True)
    if window == "hamming":
        return scipy.signal.get_window("hamming", frame_len, fftbins=True)
    if window == "sqrt_hann":
        return np.sqrt(scipy.signal.get_window("hann", frame_len, fftbins=True))
    if window == "rectangular":
        return np.ones(frame_len)
    raise ValueError(f"Unknown window {window!r}. Expected one of: {', '.join(WINDOWS)}")


def check_window(window: Any) -> str:
    if not isinstance(window, str) or window not in WINDOWS:
        raise ValueError(
            f"`window` must be one of {', '.join(WINDOWS)}. Received: window={window!r}"
        )
    return window


@keras.saving.register_keras_serializable(package="framebank")
class InRange(keras.constraints.Constraint):
    """Clip every value into ``[low, high]`` after each optimizer step.

    Parametric families (sinc, gabor) use it so that their frequencies and
    bandwidths stay valid; their ``filters()`` clips as well, so values set
    by hand are safe too.
    """

    def __init__(self, low: float, high: float) -> None:
        if not low <= high:
            raise ValueError(f"InRange needs low <= high. Received: low={low}, high={high}")
        self.low = float(low)
        self.high = float(high)

    def __call__(self, w: Any) -> Any:
        return keras.ops.clip(w, self.low, self.high)

    def get_config(self) -> dict:
        return {"low": self.low, "high": self.high}


class Filterbank(keras.layers.Layer):
    """Base class: a family of ``[frame_len, num_basis]`` bases.

    Args:
        num_basis: number of basis vectors (output coefficients per frame).
        frame_len: samples per frame; None lets the owning layer set it at build.
        sample_rate: Hz, for families whose parameters are frequencies.

    Attributes:
        family: the registry name.
        complex_pairs: the basis holds the real parts of complex filters, then their
            imaginary parts (column ``k`` and ``k + num_basis / 2`` are one filter), so
            ``num_basis`` must be even (checked here).
        random_init: its initial values are a random draw (no fresh copy shows them).
        needs_sample_rate: its parameters are frequencies, so ``sample_rate`` is required.
        fixed_num_basis: ``num_basis`` follows from ``frame_len`` (and the family's options),
            so a caller cannot choose it; pass None.
        dft_basis: its initial basis is a windowed DFT (real rows, then imaginary rows, of
            ``num_basis / 2`` bins).
        mel_spectrum: its coefficients are an STFT that the post-processing layer
            ``MelSpectrum`` completes into ``n_mels`` bands (``spectrum_options()`` gives them).
    """

    family: str = ""
    complex_pairs: bool = False
    random_init: bool = False
    needs_sample_rate: bool = False
    fixed_num_basis: bool = False
    dft_basis: bool = False
    mel_spectrum: bool = False

    def centre_hz(self) -> Any:
        """Each filter's centre frequency in Hz from the family's own parameters, or None for
        a family without one (its responses' peaks then say it)."""
        return None

    def __init__(
        self,
        num_basis: int,
        frame_len: int | None = None,
        sample_rate: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        num_basis = check_positive_int("num_basis", num_basis)
        self._check_pairs_count(num_basis)
        if frame_len is not None:
            frame_len = check_positive_int("frame_len", frame_len)
        if sample_rate is not None:
            rate = check_number("sample_rate", sample_rate)
            if not rate > 0:
                raise ValueError(
                    "`sample_rate` must be a positive number of Hz. "
                    f"Received: sample_rate={sample_rate!r}"
                )
            # A Python int stays one, so that configs read 16000 rather than 16000.0.
            sample_rate = sample_rate if isinstance(sample_rate, int) else rate
        self.num_basis = num_basis
        self.frame_len = frame_len
        self.sample_rate = sample_rate

    def _check_pairs_count(self, num_basis: int) -> None:
        if self.complex_pairs and num_basis % 2:
            raise ValueError(
                f"The {self.family or type(self).__name__!r} filterbank holds complex filters "
                "as real parts, then imaginary parts, so num_basis must be even. "
                f"Received: num_basis={num_basis}"
            )

    def _require_sample_rate(self) -> float:
        if self.sample_rate is None:
            raise ValueError(
                f"The {self.family!r} filterbank's parameters are frequencies, so it needs "
                "`sample_rate` (Hz). Received: sample_rate=None"
            )
        return float(self.sample_rate)

    def _require_frame_len(self, frame_len: Any) -> int:
        if frame_len is None:
            raise ValueError(
                f"The {self.family!r} filterbank derives num_basis from frame_len, so it needs "
                "`frame_len` at construction. Received: frame_len=None"
            )
        return check_positive_int("frame_len", frame_len)

    @property
    def windowed_dft(self) -> Any:
        """A :class:`~framebank.structures.WindowedDFT` when ``frames @ filters()`` is one
        (a fixed Fourier basis), else None: what lets a method run it through the FFT."""
        return None

    def bind_method(self, method: str) -> None:
        """Hook: the owning layer says which method will execute the basis.

        Only an initialiser that imitates a method's own Keras layer
        (``keras_default``) cares; the basis itself never does.
        """

    def build(self, frame_len: int | None = None) -> None:
        if frame_len is not None:
            if self.frame_len is not None and self.frame_len != frame_len:
                raise ValueError(
                    f"{type(self).__name__} was made for frame_len={self.frame_len} but is "
                    f"given frames of {frame_len} samples"
                )
            self.frame_len = frame_len
        if self.frame_len is None:
            raise ValueError(f"{type(self).__name__} needs frame_len before it can be built")
        if getattr(self, "_weights_made", False):
            return  # already built (deserialisation builds it before its owner does)
        self.make_weights()
        self._weights_made = True

    def make_weights(self) -> None:
        """Create the family's weights with ``self.add_weight`` (``self.frame_len`` is set)."""
        raise NotImplementedError

    def add_parameter(self, name: str, initial: Any, low: float, high: float) -> Any:
        """A weight of the family's parameters (``[num_filters]``, say) starting at ``initial``,
        kept in ``[low, high]`` by :class:`InRange` after each optimizer step, and never
        autocast: a parametric family computes its filters in float32 under mixed precision."""
        initial = np.asarray(initial)
        return self.add_weight(
            name=name,
            shape=initial.shape,
            initializer=constant_initializer(initial),
            constraint=InRange(low, high),
            autocast=False,
        )

    def filters(self) -> Any:
        """The basis, ``[frame_len, num_basis]``, as a tensor of the weights."""
        raise NotImplementedError

    def call(self, inputs: Any = None) -> Any:
        return self.filters()

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_basis=self.num_basis, frame_len=self.frame_len, sample_rate=self.sample_rate
        )
        return config
