"""A user's post-processing layer with state streams through its own step (the hook
``streaming_state`` / ``stream_step``) or through a stage registered for its type
(``register_stage``), chunk by chunk equal to its offline call, under whichever backend runs
the suite (CI runs this file under TensorFlow, JAX and torch); the stage registry's rules."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

import framebank as fb
from framebank import streaming
from framebank.postprocessing import base
from framebank.streaming import _stages


class _Leaky(fb.Postprocessing):
    """A leaky integrator over frames, written the way a user would:
    ``y[t] = a y[t-1] + (1 - a) x[t]``, ``y[-1] = 0``. Offline it is one matrix product
    over the frames; streamed, one frame a step with ``y`` as its state."""

    def __init__(self, decay: float = 0.8, **kwargs):
        super().__init__(**kwargs)
        self.decay = decay

    def call(self, x):
        frames = ops.shape(x)[1]
        t = ops.cast(ops.arange(frames), x.dtype)
        lag = t[:, None] - t[None, :]  # [out frame, in frame]
        causal = ops.cast(lag >= 0, x.dtype)
        weights = causal * (1.0 - self.decay) * ops.power(self.decay, ops.maximum(lag, 0.0))
        return ops.einsum("ts,bsc->btc", weights, x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def streaming_state(self, feature):
        return {"level": (feature, "float32")}

    def stream_step(self, frame, state):
        level = self.decay * state["level"] + (1.0 - self.decay) * frame[:, 0]
        return level[:, None], {"level": level}

    def get_config(self):
        return {**super().get_config(), "decay": self.decay}


@pytest.fixture
def leaky():
    fb.register_postprocessing("test_leaky")(_Leaky)
    yield
    base._REGISTRY.pop("test_leaky")


def _run(stream, x, size):
    stream.reset()
    outs = [stream.process(x[:, i : i + size]) for i in range(0, x.shape[1], size)]
    outs.append(stream.flush())
    return np.concatenate(outs, axis=1)


@pytest.mark.parametrize("chunk", [1, 7, 16, 61])
def test_a_user_layer_with_state_streams_equal_to_offline(leaky, chunk):
    fe = fb.build_frontend(
        {
            "filterbank": "fourier",
            "frame_len": 32,
            "hop": 16,
            "postprocessing": [{"log_energy": {"pairs": True}}, {"test_leaky": {"decay": 0.7}}],
        }
    )
    x = np.random.default_rng(0).standard_normal((1, 640)).astype("float32")
    want = ops.convert_to_numpy(fe(x))
    stream = streaming.Stream(fe)
    got = _run(stream, x, chunk)
    assert got.shape == want.shape
    # float32 rounding: offline sums up to 40 weighted frames at once, the stream one at a
    # time; both are within a few ulps of the log-energies' size.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    step = streaming.StreamingStep(fe)
    spec = step.state_spec()
    level = [name for name in spec if name.endswith("_level")]
    assert len(level) == 1 and spec[level[0]] == ((None, 17), "float32")


def test_without_the_hook_the_same_layer_is_refused_naming_it(leaky):
    class Plain(_Leaky):
        streaming_state = None
        stream_step = None

    model = keras.Sequential([fb.Encoder(6, 8, 4), Plain(name="my_leaky")])
    model.build((None, 64))
    with pytest.raises(streaming.NotStreamableError, match="my_leaky.*stream_step"):
        streaming.StreamingStep(model)


class _PlainLeaky(_Leaky):
    """The same integrator as a layer that is not the user's to change: no hook."""

    streaming_state = None
    stream_step = None


class _LeakyStage(streaming.StepStage):
    """The hook written as a stage, reading the layer's options."""

    def streaming_state(self, feature):
        return {"level": (feature, "float32")}

    def stream_step(self, frame, state):
        decay = self.layer.decay
        level = decay * state["level"] + (1.0 - decay) * frame[:, 0]
        return level[:, None], {"level": level}


@pytest.fixture
def registered():
    """Registrations made by a test, taken back after it."""
    before = dict(streaming.STAGES)
    fb.register_postprocessing("test_plain_leaky")(_PlainLeaky)
    yield
    base._REGISTRY.pop("test_plain_leaky")
    _stages._STAGES.clear()
    _stages._STAGES.update(before)


def _small_frontend(*postprocessing):
    return fb.build_frontend(
        {
            "filterbank": "fourier",
            "frame_len": 32,
            "hop": 16,
            "postprocessing": list(postprocessing),
        }
    )


@pytest.mark.parametrize("chunk", [7, 61])
def test_a_registered_stage_streams_a_user_layer_with_state(registered, chunk):
    streaming.register_stage(_PlainLeaky, _LeakyStage)
    fe = _small_frontend({"log_energy": {"pairs": True}}, {"test_plain_leaky": {"decay": 0.7}})
    x = np.random.default_rng(1).standard_normal((2, 480)).astype("float32")
    want = ops.convert_to_numpy(fe(x))
    got = _run(streaming.Stream(fe), x, chunk)
    assert got.shape == want.shape
    # float32 rounding, as for the hook above: a sum of up to 30 weighted frames.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert isinstance(streaming.StreamingStep(fe).stages[-1], _LeakyStage)


def test_the_most_specific_registered_type_wins(registered):
    class Wide(fb.GaussianLowpass):
        pass

    class OwnStep(_Leaky):  # a subclass of a layer with the hook, registered itself
        pass

    streaming.register_stage(Wide, streaming.FrameWise)
    streaming.register_stage(OwnStep, _LeakyStage)
    assert type(streaming.stage_for(Wide(kernel_size=5, strides=2))) is streaming.FrameWise
    assert not isinstance(
        streaming.stage_for(fb.GaussianLowpass(kernel_size=5, strides=2)), streaming.FrameWise
    )
    assert type(streaming.stage_for(OwnStep())) is _LeakyStage
    assert type(streaming.stage_for(_Leaky())) is streaming.StepStage  # the hook

    class HookAgain(OwnStep):  # defines its own step again: more specific than OwnStep
        def stream_step(self, frame, state):
            return _Leaky.stream_step(self, frame, state)

    assert type(streaming.stage_for(HookAgain())) is streaming.StepStage


def test_register_stage_decorates_and_the_registry_is_read_only(registered):
    @streaming.register_stage(_PlainLeaky)
    class Stage(_LeakyStage):
        pass

    assert streaming.STAGES[_PlainLeaky] is Stage
    assert type(streaming.stage_for(_PlainLeaky())) is Stage
    for builtin in (fb.Encoder, fb.Decoder, fb.GaussianLowpass, fb.FreeLowpass, fb.PCEN):
        assert builtin in streaming.STAGES
    with pytest.raises(TypeError):
        streaming.STAGES[_PlainLeaky] = streaming.FrameWise


def test_register_stage_refuses_bad_arguments_naming_them(registered):
    with pytest.raises(TypeError, match="layer_type.*'leaky'"):
        streaming.register_stage("leaky", streaming.FrameWise)
    with pytest.raises(TypeError, match="layer_type.*int"):
        streaming.register_stage(int, streaming.FrameWise)
    with pytest.raises(TypeError, match="factory.*3"):
        streaming.register_stage(_PlainLeaky, 3)
    streaming.register_stage(_PlainLeaky, lambda layer: "not a stage")
    with pytest.raises(TypeError, match="my_plain.*must return a Stage.*'not a stage'"):
        streaming.stage_for(_PlainLeaky(name="my_plain"))
