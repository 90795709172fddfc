"""Integer audio: one rule for every layer that reads samples and every front end in the
registry (those added later included): integer PCM is divided by its full scale, as
soundfile and torchaudio read it; other integer dtypes and bools are refused.

Why exact equality: int16 and int8 samples divided by a power of two are exact in float32,
and int32 samples round to float32 the same way in both paths, so the two inputs are the
same float tensor and run the same ops."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
from keras import ops

import framebank as fb
from framebank import frontends, streaming

RATE = 16000
PCM = {"int8": (0, 128), "int16": (0, 32768), "int32": (0, 2**31), "uint8": (128, 128)}


def _pcm(dtype: str, length: int = 4000, batch: int = 2) -> np.ndarray:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(0)
    return rng.integers(info.min, info.max, size=(batch, length), endpoint=True).astype(dtype)


def _as_float(x: np.ndarray) -> np.ndarray:
    offset, scale = PCM[str(x.dtype)]
    return (x.astype("float32") - np.float32(offset)) / np.float32(scale)


@pytest.mark.parametrize("name", sorted(frontends.FRONTENDS))
def test_every_front_end_reads_int16_as_soundfile_does(name):
    cls = frontends.FRONTENDS[name]
    # Keras's own mel spectrogram names its rate sampling_rate; the others sample_rate.
    key = (
        "sampling_rate"
        if "sampling_rate" in inspect.signature(cls.__init__).parameters
        else "sample_rate"
    )
    frontend = cls(**{key: RATE})
    x = _pcm("int16")
    want = ops.convert_to_numpy(frontend(_as_float(x)))
    got = ops.convert_to_numpy(frontend(x))
    # Before the rule, int16 into LogMel gave features shifted by log(32768**2).
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", sorted(PCM))
def test_encoder_and_framing_scale_each_pcm_width(dtype):
    x = _pcm(dtype, 64)
    encoder = fb.Encoder(4, 8, 4, method="matmul")
    np.testing.assert_array_equal(
        ops.convert_to_numpy(encoder(x)), ops.convert_to_numpy(encoder(_as_float(x)))
    )
    framed = ops.convert_to_numpy(fb.Framing(8, 4)(x))
    np.testing.assert_array_equal(framed, ops.convert_to_numpy(fb.frame(_as_float(x), 8, 4)))
    assert np.abs(framed).max() <= 1.0


def test_a_model_with_an_int16_input_scales_it():
    inputs = keras.Input((RATE // 4,), dtype="int16")
    model = keras.Model(inputs, frontends.LogMel(RATE)(inputs))
    x = _pcm("int16", RATE // 4)
    reference = frontends.LogMel(RATE)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(model(x)), ops.convert_to_numpy(reference(_as_float(x)))
    )


@pytest.mark.parametrize("dtype", ["int64", "uint16", "bool"])
def test_integers_without_a_full_scale_are_refused(dtype):
    x = np.ones((1, 64), dtype)
    with pytest.raises(TypeError, match=f"dtype={dtype}"):
        fb.Encoder(4, 8, 4, method="matmul")(x)


def test_a_stream_reads_int16_by_the_same_rule():
    frontend = frontends.LogMel(RATE)
    x = _pcm("int16", RATE // 4, batch=1)
    stream = streaming.Stream(frontend, sample_rate=RATE)
    got = np.concatenate([stream.process(x[:, :1000]), stream.process(x[:, 1000:])], axis=1)
    got = np.concatenate([got, stream.flush()], axis=1)
    fresh = streaming.Stream(frontend, sample_rate=RATE)
    y = _as_float(x)
    want = np.concatenate([fresh.process(y[:, :1000]), fresh.process(y[:, 1000:])], axis=1)
    want = np.concatenate([want, fresh.flush()], axis=1)
    np.testing.assert_array_equal(got, want)
