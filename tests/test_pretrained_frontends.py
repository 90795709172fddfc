"""The front ends of pretrained models against their references, on real speech and edge cases.

References: openai-whisper's ``log_mel_spectrogram`` (the pinned package) and
kaldi-native-fbank (a small wheel, no torch); both are in the ``test`` extra. The tolerances
are the issue's: the references compute in float32, and a float64 transcription of Whisper's
log-mel differs from it by 9e-6 of the largest value (so 5e-5 leaves room for our own float32
rounding); Kaldi's fbank is compared within 1e-4 of the largest value.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import value_and_grads
from keras import ops

import framebank as fb
from framebank import frontends, streaming
from framebank.audio import load_audio, read_manifest

RATE = 16000


def _speech(rate: int = RATE, samples: int = 8000, batch: int = 2) -> np.ndarray:
    """Real speech from data/ at ``rate``: ``batch`` clips' middle ``samples`` samples (their
    starts are silent)."""
    clips = [load_audio(c.path, rate)[0] for c in read_manifest()[: 4 * batch]]
    clips = [c for c in clips if len(c) >= samples][:batch]
    clips = [c[(len(c) - samples) // 2 :][:samples] for c in clips]
    return np.stack(clips).astype("float32")


def _numpy(x):
    return ops.convert_to_numpy(x)


def _relative(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.abs(got - want).max() / np.abs(want).max())


# -------------------------------------------------------------------------------- Whisper


def _whisper(x: np.ndarray, n_mels: int) -> np.ndarray:
    torch = pytest.importorskip("torch", reason="openai-whisper needs torch")
    audio = pytest.importorskip("whisper.audio", reason="openai-whisper is not installed")
    out = audio.log_mel_spectrogram(torch.from_numpy(x), n_mels=n_mels).numpy()
    return np.swapaxes(out, -1, -2)


@pytest.mark.parametrize("n_mels", [80, 128])
def test_whisper_is_openai_whispers_log_mel(n_mels):
    # The corpus is telephone speech: above 4 kHz its power is rounding noise, 7 to 8 decades
    # down, inside Whisper's 8-decade range, whose log differs between float32 DFTs (the
    # reference is 1.5e-5 off a float64 one there; our float32 matmul DFT 7.7e-5, 6.6e-5 with
    # noise 60 dB down under torch). Noise 40 dB down puts every band well above that.
    x = _noisy_speech(RATE, 3 * RATE, batch=2, level=1e-2)
    frontend = frontends.WhisperLogMel(n_mels=n_mels)
    error = _relative(_numpy(frontend(x)), _whisper(x, n_mels))
    print(f"Whisper n_mels={n_mels}: {error:.2e} of the largest value")
    assert error <= 5e-5


@pytest.mark.parametrize(
    "case",
    ["silence", "full_scale", "shortest", "one_example"],
)
def test_whisper_edge_cases(case):
    x = {
        "silence": np.zeros((1, RATE), "float32"),
        "full_scale": np.sign(
            _noisy_speech(RATE, RATE, level=1e-2)
        ),  # a square wave of speech's signs
        "shortest": _noisy_speech(
            RATE, 201, level=1e-2
        ),  # torch.stft's reflect padding needs > 200
        "one_example": _noisy_speech(RATE, RATE, level=1e-2),
    }[case]
    got = _numpy(frontends.WhisperLogMel()(x))
    assert _relative(got, _whisper(x, 80)) <= 5e-5


def test_whisper_maximum_over_the_input_or_per_example():
    x = _noisy_speech(RATE, RATE, batch=2, level=1e-2)
    x[1] *= 1e-3  # a quiet example: the batch's maximum clamps it, its own does not
    over_input = _numpy(frontends.WhisperLogMel(max_over="input")(x))
    per_example = _numpy(frontends.WhisperLogMel(max_over="example")(x))
    assert _relative(over_input, _whisper(x, 80)) <= 5e-5
    for i in range(2):
        assert _relative(per_example[i], _whisper(x[i], 80)) <= 5e-5
    assert np.abs(over_input[1] - per_example[1]).max() > 0.1


def test_whisper_pads_or_trims_to_30_seconds():
    audio = pytest.importorskip("whisper.audio", reason="openai-whisper is not installed")
    x = _noisy_speech(RATE, 2 * RATE, level=1e-2)
    frontend = frontends.WhisperLogMel(pad_or_trim=True)
    got = _numpy(frontend(x))
    assert got.shape == (1, 3000, 80) == tuple(frontend.compute_output_shape((1, 2 * RATE)))
    want = _whisper(audio.pad_or_trim(x), 80)
    assert _relative(got, want) <= 5e-5


def test_whisper_refuses_streaming_and_other_rates():
    with pytest.raises(streaming.NotStreamableError, match="maximum over the whole clip"):
        streaming.StreamingStep(frontends.WhisperLogMel())
    with pytest.raises(ValueError, match="16000 Hz. Received: sample_rate=8000"):
        frontends.WhisperLogMel(sample_rate=8000)
    with pytest.raises(
        ValueError, match="gives 0 frames for 200 samples.*more than 200. Give it at least 201"
    ):
        frontends.WhisperLogMel()(np.zeros((1, 200), "float32"))


# ------------------------------------------------------------------------------ Kaldi fbank

KNF_FRAME = {
    "frame_length": "frame_length_ms",
    "frame_shift": "frame_shift_ms",
    "window_type": "window_type",
    "blackman_coeff": "blackman_coeff",
    "remove_dc_offset": "remove_dc_offset",
    "preemphasis_coefficient": "preemph_coeff",
    "snip_edges": "snip_edges",
    "round_to_power_of_two": "round_to_power_of_two",
    "dither": "dither",
}
KNF_MEL = {"num_mel_bins": "num_bins", "low_freq": "low_freq", "high_freq": "high_freq"}


def _kaldi(x: np.ndarray, rate: int, **options) -> np.ndarray:
    """kaldi-native-fbank on one clip (already at Kaldi's int16 scale)."""
    knf = pytest.importorskip("kaldi_native_fbank", reason="kaldi-native-fbank is not installed")
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = rate
    opts.frame_opts.dither = 0.0
    opts.energy_floor = 0.0  # Kaldi's compute-fbank default (the package's too)
    for ours, value in options.items():
        if ours in KNF_FRAME:
            setattr(opts.frame_opts, KNF_FRAME[ours], value)
        elif ours in KNF_MEL:
            setattr(opts.mel_opts, KNF_MEL[ours], value)
        else:
            setattr(opts, ours, value)
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(rate, x.tolist())
    fbank.input_finished()
    return np.array([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])


# Each option away from Kaldi's default at least once, and some together.
GRID = [
    {},
    {"window_type": "hanning"},
    {"window_type": "hamming"},
    {"window_type": "rectangular"},
    {"window_type": "blackman", "blackman_coeff": 0.4},
    {"remove_dc_offset": False},
    {"preemphasis_coefficient": 0.0},
    {"preemphasis_coefficient": 1.0, "remove_dc_offset": False},
    {"snip_edges": False},
    {"round_to_power_of_two": False},
    {"frame_length": 20.0, "frame_shift": 8.0},
    {"frame_shift": 7.0},  # 112 samples: 25 blocks of gcd(400, 112) = 16 per frame
    {"frame_length": 25.0625, "frame_shift": 6.25},  # 401 samples (odd) every 100
    {"num_mel_bins": 80, "low_freq": 0.0},
    {"low_freq": 100.0, "high_freq": -400.0},
    {"high_freq": 6000.0},
    {"use_energy": True},
    {"use_energy": True, "raw_energy": False},
    {"use_energy": True, "htk_compat": True},
    {"use_energy": True, "energy_floor": 1e8},
    {"use_energy": True, "raw_energy": False, "energy_floor": 2.0, "snip_edges": False},
    {"use_log_fbank": False},
    {"use_power": False},
    {"use_power": False, "use_log_fbank": False, "window_type": "hanning"},
    {"htk_compat": True, "window_type": "hanning", "num_mel_bins": 64},
]


def _noisy_speech(rate: int, samples: int, batch: int = 1, level: float = 1e-3) -> np.ndarray:
    """Speech plus white noise of standard deviation ``level``. The corpus is telephone speech:
    its bands above 4 kHz hold float32 rounding noise only, whose log differs between any two
    float32 implementations (by 5e-2 between a float64 one and kaldi-native-fbank)."""
    x = _speech(rate, samples, batch=batch)
    return x + level * np.random.default_rng(0).standard_normal(x.shape).astype("float32")


@pytest.mark.parametrize("options", GRID, ids=[str(o) for o in GRID])
def test_kaldi_fbank_is_kaldi_native_fbanks(options):
    x = _noisy_speech(RATE, 8000)
    frontend = frontends.KaldiFbank(scale=32768, **options)
    error = _relative(_numpy(frontend(x))[0], _kaldi(32768 * x[0], RATE, **options))
    assert error <= 1e-4


@pytest.mark.parametrize("rate", [8000, 44100])
@pytest.mark.parametrize("snip_edges", [True, False])
def test_kaldi_fbank_at_other_rates(rate, snip_edges):
    x = _noisy_speech(rate, rate // 2)
    frontend = frontends.KaldiFbank(rate, snip_edges=snip_edges, scale=32768, num_mel_bins=40)
    want = _kaldi(32768 * x[0], rate, snip_edges=snip_edges, num_mel_bins=40)
    assert _relative(_numpy(frontend(x))[0], want) <= 1e-4


# Milliseconds that are not whole samples: Kaldi truncates ``rate * 0.001 * ms`` in float32.
FRACTIONAL = [
    (44100, {"frame_shift": 7.0}),  # 1102.5 -> 1102 and 308.7 -> 308 samples
    (22050, {"frame_shift": 7.0, "snip_edges": False}),  # 551.25 -> 551 (odd), 154.35 -> 154
    (8000, {"frame_length": 25.1, "frame_shift": 6.3, "round_to_power_of_two": False}),
]


@pytest.mark.parametrize("rate, options", FRACTIONAL, ids=[str(f) for f in FRACTIONAL])
def test_kaldi_fbank_where_milliseconds_are_not_whole_samples(rate, options):
    x = _noisy_speech(rate, rate // 2)
    frontend = frontends.KaldiFbank(rate, scale=32768, num_mel_bins=40, **options)
    want = _kaldi(32768 * x[0], rate, num_mel_bins=40, **options)
    assert _relative(_numpy(frontend(x))[0], want) <= 1e-4


# A DC offset and a ramp under speech: each frame's own mean goes, through either method.
DC_RAMP = [
    {},
    {"frame_shift": 7.0},
    {"preemphasis_coefficient": 0.0},
    {"remove_dc_offset": False},
    {"window_type": "rectangular", "snip_edges": False, "use_energy": True},
]


@pytest.mark.parametrize("method", ["auto", "matmul"])
@pytest.mark.parametrize("options", DC_RAMP, ids=[str(o) for o in DC_RAMP])
def test_kaldi_fbank_of_speech_on_a_dc_ramp(options, method):
    x = _noisy_speech(RATE, 8000) + np.linspace(0.2, 0.5, 8000, dtype="float32")
    frontend = frontends.KaldiFbank(scale=32768, method=method, **options)
    error = _relative(_numpy(frontend(x))[0], _kaldi(32768 * x[0], RATE, **options))
    assert error <= 1e-4


@pytest.mark.parametrize("case", ["silence", "full_scale", "one_frame", "shorter_than_a_frame"])
def test_kaldi_fbank_edge_cases(case):
    x = {
        "silence": np.zeros((1, 4000), "float32"),
        "full_scale": np.sign(_speech(samples=4000, batch=1)),
        "one_frame": _noisy_speech(RATE, 400),
        # snip_edges=False reflects a clip shorter than a frame, as often as needed
        "shorter_than_a_frame": _noisy_speech(RATE, 150),
    }[case]
    options = {"snip_edges": False} if case == "shorter_than_a_frame" else {}
    got = _numpy(frontends.KaldiFbank(scale=32768, use_energy=True, **options)(x))[0]
    want = _kaldi(32768 * x[0], RATE, use_energy=True, **options)
    assert _relative(got, want) <= 1e-4


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: frontends.KaldiFbank()(np.zeros((1, 399), "float32")), "0 frames for 399"),
        (lambda: frontends.KaldiFbank(high_freq=9000), "high_freq=9000"),
        (lambda: frontends.KaldiFbank(8000, low_freq=4000), "low_freq=4000"),
        (lambda: frontends.KaldiFbank(num_mel_bins=200), "too many"),
        (lambda: frontends.KaldiFbank(num_mel_bins=2), "at least 3 mel bins"),
        (lambda: frontends.KaldiFbank(window_type="sine"), "window_type"),
        (lambda: frontends.KaldiFbank(preemphasis_coefficient=1.5), "preemphasis_coefficient"),
        (lambda: frontends.KaldiFbank(frame_length=0.01), "at least one"),
        (
            lambda: frontends.KaldiFbank(frame_length=25.0625, round_to_power_of_two=False),
            "must be even",
        ),
        (lambda: frontends.KaldiFbank(dither=-1.0), "dither"),
        (lambda: frontends.KaldiFbank(learnable="all"), "learnable"),
    ],
)
def test_bad_options_get_the_references_rule(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_kaldi_dither_is_seeded_and_has_its_strength():
    x = _noisy_speech(RATE, 4000)
    first = _numpy(frontends.KaldiFbank(dither=1.0, seed=3, use_log_fbank=False)(x))
    again = _numpy(frontends.KaldiFbank(dither=1.0, seed=3, use_log_fbank=False)(x))
    np.testing.assert_array_equal(first, again)
    # Kaldi's units (after scale): silence's dithered fbank is kaldi-native-fbank's, on
    # average. About 400 frames: a band's mean power is within 5% (its spread) of the
    # expectation, so 25% is some five spreads of the two means' difference.
    silence = np.zeros((2, 2 * RATE), "float32")
    frontend = frontends.KaldiFbank(dither=1.0, seed=3, scale=32768, use_log_fbank=False)
    got = _numpy(frontend(silence)).mean(axis=(0, 1))
    want = _kaldi(silence.reshape(-1), RATE, dither=1.0, use_log_fbank=False).mean(axis=0)
    np.testing.assert_allclose(got, want, rtol=0.25)


def test_kaldi_dither_is_drawn_for_each_frame():
    """Consecutive frames share 240 of their 400 samples: a dither drawn for the waveform
    would correlate their sums by 0.6; Kaldi's, drawn for each frame, does not."""
    frontend = frontends.KaldiFbank(
        dither=1.0,
        seed=0,
        window_type="rectangular",
        remove_dc_offset=False,
        preemphasis_coefficient=0.0,
    )
    coefficients = _numpy(frontend.trim(frontend.encoder(np.zeros((1, 64000), "float32"))))
    dc = coefficients[0, :, 0]  # each frame's sum of 400 unit-variance draws
    # About 400 frames: the correlation's spread is 0.05, the deviation's 3.5%.
    assert abs(np.corrcoef(dc[:-1], dc[1:])[0, 1]) < 0.25
    np.testing.assert_allclose(dc.std(), np.sqrt(400), rtol=0.15)


def test_kaldi_fbank_streams_with_snip_edges_and_refuses_without():
    x = _noisy_speech(RATE, 30 * 160 + 240)
    frontend = frontends.KaldiFbank(scale=32768, use_energy=True)
    want = _numpy(frontend(x))
    stream = streaming.Stream(frontend, sample_rate=RATE)
    chunks = [stream.process(x[:, i : i + 700]) for i in range(0, x.shape[1], 700)]
    got = np.concatenate([_numpy(c) for c in chunks], axis=1)
    got = np.concatenate([got, _numpy(stream.flush())], axis=1)[:, : want.shape[1]]
    assert _relative(got, want) <= 1e-4
    with pytest.raises(streaming.NotStreamableError, match="snip_edges=False"):
        streaming.StreamingStep(frontends.KaldiFbank(snip_edges=False))


@pytest.mark.parametrize("include_edge", [True, False])
def test_reflect_pad_is_numpys_at_one_reflection_and_at_many(include_edge):
    """Slices and flips where one reflection at each end suffices, the gather past that:
    both numpy's ``symmetric`` (Kaldi's) or ``reflect`` (torch.stft's) padding, cut."""
    from framebank.frontends._pretrained import reflect_pad

    mode = "symmetric" if include_edge else "reflect"
    x = np.random.default_rng(0).standard_normal((2, 9)).astype("float32")
    for left in (0, 3, 8, 20):
        for length in (4, 9, 12, 17, 40):
            want = np.pad(x, [(0, 0), (left, max(0, length - left - 9))], mode=mode)
            got = _numpy(reflect_pad(x, left, length, include_edge))
            np.testing.assert_array_equal(got, want[:, :length])


@pytest.mark.parametrize("hop", [160, 112])  # 5 blocks per frame: slices; 25: the gather
def test_frame_sums_and_first_samples_are_the_frames(hop):
    from framebank.methods import _frame_starts, _frame_sums, _sliced_frame_sums

    x = np.random.default_rng(1).standard_normal((2, 1500)).astype("float32")
    count = 1 + (1500 - 400) // hop
    frames = np.stack([x[:, f * hop : f * hop + 400] for f in range(count)], axis=1)
    for sums in (_frame_sums, _sliced_frame_sums):
        # float32 sums of 400 terms of unit size, in another order than numpy's
        np.testing.assert_allclose(_numpy(sums(x, 400, hop)), frames.sum(-1), atol=1e-4)
    np.testing.assert_array_equal(_numpy(_frame_starts(x, 400, hop)), frames[..., 0])


# Kaldi's processing through the FFT: the same float32 sums as tests/test_fft_method.py
# (a frame_len-term product against an FFT), so the same 1e-5 of the largest coefficient.
FFT_CASES = [
    {},
    {"use_energy": True, "snip_edges": False},  # the raw frames follow the DFT
    {"remove_dc_offset": False, "window_type": "hanning", "scale": 32768},
    {"preemphasis_coefficient": 0.0, "frame_length": 20.0, "frame_shift": 8.0},
    {"frame_shift": 7.0},  # 25 blocks a frame: the sums' and first samples' gather
    {"frame_length": 25.0625, "frame_shift": 6.25, "snip_edges": False},  # 401, odd
    {"sample_rate": 44100, "frame_shift": 7.0, "window_type": "rectangular"},  # 1102, 308
    # A window that does not start at 0: the first sample's term (povey's and hanning's is 0).
    {"window_type": "hamming"},
    {"preemphasis_coefficient": 1.0},  # (1 - c) = 0: no mean term, the mean still removed
    # fft_length = frame_len: no padding for the STFT, so pre-emphasis shifts by a slice
    {"round_to_power_of_two": False, "window_type": "hamming"},
]


@pytest.mark.parametrize("options", FFT_CASES, ids=[str(o) for o in FFT_CASES])
def test_kaldis_processing_runs_through_the_fft_with_the_dense_numbers(options):
    """DC removal, pre-emphasis and scale are linear: one STFT of the pre-emphasised signal
    and two rank-one terms per frame give the basis's product, and its input gradient.
    A DC offset and a ramp make the mean's term count."""
    x = _speech(samples=4000, batch=1) + np.linspace(0.2, 0.5, 4000, dtype="float32")
    fast, dense = (frontends.KaldiFbank(method=m, **options) for m in ("auto", "matmul"))
    assert fast.encoder.method.name == "rfft"
    assert fast.encoder.filterbank.windowed_dft is not None
    values, grads = [], []
    for frontend in (fast, dense):
        step = lambda s, f=frontend: f.encoder(f.prepare(s))  # noqa: E731
        values.append(_numpy(step(x)))
        grads.append(value_and_grads(lambda s, f=step: 0.5 * ops.sum(f(s) ** 2), [x])[1][0])
    assert _relative(values[0], values[1]) <= 1e-5
    assert _relative(grads[0], grads[1]) <= 1e-5


@pytest.mark.parametrize("samples", [3999, 4001])
@pytest.mark.parametrize("options", [{}, {"window_type": "hamming", "frame_shift": 7.0}])
def test_kaldis_fft_path_at_lengths_that_are_no_whole_number_of_blocks(options, samples):
    """The frame sums read the signal in blocks of gcd(frame_len, hop) samples, the last one
    zero-padded, and the STFT's padding holds the last sample shifted in by pre-emphasis:
    neither reaches a frame, so the dense numbers hold at lengths off the blocks' grid: the
    input above (one clip, the same ramp) a sample shorter or longer, the same 1e-5 of the
    largest coefficient."""
    x = _speech(samples=samples, batch=1) + np.linspace(0.2, 0.5, samples, dtype="float32")
    fast, dense = (frontends.KaldiFbank(method=m, **options) for m in ("auto", "matmul"))
    assert fast.encoder.method.name == "rfft"
    values, grads = [], []
    for frontend in (fast, dense):
        step = lambda s, f=frontend: f.encoder(f.prepare(s))  # noqa: E731
        values.append(_numpy(step(x)))
        grads.append(value_and_grads(lambda s, f=step: 0.5 * ops.sum(f(s) ** 2), [x])[1][0])
    assert values[0].shape == values[1].shape
    assert _relative(values[0], values[1]) <= 1e-5
    assert _relative(grads[0], grads[1]) <= 1e-5


def _float64_frames_and_basis(frontend, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The frames of ``x`` and the basis in float64: what both float32 paths round."""
    encoder = frontend.encoder
    length, hop = encoder.frame_len, encoder.hop
    signal = _numpy(frontend.prepare(x)).astype("float64")
    count = 1 + (signal.shape[1] - length) // hop
    frames = np.stack([signal[:, f * hop : f * hop + length] for f in range(count)], axis=1)
    return frames, encoder.filterbank.describe().basis()


OFFSET_CASES = [
    {},
    {"frame_shift": 7.0, "preemphasis_coefficient": 0.0},
    {"window_type": "rectangular", "use_energy": True, "snip_edges": False},
]


@pytest.mark.parametrize("offset", ["constant", "ramp"])
@pytest.mark.parametrize("options", OFFSET_CASES, ids=[str(o) for o in OFFSET_CASES])
def test_an_offset_far_above_the_signal_costs_only_its_float32_rounding(options, offset):
    """Speech at 1% on an offset 20 to 90 times larger. No coefficient depends on the offset
    (each frame loses its mean), but float32 sums round to it. The dense product's error is
    at most ``gamma_n * sum_i |x_i| |B_ij|`` (``n = frame_len`` products, ``gamma_n = n u /
    (1 - n u)``, ``u = 2**-24``: the dot product's bound, Higham, Accuracy and Stability of
    Numerical Algorithms, 3.1; the basis's own rounding to float32 is one more ``u`` of the
    same terms), which lets it be several 1e-5 of the largest coefficient here; the FFT's
    normwise bound (``log2(fft_length) u sqrt(fft_length)`` times the frame's norm) is below
    it at these sizes. The FFT path takes the signal's offset out first: a constant offset then
    reaches none of its sums, which round to the speech alone, as a plain windowed DFT's
    (tests/test_fft_method.py's 1e-5); a ramp's offset from that mean still reaches them."""
    x = 0.01 * _speech(samples=4000, batch=1)
    x += 0.9 if offset == "constant" else np.linspace(0.2, 0.5, 4000, dtype="float32")
    fast, dense = (frontends.KaldiFbank(method=m, **options) for m in ("auto", "matmul"))
    frames, basis = _float64_frames_and_basis(dense, x)
    want = frames @ basis
    n, u = frames.shape[-1], 2.0**-24
    gamma = (n + 1) * u / (1 - (n + 1) * u)
    bound = 1e-5 * np.abs(want).max() + gamma * (np.abs(frames) @ np.abs(basis))
    for frontend in (fast, dense):
        got = _numpy(frontend.encoder(frontend.prepare(x)))
        assert np.all(np.abs(got - want) <= bound)
    if offset == "constant":
        assert _relative(_numpy(fast.encoder(fast.prepare(x))), want) <= 1e-5


def _float64_available() -> bool:
    if keras.backend.backend() != "jax":
        return True
    import jax

    return bool(jax.config.jax_enable_x64)


@pytest.mark.skipif(not _float64_available(), reason="JAX without jax_enable_x64 has no float64")
def test_kaldis_fft_path_keeps_float64():
    """Under a float64 policy the rank-one terms' product stays float64 (Keras's torch
    matmul returns float64 products as float32): the FFT path is then within float64's
    rounding of the float64 product, far below float32's 6e-8."""
    x = _speech(samples=4000, batch=1).astype("float64") + 0.3
    fast = frontends.KaldiFbank(window_type="rectangular", dtype="float64")
    frames, basis = _float64_frames_and_basis(fast, x)
    got = _numpy(fast.encoder(fast.prepare(x)))
    assert got.dtype == np.float64
    assert _relative(got, frames @ basis) <= 1e-12


def test_kaldis_fft_path_keeps_to_the_weight_and_to_the_dense_path_where_it_trains():
    x = _speech(samples=4000, batch=1)
    learning = frontends.KaldiFbank(learnable="basis")
    assert learning.encoder.filterbank.windowed_dft is None  # a basis that trains: matmul
    learning(x)
    kernel = learning.encoder.filterbank.kernel
    _, _, (grad,) = value_and_grads(lambda s: ops.sum(learning(s)), [x], [kernel])
    assert np.abs(grad).max() > 0
    # One entry of a fixed weight edited: the product of the weight, not the FFT.
    fast, dense = frontends.KaldiFbank(), frontends.KaldiFbank(method="matmul")
    fast(x), dense(x)
    edited = _numpy(fast.encoder.filterbank.kernel).copy()
    edited[7, 3] += 50.0
    for frontend in (fast, dense):
        frontend.encoder.filterbank.kernel.assign(edited)
    assert _relative(_numpy(fast(x)), _numpy(dense(x))) <= 1e-5
    # Kaldi's processing has no inverse FFT: a decoder of it is a dense product.
    assert fb.Decoder(fast.encoder, kind="tied").method.name == "matmul"


# ------------------------------------------------------------------------- AST and BEATs


def test_ast_is_kaldi_fbank_then_asts_normalisation():
    # AST's and BEATs' reference is torchaudio's kaldi.fbank, which (unlike Kaldi and
    # kaldi-native-fbank) lets 128 bins from 20 Hz leave a mel bin empty at 512 points (its
    # log is then log(eps)); the bins are Kaldi's, checked against kaldi-native-fbank above.
    x = _noisy_speech(RATE, 8000)
    options = {"num_mel_bins": 128, "window_type": "hanning", "htk_compat": True}
    fbank = _numpy(frontends.KaldiFbank(**options, empty_bins="allow")(x))[0]
    want = (fbank + 4.2677393) / (2 * 4.5689974)
    assert _relative(_numpy(frontends.AST()(x))[0], want) <= 1e-6
    padded = _numpy(frontends.AST(target_length=1024)(x))[0]
    assert padded.shape == (1024, 128)
    np.testing.assert_allclose(padded[len(fbank) :], 4.2677393 / (2 * 4.5689974), rtol=1e-6)
    cut = _numpy(frontends.AST(target_length=10)(x))[0]
    assert _relative(cut, want[:10]) <= 1e-6
    with pytest.raises(ValueError, match="too many"):
        frontends.KaldiFbank(**options)


def test_kaldi_fbank_with_an_empty_bin_gives_log_eps_there():
    x = _noisy_speech(RATE, 8000)
    got = _numpy(frontends.KaldiFbank(num_mel_bins=128, empty_bins="allow")(x))[0]
    weights = fb.postprocessing.kaldi_mel_weights(RATE, 512, 128, empty_bins="allow")
    empty = ~weights.any(axis=0)
    assert empty.any()
    np.testing.assert_array_equal(got[:, empty], np.log(np.finfo(np.float32).eps))


def test_beats_is_kaldi_fbank_of_int16_scale_then_beats_normalisation():
    x = _noisy_speech(RATE, 8000)
    fbank = _numpy(frontends.KaldiFbank(num_mel_bins=128, empty_bins="allow")(32768 * x))[0]
    want = (fbank - 15.41663) / (2 * 6.55582)
    assert _relative(_numpy(frontends.BEATs()(x))[0], want) <= 1e-5


# ------------------------------------------------------------- torchaudio and Keras mels


def _torchaudio_mel(x: np.ndarray, n_fft=400, hop=200, n_mels=128, rate=RATE) -> np.ndarray:
    """torchaudio.transforms.MelSpectrogram's defaults: torchaudio 2.x does not load with the
    pinned torch, so its ``melscale_fbanks`` (htk, no norm) is transcribed here in numpy, and
    its STFT is ``torch.stft`` with the arguments torchaudio passes."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    window = torch.hann_window(n_fft, dtype=torch.float64)
    spec = torch.stft(
        torch.from_numpy(x.astype("float64")),
        n_fft,
        hop,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = (spec.abs() ** 2).numpy()  # [batch, freq, frames]
    all_freqs = np.linspace(0, rate // 2, n_fft // 2 + 1)
    m_pts = np.linspace(0.0, 2595.0 * np.log10(1.0 + (rate // 2) / 700.0), n_mels + 2)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fbanks = np.maximum(0.0, np.minimum(down, up))  # [freq, n_mels]
    return np.einsum("bft,fm->btm", power, fbanks)


def test_torchaudio_mel_is_torchaudios_defaults():
    x = _speech(samples=RATE)
    frontend = frontends.TorchaudioMel()
    got = _numpy(frontend(x))
    assert got.shape == (2, 81, 128) == tuple(frontend.compute_output_shape((2, RATE)))
    # Powers (no log): float32 rounding of the largest value, no more.
    assert _relative(got, _torchaudio_mel(x)) <= 1e-5


def test_keras_mel_is_keras_mel_spectrogram():
    x = _noisy_speech(RATE, RATE, batch=2)
    reference = keras.layers.MelSpectrogram()
    want = np.swapaxes(_numpy(reference(x)), 1, 2)
    frontend = frontends.KerasMel()
    got = _numpy(frontend(x))
    assert got.shape == want.shape == tuple(frontend.compute_output_shape((2, RATE)))
    # Decibels over 80 dB: Keras's own float32 result is 1.6e-5 of the largest value off a
    # float64 computation (bins near the floor), as Whisper's 8 decades; the bound is Whisper's.
    assert _relative(got, want) <= 5e-5
    powers = np.swapaxes(_numpy(keras.layers.MelSpectrogram(power_to_db=False)(x)), 1, 2)
    assert _relative(_numpy(frontends.KerasMel(power_to_db=False)(x)), powers) <= 1e-5


MEL_EDGE_CASES = ["silence", "full_scale", "shortest", "8000", "44100"]


def _mel_edge_case(case: str, shortest: int, noisy: bool) -> tuple[int, np.ndarray]:
    """``(rate, clip)``: silence, a square wave of speech's signs, the fewest samples the
    centred STFT takes, or speech at 8 or 44.1 kHz (a quarter second)."""
    rate = int(case) if case.isdigit() else RATE
    if case == "silence":
        return rate, np.zeros((1, 4000), "float32")
    if case == "full_scale":
        return rate, np.sign(_speech(samples=4000, batch=1))
    samples = shortest if case == "shortest" else rate // 4
    return rate, (_noisy_speech if noisy else _speech)(rate, samples, batch=1)


@pytest.mark.parametrize("case", MEL_EDGE_CASES)
def test_torchaudio_mel_edge_cases(case):
    # Powers, no log: real speech as it is (its empty band is as small in both).
    rate, x = _mel_edge_case(case, 201, noisy=False)
    got = _numpy(frontends.TorchaudioMel(sample_rate=rate)(x))
    want = _torchaudio_mel(x, rate=rate)
    if case == "silence":
        np.testing.assert_array_equal(got, want)  # zeros
    else:
        assert _relative(got, want) <= 1e-5


@pytest.mark.parametrize("case", MEL_EDGE_CASES)
def test_keras_mel_edge_cases(case):
    # Decibels over 80 dB: speech with noise 60 dB down, as test_keras_mel_is_keras_mel_spectrogram.
    rate, x = _mel_edge_case(case, 1025, noisy=True)
    want = np.swapaxes(_numpy(keras.layers.MelSpectrogram(sampling_rate=rate)(x)), 1, 2)
    assert _relative(_numpy(frontends.KerasMel(sampling_rate=rate)(x)), want) <= 5e-5


def test_centred_mels_refuse_streaming_and_short_clips():
    with pytest.raises(streaming.NotStreamableError, match="centred STFT"):
        streaming.StreamingStep(frontends.TorchaudioMel())
    with pytest.raises(
        ValueError, match="gives 0 frames for 1000 samples.*more than 1024. Give it at least 1025"
    ):
        frontends.KerasMel()(np.zeros((1, 1000), "float32"))


# ------------------------------------------------------- every preset: Keras's contract

PRESETS = [
    "whisper",
    "whisper_v3",
    "kaldi_fbank",
    "ast",
    "beats",
    "torchaudio_mel",
    "keras_mel",
]


@pytest.mark.parametrize("name", PRESETS)
def test_saves_and_loads_from_a_keras_file(name, tmp_path):
    x = _speech(samples=4000, batch=1)
    inputs = keras.Input((x.shape[1],))
    frontend = frontends.FRONTENDS[name](learnable=True, name=name)
    model = keras.Model(inputs, frontend(inputs))
    model.set_weights([w * 1.01 for w in model.get_weights()])  # "trained"
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.get_layer(name), frontends.FRONTENDS[name])
    np.testing.assert_allclose(_numpy(loaded(x)), _numpy(model(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("learnable", [True, "mel", "basis"])
def test_learnable_starts_at_the_fixed_numbers(name, learnable):
    x = _speech(samples=4000)
    # The same method: "auto" runs a fixed DFT basis as an FFT, a trainable one as a product.
    fixed = frontends.FRONTENDS[name](method="matmul")
    learning = frontends.FRONTENDS[name](learnable=learnable, method="matmul")
    np.testing.assert_array_equal(_numpy(learning(x)), _numpy(fixed(x)))
    assert not fixed.trainable_weights
    expected = {True: 2, "mel": 1, "basis": 1}[learnable]
    assert len(learning.trainable_weights) == expected


@pytest.mark.parametrize("name", [*PRESETS, "log_mel"])
def test_learned_mel_weights_stay_non_negative(name):
    """Unconstrained, Adam at 1e-2 drives about half the mel weights below 0 in a few
    steps, and a band whose power goes negative sits on the log's floor with no gradient."""
    keras.utils.set_random_seed(0)
    x = _speech(samples=4000, batch=4)
    frontend = frontends.FRONTENDS[name](learnable="mel")
    inputs = keras.Input((x.shape[1],))
    pooled = keras.layers.GlobalAveragePooling1D()(frontend(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    targets = np.random.default_rng(0).standard_normal((len(x), 2)).astype("float32")
    (layer,) = [step for step in frontend.postprocessing if hasattr(step, "mel")]
    start = _numpy(layer.mel).copy()
    for _ in range(10):
        model.train_on_batch(x, targets)
    mel = _numpy(layer.mel)
    assert np.abs(mel - start).max() > 0  # it learned
    assert mel.min() >= 0
    assert np.all(np.isfinite(_numpy(frontend(x))))


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
@pytest.mark.parametrize("name", PRESETS)
def test_200_adam_steps_stay_finite(name, policy):
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        x = _speech(samples=4000, batch=4)
        inputs = keras.Input((x.shape[1],))
        features = frontends.FRONTENDS[name](learnable=True)(inputs)
        pooled = keras.layers.GlobalAveragePooling1D()(features)
        model = keras.Model(inputs, keras.layers.Dense(2, dtype="float32")(pooled))
        model.compile(keras.optimizers.Adam(1e-2), "mse")
        targets = np.random.default_rng(0).standard_normal((len(x), 2)).astype("float32")
        losses = [float(np.asarray(model.train_on_batch(x, targets))) for _ in range(200)]
        assert np.all(np.isfinite(losses)), losses[-5:]
        for weight in model.weights:
            assert np.all(np.isfinite(_numpy(weight))), weight.path
    finally:
        keras.config.set_dtype_policy("float32")


# The presets, then Kaldi's frame energy (raw and windowed): its own branch of the graph.
EXPORTED = [(name, {}) for name in PRESETS] + [
    ("kaldi_fbank", {"use_energy": True}),
    ("kaldi_fbank", {"use_energy": True, "raw_energy": False}),
]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow export")
@pytest.mark.parametrize(("name", "options"), EXPORTED, ids=lambda v: str(v) if v else "defaults")
def test_exports_to_tflite_with_the_same_numbers(name, options, tmp_path):
    from framebank import export

    # Noisy: the telephone corpus's empty band above 4 kHz is rounding noise, which BEATs'
    # int16 scale lifts above Kaldi's log floor, and which differs between two float32 runs.
    x = _noisy_speech(RATE, 4000, batch=2)
    frontend = frontends.FRONTENDS[name](method="matmul", **options)
    want = _numpy(frontend(x))
    saved = export.export_saved_model(frontend, tmp_path / "saved")
    tflite = export.export_tflite(saved, tmp_path / "m.tflite")
    for got in (export.run_tflite(tflite, x), export.load_saved_model(saved)(x)):
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow export")
def test_tflite_refuses_dither_before_converting(tmp_path):
    from framebank import export

    frontend = frontends.KaldiFbank(dither=1.0, seed=0)
    frontend(_speech(samples=4000, batch=1))
    with pytest.raises(ValueError, match="dither=1.0 draws random noise.*dither=0"):
        export.export_tflite(frontend, tmp_path / "m.tflite")
    assert not (tmp_path / "m.saved_model").exists()  # refused before any work
    # A SavedModel folder holds no layer to ask: its graph's random draw is refused instead
    # of the converter's own failure, which named neither the draw nor dither.
    saved = export.export_saved_model(frontend, tmp_path / "saved")
    with pytest.raises(ValueError, match="draws random noise.*dither=0"):
        export.export_tflite(saved, tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()


def test_a_config_names_a_preset():
    frontend = fb.build_frontend({"frontend": "beats"})
    assert isinstance(frontend, frontends.BEATs)


def test_fine_tuning_in_front_of_a_frozen_encoder():
    """README's example: the front end's mel weights learn, the frozen encoder does not."""
    keras.utils.set_random_seed(0)
    x = _speech(samples=4000, batch=4)
    frontend = frontends.WhisperLogMel(learnable="mel", max_over="example")
    encoder = keras.Sequential([keras.layers.Conv1D(8, 3), keras.layers.GlobalAveragePooling1D()])
    encoder.trainable = False
    waveform = keras.Input((x.shape[1],))
    outputs = keras.layers.Dense(2, activation="softmax")(encoder(frontend(waveform)))
    model = keras.Model(waveform, outputs)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    frozen = [w.copy() for w in encoder.get_weights()]
    mel = _numpy(frontend.postprocessing[0].mel).copy()
    model.fit(x, np.array([0, 1, 0, 1]), epochs=3, verbose=0)
    for before, after in zip(frozen, encoder.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert np.abs(_numpy(frontend.postprocessing[0].mel) - mel).max() > 0
