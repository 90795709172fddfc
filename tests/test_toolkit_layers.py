"""The layers every audio toolkit has: decibels, MFCC, deltas, an STFT/ISTFT pair and
multichannel input, each against its librosa (or torchaudio) counterpart on real speech,
saved and loaded, streamed where causal, refused clearly where not. Backend-neutral.

Tolerances: every comparison is within 1e-5 of the largest reference value (the issue's
bar). The layers compute in float32, whose rounding (2**-24 relative per operation, a few
dozen operations deep: a DFT of 512 or a DCT of 40 terms) stays two orders below it; the
references compute in float64 from the same float32 input.
"""

from __future__ import annotations

import keras
import librosa
import numpy as np
import pytest
from helpers import speech
from keras import ops

import framebank as fb
from framebank import streaming

RATE = 16000
N_FFT, HOP = 512, 128


def _close(got, want, rel=1e-5):
    got, want = np.asarray(got, "float64"), np.asarray(want, "float64")
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=rel * np.abs(want).max())


@pytest.fixture(scope="module")
def mel_power():
    """Mel power spectrograms of two real speech clips, ``[batch, frames, 40]`` float32."""
    x = speech(0.5, RATE, batch=2)
    mel = librosa.feature.melspectrogram(y=x, sr=RATE, n_fft=N_FFT, hop_length=HOP, n_mels=40)
    return np.transpose(mel, (0, 2, 1)).astype("float32")


def _per_example(fn, x):
    return np.stack([fn(example.T).T for example in x])


@pytest.mark.parametrize("ref,top_db", [(1.0, 80.0), ("max", None), ("max", 40.0)])
def test_power_to_db_equals_librosa_per_example(mel_power, ref, top_db):
    got = ops.convert_to_numpy(fb.PowerToDb(ref=ref, top_db=top_db)(mel_power))
    ref_fn = np.max if ref == "max" else ref
    want = _per_example(lambda s: librosa.power_to_db(s, ref=ref_fn, top_db=top_db), mel_power)
    _close(got, want)


def test_amplitude_to_db_equals_librosa(mel_power):
    magnitude = np.sqrt(mel_power)
    got = ops.convert_to_numpy(fb.AmplitudeToDb(ref="max", top_db=60.0)(magnitude))
    want = _per_example(lambda s: librosa.amplitude_to_db(s, ref=np.max, top_db=60.0), magnitude)
    _close(got, want)


@pytest.mark.parametrize("dct_type,norm,lifter", [(2, "ortho", 0), (2, None, 22), (3, "ortho", 0)])
def test_mfcc_equals_librosa(mel_power, dct_type, norm, lifter):
    db = _per_example(librosa.power_to_db, mel_power).astype("float32")
    layer = fb.MFCC(n_mfcc=13, dct_type=dct_type, norm=norm, lifter=lifter)
    got = ops.convert_to_numpy(layer(db))
    want = _per_example(
        lambda s: librosa.feature.mfcc(S=s, n_mfcc=13, dct_type=dct_type, norm=norm, lifter=lifter),
        db,
    )
    _close(got, want)


def _torchaudio_mfcc(mel: np.ndarray, n_mfcc: int, log_mels: bool) -> np.ndarray:
    """torchaudio.transforms.MFCC after its MelSpectrogram, transcribed in float64 from its
    definition (torchaudio does not install beside this project's torch): ``create_dct(n_mfcc,
    n_mels, "ortho")`` on ``AmplitudeToDB("power", top_db=80)`` or ``log(mel + 1e-6)``, for
    one example ``[frames, n_mels]``."""
    mel = mel.astype("float64")
    if log_mels:
        features = np.log(mel + 1e-6)
    else:
        features = 10.0 * np.log10(np.maximum(mel, 1e-10))
        features = np.maximum(features, features.max() - 80.0)
    n_mels = mel.shape[-1]
    n = np.arange(n_mels)
    k = np.arange(n_mfcc)[:, None]
    dct = np.cos(np.pi / n_mels * (n + 0.5) * k)  # [n_mfcc, n_mels]
    dct[0] *= 1.0 / np.sqrt(2.0)
    dct *= np.sqrt(2.0 / n_mels)
    return features @ dct.T


