"""Non-finite input in a stream: a chunk (or an exported step's block) holding NaN or inf is
refused with the state unchanged, so the outputs from the next good chunk on are finite and
equal those of a stream that never saw it; for every front end and the compare denoiser."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from test_streaming import speech
from test_streaming_long import MODELS, _model, keras_run

from framebank import streaming

BAD = [np.nan, np.inf, -np.inf]


def _numpy(state: dict) -> dict:
    return {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in state.items()}


def _assert_same_state(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


@pytest.mark.parametrize("name", MODELS)
def test_a_stream_refuses_a_non_finite_chunk_and_goes_on_as_if_it_never_came(name):
    model, length = _model(name)
    x = speech(streaming.StreamingStep(model).sample_rate, length)
    cut = [0, length // 3, 2 * length // 3 + 7, length]
    chunks = [x[:, a:b] for a, b in zip(cut, cut[1:], strict=False)]
    clean = streaming.Stream(model)
    want = [clean.process(c) for c in chunks] + [clean.flush()]
    stream = streaming.Stream(model)
    got = [stream.process(chunks[0])]
    for value in BAD:
        before = _numpy(stream._state)
        bad = chunks[1].copy()
        bad[0, 5] = value
        with pytest.raises(ValueError, match=r"must be finite: 1 of .* NaN or inf.*index \(0, 5\)"):
            stream.process(bad)
        _assert_same_state(_numpy(stream._state), before)
        assert stream.samples_received == chunks[0].shape[1]
    got += [stream.process(c) for c in chunks[1:]] + [stream.flush()]
    for g, w in zip(got, want, strict=True):
        assert np.all(np.isfinite(g))
        np.testing.assert_array_equal(g, w)


def check_step_refuses(run, step: streaming.StreamingStep) -> None:
    """``run`` (the Keras step or an exported one) returns the state unchanged for a block
    holding NaN or inf in one example, and the next good block gives what it would have."""
    x = speech(step.sample_rate, 8 * step.block)
    x = np.concatenate([x, 0.5 * x])  # a batch of two: one bad value refuses the block
    blocks = [x[:, k * step.block : (k + 1) * step.block] for k in range(8)]
    state = _numpy(step.initial_state(2))
    for block in blocks[:5]:
        _, state = run(block, state)
    state = _numpy(state)
    want, _ = run(blocks[5], state)
    for value in BAD:
        bad = blocks[5].copy()
        bad[1, -1] = value
        _, after = run(bad, state)
        _assert_same_state(_numpy(after), state)
        got, _ = run(blocks[5], _numpy(after))
        got = np.asarray(keras.ops.convert_to_numpy(got))
        assert np.all(np.isfinite(got))
        np.testing.assert_array_equal(got, keras.ops.convert_to_numpy(want))


@pytest.mark.parametrize("name", MODELS)
def test_the_step_returns_the_state_unchanged_for_a_non_finite_block(name):
    model, _ = _model(name)
    step = streaming.StreamingStep(model)
    check_step_refuses(keras_run(step), step)
