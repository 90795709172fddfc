"""PCEN: the parallel smoother against a sequential float64 loop, the layer against librosa.pcen
on real speech and against the formula with per-channel parameters, chunked use with carried
state, gradients at the extremes, and the parameters' ranges."""

import keras
import librosa
import numpy as np
import pytest
from helpers import assert_close_rel, value_and_grads
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops
from keras.ops import convert_to_numpy as to_numpy

from framebank.audio import load_audio, read_manifest
from framebank.postprocessing import PCEN, exponential_moving_average
from framebank.postprocessing.pcen import MIN_DELTA, MIN_SMOOTH_COEF

SR, N_FFT, HOP, N_MELS = 8000, 256, 80, 40


def smoother_reference(x, smooth_coef, initial_state):
    """M[t] = s x[t] + (1 - s) M[t - 1], one frame at a time, in float64."""
    x = np.asarray(x, "float64")
    s = np.asarray(smooth_coef, "float64")
    state = np.asarray(initial_state, "float64")
    out = np.empty_like(x)
    for t in range(x.shape[1]):
        state = s * x[:, t] + (1 - s) * state
        out[:, t] = state
    return out


def pcen_reference(x, alpha, delta, root, smooth_coef, floor, initial_state):
    """The PCEN formula as written (no log space), float64, parameters per channel."""
    smoother = smoother_reference(x, smooth_coef, initial_state)
    x = np.asarray(x, "float64")
    return (x / (floor + smoother) ** alpha + delta) ** (1 / root) - delta ** (1 / root)


def _energies(batch, frames, channels, seed=0, scale=100.0):
    """Non-negative, with the spread of magnitudes energies have (x**4 of uniforms)."""
    return (scale * np.random.default_rng(seed).random((batch, frames, channels)) ** 4).astype(
        "float32"
    )


def _jit(fn):
    """``fn`` compiled as one program under JAX, as it is elsewhere.

    Eager JAX compiles each operation for each new shape (about 60 for PCEN), which makes a
    test of many shapes slow; a jitted function compiles once a shape.
    """
    if keras.backend.backend() != "jax":
        return fn
    import jax

    return jax.jit(fn)


def _compiled(layer, channels):
    """``(x, state) -> (y, last state)`` through ``layer``, built for ``channels``."""
    layer.build((None, None, channels))
    return _jit(lambda x, state=None: layer(x, initial_state=state, return_state=True))


def _sum_and_gradients(layer, x):
    """``sum(layer(x))``, its gradient w.r.t. ``x`` and the trainable weights (jitted under JAX)."""
    if keras.backend.backend() != "jax":
        return value_and_grads(lambda t: ops.sum(layer(t)), [x], layer.trainable_variables)
    import jax

    variables = layer.trainable_variables

    def total(x, values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return ops.sum(layer(x))

    value, (grad_x, grads) = jax.jit(jax.value_and_grad(total, argnums=(0, 1)))(
        x, [v.value for v in variables]
    )
    return float(value), [np.asarray(grad_x)], [np.asarray(g) for g in grads]


@pytest.fixture(scope="module")
def speech_mel():
    """A mel power spectrogram [1, frames, 40] of a shipped recording (about 2 s)."""
    clip = next(c for c in read_manifest() if c.prompt == "conf-nonextended")
    samples, rate = load_audio(clip.path)
    mel = librosa.feature.melspectrogram(
        y=samples.astype("float64"), sr=rate, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS
    )
    return mel.T[None]  # float64


# ---- the smoother ---------------------------------------------------------------------------


@pytest.mark.parametrize("frames", [10, 16, 17, 100, 1000, 10_000])
def test_parallel_smoother_equals_the_sequential_loop(frames):
    rng = np.random.default_rng(frames)
    x = _energies(2, frames, 6, seed=frames)
    s = np.array([0.001, 0.01, 0.025, 0.04, 0.3, 0.99], "float32")
    initial = rng.random((2, 6)).astype("float32")
    want = smoother_reference(x, s, initial)
    got = to_numpy(_jit(exponential_moving_average)(x, s, initial))
    # Every value to 1e-5 of itself (the sums have no cancellation), not only of the largest.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)


def test_smoother_with_coefficient_one_follows_the_input():
    """s = 1 is taken as 1 - 2**-24 (log(1 - s) stays finite): a 6e-8 memory, no NaN."""
    x = _energies(2, 50, 4)
    initial = np.full((2, 4), 1e3, "float32")
    got = to_numpy(_jit(exponential_moving_average)(x, 1.0, initial))
    assert_close_rel(got, x, 1e-6, "s = 1", scale=1e3)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow graphs only")
def test_smoother_with_frames_known_only_at_run_time():
    import tensorflow as tf

    s = np.array([0.01, 0.04, 0.5], "float32")

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3]), tf.TensorSpec([None, 3])])
    def smooth(x, initial):
        return exponential_moving_average(x, s, initial)

    for frames in (1, 15, 16, 17, 300, 5000):
        x = _energies(2, frames, 3, seed=frames)
        initial = np.ones((2, 3), "float32")
        want = smoother_reference(x, s, initial)
        np.testing.assert_allclose(smooth(x, initial).numpy(), want, rtol=1e-5, atol=0)


