"""Filterbank families, chosen by name through :data:`FILTERBANKS`.

Each family is one module that registers itself with
:func:`register_filterbank`; a user's own family registers the same way,
from the user's code, and is then available by name everywhere
(``Encoder(filterbank=...)``, ``build_frontend``).
"""

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
    "InRange",
    "MelFilterbank",
    "SincFilterbank",
    "family_options",
    "fourier_basis",
    "get_filterbank",
    "make_window",
    "register_filterbank",
]
