"""LEAF (Zeghidour et al., ICLR 2021): learnable Gabor filters, Gaussian pooling, sPCEN."""

from __future__ import annotations

from typing import Any

import keras

from framebank._tensors import jit_under_jax, known_cond
from framebank._validation import as_waveform, check_bool
from framebank.filterbanks import GaborFilterbank
from framebank.frontends._band_limited import as_batch_time, plan_for
from framebank.frontends.base import (
    ReadyMade,
    _upper_edge,
    leaf_window,
    register_ready_made,
)
from framebank.layers import Encoder
from framebank.postprocessing import PCEN, Energy, Floor, GaussianLowpass, InstanceNorm


def _gabor_family(
    n_filters: int, frame_len: int, sample_rate: Any, min_hz: float, max_hz: Any, init: str
) -> GaborFilterbank:
    top = _upper_edge(sample_rate, max_hz)
    return GaborFilterbank(
        2 * n_filters, frame_len, sample_rate, min_hz=min_hz, max_hz=top, init=init, name="gabor"
    )


def modulus_and_pooling(window: int, hop: int, learn_pooling: bool) -> list:
    """LEAF's layers after the filters (EfficientLEAF's too): the squared modulus of each
    complex pair, then a Gaussian lowpass of ``window`` taps at stride ``hop`` ('same'),
    its width learned per channel from 0.4."""
    return [
        Energy(pairs=True, name="squared_modulus"),
        GaussianLowpass(
            kernel_size=window,
            strides=hop,
            padding="same",
            sigma=0.4,
            name="gaussian_lowpass",
            trainable=learn_pooling,
        ),
    ]


@register_ready_made("leaf")
@keras.saving.register_keras_serializable(package="framebank")
class LEAF(ReadyMade):
    """LEAF (Zeghidour et al., ICLR 2021): learnable Gabor filters, Gaussian pooling, sPCEN.

    Gabor filters of ``window`` samples at every sample (LEAF's stride-1 convolution with
    'SAME' padding: the encoder centres its frames, ``hop=1``), initialised as LEAF's
    ``GaborInit`` (``init="leaf"``; ``"analytic"`` is EfficientLEAF's closed form), their
    squared modulus (:class:`~framebank.postprocessing.Energy`), LEAF's Gaussian lowpass of
    ``window`` taps at stride ``hop`` with a learnable width per channel,
    ``max(x, 1e-5)``, PCEN with LEAF's initial values and per-channel smoothing, and
    optionally an instance normalisation. The defaults are LEAF's: 40 filters, 60-7800 Hz
    at 16 kHz, 25 ms (401 taps) and 10 ms (160 samples); at another rate the upper edge
    defaults to ``0.4875 * sample_rate``.

    Args:
        sample_rate: Hz.
        n_filters: complex filters (output channels).
        window_ms, hop_ms: filter and pooling length, and pooling stride, milliseconds
            (default 25 and 10).
        win_length, hop_length: the same two in samples, librosa's names (instead of
            ``window_ms``/``hop_ms``: one unit a size, both is an error).
        min_hz, max_hz: the mel range of the initial filters.
        init: ``"leaf"`` or ``"analytic"`` (:class:`~framebank.GaborFilterbank`).
        instance_norm: normalise each channel over time at the end (LEAF's
            ``mean_var_norm``).
        learn_filters, learn_pooling: train the Gabor parameters, the pooling widths.
        method: how the filters run in the stride-1 definition (``"auto"`` picks the FFT).
            Naming a method (``"strided_conv"``, ``"fft_conv"``, ...) asks for that
            definition, the reference: ``band_limited`` then defaults to ``False``.
        band_limited: compute the filters, squared modulus and pooling from one FFT of
            the signal, per group of filters on a grid whose stride is set by each
            filter's width (a band of bins around each learned centre, its inverse FFT;
            the filters that the window cuts over the whole spectrum), the same output
            within 1e-4 of its largest value on speech (1e-5 to 3e-5 measured): several
            times faster than the stride-1 convolution under TensorFlow and JAX on a CPU
            (``benchmarks/README.md``). ``None`` (default): band-limited with
            ``method="auto"``, the stride-1 definition with a named method. ``True`` or
            ``False`` wins over that (``True`` with a named method runs that method where
            the stride-1 path runs). The stride-1 path runs anyway where a width has left
            the plan made from the initial widths, for an input of unknown length (so in
            export), and in streaming. ``get_config`` stores the resolved ``True``/``False``.
            Under JAX the band-limited path is one ``jax.jit`` program: a fresh layer's first
            eager call compiles it, and a jitted training step holds both paths (the plan's
            ``cond``): seconds of CPU each (benchmarks/README.md).
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
        init: str = "leaf",
        instance_norm: bool = False,
        learn_filters: bool = True,
        learn_pooling: bool = True,
        method: str = "auto",
        band_limited: bool | None = None,
        win_length: int | None = None,
        hop_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        options, sample_rate, n_filters, window, hop = self.sizes_from(locals())
        gabor = _gabor_family(n_filters, window, sample_rate, min_hz, max_hz, init)
        gabor.trainable = check_bool("learn_filters", learn_filters)
        encoder = Encoder(
            frame_len=window,
            hop=1,
            method=method,
            filterbank=gabor,
            center=True,
            name="gabor_encoder",
        )
        steps = [
            *modulus_and_pooling(window, hop, check_bool("learn_pooling", learn_pooling)),
            Floor(1e-5, name="floor"),
            PCEN(
                alpha=0.96,
                delta=2.0,
                root=2.0,
                smooth_coef=0.04,
                floor=1e-12,
                state_init="first_frame",
                name="pcen",
            ),
        ]
        if check_bool("instance_norm", instance_norm):
            steps.append(InstanceNorm(epsilon=1e-6, name="instance_norm"))
        super().__init__(encoder, steps, options, **kwargs)
        if band_limited is None:
            # A named method asks for the stride-1 definition (the reference); "auto", for speed.
            band_limited = isinstance(method, str) and method == "auto"
        self.band_limited = check_bool("band_limited", band_limited)
        # Resolved, since the config's method is the one "auto" picked: a reload keeps the path.
        self._options["band_limited"] = self.band_limited

    def call(self, waveform: Any) -> Any:
        time = waveform.shape[1]
        if not self.band_limited or time is None:
            return super().call(waveform)
        gabor, energy, pool = self.encoder.filterbank, *self.postprocessing[:2]
        if not hasattr(self, "_plan"):
            self._plan = plan_for(gabor, pool.strides)
            self._pooled_energy = jit_under_jax(self._plan.pooled_energy)
        # Integer PCM scaled as the encoder scales it (int16 / 32768), then [batch, time].
        signal = as_batch_time(as_waveform(waveform, "waveform", "float32"))
        sigma = keras.ops.clip(gabor.sigma, *gabor.sigma_range)
        mu = keras.ops.clip(gabor.centre, *gabor.centre_range)
        x = known_cond(
            self._plan.holds(sigma),
            lambda: self._pooled_energy(signal, gabor.filters(), pool.window(), mu),
            lambda: pool(energy(self.encoder(waveform))),
        )
        for step in self.postprocessing[2:]:
            x = step(x)
        return x
