"""Bad and edge input to the public API, by class of defect: integer dtypes, zero frames,
unchecked helpers, non-floating dtype policies, later calls with the wrong width, a
symbolic length, missing export paths. Each class is fixed where it comes from."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

import framebank as fb

FRAMED = sorted(m for m in fb.METHODS if fb.METHODS[m].needs_frames)


def _encoder(method="matmul", **kwargs):
    encoder = fb.Encoder(4, 8, 4, method=method, **kwargs)
    encoder.build((None, None))
    return encoder


# ------------------------------------------------------------------ integer inputs


@pytest.mark.parametrize("method", FRAMED)
def test_integer_frames_are_pcm_divided_by_full_scale(method):
    frames = np.arange(2 * 3 * 8).reshape(2, 3, 8).astype("int16")
    layer = fb.FrameProjection(4, method=method)
    got = layer(frames)
    assert keras.backend.standardize_dtype(got.dtype) == "float32"
    want = frames.astype("float64") / 32768 @ ops.convert_to_numpy(layer.filterbank.filters())
    np.testing.assert_allclose(ops.convert_to_numpy(got), want, rtol=1e-5, atol=1e-9)
    assert np.abs(want).max() > 1e-4  # not the all-zero output an integer basis gave


@pytest.mark.parametrize("kind", ["tied", "free", "pinv"])
def test_integer_coefficients_decode_like_floats(kind):
    encoder = _encoder()
    decoder = fb.Decoder(encoder, kind=kind)
    coefficients = np.arange(2 * 5 * 4).reshape(2, 5, 4).astype("int32")
    got = ops.convert_to_numpy(decoder(coefficients))
    want = ops.convert_to_numpy(decoder(coefficients.astype("float32")))
    assert got.dtype == np.float32 and np.abs(want).max() > 0
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_integer_waveform_takes_the_layers_dtype_not_floatx():
    encoder = fb.Encoder(4, 8, 4, dtype="float64", method="matmul")
    out = encoder(np.arange(64, dtype="int32")[None])
    # An integer waveform runs exactly as a float64 one (JAX without x64, and Keras's torch
    # matmul, compute float64 as float32), never as floatx; int32 PCM is divided by 2**31.
    same = encoder(np.arange(64, dtype="float64")[None] / 2**31)
    assert out.dtype == same.dtype
    np.testing.assert_array_equal(ops.convert_to_numpy(out), ops.convert_to_numpy(same))
    if keras.backend.backend() == "tensorflow":
        assert keras.backend.standardize_dtype(out.dtype) == "float64"


@pytest.mark.parametrize(
    "layer,x",
    [
        (lambda: fb.LogEnergy(), np.full((1, 2, 4), 300, "int16")),  # 300**2 overflows int16
        (lambda: fb.OverlapAdd(4), np.ones((1, 3, 8), "int32")),
        (lambda: fb.Framing(8, 4), np.arange(32, dtype="int32")[None]),
    ],
)
def test_every_other_layer_converts_integers_too(layer, x):
    out = layer()(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert np.all(np.isfinite(ops.convert_to_numpy(out)))
    if isinstance(x, np.ndarray) and x.dtype == np.int16:
        np.testing.assert_allclose(ops.convert_to_numpy(out), np.log(90000 + 1e-6), rtol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda: fb.Encoder(4, 8, 4, dtype="int32"),
        lambda: fb.FrameProjection(4, dtype="int16"),
        lambda: fb.Decoder(fb.Encoder(4, 8, 4), dtype="int32"),
        lambda: fb.LogEnergy(dtype="int32"),
        lambda: fb.OverlapAdd(4, dtype="int32"),
    ],
)
def test_non_floating_dtype_policies_are_refused_at_construction(make):
    with pytest.raises(TypeError, match="float.*Received: dtype='int"):
        make()


# ------------------------------------------------------------------ zero frames


@pytest.mark.parametrize("method", sorted(fb.METHODS))
@pytest.mark.parametrize("kind", ["tied", "free", "pinv"])
def test_decoding_zero_frames_keeps_the_batch(method, kind):
    decoder = fb.Decoder(_encoder(), kind=kind, method=method)
    out = decoder(np.zeros((2, 0, 4), "float32"), length=32)
    assert tuple(out.shape) == (2, 32)
    assert np.all(ops.convert_to_numpy(out) == 0)


# ------------------------------------------------------------------ helpers and later calls


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: fb.num_frames(-5, 4, 2, pad_end=True), ValueError, "time=-5"),
        (lambda: fb.num_frames(-5, 4, 2), ValueError, "time=-5"),
        (lambda: fb.num_frames(10, 4, 0), ValueError, "hop=0"),
        (lambda: fb.num_frames(10, 0, 2), ValueError, "frame_len=0"),
        (lambda: fb.num_frames(10.5, 4, 2), TypeError, "time=10.5"),
        (lambda: fb.num_frames(10, 4, 2, pad_end="yes"), TypeError, "pad_end='yes'"),
    ],
)
def test_num_frames_checks_its_arguments_like_the_layers(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_num_frames_still_counts():
    assert (fb.num_frames(10, 4, 3), fb.num_frames(10, 4, 3, pad_end=True)) == (3, 4)
    assert fb.num_frames(0, 4, 3) == 0 and fb.num_frames(np.int64(10), 4, 3) == 3


def test_a_decoder_checks_the_width_of_every_call():
    encoder = _encoder()
    decoder = fb.Decoder(encoder)
    decoder(np.zeros((1, 3, 4), "float32"))
    named = rf"num_basis=4\].*basis vectors of its encoder '{encoder.name}'.*shape=\(1, 3, 5\)"
    with pytest.raises(ValueError, match=named):
        decoder(np.zeros((1, 3, 5), "float32"))
    with pytest.raises(ValueError, match=r"num_basis=4\].*shape=\(3, 4\)"):
        decoder(np.zeros((3, 4), "float32"))
    free = fb.Decoder(kind="free", num_basis=6, frame_len=8, hop=4)
    free(np.zeros((1, 3, 6), "float32"))
    with pytest.raises(ValueError, match=r"num_basis=6\].*its own basis of 6 vectors"):
        free(np.zeros((1, 3, 4), "float32"))


@pytest.mark.parametrize("length", [-5, 0])
def test_a_symbolic_call_refuses_a_bad_length_like_an_eager_one(length):
    decoder = fb.Decoder(_encoder())
    with pytest.raises(ValueError, match=f"length={length}"):
        decoder(keras.Input((None, 4)), length=length)
    with pytest.raises(ValueError, match=f"length={length}"):
        decoder(np.zeros((1, 3, 4), "float32"), length=length)


# ------------------------------------------------------------------ export paths


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow export")
def test_export_paths_that_do_not_exist_are_named(tmp_path):
    from framebank import export

    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        export.export_tflite(tmp_path / "no_such_dir", tmp_path / "x.tflite")
    with pytest.raises(FileNotFoundError, match="missing.tflite"):
        export.run_tflite(tmp_path / "missing.tflite", np.zeros((1, 64), "float32"))
    with pytest.raises(FileNotFoundError, match="no_folder"):
        export.export_saved_model(_encoder(), tmp_path / "no_folder" / "model")


# ------------------------------------------------------------------ messages that misled


def test_an_unknown_method_lists_every_accepted_name_auto_included():
    # "Auto" was refused with a list that left "auto" out. Names stay case-sensitive.
    with pytest.raises(ValueError, match=r"'Auto' \(names are lowercase: 'auto'\)") as error:
        fb.Encoder(8, 4, 8, method="Auto")
    assert all(name in str(error.value) for name in ["auto", *fb.METHODS])
    with pytest.raises(ValueError, match="Unknown method 'fastest'. Expected one of: auto, "):
        fb.Encoder(8, 4, 8, method="fastest")
    with pytest.raises(ValueError, match="'auto' is resolved where a layer is made"):
        fb.get_method("auto")


@pytest.mark.parametrize(
    "make, samples, message",
    [
        # An empty clip: one sample is enough, whatever the window ("1 samples" was said).
        (lambda: fb.frontends.LEAF(sample_rate=16000), 0, r"empty signal .*least 1 sample \("),
        (lambda: fb.frontends.LogMel(16000, center=False), 100, "shorter window_ms"),
        (lambda: fb.frontends.KaldiFbank(), 100, "shorter frame_length, or with snip_edges"),
    ],
)
def test_a_too_short_clip_names_the_fix_this_front_end_has(make, samples, message):
    with pytest.raises(ValueError, match=message) as error:
        make()(np.zeros((1, samples), "float32"))
    if samples == 0:
        assert "window" not in str(error.value).split("Give it")[1]


@pytest.mark.parametrize("make", [fb.frontends.WhisperLogMel, fb.frontends.AST])
def test_a_pretrained_front_end_does_not_offer_a_window_it_lacks(make):
    # WhisperLogMel was told "or build it with a shorter window": it has no such option.
    with pytest.raises(ValueError, match="Give it at least") as error:
        make()(np.zeros((1, 100), "float32"))
    assert "shorter" not in str(error.value)


def test_beats_gets_a_readable_automatic_name_that_round_trips():
    first, second = fb.frontends.BEATs(), fb.frontends.BEATs()
    assert first.name.startswith("beats") and second.name.startswith("beats_")
    assert first.name != second.name
    assert fb.frontends.BEATs(name="mine").name == "mine"
    again = fb.frontends.BEATs.from_config(first.get_config())
    assert again.name == first.name and again.get_config() == first.get_config()


def test_ast_with_target_length_says_that_is_why_it_does_not_stream():
    from framebank import streaming

    with pytest.raises(streaming.NotStreamableError, match="target_length=1024 pads or cuts"):
        streaming.Stream(fb.frontends.AST(target_length=1024), sample_rate=16000)
    assert streaming.Stream(fb.frontends.AST(), sample_rate=16000) is not None


@pytest.mark.parametrize(
    "value,error",
    [(0, ValueError), (-3, ValueError), (2.5, TypeError), ("1024", TypeError)],
)
def test_ast_names_target_length_not_its_fit_frames_step(value, error):
    # It said "`frames` must be a positive integer", an option AST does not have.
    with pytest.raises(error, match=f"`target_length`.*Received: target_length={value!r}"):
        fb.frontends.AST(target_length=value)


@pytest.mark.parametrize(
    "make,model",
    [
        (fb.frontends.AST, "AST"),
        (fb.frontends.BEATs, "BEATs"),
        (fb.frontends.WhisperLogMel, "Whisper"),
    ],
)
@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_pretrained_presets_refuse_a_rate_they_are_not_defined_at(make, model, rate):
    # AST and BEATs built silently at any rate, features their models never saw.
    with pytest.raises(ValueError, match=f"{model}'s front end is defined at 16000 Hz.*={rate}"):
        make(sample_rate=rate)
    assert make(sample_rate=16000).get_config()["sample_rate"] == 16000


def test_an_empty_mel_band_is_one_warning_of_framebanks_naming_the_sizes():
    # TorchaudioMel's defaults leave a band empty: librosa's warning, from deep inside
    # framebank, named neither n_mels nor n_fft.
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fb.frontends.TorchaudioMel()(np.zeros((1, 4000), "float32"))
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert not any("Empty filters" in m for m in messages), messages
    ours = [m for m in messages if "mel bands hold no FFT bin" in m]
    assert len(ours) == 1 and "n_mels=128" in ours[0] and "n_fft=400" in ours[0], messages
    assert "\n" not in ours[0]


def test_kaldi_fbank_itself_takes_any_rate():
    assert fb.frontends.KaldiFbank(sample_rate=8000).get_config()["sample_rate"] == 8000


# ------------------------------------------------------------------ Python lists


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda: fb.frontends.LogMel(16000), r"LogMel takes a waveform \[batch, samples\]"),
        (lambda: _encoder(), r"Encoder takes a waveform \[batch, samples\]"),
        (lambda: fb.FrameProjection(4), r"FrameProjection takes frames \[batch, frames, frame_l"),
        (
            lambda: fb.Decoder(kind="free", num_basis=16, frame_len=8, hop=4),
            r"Decoder takes coefficients \[batch, frames, num_basis",
        ),
    ],
)
def test_a_python_list_is_refused_naming_what_was_received(make, expected):
    # As keras.layers.Dense refuses [[1.0, 2.0]] (a list is not converted), but naming the
    # list and the tensor expected, where Keras names one of its numbers as an argument.
    with pytest.raises(TypeError, match=expected + r".*Received: a list of 400 float"):
        make()([0.0] * 400)
    with pytest.raises(TypeError, match=r"Received: a list of 1 list"):
        make()([[0.0] * 400])


# ------------------------------------------------------------------ zero frames, post-processing


@pytest.mark.parametrize("append", [False, True])
def test_median_subtraction_of_zero_frames_is_empty_like_the_other_postprocessing(append):
    x = np.zeros((2, 0, 3), "float32")
    got = fb.postprocessing.MedianSubtraction(append=append)(x)
    assert tuple(got.shape) == (2, 0, 6 if append else 3)
    assert tuple(fb.postprocessing.InstanceNorm()(x).shape) == (2, 0, 3)  # as the others do


@pytest.mark.parametrize(
    "make",
    [
        lambda: fb.postprocessing.PowerToDb(),
        lambda: fb.postprocessing.PowerToDb(ref="max", top_db=80.0),
        lambda: fb.postprocessing.AmplitudeToDb(top_db=80.0),
        lambda: fb.postprocessing.WhisperCompression(),
        lambda: fb.postprocessing.WhisperCompression(max_over="example"),
        lambda: fb.postprocessing.KerasDecibels(),
        lambda: fb.postprocessing.KerasDecibels(max_over="example"),
    ],
)
def test_a_maximum_over_zero_frames_gives_the_empty_output(make):
    """The decibel and Whisper layers floor below a maximum over frames: with 0 frames there is
    none to take (TensorFlow raised on the empty reduction); the output is empty, as the
    frame-wise layers give."""
    got = make()(np.zeros((2, 0, 3), "float32"))
    assert tuple(got.shape) == (2, 0, 3)
    assert keras.backend.standardize_dtype(got.dtype) == "float32"


# ------------------------------------------------------------------ input shape at every call

_FRONT_ENDS = {
    "LogMel": lambda: fb.frontends.LogMel(8000),
    "PCENMel": lambda: fb.frontends.PCENMel(8000),
    "SincNet": lambda: fb.frontends.SincNet(8000),
    "TDFilterbanks": lambda: fb.frontends.TDFilterbanks(8000),
    "LEAF": lambda: fb.frontends.LEAF(sample_rate=8000),  # the band-limited path
    "LEAF_stride1": lambda: fb.frontends.LEAF(sample_rate=8000, band_limited=False),
    "EfficientLEAF": lambda: fb.frontends.EfficientLEAF(sample_rate=8000),
}


def _clip(samples=4000):
    return (0.1 * np.random.default_rng(0).standard_normal((1, samples))).astype("float32")


@pytest.mark.parametrize("name", sorted(_FRONT_ENDS))
def test_a_built_front_end_still_refuses_stereo_channels_first_and_one_clip(name):
    """The rank and channel checks ran only at build: a built band-limited LEAF dropped the
    second channel of a stereo batch and gave (3, 1, 40) for a channels-first [3, 1, T];
    the others took a 1-D clip for a batch of 1. Every call is checked now."""
    fe = _FRONT_ENDS[name]()
    clip = _clip()
    fe(clip)  # builds it
    with pytest.raises(ValueError, match=r"takes mono audio .* Mix down .*Multichannel"):
        fe(np.stack([clip, clip], -1))  # [1, T, 2]
    with pytest.raises(ValueError, match=r"takes mono audio .*\(4000 channels\)"):
        fe(np.stack([clip, clip, clip]))  # [3, 1, T]
    with pytest.raises(ValueError, match="add the batch axis"):
        fe(clip[0])


@pytest.mark.parametrize("name", sorted(_FRONT_ENDS))
def test_a_batch_of_zero_clips_gives_zero_rows_of_features(name):
    """[0, T] failed deep inside (PCEN's state, an FFT's size, an AddV2 shape); it gives
    the empty [0, frames, features] that compute_output_shape says, built or not."""
    for built in (False, True):
        fe = _FRONT_ENDS[name]()
        if built:
            fe(_clip())
        got = fe(np.zeros((0, 4000), "float32"))
        assert tuple(got.shape) == tuple(fe.compute_output_shape((0, 4000)))
        assert tuple(got.shape)[0] == 0 and tuple(got.shape)[1] > 0
        assert keras.backend.standardize_dtype(got.dtype) == "float32"


@pytest.mark.parametrize("name", ["LogMel", "LEAF", "SincNet"])
def test_a_batch_of_zero_clips_has_the_dtype_of_a_clips_features_under_mixed_float16(name):
    # The empty output was made in the compute dtype (float16) where a clip's features
    # are float32 under 16-bit policies.
    fe = {
        "LogMel": lambda: fb.frontends.LogMel(8000, dtype="mixed_float16"),
        "LEAF": lambda: fb.frontends.LEAF(sample_rate=8000, dtype="mixed_float16"),
        "SincNet": lambda: fb.frontends.SincNet(8000, dtype="mixed_float16"),
    }[name]()
    want = keras.backend.standardize_dtype(fe(_clip()).dtype)
    got = fe(np.zeros((0, 4000), "float32"))
    assert keras.backend.standardize_dtype(got.dtype) == want


@pytest.mark.parametrize("name", sorted(_FRONT_ENDS))
def test_zero_samples_is_the_same_clear_error_for_every_front_end(name):
    """[1, 0]: LEAF returned (1, 0, 40) silently and EfficientLEAF raised a backend error
    where the others said the encoder received an empty signal; one message, built or not."""
    for built in (False, True):
        fe = _FRONT_ENDS[name]()
        if built:
            fe(_clip())
        with pytest.raises(ValueError, match=r"empty signal \(0 samples\).*Give it at least"):
            fe(np.zeros((1, 0), "float32"))


@pytest.mark.parametrize("chunk", [[[0.0] * 160], ([0.0] * 160,)])
def test_a_stream_refuses_a_python_list_as_the_layers_do(chunk):
    """Stream.process read a list as float64 samples where every layer refuses it; the same
    TypeError now, naming the list, before the stream starts."""
    fe = fb.frontends.LogMel(16000)
    fe(np.zeros((1, 1600), "float32"))
    from framebank import streaming

    stream = streaming.Stream(fe)
    kind = type(chunk).__name__
    with pytest.raises(TypeError, match=rf"not a Python {kind}.*Received: a {kind} of 1 list"):
        stream.process(chunk)
    assert stream.samples_received == 0
    with pytest.raises(TypeError, match=rf"not a Python {kind}"):
        fe(chunk)
