"""Filterbank families, chosen by name through :data:`FILTERBANKS`.

Each family is one module that registers itself with
:func:`register_filterbank`; a user's own family registers the same way,
from the user's code, and is then available by name everywhere
(``Encoder(filterbank=...)``, ``build_frontend``).
"""

from framebank._deprecation import deprecated_names
from framebank.filterbanks.analytic import AnalyticFilterbank
from framebank.filterbanks.base import (
    FILTERBANKS,
    WINDOWS,
    Filterbank,
    InRange,
    family_options,
    get_filterbank,
    make_window,
    register_filterbank,
)
from framebank.filterbanks.fourier import FourierFilterbank, fourier_basis
from framebank.filterbanks.free import FreeFilterbank
from framebank.filterbanks.gabor import GaborFilterbank
from framebank.filterbanks.kaldi import KaldiFilterbank
from framebank.filterbanks.mel import MelFilterbank
from framebank.filterbanks.sinc import SincFilterbank

__all__ = [
    "FILTERBANKS",
    "WINDOWS",
    "AnalyticFilterbank",
    "Filterbank",
    "FourierFilterbank",
    "FreeFilterbank",
    "GaborFilterbank",
    "KaldiFilterbank",
    "InRange",
    "MelFilterbank",
    "SincFilterbank",
    "family_options",
    "fourier_basis",
    "get_filterbank",
    "make_window",
    "register_filterbank",
]


def _postprocessing_mel(name: str):
    # Imported on use: filterbanks do not import post-processing at import time.
    from framebank.postprocessing import mel

    return getattr(mel, name)


__getattr__ = deprecated_names(
    __name__,
    {
        "MelSpectrum": (
            lambda: _postprocessing_mel("MelSpectrum"),
            "use framebank.postprocessing.MelSpectrum (or framebank.MelSpectrum)",
        ),
        "mel_weights": (
            lambda: _postprocessing_mel("mel_weights"),
            "use framebank.postprocessing.mel.mel_weights",
        ),
    },
)
