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

__all__ = ["WindowedDFT", "WindowedInverseDFT"]


class _WindowedTransform:
    """What a windowed DFT and its inverse share: the frame and bin counts that their
    ``window`` and ``fft_length`` fields give."""

    window: np.ndarray
    fft_length: int

    @property
    def frame_len(self) -> int:
        return int(self.window.shape[0])

    @property
    def n_freq(self) -> int:
        return self.fft_length // 2 + 1


@dataclass(frozen=True, eq=False)
class WindowedDFT(_WindowedTransform):
    """``frames @ basis`` is the real DFT of the windowed frames, real parts then imaginary.

    Coefficient ``k < n_freq`` is ``Re X[k]`` and ``n_freq + k`` is ``Im X[k]``,
    where ``X = rfft(window * frame, fft_length)`` (the frame zero-padded to
    ``fft_length``, kernel ``exp(-2j pi k n / fft_length)``) and ``n_freq =
    fft_length // 2 + 1``: the ``fourier`` family's layout.

    The frame may first go through Kaldi's linear frame processing (``ProcessWindow``):
    times ``scale``, its mean removed (``remove_mean``), pre-emphasised (``y[i] -
    preemphasis * y[i - 1]``, ``y[0]`` times ``1 - preemphasis``); and ``raw_frames``
    appends the frame after scaling and mean removal as ``frame_len`` more coefficients.
    Without these (the defaults) the description is :attr:`plain`.

    Attributes:
        window: ``[frame_len]`` float64.
        fft_length: the DFT size, ``>= frame_len``.
        scale: multiplies the frame.
        remove_mean: subtract the (scaled) frame's mean.
        preemphasis: the pre-emphasis coefficient, in ``[0, 1]``.
        raw_frames: the scaled, mean-removed frame follows the DFT's coefficients.
    """

    window: np.ndarray
    fft_length: int
    scale: float = 1.0
    remove_mean: bool = False
    preemphasis: float = 0.0
    raw_frames: bool = False

    def __post_init__(self) -> None:
        window = np.asarray(self.window, dtype=np.float64)
        if window.ndim != 1 or not 0 < window.shape[0] <= int(self.fft_length):
            raise ValueError(
                "WindowedDFT needs a 1-D window no longer than fft_length. Received: "
                f"window shape={window.shape}, fft_length={self.fft_length!r}"
            )
        if not 0.0 <= float(self.preemphasis) <= 1.0:
            raise ValueError(
                f"WindowedDFT's preemphasis must be in [0, 1]. Received: {self.preemphasis!r}"
            )
        window.setflags(write=False)
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "fft_length", int(self.fft_length))
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "remove_mean", bool(self.remove_mean))
        object.__setattr__(self, "preemphasis", float(self.preemphasis))
        object.__setattr__(self, "raw_frames", bool(self.raw_frames))

    @property
    def plain(self) -> bool:
        """True when the frame goes straight to the window (no frame processing)."""
        processing = (self.scale, self.remove_mean, self.preemphasis, self.raw_frames)
        return processing == (1.0, False, 0.0, False)

    @property
    def num_basis(self) -> int:
        return 2 * self.n_freq + (self.frame_len if self.raw_frames else 0)

    def basis(self) -> np.ndarray:
        """The ``[frame_len, num_basis]`` float64 matrix this describes (the definition): a
        copy of the one computed on first use (a method reads it at every eager call)."""
        cached = self.__dict__.get("_basis")
        if cached is None:
            cached = self._compute_basis()
            object.__setattr__(self, "_basis", cached)
        return cached.copy()

    def _compute_basis(self) -> np.ndarray:
        phase = np.outer(np.arange(self.frame_len), np.arange(self.n_freq)) % self.fft_length
        angle = 2.0 * np.pi * phase / self.fft_length
        w = self.window[:, None]
        dft = np.concatenate([w * np.cos(angle), -w * np.sin(angle)], axis=1)
        if self.plain:
            return dft
        # Sample j of the frame reaches z[j] (times 1 - c at j = 0) and z[j + 1] (times -c).
        c, length = self.preemphasis, self.frame_len
        basis = dft.copy()
        basis[:-1] -= c * dft[1:]
        basis[0] -= c * dft[0]
        if self.remove_mean:
            basis = basis - basis.mean(axis=0, keepdims=True)
        basis = self.scale * basis
        if not self.raw_frames:
            return basis
        raw = self.scale * (np.eye(length) - (1.0 / length if self.remove_mean else 0.0))
        return np.concatenate([basis, raw], axis=1)


