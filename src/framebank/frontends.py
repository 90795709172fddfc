"""Ready-made front ends: LEAF, TD-filterbanks, SincNet, PCEN-mel and log-mel, one line each.

Each is a :class:`~framebank.FrontEnd` (one Keras layer: an encoder, then post-processing)
composed from framebank's rooms, never re-implementing them: configuration, not new maths.
Each takes ``sample_rate=`` and defaults to 40 output channels, 25 ms windows and 10 ms
hops; it is called on ``[batch, time]`` and returns ``[batch, frames, 40]``. Each runs its
projection under any execution method (``method=``) with the same numbers, saves to and
loads from ``.keras``, and is listed by name in :data:`FRONTENDS` (so a config can name one:
``build_frontend({"frontend": "leaf", "sample_rate": 16000})``)::

    features = framebank.frontends.LEAF(sample_rate=16000)(waveform)  # [batch, 100, 40]

Filters that run at every sample (LEAF, TD-filterbanks, SincNet: a stride-1 convolution of
25 ms filters) take ``method="auto"``'s pick for that shape, the FFT (``fft_conv``).

References:
    Zeghidour et al., "LEAF: A Learnable Frontend for Audio Classification", ICLR 2021;
    Zeghidour et al., "Learning Filterbanks from Raw Speech for Phone Recognition",
    ICASSP 2018; Ravanelli & Bengio, "Speaker Recognition from Raw Waveform with SincNet",
    SLT 2018; Wang et al., "Trainable Frontend for Robust and Far-Field Keyword Spotting"
    (PCEN), ICASSP 2017.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from framebank._validation import (
    check_bool,
    check_positive_int,
    check_positive_number,
)
from framebank.config import FrontEnd, register_ready_made
from framebank.filterbanks import FreeFilterbank, GaborFilterbank, SincFilterbank
from framebank.filterbanks.gabor import leaf_gabor_init, tf_mel_weight_matrix
from framebank.layers import Encoder
from framebank.postprocessing import (
    PCEN,
    Energy,
    Floor,
    FreeLowpass,
    GaussianLowpass,
    InstanceNorm,
    Log,
    Log1p,
    MelSpectrum,
    Modulus,
)

__all__ = ["FRONTENDS", "LEAF", "LogMel", "PCENMel", "SincNet", "TDFilterbanks"]


def _window(sample_rate: float, window_ms: float) -> int:
    """LEAF's filter length: ``int(sample_rate * window_ms // 1000 + 1)`` (401 at 16 kHz)."""
    return int(sample_rate * window_ms // 1000 + 1)


def _hop(sample_rate: float, hop_ms: float) -> int:
    """LEAF's stride: ``int(sample_rate * hop_ms // 1000)`` (160 at 16 kHz)."""
    hop = int(sample_rate * hop_ms // 1000)
    if hop < 1:
        raise ValueError(
            f"`hop_ms` must give at least one sample at sample_rate={sample_rate}. "
            f"Received: hop_ms={hop_ms}"
        )
    return hop


def _arguments(values: dict) -> dict:
    """A constructor's arguments from its ``locals()`` taken first thing: its config."""
    return {k: v for k, v in values.items() if k not in ("self", "kwargs", "__class__")}


class _ReadyMade(FrontEnd):
    """A front end built from plain options; its config is those options (with the method
    that ``"auto"`` picked, so a reloaded model runs the same one)."""

    def __init__(self, encoder: Encoder, steps: list, options: dict, **kwargs: Any) -> None:
        super().__init__(encoder, steps, **kwargs)
        self._options = {**options, "method": encoder.method.name}
        if "dtype" in kwargs:
            # The pieces were made before this layer knew its dtype: they take it now (as a
            # layer's own weights would), before any is built.
            for layer in (encoder, encoder.filterbank, *steps):
                layer.dtype_policy = self.dtype_policy

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            **self._options,
        }

    @classmethod
    def from_config(cls, config: dict) -> _ReadyMade:
        return cls(**config)


def _common(sample_rate: Any, n_filters: Any, window_ms: Any, hop_ms: Any) -> tuple:
    rate = check_positive_number("sample_rate", sample_rate)
    sample_rate = sample_rate if isinstance(sample_rate, int) else rate
    n_filters = check_positive_int("n_filters", n_filters)
    window_ms = check_positive_number("window_ms", window_ms)
    hop_ms = check_positive_number("hop_ms", hop_ms)
    return sample_rate, n_filters, window_ms, hop_ms


@register_ready_made("log_mel")
@keras.saving.register_keras_serializable(package="framebank")
class LogMel(_ReadyMade):
    """A fixed log-mel front end: ``log(eps + mel @ |STFT|^2)``, librosa's log-mel.

    The ``mel`` family's Fourier basis (Hann window, ``frame_len = round(sample_rate *
    window_ms / 1000)``, DFT of ``fft_length``), :class:`~framebank.MelSpectrum` (librosa's
    Slaney mel filters) and :class:`~framebank.postprocessing.Log`: equal to
    ``np.log(eps + librosa.feature.melspectrogram(y, sr, n_fft=fft_length,
    hop_length=hop, win_length=frame_len, n_mels=n_filters))`` (``center=True``).

    Args:
        sample_rate: Hz.
        n_filters: mel bands.
        window_ms, hop_ms: window and hop, milliseconds.
        fft_length: DFT size; default the next power of two >= the window.
        fmin, fmax: the mel filters' range, Hz (``fmax`` default Nyquist).
        eps: added before the logarithm.
        center: pad half a window at both ends, as librosa's ``center=True``.
        method: how the projection runs (``"auto"`` or a name in ``framebank.METHODS``).

    Input shape:
        ``[batch, time]``.

    Output shape:
        ``[batch, frames, n_filters]``.
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        n_filters: int = 40,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        fft_length: int | None = None,
        fmin: float = 0.0,
        fmax: float | None = None,
        eps: float = 1e-6,
        center: bool = True,
        method: str = "auto",
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        sample_rate, n_filters, window_ms, hop_ms = _common(
            sample_rate, n_filters, window_ms, hop_ms
        )
        frame_len = int(round(sample_rate * window_ms / 1000))
        if fft_length is not None:
            fft_length = check_positive_int("fft_length", fft_length)
        fft = fft_length or 1 << max(0, frame_len - 1).bit_length()
        encoder = Encoder(
            frame_len=frame_len,
            hop=_hop(sample_rate, hop_ms),
            method=method,
            filterbank="mel",
            sample_rate=sample_rate,
            fft_length=fft,
            n_mels=n_filters,
            fmin=fmin,
            fmax=fmax,
            center=check_bool("center", center),
            name="mel_encoder",
        )
        steps = [MelSpectrum.for_encoder(encoder, name="mel"), Log(eps=eps, name="log")]
        super().__init__(encoder, steps, options, **kwargs)


@register_ready_made("pcen_mel")
@keras.saving.register_keras_serializable(package="framebank")
class PCENMel(_ReadyMade):
    """A fixed mel spectrogram, then a learnable PCEN (per-channel energy normalisation).

    :class:`LogMel`'s mel power, then :class:`~framebank.postprocessing.PCEN` with LEAF's
    initial values (``alpha=0.96, delta=2, root=2, smooth_coef=0.04``), each learned per
    channel. The analyses of learnable front ends find PCEN is the part that learns; this
    isolates it.

    Args:
        sample_rate, n_filters, window_ms, hop_ms, fft_length, fmin, fmax, center, method: as
            :class:`LogMel`.
        alpha, delta, root, smooth_coef, floor: PCEN's initial values.
        learn: which PCEN parameters learn.
        state_init: PCEN's smoother before the first frame (``"first_frame"``, LEAF's;
            ``"ones"``, librosa's).
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        n_filters: int = 40,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        fft_length: int | None = None,
        fmin: float = 0.0,
        fmax: float | None = None,
        center: bool = True,
        method: str = "auto",
        alpha: float = 0.96,
        delta: float = 2.0,
        root: float = 2.0,
        smooth_coef: float = 0.04,
        floor: float = 1e-12,
        learn: tuple | list = ("alpha", "delta", "root", "smooth_coef"),
        state_init: str = "first_frame",
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        mel = LogMel(
            sample_rate, n_filters, window_ms, hop_ms, fft_length, fmin, fmax, 1e-6, center, method
        )
        pcen = PCEN(
            alpha=alpha,
            delta=delta,
            root=root,
            smooth_coef=smooth_coef,
            floor=floor,
            learn=learn,
            state_init=state_init,
            name="pcen",
        )
        super().__init__(mel.encoder, [mel.postprocessing[0], pcen], options, **kwargs)


def _upper_edge(sample_rate: Any, max_hz: Any) -> float:
    """The initial filters' upper edge: ``max_hz``, or LEAF's 7800 Hz scaled to the rate
    (``0.4875 * sample_rate``); above Nyquist is an error (the mel matrix would be empty)."""
    nyquist = float(sample_rate) / 2
    if max_hz is None:
        return min(7800.0, 0.4875 * float(sample_rate))
    if check_positive_number("max_hz", max_hz) > nyquist:
        raise ValueError(
            f"`max_hz`={max_hz} is above Nyquist ({nyquist:g} Hz at sample_rate={sample_rate})"
        )
    return float(max_hz)


def _gabor_family(
    n_filters: int, frame_len: int, sample_rate: Any, min_hz: float, max_hz: Any, init: str
) -> GaborFilterbank:
    top = _upper_edge(sample_rate, max_hz)
    return GaborFilterbank(
        2 * n_filters, frame_len, sample_rate, min_hz=min_hz, max_hz=top, init=init, name="gabor"
    )


@register_ready_made("leaf")
@keras.saving.register_keras_serializable(package="framebank")
class LEAF(_ReadyMade):
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
        window_ms, hop_ms: filter and pooling length, and pooling stride, milliseconds.
        min_hz, max_hz: the mel range of the initial filters.
        init: ``"leaf"`` or ``"analytic"`` (:class:`~framebank.GaborFilterbank`).
        instance_norm: normalise each channel over time at the end (LEAF's
            ``mean_var_norm``).
        learn_filters, learn_pooling: train the Gabor parameters, the pooling widths.
        method: how the filters run (``"auto"`` picks the FFT for a stride-1 filterbank).
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        n_filters: int = 40,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        min_hz: float = 60.0,
        max_hz: float | None = None,
        init: str = "leaf",
        instance_norm: bool = False,
        learn_filters: bool = True,
        learn_pooling: bool = True,
        method: str = "auto",
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        sample_rate, n_filters, window_ms, hop_ms = _common(
            sample_rate, n_filters, window_ms, hop_ms
        )
        window, hop = _window(sample_rate, window_ms), _hop(sample_rate, hop_ms)
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
            Energy(pairs=True, name="squared_modulus"),
            GaussianLowpass(
                kernel_size=window,
                strides=hop,
                padding="same",
                sigma=0.4,
                name="gaussian_lowpass",
                trainable=check_bool("learn_pooling", learn_pooling),
            ),
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


@keras.saving.register_keras_serializable(package="framebank")
class _FixedInitializer(keras.initializers.Initializer):
    """Values computed from a ready-made front end's options (rebuilt from them, not saved)."""

    def __init__(self, values: Any) -> None:
        self.values = np.asarray(values)

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        if tuple(shape) != self.values.shape:
            raise ValueError(f"Expected shape {self.values.shape}. Received: {tuple(shape)}")
        return keras.ops.convert_to_tensor(self.values, dtype=dtype)

    def get_config(self) -> dict:
        return {"values": self.values.tolist()}


@register_ready_made("td_filterbanks")
@keras.saving.register_keras_serializable(package="framebank")
class TDFilterbanks(_ReadyMade):
    """Time-domain filterbanks (Zeghidour et al., ICASSP 2018).

    Free complex filters of ``window`` taps at every sample, every tap learned,
    initialised as Gabor filters matching a mel filterbank; their squared modulus; a
    learnable lowpass of ``window`` taps per channel at stride ``hop``, squared-Hann
    initialised (:class:`~framebank.postprocessing.FreeLowpass`); ``log(1 + |x|)``; optionally
    an instance normalisation.

    Args:
        sample_rate, n_filters, window_ms, hop_ms, min_hz, max_hz, instance_norm, method:
            as :class:`LEAF`.
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        n_filters: int = 40,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        min_hz: float = 60.0,
        max_hz: float | None = None,
        instance_norm: bool = False,
        method: str = "auto",
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        sample_rate, n_filters, window_ms, hop_ms = _common(
            sample_rate, n_filters, window_ms, hop_ms
        )
        window, hop = _window(sample_rate, window_ms), _hop(sample_rate, hop_ms)
        top = _upper_edge(sample_rate, max_hz)
        basis = td_gabor_basis(n_filters, window, float(sample_rate), float(min_hz), top)
        filters = FreeFilterbank(
            2 * n_filters,
            window,
            sample_rate,
            kernel_initializer=_FixedInitializer(basis),
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


@register_ready_made("sincnet")
@keras.saving.register_keras_serializable(package="framebank")
class SincNet(_ReadyMade):
    """SincNet's first layer (Ravanelli & Bengio, 2018), at framebank's frame rate.

    Sinc band-pass filters of ``window`` taps at every sample (SincNet's mel-spaced
    initialisation, :class:`~framebank.SincFilterbank`), ``|.|``, max-pooling over
    ``window`` samples at stride ``hop`` ('same'), layer normalisation over the channels,
    leaky ReLU (slope 0.2): the paper's order, with LEAF's pooling size so that it
    returns ``[batch, frames, n_filters]`` at the hop rate like the other front ends.

    Args:
        sample_rate, n_filters, window_ms, hop_ms, method: as :class:`LEAF`.
        min_low_hz, min_band_hz: the sinc family's limits.
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        n_filters: int = 40,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        min_low_hz: float = 50.0,
        min_band_hz: float = 50.0,
        method: str = "auto",
        **kwargs: Any,
    ) -> None:
        options = _arguments(locals())
        sample_rate, n_filters, window_ms, hop_ms = _common(
            sample_rate, n_filters, window_ms, hop_ms
        )
        window, hop = _window(sample_rate, window_ms), _hop(sample_rate, hop_ms)
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


FRONTENDS: Mapping[str, type[_ReadyMade]] = types.MappingProxyType(
    {
        "leaf": LEAF,
        "td_filterbanks": TDFilterbanks,
        "sincnet": SincNet,
        "pcen_mel": PCENMel,
        "log_mel": LogMel,
    }
)
