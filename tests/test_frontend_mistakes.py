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
    with pytest.raises(ValueError, match=f"keras.Input\\(\\({need},\\)\\)") as info:
        frontend(keras.Input((200,)))
    assert frontend(keras.Input((need,))).shape[1] == 1  # the advice works
    # Every option the advice names is one LogMel takes, and centring makes a frame.
    assert "center=True" in str(info.value)
    named = set(re.findall(r"\b([a-z_]+)=", str(info.value)))
    assert named and named <= set(_options(frontends.LogMel)), named
    assert frontends.LogMel(RATE, center=True)(keras.Input((200,))).shape[1] >= 1


@pytest.mark.parametrize("name", NAMES)
def test_stereo_is_refused_naming_the_front_end_with_a_fix(name):
    frontend = _make(name)
    x = np.zeros((1, 4000, 2), "float32")
    with pytest.raises(ValueError, match=f"{type(frontend).__name__}.*2 channels.*Mix down"):
        frontend(x)
    assert frontend(keras.ops.mean(x, axis=-1)).shape[0] == 1  # the fix works


@pytest.mark.parametrize("name", ["log_mel", "pcen_mel", "leaf", "sincnet", "td_filterbanks"])
def test_a_sample_rate_in_khz_is_named(name):
    with pytest.raises(ValueError, match="`sample_rate` is in Hz.*pass sample_rate=16000"):
        frontends.FRONTENDS[name](sample_rate=16)


def test_a_sample_rate_that_is_not_whole_hz_is_refused():
    with pytest.raises(ValueError, match="whole number.*sample_rate=16000.5"):
        frontends.LogMel(sample_rate=16000.5)
    assert frontends.LogMel(sample_rate=16000.0).encoder.filterbank.sample_rate == 16000


def test_more_mel_bands_than_dft_bins_are_refused_with_the_numbers():
    # librosa only warns that some filters are empty.
    with pytest.raises(ValueError, match="300 mel bands.*n_fft=512 gives \\(257\\)"):
        frontends.LogMel(RATE, n_filters=300, n_fft=512)
    assert frontends.LogMel(RATE, n_filters=257, n_fft=512).encoder.filterbank.fft_length == 512


@pytest.mark.parametrize(
    "name", ["log_mel", "pcen_mel", "leaf", "sincnet", "td_filterbanks", "efficient_leaf"]
)
@pytest.mark.parametrize("size", [("window_ms", "win_length"), ("hop_ms", "hop_length")])
def test_a_size_in_milliseconds_and_in_samples_is_refused_naming_both(name, size):
    ms, samples = size
    with pytest.raises(ValueError, match=f"not both.*{ms}=20.*{samples}=320"):
        frontends.FRONTENDS[name](sample_rate=RATE, **{ms: 20, samples: 320})


@pytest.mark.parametrize(
    "options,match",
    [
        ({"n_fft": 512, "fft_length": 512}, "n_fft=512 and fft_length=512"),
        ({"n_fft": 256, "win_length": 400}, "win_length <= n_fft"),
        ({"n_fft": 512, "win_length": 401}, "win_length=401, n_fft=512, center=True"),
        ({"n_fft": 512, "win_length": 400, "center": False}, "center=False"),
        ({"pad_mode": "edge"}, "'constant'.*'reflect'.*pad_mode='edge'"),
    ],
)
def test_librosa_sizes_that_framebank_cannot_frame_as_librosa_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        frontends.LogMel(RATE, **options)


def test_log_mel_trainable_alone_is_refused_pointing_to_learnable_which_trains():
    with pytest.raises(ValueError, match="LogMel is a fixed transform.*learnable='mel'"):
        frontends.LogMel(RATE, trainable=True)
    with pytest.raises(FrontendConfigError, match="fixed transform"):
        build_frontend({"frontend": "log_mel", "trainable": True})
    frozen = frontends.LogMel(RATE, trainable=False)
    assert frontends.LogMel.from_config(frozen.get_config()).trainable is False
    x = np.zeros((1, 1600), "float32")
    for learnable, count in (("mel", 1), ("basis", 1), (True, 2)):
        layer = frontends.LogMel(RATE, learnable=learnable, trainable=True)
        layer(x)
        assert len(layer.trainable_weights) == count, learnable
        restored = frontends.LogMel.from_config(layer.get_config())
        restored(x)
        assert len(restored.trainable_weights) == count, learnable


