"""Post-processing: layers on coefficients ``[batch, frames, channels]`` after the projection.

Each layer is one module that registers itself with
:func:`register_postprocessing`; a front-end config lists them by name, in
order, after the encoder. A user's own layer registers the same way.
Post-processing never imports filterbanks or methods: it sees only tensors.
"""

from framebank.postprocessing.augment import SpecAugment
from framebank.postprocessing.base import (
    POSTPROCESSING,
    Postprocessing,
    get_postprocessing,
    postprocessing_options,
    register_postprocessing,
)
from framebank.postprocessing.compression import Floor, LearnableLog1p, Log, Log1p
from framebank.postprocessing.decibels import AmplitudeToDb, PowerToDb
from framebank.postprocessing.deltas import Deltas
from framebank.postprocessing.energy import Energy, LogEnergy, Modulus
from framebank.postprocessing.kaldi import KaldiMelSpectrum, kaldi_mel_weights
from framebank.postprocessing.logtbn import MedianSubtraction, TemporalBatchNorm
from framebank.postprocessing.mel import MelSpectrum, mel_weights
from framebank.postprocessing.mfcc import MFCC
from framebank.postprocessing.normalization import InstanceNorm
from framebank.postprocessing.pcen import PCEN, exponential_moving_average
from framebank.postprocessing.pooling import FreeLowpass, GaussianLowpass
from framebank.postprocessing.pretrained import (
    FitFrames,
    KerasDecibels,
    KerasMelSpectrum,
    Standardize,
    WhisperCompression,
)

__all__ = [
    "MFCC",
    "PCEN",
    "POSTPROCESSING",
    "AmplitudeToDb",
    "Deltas",
    "Energy",
    "FitFrames",
    "Floor",
    "FreeLowpass",
    "GaussianLowpass",
    "InstanceNorm",
    "KaldiMelSpectrum",
    "KerasDecibels",
    "KerasMelSpectrum",
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
    "Standardize",
    "TemporalBatchNorm",
    "WhisperCompression",
    "exponential_moving_average",
    "get_postprocessing",
    "kaldi_mel_weights",
    "mel_weights",
    "postprocessing_options",
    "register_postprocessing",
]
