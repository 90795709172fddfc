"""Common mistakes with a ready-made front end get a message that names the front end the
user called and a fix that works: other toolkits' option names, a fixed input too short for
a frame, stereo input, a sample rate in kHz. Over the live registry."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from framebank import framing, frontends

RATE = 16000
NAMES = sorted(frontends.FRONTENDS)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("key,suggested", [("n_mels", "n_filters"), ("hop_length", "hop_ms")])
def test_another_toolkits_option_name_is_answered_with_ours(name, key, suggested):
    cls = frontends.FRONTENDS[name]
    with pytest.raises(TypeError, match=f"{cls.__name__}.*'{key}' \\(did you mean {suggested}"):
        cls(sample_rate=RATE, **{key: 64})


def test_a_close_misspelling_is_suggested():
    with pytest.raises(TypeError, match="'windw_ms' \\(did you mean window_ms"):
        frontends.LogMel(RATE, windw_ms=25.0)


@pytest.mark.parametrize("name", NAMES)
def test_a_fixed_input_without_a_frame_is_refused_at_build(name):
    frontend = frontends.FRONTENDS[name](sample_rate=RATE)
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
    frontend = frontends.FRONTENDS[name](sample_rate=RATE)
    x = np.zeros((1, 4000, 2), "float32")
    with pytest.raises(ValueError, match=f"{type(frontend).__name__}.*2 channels.*Mix down"):
        frontend(x)
    assert frontend(keras.ops.mean(x, axis=-1)).shape[0] == 1  # the fix works


def test_a_sample_rate_in_khz_is_named():
    with pytest.raises(ValueError, match="in Hz: 16 kHz is sample_rate=16000"):
        frontends.LogMel(sample_rate=16)
