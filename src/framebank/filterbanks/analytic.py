"""The analytic filterbank: a learned half and its Hilbert transform."""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from framebank.filterbanks.base import register_filterbank
from framebank.filterbanks.free import FreeFilterbank

__all__ = ["AnalyticFilterbank", "hilbert_matrix"]


def hilbert_matrix(frame_len: int) -> np.ndarray:
    """``[frame_len, frame_len]`` matrix ``H`` with ``H @ h`` = the Hilbert transform of ``h``.

    The Hilbert transform (scipy's, by FFT over the frame) is linear, so it is
    one fixed matrix: column ``j`` is the transform of a unit impulse at ``j``.
    Applying it as a matmul keeps ``filters()`` to plain ``keras.ops`` with
    exact gradients on every backend.
    """
    import scipy.signal

    return np.imag(scipy.signal.hilbert(np.eye(frame_len), axis=0))


@register_filterbank("analytic")
class AnalyticFilterbank(FreeFilterbank):
    """Free filters plus their Hilbert transforms: ``num_basis / 2`` analytic filters.

    Only ``frame_len x num_basis / 2`` values are learned; the other half of
    the basis is their Hilbert transform, so each pair (``k``, ``num_basis/2 +
    k``) is the real and imaginary part of an analytic filter, and
    ``sqrt(c_k^2 + c_{k+n}^2)`` is a shift-robust magnitude. The layout (real
    half, then imaginary half) is the ``fourier`` family's.

    Args:
        num_basis: even number of basis vectors.
        frame_len, sample_rate: see :class:`Filterbank`.
        kernel_initializer: for the learned ``[frame_len, num_basis / 2]`` half.
        kernel_regularizer, kernel_constraint: as in Keras layers.

    Attributes:
        kernel: the learned ``[frame_len, num_basis / 2]`` half.

    References:
        asteroid-filterbanks ``AnalyticFreeFB``; Pariente et al., "Filterbank
        design for end-to-end speech separation", ICASSP 2020.
    """

    complex_pairs = True  # so num_basis is even (the base checks it)

    def learned_columns(self) -> int:
        return self.num_basis // 2

    def make_weights(self) -> None:
        super().make_weights()
        self._hilbert = hilbert_matrix(self.frame_len)

    def filters(self) -> Any:
        real = self.kernel
        imag = ops.matmul(ops.cast(self._hilbert, real.dtype), real)
        return ops.concatenate([real, imag], axis=1)
