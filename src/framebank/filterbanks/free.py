"""The free filterbank: the basis itself is the trainable weight."""

from __future__ import annotations

from typing import Any

import keras

from framebank import initializers
from framebank._validation import check_bool
from framebank.filterbanks.base import Filterbank, register_filterbank

__all__ = ["FreeFilterbank"]


@register_filterbank("free")
class FreeFilterbank(Filterbank):
    """Every entry of the ``[frame_len, num_basis]`` basis is learned.

    Conv-TasNet's encoder (Luo & Mesgarani, 2019) and asteroid's ``FreeFB``.

    Args:
        num_basis, frame_len, sample_rate: see :class:`Filterbank`.
        kernel_initializer: ``basis_glorot_uniform`` (default; the same for
            every method), ``keras_default`` (each method's own Keras layer's
            draw), or any Keras initializer.
        kernel_regularizer, kernel_constraint: as in Keras layers.
        complex_pairs: the basis holds complex filters, real parts then imaginary
            parts (an even ``num_basis``; TD-filterbanks' Gabor initialisation), so
            ``energy``/``log_energy`` with ``pairs`` may follow it.

    Attributes:
        kernel: the ``[frame_len, num_basis]`` weight.
    """

    random_init = True

    def __init__(
        self,
        num_basis: int,
        frame_len: int | None = None,
        sample_rate: float | None = None,
        kernel_initializer: Any = "basis_glorot_uniform",
        kernel_regularizer: Any = None,
        kernel_constraint: Any = None,
        complex_pairs: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_basis, frame_len, sample_rate, **kwargs)
        # This instance's layout; a subclass that is always complex (analytic) stays so.
        if check_bool("complex_pairs", complex_pairs) and not self.complex_pairs:
            self.complex_pairs = True
            self._check_pairs_count(self.num_basis)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)

    def bind_method(self, method: str) -> None:
        self.kernel_initializer = initializers.get(self.kernel_initializer, method=method)

    def learned_columns(self) -> int:
        """How many basis columns the kernel holds (a subclass may derive the rest)."""
        return self.num_basis

    def make_weights(self) -> None:
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.frame_len, self.learned_columns()),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )

    def filters(self) -> Any:
        return self.kernel

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
            kernel_constraint=keras.constraints.serialize(self.kernel_constraint),
            complex_pairs=self.complex_pairs,
        )
        return config
