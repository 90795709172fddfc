"""EfficientLEAF (Schlüter & Gutenbrunner, EUSIPCO 2022): LEAF's Gabor filters in groups at
strides set by their centre frequencies, Gaussian pooling at each group's rate, LogTBN."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from framebank._validation import (
    as_waveform,
    check_bool,
    check_positive_int,
    check_positive_number,
)
from framebank.filterbanks import GaborFilterbank
from framebank.frontends._grouping import grouped_pooled_energy, plan_groups
from framebank.frontends.base import (
    ReadyMade,
    _upper_edge,
    register_ready_made,
)
from framebank.frontends.leaf import modulus_and_pooling
from framebank.layers import Encoder
from framebank.postprocessing import LearnableLog1p
from framebank.postprocessing._common import working_dtype
from framebank.postprocessing.logtbn import MedianSubtraction, TemporalBatchNorm

__all__ = ["EfficientLEAF"]


def _pool_window(sample_rate: float, window_ms: float) -> int:
    """EfficientLEAF's pooling length: ``int(sample_rate * window_ms / 1000)`` made odd."""
    size = int(float(sample_rate) * window_ms / 1000)
    return size + 1 - size % 2


def _check_grouping(
    n_filters: int, num_groups: Any, conv_win_factor: Any, stride_factor: Any
) -> tuple[int, float, float]:
    num_groups = check_positive_int("num_groups", num_groups)
    if num_groups > n_filters:
        raise ValueError(
            f"`num_groups` must be at most n_filters={n_filters} (a group holds at least "
            f"one filter). Received: num_groups={num_groups}"
        )
    conv_win_factor = check_positive_number("conv_win_factor", conv_win_factor)
    return num_groups, conv_win_factor, check_positive_number("stride_factor", stride_factor)


def _steps(
    pool_size: int, hop: int, learn_pooling: bool, gain: Any, median: bool, append: bool
) -> list:
    """The layers after the filters: squared modulus, pooling (whose widths the grouped
    path reads), then LogTBN."""
    steps = [
        *modulus_and_pooling(pool_size, hop, learn_pooling),
        LearnableLog1p(gain, name="log1p"),
    ]
    if median:
        steps.append(MedianSubtraction(append=append, name="median"))
    steps.append(TemporalBatchNorm(name="batch_norm"))
    return steps


