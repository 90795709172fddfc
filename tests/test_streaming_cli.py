"""``framebank stream``: a saved denoiser or front end through the streaming path."""

from __future__ import annotations

import io
import sys

import keras
import numpy as np
import pytest
import soundfile as sf

from framebank import cli


def _speech(rate: int, samples: int) -> np.ndarray:
    from framebank.audio import load_audio, read_manifest

    clip = next(c for c in read_manifest() if c.seconds > 2)
    x, _ = load_audio(clip.path, rate)
    return x[3000 : 3000 + samples].astype("float32")


@pytest.fixture(scope="module")
def denoiser(tmp_path_factory):
    from framebank.training.compare import CompareConfig, build_denoiser

    config = CompareConfig(chunk_seconds=0.25, methods=["matmul"])
    model = build_denoiser(config, "matmul", "basis_glorot_uniform", 0)
    path = tmp_path_factory.mktemp("models") / "denoiser.keras"
    model.save(path)
    return path, model, config


@pytest.fixture(scope="module")
def logmel(tmp_path_factory):
    from framebank.frontends import LogMel

    inputs = keras.Input((None,))
    model = keras.Model(inputs, LogMel(sample_rate=16000)(inputs))
    path = tmp_path_factory.mktemp("models") / "logmel.keras"
    model.save(path)
    return path, model


def test_stream_a_wav_through_a_denoiser(denoiser, tmp_path):
    path, model, config = denoiser
    x = _speech(config.sample_rate, config.chunk_samples)
    sf.write(tmp_path / "in.wav", x, config.sample_rate, subtype="FLOAT")
    out = tmp_path / "out.wav"
    assert (
        cli.main(["stream", str(path), str(tmp_path / "in.wav"), str(out), "--chunk-ms", "7"]) == 0
    )
    got, rate = sf.read(out, dtype="float32")
    want = keras.ops.convert_to_numpy(model(x[None]))[0]
    assert rate == config.sample_rate
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max())


def test_stream_raw_pcm_through_stdin_and_stdout(denoiser, monkeypatch):
    path, model, config = denoiser
    x = _speech(config.sample_rate, config.chunk_samples)
    pcm = np.round(x * 32767).astype("<i2")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(pcm.tobytes())))
    sink = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(sink))
    argv = ["stream", str(path), "-", "-", "--rate", str(config.sample_rate), "--format", "s16le"]
    assert cli.main(argv) == 0
    got = np.frombuffer(sink.getvalue(), "<i2") / 32768.0
    want = keras.ops.convert_to_numpy(model((pcm / 32768.0).astype("float32")[None]))[0]
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1.5 / 32768  # 16-bit rounding


def test_stream_a_front_end_writes_npy(logmel, tmp_path):
    path, model = logmel
    x = _speech(16000, 4000)
    sf.write(tmp_path / "in.wav", np.stack([x, 0.5 * x], axis=1), 16000, subtype="FLOAT")
    out = tmp_path / "features.npy"
    assert cli.main(["stream", str(path), str(tmp_path / "in.wav"), str(out)]) == 0
    got = np.load(out)
    want = keras.ops.convert_to_numpy(model(np.stack([x, 0.5 * x])))
    assert got.shape == want.shape == (2, 26, 40)  # one stream a channel
    assert np.abs(got - want).max() / np.abs(want).max() < 5e-6


@pytest.mark.parametrize(
    "argv, message",
    [
        (["stream", "m.onnx", "in.wav", "out.wav"], "MODEL must be a saved model, a .keras file"),
        (["stream", "{model}", "-", "out.wav"], "needs --rate"),
        (["stream", "{model}", "missing.wav", "out.wav"], "IN: no file missing.wav"),
        (["stream", "{model}", "{wav}", "out.mp3"], "OUT must be a .wav file"),
        (["stream", "{model}", "{wav}", "out.npy"], "denoiser (waveform out): OUT must be .wav"),
        (["stream", "{model}", "{wav}", "out.wav", "--chunk-ms", "0"], "positive number"),
    ],
)
def test_stream_mistakes_are_one_line_exit_2(argv, message, denoiser, tmp_path, capsys):
    path, _, config = denoiser
    wav = tmp_path / "in.wav"
    sf.write(wav, np.zeros(800, "float32"), config.sample_rate)
    argv = [a.format(model=path, wav=wav) for a in argv]
    argv = [str(tmp_path / a) if a.startswith("out.") else a for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_a_rate_that_differs_from_the_models_is_one_line(logmel, tmp_path, capsys):
    path, _ = logmel
    sf.write(tmp_path / "in.wav", np.zeros(800, "float32"), 8000)
    assert cli.main(["stream", str(path), str(tmp_path / "in.wav"), str(tmp_path / "f.npy")]) == 2
    assert "8000 Hz but the model was built for 16000 Hz: add --resample" in capsys.readouterr().err


def test_resample_streams_audio_at_another_rate_as_the_resampled_file(logmel, tmp_path):
    """--resample: soxr's stream resampler gives the samples soxr.resample gives the whole
    file (as framebank.audio.load_audio reads it), so the features are the offline ones
    within the streaming tolerance of test_stream_a_front_end_writes_npy."""
    import soxr

    path, model = logmel
    x = _speech(8000, 4000)
    sf.write(tmp_path / "in.wav", x, 8000, subtype="FLOAT")
    out = tmp_path / "features.npy"
    argv = ["stream", str(path), str(tmp_path / "in.wav"), str(out), "--resample"]
    assert cli.main(argv) == 0
    got = np.load(out)
    upsampled = soxr.resample(x, 8000, 16000).astype("float32")
    want = keras.ops.convert_to_numpy(model(upsampled[None]))
    assert got.shape == want.shape == (1, 51, 40)
    assert np.abs(got - want).max() / np.abs(want).max() < 5e-6
