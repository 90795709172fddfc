"""The streaming step exported to TFLite and ONNX, driven hop by hop, equals offline Keras."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from framebank import streaming
from framebank.frontends import FRONTENDS
from framebank.streaming import export

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="exports the step with TensorFlow"
)

RATE = 16000


def _speech(rate: int, samples: int, batch: int = 2) -> np.ndarray:
    from framebank.audio import load_audio, read_manifest

    clip = next(c for c in read_manifest() if c.seconds > 2)
    x, _ = load_audio(clip.path, rate)
    x = x[None, 4000 : 4000 + samples].astype("float32")
    return np.concatenate([x, 0.5 * x[:, ::-1]])[:batch]  # a second, different example


def _relative(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.abs(got - want).max() / np.abs(want).max())


RUNNERS = {
    "tflite": (export.export_step_tflite, export.tflite_step_runner),
    "onnx": (export.export_step_onnx, export.onnx_step_runner),
}


@pytest.mark.parametrize("kind", sorted(RUNNERS))
def test_pcen_mel_step_hop_by_hop(kind, tmp_path):
    """The protocol by hand: phase zeros first, one hop a call, the warm-up dropped."""
    frontend = FRONTENDS["pcen_mel"](sample_rate=RATE, method="matmul")
    x = _speech(RATE, 20 * 160)
    want = keras.ops.convert_to_numpy(frontend(x))
    write, runner = RUNNERS[kind]
    run = runner(write(frontend, tmp_path / f"step.{kind}"))
    meta = export.metadata(frontend)
    state = export.initial_state_numpy(frontend, batch=2)
    padded = np.pad(x, [(0, 0), (meta["phase"], 0)])
    frames = []
    for k in range(padded.shape[1] // meta["hop"]):
        output, state = run(padded[:, k * meta["hop"] : (k + 1) * meta["hop"]], state)
        frames.append(output)
    got = np.concatenate(frames, axis=1)[:, meta["warmup"] :]
    assert got.shape[1] >= 18  # every frame whose samples all arrived
    assert _relative(got, want[:, : got.shape[1]]) < 1e-4
    # The same file with a batch of one: the batch is dynamic.
    state = export.initial_state_numpy(frontend, batch=1)
    output, _ = run(padded[:1, : meta["hop"]], state)
    assert output.shape == (1, 1, 40)


@pytest.mark.parametrize("kind", sorted(RUNNERS))
@pytest.mark.parametrize("name", ["leaf", "log_mel"])
def test_exported_frontend_through_stream_equals_offline(name, kind, tmp_path):
    frontend = FRONTENDS[name](sample_rate=RATE, method="strided_conv")
    x = _speech(RATE, 12 * 160)
    want = keras.ops.convert_to_numpy(frontend(x))
    write, runner = RUNNERS[kind]
    stream = streaming.Stream(frontend, step_fn=runner(write(frontend, tmp_path / f"s.{kind}")))
    parts = [stream.process(x[:, i : i + 160]) for i in range(0, x.shape[1], 160)]
    got = np.concatenate([*parts, stream.flush()], axis=1)
    assert _relative(got, want) < 1e-4


@pytest.mark.parametrize("kind", sorted(RUNNERS))
def test_exported_denoiser_equals_offline(kind, tmp_path):
    from framebank.training.compare import CompareConfig, build_denoiser

    config = CompareConfig(chunk_seconds=0.25, methods=["matmul"])
    model = build_denoiser(config, "matmul", "basis_glorot_uniform", 0)
    x = _speech(config.sample_rate, config.chunk_samples)
    want = keras.ops.convert_to_numpy(model(x))
    write, runner = RUNNERS[kind]
    stream = streaming.Stream(model, step_fn=runner(write(model, tmp_path / f"d.{kind}")))
    parts = [stream.process(x[:, i : i + 20]) for i in range(0, x.shape[1], 20)]
    got = np.concatenate([*parts, stream.flush()], axis=1)
    assert _relative(got, want) < 1e-4


@pytest.mark.parametrize("kind", sorted(RUNNERS))
def test_fft_conv_is_replaced_by_an_exportable_method(kind, tmp_path):
    frontend = FRONTENDS["leaf"](sample_rate=RATE, method="fft_conv")
    x = _speech(RATE, 12 * 160)
    want = keras.ops.convert_to_numpy(frontend(x))
    write, runner = RUNNERS[kind]
    with pytest.warns(UserWarning, match="runs 'strided_conv'"):
        step_fn = runner(write(frontend, tmp_path / f"x.{kind}"))
    stream = streaming.Stream(frontend, step_fn=step_fn)
    parts = [stream.process(x[:, i : i + 160]) for i in range(0, x.shape[1], 160)]
    got = np.concatenate([*parts, stream.flush()], axis=1)
    assert _relative(got, want) < 1e-4


def test_metadata_names_the_state_and_latency():
    frontend = FRONTENDS["log_mel"](sample_rate=RATE)
    frontend(np.zeros((1, 800), "float32"))
    meta = export.metadata(frontend)
    assert meta["hop"] == 160 and meta["phase"] == 120 and meta["warmup"] == 1
    assert meta["state"]["s0_mel_encoder_buffer"] == {"shape": [None, 240], "dtype": "float32"}
    assert meta["latency"]["delay"] == 199


def test_exported_denoiser_with_ten_millisecond_blocks(tmp_path):
    from framebank.training.compare import CompareConfig, build_denoiser

    config = CompareConfig(chunk_seconds=0.25, methods=["matmul"])
    model = build_denoiser(config, "matmul", "basis_glorot_uniform", 0)
    x = _speech(config.sample_rate, config.chunk_samples)
    step = streaming.StreamingStep(model, frames_per_step=4)
    run = export.tflite_step_runner(export.export_step_tflite(step, tmp_path / "d.tflite"))
    assert export.metadata(step)["block"] == 80
    stream = streaming.Stream(step, step_fn=run)
    parts = [stream.process(x[:, i : i + 80]) for i in range(0, x.shape[1], 80)]
    got = np.concatenate([*parts, stream.flush()], axis=1)
    assert _relative(got, keras.ops.convert_to_numpy(model(x))) < 1e-4