@pytest.mark.parametrize("log_mels", [False, True])
def test_mfcc_torchaudio_convention_equals_its_definition(mel_power, log_mels):
    layer = fb.MFCC(n_mfcc=13, convention="torchaudio", log_mels=log_mels)
    got = ops.convert_to_numpy(layer(mel_power))
    want = np.stack([_torchaudio_mfcc(example, 13, log_mels) for example in mel_power])
    _close(got, want)


@pytest.mark.parametrize(
    "width,order,mode", [(9, 1, "interp"), (5, 2, "interp"), (7, 1, "nearest"), (9, 1, "mirror")]
)
def test_deltas_equal_librosa(mel_power, width, order, mode):
    x = _per_example(librosa.power_to_db, mel_power).astype("float32")
    got = ops.convert_to_numpy(fb.Deltas(width=width, order=order, mode=mode)(x))
    want = librosa.feature.delta(x, width=width, order=order, axis=1, mode=mode)
    _close(got, want)


@pytest.fixture(scope="module")
def waveform():
    return speech(0.5, RATE, batch=2)


@pytest.fixture(scope="module")
def librosa_stft(waveform):
    return np.transpose(librosa.stft(waveform, n_fft=N_FFT, hop_length=HOP), (0, 2, 1))


def test_stft_views_equal_librosa(waveform, librosa_stft):
    views = {view: fb.STFT(N_FFT, HOP, view=view)(waveform) for view in fb.stft.SPECTRUM_VIEWS}
    views = {view: ops.convert_to_numpy(y) for view, y in views.items()}
    complex_view = views["complex"][..., 0] + 1j * views["complex"][..., 1]
    assert np.abs(complex_view - librosa_stft).max() <= 1e-5 * np.abs(librosa_stft).max()
    _close(views["magnitude"], np.abs(librosa_stft))
    magnitude, phase = views["magnitude_phase"][..., 0], views["magnitude_phase"][..., 1]
    # The phase of a near-zero bin is arbitrary: compared through the complex value it gives.
    error = np.abs(magnitude * np.exp(1j * phase) - librosa_stft).max()
    assert error <= 1e-5 * np.abs(librosa_stft).max()


@pytest.mark.parametrize("view", ["complex", "magnitude_phase"])
def test_istft_inverts_stft_and_equals_librosa_on_a_masked_spectrum(waveform, view):
    stft = fb.STFT(N_FFT, HOP, view=view)
    istft = fb.ISTFT(N_FFT, HOP, view=view)
    spectrum = stft(waveform)
    back = ops.convert_to_numpy(istft(spectrum, length=waveform.shape[1]))
    _close(back, waveform)
    # A mask makes a spectrum that no signal has: librosa's least-squares inverse.
    mask = np.random.default_rng(0).uniform(size=spectrum.shape[:3]).astype("float32")
    masked = ops.convert_to_numpy(spectrum).copy()
    if view == "complex":
        masked *= mask[..., None]
        complex_masked = masked[..., 0] + 1j * masked[..., 1]
    else:
        masked[..., 0] *= mask
        complex_masked = masked[..., 0] * np.exp(1j * masked[..., 1])
    got = ops.convert_to_numpy(istft(masked))
    want = librosa.istft(np.transpose(complex_masked, (0, 2, 1)), n_fft=N_FFT, hop_length=HOP)
    _close(got, want)