def test_a_one_dimensional_waveform_is_refused_naming_the_front_end():
    with pytest.raises(ValueError, match="LogMel 'log_mel.*input_shape=\\(4000,\\).*x\\[None\\]"):
        frontends.LogMel(RATE)(np.zeros(4000, "float32"))


def test_reflect_padding_needs_more_than_half_a_window_and_does_not_stream():
    from framebank import streaming

    frontend = frontends.LogMel(RATE, pad_mode="reflect")  # a 400-sample window
    with pytest.raises(ValueError, match="pad_mode='reflect'.*at least 201 samples.*150"):
        frontend(keras.Input((150,)))
    assert frontend(keras.Input((201,))).shape[1] == 2
    with pytest.raises(ValueError, match="pad_mode='reflect'.*pad_mode='constant'"):
        streaming.Stream(frontends.LogMel(RATE, pad_mode="reflect"), sample_rate=RATE)
    config = {
        "filterbank": "mel",
        "frame_len": 400,
        "hop": 160,
        "sample_rate": RATE,
        "center": True,
        "pad_mode": "reflect",
        "postprocessing": ["mel_spectrum"],
    }
    assert build_frontend(config).encoder.pad_mode == "reflect"


def test_the_old_frontend_name_names_the_release_it_was_renamed_after():
    import framebank

    with pytest.warns(DeprecationWarning) as record:
        assert framebank.Frontend is framebank.FrontEnd
    message = str(record[0].message)
    assert "FrontEnd" in message and "after 0.1.0" in message and "since" not in message


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


@pytest.mark.parametrize(
    "cls,key,suggested",
    [
        (frontends.LogMel, "n_mel", "n_filters"),  # librosa's n_mels, misspelt
        (frontends.KaldiFbank, "hop_lenght", "frame_shift \\(milliseconds\\)"),
    ],
)
def test_a_misspelling_of_another_toolkits_name_is_answered_with_ours(cls, key, suggested):
    with pytest.raises(TypeError, match=f"'{key}' \\(did you mean {suggested}\\?"):
        cls(**{key: 64})


def test_a_misspelt_front_end_name_is_answered_with_the_closest():
    with pytest.raises(FrontendConfigError, match="unknown frontend 'lef' \\(did you mean 'leaf'"):
        build_frontend({"frontend": "lef", "sample_rate": 16000})
    with pytest.raises(FileNotFoundError, match="'log_mle'.*\\(did you mean 'log_mel'\\?\\)"):
        build_frontend("log_mle")


@pytest.mark.parametrize("name", ["LEAF", "SincNet", "TDFilterbanks"])
def test_pooled_front_ends_give_ceil_time_over_hop_frames_as_documented(name):
    frontend = getattr(frontends, name)(RATE)
    hop = round(RATE * 10 / 1000)  # the 10 ms default
    for time in (hop // 2, 10 * hop, 10 * hop + 1, 11 * hop - 1):
        assert frontend.compute_output_shape((None, time))[1] == -(-time // hop), time


def test_a_front_end_checks_its_input_value_once_per_call(monkeypatch):
    """FrontEnd.__call__ checked the value, then AudioInput.__call__ (its super) again."""
    from framebank._validation import AudioInput

    fe = build_frontend({"filterbank": "fourier", "frame_len": 32, "hop": 16})
    seen = []
    check = AudioInput._check_audio_value
    monkeypatch.setattr(
        AudioInput, "_check_audio_value", lambda self, x: (seen.append(self), check(self, x))
    )
    out = fe(np.zeros((2, 160), "float32"))
    assert tuple(out.shape) == (2, 9, 34)  # 17 bins, real parts then imaginary
    assert sum(layer is fe for layer in seen) == 1
    with pytest.raises(TypeError, match="not a Python list"):  # still checked, before any work
        fe([0.0] * 160)
    with pytest.raises(TypeError, match="int64"):
        fe(np.zeros((2, 160), "int64"))
    with pytest.raises(TypeError, match="int64"):  # an empty batch too, which skips the call
        fe(np.zeros((0, 160), "int64"))
