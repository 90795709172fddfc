"""Filterbank families: every family under every method, serialisation, freezing, validity,
and conformance with tf.signal.stft and librosa.feature.melspectrogram."""

import keras
import numpy as np
import pytest
import scipy.signal
from helpers import assert_close_rel, methods_for, value_and_grads
from hypothesis import given
from hypothesis import strategies as st
from keras import ops

import framebank as fb
from framebank.audio import load_audio, read_manifest

# Every method is exercised on purpose, reshape_conv included (it warns under TensorFlow).
pytestmark = pytest.mark.filterwarnings("ignore:method='reshape_conv':UserWarning")
FRAME_LEN, HOP, SR = 32, 12, 8000

# family -> (num_basis, options) at frame_len 32; small so the full grid stays fast.
FAMILIES = {
    "free": (12, {}),
    "fourier": (34, {"window": "hann"}),
    "analytic": (12, {}),
    "sinc": (6, {"sample_rate": SR}),
    "gabor": (12, {"sample_rate": SR}),
    "mel": (34, {"sample_rate": SR, "n_mels": 8}),
}
PARAMETRIC = ("sinc", "gabor")


def test_every_family_is_registered_and_tested():
    assert set(FAMILIES) <= set(fb.FILTERBANKS)
    assert {"free", "fourier", "analytic", "sinc", "gabor", "mel"} <= set(FAMILIES)


def _signal(batch=2, time=200, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, time)).astype("float32")


def _encoder(family, method="matmul", **extra):
    num_basis, options = FAMILIES[family]
    return fb.Encoder(
        num_basis, FRAME_LEN, HOP, method=method, filterbank=family, **options, **extra
    )


