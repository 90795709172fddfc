"""Initialisers for a ``[frame_len, num_basis]`` basis.

Why these exist: Keras's default ``glorot_uniform`` computes fan-in and
fan-out from the kernel *as each layer lays it out*. A ``Conv1D(num_basis,
kernel_size=frame_len)`` applied to one-channel frames (Method 1) holds a
``[frame_len, 1, num_basis]`` kernel, so Keras takes fan-out
``frame_len * num_basis`` and draws weights about ``sqrt((L+N)/(L+L*N))``
times smaller than ``Dense`` (1/7.8 for L=80, N=256). The same linear map
then starts from a different scale and trains differently.

``basis_glorot_uniform`` (the default) always sees the basis shape
``[frame_len, num_basis]``: fan-in ``frame_len``, fan-out ``num_basis``,
whatever the method. ``keras_default`` reproduces each Keras layer's own
draw, to show where the old difference came from.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from framebank.methods import get_method

__all__ = ["BasisGlorotUniform", "BasisGlorotNormal", "KerasDefault"]


def _check_basis_shape(shape: Any, who: str) -> tuple[int, int]:
    shape = tuple(shape)
    if len(shape) != 2:
        raise ValueError(
            f"{who} initialises a [frame_len, num_basis] basis (2-D). Received: shape={shape}"
        )
    return int(shape[0]), int(shape[1])


class _SeededBasisInitializer(keras.initializers.Initializer):
    """A Keras initialiser, seeded, drawn on a ``[frame_len, num_basis]`` basis only."""

    keras_initializer: type = keras.initializers.Initializer

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._init = self.keras_initializer(seed=seed)

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        _check_basis_shape(shape, type(self).__name__)
        return self._init(shape, dtype=dtype)

    def get_config(self) -> dict:
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="framebank")
class BasisGlorotUniform(_SeededBasisInitializer):
    """Glorot uniform on the basis: U(-a, a), a = sqrt(6 / (frame_len + num_basis)).

    Args:
        seed: int or None. The same seed gives the same basis for every method.
    """

    keras_initializer = keras.initializers.GlorotUniform


@keras.saving.register_keras_serializable(package="framebank")
class BasisGlorotNormal(_SeededBasisInitializer):
    """Glorot (truncated) normal on the basis, fan-in ``frame_len``, fan-out ``num_basis``."""

    keras_initializer = keras.initializers.GlorotNormal


@keras.saving.register_keras_serializable(package="framebank")
class KerasDefault(keras.initializers.Initializer):
    """What the plain Keras layer behind ``method`` would have drawn.

    The draw is made in the method's own kernel layout (``[frame_len, 1,
    num_basis]`` for a Conv1D of kernel ``frame_len``, ``[1, frame_len,
    num_basis]`` for a pointwise Conv1D, ``[frame_len, num_basis]`` for Dense)
    with Keras's ``GlorotUniform``, then reshaped to ``[frame_len, num_basis]``.
    With the same seed it gives exactly the weights that layer would get.

    Args:
        method: the method name whose layer is imitated. Layers bind it for
            you when given the string ``"keras_default"``.
        seed: int or None.
    """

    def __init__(self, method: str | None = None, seed: int | None = None) -> None:
        if method is not None:
            get_method(method)  # validate early
        self.method = method
        self.seed = seed
        self._init = keras.initializers.GlorotUniform(seed=seed)

    def bind(self, method: str) -> KerasDefault:
        """A copy of this initialiser for ``method`` (same seed)."""
        return KerasDefault(method=method, seed=self.seed)

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        frame_len, num_basis = _check_basis_shape(shape, type(self).__name__)
        if self.method is None:
            raise ValueError(
                "KerasDefault needs the method whose Keras layer it imitates. "
                "Received: method=None (pass method=... or use it through a framebank layer)"
            )
        layout = get_method(self.method).kernel_layout(frame_len, num_basis)
        return ops.reshape(self._init(layout, dtype=dtype), (frame_len, num_basis))

    def get_config(self) -> dict:
        return {"method": self.method, "seed": self.seed}


_ALIASES = {
    "basis_glorot_uniform": BasisGlorotUniform,
    "basis_glorot_normal": BasisGlorotNormal,
    "keras_default": KerasDefault,
}


def get(identifier: Any, method: str | None = None) -> keras.initializers.Initializer:
    """Resolve an initialiser name, config or instance; bind ``keras_default`` to ``method``.

    framebank's names (``basis_glorot_uniform``, ``basis_glorot_normal``,
    ``keras_default``) are tried first, then anything ``keras.initializers.get``
    accepts.
    """
    if isinstance(identifier, str) and identifier in _ALIASES:
        init = _ALIASES[identifier]()
    else:
        try:
            init = keras.initializers.get(identifier)
        except ValueError as err:
            raise ValueError(
                f"Unknown kernel_initializer {identifier!r}. Expected one of "
                f"{', '.join(_ALIASES)} or a Keras initializer. ({err})"
            ) from None
    if isinstance(init, KerasDefault) and method is not None and init.method != method:
        init = init.bind(method)
    return init
