"""The filterbank base class and the family registry.

A filterbank answers one question: what is the ``[frame_len, num_basis]``
basis, and which weights make it. A subclass creates its weights in
:meth:`Filterbank.make_weights` and returns the basis from
:meth:`Filterbank.filters`; the base class owns validation, building and
serialisation. It never knows which method executes the basis.
"""

from __future__ import annotations

from typing import Any

import keras

from framebank.framing import check_framing_args

__all__ = ["Filterbank", "FILTERBANKS", "register_filterbank", "get_filterbank"]

FILTERBANKS: dict[str, type[Filterbank]] = {}


def register_filterbank(name: str):
    """Class decorator: make a :class:`Filterbank` subclass available as ``name``.

    It also registers the class for Keras serialisation, so a model holding
    it saves and loads. A user's own family needs nothing more::

        @framebank.register_filterbank("my_family")
        class MyFamily(framebank.Filterbank):
            def make_weights(self): ...
            def filters(self): ...
    """

    if not isinstance(name, str) or not name:
        raise ValueError(f"A filterbank name must be a non-empty string. Received: {name!r}")

    def decorator(cls: type[Filterbank]) -> type[Filterbank]:
        if not (isinstance(cls, type) and issubclass(cls, Filterbank)):
            raise TypeError(f"register_filterbank expects a Filterbank subclass. Received: {cls!r}")
        cls.family = name
        FILTERBANKS[name] = cls
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
    return cls(**options)


class Filterbank(keras.layers.Layer):
    """Base class: a family of ``[frame_len, num_basis]`` bases.

    Args:
        num_basis: number of basis vectors (output coefficients per frame).
        frame_len: samples per frame; None lets the owning layer set it at build.
        sample_rate: Hz, for families whose parameters are frequencies.

    Attributes:
        family: the registry name.
    """

    family: str = ""

    def __init__(
        self,
        num_basis: int,
        frame_len: int | None = None,
        sample_rate: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(num_basis, bool) or not isinstance(num_basis, int) or num_basis < 1:
            raise ValueError(
                f"`num_basis` must be a positive integer. Received: num_basis={num_basis!r}"
            )
        if frame_len is not None:
            check_framing_args(frame_len, 1)
        if sample_rate is not None and not (
            isinstance(sample_rate, (int, float)) and sample_rate > 0
        ):
            raise ValueError(
                "`sample_rate` must be a positive number of Hz. "
                f"Received: sample_rate={sample_rate!r}"
            )
        self.num_basis = num_basis
        self.frame_len = frame_len
        self.sample_rate = sample_rate

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