@dataclass(frozen=True, eq=False)
class WindowedInverseDFT(_WindowedTransform):
    """``coefficients @ synthesis`` is a windowed inverse real DFT, up to a rank-``r`` correction.

    With ``X[k] = c[k] + 1j * c[n_freq + k]`` (the :class:`WindowedDFT` layout) and ``y[n]
    = sum_k Re(X[k]) cos(2 pi k n / N) - Im(X[k]) sin(2 pi k n / N)`` for ``n <
    frame_len`` (``N = fft_length``; ``y`` is ``N * irfft`` of ``X`` with its inner bins
    halved), a frame is ``window * (y - correction @ (project @ y))``. The transpose of a
    windowed DFT (a tied decoder) has no correction; its weighted pseudo-inverse (a ``pinv``
    decoder) has rank 2 (rank 1 for odd ``N``): ``F F^T``, ``F`` the DFT's rows, is ``N / 2``
    times the identity plus the DC and Nyquist bins' constant and alternating rows.

    Attributes:
        window: ``[frame_len]`` float64, the synthesis window.
        fft_length: ``N``.
        correction: ``[frame_len, r]`` float64 (``r`` may be 0).
        project: ``[r, frame_len]`` float64.
        source: the analysis basis it inverts; the synthesis is this only while the
            analysis weight equals ``source.basis()`` (a method checks that weight).
    """

    window: np.ndarray
    fft_length: int
    correction: np.ndarray
    project: np.ndarray
    source: WindowedDFT

    @classmethod
    def transpose_of(cls, dft: WindowedDFT) -> WindowedInverseDFT:
        """``dft.basis().T``."""
        empty = np.zeros((dft.frame_len, 0))
        return cls(dft.window, dft.fft_length, empty, empty.T, dft)

    @classmethod
    def weighted_pinv_of(cls, dft: WindowedDFT) -> WindowedInverseDFT:
        """``pinv(B) * diag(B B^T)[None, :]`` for ``B = dft.basis()``: rows where the window
        is 0 are zero rows of ``B`` (and their synthesis is 0); on the others ``B`` has full
        row rank, so ``pinv(B) = F^T (F F^T)^{-1} W^{-1}``, inverted in closed form
        (Woodbury) from the form of ``F F^T`` given in the class docstring."""
        n, length = dft.fft_length, dft.frame_len
        seen = dft.window != 0
        rows = [np.ones(length)] + ([(-1.0) ** np.arange(length)] if n % 2 == 0 else [])
        u = np.stack(rows, axis=1) * seen[:, None]  # [frame_len, r]
        # (N/2 I + U U^T / 2)^{-1} = (2 / N) (I - U (N I + U^T U)^{-1} U^T)
        project = np.linalg.solve(n * np.eye(u.shape[1]) + u.T @ u, u.T)
        diagonal = (n + u.shape[1]) / 2.0  # diag(F F^T)
        window = np.where(seen, dft.window, 0.0) * diagonal * 2.0 / n
        return cls(window, n, u, project, dft)

    def basis(self) -> np.ndarray:
        """The ``[2 * n_freq, frame_len]`` float64 synthesis matrix this describes."""
        transpose = WindowedDFT(np.ones(self.frame_len), self.fft_length).basis().T
        frames = transpose - (transpose @ self.project.T) @ self.correction.T
        return frames * self.window[None, :]