def _perturb(encoder, seed=0):
    """Move every weight off its initial value, so a test sees trained-looking weights."""
    rng = np.random.default_rng(seed)
    new = []
    for w in encoder.get_weights():
        if w.ndim == 2:  # a basis-shaped kernel
            new.append(w + 0.05 * rng.standard_normal(w.shape).astype(w.dtype))
        else:  # frequencies / widths: a relative nudge keeps them in range
            new.append(w * (1 + 0.02 * rng.standard_normal(w.shape)).astype(w.dtype))
    encoder.set_weights(new)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_method_gives_equal_outputs_and_gradients(family):
    x = _signal()
    reference = _encoder(family, "matmul", trainable=True)
    reference.build(x.shape)
    _perturb(reference)
    upstream = None
    results = {}
    for method in methods_for(family):
        enc = _encoder(family, method)
        enc.build(x.shape)
        enc.set_weights(reference.get_weights())
        out = ops.convert_to_numpy(enc(x))
        if upstream is None:
            upstream = np.random.default_rng(1).standard_normal(out.shape).astype("float32")
        variables = enc.filterbank.weights  # the family's parameters, trainable or not

        weight = ops.convert_to_tensor(upstream)

        def loss(signal, enc=enc, weight=weight):
            return ops.sum(enc(signal) * weight)

        _, (grad_x,), grad_w = value_and_grads(loss, [x], variables)
        results[method] = (out, grad_x, grad_w)
    want_out, want_gx, want_gw = results["matmul"]
    assert np.all(np.isfinite(want_out)) and np.abs(want_out).max() > 0
    for method, (out, grad_x, grad_w) in results.items():
        assert_close_rel(out, want_out, 1e-5, f"{family}/{method} output")
        assert_close_rel(grad_x, want_gx, 1e-5, f"{family}/{method} input gradient")
        assert len(grad_w) == len(want_gw) > 0
        for g, want in zip(grad_w, want_gw, strict=True):
            assert np.all(np.isfinite(g)), f"{family}/{method}"
            assert_close_rel(g, want, 1e-4, f"{family}/{method} weight gradient")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_get_config_round_trip(family):
    x = _signal()
    enc = _encoder(family, "dense", name="enc")
    enc(x)
    _perturb(enc)
    again = fb.Encoder.from_config(enc.get_config())
    assert type(again.filterbank) is type(enc.filterbank)
    assert again.filterbank.get_config() == enc.filterbank.get_config()
    again.build(x.shape)
    again.set_weights(enc.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(again(x)), ops.convert_to_numpy(enc(x)))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_keras_file_round_trip_keeps_trained_weights(family, tmp_path):
    num_basis, options = FAMILIES[family]
    filterbank = fb.get_filterbank(
        family, num_basis=num_basis, frame_len=FRAME_LEN, trainable=True, **options
    )
    inputs = keras.Input((None,))
    outputs = fb.Encoder(
        num_basis, FRAME_LEN, HOP, method="strided_conv", filterbank=filterbank, name="enc"
    )(inputs)
    model = keras.Model(inputs, outputs)
    x = _signal(batch=4)
    before = [w.copy() for w in model.get_weights()]
    target = np.random.default_rng(2).standard_normal((4, 15, num_basis)).astype("float32")
    model.compile(keras.optimizers.Adam(0.05), "mse")
    model.fit(x, target, epochs=2, batch_size=4, verbose=0)
    trained = model.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, trained, strict=True)), family
    path = tmp_path / f"{family}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_layer("enc").filterbank.family == family
    for got, want in zip(loaded.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)), rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_trainable_false_really_freezes(family):
    num_basis, options = FAMILIES[family]
    filterbank = fb.get_filterbank(
        family, num_basis=num_basis, frame_len=FRAME_LEN, trainable=False, **options
    )
    inputs = keras.Input((None,))
    enc = fb.Encoder(num_basis, FRAME_LEN, HOP, filterbank=filterbank, use_bias=True)
    model = keras.Model(inputs, enc(inputs))
    assert [v.path.split("/")[-1] for v in model.trainable_weights] == ["bias"]
    assert len(model.non_trainable_weights) == len(filterbank.weights) > 0
    before = [w.copy() for w in filterbank.get_weights()]
    model.compile(keras.optimizers.Adam(0.1), "mse")
    x = _signal(batch=4)
    model.fit(x, np.ones((4, 15, num_basis), "float32"), epochs=2, batch_size=4, verbose=0)
    for got, want in zip(filterbank.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.allclose(enc.get_weights()[-1], 0)  # the bias did train


def test_mel_is_fixed_by_default_and_others_train():
    for family in FAMILIES:
        enc = _encoder(family)
        enc.build((1, 100))
        if family == "mel":
            assert enc.filterbank.trainable_weights == []
        else:
            assert len(enc.trainable_weights) == len(enc.filterbank.weights) > 0


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_mixed_precision_computes_the_basis_in_float32(family):
    """Under mixed_float16 only the product runs in float16: the output is float32's up to
    float16 rounding (sinc's sin(2 pi f n / sr) computed in float16 would be 20x worse)."""
    num_basis, options = FAMILIES[family]
    frame_len, hop = 200, 80
    if family in ("fourier", "mel"):
        num_basis = 2 * (frame_len // 2 + 1)
    x = _signal(time=1000)
    reference = fb.Encoder(num_basis, frame_len, hop, filterbank=family, **options)
    want = ops.convert_to_numpy(reference(x))
    mixed = fb.Encoder(
        num_basis, frame_len, hop, filterbank=family, dtype="mixed_float16", **options
    )
    mixed.build(x.shape)
    mixed.set_weights(reference.get_weights())
    got = mixed(x)
    assert keras.backend.standardize_dtype(got.dtype) == "float16"
    assert_close_rel(ops.convert_to_numpy(got), want, 1e-3, family)


@pytest.mark.parametrize("family", PARAMETRIC)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_optimizer_steps_keep_parameters_finite_and_in_range(family, optimizer):
    """Large steps push the parameters against their bounds; constraints must hold them."""
    enc = _encoder(family, "dense")
    inputs = keras.Input((None,))
    model = keras.Model(inputs, enc(inputs))
    step = {"sgd": keras.optimizers.SGD(1e4), "adam": keras.optimizers.Adam(1e3)}[optimizer]
    model.compile(step, "mse")
    x = _signal(batch=4, seed=3)
    target = 10 * np.random.default_rng(4).standard_normal((4, 15, enc.num_basis))
    before = [w.copy() for w in enc.get_weights()]
    model.fit(x, target.astype("float32"), epochs=5, batch_size=4, verbose=0)
    after = enc.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))
    fbank = enc.filterbank
    basis = ops.convert_to_numpy(fbank.filters())
    assert np.all(np.isfinite(basis)) and np.abs(basis).max() > 0
    nyquist = SR / 2
    if family == "sinc":
        f1, f2 = (ops.convert_to_numpy(f) for f in fbank.cutoffs())
        # The weights are fractions of the sample rate; float32 rounds their Hz by 1e-7.
        low, band = (w.astype("float64") * SR for w in fbank.get_weights())
        tol = 1e-6 * nyquist
        assert np.all((low >= fbank.min_low_hz - tol) & (low <= nyquist - fbank.min_band_hz + tol))
        assert np.all(
            (band >= fbank.min_band_hz - tol) & (band <= nyquist - fbank.min_low_hz + tol)
        )
        assert np.all((0 < f1) & (f1 < f2) & (f2 <= nyquist))
    else:
        centre, sigma = fbank.get_weights()
        lo, hi = fbank.sigma_range
        assert np.all((centre > 0) & (centre < np.pi))
        assert np.all((sigma >= lo - 1e-5) & (sigma <= hi + 1e-5))
        hz = ops.convert_to_numpy(fbank.centre_hz())
        assert np.all((hz > 0) & (hz < nyquist))


