"""The post-processing base class and registry.

A post-processing layer takes coefficients or features ``[batch, frames,
channels]`` and returns features ``[batch, frames', channels']`` (energies,
pooled, compressed, normalised). Each one is a Keras layer registered by name
with :func:`register_postprocessing`, so a front-end config can list it by
name with its options, and ``.keras`` files save and load it.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any

import keras

from framebank._validation import (
    as_real,
    check_floating_policy,
    check_registry_name,
    layer_options,
    register_class,
)

__all__ = [
    "POSTPROCESSING",
    "Postprocessing",
    "get_postprocessing",
    "postprocessing_options",
    "register_postprocessing",
]

_REGISTRY: dict[str, type[Postprocessing]] = {}
# What users see: a read-only view (register_postprocessing is the way in).
POSTPROCESSING: Mapping[str, type[Postprocessing]] = types.MappingProxyType(_REGISTRY)


class Postprocessing(keras.layers.Layer):
    """Base class of the layers that follow a projection: ``[batch, frames, channels]`` in.

    A subclass implements ``call`` (with ``keras.ops`` only) and, when it changes
    the shape, ``compute_output_shape``; ``get_config`` returns its constructor's
    options. The default output shape is the input's.

    Attributes:
        kind: the registry name.
        frame_wise: True when each output frame depends on its input frame alone
            (energies, compressions): streaming then runs the layer as it is.
    """

    kind: str = ""
    frame_wise: bool = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_floating_policy(type(self).__name__, self.dtype_policy)

    @classmethod
    def for_encoder(cls, encoder: Any, **options: Any) -> Postprocessing:
        """The layer for coefficients of ``encoder`` (what a front-end config builds).

        A subclass may read defaults from the encoder (its ``sample_rate``,
        ``hop``, or its filterbank's options); ``options`` win. The default
        ignores the encoder.
        """
        return cls(**options)

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        # Keras casts float inputs to the compute dtype but leaves integers alone:
        # framebank's one rule is that an integer input becomes the compute dtype.
        return super().__call__(as_real(inputs, "inputs", self.compute_dtype), *args, **kwargs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _check_rank(self, input_shape: tuple) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects [batch, frames, channels] (rank 3). "
                f"Received: input_shape={tuple(input_shape)}"
            )


def register_postprocessing(name: str, *, override: bool = False) -> Callable[[type], type]:
    """Class decorator: make a post-processing layer available by ``name``.

    It also registers the class for Keras serialisation. A user's own layer::

        @framebank.register_postprocessing("cube_root")
        class CubeRoot(framebank.Postprocessing):
            def call(self, x):
                return keras.ops.sign(x) * keras.ops.abs(x) ** (1 / 3)

    is then accepted in a front-end config's ``postprocessing`` list. A name already
    registered to another class (``"pcen"``) raises a ``ValueError`` unless ``override=True``.
    """
    check_registry_name("register_postprocessing", name)

    def decorator(cls: type) -> type:
        # A second name is an alias: the class keeps its first as its kind.
        cls.kind = register_class(
            _REGISTRY, name, cls, keras.layers.Layer, "register_postprocessing", override
        )
        return keras.saving.register_keras_serializable(package="framebank")(cls)

    return decorator


def postprocessing_options(cls: type) -> dict[str, Any]:
    """A post-processing layer's constructor options with their defaults
    (``inspect.Parameter.empty`` when required), Keras's layer keywords included."""
    return layer_options(cls, (Postprocessing, keras.layers.Layer))


def get_postprocessing(name: str | keras.layers.Layer, **options: Any) -> keras.layers.Layer:
    """A post-processing layer from its registered name and options (or pass one through)."""
    if isinstance(name, keras.layers.Layer):
        if options:
            raise ValueError(
                "Options go to the layer's constructor when passing an instance. "
                f"Received instance {name!r} and options {sorted(options)}"
            )
        return name
    if not isinstance(name, str):
        raise TypeError(
            "A post-processing step must be a registered name or a Keras layer. "
            f"Received: {name!r} of type {type(name).__name__}"
        )
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown post-processing {name!r}. Expected one of: {', '.join(sorted(_REGISTRY))} "
            "(register your own with framebank.register_postprocessing)"
        )
    cls = _REGISTRY[name]
    accepted = postprocessing_options(cls)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for post-processing {name!r}. "
            f"Accepted: {', '.join(accepted)}"
        )
    return cls(**options)
