"""The ``rfft`` method: a fixed Fourier basis (``fourier``/``mel`` families, not trainable) run
as the real FFT of the windowed frames. The basis is still the model: the coefficients are
``frames @ basis`` to float rounding, on real speech, on every backend.

Tolerance: both paths round in float32. ``matmul`` sums ``frame_len`` products, whose rounding
grows like ``sqrt(frame_len) * eps`` of the sum of their magnitudes (about 1.2e-6 at 400 taps),
the FFT like ``log2(fft_length) * eps``; the largest coefficient of speech is of the order of
that sum. ``1e-5`` of the largest value leaves a margin of about 8 over the first."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import value_and_grads
from keras import ops
from test_frontends import _speech  # real speech from data/ at 16 kHz

import framebank as fb
from framebank import frontends
from framebank.structures import WindowedDFT

RATE = 16000
TOLERANCE = 1e-5

CASES = {
    "mel 400/160/512 centred": dict(
        filterbank="mel", frame_len=400, hop=160, fft_length=512, sample_rate=RATE, center=True
    ),
    "fourier sqrt_hann 256/64": dict(
        filterbank="fourier", frame_len=256, hop=64, window="sqrt_hann", trainable=False
    ),
    "fourier hamming 255/100, odd padding": dict(
        filterbank="fourier", frame_len=255, hop=100, fft_length=301, window="hamming",
        trainable=False,
    ),
}  # fmt: skip


def _pair(case: dict) -> tuple[fb.Encoder, fb.Encoder]:
    fast = fb.Encoder(method="auto", **case)
    dense = fb.Encoder(method="matmul", **case)
    return fast, dense


@pytest.mark.parametrize("name", list(CASES))
def test_auto_runs_a_fixed_fourier_basis_through_the_fft_with_matmuls_numbers(name):
    fast, dense = _pair(CASES[name])
    assert fast.method.name == "rfft" and dense.method.name == "matmul"
    x = _speech()
    want = ops.convert_to_numpy(dense(x))
    got = ops.convert_to_numpy(fast(x))
    assert got.shape == want.shape
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= TOLERANCE * scale


@pytest.mark.parametrize("name", list(CASES))
def test_the_input_gradient_agrees(name):
    fast, dense = _pair(CASES[name])
    x = _speech(0.25, batch=1)
    grads = []
    for encoder in (fast, dense):
        _, (grad,), _ = value_and_grads(lambda s, e=encoder: 0.5 * ops.sum(e(s) ** 2), [x])
        grads.append(grad)
    scale = np.abs(grads[1]).max()
    assert np.abs(grads[0] - grads[1]).max() <= TOLERANCE * scale


def test_the_family_declares_its_dft_and_the_description_is_the_basis():
    encoder = fb.Encoder(**CASES["fourier hamming 255/100, odd padding"])
    encoder.build((None, None))
    dft = encoder.filterbank.windowed_dft
    assert isinstance(dft, WindowedDFT) and (dft.frame_len, dft.fft_length) == (255, 301)
    kernel = ops.convert_to_numpy(encoder.filterbank.kernel)
    np.testing.assert_allclose(dft.basis(), kernel, rtol=0, atol=1e-7)
    assert (
        fb.Encoder(frame_len=64, hop=16, filterbank="free", num_basis=8).filterbank.windowed_dft
        is None
    )


def test_a_trainable_fourier_basis_keeps_the_dense_path_and_trains():
    trainable = fb.Encoder(frame_len=64, hop=16, filterbank="fourier")
    assert trainable.filterbank.windowed_dft is None
    assert trainable.method.name == "matmul"
    # A fixed basis made trainable later runs its fallback, with the kernel's gradient.
    log_mel = frontends.LogMel(8000)
    assert log_mel.encoder.method.name == "rfft"
    x = _speech(0.25, batch=1)[:, :2000]
    log_mel(x)
    log_mel.encoder.filterbank.trainable = True  # the mel basis trains from here on
    assert log_mel.encoder.filterbank.windowed_dft is None
    kernel = log_mel.encoder.filterbank.kernel
    _, _, (grad,) = value_and_grads(lambda s: ops.sum(log_mel(s)), [x], [kernel])
    assert np.abs(grad).max() > 0


def _edited(encoder: fb.Encoder, seed: int = 0) -> np.ndarray:
    """The encoder's kernel moved by noise of 1% of its scale: no longer the DFT."""
    kernel = ops.convert_to_numpy(encoder.filterbank.kernel)
    noise = np.random.default_rng(seed).standard_normal(kernel.shape).astype("float32")
    return kernel + 0.01 * noise


