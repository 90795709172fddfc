"""Post-processing layers: every registered layer through config, saving, shapes and dtype
policies; then each layer's formula against a numpy reference written from its definition.
PCEN's own tests are in test_pcen.py."""

import math

import keras
import numpy as np
import pytest
from helpers import assert_close_rel, value_and_grads
from keras import ops
from keras.ops import convert_to_numpy as to_numpy

import framebank.postprocessing as pp

BATCH, FRAMES = 2, 40

# name -> (constructor options, input channels). A registered layer missing here fails
# test_every_layer_is_covered, so a new layer is either tested here or reported.
CASES = {
    "energy": ({}, 8),
    "modulus": ({}, 8),
    "log_energy": ({"pairs": True}, 8),
    "mel_spectrum": ({"sample_rate": 8000, "fft_length": 14, "n_mels": 4}, 16),
    "kaldi_mel": ({"sample_rate": 8000, "fft_length": 14, "num_mel_bins": 3, "low_freq": 0.0}, 16),
    "whisper_compression": ({}, 5),
    "standardize": ({"mean": 1.0, "std": 2.0}, 5),
    "fit_frames": ({"frames": 30}, 5),
    "keras_mel_spectrum": ({"sample_rate": 8000, "fft_length": 14, "n_mels": 4}, 16),
    "keras_decibels": ({}, 5),
    "gaussian_lowpass": ({"kernel_size": 9, "strides": 3}, 5),
    "free_lowpass": ({"kernel_size": 8, "strides": 3}, 5),
    "pcen": ({}, 5),
    "log": ({}, 5),
    "log1p": ({}, 5),
    "learnable_log1p": ({}, 5),
    "instance_norm": ({}, 5),
    "floor": ({"min_value": 0.1}, 5),
    "spec_augment": ({"seed": 0}, 5),
    "median_subtraction": ({"append": True}, 5),
    "temporal_batch_norm": ({}, 5),
    "power_to_db": ({}, 5),
    "amplitude_to_db": ({}, 5),
    "mfcc": ({"n_mfcc": 4}, 8),
    "deltas": ({"width": 3}, 5),
}
# Layers computing in float32 under 16-bit policies and float64 under float64.
WIDE = sorted(CASES)


def _layer(name, **extra):
    options, _ = CASES[name]
    return pp.get_postprocessing(name, **{**options, **extra})


def _input(name, frames=FRAMES, seed=0, scale=1.0):
    """Non-negative values with a spread of magnitudes, as energies have."""
    channels = CASES[name][1]
    rng = np.random.default_rng(seed)
    return (scale * rng.random((BATCH, frames, channels)) ** 3).astype("float32")


def _perturb(layer, seed=1):
    """Every weight nudged off its initial value (relative 5 %), staying inside its range."""
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [(w * (1 - 0.05 * rng.random(w.shape)) + 0.01).astype(w.dtype) for w in layer.get_weights()]
    )


