"""framebank: learnable audio filterbank front ends for Keras 3.

The basis is the model; the method is only how it is executed.
"""

from framebank import initializers
from framebank.config import Frontend, FrontendConfigError, build_frontend
from framebank.decoder import Decoder
from framebank.filterbanks import (
    FILTERBANKS,
    AnalyticFilterbank,
    Filterbank,
    FourierFilterbank,
    FreeFilterbank,
    GaborFilterbank,
    MelFilterbank,
    MelSpectrum,
    SincFilterbank,
    get_filterbank,
    register_filterbank,
)
from framebank.framing import Framing, OverlapAdd, frame, num_frames, overlap_add
from framebank.layers import Encoder, FrameProjection
from framebank.methods import METHODS, Method, get_method, register_method

__version__ = "0.1.0"

__all__ = [
    "FILTERBANKS",
    "METHODS",
    "AnalyticFilterbank",
    "Decoder",
    "Encoder",
    "Filterbank",
    "FourierFilterbank",
    "FrameProjection",
    "Frontend",
    "FrontendConfigError",
    "Framing",
    "FreeFilterbank",
    "GaborFilterbank",
    "MelFilterbank",
    "MelSpectrum",
    "SincFilterbank",
    "Method",
    "OverlapAdd",
    "build_frontend",
    "frame",
    "get_filterbank",
    "get_method",
    "initializers",
    "num_frames",
    "overlap_add",
    "register_filterbank",
    "register_method",
]