def _write(how: str, encoder: fb.Encoder, kernel: np.ndarray) -> None:
    if how == "assign":
        encoder.filterbank.kernel.assign(kernel)
    elif how == "set_weights":
        encoder.set_weights([kernel])
    else:  # a model's set_weights, the model made on a symbolic input
        inputs = keras.Input((None,))
        keras.Model(inputs, encoder(inputs)).set_weights([kernel])


@pytest.mark.parametrize("how", ["assign", "set_weights", "model.set_weights"])
def test_a_weight_written_before_the_first_call_runs_as_the_dense_product(how):
    """A fixed basis given other values before any call gives that weight's product (the
    FFT's description no longer offered). Both paths are then ``matmul`` on the same weight,
    within the file's float32 tolerance."""
    fast, dense = _pair(CASES["mel 400/160/512 centred"])
    fast.build((None, None)), dense.build((None, None))
    edited = _edited(fast)
    _write(how, fast, edited)
    dense.set_weights([edited])
    assert fast.filterbank.windowed_dft is None
    x = _speech(0.25, batch=1)
    want = ops.convert_to_numpy(dense(x))
    assert np.abs(ops.convert_to_numpy(fast(x)) - want).max() <= TOLERANCE * np.abs(want).max()


@pytest.mark.parametrize("how", ["assign", "set_weights"])
def test_a_weight_written_after_the_fft_ran_is_refused(how):
    """A compiled function that ran the FFT ignores the kernel: other values written later
    are refused with a message saying what to do, and the kernel keeps its values."""
    fast, _ = _pair(CASES["fourier sqrt_hann 256/64"])
    fast(_speech(0.25, batch=1))
    before = ops.convert_to_numpy(fast.filterbank.kernel)
    with pytest.raises(ValueError, match="already ran through its description") as info:
        _write(how, fast, _edited(fast))
    assert fast.filterbank.name in str(info.value) and 'method="matmul"' in str(info.value)
    np.testing.assert_array_equal(ops.convert_to_numpy(fast.filterbank.kernel), before)


def test_one_entry_one_unit_in_the_last_place_off_is_not_the_dft():
    """The comparison at a write is exact: one entry moved to the next float32 leaves the FFT."""
    fast, dense = _pair(CASES["fourier sqrt_hann 256/64"])
    fast.build((None, None)), dense.build((None, None))
    nudged = ops.convert_to_numpy(fast.filterbank.kernel).copy()
    nudged[100, 7] = np.nextafter(nudged[100, 7], np.float32(np.inf))
    fast.filterbank.kernel.assign(nudged)
    assert fast.filterbank.windowed_dft is None
    dense.set_weights([nudged])
    x = _speech(0.25, batch=1)
    np.testing.assert_array_equal(ops.convert_to_numpy(fast(x)), ops.convert_to_numpy(dense(x)))


def test_writing_the_same_values_keeps_the_fft():
    """The DFT's own values written back (after a call, as a trainer's state sync does)
    keep the FFT: the output stays bit for bit the FFT's, which differs from the dense
    product's rounding."""
    fast, dense = _pair(CASES["mel 400/160/512 centred"])
    x = _speech(0.25, batch=1)
    first = ops.convert_to_numpy(fast(x))
    fast.filterbank.kernel.assign(ops.convert_to_numpy(fast.filterbank.kernel))
    fast.set_weights(fast.get_weights())
    assert fast.filterbank.windowed_dft is not None
    np.testing.assert_array_equal(ops.convert_to_numpy(fast(x)), first)
    assert not np.array_equal(ops.convert_to_numpy(dense(x)), first)


def _trained_then_frozen() -> tuple[fb.Encoder, np.ndarray]:
    """A fixed Fourier encoder that ran its FFT, then trained three Adam steps, then frozen."""
    encoder, _ = _pair(CASES["fourier sqrt_hann 256/64"])
    x = _speech(0.25, batch=1)
    encoder(x)
    encoder.trainable = True
    kernel = encoder.filterbank.kernel
    optimizer = keras.optimizers.Adam(1e-3)
    for _ in range(3):
        _, _, grads = value_and_grads(lambda s: ops.sum(ops.square(encoder(s))), [x], [kernel])
        # torch's Adam updates in place, without `assign`: the freeze below still sees it.
        optimizer.apply([ops.convert_to_tensor(g) for g in grads], [kernel])
    encoder.trainable = False
    return encoder, x