@register_ready_made("efficient_leaf")
@keras.saving.register_keras_serializable(package="framebank")
class EfficientLEAF(ReadyMade):
    """EfficientLEAF (Schlüter & Gutenbrunner, EUSIPCO 2022): grouped Gabor filters, LogTBN.

    LEAF's complex Gabor filters (EfficientLEAF's closed-form mel initialisation,
    ``GaborFilterbank(init="analytic")``) in ``num_groups`` contiguous groups, each run as
    one strided convolution at a stride set by its highest centre frequency and with a
    kernel set by its widest filter; the squared modulus; a Gaussian pooling window per
    filter (LEAF's, learnable width) at the group's rate, onto one frame every ``hop_ms``
    centred on sample ``hop * m`` (``ceil(time / hop)`` frames); then LogTBN:
    ``log(1 + 10**a x)`` with ``a`` learned per band (initial ``log10_gain``), each band's
    median over time subtracted (appended as a second copy of the bands by default), and
    batch normalisation per band. The defaults are the reference's "Gabor 8G-opt": 40
    filters, 60-7800 Hz at 16 kHz, 25 ms (401 samples) and 10 ms, 8 groups, window factor
    6, stride factor 16, giving ``[batch, frames, 80]``.

    The groups (strides and kernel lengths) are planned once, from the initial centres and
    widths, so that every backend compiles fixed shapes; the reference plans them again
    at every step from the current values. Centres and widths are clipped to
    :class:`~framebank.GaborFilterbank`'s ranges (the reference lets a centre reach 0 and
    pi, and a width down to half framebank's lowest). It does not stream: the median is over
    the whole clip (and the groups' strided filters have no streaming step).

    Args:
        sample_rate: Hz.
        n_filters: complex filters (bands).
        num_groups: groups of filters, at most ``n_filters``.
        window_ms, hop_ms: the pooling length (and the widest filters' bound) and stride,
            milliseconds (default 25 and 10; the length made odd, 401 samples at 16 kHz).
        win_length, hop_length: the same two in samples, librosa's names (instead of
            ``window_ms``/``hop_ms``: one unit a size, both is an error); ``win_length``
            odd, so that the pooling window centres on a sample.
        min_hz, max_hz: the mel range of the initial filters (``max_hz`` defaults to
            ``0.4875 * sample_rate``, 7800 Hz at 16 kHz).
        conv_win_factor: a group's kernel length in widths ``sigma`` of its widest filter.
        stride_factor: a group's stride in half-periods ``pi / mu`` of its highest centre.
        log10_gain: the initial ``a`` of ``log(1 + 10**a x)``.
        median_filter: subtract each band's median over time.
        append_filtered: keep the bands and append the median-subtracted copy
            (``2 n_filters`` features) rather than replace them.
        learn_filters, learn_pooling: train the Gabor parameters, the pooling widths.
        method: the execution method of the encoder, which holds the filters (the grouped
            path computes its own strided convolutions; the option is kept so that the
            configs of every ready-made front end take it).

    Input shape:
        ``[batch, time]`` or ``[batch, time, 1]``.

    Output shape:
        ``[batch, ceil(time / hop), n_filters]``, or ``2 n_filters`` with
        ``append_filtered``; float32 under 16-bit policies.

    Raises:
        ValueError: for a value out of range (``num_groups`` above ``n_filters``, a
            non-positive factor, a pooling window of under 3 taps at a group's stride).
        TypeError: for a non-boolean switch.

    References:
        Schlüter and Gutenbrunner, "EfficientLEAF: a faster learnable audio frontend of
        questionable use", EUSIPCO 2022 (CPJKU/EfficientLEAF, ``model/efficientleaf.py``);
        Zeghidour et al., "LEAF: A Learnable Frontend for Audio Classification", ICLR 2021.
    """

    stride1 = True
    window_rule = staticmethod(_pool_window)
    not_streamable = (
        "its LogTBN subtracts each band's median over the whole clip, and its groups of "
        "strided filters have no streaming step; use LEAF to stream"
    )

    def __init__(
        self,
        sample_rate: float = 16000,
        n_filters: int = 40,
        num_groups: int = 8,
        window_ms: float | None = None,
        hop_ms: float | None = None,
        min_hz: float = 60.0,
        max_hz: float | None = None,
        conv_win_factor: float = 6.0,
        stride_factor: float = 16.0,
        log10_gain: float = 5.0,
        median_filter: bool = True,
        append_filtered: bool = True,
        learn_filters: bool = True,
        learn_pooling: bool = True,
        method: str = "auto",
        win_length: int | None = None,
        hop_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        options, sample_rate, n_filters, window, hop = self.sizes_from(locals())
        if window % 2 == 0:
            raise ValueError(
                "EfficientLEAF's pooling window centres on a sample, so `win_length` must be "
                f"odd. Received: win_length={win_length!r} (use {window + 1} or {window - 1})"
            )
        num_groups, conv_win_factor, stride_factor = _check_grouping(
            n_filters, num_groups, conv_win_factor, stride_factor
        )
        median_filter = check_bool("median_filter", median_filter)
        if check_bool("append_filtered", append_filtered) and not median_filter:
            raise ValueError(
                "`append_filtered=True` appends the median-subtracted bands, so it needs "
                "median_filter=True. Received: median_filter=False, append_filtered=True"
            )
        top = _upper_edge(sample_rate, max_hz)
        gabor = GaborFilterbank(
            2 * n_filters, window, sample_rate, min_hz=min_hz, max_hz=top, init="analytic",
            name="gabor",
        )  # fmt: skip
        gabor.trainable = check_bool("learn_filters", learn_filters)
        encoder = Encoder(
            frame_len=window, hop=1, method=method, filterbank=gabor, center=True,
            name="gabor_encoder",
        )  # fmt: skip
        learn_pooling = check_bool("learn_pooling", learn_pooling)
        steps = _steps(window, hop, learn_pooling, log10_gain, median_filter, append_filtered)
        super().__init__(encoder, steps, options, **kwargs)
        centre, sigma = gabor.initial_parameters()
        self.groups = plan_groups(
            centre, sigma, num_groups, window, hop, conv_win_factor, stride_factor
        )

    @property
    def input_dtype(self) -> str:
        # The waveform is not rounded to float16 under mixed policies: the grouped path
        # computes in float32, as the energies overflow float16.
        return working_dtype(self.compute_dtype)

    def call(self, waveform: Any) -> Any:
        dtype = working_dtype(self.compute_dtype)
        signal = as_waveform(waveform, "waveform", dtype)
        if len(signal.shape) == 3:
            signal = ops.squeeze(signal, -1)
        pool = self.postprocessing[1]
        x = grouped_pooled_energy(
            ops.cast(signal, dtype),
            self.encoder.filterbank,
            ops.clip(pool.sigma, pool.sigma_low, 0.5),
            self.groups,
            pool.kernel_size,
            pool.strides,
        )
        for step in self.postprocessing[2:]:
            x = step(x)
        return x
