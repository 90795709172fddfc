"""Time-domain filterbanks (Zeghidour et al., ICASSP 2018): free complex filters,
Gabor-initialised."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from framebank._validation import check_bool
from framebank.filterbanks import FreeFilterbank
from framebank.filterbanks.gabor import leaf_gabor_init, tf_mel_weight_matrix
from framebank.frontends.base import (
    ReadyMade,
    _FixedInitializer,
    _upper_edge,
    leaf_window,
    register_ready_made,
)
from framebank.layers import Encoder
from framebank.postprocessing import Energy, FreeLowpass, InstanceNorm, Log1p, Modulus


def td_gabor_basis(
    n_filters: int, frame_len: int, sample_rate: float, min_hz: float, max_hz: float
) -> np.ndarray:
    """TD-filterbanks' initial filters ``[frame_len, 2 n_filters]``: LEAF's Gabor filters
    (``GaborInit``'s centres and widths) scaled, as LEAF's rank-3 ``GaborInit`` scales them,
    by ``sqrt(area * 2 sqrt(pi) * sigma)``, the area of each area-normalised mel filter,
    so that they match the mel filterbank's energies; real parts, then imaginary parts."""
    fft_length = 512
    centre, sigma = leaf_gabor_init(n_filters, sample_rate, min_hz, max_hz, fft_length)
    mel = tf_mel_weight_matrix(n_filters, fft_length // 2 + 1, sample_rate, min_hz, max_hz).T
    mel = mel.astype("float64")
    area = mel.max(1) * ((mel > 0).sum(1) + 2) * np.pi / fft_length
    normalised = mel / area[:, None]
    area = normalised.max(1) * ((normalised > 0).sum(1) + 2) * np.pi / fft_length
    t = np.arange(frame_len)[:, None] - frame_len // 2
    gauss = np.exp(-(t**2) / (2 * sigma**2)) / (np.sqrt(2 * np.pi) * sigma)
    scale = np.sqrt(area * 2 * np.sqrt(np.pi) * sigma)
    return np.concatenate(
        [scale * gauss * np.cos(centre * t), -scale * gauss * np.sin(centre * t)], axis=1
    )


@register_ready_made("td_filterbanks")
@keras.saving.register_keras_serializable(package="framebank")
class TDFilterbanks(ReadyMade):
    """Time-domain filterbanks (Zeghidour et al., ICASSP 2018).

    Free complex filters of ``window`` taps at every sample, every tap learned,
    initialised as Gabor filters matching a mel filterbank; their squared modulus; a
    learnable lowpass of ``window`` taps per channel at stride ``hop``, squared-Hann
    initialised (:class:`~framebank.postprocessing.FreeLowpass`); ``log(1 + |x|)``; optionally
    an instance normalisation.

    Args:
        sample_rate, n_filters, window_ms, hop_ms, min_hz, max_hz: as :class:`LEAF`.
        instance_norm, method, win_length, hop_length: as :class:`LEAF`.
    """

    stride1 = True
    window_rule = staticmethod(leaf_window)

    def __init__(
        self,
        sample_rate: float = 16000,
        n_filters: int = 40,
        window_ms: float | None = None,
        hop_ms: float | None = None,
        min_hz: float = 60.0,
        max_hz: float | None = None,
        instance_norm: bool = False,
        method: str = "auto",
        win_length: int | None = None,
        hop_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        options, sample_rate, n_filters, window, hop = self.sizes_from(locals())
        top = _upper_edge(sample_rate, max_hz)
        basis = td_gabor_basis(n_filters, window, float(sample_rate), float(min_hz), top)
        filters = FreeFilterbank(
            2 * n_filters,
            window,
            sample_rate,
            kernel_initializer=_FixedInitializer(basis),
            complex_pairs=True,  # Gabor filters: real parts, then imaginary parts
            name="free_gabor",
        )
        encoder = Encoder(
            frame_len=window, hop=1, method=method, filterbank=filters, center=True,
            name="filters",
        )  # fmt: skip
        steps = [
            Energy(pairs=True, name="squared_modulus"),
            FreeLowpass(kernel_size=window, strides=hop, padding="same", name="lowpass"),
            # log(1 + |x|): a learned lowpass may go negative, where log1p alone is NaN.
            Modulus(pairs=False, name="abs"),
            Log1p(name="log1p"),
        ]
        if check_bool("instance_norm", instance_norm):
            steps.append(InstanceNorm(epsilon=1e-6, name="instance_norm"))
        super().__init__(encoder, steps, options, **kwargs)