def test_a_basis_trained_then_frozen_runs_its_trained_kernel():
    """Freezing compares the kernel once (an optimizer may write without ``assign``): the
    trained kernel is no DFT, so the dense product of it runs, within float32 tolerance."""
    encoder, x = _trained_then_frozen()
    trained = ops.convert_to_numpy(encoder.filterbank.kernel)
    start = fb.Encoder(method="matmul", **CASES["fourier sqrt_hann 256/64"])
    start.build((None, None))
    assert not np.array_equal(trained, ops.convert_to_numpy(start.filterbank.kernel))
    assert encoder.filterbank.windowed_dft is None
    dense = fb.Encoder(method="matmul", **CASES["fourier sqrt_hann 256/64"])
    dense.build((None, None))
    dense.set_weights([trained])
    want = ops.convert_to_numpy(dense(x))
    assert np.abs(ops.convert_to_numpy(encoder(x)) - want).max() <= TOLERANCE * np.abs(want).max()


def test_a_trained_then_frozen_basis_round_trips_a_keras_file(tmp_path):
    """Loading builds the fixed basis as the DFT, then writes the trained kernel before any
    call: the loaded model gives the trained numbers (both the dense product of one weight)."""
    encoder, x = _trained_then_frozen()
    inputs = keras.Input((None,))
    model = keras.Model(inputs, encoder(inputs))
    want = ops.convert_to_numpy(model(x))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.layers[-1].filterbank.windowed_dft is None
    got = ops.convert_to_numpy(loaded(x))
    assert np.abs(got - want).max() <= TOLERANCE * np.abs(want).max()


