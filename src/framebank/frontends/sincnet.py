"""SincNet's first layer (Ravanelli & Bengio, SLT 2018)."""

from __future__ import annotations

from typing import Any

import keras

from framebank.filterbanks import SincFilterbank
from framebank.frontends.base import (
    ReadyMade,
    leaf_window,
    register_ready_made,
)
from framebank.layers import Encoder
from framebank.postprocessing import Modulus
from framebank.postprocessing._common import working_dtype


@register_ready_made("sincnet")
@keras.saving.register_keras_serializable(package="framebank")
class SincNet(ReadyMade):
    """SincNet's first layer (Ravanelli & Bengio, 2018), at framebank's frame rate.

    Sinc band-pass filters of ``window`` taps at every sample (SincNet's mel-spaced
    initialisation, :class:`~framebank.SincFilterbank`), ``|.|``, max-pooling over
    ``window`` samples at stride ``hop`` ('same'), layer normalisation over the channels,
    leaky ReLU (slope 0.2): the paper's order, with LEAF's pooling size so that it
    returns ``[batch, frames, n_filters]`` at the hop rate like the other front ends.

    Args:
        sample_rate, n_filters, window_ms, hop_ms, method, win_length, hop_length: as
            :class:`LEAF`.
        min_low_hz, min_band_hz: the sinc family's limits.

    Output shape:
        ``[batch, frames, n_filters]``; float32 under 16-bit policies, as every front end.
    """

    stride1 = True
    window_rule = staticmethod(leaf_window)

    def __init__(
        self,
        sample_rate: float = 16000,
        n_filters: int = 40,
        window_ms: float | None = None,
        hop_ms: float | None = None,
        min_low_hz: float = 50.0,
        min_band_hz: float = 50.0,
        method: str = "auto",
        win_length: int | None = None,
        hop_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        options, sample_rate, n_filters, window, hop = self.sizes_from(locals())
        sinc = SincFilterbank(
            n_filters, window, sample_rate, min_low_hz=min_low_hz, min_band_hz=min_band_hz,
            name="sinc",
        )  # fmt: skip
        encoder = Encoder(
            frame_len=window, hop=1, method=method, filterbank=sinc, center=True,
            name="sinc_encoder",
        )  # fmt: skip
        steps = [
            Modulus(pairs=False, name="abs"),
            keras.layers.MaxPooling1D(pool_size=window, strides=hop, padding="same", name="max"),
            keras.layers.LayerNormalization(epsilon=1e-6, name="layer_norm"),
            keras.layers.LeakyReLU(negative_slope=0.2, name="leaky_relu"),
        ]
        super().__init__(encoder, steps, options, **kwargs)
        # Keras's own layers would return float16 under a mixed policy; the front ends return
        # their working dtype (float32 under 16-bit policies), as framebank's layers do.
        working = keras.dtype_policies.get(working_dtype(self.compute_dtype))
        for layer in steps[1:]:
            layer.dtype_policy = working
