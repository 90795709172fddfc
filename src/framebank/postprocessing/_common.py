"""What the layers on energies share: float32 arithmetic under 16-bit policies, clipped parameters.

Energies overflow float16 (a full-scale tone's power is past 65504), and PCEN's
smoother and logarithms need float32's precision, so these layers take their
input, keep their parameters and return their output in float32 under
``mixed_float16`` / ``mixed_bfloat16`` (float64 under ``float64``), as
:class:`~framebank.postprocessing.MelSpectrum` computes its power in float32.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from framebank._validation import check_floating_policy
from framebank._weights import constant_initializer
from framebank.postprocessing.base import Postprocessing

__all__ = ["Clip", "Float32Postprocessing", "holds_no_values", "working_dtype"]


def holds_no_values(x: Any) -> bool:
    """Whether a dimension of ``x`` is known to be 0 (0 frames, say): a maximum over it has
    nothing to take, and a layer whose output is the input's shape returns the empty input."""
    return any(dim == 0 for dim in x.shape)


def working_dtype(compute_dtype: Any) -> str:
    """``"float64"`` for a float64 policy, ``"float32"`` for every other float policy."""
    return "float64" if keras.backend.standardize_dtype(compute_dtype) == "float64" else "float32"


class Clip(keras.constraints.Constraint):
    """Keeps a variable in ``[low, high]`` after each optimiser step (``None``: no bound).

    The layers also clip the value they use, so a value assigned by hand is
    valid too; projecting the variable itself keeps it from drifting past the
    bound, where the clipped value's gradient is zero and it would stay stuck.
    """

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        self.low = low
        self.high = high

    def __call__(self, w: Any) -> Any:
        if self.low is not None:
            w = ops.maximum(w, ops.cast(self.low, w.dtype))
        if self.high is not None:
            w = ops.minimum(w, ops.cast(self.high, w.dtype))
        return w

    def get_config(self) -> dict:
        return {"low": self.low, "high": self.high}


class Float32Postprocessing(Postprocessing):
    """A post-processing layer that computes in float32 under 16-bit dtype policies.

    Inputs are converted to :attr:`working_dtype`, the output is returned in it,
    and the weights made with :meth:`add_channel_weight` are kept in it and never
    autocast to float16.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_floating_policy(type(self).__name__, self.dtype_policy)

    @property
    def working_dtype(self) -> str:
        return working_dtype(self.compute_dtype)

    @property
    def input_dtype(self) -> str:
        return self.working_dtype

    def compute_output_spec(self, *args: Any, **kwargs: Any) -> Any:
        spec = super().compute_output_spec(*args, **kwargs)
        return keras.tree.map_structure(
            lambda t: keras.KerasTensor(t.shape, dtype=self.working_dtype), spec
        )

    def _channels(self, input_shape: tuple) -> int:
        """The number of channels of a ``[batch, frames, channels]`` input, which must be known."""
        self._check_rank(input_shape)
        if input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} has a weight per channel, so the number of channels "
                f"must be known. Received: input_shape={tuple(input_shape)}"
            )
        return int(input_shape[-1])

    def add_array_weight(
        self, name: str, values: np.ndarray, constraint: Any = None
    ) -> keras.Variable:
        """A weight initialised to ``values``, kept in :attr:`working_dtype` and never
        autocast (a float16 copy would cost the float32 computation its precision);
        ``constraint`` runs after each optimizer step."""
        return self.add_weight(
            name=name,
            shape=values.shape,
            initializer=constant_initializer(values),
            constraint=constraint,
            dtype=self.working_dtype,
            autocast=False,
        )

    def add_channel_weight(
        self, name: str, value: float, channels: int, trainable: bool, constraint: Any = None
    ) -> keras.Variable:
        """A weight ``[channels]`` filled with ``value``, kept in :attr:`working_dtype`."""
        return self.add_weight(
            name=name,
            shape=(channels,),
            initializer=keras.initializers.Constant(float(value)),
            trainable=trainable,
            constraint=constraint,
            dtype=self.working_dtype,
            autocast=False,
        )
