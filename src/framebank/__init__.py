"""framebank: learnable audio filterbank front ends for Keras 3.

The basis is the model; the method is only how it is executed.
"""

from framebank import initializers
from framebank.filterbanks import (
    FILTERBANKS,
    Filterbank,
    FreeFilterbank,
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
    "Encoder",
    "Filterbank",
    "FrameProjection",
    "Framing",
    "FreeFilterbank",
    "Method",
    "OverlapAdd",
    "frame",
    "get_filterbank",
    "get_method",
    "initializers",
    "num_frames",
    "overlap_add",
    "register_filterbank",
    "register_method",
]
