"""Filterbank families, chosen by name through :data:`FILTERBANKS`."""

from framebank.filterbanks.base import (
    FILTERBANKS,
    Filterbank,
    get_filterbank,
    register_filterbank,
)
from framebank.filterbanks.free import FreeFilterbank

__all__ = [
    "FILTERBANKS",
    "Filterbank",
    "FreeFilterbank",
    "get_filterbank",
    "register_filterbank",
]