@pytest.mark.parametrize("name", ["LogMel", "LEAF"])
def test_multichannel_equals_each_channel_alone(name):
    frontend = getattr(fb.frontends, name)(sample_rate=RATE)
    stereo = np.stack(list(speech(0.25, RATE, batch=2)), axis=-1)[None]  # [1, time, 2]
    got = ops.convert_to_numpy(fb.Multichannel(frontend)(stereo))
    want = np.stack([ops.convert_to_numpy(frontend(stereo[..., c])) for c in range(2)], axis=1)
    _close(got, want)


def test_multichannel_takes_a_front_ends_name_or_refuses_what_is_not_a_layer():
    named = fb.Multichannel("log_mel")
    assert isinstance(named.layer, fb.frontends.LogMel)
    stereo = np.zeros((1, 4000, 2), "float32")
    assert tuple(named(stereo).shape) == (1, 2, *fb.frontends.LogMel()(stereo[..., 0]).shape[1:])
    with pytest.raises(TypeError, match="Received: layer=40 of type int"):
        fb.Multichannel(40)
    with pytest.raises(ValueError, match="framebank.Multichannel"):
        fb.frontends.LogMel()(stereo)


def _layers():
    return [
        fb.PowerToDb(ref="max", top_db=60.0),
        fb.AmplitudeToDb(),
        fb.MFCC(n_mfcc=13, lifter=22),
        fb.MFCC(n_mfcc=13, convention="torchaudio"),
        fb.Deltas(width=5, order=2),
    ]


def test_each_layer_saves_loads_and_gives_its_shape(mel_power, tmp_path):
    x = mel_power[:1]
    for layer in _layers():
        inputs = keras.Input(x.shape[1:])
        model = keras.Model(inputs, layer(inputs))
        path = tmp_path / f"{layer.name}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        want = ops.convert_to_numpy(model(x))
        assert tuple(model.output.shape) == (None, *want.shape[1:])
        np.testing.assert_array_equal(ops.convert_to_numpy(loaded(x)), want)


def test_stft_pair_saves_and_loads(waveform, tmp_path):
    inputs = keras.Input((waveform.shape[1],))
    spectrum = fb.STFT(N_FFT, HOP)(inputs)
    model = keras.Model(inputs, fb.ISTFT(N_FFT, HOP)(spectrum))
    model.save(tmp_path / "pair.keras")
    loaded = keras.models.load_model(tmp_path / "pair.keras")
    np.testing.assert_array_equal(
        ops.convert_to_numpy(loaded(waveform)), ops.convert_to_numpy(model(waveform))
    )
    assert tuple(model.output.shape) == (None, (spectrum.shape[1] - 1) * HOP)


@pytest.mark.slow  # the stream's step traces once per backend: about 20 s here
def test_frame_wise_layers_stream_equal_to_offline(waveform):
    encoder = fb.Encoder(
        frame_len=256, hop=128, method="matmul", filterbank="mel", sample_rate=RATE
    )
    x = waveform[:1, :4000]
    peak = float(np.max(ops.convert_to_numpy(encoder(x))))
    # A stream sums each band in another order than the offline call: powers agree within
    # 1e-5 of the peak (streaming's own bar), so decibels within 10 log10(e) * 1e-5 * peak /
    # amin, and an orthonormal DCT of 40 of them within sqrt(40) times that.
    amin = 1e-3 * peak
    model = keras.Sequential([encoder, fb.PowerToDb(amin=amin, top_db=None), fb.MFCC(n_mfcc=13)])
    want = ops.convert_to_numpy(model(x))
    stream = streaming.Stream(model)
    # Equal chunks: one trace of the step.
    got = [stream.process(x[:, i : i + 1000]) for i in range(0, x.shape[1], 1000)]
    got = np.concatenate([*got, stream.flush()], axis=1)
    assert got.shape == want.shape
    atol = 10 * np.log10(np.e) * 1e-5 * peak / amin * np.sqrt(40)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)


