"""Kaldi's frame processing as a Fourier basis: scaling, DC removal, pre-emphasis, window, DFT.

Kaldi's ``compute-fbank`` turns each frame ``x`` into ``DFT(w * P(D(s * x)))``: the scale
``s``, the removal of the frame's mean ``D``, the pre-emphasis ``P`` (``z[i] = y[i] - c
y[i-1]``, ``z[0] = (1 - c) y[0]``) and the window ``w`` are all linear in ``x``, so the whole
chain is one ``[frame_len, num_basis]`` matrix, ``s D^T P^T diag(w) F`` with ``F`` the DFT
zero-padded to ``fft_length``: exact, and executed like any other basis. While fixed, the
family declares it as a :class:`~framebank.structures.WindowedDFT` with that processing, which
the ``rfft`` method runs through the FFT. The coefficients
are the ``fourier`` family's (real parts, then imaginary parts), optionally followed by the
frame after scaling and DC removal (``frame_columns``), whose energy is Kaldi's
``raw_energy``.

Where ``scale`` is far from 1 (32768 for BEATs' int16 scale) the family holds two weights:
``kernel``, the basis divided by ``unit`` (the power of two nearest ``|scale|``), and
``unit`` itself, a non-trainable scalar; the basis is their product. A kernel holding the
scale would be about 6e4 at its largest, where an optimizer step (about the learning rate,
for Adam) moves nothing; divided, it is about 2, as at ``scale=1``. A power of two changes
exponents only, so the division and the product are exact (for float32 and wider weights;
a float16 kernel loses the subnormal entries' low bits): a fixed basis is still, bit for bit,
the description's. Assigning the kernel directly takes the basis divided by the unit. The
count tells the layouts apart: a file saved when the kernel held the whole basis has one
entry and loads into this layout (:meth:`KaldiFilterbank.load_own_variables`); an old weight
list is one entry short, which ``set_weights`` refuses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from framebank._validation import check_bool, check_choice, check_number, check_positive_int
from framebank._weights import constant_initializer
from framebank.filterbanks.base import register_filterbank
from framebank.filterbanks.fourier import _WindowedDFTBasis
from framebank.structures import WindowedDFT

__all__ = ["KALDI_WINDOWS", "KaldiFilterbank", "kaldi_basis", "kaldi_window"]

KALDI_WINDOWS = ("povey", "hanning", "hamming", "rectangular", "blackman", "hann")


def kaldi_window(window_type: str, frame_len: int, blackman_coeff: float = 0.42) -> np.ndarray:
    """Kaldi's ``FeatureWindowFunction``: ``[frame_len]`` float64.

    ``hanning``, ``hamming``, ``povey`` (Hann to the power 0.85) and ``blackman`` are
    symmetric (``a = 2 pi / (frame_len - 1)``); ``hann`` is kaldi-native-fbank's periodic
    Hann (``a = 2 pi / frame_len``).
    """
    check_choice("window_type", window_type, KALDI_WINDOWS)
    n = np.arange(frame_len, dtype=np.float64)
    a = 2 * np.pi / (frame_len if window_type == "hann" else max(frame_len - 1, 1))
    cosine = np.cos(a * n)
    if window_type in ("hanning", "hann"):
        return 0.5 - 0.5 * cosine
    if window_type == "hamming":
        return 0.54 - 0.46 * cosine
    if window_type == "povey":
        return np.power(0.5 - 0.5 * cosine, 0.85)
    if window_type == "blackman":
        return blackman_coeff - 0.5 * cosine + (0.5 - blackman_coeff) * np.cos(2 * a * n)
    return np.ones(frame_len)


def _kernel_unit(scale: float) -> float:
    """The power of two nearest ``|scale|`` (in log scale; 1 for ``scale=0``), its exponent
    kept in float32's normal range so that the unit and the division by it stay exact."""
    magnitude = abs(scale)
    if magnitude == 0.0:
        return 1.0
    return 2.0 ** int(np.clip(round(np.log2(magnitude)), -126, 127))


def kaldi_basis(
    frame_len: int,
    fft_length: int,
    window_type: str = "povey",
    blackman_coeff: float = 0.42,
    remove_dc_offset: bool = True,
    preemphasis_coefficient: float = 0.97,
    scale: float = 1.0,
    frame_columns: bool = False,
) -> np.ndarray:
    """Kaldi's per-frame processing and DFT as one ``[frame_len, num_basis]`` float64 basis.

    ``num_basis`` is ``2 * (fft_length // 2 + 1)`` (real, then imaginary parts), plus
    ``frame_len`` when ``frame_columns`` (the scaled, DC-removed frame).
    """
    return _description(
        frame_len, fft_length, window_type, blackman_coeff, remove_dc_offset,
        preemphasis_coefficient, scale, frame_columns,
    ).basis()  # fmt: skip


def _description(
    frame_len: int,
    fft_length: int,
    window_type: str,
    blackman_coeff: float,
    remove_dc_offset: bool,
    preemphasis_coefficient: float,
    scale: float,
    frame_columns: bool,
) -> WindowedDFT:
    """The basis as a :class:`~framebank.structures.WindowedDFT` with Kaldi's processing."""
    return WindowedDFT(
        kaldi_window(window_type, frame_len, blackman_coeff),
        fft_length,
        scale=scale,
        remove_mean=remove_dc_offset,
        preemphasis=preemphasis_coefficient,
        raw_frames=frame_columns,
    )


