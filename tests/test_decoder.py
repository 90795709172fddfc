"""Decoder: every method equal, tied/free/pinv synthesis, perfect reconstruction on real speech,
length handling and serialisation (alone and in a model with its encoder)."""

import keras
import numpy as np
import pytest
from helpers import assert_close_rel, np_overlap_add, value_and_grads
from hypothesis import given
from hypothesis import strategies as st
from keras import ops

import framebank as fb
from framebank.audio import load_audio, read_manifest
from framebank.decoder import DECODER_KINDS

METHODS = sorted(fb.METHODS)


def _coefficients(batch=2, frames=7, num_basis=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, frames, num_basis)).astype("float32")


def _snr(estimate, reference):
    estimate = np.asarray(estimate, "float64")
    reference = np.asarray(reference, "float64")
    return 10 * np.log10(np.sum(reference**2) / np.sum((estimate - reference) ** 2))


def _speech(seconds=2.0):
    """Real speech from data/: consecutive clips joined to ``seconds`` at their 8 kHz rate."""
    pieces, total = [], 0
    for clip in read_manifest():
        samples, rate = load_audio(clip.path)
        pieces.append(samples)
        total += samples.size
        if total >= seconds * rate:
            break
    return np.concatenate(pieces)[: int(seconds * rate)].astype("float32"), rate


@pytest.mark.parametrize("kind", DECODER_KINDS)
@pytest.mark.parametrize("frame_len,hop", [(16, 6), (16, 16), (12, 20)])
def test_every_method_gives_equal_outputs_and_gradients(kind, frame_len, hop):
    encoder = fb.Encoder(24, frame_len, hop, name="enc")
    encoder.build((None, None))
    c = _coefficients()
    results = {}
    for method in METHODS:
        keras.utils.set_random_seed(1)  # the same free synthesis basis for every method
        decoder = fb.Decoder(encoder, kind=kind, method=method)
        out = decoder(c)
        weight = ops.convert_to_tensor(
            np.random.default_rng(2).standard_normal(out.shape).astype("float32")
        )

        def loss(coefficients, decoder=decoder, weight=weight):
            return ops.sum(decoder(coefficients) * weight)

        # pinv treats the encoder's basis as a constant (no gradient through the SVD).
        variables = [] if kind == "pinv" else decoder.trainable_variables
        _, (grad_c,), grad_w = value_and_grads(loss, [c], variables)
        results[method] = (ops.convert_to_numpy(out), grad_c, grad_w)
    want_out, want_gc, want_gw = results["matmul"]
    assert want_out.shape == (2, 6 * hop + frame_len)
    for method, (out, grad_c, grad_w) in results.items():
        assert_close_rel(out, want_out, 1e-5, f"{kind}/{method} output")
        assert_close_rel(grad_c, want_gc, 1e-5, f"{kind}/{method} coefficient gradient")
        assert len(grad_w) == len(want_gw) == (0 if kind == "pinv" else 1)
        for g, want in zip(grad_w, want_gw, strict=True):
            assert_close_rel(g, want, 1e-5, f"{kind}/{method} weight gradient")


@pytest.mark.parametrize("method", METHODS)
def test_tied_decoder_is_the_transposed_basis_overlap_added(method):
    encoder = fb.Encoder(24, 16, 6)
    encoder.build((None, None))
    basis = encoder.get_weights()[0].astype("float64")
    c = _coefficients()
    want = np_overlap_add(c.astype("float64") @ basis.T, 6)
    got = ops.convert_to_numpy(fb.Decoder(encoder, kind="tied", method=method)(c))
    assert_close_rel(got, want, 1e-5, method)
    # Tied really shares: changing the encoder changes the decoder.
    encoder.set_weights([2 * encoder.get_weights()[0]])
    again = ops.convert_to_numpy(fb.Decoder(encoder, kind="tied", method=method)(c))
    assert_close_rel(again, 2 * want, 1e-5, method)


