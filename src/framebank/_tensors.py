"""Questions about tensors that every room asks: has this one a value now, and a ``cond``
that picks its branch in Python when it has. Imports nothing of framebank."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

__all__ = ["jit_under_jax", "known_cond", "value_now"]


def known_cond(predicate: Any, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
    """``keras.ops.cond``, except that a predicate that already has a value (an eager call)
    picks its branch in Python. Why: JAX's ``cond`` outside ``jit`` traces and compiles both
    branches afresh at every call (minutes for LEAF's, on every evaluation batch); traced
    or symbolic predicates (``jit``, a TensorFlow graph, a functional model) keep the cond.
    """
    known = value_now(predicate)
    if known is None:
        return ops.cond(predicate, true_fn, false_fn)
    return true_fn() if bool(known) else false_fn()


def value_now(x: Any) -> np.ndarray | None:
    """``x`` as a numpy array where it has a value now (an eager tensor, a concrete JAX
    array, numpy, a Python number), else None: a ``KerasTensor``, a TensorFlow graph tensor
    (``tf.function``, a functional model's trace), a JAX tracer (``jit``, ``grad``,
    shape inference) or a torch meta tensor (Keras's shape inference under torch)."""
    if isinstance(x, keras.KerasTensor):
        return None
    try:
        return ops.convert_to_numpy(x)
    except _no_value_errors():
        return None


def _no_value_errors() -> tuple[type[Exception], ...]:
    """What converting a tensor without a value raises on the current backend, and only
    that: anything else (a wrong type, a device error) is a real error and propagates."""
    if keras.backend.backend() == "jax":
        import jax  # the backend itself: already imported

        return (jax.errors.TracerArrayConversionError,)
    # TensorFlow: "Cannot convert a symbolic tf.Tensor"; torch: "Cannot copy out of meta tensor".
    return (NotImplementedError,)


def jit_under_jax(fn: Callable) -> Callable:
    """``jax.jit(fn)`` on the JAX backend, ``fn`` itself on the others. Why: eager JAX
    compiles every op on its first call, so a path of a few hundred small ops (LEAF's
    band-limited one) costs far more as ops than as one program (benchmarks/README.md,
    "LEAF's eager calls under JAX"). Inside ``jit`` or ``grad``
    the nested ``jit`` is traced into the outer program. ``fn`` takes and returns arrays;
    keep the returned function (each new one compiles again)."""
    if keras.backend.backend() != "jax":
        return fn
    import jax  # the backend itself: already imported

    return jax.jit(fn)
