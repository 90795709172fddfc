"""Fixed weights: values a layer computes from its own config (a DFT, a mel matrix).

Imports nothing of framebank; filterbanks and post-processing both use it.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

__all__ = ["constant_initializer"]


def constant_initializer(values: np.ndarray):
    """An initialiser returning fixed values (computed by the family from its config).

    Not serialised: a family recomputes it from its own config, and trained
    values are restored from the weights file.
    """

    def initializer(shape: Any, dtype: Any = None) -> Any:
        if tuple(shape) != values.shape:
            raise ValueError(f"Expected shape {values.shape}. Received: shape={tuple(shape)}")
        return keras.ops.convert_to_tensor(values, dtype=dtype)

    return initializer