@pytest.mark.parametrize(
    "window,hop",
    [("hann", 64), ("hann", 128), ("sqrt_hann", 128), ("hamming", 64), ("rectangular", 256)],
)
@pytest.mark.parametrize("method", ["dense", "strided_conv"])
def test_fourier_pinv_reconstructs_real_speech(window, hop, method):
    speech, _ = _speech()
    frame_len = 256
    encoder = fb.Encoder(
        2 * (frame_len // 2 + 1),
        frame_len,
        hop,
        filterbank="fourier",
        window=window,
        center=True,
        pad_end=True,
    )
    decoder = fb.Decoder(encoder, kind="pinv", method=method)
    x = speech[None]
    y = ops.convert_to_numpy(decoder(encoder(x), length=x.shape[1]))
    assert y.shape == x.shape
    snr = _snr(y, x)
    print(f"fourier {window} L={frame_len} hop={hop} pinv/{method}: SNR {snr:.1f} dB")  # -s
    assert snr >= 90, f"{window} hop {hop} {method}: {snr:.1f} dB"


@pytest.mark.parametrize(
    "frame_len,hop,num_basis", [(64, 32, 64), (128, 64, 128), (64, 16, 96), (100, 50, 100)]
)
@pytest.mark.parametrize("method", ["matmul", "strided_conv"])
def test_free_pinv_reconstructs_real_speech(frame_len, hop, num_basis, method):
    speech, _ = _speech()
    keras.utils.set_random_seed(0)
    encoder = fb.Encoder(
        num_basis,
        frame_len,
        hop,
        center=True,
        pad_end=True,
        use_bias=True,
        bias_initializer="random_normal",  # pinv undoes the bias too
    )
    decoder = fb.Decoder(encoder, kind="pinv", method=method)
    x = np.stack([speech, speech[::-1]])
    y = ops.convert_to_numpy(decoder(encoder(x), length=x.shape[1]))
    snr = _snr(y, x)
    print(f"free L={frame_len} hop={hop} N={num_basis} pinv/{method}: SNR {snr:.1f} dB")  # -s
    assert snr >= 90, f"L={frame_len} hop={hop} N={num_basis} {method}: {snr:.1f} dB"


def test_free_pinv_is_limited_only_by_the_basis_conditioning():
    """An ill-conditioned square basis loses SNR in float32, but no more than the float32
    coefficients force: within 4 dB of a float64 pseudo-inverse of the same coefficients."""
    speech, _ = _speech(2.0)
    frame_len, hop = 256, 128
    encoder = fb.Encoder(frame_len, frame_len, hop, center=True, pad_end=True)
    encoder.build((None, None))
    # A square basis with condition number 3000 (random square bases reach that).
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.standard_normal((frame_len, frame_len)))
    v, _ = np.linalg.qr(rng.standard_normal((frame_len, frame_len)))
    singular = np.geomspace(1.0, 1 / 3000, frame_len) / np.sqrt(frame_len)
    encoder.set_weights([((u * singular) @ v.T).astype("float32")])
    x = speech[None]
    coefficients = encoder(x)
    got = ops.convert_to_numpy(fb.Decoder(encoder, kind="pinv")(coefficients, length=x.shape[1]))
    basis = encoder.get_weights()[0].astype("float64")
    frames = ops.convert_to_numpy(coefficients).astype("float64") @ np.linalg.pinv(basis)
    count = np_overlap_add(np.ones_like(frames), hop)
    best = (np_overlap_add(frames, hop) / count)[:, frame_len // 2 : frame_len // 2 + x.shape[1]]
    assert np.linalg.cond(basis) > 1000  # the hard case
    print(f"cond 3000 square basis: decoder {_snr(got, x):.1f} dB, float64 {_snr(best, x):.1f} dB")
    assert _snr(got, x) >= _snr(best, x) - 4


def test_free_decoder_keras_default_imitates_the_layer_of_its_method():
    encoder = fb.Encoder(24, 16, 8)
    for method, layout in (("dense", (16, 24)), ("strided_conv", (16, 1, 24))):
        decoder = fb.Decoder(
            encoder,
            kind="free",
            method=method,
            kernel_initializer=fb.initializers.KerasDefault(seed=11),
        )
        decoder.build((None, None, 24))
        want = keras.initializers.GlorotUniform(seed=11)(layout)
        np.testing.assert_allclose(
            decoder.get_weights()[0], np.reshape(ops.convert_to_numpy(want), (16, 24))
        )


def test_pinv_weighting_is_what_makes_hann_exact():
    """The plain pseudo-inverse scaled by hop / frame_len misses the zero of the periodic Hann."""
    speech, _ = _speech(1.0)
    frame_len, hop = 256, 64
    encoder = fb.Encoder(258, frame_len, hop, filterbank="fourier", center=True, pad_end=True)
    x = speech[None]
    coefficients = ops.convert_to_numpy(encoder(x))
    basis = encoder.get_weights()[0].astype("float64")
    naive = np_overlap_add(coefficients @ np.linalg.pinv(basis), hop) * hop / frame_len
    naive = naive[:, frame_len // 2 : frame_len // 2 + x.shape[1]]
    weighted = ops.convert_to_numpy(
        fb.Decoder(encoder, kind="pinv")(coefficients, length=x.shape[1])
    )
    print(
        f"hann L=256 hop=64: naive pinv x hop/L {_snr(naive, x):.1f} dB, weighted "
        f"{_snr(weighted, x):.1f} dB"
    )
    assert _snr(naive, x) < 60 < 90 <= _snr(weighted, x)


@pytest.mark.parametrize("kind", DECODER_KINDS)
def test_mixed_precision(kind):
    encoder = fb.Encoder(66, 64, 16, filterbank="fourier", center=True, name="enc")
    x = np.random.default_rng(0).standard_normal((2, 500)).astype("float32")
    keras.utils.set_random_seed(0)
    want = ops.convert_to_numpy(fb.Decoder(encoder, kind=kind)(encoder(x), length=500))
    mixed = fb.Encoder(66, 64, 16, filterbank="fourier", center=True, dtype="mixed_float16")
    keras.utils.set_random_seed(0)
    decoder = fb.Decoder(mixed, kind=kind, dtype="mixed_float16")
    got = decoder(mixed(x), length=500)
    assert keras.backend.standardize_dtype(got.dtype) == "float16"
    assert_close_rel(ops.convert_to_numpy(got), want, 3e-3, kind)
    if kind == "pinv":
        assert _snr(ops.convert_to_numpy(got), x) > 45  # float16's resolution, not worse


@pytest.mark.parametrize("center", [False, True])
def test_length_trims_or_pads(center):
    encoder = fb.Encoder(18, 16, 4, filterbank="fourier", center=center, pad_end=True)
    decoder = fb.Decoder(encoder, kind="pinv")
    x = np.random.default_rng(0).standard_normal((2, 101)).astype("float32")
    c = encoder(x)
    natural = ops.convert_to_numpy(decoder(c))
    frames = c.shape[1]
    want_time = (frames - 1) * 4 + 16 - (16 if center else 0)
    assert natural.shape == (2, want_time)
    assert decoder.compute_output_shape(tuple(c.shape)) == (2, want_time)
    trimmed = ops.convert_to_numpy(decoder(c, length=101))
    padded = ops.convert_to_numpy(decoder(c, length=want_time + 9))
    assert trimmed.shape == (2, 101) and padded.shape == (2, want_time + 9)
    np.testing.assert_array_equal(trimmed, natural[:, :101])
    np.testing.assert_array_equal(padded[:, :want_time], natural)
    np.testing.assert_array_equal(padded[:, want_time:], 0)
    # The part every frame covers is the input (centring keeps the start covered too).
    start = 0 if center else 16
    np.testing.assert_allclose(trimmed[:, start:96], x[:, start:96], atol=1e-4)


def test_length_may_be_a_numpy_integer():
    """As x.shape[1] of a numpy array read from a file, or np.int64 arithmetic, gives."""
    encoder = fb.Encoder(24, 16, 6)
    coefficients = _coefficients()
    want = ops.convert_to_numpy(fb.Decoder(encoder)(coefficients, length=90))
    got = ops.convert_to_numpy(fb.Decoder(encoder)(coefficients, length=np.int64(90)))
    np.testing.assert_array_equal(got, want)


def test_unknown_length_in_a_model():
    inputs = keras.Input((None,))
    encoder = fb.Encoder(24, 16, 8, method="strided_conv", center=True)
    outputs = fb.Decoder(encoder, kind="pinv", method="strided_conv")(encoder(inputs))
    assert tuple(outputs.shape) == (None, None)
    model = keras.Model(inputs, outputs)
    for time in (64, 100):
        got = model(np.zeros((1, time), "float32"))
        assert got.shape[1] == ((time + 16 - 16) // 8) * 8  # frames after centring, less pads


@pytest.mark.parametrize("kind", DECODER_KINDS)
def test_get_config_round_trip_alone(kind):
    encoder = fb.Encoder(24, 16, 6, filterbank="analytic", center=True, name="enc")
    decoder = fb.Decoder(encoder, kind=kind, method="strided_conv", name="dec")
    c = _coefficients()
    want = ops.convert_to_numpy(decoder(c))
    again = fb.Decoder.from_config(decoder.get_config())
    assert (again.kind, again.method.name, again.frame_len, again.hop, again.center) == (
        kind,
        "strided_conv",
        16,
        6,
        True,
    )
    again.build(c.shape)
    again.set_weights(decoder.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(again(c)), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", DECODER_KINDS)
def test_keras_file_round_trip_of_an_autoencoder(kind, tmp_path):
    time = 400
    inputs = keras.Input((time,))
    encoder = fb.Encoder(40, 32, 16, filterbank="free", center=True, name="enc")
    decoder = fb.Decoder(encoder, kind=kind, method="strided_conv", name="dec")
    model = keras.Model(inputs, decoder(encoder(inputs), length=time))
    # The shared encoder is trained once, not twice.
    assert len(model.trainable_weights) == (2 if kind == "free" else 1)
    x = np.random.default_rng(0).standard_normal((4, time)).astype("float32")
    before = [w.copy() for w in model.get_weights()]
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(x, x, epochs=2, batch_size=4, verbose=0)
    trained = model.get_weights()
    assert all(not np.allclose(a, b) for a, b in zip(before, trained, strict=True))
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for got, want in zip(loaded.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6
    )
    if kind != "free":  # still one encoder, shared by the decoder after loading
        assert loaded.get_layer("dec").encoder is loaded.get_layer("enc")


def test_keras_file_round_trip_of_a_decoder_alone(tmp_path):
    encoder = fb.Encoder(18, 16, 4, filterbank="fourier", window="sqrt_hann", name="enc")
    inputs = keras.Input((None, 18))
    model = keras.Model(inputs, fb.Decoder(encoder, kind="tied", name="dec")(inputs))
    encoder.set_weights([encoder.get_weights()[0] * 0.5])  # "trained"
    c = _coefficients(num_basis=18)
    model.save(tmp_path / "dec.keras")
    loaded = keras.models.load_model(tmp_path / "dec.keras")
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(c)), ops.convert_to_numpy(model(c)), rtol=1e-6, atol=1e-6
    )
    assert loaded.get_layer("dec").encoder.filterbank.window == "sqrt_hann"


@pytest.mark.parametrize(
    "build,error,match",
    [
        (lambda e: fb.Decoder(e, kind="inverse"), ValueError, "'free', 'pinv'.*kind='inverse'"),
        (lambda e: fb.Decoder(e, method="fft"), ValueError, "method 'fft'.*strided_conv"),
        (lambda e: fb.Decoder(None, kind="tied"), ValueError, "encoder=None"),
        (lambda e: fb.Decoder("enc"), TypeError, "framebank.Encoder"),
        (lambda e: fb.Decoder(kind="free", frame_len=16), ValueError, "num_basis=None"),
        (lambda e: fb.Decoder(e)(np.zeros((1, 3, 5), "float32")), ValueError, "num_basis=24"),
        (lambda e: fb.Decoder(e)(_coefficients(), length=0), ValueError, "length=0"),
        (lambda e: fb.Decoder(e)(_coefficients(), length=100.0), TypeError, "length=100.0"),
    ],
)
def test_bad_arguments_raise_clear_errors(build, error, match):
    encoder = fb.Encoder(24, 16, 6)
    with pytest.raises(error, match=match):
        build(encoder)


@st.composite
def _geometry(draw):
    frame_len = draw(st.integers(1, 40))
    hop = draw(st.integers(1, 2 * frame_len))
    num_basis = draw(st.integers(1, 48))
    frames = draw(st.integers(1, 6))
    batch = draw(st.integers(1, 3))
    return frame_len, hop, num_basis, frames, batch


@given(case=_geometry())
def test_tied_methods_match_float64_overlap_add(case):
    frame_len, hop, num_basis, frames, batch = case
    encoder = fb.Encoder(num_basis, frame_len, hop)
    encoder.build((None, None))
    basis = encoder.get_weights()[0].astype("float64")
    c = _coefficients(batch, frames, num_basis, seed=frame_len + hop)
    want = np_overlap_add(c.astype("float64") @ basis.T, hop)
    for method in METHODS:
        got = ops.convert_to_numpy(fb.Decoder(encoder, kind="tied", method=method)(c))
        assert_close_rel(got, want, 1e-5, f"{method} {case}")


def test_pinv_is_made_once_per_basis_and_again_when_the_weights_change(monkeypatch):
    """The SVD runs when the decoder is built, not at every eager call; a compiled call
    (predict) made before the encoder's weights changed still inverts the new basis."""
    calls = []
    pinv = ops.pinv
    monkeypatch.setattr(ops, "pinv", lambda *a, **k: calls.append(1) or pinv(*a, **k))
    encoder = fb.Encoder(40, 32, 16, method="matmul")
    decoder = fb.Decoder(encoder, kind="pinv", method="matmul")
    inputs = keras.Input((None, 40))
    model = keras.Model(inputs, decoder(inputs))
    assert len(calls) == 1
    coefficients = _coefficients(num_basis=40)
    eager = [ops.convert_to_numpy(decoder(coefficients)) for _ in range(3)]
    assert len(calls) == 1
    # 1e-5: a compiled call may sum in another order (float32 sums of 40 products, then
    # an SVD on its own); the methods' agreement bound.
    assert_close_rel(model.predict(coefficients, verbose=0), eager[0], 1e-5)
    rng = np.random.default_rng(1)
    encoder.set_weights([w + 0.1 * rng.standard_normal(w.shape) for w in encoder.get_weights()])
    fresh = fb.Decoder(encoder, kind="pinv", method="matmul")
    want = ops.convert_to_numpy(fresh(coefficients))
    assert np.abs(want - eager[0]).max() > 1e-2 * np.abs(want).max()  # the basis did change
    assert_close_rel(model.predict(coefficients, verbose=0), want, 1e-5)
    assert_close_rel(decoder(coefficients), want, 1e-5)


def test_a_pinv_cache_entry_is_tied_to_its_decoder_and_freed_with_it():
    """The made pseudo-inverse is keyed by the decoder itself (weakly), not by ``id()``,
    which a later object can reuse: a freed decoder's entry goes, and a variant shared by
    two decoders keeps one entry each."""
    import gc

    from framebank.decoder import PinvSynthesis

    synthesis = PinvSynthesis()
    coefficients = _coefficients(num_basis=40)
    first = fb.Decoder(fb.Encoder(40, 32, 16, method="matmul"), kind=synthesis, method="matmul")
    second = fb.Decoder(fb.Encoder(40, 32, 16, method="matmul"), kind=synthesis, method="matmul")
    want = [ops.convert_to_numpy(d(coefficients)) for d in (first, second)]
    assert set(synthesis._made) == {first, second}
    assert np.abs(want[0] - want[1]).max() > 1e-2 * np.abs(want[1]).max()  # two bases
    del first
    gc.collect()
    assert list(synthesis._made) == [second]
    assert_close_rel(second(coefficients), want[1], 0.0)  # its own entry, unchanged