@pytest.mark.parametrize(
    "layer,says",
    [
        (fb.PowerToDb(ref="max", top_db=None), "ref='max'"),
        (fb.PowerToDb(), "top_db=80.0"),
        (fb.Deltas(), "needs 4 frames after"),
        (fb.MFCC(convention="torchaudio"), "80 dB below"),
    ],
)
def test_layers_over_the_whole_clip_refuse_to_stream_saying_why(layer, says):
    model = keras.Sequential(
        [fb.Encoder(frame_len=400, hop=160, filterbank="mel", sample_rate=RATE), layer]
    )
    model.build((None, 8000))
    with pytest.raises(streaming.NotStreamableError, match=says):
        streaming.Stream(model)


def test_the_stft_refuses_to_stream_naming_the_encoder_that_does():
    model = keras.Sequential([fb.STFT(N_FFT, HOP)])
    model.build((None, 4000))
    with pytest.raises(streaming.NotStreamableError, match="STFT.*Encoder"):
        streaming.Stream(model)


def test_the_layers_are_post_processing_by_name_in_a_config(waveform):
    frontend = fb.build_frontend(
        {
            "filterbank": "mel",
            "frame_len": 400,
            "hop": 160,
            "sample_rate": RATE,
            "method": "matmul",
            "postprocessing": [
                "mel_spectrum",
                {"power_to_db": {"top_db": 80.0}},
                {"mfcc": {"n_mfcc": 13}},
                {"deltas": {"width": 5}},
            ],
        }
    )
    assert ops.convert_to_numpy(frontend(waveform)).shape == (2, 48, 13)


def test_mixed_float16_gives_float32_equal_to_float32(mel_power, waveform):
    want = [ops.convert_to_numpy(layer(mel_power)) for layer in _layers()]
    want_stft = ops.convert_to_numpy(fb.STFT(N_FFT, HOP)(waveform))
    try:
        keras.config.set_dtype_policy("mixed_float16")
        got = [layer(mel_power) for layer in _layers()]
        got_stft = fb.STFT(N_FFT, HOP)(waveform)
    finally:
        keras.config.set_dtype_policy("float32")
    for g, w in zip([*got, got_stft], [*want, want_stft], strict=True):
        assert keras.backend.standardize_dtype(g.dtype) == "float32"
        np.testing.assert_array_equal(ops.convert_to_numpy(g), w)


@pytest.mark.parametrize(
    "make,says",
    [
        (lambda: fb.PowerToDb(ref="min"), "ref"),
        (lambda: fb.PowerToDb(top_db=-1), "top_db"),
        (lambda: fb.AmplitudeToDb(amin=0), "amin"),
        (lambda: fb.MFCC(dct_type=4), "dct_type"),
        (lambda: fb.MFCC(convention="torchaudio", lifter=22), "lifter"),
        (lambda: fb.Deltas(width=4), "width"),
        (lambda: fb.Deltas(mode="wrap"), "mode"),
        (lambda: fb.STFT(512, view="power"), "view"),
        (lambda: fb.MFCC(n_mfcc=50)(np.zeros((1, 3, 40), "float32")), "n_mfcc"),
        (lambda: fb.Deltas()(np.zeros((1, 5, 4), "float32")), "at least 9 frames"),
        (lambda: fb.ISTFT(512)(np.zeros((1, 5, 100, 2), "float32")), "257"),
        (lambda: fb.Multichannel(fb.Encoder(8, 16, 8))(np.zeros((1, 64), "float32")), "channels"),
        (lambda: fb.PowerToDb(ref="max")(np.ones((5, 4), "float32")), "batch axis"),
        (lambda: fb.STFT(64)(np.zeros(256, "float32")), "STFT takes mono.*x\\[None\\]"),
        (lambda: fb.STFT(64)(np.zeros((1, 256, 2), "float32")), "STFT takes.*Multichannel"),
        (lambda: fb.STFT(64, center=False)(np.zeros((1, 40), "float32")), "STFT.*center=True"),
    ],
)
def test_bad_options_and_shapes_are_refused_naming_them(make, says):
    with pytest.raises(ValueError, match=says):
        make()
