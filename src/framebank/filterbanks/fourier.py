"""The Fourier (STFT) filterbank: cosine and sine rows of a windowed DFT."""

from __future__ import annotations

from typing import Any

import numpy as np

from framebank._validation import check_positive_int
from framebank._weights import constant_initializer
from framebank.filterbanks.base import (
    Filterbank,
    check_window,
    make_window,
    register_filterbank,
)
from framebank.structures import WindowedDFT

__all__ = ["FourierFilterbank", "fourier_basis", "fourier_num_basis"]


def fourier_num_basis(frame_len: int, fft_length: int | None = None) -> int:
    """``2 * (fft_length // 2 + 1)``: real parts, then imaginary parts."""
    return 2 * ((fft_length or frame_len) // 2 + 1)


def fourier_basis(
    frame_len: int, window: str = "hann", fft_length: int | None = None
) -> np.ndarray:
    """The windowed real DFT as a ``[frame_len, 2 * (fft_length // 2 + 1)]`` float64 basis.

    Column ``k`` is ``w[n] cos(2 pi k n / fft_length)`` and column
    ``n_freq + k`` is ``-w[n] sin(2 pi k n / fft_length)``, so that
    ``frames @ basis`` gives the real and imaginary parts of
    ``tf.signal.stft`` / ``np.fft.rfft`` (kernel ``exp(-j 2 pi k n / N)``) of the
    windowed frame zero-padded to ``fft_length``.
    """
    # WindowedDFT.basis reduces n * k modulo fft_length: small angles, exact in float64.
    return WindowedDFT(make_window(window, frame_len), fft_length or frame_len).basis()


class _WindowedDFTBasis(Filterbank):
    """A family whose basis is a windowed DFT made from its options (:meth:`describe`): one
    ``[frame_len, num_basis]`` kernel starts as it and is the basis (so it trains from there),
    and while the kernel is fixed a method may run the description instead."""

    def describe(self) -> WindowedDFT:
        """The basis the family's options make, as a :class:`~framebank.structures.WindowedDFT`."""
        raise NotImplementedError

    def initial_basis(self) -> np.ndarray:
        return self.describe().basis()

    def make_weights(self) -> None:
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.frame_len, self.num_basis),
            initializer=constant_initializer(self.initial_basis()),
        )

    @property
    def windowed_dft(self) -> WindowedDFT | None:
        """The basis as a :class:`~framebank.structures.WindowedDFT` while it is fixed, else None.

        What the kernel was made as; a method that runs the description checks, at
        every call, that the kernel still equals it (weights may have been loaded
        or assigned) and runs the kernel itself where it does not. A basis that
        trains needs its own gradient, so it declares nothing.
        """
        return None if self.trainable else self.describe()

    def filters(self) -> Any:
        return self.kernel


@register_filterbank("fourier")
class FourierFilterbank(_WindowedDFTBasis):
    """An STFT as a basis: the windowed DFT's real rows, then its imaginary rows.

    The layout is asteroid's (``STFTFB``): coefficient ``k`` is the real part
    and ``n_freq + k`` the imaginary part of bin ``k``, ``n_freq = fft_length
    // 2 + 1``. The basis itself is the weight, initialised to the DFT: it
    trains like a free basis from a Fourier start (nnAudio, Keras's
    ``STFTSpectrogram``), or stays fixed with ``trainable=False``.

    Args:
        num_basis: optional; must be ``2 * (fft_length // 2 + 1)``.
        frame_len: samples per frame (required: it fixes num_basis).
        sample_rate: unused by the basis, kept for the config.
        window: ``hann`` (periodic, the default), ``hamming`` (periodic),
            ``sqrt_hann`` or ``rectangular``.
        fft_length: DFT size >= frame_len (frames are zero-padded to it);
            default ``frame_len``.

    Attributes:
        kernel: the ``[frame_len, num_basis]`` weight.

    References:
        asteroid-filterbanks ``STFTFB``; Keras ``STFTSpectrogram``.

    Example:
        >>> fb = FourierFilterbank(frame_len=8)
        >>> fb.num_basis
        10
    """

    complex_pairs = True
    fixed_num_basis = True
    dft_basis = True

    def __init__(
        self,
        num_basis: int | None = None,
        frame_len: int | None = None,
        sample_rate: float | None = None,
        window: str = "hann",
        fft_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        frame_len = self._require_frame_len(frame_len)
        if fft_length is not None:
            fft_length = check_positive_int("fft_length", fft_length)
            if fft_length < frame_len:
                raise ValueError(
                    f"`fft_length` must be >= frame_len={frame_len}. "
                    f"Received: fft_length={fft_length}"
                )
        expected = fourier_num_basis(frame_len, fft_length)
        if num_basis is None:
            num_basis = expected
        elif num_basis != expected:
            raise ValueError(
                f"The {self.family!r} filterbank with frame_len={frame_len}, "
                f"fft_length={fft_length or frame_len} has num_basis = 2 * (fft_length // 2 + 1) "
                f"= {expected}. Received: num_basis={num_basis!r}"
            )
        super().__init__(num_basis, frame_len, sample_rate, **kwargs)
        self.window = check_window(window)
        self.fft_length = fft_length

    def describe(self) -> WindowedDFT:
        return WindowedDFT(
            make_window(self.window, self.frame_len), self.fft_length or self.frame_len
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(window=self.window, fft_length=self.fft_length)
        return config