@pytest.mark.parametrize("family", PARAMETRIC)
def test_out_of_range_weights_still_give_valid_filters(family):
    enc = _encoder(family)
    enc.build((1, 100))
    weights = enc.get_weights()
    bad = [np.where(np.arange(w.size) % 2, -1e6, 1e6).astype(w.dtype) for w in weights]
    enc.set_weights(bad)
    basis = ops.convert_to_numpy(enc.filterbank.filters())
    assert np.all(np.isfinite(basis))
    hz = ops.convert_to_numpy(enc.filterbank.centre_hz())
    assert np.all((hz > 0) & (hz < SR / 2))
    if family == "sinc":
        f1, f2 = (ops.convert_to_numpy(f) for f in enc.filterbank.cutoffs())
        assert np.all((0 < f1) & (f1 < f2) & (f2 <= SR / 2))
        # The centre is the clipped band's (it read the raw weights: 1e6 of the rate).
        np.testing.assert_array_equal(hz, (f1 + f2) / 2)


def test_sinc_centre_is_the_band_it_passes_when_the_band_ends_past_nyquist():
    """A low edge and width each in range whose sum passes Nyquist: cutoffs() ends the band
    at Nyquist, and so does the centre (inspection's centre_hz column reads it)."""
    fbank = fb.Encoder(2, 101, 50, filterbank="sinc", sample_rate=SR).filterbank
    fbank.build(101)
    nyquist = SR / 2
    low = np.array([100.0, nyquist - 200.0]) / SR
    band = np.array([300.0, nyquist - 2 * fbank.min_low_hz]) / SR
    fbank.set_weights([low.astype("float32"), band.astype("float32")])
    f1, f2 = (ops.convert_to_numpy(f).astype("float64") for f in fbank.cutoffs())
    hz = ops.convert_to_numpy(fbank.centre_hz()).astype("float64")
    assert f2[1] == nyquist
    # float32 Hz: each value rounded by 2**-24 relative (the weights are fractions of SR).
    np.testing.assert_allclose(hz, [250.0, nyquist - 100.0], rtol=2.0**-22)