def test_fit_keeps_a_fixed_log_mel_on_the_fft():
    """``fit`` with a fixed LogMel inside (JAX's trainer writes every variable back after
    its steps, the unchanged kernel included) trains and keeps the FFT."""
    x = _speech(0.25, batch=4)
    inputs = keras.Input((x.shape[1],))
    log_mel = frontends.LogMel(RATE)
    features = keras.layers.GlobalAveragePooling1D()(log_mel(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(features))
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, np.ones((4, 1), "float32"), epochs=2, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert log_mel.encoder.filterbank.windowed_dft is not None


def test_mixed_float16_is_at_least_as_exact_as_a_16_bit_output_allows():
    case = CASES["mel 400/160/512 centred"]
    x = _speech(0.25, batch=1)
    mixed = fb.Encoder(method="auto", dtype="mixed_float16", **case)
    assert mixed.method.name == "rfft"
    got = ops.convert_to_numpy(ops.cast(mixed(x), "float32")).astype("float64")
    frames = fb.frame(x.astype("float64"), 400, 160, center=True)
    want = (
        ops.convert_to_numpy(frames)
        @ WindowedDFT(mixed.filterbank.windowed_dft.window, 512).basis()
    )
    # float16 keeps 11 significant bits: half a unit in the last place is 2**-11 of a value.
    assert np.abs(got - want).max() <= 2.0**-11 * np.abs(want).max() * 1.5


def test_export_writes_the_matmul_it_equals():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("SavedModel and TFLite export run under TensorFlow")
    from framebank import export

    encoder = fb.Encoder(method="auto", **CASES["mel 400/160/512 centred"])
    x = _speech(0.25)
    want = ops.convert_to_numpy(encoder(x))
    assert encoder.method.name == "rfft"
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = export.export_tflite(encoder, Path(folder) / "m.tflite")
        got = export.run_tflite(path, x)
    assert np.abs(got - want).max() <= TOLERANCE * np.abs(want).max()
    # Outside export the FFT runs again.
    assert fb.methods.runnable(encoder.method, encoder.filterbank.windowed_dft) is encoder.method


@pytest.mark.parametrize(
    "make, family",
    [
        (lambda: fb.Encoder(8, 64, 16, method="rfft"), "free"),
        (lambda: frontends.LEAF(RATE, method="rfft"), "gabor"),
        (lambda: frontends.SincNet(RATE, method="rfft"), "sinc"),
    ],
)
def test_rfft_on_a_basis_that_is_never_a_windowed_dft_is_refused(make, family):
    """It would run its matmul fallback and be saved in the config as rfft."""
    with pytest.raises(ValueError, match=f"method='rfft'.*filterbank '{family}'.*'fourier'"):
        make()


def test_rfft_on_a_family_that_declares_the_dft_is_kept_even_while_it_trains():
    encoder = fb.Encoder(frame_len=64, hop=16, filterbank="fourier", method="rfft")
    assert encoder.method.name == "rfft" and encoder.filterbank.windowed_dft is None
    assert fb.Encoder(8, 64, 16, method="auto").method.name != "rfft"


# --------------------------------------------------------------------------- the decoder


@pytest.mark.parametrize("name", list(CASES))
def test_the_decoder_inverts_a_fixed_dft_through_the_inverse_fft_with_matmuls_numbers(name):
    """Tied (the transpose) and pinv (the weighted pseudo-inverse, in closed form) decoders
    of a fixed windowed DFT run ``irfft``; their waveform is the dense product's within the
    same tolerance (float32 sums of ``num_basis`` products against an FFT)."""
    encoder = fb.Encoder(method="matmul", **CASES[name])
    x = _speech(0.5)
    coefficients = encoder(x)
    for kind in ("tied", "pinv"):
        fast = fb.Decoder(encoder, kind=kind)
        dense = fb.Decoder(encoder, kind=kind, method="matmul")
        assert fast.method.name == "rfft" and fast.get_config()["method"] == "rfft"
        want = ops.convert_to_numpy(dense(coefficients, length=x.shape[1]))
        got = ops.convert_to_numpy(fast(coefficients, length=x.shape[1]))
        assert np.abs(got - want).max() <= TOLERANCE * np.abs(want).max(), kind


@pytest.mark.parametrize("kind, tolerance", [("tied", TOLERANCE), ("pinv", 1e-3)])
def test_the_decoders_gradient_agrees(kind, tolerance):
    """pinv: 1e-3 relative, the issue's bound for gradients. The dense pseudo-inverse (a
    float32 SVD) drops the directions of a Hann window's first samples (6e-5 of its peak,
    at its rcond of 514 eps) that the closed form keeps; the forward weights them by the
    squared window, but the last frame's gradient, divided by the one frame's weight that
    covers the signal's end, shows them (8.6e-5 of the largest gradient, measured)."""
    encoder = fb.Encoder(method="matmul", **CASES["mel 400/160/512 centred"])
    coefficients = ops.convert_to_numpy(encoder(_speech(0.25)))
    grads = []
    for method in ("rfft", "matmul"):
        decoder = fb.Decoder(encoder, kind=kind, method=method)
        grads.append(
            value_and_grads(lambda c, d=decoder: ops.sum(ops.square(d(c))), [coefficients])[1][0]
        )
    scale = np.abs(grads[1]).max()
    assert np.abs(grads[0] - grads[1]).max() <= tolerance * scale


def test_the_decoder_keeps_the_dense_path_where_the_basis_is_not_a_fixed_dft():
    trainable = fb.Encoder(frame_len=64, hop=16, filterbank="fourier")
    assert fb.Decoder(trainable, kind="tied").method.name == "matmul"
    assert fb.Decoder(fb.Encoder(8, 64, 16), kind="pinv").method.name == "matmul"
    assert fb.Decoder(num_basis=8, frame_len=64, hop=16, kind="free").method.name == "matmul"


def test_the_decoder_follows_an_edited_weight():
    """A weight written with other values before the FFT ran is inverted by the dense
    product, not the FFT."""
    encoder = fb.Encoder(method="matmul", **CASES["fourier sqrt_hann 256/64"])
    x = _speech(0.25)
    coefficients = encoder(x)
    kernel = encoder.filterbank.kernel
    kernel.assign(ops.convert_to_numpy(kernel) * 1.01)
    fast = fb.Decoder(encoder, kind="tied", method="rfft")
    dense = fb.Decoder(encoder, kind="tied", method="matmul")
    want = ops.convert_to_numpy(dense(coefficients))
    got = ops.convert_to_numpy(fast(coefficients))
    assert np.abs(got - want).max() <= TOLERANCE * np.abs(want).max()


def test_the_decoders_fft_refuses_a_later_edit_of_the_encoder():
    """The decoder's inverse FFT runs the encoder's description: the same refusal after it."""
    encoder = fb.Encoder(method="matmul", **CASES["fourier sqrt_hann 256/64"])
    coefficients = encoder(_speech(0.25))
    fb.Decoder(encoder, kind="tied")(coefficients)
    with pytest.raises(ValueError, match="already ran through its description"):
        encoder.filterbank.kernel.assign(ops.convert_to_numpy(encoder.filterbank.kernel) * 1.01)