# ---- the layer against librosa and the formula ----------------------------------------------


@pytest.mark.parametrize("state_init", ["ones", "first_frame"])
@pytest.mark.parametrize(
    "params,scale",
    [
        # LEAF's defaults on a mel power spectrogram of audio in [-1, 1].
        ({"alpha": 0.96, "delta": 2.0, "root": 2.0, "smooth_coef": 0.04, "floor": 1e-12}, 1.0),
        # librosa's defaults on audio scaled to 32-bit integers, as its docs assume
        # (b for a 0.4 s time constant at hop 80, 8 kHz).
        ({"alpha": 0.98, "delta": 2.0, "root": 2.0, "smooth_coef": 0.0247, "floor": 1e-6}, 2.0**62),
    ],
)
def test_pcen_equals_librosa_on_speech(speech_mel, params, scale, state_init):
    mel = speech_mel * scale
    b = params["smooth_coef"]
    zi = None if state_init == "ones" else (1 - b) * mel[0, :1].T  # M[-1] = x[0]: M[0] = x[0]
    want = librosa.pcen(
        mel[0].T,
        gain=params["alpha"],
        bias=params["delta"],
        power=1 / params["root"],
        b=b,
        eps=params["floor"],
        zi=zi,
    ).T[None]
    got, _ = _compiled(PCEN(**params, state_init=state_init), N_MELS)(mel.astype("float32"))
    assert_close_rel(to_numpy(got), want, 1e-5, f"PCEN vs librosa ({state_init})")


def test_per_channel_parameters_follow_the_formula():
    x = _energies(2, 50, 4)
    rng = np.random.default_rng(1)
    layer = PCEN(floor=1e-6)
    layer(x)
    alpha = rng.uniform(0.5, 1.0, 4)
    delta = rng.uniform(0.1, 5.0, 4)
    root = rng.uniform(1.0, 4.0, 4)
    s = rng.uniform(0.01, 0.5, 4)
    layer.alpha.assign(alpha)
    layer.log_delta.assign(np.log(delta))
    layer.root.assign(root)
    layer.smooth_coef.assign(s)
    want = pcen_reference(x, alpha, delta, root, s, 1e-6, x[:, 0])
    assert_close_rel(to_numpy(layer(x)), want, 1e-5, "per-channel PCEN")
    values = {k: to_numpy(v) for k, v in layer.parameters().items()}
    np.testing.assert_allclose(values["delta"], delta, rtol=1e-6)


# ---- chunked use ----------------------------------------------------------------------------


CHUNKED = 50  # frames; one length for every example, so eager backends compile it once


@settings(max_examples=4)
@given(cuts=st.sets(st.integers(1, CHUNKED - 1), max_size=4), seed=st.integers(0, 99))
def test_chunks_with_carried_state_equal_the_whole_sequence(cuts, seed):
    x = _energies(2, CHUNKED, 4, seed=seed)
    run = _compiled(PCEN(smooth_coef=0.1), 4)
    whole = to_numpy(run(x)[0])
    edges = [0, *sorted(cuts), CHUNKED]
    parts, state = [], None
    for start, stop in zip(edges[:-1], edges[1:], strict=True):
        y, state = run(x[:, start:stop], state)
        parts.append(to_numpy(y))
    chunks = np.diff(edges).tolist()
    assert_close_rel(np.concatenate(parts, axis=1), whole, 1e-6, f"chunks {chunks}")
    want_state = smoother_reference(x, 0.1, x[:, 0])[:, -1]
    np.testing.assert_allclose(to_numpy(state), want_state, rtol=1e-5)


def test_returned_state_in_a_functional_model():
    inputs = keras.Input((None, 4))
    state_in = keras.Input((4,))
    y, state = PCEN()(inputs, initial_state=state_in, return_state=True)
    assert tuple(y.shape) == (None, None, 4) and tuple(state.shape) == (None, 4)
    model = keras.Model([inputs, state_in], [y, state])
    x = _energies(2, 50, 4)
    got_y, got_state = model([x, x[:, 0]])
    np.testing.assert_allclose(to_numpy(got_y), to_numpy(PCEN()(x)), rtol=1e-6)
    assert to_numpy(got_state).shape == (2, 4)


# ---- gradients and ranges -------------------------------------------------------------------


