"""MFCC: a DCT over the mel channels of each frame, in librosa's or torchaudio's convention."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from framebank._validation import (
    check_bool,
    check_choice,
    check_number,
    check_positive_int,
)
from framebank.postprocessing._common import Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing
from framebank.postprocessing.decibels import decibels

__all__ = ["MFCC", "dct_matrix"]


def dct_matrix(n_in: int, n_out: int, dct_type: int = 2, norm: str | None = "ortho") -> np.ndarray:
    """The ``[n_in, n_out]`` float64 matrix ``M`` with ``x @ M == scipy.fft.dct(x, dct_type,
    norm=norm)[..., :n_out]`` for ``x`` ``[..., n_in]``."""
    import scipy.fft  # librosa's own dependency, imported when a layer is built

    return scipy.fft.dct(np.eye(n_in), type=dct_type, norm=norm, axis=-1)[:, :n_out]


def _lifter(n_mfcc: int, lifter: float) -> np.ndarray:
    """librosa's cepstral liftering weights ``1 + (L / 2) sin(pi (k + 1) / L)``."""
    if lifter == 0:
        return np.ones(n_mfcc)
    return 1.0 + (lifter / 2.0) * np.sin(np.pi * np.arange(1, n_mfcc + 1) / lifter)


@register_postprocessing("mfcc")
class MFCC(Float32Postprocessing):
    """Mel-frequency cepstral coefficients: a DCT over the channels of each frame.

    ``convention="librosa"`` is ``librosa.feature.mfcc(S=x, ...)`` on frames: the input is
    log-mel or decibel mel frames (``PowerToDb`` of a mel power spectrogram gives what
    ``librosa.feature.mfcc(y=...)`` computes inside), then a DCT of type ``dct_type`` with
    ``norm`` and, for ``lifter > 0``, librosa's liftering.

    ``convention="torchaudio"`` is ``torchaudio.transforms.MFCC`` after its mel
    spectrogram: the input is a mel *power* spectrogram, taken to decibels with
    ``top_db=80`` below each example's top (torchaudio's ``AmplitudeToDB("power", 80)``,
    whose top spans the first axis of a 3-d input: a batch of 1 is the same),
    or to ``log(x + 1e-6)`` with ``log_mels=True``, then the orthonormal DCT-II
    (torchaudio's ``create_dct``, its only type). torchaudio's mel spectrogram itself is
    HTK mel without area normalisation, where librosa's default is Slaney's: pick the mel
    layer's ``htk`` and ``norm`` to match the one you follow.

    Args:
        n_mfcc: coefficients kept (at most the number of channels).
        dct_type: 1, 2 or 3 (librosa); 2 for torchaudio.
        norm: ``"ortho"`` or None (librosa); ``"ortho"`` or None for torchaudio too.
        lifter: ``>= 0``; 0 for none (librosa only).
        convention: ``"librosa"`` or ``"torchaudio"``.
        log_mels: torchaudio's option: ``log(x + 1e-6)`` instead of decibels.

    Input shape:
        ``[batch, frames, n_mels]``, ``n_mels`` known.

    Output shape:
        ``[batch, frames, n_mfcc]``; float32 under 16-bit policies. Frame-wise (it
        streams) except ``convention="torchaudio"`` in decibels, whose floor is the
        clip's top.

    Example:
        >>> MFCC(n_mfcc=13)(np.zeros((2, 5, 40), "float32")).shape
        (2, 5, 13)
    """

    def __init__(
        self,
        n_mfcc: int = 20,
        dct_type: int = 2,
        norm: str | None = "ortho",
        lifter: float = 0,
        convention: str = "librosa",
        log_mels: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.n_mfcc = check_positive_int("n_mfcc", n_mfcc)
        self.dct_type = check_positive_int("dct_type", dct_type)
        if self.dct_type not in (1, 2, 3):
            raise ValueError(f"`dct_type` must be 1, 2 or 3. Received: dct_type={dct_type!r}")
        if norm not in ("ortho", None):
            raise ValueError(f'`norm` must be "ortho" or None. Received: norm={norm!r}')
        self.norm = norm
        self.lifter = check_number("lifter", lifter)
        if self.lifter < 0:
            raise ValueError(f"`lifter` must be non-negative. Received: lifter={lifter!r}")
        self.convention = check_choice("convention", convention, ("librosa", "torchaudio"))
        self.log_mels = check_bool("log_mels", log_mels)
        if self.convention == "torchaudio" and (self.dct_type != 2 or self.lifter):
            raise ValueError(
                "torchaudio's MFCC is a DCT-II without liftering. Received: "
                f"dct_type={dct_type!r}, lifter={lifter!r} with convention='torchaudio'"
            )
        if self.log_mels and self.convention != "torchaudio":
            raise ValueError(
                "`log_mels` is torchaudio's option (convention='torchaudio'); librosa's "
                "convention takes log-mel frames as they are. Received: log_mels=True"
            )
        self.frame_wise = self.convention == "librosa" or self.log_mels

    @property
    def not_streamable(self) -> str:
        if self.frame_wise:
            return ""
        return "torchaudio's decibels are floored 80 dB below the clip's top, not yet seen"

    def build(self, input_shape: tuple) -> None:
        n_mels = self._channels(input_shape)
        if self.n_mfcc > n_mels:
            raise ValueError(
                f"MFCC keeps n_mfcc={self.n_mfcc} coefficients of a DCT over {n_mels} "
                f"channels; n_mfcc must be at most {n_mels}. Received: input_shape="
                f"{tuple(input_shape)}"
            )
        matrix = dct_matrix(n_mels, self.n_mfcc, self.dct_type, self.norm)
        self._matrix = matrix * _lifter(self.n_mfcc, self.lifter)[None, :]

    def call(self, x: Any) -> Any:
        x = ops.cast(x, self.working_dtype)
        if self.convention == "torchaudio":
            x = ops.log(x + 1e-6) if self.log_mels else decibels(x, 1.0, 1e-10, 80.0)
        matrix = ops.convert_to_tensor(self._matrix, dtype=x.dtype)
        if keras.backend.standardize_dtype(x.dtype) == "float64":
            # Keras's torch matmul returns float64 products as float32; einsum keeps them.
            return ops.einsum("...f,fc->...c", x, matrix)
        return ops.matmul(x, matrix)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape)[:-1], self.n_mfcc)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "n_mfcc": self.n_mfcc,
            "dct_type": self.dct_type,
            "norm": self.norm,
            "lifter": self.lifter,
            "convention": self.convention,
            "log_mels": self.log_mels,
        }
