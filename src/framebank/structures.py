"""Descriptions of a basis's structure, which a filterbank family may declare.

A family that knows its basis has a structure (``frames @ basis`` is a windowed
DFT, say) declares it as an attribute; the layer that composes a family with a
method hands that description, never the family, to a method that can exploit
it. So a method still never knows where its basis came from, and the family
never knows how it is executed: this module is the vocabulary both share, and
imports nothing of framebank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["WindowedDFT"]


@dataclass(frozen=True, eq=False)
class WindowedDFT:
    """``frames @ basis`` is the real DFT of the windowed frames, real parts then imaginary.

    Coefficient ``k < n_freq`` is ``Re X[k]`` and ``n_freq + k`` is ``Im X[k]``,
    where ``X = rfft(window * frame, fft_length)`` (the frame zero-padded to
    ``fft_length``, kernel ``exp(-2j pi k n / fft_length)``) and ``n_freq =
    fft_length // 2 + 1``: the ``fourier`` family's layout.

    Attributes:
        window: ``[frame_len]`` float64.
        fft_length: the DFT size, ``>= frame_len``.
    """

    window: np.ndarray
    fft_length: int

    def __post_init__(self) -> None:
        window = np.asarray(self.window, dtype=np.float64)
        if window.ndim != 1 or not 0 < window.shape[0] <= int(self.fft_length):
            raise ValueError(
                "WindowedDFT needs a 1-D window no longer than fft_length. Received: "
                f"window shape={window.shape}, fft_length={self.fft_length!r}"
            )
        window.setflags(write=False)
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "fft_length", int(self.fft_length))

    @property
    def frame_len(self) -> int:
        return int(self.window.shape[0])

    @property
    def n_freq(self) -> int:
        return self.fft_length // 2 + 1

    @property
    def num_basis(self) -> int:
        return 2 * self.n_freq

    def basis(self) -> np.ndarray:
        """The ``[frame_len, 2 * n_freq]`` float64 matrix this describes (the definition)."""
        phase = np.outer(np.arange(self.frame_len), np.arange(self.n_freq)) % self.fft_length
        angle = 2.0 * np.pi * phase / self.fft_length
        w = self.window[:, None]
        return np.concatenate([w * np.cos(angle), -w * np.sin(angle)], axis=1)