def test_parametric_families_learn_two_numbers_per_filter():
    for family, per_filter_rows in (("sinc", 1), ("gabor", 2)):
        enc = fb.Encoder(
            2 * 40, 401, 160, filterbank=family, sample_rate=16000, name=f"{family}_count"
        )
        enc.build((1, 1000))
        filters = enc.num_basis // per_filter_rows
        assert sum(int(np.prod(w.shape)) for w in enc.get_weights()) == 2 * filters


def test_sinc_filters_pass_their_band():
    enc = fb.Encoder(8, 255, 100, filterbank="sinc", sample_rate=SR)
    enc.build((1, 1000))
    basis = ops.convert_to_numpy(enc.filterbank.filters())
    f1, f2 = (ops.convert_to_numpy(f) for f in enc.filterbank.cutoffs())
    freqs = np.fft.rfftfreq(4096, 1 / SR)
    gain = np.abs(np.fft.rfft(basis, 4096, axis=0))
    for k in range(8):
        centre = np.argmin(np.abs(freqs - (f1[k] + f2[k]) / 2))
        far = np.abs(freqs - (f1[k] + f2[k]) / 2) > (f2[k] - f1[k]) / 2 + 500
        assert abs(gain[centre, k] - 1) < 0.1, (k, gain[centre, k])
        assert gain[far, k].max() < 0.1


def test_gabor_filters_peak_at_their_centre():
    enc = fb.Encoder(16, 201, 80, filterbank="gabor", sample_rate=SR)
    enc.build((1, 1000))
    basis = ops.convert_to_numpy(enc.filterbank.filters())
    complex_filters = basis[:, :8] - 1j * basis[:, 8:]  # the filters exp(+j mu t) phi(t)
    freqs = np.fft.fftfreq(4096, 1 / SR)
    peaks = freqs[np.argmax(np.abs(np.fft.fft(complex_filters, 4096, axis=0)), axis=0)]
    want = ops.convert_to_numpy(enc.filterbank.centre_hz())
    assert np.all(np.diff(want) > 0)  # mel-spaced, increasing
    np.testing.assert_allclose(np.abs(peaks), want, atol=SR / 4096 + 1)


def test_analytic_half_is_the_hilbert_transform_of_the_other():
    enc = _encoder("analytic")
    enc.build((1, 100))
    basis = ops.convert_to_numpy(enc.filterbank.filters()).astype("float64")
    half = basis.shape[1] // 2
    want = np.imag(scipy.signal.hilbert(basis[:, :half], axis=0))
    assert_close_rel(basis[:, half:], want, 1e-5, "hilbert half")
    assert enc.get_weights()[0].shape == (FRAME_LEN, half)


# --- conformance -------------------------------------------------------------------------


def _tf_window(name, frame_len):
    import tensorflow as tf

    if frame_len % 2:
        # TensorFlow's "periodic" windows are symmetric at odd lengths (its n = L - 1 there);
        # framebank's are scipy's and librosa's periodic ones, so hand TF the same window.
        window = fb.filterbanks.make_window(name, frame_len)
        return lambda n, dtype: tf.constant(window, dtype=dtype)
    return {
        "hann": tf.signal.hann_window,
        "hamming": tf.signal.hamming_window,
        "sqrt_hann": lambda n, dtype: tf.sqrt(tf.signal.hann_window(n, dtype=dtype)),
        "rectangular": lambda n, dtype: tf.ones([n], dtype=dtype),
    }[name]


def _speech(seconds=1.0, sample_rate=None):
    """The first clip of the shipped corpus long enough for ``seconds``."""
    for clip in read_manifest():
        if clip.seconds >= seconds + 0.2:
            samples, rate = load_audio(clip.path, sample_rate)
            start = int(0.1 * rate)
            return samples[start : start + int(seconds * rate)], rate
    raise AssertionError("no clip long enough in data/")