@pytest.mark.parametrize(
    "what,x",
    [
        ("silence", np.zeros((2, 50, 4), "float32")),
        ("full scale", _energies(2, 50, 4, scale=1e4)),  # a full-scale tone's mel power
        ("int32-scaled audio", _energies(2, 50, 4, scale=1e20)),
    ],
)
@pytest.mark.parametrize("state_init", ["first_frame", "ones"])
def test_gradients_are_finite_at_the_extremes(what, x, state_init):
    layer = PCEN(state_init=state_init)
    layer.build(x.shape)
    value, (grad_x,), grads = _sum_and_gradients(layer, x)
    assert np.isfinite(value), what
    assert np.all(np.isfinite(grad_x)), what
    assert len(grads) == 4
    for variable, grad in zip(layer.trainable_variables, grads, strict=True):
        assert np.all(np.isfinite(grad)), (what, variable.name)


def test_parameters_are_kept_in_range_while_learning():
    """An absurd step pushes every parameter out of range; the constraints bring it back,
    and the values in use are clipped anyway: no NaN, delta stays positive."""
    x = _energies(2, 50, 4)
    layer = PCEN()
    layer(x)
    huge = [ops.convert_to_tensor(np.full((4,), g, "float32")) for g in (-10, 1e4, 10, -10)]
    keras.optimizers.SGD(learning_rate=1.0).apply(huge, layer.trainable_variables)
    weights = {v.name: to_numpy(v) for v in layer.weights}
    assert np.all(weights["alpha"] <= 1.0) and np.all(weights["alpha"] >= 0.0)
    assert np.all(np.exp(weights["log_delta"]) >= MIN_DELTA * (1 - 1e-6))
    assert np.all(weights["root"] >= 1.0)
    assert np.all(weights["smooth_coef"] >= MIN_SMOOTH_COEF)
    # Assigned by hand past every bound: the layer uses clipped values.
    layer.alpha.assign([2.0, -1.0, 0.5, 1.0])
    layer.log_delta.assign([-1e4, -1e4, -1e4, 1e4])
    layer.root.assign([0.0, -3.0, 0.5, 1e4])
    layer.smooth_coef.assign([0.0, 2.0, -1.0, 1.0])
    values = {k: to_numpy(v) for k, v in layer.parameters().items()}
    np.testing.assert_allclose(values["alpha"], [1.0, 0.0, 0.5, 1.0])
    assert np.all(values["delta"] > 0) and np.all(values["root"] >= 1)
    assert np.all(values["smooth_coef"] > 0) and np.all(values["smooth_coef"] <= 1)
    assert np.all(np.isfinite(to_numpy(layer(x))))


def test_learn_chooses_the_trainable_parameters():
    layer = PCEN(learn=("delta", "smooth_coef"))
    layer.build((2, 50, 4))
    assert sorted(v.name for v in layer.trainable_variables) == ["log_delta", "smooth_coef"]
    assert len(layer.weights) == 4
    fixed = PCEN(learn=())
    fixed.build((2, 50, 4))
    assert not fixed.trainable_variables
    assert PCEN(learn=["root", "alpha"]).get_config()["learn"] == ["alpha", "root"]


@pytest.mark.parametrize(
    "options,match",
    [
        ({"delta": 0.0}, "delta=0.0"),
        ({"delta": -1}, "delta=-1"),
        ({"delta": float("nan")}, "delta=nan"),
        ({"alpha": -1}, "alpha=-1"),
        ({"alpha": 1.5}, "alpha=1.5"),
        ({"root": 0.5}, "root=0.5"),
        ({"smooth_coef": 0}, "smooth_coef=0"),
        ({"smooth_coef": 1.5}, "smooth_coef=1.5"),
        ({"floor": 0}, "floor=0"),
        ({"learn": ("alpha", "gain")}, "learn="),
        ({"state_init": "zeros"}, "state_init='zeros'"),
    ],
)
def test_bad_arguments_are_refused_at_construction(options, match):
    with pytest.raises(ValueError, match=match):
        PCEN(**options)


def test_learn_must_be_a_collection_of_names():
    with pytest.raises(TypeError, match="learn='alpha'"):
        PCEN(learn="alpha")


def test_a_wrong_state_or_zero_frames_is_a_clear_error_or_passes_through():
    import framebank as fb

    x = np.ones((2, 4, 3), "float32")
    for state in (np.ones((2, 5)), np.ones((3, 3)), np.ones(3)):
        with pytest.raises(ValueError, match="initial_state.shape"):
            fb.PCEN()(x, initial_state=state.astype("float32"))
    with pytest.raises(TypeError, match="return_state='yes'"):
        fb.PCEN()(x, return_state="yes")
    empty = np.ones((2, 0, 3), "float32")
    assert tuple(fb.PCEN()(empty).shape) == (2, 0, 3)
    state = np.full((2, 3), 0.5, "float32")
    out, kept = fb.PCEN()(empty, initial_state=state, return_state=True)
    assert tuple(out.shape) == (2, 0, 3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(kept), state)
    with pytest.raises(ValueError, match="zero frames and no initial_state"):
        fb.PCEN()(empty, return_state=True)
