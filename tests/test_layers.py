"""Layers: one weight whatever the method, shared initialisation, serialisation, errors."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import methods_for
from keras import ops

import framebank as fb
from framebank import initializers

ALL_METHODS = methods_for("free")  # the encoders here are free unless a family is named
FRAME_METHODS = [m for m in ALL_METHODS if fb.METHODS[m].needs_frames]


def _signal(batch=2, time=1000, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, time)).astype("float32")


@pytest.mark.parametrize("method", ALL_METHODS)
def test_every_method_holds_one_basis_shaped_kernel(method):
    enc = fb.Encoder(32, 40, 20, method=method, use_bias=True)
    enc(_signal())
    assert [tuple(w.shape) for w in enc.get_weights()] == [(40, 32), (32,)]
    assert [v.path.split("/")[-1] for v in enc.trainable_variables] == ["kernel", "bias"]


def test_same_seed_same_initial_weights_for_every_method():
    seeded = [
        fb.Encoder(64, 80, 40, method=m, kernel_initializer=initializers.BasisGlorotUniform(7))
        for m in ALL_METHODS
    ]
    for enc in seeded:
        enc.build((1, 400))
    first = seeded[0].get_weights()[0]
    for enc in seeded[1:]:
        np.testing.assert_array_equal(enc.get_weights()[0], first)

    globally_seeded = []
    for m in ALL_METHODS:
        keras.utils.set_random_seed(3)
        enc = fb.Encoder(64, 80, 40, method=m)
        enc.build((1, 400))
        globally_seeded.append(enc.get_weights()[0])
    for w in globally_seeded[1:]:
        np.testing.assert_array_equal(w, globally_seeded[0])
    limit = np.sqrt(6 / (80 + 64))
    assert np.abs(first).max() <= limit and np.abs(first).max() > 0.9 * limit


@pytest.mark.parametrize(
    "method,keras_layer",
    [
        (
            "reshape_conv",
            lambda s: keras.layers.Conv1D(
                256, 80, use_bias=False, kernel_initializer=keras.initializers.GlorotUniform(s)
            ),
        ),
        (
            "strided_conv",
            lambda s: keras.layers.Conv1D(
                256,
                80,
                strides=80,
                use_bias=False,
                kernel_initializer=keras.initializers.GlorotUniform(s),
            ),
        ),
        (
            "pointwise_conv",
            lambda s: keras.layers.Conv1D(
                256, 1, use_bias=False, kernel_initializer=keras.initializers.GlorotUniform(s)
            ),
        ),
        (
            "dense",
            lambda s: keras.layers.Dense(
                256, use_bias=False, kernel_initializer=keras.initializers.GlorotUniform(s)
            ),
        ),
    ],
)
def test_keras_default_reproduces_each_keras_layer(method, keras_layer):
    layer = keras_layer(11)
    layer.build(
        {
            "reshape_conv": (None, 80, 1),
            "strided_conv": (None, 800, 1),
            "pointwise_conv": (None, 10, 80),
            "dense": (None, 80),
        }[method]
    )
    want = np.reshape(layer.get_weights()[0], (80, 256))
    enc = fb.Encoder(
        256, 80, 80, method=method, kernel_initializer=initializers.KerasDefault(seed=11)
    )
    enc.build((1, 800))
    np.testing.assert_array_equal(enc.get_weights()[0], want)


def test_keras_default_std_ratio_explains_method_1():
    stds = {}
    for method in ("reshape_conv", "dense"):
        keras.utils.set_random_seed(0)
        enc = fb.Encoder(256, 80, 80, method=method, kernel_initializer="keras_default")
        enc.build((1, 800))
        stds[method] = enc.get_weights()[0].std()
    ratio = stds["reshape_conv"] / stds["dense"]
    expected = np.sqrt((80 + 256) / (80 + 80 * 256))  # 0.128, about 1/7.8
    assert abs(ratio - expected) < 0.05 * expected, (ratio, expected)
    # The shared default does not depend on the method.
    shared = {}
    for method in ("reshape_conv", "dense"):
        enc = fb.Encoder(256, 80, 80, method=method)
        enc.build((1, 800))
        shared[method] = enc.get_weights()[0].std()
    assert abs(shared["reshape_conv"] / shared["dense"] - 1) < 0.05


def test_weights_are_portable_between_methods():
    x = _signal()
    outputs = {}
    source = fb.Encoder(
        48, 64, 16, method="reshape_conv", use_bias=True, bias_initializer="random_normal"
    )
    source(x)
    for method in ALL_METHODS:
        enc = fb.Encoder(48, 64, 16, method=method, use_bias=True)
        enc.build(x.shape)
        enc.set_weights(source.get_weights())
        outputs[method] = ops.convert_to_numpy(enc(x))
    ref = outputs["matmul"]
    for method, out in outputs.items():
        np.testing.assert_allclose(
            out, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max(), err_msg=method
        )


def _model(method, **kwargs):
    inputs = keras.Input((None,))
    coefficients = fb.Encoder(24, 32, 16, method=method, use_bias=True, name="enc", **kwargs)(
        inputs
    )
    outputs = keras.layers.ReLU()(coefficients)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_keras_file_round_trip(method, tmp_path):
    model = _model(method, pad_end=True)
    x = _signal(time=777)
    model.compile("adam", "mse")
    model.fit(x, np.abs(_signal(time=49 * 24, seed=1)).reshape(2, 49, 24), epochs=2, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_layer("enc").method.name == method
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)), rtol=1e-6, atol=1e-6
    )


def test_save_weights_load_into_any_other_method(tmp_path):
    x = _signal(time=500)
    trained = _model("reshape_conv")
    trained.compile("sgd", "mse")
    trained.fit(x, np.ones((2, 30, 24), "float32"), epochs=1, verbose=0)
    path = tmp_path / "w.weights.h5"
    trained.save_weights(path)
    want = ops.convert_to_numpy(trained(x))
    for method in ALL_METHODS:
        other = _model(method)
        other.load_weights(path)
        got = ops.convert_to_numpy(other(x))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=method)


def test_config_round_trip_keeps_everything():
    enc = fb.Encoder(
        16,
        20,
        5,
        method="pointwise_conv",
        use_bias=True,
        pad_end=True,
        center=True,
        pad_value=0.5,
        kernel_initializer="keras_default",
    )
    config = enc.get_config()
    again = fb.Encoder.from_config(config)
    for key in ("num_basis", "frame_len", "hop", "pad_end", "center", "pad_value", "use_bias"):
        assert getattr(again, key) == getattr(enc, key), key
    assert again.method.name == "pointwise_conv"
    init = again.filterbank.kernel_initializer
    assert isinstance(init, initializers.KerasDefault) and init.method == "pointwise_conv"
    proj = fb.FrameProjection(8, method="reshape_conv")
    assert fb.FrameProjection.from_config(proj.get_config()).method.name == "reshape_conv"


def test_unknown_length_and_output_shape():
    inputs = keras.Input((None,))
    out = fb.Encoder(8, 16, 4, method="strided_conv")(inputs)
    assert tuple(out.shape) == (None, None, 8)
    enc = fb.Encoder(8, 16, 4)
    assert enc.compute_output_shape((3, 100)) == (3, 22, 8)
    assert enc.compute_output_shape((3, 100, 1)) == (3, 22, 8)
    assert fb.Encoder(8, 16, 4, pad_end=True).compute_output_shape((3, 100)) == (3, 25, 8)
    assert fb.Encoder(8, 16, 4, center=True).compute_output_shape((3, 100)) == (3, 26, 8)
    model = keras.Model(inputs, out)
    for time in (100, 64, 257):
        got = model(_signal(time=time))
        assert tuple(got.shape) == (2, 1 + (time - 16) // 4, 8)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_center_and_pad_end_agree_across_methods(method):
    x = _signal(time=203)
    ref = fb.Encoder(
        8,
        32,
        12,
        method="matmul",
        center=True,
        pad_end=True,
        kernel_initializer=initializers.BasisGlorotUniform(1),
    )
    enc = fb.Encoder(
        8,
        32,
        12,
        method=method,
        center=True,
        pad_end=True,
        kernel_initializer=initializers.BasisGlorotUniform(1),
    )
    want = ops.convert_to_numpy(ref(x))
    assert want.shape == (2, -(-(203 + 32) // 12), 8)
    np.testing.assert_allclose(ops.convert_to_numpy(enc(x)), want, rtol=1e-5, atol=1e-5)


def _called_twice(layer: keras.layers.Layer, first: tuple, second: tuple) -> None:
    layer(np.zeros(first, "float32"))
    layer(np.zeros(second, "float32"))


def test_numpy_integers_and_keras_layer_keywords_are_accepted():
    assert fb.Encoder(np.int64(8), np.int32(16), np.int64(8)).num_basis == 8
    model = keras.Sequential([fb.Encoder(8, 16, 8, input_shape=(None,))])
    assert model.output_shape == (None, None, 8)


@pytest.mark.parametrize(
    "build,error,match",
    [
        (lambda: fb.Encoder(0, 16, 8), ValueError, "num_basis=0"),
        (lambda: fb.Encoder(8, 16, 0), ValueError, "hop=0"),
        (lambda: fb.Encoder(8, -1, 8), ValueError, "frame_len=-1"),
        (lambda: fb.Encoder(8, 16, 8, method="fft"), ValueError, "Unknown method 'fft'"),
        (lambda: fb.Encoder(8, 16, 8, filterbank="nope"), ValueError, "Unknown filterbank 'nope'"),
        (lambda: fb.Encoder(8, 16, 8, kernel_initializer="nope"), ValueError, "nope"),
        (lambda: fb.FrameProjection(8, method="strided_conv"), ValueError, "strided_conv"),
        (
            lambda: fb.Encoder(8, 16, 8)(np.zeros((2, 10), "float32")),
            ValueError,
            "shorter than one frame",
        ),
        (lambda: fb.Encoder(8, 16, 8)(np.zeros((2, 10, 2), "float32")), ValueError, "mono"),
        (lambda: fb.FrameProjection(8)(np.zeros((2, 10), "float32")), ValueError, "frame_len"),
        # Found in a user-perspective review: each was silently accepted or a bare error.
        (lambda: fb.Encoder(8, 16, 8, pad_end="no"), TypeError, "pad_end='no'"),
        (lambda: fb.Encoder(8, 16, 8, center="False"), TypeError, "center='False'"),
        (lambda: fb.Encoder(8, 16, 8, use_bias="yes"), TypeError, "use_bias='yes'"),
        (lambda: fb.Encoder(8, 16, 8, pad_value="x"), TypeError, "pad_value='x'"),
        (lambda: fb.Encoder(8.0, 16, 8), TypeError, "num_basis=8.0"),
        (lambda: fb.Framing(16, 8, center="no"), TypeError, "center='no'"),
        (
            lambda: fb.Encoder(8, 16, 8, filterbank="gabor", sample_rate=16000, max_hz="3000"),
            TypeError,
            "max_hz='3000'",
        ),
        (
            lambda: fb.Encoder(8, 16, 8, filterbank="sinc", sample_rate="16000"),
            TypeError,
            "sample_rate='16000'",
        ),
        (
            lambda: fb.Decoder(kind="free", num_basis=4, frame_len=8, hop=4, center=1),
            TypeError,
            "center=1",
        ),
        (
            lambda: _called_twice(fb.FrameProjection(4), (2, 3, 8), (2, 3, 9)),
            ValueError,
            "expected axis -1 of input shape to have value 8",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize("method", ALL_METHODS)
def test_training_moves_every_method_the_same_way(method):
    """Same weights, same data, same optimizer: the same trained weights."""
    x = _signal(batch=4, time=320, seed=5)
    y = np.random.default_rng(6).standard_normal((4, 19, 24)).astype("float32")

    def train(m):
        keras.utils.set_random_seed(0)
        model = _model(m)
        model.compile(keras.optimizers.SGD(0.01), "mse")
        model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
        return model.get_layer("enc").get_weights()[0]

    np.testing.assert_allclose(train(method), train("matmul"), rtol=1e-4, atol=1e-6)


def test_import_does_not_load_tensorflow_under_jax():
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax")
    code = (
        "import sys, framebank, numpy as np; framebank.Encoder(4, 8, 4)(np.zeros((1, 32)));"
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


def _frozen_encoder_with_bias() -> fb.Encoder:
    return fb.Encoder(6, 16, 8, use_bias=True, trainable=False)


def _frozen_after_construction() -> fb.Encoder:
    encoder = fb.Encoder(6, 16, 8, use_bias=True)
    encoder.trainable = False  # before build: the bias does not exist yet
    return encoder


def _frozen_from_config() -> fb.Encoder:
    config = {"frame_len": 16, "hop": 8, "num_basis": 6, "use_bias": True, "trainable": False}
    return fb.build_frontend(config).encoder


@pytest.mark.parametrize(
    "make", [_frozen_encoder_with_bias, _frozen_after_construction, _frozen_from_config]
)
def test_a_frozen_encoder_stays_frozen_in_training(make):
    """trainable=False freezes the filterbank and the bias, as keras.layers.Dense's would."""
    encoder = make()
    inputs = keras.Input((None,))
    model = keras.Model(inputs, keras.layers.Dense(1)(encoder(inputs)))
    before = [w.copy() for w in encoder.get_weights()]
    assert len(model.trainable_weights) == 2  # the Dense layer's kernel and bias only
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = _signal(batch=4, time=64, seed=1)
    model.fit(x, np.ones((4, 7, 1), "float32"), epochs=2, verbose=0)
    for was, now in zip(before, encoder.get_weights(), strict=True):
        np.testing.assert_array_equal(was, now)
    encoder.trainable = True  # unfreezing reaches the sub-layers again
    assert len(encoder.trainable_weights) == 2


