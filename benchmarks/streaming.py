"""Streaming cost: the per-hop step against the offline cost per frame, Keras and TFLite.

One command (TensorFlow backend, about two minutes on 2 cores)::

    KERAS_BACKEND=tensorflow python benchmarks/streaming.py            # the table
    KERAS_BACKEND=tensorflow python benchmarks/streaming.py --quick    # a smoke run

For LogMel, PCENMel, LEAF (16 kHz, 10 ms hops) and ``framebank compare``'s denoiser (8 kHz,
its 20-sample hop), batch 1, every time measured in this one run:

* offline: the model on a 10 s clip, compiled (``tf.function``), divided by its frames;
* Keras step: the compiled :class:`framebank.streaming.StreamingStep` on one hop;
* TFLite, one thread: the offline model (``framebank.export.export_tflite``) per frame,
  and the exported step (``framebank.streaming.export``) per hop.

``step / frame`` is the per-hop cost over the offline cost per frame (goal under TFLite:
at most 3); the real-time factor is the per-hop time over the hop's duration (goal for
LogMel and PCENMel: below 0.05). The front ends run their own method under Keras (LEAF:
``fft_conv``) and an exportable one under TFLite (LEAF: ``strided_conv``, LogMel and
PCENMel: ``matmul``), with the same weights. Timings on a shared machine are noisy:
compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _models(quick: bool) -> dict:
    """name -> (keras model, exportable twin, sample rate)."""
    import framebank as fb
    from framebank.training.compare import CompareConfig, build_denoiser

    models = {}
    for name, cls, exportable in (
        ("LogMel", fb.frontends.LogMel, "matmul"),
        ("PCENMel", fb.frontends.PCENMel, "matmul"),
        ("LEAF", fb.frontends.LEAF, "strided_conv"),
    ):
        model = cls(sample_rate=16000)
        twin = cls(sample_rate=16000, method=exportable)
        model(np.zeros((1, 1600), "float32"))
        twin(np.zeros((1, 1600), "float32"))
        twin.set_weights(model.get_weights())
        models[name] = (model, twin, 16000)
    config = CompareConfig(chunk_seconds=0.25, methods=["matmul"])
    denoiser = build_denoiser(config, "matmul", "basis_glorot_uniform", 0)
    models["denoiser"] = (denoiser, denoiser, config.sample_rate)
    return models


def _offline_model(layer):
    """A functional model with a dynamic time axis (the denoiser's input is fixed)."""
    from framebank.export import serving_model

    if isinstance(layer, keras.Model):
        inputs = keras.Input((None,))
        x = inputs
        for inner in layer.layers[1:]:
            x = inner(x)  # the decoder without its fixed length
        return keras.Model(inputs, x)
    return serving_model(layer)


def _tflite_runner(path: Path):
    """A one-thread interpreter on ``path``: XNNPACK where it prepares, else builtin."""
    import tensorflow as tf

    resolvers = tf.lite.experimental.OpResolverType
    for resolver in (resolvers.AUTO, resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
        interpreter = tf.lite.Interpreter(
            model_path=str(path), num_threads=1, experimental_op_resolver_type=resolver
        )
        runner = interpreter.get_signature_runner("serve")
        yield runner, "xnnpack" if resolver == resolvers.AUTO else "builtin"


def _export_fixed(model, shape: tuple, path: Path) -> Path:
    """A ``.tflite`` of ``model`` on a waveform of one fixed ``shape``."""
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve", lambda x: model(x), input_signature=[tf.TensorSpec(shape, tf.float32, "x")]
    )
    with tempfile.TemporaryDirectory() as saved:
        archive.write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["serve"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        path.write_bytes(converter.convert())
    return path


def _first_that_runs(path: Path, clip: np.ndarray) -> tuple:
    """``(signature runner, kernels, input name)`` of the first interpreter that runs."""
    for runner, kernels in _tflite_runner(path):
        (key,) = runner.get_input_details()
        try:
            runner(**{key: clip})
        except RuntimeError:
            continue
        return runner, kernels, key
    raise RuntimeError(f"No TFLite interpreter runs {path}")


def measure(
    name: str, model, twin, rate: int, seconds: float, hops: int, folder: Path, per_step: int = 1
) -> dict:
    import tensorflow as tf

    from framebank import streaming
    from framebank.streaming import export as step_export

    step = streaming.StreamingStep(model, frames_per_step=per_step)
    twin_step = streaming.StreamingStep(twin, frames_per_step=per_step)
    hop = step.block
    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal((1, int(seconds * rate)))).astype("float32")
    offline = _offline_model(model)
    run_offline = tf.function(lambda x: offline(x))
    frames = int(run_offline(clip).shape[1]) if not step.waveform_out else clip.shape[1] // step.hop
    run_offline(clip)
    offline_s = _median_seconds(lambda: run_offline(clip).numpy(), 5)

    run_step = tf.function(step.step)
    state = step.initial_state(1)
    block = tf.constant(clip[:, :hop])
    y, state = run_step(block, state)

    def keras_hops():
        nonlocal state
        for _ in range(hops):
            out, state = run_step(block, state)
        out.numpy()

    keras_hop_s = _median_seconds(keras_hops, 3) / hops
    # Where a Keras step's time goes: tf.function's own call, measured on a function that
    # takes and returns the same tensors and computes nothing.
    empty = tf.function(lambda b, s: (b, s))
    empty(block, state)

    def empty_hops():
        for _ in range(hops):
            out, _ = empty(block, state)
        out.numpy()

    keras_call_s = _median_seconds(empty_hops, 3) / hops

    # TFLite, one thread: the offline model, then the step.
    # The clip's length fixed: framebank.export's dynamic-length file does not convert for
    # PCEN (its blocked smoother slices with a new axis TFLite's StridedSlice lacks).
    tflite_offline = _export_fixed(_offline_model(twin), clip.shape, folder / f"{name}.tflite")
    runner, offline_kernels, key = _first_that_runs(tflite_offline, clip)
    tflite_offline_s = _median_seconds(lambda: runner(**{key: clip}), 5)

    tflite_step = step_export.export_step_tflite(twin_step, folder / f"{name}_step.tflite")
    run = step_export.tflite_step_runner(tflite_step, num_threads=1)
    np_state = step_export.initial_state_numpy(twin_step, 1)
    np_block = clip[:, :hop]
    run(np_block, np_state)

    def tflite_hops():
        nonlocal np_state
        for _ in range(hops):
            _, np_state = run(np_block, np_state)

    tflite_hop_s = _median_seconds(tflite_hops, 3) / hops
    # The interpreter's own work, inputs already set: the rest is the Python runner.
    # (The interpreter refuses invoke() while a signature runner holds it: the runner's own
    # wrapper is called, with the inputs of its last call still set.)
    signature = run.signature_runner
    wrapper, subgraph = signature._interpreter_wrapper, signature._subgraph_index

    def invokes():
        for _ in range(hops):
            wrapper.Invoke(subgraph)

    tflite_invoke_s = _median_seconds(invokes, 3) / hops
    hop_seconds = hop / rate
    frame_s, tflite_frame_s = offline_s / frames, tflite_offline_s / frames
    return {
        "model": name,
        "hop": f"{hop} ({1000 * hop_seconds:g} ms, {per_step} frame{'s' * (per_step > 1)})",
        "offline_frame_us": 1e6 * frame_s,
        "keras_hop_us": 1e6 * keras_hop_s,
        "keras_call_us": 1e6 * keras_call_s,
        "keras_ratio": keras_hop_s / per_step / frame_s,
        "keras_rtf": keras_hop_s / hop_seconds,
        "tflite_frame_us": 1e6 * tflite_frame_s,
        "tflite_hop_us": 1e6 * tflite_hop_s,
        "tflite_invoke_us": 1e6 * tflite_invoke_s,
        "tflite_ratio": tflite_hop_s / per_step / tflite_frame_s,
        "tflite_rtf": tflite_hop_s / hop_seconds,
        "tflite_kernels": f"{offline_kernels}/{run.delegate}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 1 s clip, few hops")
    args = parser.parse_args()
    seconds, hops = (1.0, 20) if args.quick else (10.0, 200)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, (model, twin, rate) in _models(args.quick).items():
            rows.append(measure(name, model, twin, rate, seconds, hops, Path(folder)))
            # Four frames a step: the denoiser's 10 ms at 8 kHz; for the mel front ends, what
            # amortising the basis over frames buys (40 ms steps, 30 ms more delay).
            if name in ("denoiser", "LogMel", "PCENMel"):
                rows.append(measure(name, model, twin, rate, seconds, hops, Path(folder), 4))
            print(f"measured {name}", file=sys.stderr)
    header = (
        "| model | step | Keras offline µs/frame | Keras step µs (tf.function call alone) | "
        "step/frame | RTF | TFLite offline µs/frame | TFLite step µs (invoke alone) | "
        "step/frame | RTF | TFLite kernels (offline/step) |"
    )
    print(header)
    print("|---" * 11 + "|")
    for r in rows:
        print(
            f"| {r['model']} | {r['hop']} | {r['offline_frame_us']:.1f} | "
            f"{r['keras_hop_us']:.0f} ({r['keras_call_us']:.0f}) | {r['keras_ratio']:.1f} | "
            f"{r['keras_rtf']:.3f} | {r['tflite_frame_us']:.1f} | {r['tflite_hop_us']:.0f} "
            f"({r['tflite_invoke_us']:.0f}) | {r['tflite_ratio']:.1f} | {r['tflite_rtf']:.3f} | "
            f"{r['tflite_kernels']} |"
        )
    print(
        f"\nkeras {keras.__version__}, backend {keras.backend.backend()}, batch 1, "
        f"{seconds:g} s clip, {hops} hops a timing, {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
