"""Ready-made front ends: LEAF, EfficientLEAF, TD-filterbanks, SincNet, PCEN-mel and log-mel,
one line each.

Each is a :class:`~framebank.FrontEnd` (one Keras layer: an encoder, then post-processing)
composed from framebank's rooms, never re-implementing them: configuration, not new maths.
Each takes ``sample_rate=`` and defaults to 40 output channels, 25 ms windows and 10 ms
hops (sizes given as ``window_ms``/``hop_ms`` or ``win_length``/``hop_length`` through one
:class:`FrameSpec`); it is called on ``[batch, time]`` and returns ``[batch, frames,
40]``. Each runs its projection under any execution method (``method=``) with the same
numbers, saves to and loads from ``.keras``, and is listed by name in :data:`FRONTENDS`
(so a config can name one: ``build_frontend({"frontend": "leaf", "sample_rate": 16000})``)::

    features = framebank.frontends.LEAF(sample_rate=16000)(waveform)  # [batch, 100, 40]

Filters that run at every sample (LEAF, TD-filterbanks, SincNet: a stride-1 convolution of
25 ms filters) take ``method="auto"``'s pick for that shape, the FFT (``fft_conv``).

References:
    Zeghidour et al., "LEAF: A Learnable Frontend for Audio Classification", ICLR 2021;
    Zeghidour et al., "Learning Filterbanks from Raw Speech for Phone Recognition",
    ICASSP 2018; Ravanelli & Bengio, "Speaker Recognition from Raw Waveform with SincNet",
    SLT 2018; Wang et al., "Trainable Frontend for Robust and Far-Field Keyword Spotting"
    (PCEN), ICASSP 2017.
"""

from framebank.frontends._pretrained import Pretrained
from framebank.frontends.base import (
    FRONTENDS,
    FrameSpec,
    FrontEnd,
    ReadyMade,
    register_ready_made,
)
from framebank.frontends.efficient_leaf import EfficientLEAF
from framebank.frontends.kaldi import AST, BEATs, KaldiFbank
from framebank.frontends.leaf import LEAF
from framebank.frontends.mel import LogMel, PCENMel
from framebank.frontends.sincnet import SincNet
from framebank.frontends.spectrograms import KerasMel, TorchaudioMel
from framebank.frontends.td_filterbanks import TDFilterbanks, td_gabor_basis
from framebank.frontends.whisper import WhisperLogMel, WhisperV3LogMel

__all__ = [
    "AST",
    "BEATs",
    "EfficientLEAF",
    "FRONTENDS",
    "FrameSpec",
    "FrontEnd",
    "KaldiFbank",
    "KerasMel",
    "LEAF",
    "LogMel",
    "PCENMel",
    "Pretrained",
    "ReadyMade",
    "SincNet",
    "TDFilterbanks",
    "TorchaudioMel",
    "WhisperLogMel",
    "WhisperV3LogMel",
    "register_ready_made",
    "td_gabor_basis",
]
