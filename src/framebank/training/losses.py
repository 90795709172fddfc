"""Scale-invariant SNR, the separation/enhancement loss (Le Roux et al., 2019)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

__all__ = ["si_snr", "neg_si_snr", "si_snr_numpy"]

_EPS = 1e-8


def si_snr(target: Any, estimate: Any) -> Any:
    """SI-SNR in dB per item of ``[batch, time]`` tensors (zero-mean first)."""
    target = target - ops.mean(target, axis=-1, keepdims=True)
    estimate = estimate - ops.mean(estimate, axis=-1, keepdims=True)
    scale = ops.sum(target * estimate, axis=-1, keepdims=True) / (
        ops.sum(target * target, axis=-1, keepdims=True) + _EPS
    )
    projection = scale * target
    noise = estimate - projection
    ratio = (ops.sum(projection * projection, axis=-1) + _EPS) / (
        ops.sum(noise * noise, axis=-1) + _EPS
    )
    return 10.0 * ops.log10(ratio)


@keras.saving.register_keras_serializable(package="framebank")
def neg_si_snr(y_true: Any, y_pred: Any) -> Any:
    """Loss: minus the SI-SNR (dB), per item."""
    return -si_snr(y_true, y_pred)


def si_snr_numpy(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """The same in float64 numpy, for evaluation."""
    target = np.asarray(target, "float64")
    estimate = np.asarray(estimate, "float64")
    target = target - target.mean(-1, keepdims=True)
    estimate = estimate - estimate.mean(-1, keepdims=True)
    scale = (target * estimate).sum(-1, keepdims=True) / ((target**2).sum(-1, keepdims=True) + _EPS)
    projection = scale * target
    noise = estimate - projection
    return 10 * np.log10(((projection**2).sum(-1) + _EPS) / ((noise**2).sum(-1) + _EPS))
