"""Framing: equal to tf.signal's frame / overlap_and_add, exact windowed inverse, clear errors."""

import keras
import numpy as np
import pytest
from helpers import np_frame, np_overlap_add, value_and_grads
from hypothesis import given
from hypothesis import strategies as st
from keras import ops

import framebank as fb


@st.composite
def framing_case(draw):
    frame_len = draw(st.integers(1, 64))
    hop = draw(st.integers(1, 2 * frame_len))
    pad_end = draw(st.booleans())
    low = 1 if pad_end else frame_len
    time = draw(st.integers(low, frame_len + 6 * hop))
    batch = draw(st.integers(1, 3))
    return batch, time, frame_len, hop, pad_end


@given(framing_case(), st.sampled_from([0.0, -1.5]))
def test_frame_equals_reference(case, pad_value):
    batch, time, frame_len, hop, pad_end = case
    x = np.random.default_rng(time).standard_normal((batch, time)).astype("float32")
    got = ops.convert_to_numpy(fb.frame(x, frame_len, hop, pad_end=pad_end, pad_value=pad_value))
    np.testing.assert_array_equal(got, np_frame(x, frame_len, hop, pad_end, pad_value))


@given(framing_case())
def test_frame_equals_tf_signal_frame(case):
    tf = pytest.importorskip("tensorflow")
    batch, time, frame_len, hop, pad_end = case
    x = np.random.default_rng(time).standard_normal((batch, time)).astype("float32")
    got = ops.convert_to_numpy(fb.frame(x, frame_len, hop, pad_end=pad_end))
    want = tf.signal.frame(x, frame_len, hop, pad_end=pad_end).numpy()
    np.testing.assert_array_equal(got, want)


@given(st.integers(1, 64), st.integers(1, 8), st.data())
def test_overlap_add_equals_tf_signal(frame_len, count, data):
    tf = pytest.importorskip("tensorflow")
    hop = data.draw(st.integers(1, 2 * frame_len))
    frames = np.random.default_rng(frame_len).standard_normal((2, count, frame_len))
    frames = frames.astype("float32")
    got = ops.convert_to_numpy(fb.overlap_add(frames, hop))
    want = tf.signal.overlap_and_add(frames, hop).numpy()
    assert got.shape == (2, (count - 1) * hop + frame_len)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got, np_overlap_add(frames, hop), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "frame_len,hop,window",
    [
        (256, 64, "hann"),
        (400, 160, "hann"),  # w[1]**2 = 3.8e-9: sample 1 came back as 0 under a 1e-8 cut-off
        (400, 160, "hamming"),
        (32, 16, "hann"),
        (80, 80, "boxcar"),
        (64, 48, "hann"),
        (16, 5, "blackman"),
    ],
)
def test_windowed_overlap_add_inverts_frame(frame_len, hop, window):
    import scipy.signal

    w = scipy.signal.get_window(window, frame_len).astype("float32")
    x = np.random.default_rng(0).standard_normal((2, 4000)).astype("float32")
    frames = fb.frame(x, frame_len, hop) * w
    y = ops.convert_to_numpy(fb.overlap_add(frames, hop, window=w))
    # Fully covered region: from the first frame's first non-zero window sample
    # to the end of the last frame.
    end = y.shape[-1]
    start = int(np.argmax(w > 0))
    err = np.max(np.abs(y[:, start:end] - x[:, start:end]))
    assert err < 1e-5, err


def test_overlap_add_layer_with_window_round_trips_config():
    w = np.hanning(32)
    layer = fb.OverlapAdd(8, window=w)
    again = fb.OverlapAdd.from_config(layer.get_config())
    frames = np.random.default_rng(1).standard_normal((1, 10, 32)).astype("float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(frames)), ops.convert_to_numpy(again(frames)), atol=0
    )


