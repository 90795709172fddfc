"""Ready-made front ends (framebank.frontends): their shapes and defaults, conformance to their
references (librosa's log-mel, LEAF's pooling kernel), every method with the same numbers,
saving and loading, configs by name, and training stability on real speech."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import value_and_grads
from keras import ops

import framebank as fb
from framebank import frontends
from framebank.audio import load_audio, read_manifest

RATE = 16000
# The front ends of pretrained models have their own tests (test_pretrained_frontends.py).
NAMES = sorted(n for n, c in frontends.FRONTENDS.items() if not issubclass(c, frontends.Pretrained))


def _speech(seconds: float = 0.5, batch: int = 2) -> np.ndarray:
    """``batch`` chunks of real speech from data/ at 16 kHz."""
    length = int(seconds * RATE)
    chunks = []
    for clip in read_manifest():
        samples, _ = load_audio(clip.path, RATE)
        if len(samples) >= length:
            chunks.append(samples[:length])
        if len(chunks) == batch:
            break
    return np.stack(chunks).astype("float32")


@pytest.mark.parametrize("name", NAMES)
def test_defaults_give_40_channels_at_10_ms(name):
    frontend = frontends.FRONTENDS[name](sample_rate=RATE)
    out = ops.convert_to_numpy(frontend(_speech(0.5)))
    # EfficientLEAF appends each band's median-subtracted copy by default: 2 x 40.
    copies = 2 if getattr(frontend, "_options", {}).get("append_filtered") else 1
    assert out.shape[0] == 2 and out.shape[2] == 40 * copies
    assert abs(out.shape[1] - 50) <= 1  # 0.5 s at 10 ms
    assert np.all(np.isfinite(out))
    assert tuple(frontend.compute_output_shape((2, RATE // 2))) == out.shape


def test_log_mel_is_librosas_log_mel():
    import librosa

    x = _speech(1.0, batch=1)
    got = ops.convert_to_numpy(frontends.LogMel(RATE)(x))[0]
    mel = librosa.feature.melspectrogram(
        y=x[0].astype("float64"), sr=RATE, n_fft=512, hop_length=160, win_length=400,
        window="hann", center=True, pad_mode="constant", power=2.0, n_mels=40,
    )  # fmt: skip
    want = np.log(mel + 1e-6).T
    error = np.abs(got - want).max() / np.abs(want).max()
    print(f"LogMel against librosa: {error:.2e} of the largest magnitude")
    assert got.shape == want.shape and error <= 5e-6


def _speech_at(rate: int, seconds: float) -> np.ndarray:
    """One chunk of real speech from data/ at ``rate``, float64."""
    length = int(seconds * rate)
    for clip in read_manifest():
        samples, _ = load_audio(clip.path, rate)
        if len(samples) >= length:
            return samples[:length].astype("float64")
    raise AssertionError("no clip long enough in data/")


@pytest.mark.parametrize(
    "options",
    [{}, {"htk": True}, {"norm": None}, {"pad_mode": "reflect", "win_length": 1024}],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults",
)
def test_log_mel_in_librosas_samples_and_options_is_librosas(options):
    """Sizes in samples (n_fft, hop_length, win_length) and the mel options (htk, norm,
    pad_mode) mean what they mean to librosa.feature.melspectrogram."""
    import librosa

    rate = 22050
    y = _speech_at(rate, 0.5)
    layer = frontends.LogMel(n_fft=2048, hop_length=512, sample_rate=rate, **options)
    x = y[None].astype("float32")
    power = ops.convert_to_numpy(layer.postprocessing[0](layer.encoder(x)))[0]
    got = ops.convert_to_numpy(layer(x))[0]
    mel = librosa.feature.melspectrogram(
        y=y, sr=rate, n_fft=2048, hop_length=512, n_mels=40, **options
    ).T
    # float32 against librosa's float64: a 2048-term DFT rounds the power to ~1e-6 of the
    # frame's largest; the log (eps=1e-6) keeps that well under 5e-6 of the largest value.
    assert power.shape == got.shape == mel.shape
    assert np.abs(power - mel).max() <= 1e-5 * mel.max()
    if not options:
        want = np.log(mel + 1e-6)
        assert np.abs(got - want).max() <= 5e-6 * np.abs(want).max()


SAMPLE_SIZES = {
    "log_mel": {"n_fft": 512, "win_length": 400, "hop_length": 160},
    "pcen_mel": {"n_fft": 512, "win_length": 400, "hop_length": 160},
    "leaf": {"win_length": 401, "hop_length": 160},
    "sincnet": {"win_length": 401, "hop_length": 160},
    "td_filterbanks": {"win_length": 401, "hop_length": 160},
    "efficient_leaf": {"win_length": 401, "hop_length": 160},
}


@pytest.mark.parametrize("name", sorted(SAMPLE_SIZES))
def test_sizes_in_samples_build_the_front_end_the_milliseconds_do(name):
    cls = frontends.FRONTENDS[name]
    in_ms, in_samples = cls(sample_rate=RATE), cls(sample_rate=RATE, **SAMPLE_SIZES[name])

    def unnamed(config):
        if isinstance(config, dict):
            return {k: unnamed(v) for k, v in config.items() if k != "name"}
        return [unnamed(v) for v in config] if isinstance(config, list) else config

    def pieces(frontend):
        layers = [frontend.encoder, *frontend.postprocessing]
        return unnamed([layer.get_config() for layer in layers])

    assert pieces(in_samples) == pieces(in_ms)
    restored = cls.from_config(in_samples.get_config())
    assert pieces(restored) == pieces(in_ms)
    from_config = fb.build_frontend({"frontend": name, "sample_rate": RATE, **SAMPLE_SIZES[name]})
    assert pieces(from_config) == pieces(in_ms)


def test_an_efficient_leaf_config_saved_with_its_old_size_defaults_loads_the_same_layer():
    # Before it took sizes in samples, its config held window_ms=25.0 and hop_ms=10.0.
    new = frontends.EfficientLEAF(sample_rate=RATE)
    old_config = {**new.get_config(), "window_ms": 25.0, "hop_ms": 10.0}
    del old_config["win_length"], old_config["hop_length"]
    old = frontends.EfficientLEAF.from_config(old_config)
    pieces = zip(
        [old.encoder, *old.postprocessing], [new.encoder, *new.postprocessing], strict=True
    )
    for a, b in pieces:
        assert {**a.get_config(), "name": ""} == {**b.get_config(), "name": ""}
    assert old.groups == new.groups


def test_every_ready_made_front_end_takes_its_sizes_through_the_frame_specification():
    # A new front end joins SAMPLE_SIZES (so the test above checks its sizes in samples).
    assert sorted(SAMPLE_SIZES) == NAMES
    for name in NAMES:
        cls = frontends.FRONTENDS[name]
        spec = cls.frame_spec(RATE, {})
        assert (spec.window, spec.hop) == (cls(sample_rate=RATE).encoder.frame_len, 160)


@pytest.mark.parametrize(
    ("rule", "window_ms", "samples"),
    [
        # librosa's round(rate * ms / 1000); LEAF's int(rate * ms // 1000 + 1);
        # EfficientLEAF's int(rate * ms / 1000) made odd.
        (frontends.LogMel, 25.0, 400),
        (frontends.LEAF, 25.0, 401),
        (frontends.EfficientLEAF, 25.0, 401),
        (frontends.LogMel, 20.03, 320),
        (frontends.LEAF, 20.03, 321),
        (frontends.EfficientLEAF, 20.03, 321),
        (frontends.EfficientLEAF, 20.1, 321),
    ],
)
def test_frame_specification_applies_each_front_ends_window_rule(rule, window_ms, samples):
    spec = rule.frame_spec(RATE, {"window_ms": window_ms, "hop_ms": 12.5})
    assert (spec.window, spec.hop) == (samples, 200)
    window, hop = frontends.FrameSpec.from_options(RATE, {"win_length": 7, "hop_length": 3})
    assert (window, hop) == (7, 3)


def test_frame_specification_refuses_a_size_under_one_sample_naming_the_rate_in_khz():
    with pytest.raises(ValueError, match="hop_ms=1.*16 kHz is sample_rate=16000"):
        frontends.FrameSpec.from_options(16, {"win_length": 5, "hop_ms": 1.0})
    with pytest.raises(ValueError, match="win_length must be odd|`win_length` must be odd"):
        frontends.EfficientLEAF(win_length=400)


def test_leaf_pooling_kernel_is_leafs_formula():
    leaf = frontends.LEAF(RATE)
    leaf(_speech(0.1, batch=1))
    pooling = leaf.postprocessing[1]
    assert (pooling.kernel_size, pooling.strides) == (401, 160)
    width = 401
    n = np.arange(width)[:, None]
    want = np.exp(-0.5 * ((n - (width - 1) / 2) / (0.4 * (width - 1) / 2)) ** 2)
    got = ops.convert_to_numpy(pooling._window())
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), rtol=1e-6)
    gabor = leaf.encoder.filterbank
    assert gabor.init == "leaf" and (gabor.min_hz, gabor.max_hz) == (60.0, 7800.0)


@pytest.mark.parametrize("name", ["leaf", "sincnet", "td_filterbanks", "log_mel"])
def test_every_method_of_the_projection_gives_the_same_numbers(name):
    cls = frontends.FRONTENDS[name]
    x = _speech(0.1, batch=1)
    reference = cls(sample_rate=RATE, method="matmul")
    want = ops.convert_to_numpy(reference(x))
    for method in ("strided_conv", "fft_conv", "dense"):
        other = cls(sample_rate=RATE, method=method)
        other(x)
        other.set_weights(reference.get_weights())
        got = ops.convert_to_numpy(other(x))
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= 1e-4 * scale, (name, method)


@pytest.mark.parametrize("name", NAMES)
def test_saves_and_loads_from_a_keras_file(name, tmp_path):
    x = _speech(0.25, batch=1)
    inputs = keras.Input((x.shape[1],))
    frontend = frontends.FRONTENDS[name](sample_rate=RATE, name=name)
    model = keras.Model(inputs, frontend(inputs))
    perturbed = [w + 0.01 * np.abs(w).mean() for w in model.get_weights()]
    model.set_weights(perturbed)  # "trained"
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.get_layer(name), frontends.FRONTENDS[name])
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-5
    )


def test_a_config_names_a_ready_made_front_end():
    frontend = fb.build_frontend({"frontend": "pcen_mel", "sample_rate": 8000, "n_filters": 24})
    assert isinstance(frontend, frontends.PCENMel)
    assert ops.convert_to_numpy(frontend(np.zeros((1, 8000), "float32"))).shape == (1, 101, 24)
    with pytest.raises(fb.FrontendConfigError) as err:
        fb.build_frontend({"frontend": "leaf", "n_filter": 40, "sample_rate": "16k"})
    assert "n_filter" in str(err.value) and "sample_rate" in str(err.value)
    with pytest.raises(fb.FrontendConfigError, match="unknown frontend 'leef'.*leaf"):
        fb.build_frontend({"frontend": "leef"})


def test_leaf_at_8khz_needs_a_valid_upper_edge():
    leaf = frontends.LEAF(8000)  # upper edge 0.4875 * 8000 = 3900 Hz
    assert leaf.encoder.filterbank.max_hz == 3900.0 and leaf.encoder.frame_len == 201
    analytic = frontends.LEAF(8000, init="analytic")
    assert analytic.encoder.filterbank.init == "analytic"
    with pytest.raises(ValueError, match="max_hz.*Nyquist"):
        frontends.LEAF(8000, max_hz=7800)


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: frontends.LEAF(sample_rate=0), ValueError, "sample_rate=0"),
        (lambda: frontends.LogMel(n_filters=0), ValueError, "n_filters=0"),
        (lambda: frontends.SincNet(hop_ms=0.01), ValueError, "hop_ms"),
        (lambda: frontends.PCENMel(learn=("gain",)), ValueError, "gain"),
        (lambda: frontends.TDFilterbanks(instance_norm="yes"), TypeError, "instance_norm"),
    ],
)
def test_bad_options_are_refused_at_construction(make, error, match):
    with pytest.raises(error, match=match):
        make()


def _stability_batches() -> np.ndarray:
    """Real speech, silence and a full-scale chunk (the cases that made LEAF's PCEN NaN)."""
    speech = _speech(0.25, batch=2)
    silence = np.zeros((1, speech.shape[1]), "float32")
    full = np.sign(speech[:1]) * np.ones_like(speech[:1])  # clipped speech at full scale
    return np.concatenate([speech, silence, full])


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
@pytest.mark.parametrize("name", NAMES)
def test_200_adam_steps_stay_finite(name, policy):
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        x = _stability_batches()
        inputs = keras.Input((x.shape[1],))
        features = frontends.FRONTENDS[name](sample_rate=RATE)(inputs)
        pooled = keras.layers.GlobalAveragePooling1D()(features)
        outputs = keras.layers.Dense(2, dtype="float32")(pooled)
        model = keras.Model(inputs, outputs)
        model.compile(keras.optimizers.Adam(1e-2), "mse")
        targets = np.random.default_rng(0).standard_normal((len(x), 2)).astype("float32")
        losses = [float(np.asarray(model.train_on_batch(x, targets))) for _ in range(200)]
        assert np.all(np.isfinite(losses)), losses[-5:]
        for weight in model.weights:
            assert np.all(np.isfinite(ops.convert_to_numpy(weight))), weight.path
        assert np.all(np.isfinite(ops.convert_to_numpy(model(x))))
        variables = model.trainable_variables
        _, input_grad, grads = value_and_grads(
            lambda a: ops.sum(ops.cast(model(a), "float32")), [x], variables
        )
        for grad in [*input_grad, *grads]:
            assert grad is None or np.all(np.isfinite(grad))
    finally:
        keras.config.set_dtype_policy("float32")


# Float32's unit roundoff, and Higham's gamma_n = n u / (1 - n u): a sum of n float32
# products (in any order, with or without fused multiply-adds) is off by at most
# gamma_n times the sum of the products' magnitudes.
UNIT_ROUNDOFF = 2.0**-24


def _gamma(n: int) -> float:
    return n * UNIT_ROUNDOFF / (1 - n * UNIT_ROUNDOFF)


def _ema(x: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """PCEN's smoother in float64, from the first frame: ``[batch, frames, channels]``."""
    out, state = np.empty_like(x), x[:, 0]
    for t in range(x.shape[1]):
        state = coef * x[:, t] + (1 - coef) * state
        out[:, t] = state
    return out


def _pcen_mel_error_bound(frontend64, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PCEN-mel in float64, ``[batch, frames, channels]``, and a bound on any float32
    computation's distance from it, element by element, whatever the CPU and kernels.

    The float32 DFT coefficient of a frame is off by at most gamma_(L+2) sum|b x| (L products,
    the basis rounded to float32); the bound follows that through |X|^2, the mel sum and PCEN
    as an interval: PCEN increases with the mel energy and decreases with its smoother, so
    its extremes lie at the interval's ends. PCEN's own float32 steps perturb its ratio
    x / (delta (floor + M)**alpha) by at most (|alpha log(floor + M)| + |log delta| + 64) u
    relative (the exp of a sum of logs inherits the logs' absolute error; 64 covers the
    fewer than 64 other roundings, smoother included) and the root by 16 u of
    (|y| + delta**(1/root)). PCEN's gain normalisation is what makes this matter: where a
    channel holds 1e-12 of its frame's energy, float32 rounding of the frame sets its value.
    """
    from framebank import framing

    encoder, mel_layer, pcen = frontend64.encoder, *frontend64.postprocessing
    frames = ops.convert_to_numpy(
        framing.frame(x.astype("float64"), encoder.frame_len, encoder.hop, center=encoder.center)
    )
    basis = ops.convert_to_numpy(encoder.filterbank.filters()).astype("float64")
    coefficients = frames @ basis
    slack = _gamma(encoder.frame_len + 2) * (np.abs(frames) @ np.abs(basis))
    half = coefficients.shape[-1] // 2
    power = coefficients[..., :half] ** 2 + coefficients[..., half:] ** 2
    high = (np.abs(coefficients) + slack) ** 2
    power_high = (high[..., :half] + high[..., half:]) * (1 + _gamma(2))
    mel_matrix = ops.convert_to_numpy(mel_layer.mel_matrix()).astype("float64")
    mel = power @ mel_matrix
    mel_slack = (power_high - power) @ mel_matrix + _gamma(half + 1) * (power_high @ mel_matrix)
    mel_low, mel_high = np.maximum(mel - mel_slack, 0.0), mel + mel_slack
    p = {k: ops.convert_to_numpy(v).astype("float64") for k, v in pcen.parameters().items()}
    alpha, delta, root, coef = p["alpha"], p["delta"], p["root"], p["smooth_coef"]

    def pcen_of(energy, smoother, relative):
        ratio = energy / (delta * (pcen.floor + smoother) ** alpha) * (1 + relative)
        return delta ** (1 / root) * ((1 + np.maximum(ratio, 0.0)) ** (1 / root) - 1)

    smoother = _ema(mel, coef)
    rho = np.abs(alpha * np.log(pcen.floor + smoother)) + np.abs(np.log(delta)) + 64
    rho *= UNIT_ROUNDOFF
    want = pcen_of(mel, smoother, 0.0)
    low = pcen_of(mel_low, _ema(mel_high, coef), -rho)
    high = pcen_of(mel_high, _ema(mel_low, coef), rho)
    bound = np.maximum(high - want, want - low)
    return want, bound + 16 * UNIT_ROUNDOFF * (np.abs(want) + delta ** (1 / root))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow export")
@pytest.mark.parametrize("name", NAMES)
def test_exports_to_saved_model_and_tflite_with_the_same_numbers(name, tmp_path):
    from framebank import export

    x = _speech(0.25, batch=2)
    # fft_conv has no TFLite operator; the weights do not depend on the method.
    frontend = frontends.FRONTENDS[name](sample_rate=RATE, method="strided_conv")
    want = ops.convert_to_numpy(frontend(x))
    saved = export.export_saved_model(frontend, tmp_path / "saved")
    from_saved = np.asarray(export.load_saved_model(saved)(x))
    got = export.run_tflite(export.export_tflite(saved, tmp_path / "m.tflite"), x)
    if name != "pcen_mel":
        np.testing.assert_allclose(from_saved, want, rtol=1e-4, atol=1e-4)
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
        return
    # PCEN's gain normalisation magnifies float32 rounding in near-silent channels by an
    # amount that depends on the kernels' summation order (the CPU's instruction set): each
    # float32 run is held to a bound derived from float32 rounding instead.
    reference = frontends.PCENMel(RATE, method="strided_conv", dtype="float64")
    exact = ops.convert_to_numpy(reference(x.astype("float64")))
    walked, bound = _pcen_mel_error_bound(reference, x)
    # The bound's float64 walk through the stages is PCEN-mel itself.
    np.testing.assert_allclose(walked, exact, rtol=1e-9, atol=1e-12)
    for label, value in (("Keras", want), ("SavedModel", from_saved), ("TFLite", got)):
        excess = np.abs(value - exact) / bound
        print(f"{label}: worst error {excess.max():.3f} of its float32 bound")
        assert excess.max() <= 1.0, label


def _made(name: str, **kwargs) -> frontends.FrontEnd:
    cls = frontends.FRONTENDS[name]
    return cls(**kwargs) if issubclass(cls, frontends.Pretrained) else cls(RATE, **kwargs)


@pytest.mark.parametrize("how", ["global", "argument"])
@pytest.mark.parametrize("name", sorted(frontends.FRONTENDS))
def test_dtype_rule_every_front_end_returns_float32_under_mixed_float16(name, how):
    """One rule (README "Stability"): the features are float32 under a 16-bit policy, as
    framebank's own layers return; SincNet's Keras pooling, layer norm and leaky ReLU
    returned float16."""
    x = _speech(0.25, batch=1)
    if how == "argument":
        out = _made(name, dtype="mixed_float16")(x)
    else:
        keras.config.set_dtype_policy("mixed_float16")
        try:
            out = _made(name)(x)
        finally:
            keras.config.set_dtype_policy("float32")
    assert keras.backend.standardize_dtype(out.dtype) == "float32", name


def test_a_ready_made_front_ends_dtype_reaches_every_piece():
    frontend = frontends.LogMel(8000, dtype="float64")
    out = frontend(np.zeros((1, 800), "float64"))
    expected = keras.backend.standardize_dtype(ops.zeros((1,), "float64").dtype)
    assert keras.backend.standardize_dtype(out.dtype) == expected
    assert {w.dtype for w in frontend.weights} == {"float64"}
    assert frontend.encoder.dtype_policy.name == "float64"


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: frontends.TDFilterbanks(8000, max_hz=6000), ValueError, "Nyquist"),
        (lambda: frontends.LogMel(8000, fft_length=0), ValueError, "fft_length=0"),
        (lambda: frontends.PCENMel(8000, learn="alpha"), TypeError, "collection"),
        (lambda: fb.MelSpectrum(8000, "16", n_mels=4), TypeError, "fft_length='16'"),
    ],
)
def test_more_bad_options_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("name", NAMES)
def test_stride1_says_whether_the_encoder_runs_at_every_sample(name):
    """The language-ID recipe picks its stride-1 method from this attribute, not from names."""
    frontend = frontends.FRONTENDS[name](sample_rate=RATE)
    assert getattr(frontends.FRONTENDS[name], "stride1", False) is (frontend.encoder.hop == 1)


def test_the_readmes_leaf_style_config_is_leaf():
    import re
    from pathlib import Path

    import yaml

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "init: leaf" in b]
    config = fb.build_frontend(yaml.safe_load(block))
    x = _speech(0.5)
    # The config is LEAF's stride-1 definition (the band-limited path equals it within 1e-4).
    want = ops.convert_to_numpy(frontends.LEAF(RATE, band_limited=False)(x))
    got = ops.convert_to_numpy(config(x))
    # The same filters, pooling and PCEN from the same initial values: float32 rounding only.
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


@pytest.mark.parametrize(
    "name,frames",
    [("log_mel", 101), ("pcen_mel", 101), ("leaf", 100), ("td_filterbanks", 100), ("sincnet", 100)],
)
def test_frame_counts_are_the_readmes(name, frames):
    """README: librosa's centred 1 + time // hop for the mel front ends, LEAF's time // hop."""
    frontend = frontends.FRONTENDS[name](sample_rate=RATE)
    assert frontend.compute_output_shape((None, RATE))[1] == frames
    assert ops.convert_to_numpy(frontend(np.zeros((1, RATE), "float32"))).shape[1] == frames