@register_filterbank("kaldi")
class KaldiFilterbank(_WindowedDFTBasis):
    """Kaldi's frame processing (scale, DC removal, pre-emphasis, window) and DFT as a basis.

    Fixed by default; ``trainable=True`` trains the whole basis from Kaldi's numbers.

    Args:
        num_basis: optional; ``2 * (fft_length // 2 + 1)`` (+ ``frame_len`` with
            ``frame_columns``).
        frame_len: samples per frame (Kaldi's window size).
        sample_rate: Hz, kept for the config.
        fft_length: the zero-padded DFT size, ``>= frame_len``.
        window_type: ``povey``, ``hanning``, ``hamming``, ``rectangular``, ``blackman`` (or
            kaldi-native-fbank's periodic ``hann``).
        blackman_coeff: the Blackman window's constant.
        remove_dc_offset: subtract each frame's mean.
        preemphasis_coefficient: ``c`` in ``z[i] = y[i] - c y[i-1]``, in ``[0, 1]``.
        scale: multiplies the waveform (32768 for [-1, 1] audio at Kaldi's int16 scale).
        frame_columns: append the scaled, DC-removed frame (for Kaldi's ``raw_energy``).
        trainable: False by default.

    Attributes:
        kernel: the ``[frame_len, num_basis]`` weight: the basis divided by ``unit``.
        unit: None where ``scale`` is near 1 (the kernel is the basis), else a
            non-trainable scalar weight, the power of two nearest ``|scale|``.

    References:
        Kaldi ``feature-window.cc`` (``ProcessWindow``); kaldi-native-fbank.
    """

    fixed_num_basis = True

    def __init__(
        self,
        num_basis: int | None = None,
        frame_len: int | None = None,
        sample_rate: float | None = None,
        fft_length: int | None = None,
        window_type: str = "povey",
        blackman_coeff: float = 0.42,
        remove_dc_offset: bool = True,
        preemphasis_coefficient: float = 0.97,
        scale: float = 1.0,
        frame_columns: bool = False,
        trainable: bool = False,
        **kwargs: Any,
    ) -> None:
        frame_len = self._require_frame_len(frame_len)
        fft_length = check_positive_int("fft_length", fft_length or frame_len)
        if fft_length < frame_len:
            raise ValueError(
                f"`fft_length` must be >= frame_len={frame_len}. Received: fft_length={fft_length}"
            )
        self.frame_columns = check_bool("frame_columns", frame_columns)
        expected = 2 * (fft_length // 2 + 1) + (frame_len if self.frame_columns else 0)
        if num_basis is not None and num_basis != expected:
            raise ValueError(
                f"The 'kaldi' filterbank with frame_len={frame_len}, fft_length={fft_length}, "
                f"frame_columns={frame_columns} has {expected} basis vectors. "
                f"Received: num_basis={num_basis!r}"
            )
        super().__init__(expected, frame_len, sample_rate, trainable=trainable, **kwargs)
        self.fft_length = fft_length
        self.window_type = check_choice("window_type", window_type, KALDI_WINDOWS)
        self.blackman_coeff = check_number("blackman_coeff", blackman_coeff)
        self.remove_dc_offset = check_bool("remove_dc_offset", remove_dc_offset)
        c = check_number("preemphasis_coefficient", preemphasis_coefficient)
        if not 0.0 <= c <= 1.0:
            raise ValueError(
                "`preemphasis_coefficient` must be in [0, 1] (Kaldi's rule). "
                f"Received: preemphasis_coefficient={preemphasis_coefficient!r}"
            )
        self.preemphasis_coefficient = c
        self.scale = check_number("scale", scale)
        if not np.isfinite(self.scale):
            raise ValueError(f"`scale` must be a finite number. Received: scale={scale!r}")
        self._unit = _kernel_unit(self.scale)
        self.unit = None

    def describe(self) -> WindowedDFT:
        # One description for the layer's life (its options are fixed): one basis computed.
        if getattr(self, "_dft", None) is None:
            self._dft = _description(
                self.frame_len, self.fft_length, self.window_type, self.blackman_coeff,
                self.remove_dc_offset, self.preemphasis_coefficient, self.scale,
                self.frame_columns,
            )  # fmt: skip
        return self._dft

    def make_weights(self) -> None:
        if self._unit == 1.0:
            super().make_weights()
            return
        # Never autocast: kernel * unit is exact in the weights' own dtype, cast after (as a
        # kernel holding the basis is), so the fixed basis equals the description's.
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.frame_len, self.num_basis),
            initializer=constant_initializer(self.initial_basis() / self._unit),
            autocast=False,
        )
        self.unit = self.add_weight(
            name="unit",
            shape=(),
            initializer=constant_initializer(np.asarray(self._unit)),
            trainable=False,
            autocast=False,
        )

    def filters(self) -> Any:
        return self.kernel if self.unit is None else ops.multiply(self.kernel, self.unit)

    def load_own_variables(self, store: Any) -> None:
        """Keras's loading (``.keras`` and ``.weights.h5``), plus the earlier layout: one
        entry, the kernel holding the whole basis, where this layout has two."""
        if self.unit is None or len(store.keys()) != 1:
            super().load_own_variables(store)  # any other count: Keras's own error
            return
        # Divided by a power of two: exponents change only, so this is the same basis.
        self.kernel.assign(np.asarray(store["0"]) / self._unit)
        self.unit.assign(self._unit)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            fft_length=self.fft_length,
            window_type=self.window_type,
            blackman_coeff=self.blackman_coeff,
            remove_dc_offset=self.remove_dc_offset,
            preemphasis_coefficient=self.preemphasis_coefficient,
            scale=self.scale,
            frame_columns=self.frame_columns,
        )
        return config