def test_center_matches_librosa_frames():
    librosa = pytest.importorskip("librosa")
    x = np.random.default_rng(3).standard_normal(1000).astype("float32")
    frame_len, hop = 64, 16
    padded = np.pad(x, frame_len // 2)  # librosa.stft(center=True, pad_mode="constant")
    want = librosa.util.frame(padded, frame_length=frame_len, hop_length=hop).T
    got = ops.convert_to_numpy(fb.frame(x, frame_len, hop, center=True))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("length", [33, 1000])  # 33: the least that mirrors 32 samples
def test_center_reflect_is_numpys_reflect_padding_then_frames(length):
    x = np.random.default_rng(4).standard_normal((2, length)).astype("float32")
    frame_len, hop = 64, 16
    padded = np.pad(x, [(0, 0), (32, 32)], mode="reflect")  # librosa's, torch.stft's
    count = 1 + (padded.shape[1] - frame_len) // hop
    want = np.stack([padded[:, f * hop : f * hop + frame_len] for f in range(count)], axis=1)
    got = fb.frame(x, frame_len, hop, center=True, pad_mode="reflect")
    np.testing.assert_array_equal(ops.convert_to_numpy(got), want)
    layer = fb.Framing(frame_len, hop, center=True, pad_mode="reflect")
    again = fb.Framing.from_config(layer.get_config())
    assert again.pad_mode == "reflect"
    np.testing.assert_array_equal(ops.convert_to_numpy(again(x)), want)
    assert again.compute_output_shape(x.shape) == want.shape


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pad_mode": "edge"}, "'constant'.*'reflect'.*pad_mode='edge'"),
        ({"pad_mode": None}, "pad_mode=None"),
        ({"signal": np.zeros((1, 32))}, "pad_mode='reflect'.*at least 33 samples.*32"),
    ],
)
def test_pad_mode_is_checked_before_framing(kwargs, match):
    call = {"signal": np.zeros((1, 100)), "frame_len": 64, "hop": 16, "center": True}
    call.update({"pad_mode": "reflect", **kwargs})
    with pytest.raises(ValueError, match=match):
        fb.frame(**call)
    if "signal" not in kwargs:
        with pytest.raises(ValueError, match=match):
            fb.Framing(64, 16, center=True, pad_mode=kwargs["pad_mode"])


def test_ranks_and_dtypes():
    x = np.arange(20, dtype="int32")
    one = ops.convert_to_numpy(fb.frame(x, 4, 2))
    assert one.shape == (9, 4) and one.dtype == np.float32
    batched = ops.convert_to_numpy(fb.frame(x[None, :, None], 4, 2))
    np.testing.assert_array_equal(batched[0], one)
    assert one.max() == 19 / 2**31  # int32 PCM, divided by its full scale
    with pytest.raises(TypeError, match="dtype=bool"):
        fb.frame(np.ones(8, bool), 4, 4)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"signal": np.zeros(10), "frame_len": 16, "hop": 4}, ValueError, "shorter than one frame"),
        ({"signal": np.zeros(10), "frame_len": 4, "hop": 0}, ValueError, "hop=0"),
        ({"signal": np.zeros(10), "frame_len": 0, "hop": 1}, ValueError, "frame_len=0"),
        ({"signal": np.zeros(10), "frame_len": 4.0, "hop": 1}, TypeError, "frame_len=4.0"),
        ({"signal": np.zeros(10), "frame_len": 4, "hop": -2}, ValueError, "hop=-2"),
        ({"signal": np.zeros((2, 3, 10)), "frame_len": 4, "hop": 1}, ValueError, "mono"),
        ({"signal": np.zeros((1, 2, 3, 4)), "frame_len": 4, "hop": 1}, ValueError, "rank 4"),
        ({"signal": np.zeros(10, complex), "frame_len": 4, "hop": 1}, TypeError, "complex"),
        (
            {"signal": np.zeros((2, 0)), "frame_len": 4, "hop": 1, "pad_end": True},
            ValueError,
            "empty",
        ),
        ({"signal": np.zeros(10), "frame_len": 4, "hop": 1, "pad_end": "no"}, TypeError, "'no'"),
        ({"signal": np.zeros(10), "frame_len": 4, "hop": 1, "center": 0}, TypeError, "center=0"),
        ({"signal": np.zeros(10), "frame_len": 4, "hop": 1, "pad_value": "0"}, TypeError, "'0'"),
    ],
)
def test_bad_input_raises(kwargs, error, match):
    with pytest.raises(error, match=match):
        fb.frame(**kwargs)


def test_overlap_add_bad_input():
    with pytest.raises(ValueError, match="rank 4"):
        fb.overlap_add(np.zeros((1, 2, 3, 4)), 2)
    with pytest.raises(ValueError, match="hop=0"):
        fb.overlap_add(np.zeros((1, 2, 3)), 0)
    with pytest.raises(ValueError, match="window.shape"):
        fb.overlap_add(np.zeros((1, 2, 8)), 2, window=np.ones(7))
    with pytest.raises(TypeError, match="frames.dtype=complex"):  # it dropped the imaginary part
        fb.overlap_add(np.ones((1, 2, 8), complex), 2)


