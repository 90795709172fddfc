"""Streams with no length limit: the step's int32 counters are taken back by a period, so a
stream whose counters stand near or past 2**31 and 2**32 gives what a stream past its start
gives, in Keras and in the exported TFLite and ONNX steps, for every front end and the
compare denoiser."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
from test_streaming import chunk_lengths, relative_error, run_stream, speech

from framebank import streaming
from framebank.frontends import FRONTENDS
from framebank.frontends._pretrained import Pretrained

STEPS = 6  # steps compared after the counters are set


def _frontend(name: str, **options):
    """The registry's front end at 16 kHz (Keras's own mel names its rate sampling_rate)."""
    cls = FRONTENDS[name]
    rate = (
        "sampling_rate" if "sampling_rate" in inspect.signature(cls.__init__).parameters else None
    )
    return cls(**{rate or "sample_rate": 16000}, **options)


def _refuses(cls) -> bool:
    """A front end whose class says it cannot stream (EfficientLEAF: a median over the clip)."""
    reason = getattr(cls, "not_streamable", "")
    return isinstance(reason, str) and bool(reason)


# Every front end that streams, and the denoiser. The pretrained models' presets are not here
# yet: those that stream (Kaldi's) have their own chunked test, their counters none so far.
MODELS = [
    *(
        name
        for name in sorted(FRONTENDS)
        if not issubclass(FRONTENDS[name], Pretrained) and not _refuses(FRONTENDS[name])
    ),
    "denoiser",
]


def _model(name: str):
    """``(model, clip length)``, with a method every export takes; a front end's clip is
    whole hops (LEAF's 'same' pooling grid depends on the length modulo the hop)."""
    if name == "denoiser":
        from framebank.training.compare import CompareConfig, build_denoiser

        config = CompareConfig(chunk_seconds=0.25, methods=["strided_conv"])
        model = build_denoiser(config, "strided_conv", "basis_glorot_uniform", 0)
        return model, config.chunk_samples
    return _frontend(name, method="strided_conv"), 40 * 160


def keras_run(step: streaming.StreamingStep):
    """The Keras step on numpy blocks and states (every backend takes tensors)."""

    def run(block: np.ndarray, state: dict) -> tuple:
        tensors = {k: keras.ops.convert_to_tensor(v) for k, v in state.items()}
        return step.step(keras.ops.convert_to_tensor(block), tensors)

    return run


def _counters(step: streaming.StreamingStep) -> list[int]:
    """Positions (int32, as the state holds them) at which a naive item counter of the
    first stage stands just below, at and past 2**31 and 2**32, the largest int32, int32
    counters that wrapped past 2**31 and 2**32, and the last step before a take-back."""
    m = step.stages[0].m_in
    values = [2**31 // m + d for d in (-1, 0, 1)] + [2**32 // m + d for d in (-1, 0, 1)]
    wrapped = [2**31 - 1, -(2**31), -(2**31) + 1, -1, 2 * step.period - 1]
    return values + wrapped


def _run(run, step, state: dict, x: np.ndarray, start: int) -> tuple[np.ndarray, dict]:
    """``STEPS`` steps of ``x`` from block ``start`` on; the outputs concatenated."""
    outs = []
    for k in range(start, start + STEPS):
        out, state = run(x[:, k * step.block : (k + 1) * step.block], state)
        outs.append(np.asarray(keras.ops.convert_to_numpy(out)))
    return np.concatenate(outs, axis=1), state


def _with(state: dict, **changes: int) -> dict:
    new = dict(state)
    for key, value in changes.items():
        new[key] = np.asarray(value, "int32")
    return new


def _check_counters(run, step, tolerance: float) -> None:
    """From a state past the start, every counter in :func:`_counters` gives its outputs."""
    x = speech(step.sample_rate, (4 * STEPS) * step.block)
    state = {k: keras.ops.convert_to_numpy(v) for k, v in step.initial_state(1).items()}
    _, state = _run(run, step, state, x, 0)  # past every stage's start
    want, _ = _run(run, step, state, x, STEPS)
    assert np.abs(want).max() > 0
    for position in _counters(step):
        got, after = _run(run, step, _with(state, position=position), x, STEPS)
        assert 0 <= int(keras.ops.convert_to_numpy(after["position"])) < 2 * step.period, position
        error = np.abs(got - want).max() / np.abs(want).max()
        assert error <= tolerance, (position, error)


@pytest.mark.parametrize("name", MODELS)
def test_counters_past_int32_give_the_same_outputs(name):
    model, _ = _model(name)
    step = streaming.StreamingStep(model)
    assert 2 * step.period * max(s.m_in for s in step.stages) < 2**30
    # The same operations on the same numbers: equal to the bit.
    _check_counters(keras_run(step), step, 0.0)


@pytest.mark.parametrize("name", MODELS)
def test_a_take_back_moves_a_flushed_limit_with_the_position(name):
    """A flushed stream taken back at 2P masks the same items as one far from 2P."""
    model, _ = _model(name)
    step = streaming.StreamingStep(model)
    x = speech(step.sample_rate, (4 * STEPS) * step.block)
    state = {k: keras.ops.convert_to_numpy(v) for k, v in step.initial_state(1).items()}
    _, state = _run(keras_run(step), step, state, x, 0)
    limits = [k for k in state if k.endswith("_limit")]
    assert limits or name in ("log_mel",)  # PCEN, pooling and decoders mask by index
    near, far = step.period - 2, 2 * step.period - 2
    index = {k: step.stages[int(k[1 : k.index("_")])] for k in limits}
    # Each stage's input ends after the third of the steps compared.
    ends = {k: (near + 3) * s.m_in + s.first_in for k, s in index.items()}
    want, _ = _run(keras_run(step), step, _with(state, position=near, **ends), x, STEPS)
    moved = {k: v + step.period * index[k].m_in for k, v in ends.items()}
    got, after = _run(keras_run(step), step, _with(state, position=far, **moved), x, STEPS)
    assert int(keras.ops.convert_to_numpy(after["position"])) == near + STEPS
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", MODELS)
def test_a_stream_over_many_periods_equals_offline(name):
    """With a period of 8 steps, a clip takes the counters back dozens of times, flush
    included, and still equals offline."""
    model, length = _model(name)
    stream = streaming.Stream(model)
    stream.step.period = 8
    x = speech(stream.step.sample_rate, length)
    want = keras.ops.convert_to_numpy(model(x))
    got = run_stream(stream, x, chunk_lengths(3 * stream.step.block + 5, length))
    norm_error, max_error = relative_error(got, want)
    # test_streaming's tolerances for the same comparison without a period.
    assert norm_error < 1e-5 and max_error < 1e-5, (norm_error, max_error)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="exports with TensorFlow")
@pytest.mark.parametrize("kind", ["onnx", "tflite"])
@pytest.mark.parametrize("name", MODELS)
def test_exported_steps_have_no_length_limit(name, kind, tmp_path):
    from framebank.streaming import export

    model, length = _model(name)
    step = streaming.StreamingStep(model)
    step.period = 8  # baked into the file: the stream below takes it back many times
    write, runner = {
        "onnx": (export.export_step_onnx, export.onnx_step_runner),
        "tflite": (export.export_step_tflite, export.tflite_step_runner),
    }[kind]
    run = runner(write(step, tmp_path / f"step.{kind}"))
    # The exported file against itself: the same operations on the same numbers.
    _check_counters(run, step, 0.0)
    from test_streaming_bad_input import check_step_refuses

    check_step_refuses(run, step)
    stream = streaming.Stream(step, step_fn=run)
    x = speech(step.sample_rate, length)
    want = keras.ops.convert_to_numpy(model(x))
    got = run_stream(stream, x, chunk_lengths(3 * step.block + 5, length))
    assert relative_error(got, want)[1] < 1e-4  # the export tests' tolerance
