"""Every method computes the same map: outputs and gradients equal a float64 reference."""

import numpy as np
import pytest
from helpers import assert_close_rel, methods_for, np_frame, np_overlap_add, value_and_grads
from hypothesis import example, given
from hypothesis import strategies as st
from keras import ops

import framebank as fb

FRAME_METHODS = [name for name, cls in fb.METHODS.items() if cls.needs_frames]
ALL_METHODS = methods_for("free")  # the encoders here are free
RTOL = 1e-5


@st.composite
def projection_case(draw):
    frame_len = draw(st.integers(1, 512))
    hop = draw(st.integers(1, 2 * frame_len))
    num_basis = draw(st.integers(1, 512))
    batch = draw(st.integers(1, 4))
    count = draw(st.integers(1, 6))
    extra = draw(st.integers(0, hop - 1))
    pad_end = draw(st.booleans())
    time = (count - 1) * hop + frame_len + extra
    return batch, time, frame_len, hop, num_basis, pad_end


def _data(batch, time, frame_len, num_basis, seed):
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((batch, time)).astype("float32")
    basis = rng.standard_normal((frame_len, num_basis)).astype("float32") / np.sqrt(frame_len)
    return signal, basis


@pytest.mark.parametrize("method", ALL_METHODS)
@given(case=projection_case())
def test_encoder_matches_float64_reference(method, case):
    batch, time, frame_len, hop, num_basis, pad_end = case
    signal, basis = _data(batch, time, frame_len, num_basis, seed=time + num_basis)
    encoder = fb.Encoder(num_basis, frame_len, hop, method=method, pad_end=pad_end)
    encoder.build((batch, time))
    encoder.set_weights([basis])

    frames64 = np_frame(signal.astype("float64"), frame_len, hop, pad_end=pad_end)
    want = frames64 @ basis.astype("float64")
    upstream = np.random.default_rng(1).standard_normal(want.shape).astype("float32")

    def loss(x):
        return ops.sum(encoder(x) * upstream)

    got = ops.convert_to_numpy(encoder(signal))
    b64, up64 = basis.astype("float64"), upstream.astype("float64")
    # Tolerances relative to the sums of absolute products (see assert_close_rel).
    out_scale = np.max(np.abs(frames64) @ np.abs(b64))
    assert_close_rel(got, want, RTOL, f"{method} output", scale=out_scale)

    _, (grad_x,), (grad_basis,) = value_and_grads(loss, [signal], encoder.trainable_variables)
    want_basis = np.einsum("bfl,bfn->ln", frames64, up64)
    basis_scale = np.max(np.einsum("bfl,bfn->ln", np.abs(frames64), np.abs(up64)))
    assert_close_rel(grad_basis, want_basis, RTOL, f"{method} kernel gradient", basis_scale)
    grad_frames = up64 @ b64.T
    want_x = np_overlap_add(grad_frames, hop)
    x_scale = np.max(np_overlap_add(np.abs(up64) @ np.abs(b64).T, hop))
    full = np.zeros(signal.shape, "float64")
    n = min(full.shape[1], want_x.shape[1])  # pad_end frames reach past the signal
    full[:, :n] = want_x[:, :n]
    assert_close_rel(grad_x, full, RTOL, f"{method} input gradient", x_scale)


