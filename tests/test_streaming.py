"""Streaming: chunk by chunk equals offline, for every ready-made front end and method,
the compare denoiser, bare encoders and decoders; state, latency and bad input."""

from __future__ import annotations

import functools
import warnings

import keras
import numpy as np
import pytest
from helpers import methods_for

import framebank as fb
from framebank import streaming
from framebank.frontends import FRONTENDS

RATE = 16000
HOP = 160  # every ready-made front end's default 10 ms hop at 16 kHz


def relative_error(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """``(||got - want|| / ||want||, max|got - want| / max|want|)``."""
    assert got.shape == want.shape, (got.shape, want.shape)
    diff = got.astype("float64") - want
    return (
        float(np.linalg.norm(diff) / np.linalg.norm(want)),
        float(np.abs(diff).max() / np.abs(want).max()),
    )


def comparable(frontend: object, out: np.ndarray) -> np.ndarray:
    """``out`` as a stream's output is compared with offline's: Kaldi's fbank as amplitudes.

    Kaldi floors its log at float32's epsilon, and at int16 scale (BEATs') that keeps bands
    eleven decades below the loudest: the corpus is telephone speech, empty above 4 kHz but
    for float32 rounding, whose log differs between any two summation orders (offline and
    streamed are 0.76 and 0.25 off a float64 fbank there). The square roots of its powers
    carry the Fourier coefficients' rounding, as every other front end's outputs do.
    """
    if not isinstance(frontend, fb.frontends.KaldiFbank):
        return out
    assert frontend.postprocessing[0].use_log_fbank
    for step in frontend.postprocessing[::-1]:
        if isinstance(step, fb.postprocessing.Standardize):
            out = out * step.std + step.mean
    return np.exp(out.astype("float64") / 2)


def streams(name: str) -> bool:
    """Whether the registry's front end streams with its defaults (a pretrained model's
    preset may not: its reference pads or normalises by the whole clip)."""
    cls = FRONTENDS[name]
    if issubclass(cls, fb.frontends.Pretrained):
        return not cls().not_streamable
    # A front end that never streams says why as a class attribute (EfficientLEAF: a median
    # over the clip).
    reason = getattr(cls, "not_streamable", "")
    return not (isinstance(reason, str) and reason)


@functools.cache
def speech(rate: int, samples: int, start: int = 4000) -> np.ndarray:
    """``[1, samples]`` of real speech from the shipped corpus."""
    from framebank.audio import load_audio, read_manifest

    clip = next(c for c in read_manifest() if c.seconds > 2)
    x, _ = load_audio(clip.path, rate)
    return np.ascontiguousarray(x[None, start : start + samples], dtype="float32")


def chunk_lengths(pattern: object, total: int, seed: int = 0) -> list[int]:
    """Chunk lengths covering ``total`` samples: a fixed length or a random mixture."""
    if pattern == "random":
        rng = np.random.default_rng(seed)
        sizes = []
        while sum(sizes) < total:
            sizes.append(int(rng.choice([1, 2, 7, 159, 160, 161, 333, 485, 1000])))
        return sizes
    return [pattern] * -(-total // pattern)


def run_stream(stream: streaming.Stream, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    stream.reset()
    outs, start = [], 0
    for size in sizes:
        outs.append(stream.process(x[:, start : start + size]))
        start += size
    outs.append(stream.flush())
    return np.concatenate(outs, axis=1)


def built(layer):
    """``layer`` called once, so that it has its weights."""
    layer(np.zeros((1, 4 * HOP), "float32"))
    return layer


def offline(layer, x: np.ndarray) -> np.ndarray:
    """``layer(x)``; for LEAF its stride-1 definition, which a stream runs (its default
    band-limited path equals it within 1e-4, ``test_leaf_band_limited.py``)."""
    if not getattr(layer, "band_limited", False):
        return keras.ops.convert_to_numpy(layer(x))
    layer.band_limited = False
    try:
        return keras.ops.convert_to_numpy(layer(x))
    finally:
        layer.band_limited = True


PATTERNS = [1, 7, HOP, 3 * HOP + 5, "random"]
# The methods the ready-made front ends pick (method="auto") run in the default suite; the
# other methods, which give the same numbers more slowly, are marked slow.
DEFAULT = {
    "leaf": "fft_conv",
    "td_filterbanks": "fft_conv",
    "sincnet": "fft_conv",
    "log_mel": "rfft",
    "pcen_mel": "rfft",
}


def _cases() -> list:
    cases = []
    for name in FRONTENDS:
        if not streams(name):
            continue  # test_pretrained_frontends.py tests the refusal
        # The methods its encoder's family takes (rfft only on a Fourier-type basis).
        family = FRONTENDS[name](sample_rate=RATE).encoder.filterbank.family
        for method in methods_for(family):
            marks = [] if method == DEFAULT.get(name, "matmul") else [pytest.mark.slow]
            cases.append(pytest.param(name, method, id=f"{name}-{method}", marks=marks))
    return cases


@pytest.mark.parametrize("name, method", _cases())
def test_frontend_chunked_equals_offline(name, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # reshape_conv under XLA
        frontend = built(FRONTENDS[name](sample_rate=RATE, method=method))
    stream = streaming.Stream(frontend, sample_rate=RATE)
    long_clip = speech(RATE, 30 * HOP)
    short_clip = speech(RATE, 10 * HOP)  # the one-sample chunks: a tenth of a second
    worst = []
    for pattern in PATTERNS:
        x = short_clip if pattern == 1 else long_clip
        want = comparable(frontend, offline(frontend, x))
        got = comparable(frontend, run_stream(stream, x, chunk_lengths(pattern, x.shape[1])))
        norm_error, max_error = relative_error(got, want)
        worst.append((pattern, norm_error, max_error))
        # Float32 rounding only: the step multiplies one frame where offline multiplies all,
        # in another order. The largest single difference is larger for the log-mel, whose
        # log turns the rounding of its faintest bins into an absolute error.
        assert norm_error < 1e-6, worst
        assert max_error < 5e-6, worst


@pytest.mark.parametrize("rate", [8000, 16000])
def test_default_leaf_streams_its_definition_within_the_band_limited_bound(rate):
    """``LEAF()`` runs its band-limited path offline; its stream runs the stride-1
    definition (README "Streaming", docs/guide/streaming.md): equal to
    ``band_limited=False`` offline to float32 rounding, and to the default's output within
    the band-limited path's documented 1e-4 of the largest value (test_leaf_band_limited.py)."""
    frontend = built(FRONTENDS["leaf"](sample_rate=rate))
    assert frontend.band_limited
    x = speech(rate, rate)  # 1 s
    got = run_stream(streaming.Stream(frontend, sample_rate=rate), x, chunk_lengths("random", rate))
    assert relative_error(got, offline(frontend, x))[0] < 1e-6
    band_limited = keras.ops.convert_to_numpy(frontend(x))
    # The path's approximation error, not rounding: 2.3e-6 to 3.7e-6 of the norm, above the
    # 1e-6 that the other front ends meet (measured on 1 s of this corpus).
    assert relative_error(got, band_limited)[1] < 1e-4


@pytest.mark.parametrize("samples", [30 * HOP + 37, 30 * HOP - 1])
def test_same_pooling_gives_offline_of_the_clip_padded_to_whole_hops(samples):
    """LEAF's 'same' pooling grid depends on the clip's length modulo the hop: the stream
    gives offline's output of the clip zero-padded to whole hops, and says so."""
    frontend = built(FRONTENDS["leaf"](sample_rate=RATE, method="fft_conv"))
    x = speech(RATE, samples)
    step = streaming.StreamingStep(frontend)
    padded_length = step.aligned_length(samples)
    assert padded_length == -(-samples // HOP) * HOP
    padded = np.pad(x, [(0, 0), (0, padded_length - samples)])
    got = run_stream(streaming.Stream(step), x, chunk_lengths(HOP + 3, samples))
    norm_error, _ = relative_error(got, offline(frontend, padded))
    assert norm_error < 1e-6
    # And the difference from offline on the unpadded clip is real (not hidden by the test).
    want = offline(frontend, x)
    if want.shape == got.shape:
        assert relative_error(got, want)[0] > 1e-4


def _denoiser(method: str):
    from framebank.training.compare import CompareConfig, build_denoiser

    config = CompareConfig(chunk_seconds=0.25, methods=[method])
    return build_denoiser(config, method, "basis_glorot_uniform", 0), config


@pytest.mark.parametrize("method", ["matmul", "strided_conv", "fft_conv"])
def test_compare_denoiser_chunked_equals_offline(method):
    model, config = _denoiser(method)
    x = speech(config.sample_rate, config.chunk_samples, start=3000)
    want = offline(model, x)
    stream = streaming.Stream(model)
    assert stream.latency.delay == config.frame_len - 1
    assert stream.latency.hop == config.hop
    for pattern in [1, 7, config.hop, 3 * config.hop + 5, "random"]:
        got = run_stream(stream, x, chunk_lengths(pattern, x.shape[1]))
        norm_error, max_error = relative_error(got, want)
        assert norm_error < 1e-5 and max_error < 1e-5, (pattern, norm_error, max_error)


def test_denoiser_output_trails_input_by_its_latency():
    """After n samples in, the stream has given out every sample whose frames are complete:
    n - (frame_len - hop) of them at a step boundary, never one that needs a later sample."""
    model, config = _denoiser("matmul")
    x = speech(config.sample_rate, config.chunk_samples, start=3000)
    stream = streaming.Stream(model)
    given = received = 0
    for n in (1, 19, 20, 21, 400):
        given += stream.process(x[:, received : received + n]).shape[1]
        received += n
        complete = max(0, (received - config.frame_len) // config.hop + 1)  # frames
        assert given == complete * config.hop, (received, given)


@pytest.mark.parametrize(
    "options",
    [{}, {"pad_end": True, "pad_value": 0.5}, {"center": True}, {"center": True, "pad_end": True}],
)
@pytest.mark.parametrize("method", ["matmul", "strided_conv"])
def test_encoder_and_pinv_decoder_stream(options, method):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 203)).astype("float32")
    encoder = fb.Encoder(18, 16, 4, method=method, filterbank="fourier", window="hann", **options)
    want = offline(encoder, x)
    got = run_stream(streaming.Stream(encoder), x, chunk_lengths("random", 203, seed=3))
    assert relative_error(got, want)[1] < 1e-6
    inputs = keras.Input((None,))
    model = keras.Model(inputs, fb.Decoder(encoder, kind="pinv", method=method)(encoder(inputs)))
    want = offline(model, x)
    for pattern in (1, 5, 33):
        got = run_stream(streaming.Stream(model), x, chunk_lengths(pattern, 203))
        assert relative_error(got, want)[1] < 1e-5, pattern


def test_bare_decoder_streams_frames_to_samples():
    encoder = fb.Encoder(12, 16, 6, method="matmul")
    x = np.random.default_rng(2).standard_normal((2, 200)).astype("float32")
    coefficients = offline(encoder, x)
    decoder = fb.Decoder(encoder, kind="tied")
    want = offline(decoder, coefficients)
    stream = streaming.Stream(decoder)
    for size in (1, 3):
        stream.reset()
        parts = [stream.process(coefficients[:, i : i + size]) for i in range(0, 32, size)]
        got = np.concatenate([*parts, stream.flush()], axis=1)
        assert relative_error(got, want)[1] < 1e-6


def test_pcen_state_is_the_smoother():
    step = streaming.StreamingStep(built(FRONTENDS["pcen_mel"](sample_rate=RATE)))
    spec = step.state_spec()
    assert spec["s2_pcen_smoother"] == ((None, 40), "float32")
    assert spec["s0_mel_encoder_buffer"] == ((None, 400 - HOP), "float32")
    state = step.initial_state(3)
    assert tuple(state["s2_pcen_smoother"].shape) == (3, 40)


def test_leaf_state_includes_the_pooling_window():
    step = streaming.StreamingStep(built(FRONTENDS["leaf"](sample_rate=RATE)))
    spec = step.state_spec()
    assert spec["s0_gabor_encoder_buffer"] == ((None, 400), "float32")  # 401 taps, hop 1
    assert spec["s2_gaussian_lowpass_buffer"] == ((None, 401 - HOP, 40), "float32")


def test_latency_of_the_ready_made_front_ends():
    for name, (lookback, delay) in {
        "log_mel": (200, 199),  # frame_len 400 centred: 200 samples each side
        "pcen_mel": (200, 199),
        # 401 taps centred at every sample, then a 401-frame window, 'same' from frame -120
        "leaf": (320, 480),
        "td_filterbanks": (320, 480),
        "sincnet": (320, 480),
    }.items():
        found = streaming.latency(built(FRONTENDS[name](sample_rate=RATE)))
        assert (found.hop, found.lookback, found.delay) == (HOP, lookback, delay), name
        assert found.as_dict()["delay_ms"] == pytest.approx(delay / 16)


def test_the_step_traces_once_and_gives_one_frame_a_call():
    frontend = built(FRONTENDS["log_mel"](sample_rate=RATE))
    step = streaming.StreamingStep(frontend)
    run = streaming.compile_step(step.step)
    state = step.initial_state(2)
    x = np.concatenate([speech(RATE, 8 * HOP)] * 2)
    x = np.pad(x, [(0, 0), (step.phase, 0)])
    frames = []
    for k in range(8):
        y, state = run(keras.ops.convert_to_tensor(x[:, k * HOP : (k + 1) * HOP]), state)
        assert tuple(y.shape) == (2, 1, 40)
        frames.append(keras.ops.convert_to_numpy(y))
    got = np.concatenate(frames, axis=1)[:, step.warmup :]
    want = offline(frontend, x[:, step.phase :])[:, : got.shape[1]]
    assert relative_error(got, want)[0] < 1e-6


# ------------------------------------------------------------------------ refusals, bad input


def test_instance_norm_is_refused_naming_the_layer():
    frontend = built(FRONTENDS["leaf"](sample_rate=RATE, instance_norm=True))
    with pytest.raises(streaming.NotStreamableError, match="'instance_norm'.*whole clip"):
        streaming.Stream(frontend)


def test_an_unbuilt_front_end_streams_its_initial_weights():
    frontend = FRONTENDS["pcen_mel"](sample_rate=RATE)
    stream = streaming.Stream(frontend)  # built here, by one call on zeros
    x = speech(RATE, 12 * HOP)
    got = run_stream(stream, x, chunk_lengths(HOP, x.shape[1]))
    assert relative_error(got, offline(frontend, x))[0] < 1e-6


def test_the_checked_call_names_a_wrong_state_or_block():
    step = streaming.StreamingStep(_built_logmel())
    other = streaming.StreamingStep(built(FRONTENDS["pcen_mel"](sample_rate=RATE)))
    block = np.zeros((1, HOP), "float32")
    output, state = step(block, step.initial_state(1))
    assert tuple(output.shape) == (1, 1, 40) and set(state) == set(step.state_spec())
    with pytest.raises(ValueError, match="from another model"):
        step(block, other.initial_state(1))
    with pytest.raises(TypeError, match="full scale.*dtype=int64"):
        step(np.zeros((1, HOP), "int64"), step.initial_state(1))


def _built_logmel():
    return built(FRONTENDS["log_mel"](sample_rate=RATE))


def test_bad_chunks_name_the_value():
    stream = streaming.Stream(_built_logmel(), sample_rate=RATE)
    with pytest.raises(ValueError, match=r"rank 2.*shape=\(160,\).*chunk\[None\]"):
        stream.process(np.zeros(160, "float32"))
    with pytest.raises(TypeError, match="full scale.*dtype=int64"):
        stream.process(np.zeros((1, 160), "int64"))
    stream.process(np.zeros((2, 10), "float32"))
    with pytest.raises(ValueError, match="batch is 2, but the chunk has batch 3"):
        stream.process(np.zeros((3, 10), "float32"))
    stream.flush()
    with pytest.raises(ValueError, match="flushed"):
        stream.process(np.zeros((2, 10), "float32"))


def test_a_sample_rate_that_differs_is_refused():
    with pytest.raises(ValueError, match="8000 Hz but the model was built for 16000 Hz"):
        streaming.Stream(_built_logmel(), sample_rate=8000)


def test_a_state_from_another_model_or_shape_is_refused():
    step = streaming.StreamingStep(_built_logmel())
    other = streaming.StreamingStep(built(FRONTENDS["pcen_mel"](sample_rate=RATE)))
    with pytest.raises(ValueError, match="from another model.*missing keys"):
        step.check_state(other.initial_state(1))
    state = step.initial_state(2)
    state["s0_mel_encoder_buffer"] = keras.ops.zeros((2, 17))
    with pytest.raises(ValueError, match=r"s0_mel_encoder_buffer.*\(2, 17\).*\(None, 240\)"):
        step.check_state(state)
    with pytest.raises(ValueError, match="batch 2, but the block has batch 1"):
        step.check_state(step.initial_state(2), batch=1)
    with pytest.raises(ValueError, match=r"\[batch, 160\]. Received: shape=\(1, 7\)"):
        step.check_block(np.zeros((1, 7), "float32"))


@pytest.mark.parametrize("name", ["pcen_mel", "leaf"])
def test_several_frames_a_step_equal_offline(name):
    """frames_per_step=3: one compiled call gives three frames, still equal to offline."""
    frontend = built(FRONTENDS[name](sample_rate=RATE))
    x = speech(RATE, 20 * HOP + 50)
    stream = streaming.Stream(frontend, frames_per_step=3)
    # LEAF's 'same' pooling: offline of the clip padded to whole hops (21 of them).
    aligned = stream.step.aligned_length(x.shape[1])
    assert aligned == (21 * HOP if name == "leaf" else x.shape[1])
    want = offline(frontend, np.pad(x, [(0, 0), (0, aligned - x.shape[1])]))
    assert stream.step.block == 3 * HOP
    for pattern in (7, 3 * HOP + 5, "random"):
        got = run_stream(stream, x, chunk_lengths(pattern, x.shape[1]))
        assert relative_error(got, want)[0] < 1e-6, pattern


def test_denoiser_with_ten_millisecond_steps():
    model, config = _denoiser("matmul")
    x = speech(config.sample_rate, config.chunk_samples, start=3000)
    stream = streaming.Stream(model, frames_per_step=4)  # 80 samples: 10 ms at 8 kHz
    for pattern in (1, 33, "random"):
        got = run_stream(stream, x, chunk_lengths(pattern, x.shape[1]))
        assert relative_error(got, offline(model, x))[1] < 1e-5, pattern


def _pcm(x: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` quantised to PCM ``dtype``, and the float samples that PCM encodes."""
    offset, full_scale = {"int16": (0, 2**15), "uint8": (2**7, 2**7)}[dtype]
    info = np.iinfo(dtype)
    pcm = np.clip(np.round(x * full_scale) + offset, info.min, info.max).astype(dtype)
    return pcm, ((pcm.astype("float64") - offset) / full_scale).astype("float32")


@pytest.mark.parametrize("dtype", ["int16", "uint8"])
def test_the_step_reads_integer_blocks_as_pcm(dtype):
    st = streaming.StreamingStep(built(FRONTENDS["pcen_mel"](sample_rate=RATE)))
    x = speech(RATE, 2 * st.block)
    pcm, floats = _pcm(np.concatenate([x, 0.5 * x]), dtype)
    # Dividing by a power of two is exact, so the step sees the very same float samples.
    for run in (st.step, st):
        want_state = got_state = st.initial_state(2)
        for k in range(2):
            cut = slice(k * st.block, (k + 1) * st.block)
            want, want_state = run(floats[:, cut], want_state)
            got, got_state = run(pcm[:, cut], got_state)
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want)
            )
        for key in want_state:
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(got_state[key]),
                keras.ops.convert_to_numpy(want_state[key]),
                err_msg=key,
            )
    with pytest.raises(TypeError, match="full scale.*dtype=int64"):
        st.step(np.zeros((2, st.block), "int64"), st.initial_state(2))


def test_a_block_of_the_wrong_length_is_refused_naming_both_lengths():
    st = streaming.StreamingStep(_built_logmel(), frames_per_step=2)
    assert st.block == 2 * HOP
    for run in (st.step, st):
        with pytest.raises(
            ValueError, match=rf"must hold {2 * HOP} samples.*Received: 100 samples"
        ):
            run(np.zeros((1, 100), "float32"), st.initial_state(1))


def test_frames_per_step_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="frames_per_step.*Received: 0"):
        streaming.StreamingStep(_built_logmel(), frames_per_step=0)


class Squared(fb.Postprocessing):
    """A user's own post-processing layer that maps each frame on its own."""

    frame_wise = True

    def call(self, x):
        return x * x


def test_a_users_frame_wise_layer_streams_and_an_undeclared_one_is_refused():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 203)).astype("float32")
    encoder = fb.Encoder(8, 16, 4, method="matmul")
    inputs = keras.Input((None,))
    model = keras.Model(inputs, Squared()(encoder(inputs)))
    got = run_stream(streaming.Stream(model), x, chunk_lengths("random", 203, seed=4))
    assert relative_error(got, offline(model, x))[1] < 1e-6

    class Undeclared(Squared):
        frame_wise = False

    other = keras.Model(inputs, Undeclared()(encoder(inputs)))
    with pytest.raises(streaming.NotStreamableError):
        streaming.Stream(other)


def test_the_functional_graph_is_read_through_one_function_that_fails_loudly():
    """Keras 3 has no public API for a layer's calls in a functional graph (``input`` and
    ``output`` give the first call, without keyword arguments); streaming reads the private
    ``Layer._inbound_nodes`` in one function. This pins what it reads, so a Keras that changes
    it fails here, and the function's own error says what changed."""
    from framebank.streaming._plan import symbolic_calls

    encoder = fb.Encoder(8, 16, 4, method="matmul")
    decoder = fb.Decoder(encoder, kind="pinv")
    inputs = keras.Input((None,))
    coefficients = encoder(inputs)
    keras.Model(inputs, decoder(coefficients))
    keras.Model(inputs, decoder(coefficients, length=203))  # a second call of the same layer
    calls = symbolic_calls(decoder)
    assert [(len(i), len(o), k) for i, o, k in calls] == [
        (1, 1, {"length": None}),
        (1, 1, {"length": 203}),
    ]
    assert all(i[0] is coefficients for i, _, _ in calls)

    class Renamed:  # a layer as a Keras without _inbound_nodes would make it
        pass

    with pytest.raises(RuntimeError, match="_inbound_nodes"):
        symbolic_calls(Renamed())
