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


def test_the_weight_is_the_model_even_when_edited():
    """A fixed basis whose weight was assigned another value gives that weight's product."""
    fast, dense = _pair(CASES["mel 400/160/512 centred"])
    x = _speech(0.25, batch=1)
    fast(x), dense(x)
    rng = np.random.default_rng(0)
    edited = ops.convert_to_numpy(fast.filterbank.kernel)
    edited = edited + 0.01 * rng.standard_normal(edited.shape).astype("float32")
    fast.filterbank.kernel.assign(edited)
    dense.filterbank.kernel.assign(edited)
    want = ops.convert_to_numpy(dense(x))
    got = ops.convert_to_numpy(fast(x))
    assert np.abs(got - want).max() <= TOLERANCE * np.abs(want).max()


def test_one_edited_entry_is_enough_to_leave_the_fft():
    """The check is exact: one entry of a fixed weight moved (one unit in the last place, or
    by much) is no longer the DFT, and the weight's own product runs."""
    fast, dense = _pair(CASES["fourier sqrt_hann 256/64"])
    x = _speech(0.25, batch=1)
    fast(x), dense(x)
    kernel = ops.convert_to_numpy(fast.filterbank.kernel)
    nudged = kernel.copy()
    nudged[100, 7] = np.nextafter(nudged[100, 7], np.float32(np.inf))
    basis = ops.convert_to_tensor(kernel)
    definition = fast.filterbank.windowed_dft.basis()
    assert bool(ops.convert_to_numpy(fb.methods._is_exactly(basis, definition)))
    assert not bool(
        ops.convert_to_numpy(fb.methods._is_exactly(ops.convert_to_tensor(nudged), definition))
    )
    moved = kernel.copy()
    moved[100, 7] += 10.0
    fast.filterbank.kernel.assign(moved)
    dense.filterbank.kernel.assign(moved)
    want = ops.convert_to_numpy(dense(x))
    assert np.abs(ops.convert_to_numpy(fast(x)) - want).max() <= TOLERANCE * np.abs(want).max()


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


def test_the_rfft_weight_checks_branches_agree_in_dtype_under_mixed_float16(monkeypatch):
    """Traced, the weight check is a cond between the FFT and the matmul; under a 16-bit
    policy both branches run in float32 and the result is cast once to the compute dtype.
    With a float16 matmul against a float32 FFT, TensorFlow's graph type inference printed
    a dump on every model that trained a LogMel. Asserted here on framebank's own values:
    the branches' dtypes and shapes, and the result's."""
    branches = []
    cond = keras.ops.cond

    def recording(predicate, true_fn, false_fn):
        branches.append([(keras.backend.standardize_dtype(y.dtype), tuple(y.shape))
                         for y in (true_fn(), false_fn())])  # fmt: skip
        return cond(predicate, true_fn, false_fn)

    monkeypatch.setattr(keras.ops, "cond", recording)
    case = CASES["mel 400/160/512 centred"]
    mixed = fb.Encoder(method="rfft", dtype="mixed_float16", **case)
    # An unknown length: the check has no value while traced, so it stays a cond.
    model = keras.Sequential([keras.Input((None,)), mixed])
    x = _speech(0.25)
    got = model.predict(x, verbose=0)
    want = ops.convert_to_numpy(fb.Encoder(method="matmul", **case)(x))
    assert keras.backend.standardize_dtype(got.dtype) == "float16"
    assert got.shape == want.shape and np.all(np.isfinite(got))
    if keras.backend.backend() == "torch":
        assert not branches  # torch's predict runs eagerly: the check has a value, one branch
        return
    assert branches, "the traced call ran no weight check"
    for branch in branches:
        (true_dtype, true_shape), (false_dtype, false_shape) = branch
        assert true_dtype == false_dtype == "float32" and true_shape == false_shape


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
    """A weight that is no longer the DFT is inverted by the dense product, not the FFT."""
    encoder = fb.Encoder(method="matmul", **CASES["fourier sqrt_hann 256/64"])
    x = _speech(0.25)
    coefficients = encoder(x)
    kernel = encoder.filterbank.kernel
    kernel.assign(ops.convert_to_numpy(kernel) * 1.01)
    fast = fb.Decoder(encoder, kind="tied")
    dense = fb.Decoder(encoder, kind="tied", method="matmul")
    want = ops.convert_to_numpy(dense(coefficients))
    got = ops.convert_to_numpy(fast(coefficients))
    assert np.abs(got - want).max() <= TOLERANCE * np.abs(want).max()