@pytest.mark.parametrize("method", FRAME_METHODS)
@given(
    frame_len=st.integers(1, 512),
    num_basis=st.integers(1, 512),
    batch=st.integers(1, 4),
    count=st.integers(1, 8),
)
# A one-vector basis whose products nearly cancel: once failed a tolerance scaled by the output.
@example(frame_len=122, num_basis=1, batch=1, count=1)
def test_frame_projection_matches_float64_reference(method, frame_len, num_basis, batch, count):
    rng = np.random.default_rng(frame_len * 1000 + num_basis)
    frames = rng.standard_normal((batch, count, frame_len)).astype("float32")
    basis = rng.standard_normal((frame_len, num_basis)).astype("float32")
    bias = rng.standard_normal(num_basis).astype("float32")
    layer = fb.FrameProjection(num_basis, method=method, use_bias=True)
    layer.build(frames.shape)
    layer.set_weights([basis, bias])
    want = frames.astype("float64") @ basis.astype("float64") + bias
    abs_scale = np.max(np.abs(frames.astype("float64")) @ np.abs(basis) + np.abs(bias))
    got = ops.convert_to_numpy(layer(frames))
    assert_close_rel(got, want, RTOL, f"{method} output", scale=abs_scale)

    upstream = rng.standard_normal(want.shape).astype("float32")

    def loss(x):
        return ops.sum(layer(x) * upstream)

    _, (grad_frames,), (grad_basis, grad_bias) = value_and_grads(
        loss, [frames], layer.trainable_variables
    )
    up64 = upstream.astype("float64")
    f64, b64 = frames.astype("float64"), basis.astype("float64")
    assert_close_rel(
        grad_frames,
        up64 @ b64.T,
        RTOL,
        "frames gradient",
        scale=np.max(np.abs(up64) @ np.abs(b64).T),
    )
    assert_close_rel(
        grad_basis,
        np.einsum("bfl,bfn->ln", f64, up64),
        RTOL,
        "kernel grad",
        scale=np.max(np.einsum("bfl,bfn->ln", np.abs(f64), np.abs(up64))),
    )
    assert_close_rel(grad_bias, up64.sum(axis=(0, 1)), RTOL, "bias gradient")


