"""framebank: learnable audio filterbank front ends for Keras 3.

The basis is the model; the method is only how it is executed.

The public names, by room (``README.md``'s "API" section says what each is):

* framing: :func:`frame`, :func:`overlap_add`, :func:`num_frames`,
  :class:`Framing`, :class:`OverlapAdd`
* filterbanks (what the basis is): :data:`FILTERBANKS`, :class:`Filterbank`
  and its families, :func:`register_filterbank`, :func:`get_filterbank`
* methods (how ``frames @ basis`` runs, both directions): :data:`METHODS`,
  :class:`Method`, :func:`register_method`, :func:`get_method`
* post-processing (after the projection): :data:`POSTPROCESSING`,
  :class:`Postprocessing`, :func:`register_postprocessing`,
  :func:`get_postprocessing`, and the layers: :class:`MelSpectrum`,
  :class:`Energy`, :class:`Modulus`, :class:`LogEnergy`, :class:`GaussianLowpass`,
  :class:`FreeLowpass`, :class:`Floor`, :class:`PCEN` (and its smoother
  :func:`exponential_moving_average`), :class:`Log`, :class:`Log1p`,
  :class:`LearnableLog1p`, :class:`InstanceNorm`, :class:`SpecAugment` (training-time masking)
* :mod:`framebank.frontends`: ready-made front ends (``LEAF``, ``TDFilterbanks``,
  ``SincNet``, ``PCENMel``, ``LogMel``)
* layers: :class:`Encoder`, :class:`FrameProjection`, :class:`Decoder`
* front ends from configs: :func:`build_frontend`, :class:`FrontEnd`,
  :class:`FrontendConfigError`
* :mod:`framebank.initializers`

Importing framebank registers every layer with Keras, so ``.keras`` files that
hold them load after ``import framebank``.
"""

from framebank import frontends, initializers
from framebank._deprecation import deprecated_names
from framebank.config import FrontEnd, FrontendConfigError, build_frontend
from framebank.decoder import Decoder
from framebank.filterbanks import (
    FILTERBANKS,
    AnalyticFilterbank,
    Filterbank,
    FourierFilterbank,
    FreeFilterbank,
    GaborFilterbank,
    MelFilterbank,
    SincFilterbank,
    get_filterbank,
    register_filterbank,
)
from framebank.framing import Framing, OverlapAdd, frame, num_frames, overlap_add
from framebank.layers import Encoder, FrameProjection
from framebank.methods import METHODS, Method, get_method, register_method
from framebank.multichannel import Multichannel
from framebank.postprocessing import (
    MFCC,
    PCEN,
    POSTPROCESSING,
    AmplitudeToDb,
    Deltas,
    Energy,
    Floor,
    FreeLowpass,
    GaussianLowpass,
    InstanceNorm,
    LearnableLog1p,
    Log,
    Log1p,
    LogEnergy,
    MedianSubtraction,
    MelSpectrum,
    Modulus,
    Postprocessing,
    PowerToDb,
    SpecAugment,
    TemporalBatchNorm,
    exponential_moving_average,
    get_postprocessing,
    register_postprocessing,
)
from framebank.stft import ISTFT, STFT

__version__ = "0.1.0"

__getattr__ = deprecated_names(
    __name__,
    {
        "Frontend": (
            lambda: FrontEnd,
            "use framebank.FrontEnd (the same front end, a Keras layer; renamed after 0.1.0, "
            "see CHANGELOG.md)",
        )
    },
)

__all__ = [
    # framing
    "Framing",
    "OverlapAdd",
    "frame",
    "num_frames",
    "overlap_add",
    # filterbanks
    "FILTERBANKS",
    "AnalyticFilterbank",
    "Filterbank",
    "FourierFilterbank",
    "FreeFilterbank",
    "GaborFilterbank",
    "MelFilterbank",
    "SincFilterbank",
    "get_filterbank",
    "register_filterbank",
    # methods
    "METHODS",
    "Method",
    "get_method",
    "register_method",
    # post-processing
    "POSTPROCESSING",
    "MFCC",
    "PCEN",
    "AmplitudeToDb",
    "Deltas",
    "Energy",
    "Floor",
    "FreeLowpass",
    "GaussianLowpass",
    "InstanceNorm",
    "LearnableLog1p",
    "Log",
    "Log1p",
    "LogEnergy",
    "MedianSubtraction",
    "MelSpectrum",
    "Modulus",
    "Postprocessing",
    "PowerToDb",
    "SpecAugment",
    "TemporalBatchNorm",
    "exponential_moving_average",
    "get_postprocessing",
    "register_postprocessing",
    # ready-made front ends (LEAF, TDFilterbanks, SincNet, PCENMel, LogMel)
    "frontends",
    # layers
    "Decoder",
    "Encoder",
    "FrameProjection",
    "ISTFT",
    "Multichannel",
    "STFT",
    # front ends from configs
    "FrontEnd",
    "FrontendConfigError",
    "build_frontend",
    "initializers",
]