@pytest.mark.parametrize("window", list(fb.filterbanks.WINDOWS))
@pytest.mark.parametrize(
    "frame_len,hop,fft_length", [(64, 16, None), (100, 50, None), (255, 64, None), (80, 40, 128)]
)
def test_fourier_equals_tf_signal_stft(window, frame_len, hop, fft_length):
    import tensorflow as tf

    speech, _ = _speech(0.5)
    x = np.stack([speech, speech[::-1].copy()])
    n_fft = fft_length or frame_len
    enc = fb.Encoder(
        2 * (n_fft // 2 + 1),
        frame_len,
        hop,
        method="strided_conv",
        filterbank="fourier",
        window=window,
        fft_length=fft_length,
    )
    got = ops.convert_to_numpy(enc(x))
    want = tf.signal.stft(
        tf.constant(x), frame_len, hop, fft_length=n_fft, window_fn=_tf_window(window, frame_len)
    ).numpy()
    n_freq = n_fft // 2 + 1
    assert got.shape == (*want.shape[:2], 2 * n_freq)
    error = max(
        np.abs(got[..., :n_freq] - want.real).max(), np.abs(got[..., n_freq:] - want.imag).max()
    )
    print(
        f"fourier {window} L={frame_len} hop={hop} n_fft={n_fft}: max error / max|stft| "
        f"{error / np.abs(want).max():.1e}"
    )  # shown with -s
    # The README quotes this bound: measured 5.5e-7 here under every backend.
    assert_close_rel(got[..., :n_freq], want.real, 5e-6, f"{window} real part")
    assert_close_rel(got[..., n_freq:], want.imag, 5e-6, f"{window} imaginary part")


@given(
    frame_len=st.integers(1, 80),
    extra=st.integers(0, 40),
    window=st.sampled_from(fb.filterbanks.WINDOWS),
)
def test_fourier_basis_is_the_windowed_rfft(frame_len, extra, window):
    """Any frame_len (odd, even, 1) and any fft_length >= frame_len, against np.fft.rfft."""
    fft_length = frame_len + extra
    fbank = fb.FourierFilterbank(frame_len=frame_len, window=window, fft_length=fft_length)
    fbank.build()
    frames = np.random.default_rng(frame_len).standard_normal((5, frame_len))
    got = frames @ ops.convert_to_numpy(fbank.filters()).astype("float64")
    want = np.fft.rfft(frames * fb.filterbanks.make_window(window, frame_len), n=fft_length)
    n_freq = fft_length // 2 + 1
    assert got.shape == (5, 2 * n_freq) == (5, fbank.num_basis)
    assert_close_rel(got[:, :n_freq], want.real, 1e-5, "real")
    assert_close_rel(got[:, n_freq:], want.imag + 0.0, 1e-5, "imaginary")


def test_mel_spectrum_saves_and_loads_in_a_model(tmp_path):
    enc = fb.Encoder(66, 64, 32, filterbank="mel", sample_rate=SR, n_mels=10, name="enc")
    inputs = keras.Input((None,))
    model = keras.Model(inputs, enc.filterbank.spectrum(power=1.0, name="mel")(enc(inputs)))
    x = _signal(time=400)
    model.save(tmp_path / "mel.keras")
    loaded = keras.models.load_model(tmp_path / "mel.keras")
    assert loaded.get_layer("mel").power == 1.0 and loaded.get_layer("mel").n_mels == 10
    assert loaded.get_layer("enc").filterbank.trainable is False
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)), rtol=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("power", [1.0, 2.0])
@pytest.mark.parametrize("center", [False, True])
def test_mel_equals_librosa_melspectrogram(power, center):
    import librosa

    speech, rate = _speech(1.0)
    n_fft, hop, n_mels = 256, 80, 40
    enc = fb.Encoder(
        2 * (n_fft // 2 + 1),
        n_fft,
        hop,
        filterbank="mel",
        sample_rate=rate,
        n_mels=n_mels,
        power=power,
        center=center,
    )
    mel = enc.filterbank.spectrum()
    got = ops.convert_to_numpy(mel(enc(speech[None])))[0]
    want = librosa.feature.melspectrogram(
        y=speech.astype("float64"),
        sr=rate,
        n_fft=n_fft,
        hop_length=hop,
        window="hann",
        center=center,
        pad_mode="constant",
        power=power,
        n_mels=n_mels,
    ).T
    print(
        f"mel power={power} center={center}: max error / max "
        f"{np.abs(got - want).max() / want.max():.1e}"
    )  # shown with -s
    # The README quotes this bound: measured 1.4e-7 to 6.8e-7 here, by backend.
    assert_close_rel(got, want, 5e-6, f"mel power={power} center={center}")
    # Also bin by bin where the spectrum has energy, not only relative to the peak.
    loud = want > 1e-3 * want.max()
    np.testing.assert_allclose(got[loud], want[loud], rtol=1e-3)


def test_mel_spectrum_gradient_is_finite_at_silence():
    enc = fb.Encoder(34, 32, 16, filterbank="mel", sample_rate=SR, n_mels=4, power=1.0)
    mel = enc.filterbank.spectrum()
    silence = np.zeros((1, 64), "float32")

    def loss(x):
        return ops.sum(mel(enc(x)))

    _, (grad,), _ = value_and_grads(loss, [silence])
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize(
    "build,error,match",
    [
        (lambda: fb.Encoder(34, 32, 8, filterbank="fourier", window="kaiser"), ValueError, "hann"),
        (lambda: fb.Encoder(30, 32, 8, filterbank="fourier"), ValueError, "num_basis=30"),
        (lambda: fb.FourierFilterbank(frame_len=32, fft_length=16), ValueError, "fft_length=16"),
        (lambda: fb.FourierFilterbank(), ValueError, "frame_len=None"),
        (lambda: fb.Encoder(8, 32, 8, filterbank="sinc"), ValueError, "sample_rate=None"),
        (lambda: fb.Encoder(8, 32, 8, filterbank="gabor"), ValueError, "sample_rate=None"),
        (lambda: fb.Encoder(7, 32, 8, filterbank="analytic"), ValueError, "num_basis=7"),
        (
            lambda: fb.Encoder(8, 32, 8, filterbank="gabor", sample_rate=SR, max_hz=SR),
            ValueError,
            "max_hz=8000",
        ),
        (
            lambda: fb.Encoder(8, 32, 8, filterbank="sinc", sample_rate=SR, min_band=3),
            ValueError,
            "Unknown option.*min_band.*min_band_hz",
        ),
        (
            lambda: fb.Encoder(
                8, 32, 8, filterbank="sinc", sample_rate=SR, kernel_initializer="zeros"
            ),
            ValueError,
            "takes no kernel_initializer",
        ),
        (
            lambda: fb.Encoder(8, 32, 8, filterbank=fb.FreeFilterbank(8), window="hann"),
            ValueError,
            "instance",
        ),
        (
            lambda: fb.Encoder(34, 32, 8, filterbank="mel", sample_rate=SR, power=0),
            ValueError,
            "power=0",
        ),
    ],
)
def test_bad_family_arguments_raise_clear_errors(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_a_family_without_layer_keywords_and_the_layer_dtype(tmp_path):
    """A user's family whose constructor takes no **kwargs still works by name (passing
    dtype to it broke that), and still gets the layer's dtype."""

    @fb.register_filterbank("plain_scaled_free")
    class PlainScaled(fb.Filterbank):
        def __init__(self, num_basis, frame_len=None, sample_rate=None, scale=1.0):
            super().__init__(num_basis, frame_len, sample_rate)
            self.scale = scale

        def make_weights(self):
            self.kernel = self.add_weight(name="kernel", shape=(self.frame_len, self.num_basis))

        def filters(self):
            return self.kernel * self.scale

    try:
        enc = fb.Encoder(8, 16, 8, filterbank="plain_scaled_free", scale=2.0, dtype="float64")
        enc.build((None, None))
        assert enc.filterbank.scale == 2.0 and enc.weights[0].dtype == "float64"
    finally:
        fb.filterbanks.base._REGISTRY.pop("plain_scaled_free")


def test_sample_rate_keeps_its_type_and_accepts_numpy_scalars():
    assert fb.SincFilterbank(8, 64, sample_rate=16000).get_config()["sample_rate"] == 16000
    assert fb.SincFilterbank(8, 64, sample_rate=np.array(16000.0)).sample_rate == 16000.0
    assert fb.frame(np.zeros(8), 4, 4, pad_value=np.array(0.5), pad_end=np.bool_(True)).shape


@pytest.mark.parametrize(
    "build,match",
    [
        # Each of these was once accepted and gave a wrong basis.
        (lambda: fb.Encoder(np.int64(33), 64, 16, filterbank="analytic"), "must be even"),
        (lambda: fb.MelFilterbank(frame_len=400, sample_rate=SR, fmin=5000.0, fmax=1000.0), "fmin"),
        (lambda: fb.MelFilterbank(frame_len=400, sample_rate=SR, fmax=SR), "sample_rate / 2"),
        (lambda: fb.MelFilterbank(frame_len=400, sample_rate=SR, fmin=-10.0), "fmin=-10.0"),
        (lambda: fb.MelSpectrum(SR, 512, fmin=0.0, fmax=SR), "fmax"),
    ],
)
def test_family_options_that_gave_a_wrong_basis_are_refused(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_mel_spectrum_stays_finite_under_mixed_float16():
    """A full-scale tone's power (256**2 at fft_length 1024) overflowed float16 to inf."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        enc = fb.Encoder(1026, 1024, 256, filterbank="mel", sample_rate=16000)
        tone = np.sin(2 * np.pi * 1000 * np.arange(4096) / 16000).astype("float32")[None]
        got = ops.convert_to_numpy(enc.filterbank.spectrum()(enc(tone)))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    want = ops.convert_to_numpy(
        fb.Encoder(1026, 1024, 256, filterbank="mel", sample_rate=16000).filterbank.spectrum()(
            fb.Encoder(1026, 1024, 256, filterbank="mel", sample_rate=16000)(tone)
        )
    )
    assert np.isfinite(got).all()
    assert_close_rel(got, want, 2e-2, "mixed_float16 mel spectrum")


def test_sinc_initial_bands_tile_the_mel_scale():
    """Each band ends where the next begins (SincNet's initialisation), also after the first
    low edge is raised to min_low_hz; only bands widened to min_band_hz may overlap."""
    fbank = fb.SincFilterbank(32, 400, sample_rate=16000)
    fbank.build()
    low = ops.convert_to_numpy(fbank.low_hz).astype("float64")
    band = ops.convert_to_numpy(fbank.band_hz).astype("float64")
    free = band[:-1] > fbank.min_band_hz + 1e-3
    assert free.sum() > 20 and low[0] == fbank.min_low_hz
    np.testing.assert_allclose((low + band)[:-1][free], low[1:][free], rtol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="LEAF's init uses tf.signal")
def test_gabor_leaf_init_is_leafs_gabor_init():
    """LEAF's GaborInit (leaf_audio/melfilters.py), transcribed with the TensorFlow ops it
    uses, at LEAF's defaults: 40 filters, 16 kHz, 60-7800 Hz, n_fft 512."""
    import tensorflow as tf

    mel = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 60.0, 7800.0)
    peaks = tf.reduce_max(mel, axis=0, keepdims=True)
    area = peaks * (tf.reduce_sum(tf.cast(mel > 0, tf.float32), 0, keepdims=True) + 2) * np.pi / 512
    root = tf.sqrt(tf.transpose(mel / area))
    centre = tf.cast(tf.argmax(root, axis=1), tf.float32) * 2 * np.pi / 512
    fwhm = tf.reduce_sum(tf.cast(root >= tf.reduce_max(root, 1, keepdims=True) / 2, tf.float32), 1)
    sigma = tf.sqrt(2.0 * tf.math.log(2.0)) * 512 / (np.pi * fwhm)
    gabor = fb.GaborFilterbank(80, 401, 16000, min_hz=60, max_hz=7800, init="leaf")
    got_centre, got_sigma = gabor.initial_parameters()
    np.testing.assert_allclose(got_centre, centre.numpy(), rtol=1e-6)
    np.testing.assert_allclose(got_sigma, sigma.numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        fb.filterbanks.gabor.tf_mel_weight_matrix(40, 257, 16000, 60.0, 7800.0),
        mel.numpy(),
        atol=2e-5,
    )


def test_gabor_analytic_init_is_efficientleafs_and_works_at_8khz():
    gabor = fb.GaborFilterbank(80, 201, 8000, min_hz=60, max_hz=3900, init="analytic")
    centre, sigma = gabor.initial_parameters()
    mel = np.linspace(1127 * np.log1p(60 / 700), 1127 * np.log1p(3900 / 700), 42)
    peaks = 700 * np.expm1(mel / 1127)
    np.testing.assert_allclose(centre, 2 * np.pi * peaks[1:-1] / 8000, rtol=1e-12)
    np.testing.assert_allclose(sigma, np.clip(4000 / (peaks[2:] - peaks[:-2]), *gabor.sigma_range))
    with pytest.raises(ValueError, match="max_hz"):
        fb.GaborFilterbank(80, 201, 8000, min_hz=60, max_hz=7800, init="leaf")
    with pytest.raises(ValueError, match="init"):
        fb.GaborFilterbank(80, 201, 8000, init="random")


@pytest.mark.parametrize("family", sorted(fb.FILTERBANKS))
def test_each_familys_capability_attributes_say_what_it_does(family):
    """What recipes read instead of family names: each attribute agrees with the family."""
    from helpers import family_case

    cls = fb.FILTERBANKS[family]
    num_basis, options = family_case(family)
    made = cls(num_basis, FRAME_LEN, **options)
    without_rate = {k: v for k, v in options.items() if k != "sample_rate"}
    if cls.needs_sample_rate:
        with pytest.raises(ValueError, match="sample_rate"):
            cls(num_basis, FRAME_LEN, **without_rate)
    else:
        assert cls(num_basis, FRAME_LEN, **without_rate).sample_rate is None
    if cls.fixed_num_basis:
        assert cls(None, FRAME_LEN, **options).num_basis == made.num_basis
        with pytest.raises(ValueError, match="num_basis"):
            cls(made.num_basis + 2, FRAME_LEN, **options)
    if cls.dft_basis:  # a fixed copy runs as the windowed DFT it was made as
        assert cls(num_basis, FRAME_LEN, trainable=False, **options).windowed_dft is not None
    assert cls.mel_spectrum == hasattr(made, "spectrum_options")
    if cls.complex_pairs:
        assert made.num_basis % 2 == 0
        if not cls.fixed_num_basis:
            with pytest.raises(ValueError, match="must be even"):
                cls(made.num_basis + 1, FRAME_LEN, **options)


def test_a_users_complex_family_refuses_an_odd_num_basis():
    """``complex_pairs`` alone makes the base refuse an odd basis, naming the family."""

    class Pairs(fb.Filterbank):
        complex_pairs = True

    assert Pairs(8, 16).num_basis == 8
    with pytest.raises(ValueError, match=r"'Pairs' filterbank .* even. Received: num_basis=7"):
        Pairs(7, 16)
