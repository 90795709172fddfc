"""Common mistakes with a ready-made front end get a message that names the front end the
user called and a fix that works: other toolkits' option names, a fixed input too short for
a frame, stereo input, a sample rate in kHz. Over the live registry."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from framebank import framing, frontends
from framebank._validation import layer_options
from framebank.config import FrontendConfigError, build_frontend
from framebank.frontends.base import SYNONYMS, ReadyMade

RATE = 16000
NAMES = sorted(frontends.FRONTENDS)


def _options(cls: type) -> list:
    return list(layer_options(cls, (ReadyMade,), skip=("encoder", "steps", "options")))


def _make(name: str, **options: object) -> frontends.FrontEnd:
    """The registry's front end at RATE, under the name its class gives the rate."""
    cls = frontends.FRONTENDS[name]
    key = "sampling_rate" if "sampling_rate" in _options(cls) else "sample_rate"
    return cls(**{key: RATE}, **options)


# Every name a hint could be drawn from: each toolkit's spelling of each option.
FOREIGN = sorted({name for group in SYNONYMS for name in group} | {"windw_ms", "nmels"})


@pytest.mark.parametrize("name", NAMES)
def test_a_suggested_option_is_one_the_front_end_accepts(name):
    cls = frontends.FRONTENDS[name]
    accepted = _options(cls)
    suggested = 0
    for key in FOREIGN:
        if key in accepted:
            continue
        with pytest.raises(TypeError, match=f"{cls.__name__} got unknown.*'{key}'") as info:
            cls(**{key: 64})
        guess = re.search(f"'{key}' \\(did you mean (\\w+)", str(info.value))
        if guess:
            suggested += 1
            assert guess.group(1) in accepted, (key, guess.group(1), accepted)
    assert suggested > 0  # the hints are there, not just absent


@pytest.mark.parametrize(
    "cls,key,suggested",
    [
        (frontends.KaldiFbank, "n_mels", "num_mel_bins"),
        (frontends.AST, "n_mels", "num_mel_bins"),
        (frontends.KerasMel, "n_mels", "num_mel_bins"),
        (frontends.KaldiFbank, "hop_length", "frame_shift \\(milliseconds\\)"),
        (frontends.LogMel, "n_mels", "n_filters"),
        (frontends.LogMel, "hop_length", "hop_ms \\(milliseconds\\)"),
        (frontends.TorchaudioMel, "hop_ms", "hop_length"),
    ],
)
def test_another_toolkits_option_name_is_answered_with_ours(cls, key, suggested):
    with pytest.raises(TypeError, match=f"{cls.__name__}.*'{key}' \\(did you mean {suggested}\\?"):
        cls(**{key: 64})


def test_whisper_is_not_offered_an_option_it_lacks():
    with pytest.raises(TypeError, match="'hop_length'") as info:
        frontends.WhisperLogMel(hop_length=100)
    assert "hop_ms" not in str(info.value)


def test_a_config_gets_the_same_hint_without_keras_internals():
    with pytest.raises(FrontendConfigError, match="'n_mels'.*did you mean n_filters\\?") as info:
        build_frontend({"frontend": "log_mel", "n_mels": 64})
    message = str(info.value)
    assert "autocast" not in message and "activity_regularizer" not in message
    assert "Accepted: sample_rate, n_filters" in message


def test_a_close_misspelling_is_suggested():
    with pytest.raises(TypeError, match="'windw_ms' \\(did you mean window_ms"):
        frontends.LogMel(RATE, windw_ms=25.0)


@pytest.mark.parametrize("name", NAMES)
def test_a_fixed_input_without_a_frame_is_refused_at_build(name):
    frontend = _make(name)
    length = 16  # shorter than any window here
    frames = framing.frames_for_shape((None, length), frontend.encoder)
    if frames >= 1:  # centred: padding alone makes a frame
        assert frontend(keras.Input((length,))).shape[1] >= 1
        return
    inputs = keras.Input((length,))
    with pytest.raises(ValueError, match=f"{type(frontend).__name__}.*0 frames.*at least"):
        frontend(inputs)


def test_log_mel_without_centring_is_refused_and_told_the_length_it_needs():
    frontend = frontends.LogMel(RATE, center=False)
    need = frontend.encoder.frame_len
    with pytest.raises(ValueError, match=f"keras.Input\\(\\({need},\\)\\)"):
        frontend(keras.Input((200,)))
    assert frontend(keras.Input((need,))).shape[1] == 1  # the advice works


@pytest.mark.parametrize("name", NAMES)
def test_stereo_is_refused_naming_the_front_end_with_a_fix(name):
    frontend = _make(name)
    x = np.zeros((1, 4000, 2), "float32")
    with pytest.raises(ValueError, match=f"{type(frontend).__name__}.*2 channels.*Mix down"):
        frontend(x)
    assert frontend(keras.ops.mean(x, axis=-1)).shape[0] == 1  # the fix works


def test_a_sample_rate_in_khz_is_named():
    with pytest.raises(ValueError, match="in Hz: 16 kHz is sample_rate=16000"):
        frontends.LogMel(sample_rate=16)


SHORT_CASES = [(name, {}) for name in NAMES] + [
    ("log_mel", {"center": False}),
    ("kaldi_fbank", {"snip_edges": False}),
    ("whisper", {"pad_or_trim": True}),
]


@pytest.mark.parametrize("name,options", SHORT_CASES, ids=lambda v: str(v))
def test_a_too_short_input_is_told_a_length_that_works(name, options):
    """A length the build accepts runs; one it refuses names a length that runs, and one
    sample fewer is refused too (the message gives the real minimum)."""

    def run(length: int) -> tuple:
        frontend = _make(name, **options)
        inputs = keras.Input((length,))
        model = keras.Model(inputs, frontend(inputs))
        out = model.predict(np.zeros((1, length), "float32"), verbose=0)
        assert out.shape[1:] == tuple(model.output.shape[1:])  # the shape it promised
        return out.shape

    for length in (1, 100):
        try:
            run(length)
            continue
        except ValueError as err:
            found = re.search(r"at least (\d+) samples \(keras.Input\(\((\d+),\)\)", str(err))
            assert found, str(err)
        need = int(found.group(1))
        assert int(found.group(2)) == need
        assert run(need)[1] >= 1
        with pytest.raises(ValueError, match=f"at least {need} samples"):
            run(need - 1)