def _frame_adjoint(upstream: np.ndarray, time: int, hop: int) -> np.ndarray:
    """The gradient of framing: the upstream frames overlap-added, cut to ``time``."""
    summed = np_overlap_add(upstream, hop)
    out = np.zeros(upstream.shape[:1] + (time,), upstream.dtype)
    keep = min(time, summed.shape[-1])
    out[:, :keep] = summed[:, :keep]
    return out


@given(framing_case())
def test_frame_gradient_is_overlap_add(case):
    batch, time, frame_len, hop, pad_end = case
    x = np.random.default_rng(time).standard_normal((batch, time)).astype("float32")
    count = np_frame(x, frame_len, hop, pad_end).shape[1]
    upstream = np.random.default_rng(hop).standard_normal((batch, count, frame_len))
    upstream = upstream.astype("float32")

    def loss(signal):
        return ops.sum(fb.frame(signal, frame_len, hop, pad_end=pad_end) * upstream)

    _, (grad,), _ = value_and_grads(loss, [x])
    want = _frame_adjoint(upstream, time, hop)
    np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the overlap-add gradient is TensorFlow's"
)
@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("frame_len,hop", [(400, 160), (24, 6), (5, 7), (40, 2)])
def test_frame_gradient_in_compiled_function_with_unknown_length(jit_compile, frame_len, hop):
    # The frame count is a tensor here, so the gradient's length fitting runs its
    # dynamic branch, in graph mode and under XLA.
    tf = pytest.importorskip("tensorflow")

    @tf.function(jit_compile=jit_compile, input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def grad_of(signal):
        with tf.GradientTape() as tape:
            tape.watch(signal)
            frames = fb.frame(signal, frame_len, hop)
            value = ops.sum(ops.square(frames)) * 0.5
        return frames, tape.gradient(value, signal)

    for time in (frame_len + 3 * hop + 2, frame_len):
        x = np.random.default_rng(time).standard_normal((2, time)).astype("float32")
        frames, grad = (t.numpy() for t in grad_of(tf.constant(x)))
        np.testing.assert_allclose(grad, _frame_adjoint(frames, time, hop), rtol=1e-5, atol=1e-5)
    # The gradient is the overlap-add, not the gather's own scatter (slower under
    # TensorFlow), unless a frame spans many hops (then the overlap-add is slower).
    graph_ops = {op.type for op in grad_of.get_concrete_function().graph.get_operations()}
    many_hops = -(-frame_len // hop) > fb.framing.OVERLAP_ADD_GRADIENT_SEGMENTS
    assert ("UnsortedSegmentSum" in graph_ops) == many_hops, sorted(graph_ops)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="only TensorFlow runs dynamic lengths"
)
@pytest.mark.parametrize("frame_len,hop", [(24, 6), (5, 7), (16, 16), (8, 1)])
def test_zero_frames_of_a_dynamic_length_keep_the_batch(frame_len, hop):
    # A dynamic length shorter than one frame: zero frames, not an error nor a lost batch.
    tf = pytest.importorskip("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def run(signal):
        with tf.GradientTape() as tape:
            tape.watch(signal)
            frames = fb.frame(signal, frame_len, hop)
            value = ops.sum(ops.square(frames))
        return frames, tape.gradient(value, signal), fb.overlap_add(frames, hop)

    frames, grad, joined = run(tf.ones((3, frame_len - 1)))
    assert tuple(frames.shape) == (3, 0, frame_len)
    np.testing.assert_array_equal(grad.numpy(), np.zeros((3, frame_len - 1), "float32"))
    assert joined.shape[0] == 3 and not np.any(joined.numpy())


def test_frame_on_a_symbolic_input():
    for frame_len, hop in ((16, 4), (5, 7), (16, 16)):
        frames = fb.frame(keras.Input((64,)), frame_len, hop)
        assert tuple(frames.shape) == (None, 1 + (64 - frame_len) // hop, frame_len)


def test_framing_layer_in_functional_model_with_unknown_length():
    inputs = keras.Input((None,))
    outputs = fb.Framing(16, 8, pad_end=True)(inputs)
    assert tuple(outputs.shape) == (None, None, 16)
    model = keras.Model(inputs, outputs)
    for time in (100, 37):
        x = np.random.default_rng(time).standard_normal((3, time)).astype("float32")
        got = ops.convert_to_numpy(model(x))
        np.testing.assert_array_equal(got, np_frame(x, 16, 8, pad_end=True))
    assert fb.Framing(16, 8).compute_output_shape((4, 100)) == (4, 11, 16)
    again = fb.Framing.from_config(fb.Framing(16, 8, center=True).get_config())
    assert again.center and again.frame_len == 16