def test_a_frozen_free_decoder_and_a_fixed_mel_family():
    decoder = fb.Decoder(kind="free", num_basis=6, frame_len=16, hop=8, trainable=False)
    decoder.build((None, None, 6))
    assert decoder.weights and not decoder.trainable_weights
    inputs = keras.Input((None, 6))
    assert keras.Model(inputs, decoder(inputs)).trainable_weights == []
    # A trainable encoder leaves its family's own setting alone: mel is fixed by default.
    mel = fb.Encoder(2 * (32 // 2 + 1), 32, 16, filterbank="mel", sample_rate=16000)
    mel.build((None, None))
    assert mel.trainable_weights == [] and len(mel.non_trainable_weights) == 1
    fourier = fb.Encoder(2 * (32 // 2 + 1), 32, 16, filterbank="fourier")
    fourier.build((None, None))
    assert len(fourier.trainable_weights) == 1
    fixed = fb.Encoder(2 * (32 // 2 + 1), 32, 16, filterbank="fourier", trainable=False)
    fixed.build((None, None))
    assert fixed.trainable_weights == [] and len(fixed.non_trainable_weights) == 1


def test_the_layer_dtype_reaches_its_weights():
    """dtype="float64" makes float64 weights (it made float32 ones), as keras.layers.Dense does."""
    encoder = fb.Encoder(6, 16, 8, use_bias=True, method="strided_conv", dtype="float64")
    encoder.build((None, None))
    assert [w.dtype for w in encoder.weights] == ["float64", "float64"]
    decoder = fb.Decoder(kind="free", num_basis=6, frame_len=16, hop=8, dtype="float64")
    decoder.build((None, None, 6))
    assert [w.dtype for w in decoder.weights] == ["float64"]
    mixed = fb.Encoder(6, 16, 8, use_bias=True, dtype="mixed_bfloat16")
    mixed.build((None, None))
    assert [w.dtype for w in mixed.weights] == ["float32", "float32"]
    if keras.backend.backend() == "jax":
        return  # JAX computes in float32 unless x64 is enabled process-wide
    x = np.random.default_rng(0).standard_normal((2, 64))
    basis = encoder.get_weights()[0].astype("float64")
    want = np.stack([x[:, f * 8 : f * 8 + 16] @ basis for f in range(7)], axis=1)
    got = ops.convert_to_numpy(encoder(x))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