def test_every_layer_is_covered():
    assert set(pp.POSTPROCESSING) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_shape_matches_compute_output_shape(name):
    layer = _layer(name)
    for frames in (FRAMES, 7):
        x = _input(name, frames)
        y = layer(x)
        assert tuple(y.shape) == tuple(layer.compute_output_shape(x.shape))
    # Symbolically, with the number of frames unknown.
    inputs = keras.Input((None, CASES[name][1]))
    assert tuple(layer(inputs).shape) == tuple(layer.compute_output_shape(inputs.shape))


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_round_trip_gives_the_same_layer(name):
    layer = _layer(name)
    x = _input(name)
    layer(x)
    _perturb(layer)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(to_numpy(clone(x)), to_numpy(layer(x)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_saved_model_loads_with_its_weights(name, tmp_path):
    inputs = keras.Input((None, CASES[name][1]))
    layer = _layer(name)
    model = keras.Model(inputs, layer(inputs))
    _perturb(layer)
    x = _input(name)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.layers[-1]) is type(layer)
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), rtol=1e-6, atol=0)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow graphs only")
@pytest.mark.parametrize("name", sorted(CASES))
def test_frames_known_only_at_run_time(name):
    """In a graph traced for any number of frames (Keras's reduce_retracing, a served model)."""
    import tensorflow as tf

    layer = _layer(name)
    spec = tf.TensorSpec([None, None, CASES[name][1]])
    run = tf.function(layer.__call__, input_signature=[spec])
    for frames in (FRAMES, 7):
        x = _input(name, frames)
        np.testing.assert_allclose(run(x).numpy(), to_numpy(layer(x)), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_get_postprocessing_by_name(name):
    layer = _layer(name)
    assert isinstance(layer, pp.POSTPROCESSING[name])
    assert layer.kind == name
    with pytest.raises(ValueError, match="Unknown option"):
        pp.get_postprocessing(name, not_an_option=1)


def _float64_available():
    if keras.backend.backend() != "jax":
        return True
    import jax

    return bool(jax.config.jax_enable_x64)


@pytest.mark.skipif(not _float64_available(), reason="JAX without jax_enable_x64 has no float64")
@pytest.mark.parametrize("name", WIDE)
def test_float64_policy_computes_in_float64(name):
    x = _input(name).astype("float64") + 1e-3
    wide = _layer(name, dtype="float64")
    narrow = _layer(name)
    got = wide(x)
    assert keras.backend.standardize_dtype(got.dtype) == "float64"
    want = narrow(x.astype("float32"))
    wide.set_weights([w.astype("float64") for w in narrow.get_weights()])
    got = to_numpy(wide(x))
    assert_close_rel(got, to_numpy(want), 1e-5, f"{name} float64 against float32")
    # float64 is more precise than float32: perturb the input below float32's resolution.
    nudged = to_numpy(wide(x * (1 + 1e-12)))
    assert not np.array_equal(nudged, got) or name == "instance_norm"


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", WIDE)
def test_mixed_policies_compute_in_float32(name, policy):
    """Energies past float16's range (65504) still come out finite and as float32 gives them."""
    x = _input(name, scale=1e6)
    mixed = _layer(name, dtype=policy)
    plain = _layer(name)
    want = to_numpy(plain(x))
    got = mixed(x)
    assert keras.backend.standardize_dtype(got.dtype) == "float32"
    for w in mixed.weights:
        assert keras.backend.standardize_dtype(w.dtype) == "float32", w.name
    assert np.all(np.isfinite(to_numpy(got)))
    assert_close_rel(to_numpy(got), want, 1e-6, f"{name} under {policy}")
    # In a model: the symbolic output says float32 too.
    inputs = keras.Input((None, CASES[name][1]))
    assert _layer(name, dtype=policy)(inputs).dtype == "float32"


@pytest.mark.parametrize("name", WIDE)
def test_integer_policy_is_refused(name):
    with pytest.raises(TypeError, match="dtype policy"):
        _layer(name, dtype="int32")


# ---- energy and modulus -------------------------------------------------------------------


def _pairs(seed=0, channels=6):
    return np.random.default_rng(seed).standard_normal((BATCH, 5, channels)).astype("float32")


def test_energy_and_modulus_of_pairs():
    x = _pairs()
    complex_ = x[..., :3].astype("float64") + 1j * x[..., 3:]
    assert_close_rel(to_numpy(pp.Energy()(x)), np.abs(complex_) ** 2, 1e-6, "energy")
    assert_close_rel(to_numpy(pp.Modulus()(x)), np.abs(complex_), 1e-6, "modulus")


def test_energy_and_modulus_of_real_channels():
    x = _pairs()
    np.testing.assert_allclose(to_numpy(pp.Energy(pairs=False)(x)), x**2, rtol=1e-6)
    np.testing.assert_array_equal(to_numpy(pp.Modulus(pairs=False)(x)), np.abs(x))


def test_modulus_gradient_is_finite_at_zero_and_exact_elsewhere():
    x = _pairs()
    x[0, 0] = 0.0  # three complex zeros
    layer = pp.Modulus()
    _, (grad,), _ = value_and_grads(lambda t: ops.sum(layer(t)), [x])
    assert np.all(np.isfinite(grad))
    modulus = np.sqrt(x[..., :3] ** 2 + x[..., 3:] ** 2)
    safe = np.where(modulus > 0, modulus, 1.0)
    want = np.concatenate([x[..., :3] / safe, x[..., 3:] / safe], axis=-1)
    want[0, 0] = 0.0
    np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("cls", [pp.Energy, pp.Modulus])
def test_pairs_need_an_even_number_of_channels(cls):
    with pytest.raises(ValueError, match="even number of channels"):
        cls()(np.ones((1, 2, 5), "float32"))
    with pytest.raises(TypeError, match="pairs"):
        cls(pairs="yes")


def _config(family, num_basis, pairs):
    return {
        "filterbank": family, "num_basis": num_basis, "frame_len": 201, "hop": 80,
        "sample_rate": 8000, "center": True,
        "postprocessing": [{"log_energy": {"pairs": pairs}}],
    }  # fmt: skip


@pytest.mark.parametrize("family", ["sinc", "free"])
def test_log_energy_pairs_after_real_filters_is_refused_naming_the_filterbank(family):
    """``pairs`` on real filters would add filter c's energy to filter c + 40's (it gave
    [1, 100, 40] silently): refused, naming the family and saying to drop pairs."""
    import framebank as fb

    with pytest.raises(ValueError, match=rf"LogEnergy\(pairs=True\).*'{family}'.*drop pairs"):
        fb.build_frontend(_config(family, 80, True))
    x = np.random.default_rng(0).standard_normal((1, 8000)).astype("float32")
    assert tuple(fb.build_frontend(_config(family, 40, False))(x).shape) == (1, 100, 40)


@pytest.mark.parametrize("family", ["gabor", "analytic", "fourier", "free"])
def test_log_energy_pairs_after_complex_filters_builds(family):
    import framebank as fb

    config = _config(family, 80, True)
    if family == "fourier":
        del config["num_basis"]  # fixed by frame_len: 101 bins, real then imaginary
    if family == "free":
        config["complex_pairs"] = True  # a free basis that declares its layout
    fe = fb.build_frontend(config)
    assert fe.postprocessing[0].pairs and fe.encoder.filterbank.complex_pairs


@pytest.mark.parametrize("cls", [pp.Energy, pp.Modulus, pp.LogEnergy])
def test_energy_pairs_in_a_python_front_end_on_real_filters_is_refused(cls):
    """The same check in ``FrontEnd`` itself (a config builds one): Energy and Modulus pair by
    default; pairs=False, or pairs after another step, is left alone."""
    import framebank as fb

    encoder = fb.Encoder(40, 201, 80, filterbank="sinc", sample_rate=8000)
    with pytest.raises(ValueError, match=r"'sinc' filterbank holds 40 real filters"):
        fb.FrontEnd(encoder, [cls(pairs=True)])
    assert not fb.FrontEnd(encoder, [cls(pairs=False)]).postprocessing[0].pairs
    fb.FrontEnd(encoder, [pp.Energy(pairs=False), cls(pairs=True)])


def test_a_saved_front_end_from_before_complex_pairs_still_loads_with_a_warning(tmp_path):
    """A free basis started from Gabor filters, pairs after it, saved before ``complex_pairs``
    existed (its config has no such key): refusing it at load would lose its weights."""
    import framebank as fb

    encoder = fb.Encoder(40, 201, 80, filterbank=fb.FreeFilterbank(40, 201, complex_pairs=True))
    frontend = fb.FrontEnd(encoder, [pp.Energy(pairs=True)])
    x = np.random.default_rng(0).standard_normal((1, 2000)).astype("float32")
    want = ops.convert_to_numpy(frontend(x))
    model = keras.Sequential([keras.Input((2000,)), frontend])
    path = tmp_path / "old.keras"
    model.save(path)
    # The file as an older framebank wrote it: no complex_pairs in the filterbank's config.
    import json
    import zipfile

    with zipfile.ZipFile(path) as z:
        files = {name: z.read(name) for name in z.namelist()}
    text = files["config.json"].decode()
    assert '"complex_pairs": true' in text
    files["config.json"] = text.replace('"complex_pairs": true', '"complex_pairs": false').encode()
    json.loads(files["config.json"])
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    with pytest.warns(UserWarning, match="loaded as saved, but check it"):
        loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded(x)), want)
    with pytest.raises(ValueError, match="real filters"):  # building one anew still refuses
        fb.FrontEnd(fb.Encoder(40, 201, 80, filterbank="free"), [pp.Energy(pairs=True)])