def test_methods_really_run_their_own_op():
    """Conv methods must call a convolution, the others a matmul: the point is to compare them."""
    calls = []
    real_conv, real_matmul = ops.conv, ops.matmul

    def conv(*args, **kwargs):
        calls.append("conv")
        return real_conv(*args, **kwargs)

    def matmul(*args, **kwargs):
        calls.append("matmul")
        return real_matmul(*args, **kwargs)

    real_rfft = ops.rfft

    def rfft(*args, **kwargs):
        calls.append("rfft")
        return real_rfft(*args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(fb.methods.ops, "conv", conv)
    mp.setattr(fb.methods.ops, "matmul", matmul)
    mp.setattr(fb.methods.ops, "rfft", rfft)
    try:
        ops_used = {}
        for method in ALL_METHODS:
            calls.clear()
            fb.Encoder(8, 16, 8, method=method)(np.zeros((1, 64), "float32"))
            ops_used[method] = list(calls)
    finally:
        mp.undo()
    assert ops_used == {
        "reshape_conv": ["conv"],
        "pointwise_conv": ["conv"],
        "strided_conv": ["conv"],
        "dense": ["matmul"],
        "matmul": ["matmul"],
        "fft_conv": ["rfft", "rfft"],  # the signal's and the basis's transforms
    }


def test_registry_and_errors():
    assert set(fb.METHODS) >= {"reshape_conv", "pointwise_conv", "dense", "matmul", "strided_conv"}
    with pytest.raises(ValueError, match="Unknown method 'conv2d'.*dense"):
        fb.get_method("conv2d")
    with pytest.raises(TypeError, match="method=3"):
        fb.get_method(3)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_a_length_known_only_at_run_time_gives_the_right_frames(method):
    """TensorFlow with an unknown time axis (a SavedModel's signature): a signal shorter than
    one frame gives [batch, 0, num_basis], as tf.signal.frame gives zero frames (a static
    length raises instead); strided_conv returned its input and pointwise_conv
    [batch, 0, frame_len] there before."""
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("only TensorFlow traces a time axis of unknown length")
    import tensorflow as tf

    encoder = fb.Encoder(4, 8, 3, method=method)
    encoder.build((None, None))
    dynamic = tf.function(encoder.call, input_signature=[tf.TensorSpec([None, None], "float32")])
    projection = fb.FrameProjection(
        4, method=method if fb.METHODS[method].needs_frames else "matmul"
    )
    projection.build((None, None, 8))
    frames_in = tf.function(
        projection.call, input_signature=[tf.TensorSpec([None, None, 8], "float32")]
    )
    assert tuple(frames_in(np.ones((2, 0, 8), "float32")).shape) == (2, 0, 4)
    framed = tf.function(
        lambda x: fb.frame(x, 8, 3), input_signature=[tf.TensorSpec([None, None], "float32")]
    )
    for time in (1, 5, 7, 8, 11, 14):
        x = np.arange(2 * time, dtype="float32").reshape(2, time)
        want = tf.signal.frame(x, 8, 3)  # zero frames below 8 samples
        np.testing.assert_array_equal(ops.convert_to_numpy(framed(x)), want.numpy())
    for time in (1, 5, 7, 8, 11, 14):
        x = np.random.default_rng(time).standard_normal((2, time)).astype("float32")
        got = ops.convert_to_numpy(dynamic(x))
        assert got.shape == (2, max(0, 1 + (time - 8) // 3), 4), (time, got.shape)
        if time >= 8:
            assert_close_rel(got, ops.convert_to_numpy(encoder(x)), 1e-6)


@pytest.mark.skipif(
    __import__("keras").backend.backend() == "torch", reason="the warning is for XLA backends"
)
@pytest.mark.parametrize("frame_len,hop", [(401, 1), (64, 32)])
def test_the_reshape_conv_warning_names_what_auto_picks_for_that_layer(frame_len, hop):
    from framebank.methods import resolve_method

    pick = resolve_method("auto", frame_len, hop, 8)
    with pytest.warns(UserWarning, match=f"method='{pick}' \\(what method='auto' picks"):
        fb.Encoder(8, frame_len, hop, method="reshape_conv")


def test_a_predicate_with_a_value_runs_only_its_branch():
    # JAX's cond outside jit traces both branches at every eager call (and compiles them): an
    # evaluation loop calling LEAF eagerly recompiled its stride-1 fallback at every batch.
    from framebank.methods import known_cond

    ran = []

    def branch(name, value):
        def run():
            ran.append(name)
            return ops.full((), value)

        return run

    for predicate, expected in ((True, 1.0), (False, 0.0)):
        ran.clear()
        out = known_cond(ops.convert_to_tensor(predicate), branch("t", 1.0), branch("f", 0.0))
        assert float(ops.convert_to_numpy(out)) == expected
        assert ran == ["t" if predicate else "f"]


def test_a_tensor_has_a_value_eagerly_and_none_while_traced():
    # known_cond and the pinv decoder's cache ask the same question: has this tensor a value
    # now? Eager tensors do; a KerasTensor, a functional model's trace (a TensorFlow graph
    # placeholder, a JAX tracer, a torch meta tensor) and a compiled step do not.
    import keras

    from framebank.methods import value_now

    seen = {}

    class Probe(keras.layers.Layer):
        def call(self, x):
            seen.setdefault(self.name, value_now(x))
            return x

    eager = ops.convert_to_tensor(np.array([[1.5, -2.0]], np.float32))
    np.testing.assert_array_equal(value_now(eager), [[1.5, -2.0]])
    assert value_now(keras.KerasTensor((1, 2))) is None
    inputs = keras.Input((2,))
    model = keras.Model(inputs, Probe(name="probe")(inputs))
    assert seen.pop("probe") is None  # the functional model's trace
    model.predict(np.ones((1, 2), np.float32), verbose=0)
    compiled = keras.backend.backend() in ("tensorflow", "jax")  # torch's predict is eager
    assert (seen["probe"] is None) == compiled


def test_a_real_error_is_not_taken_for_a_traced_tensor():
    from framebank.methods import value_now

    class Broken:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("device lost")

    with pytest.raises(RuntimeError, match="device lost"):
        value_now(Broken())


def _fourier_case(frame_len: int, hop: int) -> tuple:
    """A fixed Fourier basis (one every method runs, ``rfft`` through its structure)."""
    encoder = fb.Encoder(filterbank="fourier", frame_len=frame_len, hop=hop, trainable=False)
    encoder.build((2, 4 * frame_len))
    structure = encoder.filterbank.windowed_dft
    return ops.convert_to_tensor(structure.basis(), "float32"), structure


@pytest.mark.parametrize("method", sorted(fb.METHODS))
@pytest.mark.parametrize("time", [0, 1, 7])
def test_no_frame_gives_batch_by_0_by_num_basis_from_every_method(method, time):
    """A framed method's [batch, 0, frame_len], a frame-free one's signal shorter than one
    frame (its structured path too) give [batch, 0, num_basis]: strided_conv returned its
    input under TensorFlow and raised under JAX and torch, rfft's FFT raised under JAX and
    torch, and a static frame count of 0 sliced samples it did not use."""
    frame_len, hop = 8, 3
    basis, structure = _fourier_case(frame_len, hop)
    chosen = fb.METHODS[method]()
    want = (2, 0, basis.shape[1])
    signal = ops.convert_to_tensor(np.ones((2, time), "float32"))
    if chosen.needs_frames:
        outs = [chosen.project(ops.zeros((2, 0, frame_len)), basis)]
    else:
        outs = [chosen.project_signal(signal, basis, hop)]
    if chosen.structure:
        outs.append(chosen.project_structured(signal, basis, structure, hop))
    for out in outs:
        assert tuple(out.shape) == want and ops.convert_to_numpy(out).dtype == np.float32


@pytest.mark.filterwarnings("ignore:method='reshape_conv'")
@pytest.mark.parametrize("method", sorted(fb.METHODS))
@pytest.mark.parametrize("time", [0, 7])
def test_an_encoder_refuses_a_signal_shorter_than_one_frame_whatever_its_method(method, time):
    """The layer's one rule, before any method runs: a ValueError saying why."""
    encoder = fb.Encoder(filterbank="fourier", frame_len=8, hop=3, trainable=False, method=method)
    with pytest.raises(ValueError, match="shorter than one frame|empty signal"):
        encoder(np.ones((2, time), "float32"))


def _encoder_of(method, **kwargs):
    """An encoder that takes ``method``: a Fourier basis for a method that needs its structure."""
    if fb.METHODS[method].structure is not None:
        return fb.Encoder(filterbank="fourier", num_basis=10, frame_len=8, hop=3, method=method)
    return fb.Encoder(filterbank="free", num_basis=10, frame_len=8, hop=3, method=method)


@pytest.mark.filterwarnings("ignore:method='reshape_conv'")
@pytest.mark.parametrize("method", sorted(fb.METHODS))
def test_a_length_unknown_at_trace_time_keeps_the_static_batch_and_num_basis(method):
    """fft_conv's slices lost the channel count under a TensorFlow trace of unknown length
    ([None, None, None]), so a LayerNormalization after it failed in predict and fit."""
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("only TensorFlow traces a time axis of unknown length")
    import tensorflow as tf

    encoder = _encoder_of(method)
    for spec in ([None, None], [3, None]):
        traced = tf.function(encoder, input_signature=[tf.TensorSpec(spec, "float32")])
        shape = traced.get_concrete_function().structured_outputs.shape
        assert tuple(shape) == (spec[0], None, 10), (spec, shape)
    # A model built on an unknown length, fed two lengths (a new one retraces).
    inputs = keras.Input((None,))
    model = keras.Model(inputs, keras.layers.LayerNormalization()(_encoder_of(method)(inputs)))
    for time in (40, 57):
        x = np.random.default_rng(time).standard_normal((2, time)).astype("float32")
        assert model.predict(x, verbose=0).shape == (2, 1 + (time - 8) // 3, 10)


def test_sincnet_in_a_model_of_unknown_length_predicts_at_two_lengths():
    """SincNet runs fft_conv: its LayerNormalization needs the static channel count."""
    keras = pytest.importorskip("keras")
    inputs = keras.Input((None,))
    frontend = fb.frontends.SincNet(sample_rate=8000)
    pooled = keras.layers.GlobalAveragePooling1D()(frontend(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(pooled))
    rng = np.random.default_rng(0)
    for time in (4000, 1234):
        x = rng.uniform(-0.3, 0.3, (2, time)).astype("float32")
        out = model.predict(x, verbose=0)
        assert out.shape == (2, 3) and np.all(np.isfinite(out))
