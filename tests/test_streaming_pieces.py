"""Streaming runs each layer's own public pieces, the ones its offline call runs: changing
one (a lowpass's ``pool_frames``, PCEN's ``start_state``) changes the stream exactly as it
changes the offline call. Under TensorFlow only (CI's default run): the wiring is the same
under every backend, and JAX would compile PCEN's recurrence eagerly for this one test."""

from __future__ import annotations

import numpy as np
from keras import ops

import framebank as fb
from framebank import streaming


def _run(stream, x, size):
    outs = [stream.process(x[:, i : i + size]) for i in range(0, x.shape[1], size)]
    outs.append(stream.flush())
    return np.concatenate(outs, axis=1)


def test_stream_and_offline_share_the_layers_own_pieces():
    """Changing a layer's public piece (a lowpass's pool_frames, PCEN's start_state)
    changes the stream as it changes the offline call: one computation, not two."""
    fe = fb.build_frontend(
        {
            "filterbank": "fourier",
            "frame_len": 32,
            "hop": 16,
            "postprocessing": [
                {"energy": {"pairs": True}},
                {"gaussian_lowpass": {"kernel_size": 5, "strides": 2}},
                {"pcen": {}},
            ],
        }
    )
    # 30 frames: a whole number of the pooling's strides, so 'same' puts its grid where a
    # stream does (StreamingStep.aligned_length).
    x = np.random.default_rng(2).standard_normal((1, 496)).astype("float32")
    plain = ops.convert_to_numpy(fe(x))
    lowpass, pcen = fe.postprocessing[1], fe.postprocessing[2]
    pool, start = lowpass.pool_frames, pcen.start_state
    lowpass.pool_frames = lambda frames: 3.0 * pool(frames)
    pcen.start_state = lambda first: 0.5 * start(first) + 1.0
    want = ops.convert_to_numpy(fe(x))
    assert not np.allclose(want, plain, rtol=1e-2)  # the change shows offline
    got = _run(streaming.Stream(fe), x, 61)
    assert got.shape == want.shape
    # float32 rounding of PCEN's smoother: a recurrence offline, a loop streamed.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