# ---- pooling --------------------------------------------------------------------------------


def _tf_same_pool(x, window, strides):
    """Reference: TensorFlow's SAME rule written out (out = ceil(T / s), smaller half first)."""
    frames, size = x.shape[1], window.shape[0]
    out = -(-frames // strides)
    total = max((out - 1) * strides + size - frames, 0)
    padded = np.pad(x.astype("float64"), [(0, 0), (total // 2, total - total // 2), (0, 0)])
    return np.stack(
        [np.sum(padded[:, i * strides : i * strides + size] * window, axis=1) for i in range(out)],
        axis=1,
    )


def _gaussian(size, sigma):
    half = (size - 1) / 2
    n = np.arange(size)[:, None]
    return np.exp(-0.5 * ((n - half) / (to_numpy(sigma)[None, :] * half)) ** 2)


@pytest.mark.parametrize("frames,size,strides", [(40, 9, 3), (41, 8, 4), (5, 9, 2), (33, 401, 160)])
def test_gaussian_lowpass_is_leafs_window_with_same_padding(frames, size, strides):
    channels = 4
    x = np.random.default_rng(0).random((BATCH, frames, channels)).astype("float32")
    layer = pp.GaussianLowpass(kernel_size=size, strides=strides)
    layer.build(x.shape)
    sigma = np.linspace(2 / size + 0.01, 0.5, channels).astype("float32")
    layer.set_weights([sigma])
    want = _tf_same_pool(x, _gaussian(size, sigma), strides)
    assert_close_rel(to_numpy(layer(x)), want, 1e-5, "gaussian lowpass")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="compares with tf.nn")
def test_gaussian_lowpass_matches_leafs_tensorflow_depthwise_conv():
    import tensorflow as tf

    x = np.random.default_rng(1).random((BATCH, 1000, 3)).astype("float32")
    layer = pp.GaussianLowpass(kernel_size=401, strides=160)
    kernel = _gaussian(401, [0.4] * 3).astype("float32")[None, :, :, None]
    want = tf.nn.depthwise_conv2d(x[:, None], kernel, (1, 160, 160, 1), "SAME")[:, 0]
    assert_close_rel(to_numpy(layer(x)), want.numpy(), 1e-5, "against tf.nn.depthwise_conv2d")


def test_gaussian_lowpass_clips_its_widths():
    layer = pp.GaussianLowpass(kernel_size=20, strides=1)
    x = np.random.default_rng(2).random((1, 30, 2)).astype("float32")
    layer.build(x.shape)
    layer.set_weights([np.array([0.0, 3.0], "float32")])
    want = _tf_same_pool(x, _gaussian(20, [2 / 20, 0.5]), 1)
    assert_close_rel(to_numpy(layer(x)), want, 1e-5, "clipped widths")


def test_gaussian_lowpass_valid_padding_and_its_frame_count():
    x = np.random.default_rng(3).random((1, 30, 2)).astype("float32")
    layer = pp.GaussianLowpass(kernel_size=10, strides=4, padding="valid")
    y = to_numpy(layer(x))
    assert y.shape == (1, 1 + (30 - 10) // 4, 2)
    window = _gaussian(10, [0.4, 0.4])
    want = np.stack([np.sum(x[:, 4 * i : 4 * i + 10] * window, axis=1) for i in range(6)], 1)
    assert_close_rel(y, want, 1e-5, "valid")
    # Fewer frames than the window: no output frame, as compute_output_shape says.
    assert tuple(layer(x[:, :9]).shape) == layer.compute_output_shape((1, 9, 2)) == (1, 0, 2)


def test_gaussian_lowpass_width_learns():
    x = np.random.default_rng(4).random((1, 30, 2)).astype("float32")
    layer = pp.GaussianLowpass(kernel_size=9, strides=2)
    layer(x)
    _, _, (grad,) = value_and_grads(lambda t: ops.sum(layer(t)), [x], layer.trainable_variables)
    assert np.all(np.isfinite(grad)) and np.all(grad > 0)  # wider window, larger sum


def test_free_lowpass_starts_as_a_squared_hann_window_and_learns_every_tap():
    x = np.random.default_rng(5).random((BATCH, 50, 3)).astype("float32")
    layer = pp.FreeLowpass(kernel_size=11, strides=5)
    y = to_numpy(layer(x))
    n = np.arange(11)
    window = np.sin(np.pi * n / 10) ** 4
    np.testing.assert_allclose(to_numpy(layer.kernel)[:, 0], window, atol=1e-7)
    assert_close_rel(y, _tf_same_pool(x, np.repeat(window[:, None], 3, 1), 5), 1e-5, "free")
    _, _, (grad,) = value_and_grads(lambda t: ops.sum(layer(t)), [x], layer.trainable_variables)
    assert grad.shape == (11, 3) and np.all(grad > 0)
    fixed = pp.FreeLowpass(kernel_size=11, strides=5, trainable=False)
    fixed(x)
    assert not fixed.trainable_weights


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: pp.GaussianLowpass(kernel_size=0), "kernel_size=0"),
        (lambda: pp.GaussianLowpass(kernel_size=3), "kernel_size=3"),
        (lambda: pp.GaussianLowpass(strides=0), "strides=0"),
        (lambda: pp.GaussianLowpass(padding="causal"), "padding='causal'"),
        (lambda: pp.GaussianLowpass(kernel_size=401, sigma=0.6), "sigma=0.6"),
        (lambda: pp.GaussianLowpass(kernel_size=401, sigma=0.001), "sigma=0.001"),
        (lambda: pp.FreeLowpass(kernel_size=2.5), "kernel_size=2.5"),
    ],
)
def test_pooling_arguments_are_checked(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


# ---- compression ----------------------------------------------------------------------------


def test_log_and_log1p():
    x = np.random.default_rng(6).random((BATCH, 5, 3)).astype("float32")
    np.testing.assert_allclose(to_numpy(pp.Log(eps=1e-3)(x)), np.log(x + 1e-3), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(pp.Log1p()(x)), np.log1p(x), rtol=1e-6)
    assert np.all(np.isfinite(to_numpy(pp.Log()(np.zeros((1, 2, 2), "float32")))))


def test_learnable_log1p_per_channel():
    x = np.random.default_rng(7).random((BATCH, 5, 3)).astype("float32")
    layer = pp.LearnableLog1p()
    layer(x)
    np.testing.assert_allclose(to_numpy(layer.log10_gain), [5.0] * 3)  # EfficientLEAF's
    a = np.array([-1.0, 0.0, 2.0], "float32")
    layer.set_weights([a])
    want = np.log1p(10.0 ** a.astype("float64") * x)
    assert_close_rel(to_numpy(layer(x)), want, 1e-6, "log1p(10**a x)")
    _, _, (grad,) = value_and_grads(lambda t: ops.sum(layer(t)), [x], layer.trainable_variables)
    gained = 10.0 ** a.astype("float64") * x
    want_grad = np.sum(math.log(10) * gained / (1 + gained), axis=(0, 1))
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: pp.Log(eps=0), "eps=0"),
        (lambda: pp.Log(eps=-1e-6), "eps=-1e-06"),
        (lambda: pp.LearnableLog1p(log10_gain=float("inf")), "log10_gain=inf"),
        (lambda: pp.LearnableLog1p(log10_gain="5"), "log10_gain='5'"),
    ],
)
def test_compression_arguments_are_checked(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


# ---- normalisation --------------------------------------------------------------------------


def test_instance_norm_per_example_and_channel():
    rng = np.random.default_rng(8)
    x = (rng.random((BATCH, 30, 4)) * np.array([1, 10, 100, 1000])).astype("float32")
    layer = pp.InstanceNorm(epsilon=1e-6)
    layer(x)
    gamma, beta = rng.random(4).astype("float32") + 0.5, rng.standard_normal(4).astype("float32")
    layer.set_weights([gamma, beta])
    x64 = x.astype("float64")
    mean = x64.mean(axis=1, keepdims=True)
    var = ((x64 - mean) ** 2).mean(axis=1, keepdims=True)
    want = gamma * (x64 - mean) / np.sqrt(var + 1e-6) + beta
    assert_close_rel(to_numpy(layer(x)), want, 1e-5, "instance norm")


def test_instance_norm_of_a_constant_channel_is_its_offset():
    layer = pp.InstanceNorm(center=False, scale=False)
    y = to_numpy(layer(np.full((1, 10, 2), 3.0, "float32")))
    np.testing.assert_array_equal(y, 0.0)
    assert not layer.weights


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: pp.InstanceNorm(epsilon=0), "epsilon=0"),
        (lambda: pp.InstanceNorm(center=1), "center=1"),
    ],
)
def test_normalisation_arguments_are_checked(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_layers_with_a_weight_per_channel_need_known_channels():
    with pytest.raises(ValueError, match="number of channels"):
        pp.InstanceNorm().build((None, None, None))
    with pytest.raises(ValueError, match="rank 3"):
        pp.PCEN().build((None, 5))


# ---- SpecAugment ----------------------------------------------------------------------------


def test_spec_augment_masks_bands_with_the_mean_in_training_only():
    x = np.random.default_rng(0).random((16, 30, 12)).astype("float32") + 1.0
    layer = pp.SpecAugment(time_masks=1, time_width=5, freq_masks=1, freq_width=3, seed=1)
    np.testing.assert_array_equal(to_numpy(layer(x)), x)  # inference: the identity
    got = to_numpy(layer(x, training=True))
    changed = got != x
    mean = x.mean(axis=(1, 2))
    for example in range(len(x)):
        np.testing.assert_allclose(got[example][changed[example]], mean[example], rtol=1e-6)
        frames = np.all(changed[example], axis=1)  # whole frames masked: the time band
        channels = np.all(changed[example], axis=0)
        assert frames.sum() <= 5 and channels.sum() <= 3
        # A band is contiguous: masked frames (channels) form one run.
        for band in (frames, channels):
            where = np.flatnonzero(band)
            assert where.size == 0 or where[-1] - where[0] + 1 == where.size
        # Nothing else changed: a changed value lies in a masked frame or channel.
        assert np.all(frames[:, None] | channels[None, :] | ~changed[example])
    assert changed.any() and not changed.all()


def test_spec_augment_is_reproducible_with_a_seed_and_varies_without_one():
    x = np.random.default_rng(0).random((8, 40, 10)).astype("float32")
    a = to_numpy(pp.SpecAugment(seed=5)(x, training=True))
    b = to_numpy(pp.SpecAugment(seed=5)(x, training=True))
    np.testing.assert_array_equal(a, b)
    layer = pp.SpecAugment(seed=5)
    first, second = (to_numpy(layer(x, training=True)) for _ in range(2))
    assert not np.array_equal(first, second)  # each batch draws new masks


@pytest.mark.parametrize(
    "options,error,match",
    [
        ({"time_masks": -1}, ValueError, "time_masks"),
        ({"freq_width": 2.5}, TypeError, "freq_width"),
        ({"seed": "a"}, TypeError, "seed"),
    ],
)
def test_spec_augment_arguments_are_checked(options, error, match):
    with pytest.raises(error, match=match):
        pp.SpecAugment(**options)
