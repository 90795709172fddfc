"""Export the streaming step: TFLite and ONNX, the state as explicit inputs and outputs.

The exported function is :meth:`~framebank.streaming.StreamingStep.step` traced by
``tf.function`` under ``KERAS_BACKEND=tensorflow``: inputs ``block`` (``[batch, block]``
float32) and one tensor a state entry (named by its key, batch dynamic; ``position`` and
the ``*_limit`` entries are int32 scalars), outputs ``output`` and ``new_<key>`` for each
state entry. Drive it one hop a call: start from :func:`initial_state_numpy`, prepend
``phase`` zeros to the audio, drop the first ``warmup`` outputs (all three are in
:func:`metadata`). The TFLite file uses builtin operators only; the ONNX file comes from
``tf2onnx``. ``fft_conv`` has no operator in either (``Method.exportable``): a layer or
model given here is rebuilt with ``strided_conv`` first (:func:`framebank.export.exportable_model`:
the same weights, outputs checked equal, a warning says so).

TensorFlow is imported here only, never at ``import framebank``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np

from framebank._onnx import export_module, register_onnx_handlers
from framebank.methods import portable
from framebank.streaming._plan import StreamingStep

__all__ = [
    "export_step_onnx",
    "export_step_tflite",
    "initial_state_numpy",
    "metadata",
    "onnx_step_runner",
    "tflite_step_runner",
]


def _as_step(layer: Any) -> StreamingStep:
    return layer if isinstance(layer, StreamingStep) else StreamingStep(layer)


def _exportable_step(layer: Any, what: str) -> StreamingStep:
    """The step of ``layer`` with every method exportable (a step given is used as it is)."""
    from framebank.export import _exportable

    if isinstance(layer, StreamingStep):
        return layer
    # A step runs the encoder and the steps, never LEAF's own call: its band-limited path
    # plays no part, so only methods are replaced.
    return StreamingStep(_exportable(layer, what, paths=False))


def _check(step: StreamingStep, what: str) -> None:
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"{what} export of a streaming step needs KERAS_BACKEND=tensorflow. Received: "
            f"backend={keras.backend.backend()!r}. Save the model (`model.save('x.keras')`) "
            "and export it from a process started with KERAS_BACKEND=tensorflow."
        )
    for stage in step.stages:
        method = getattr(stage.layer, "method", None)
        # A method with a fallback (rfft: matmul) runs it while exporting (`portable`).
        if not getattr(method, "exportable", True) and not getattr(method, "fallback", None):
            raise ValueError(
                f"{what} cannot take layer {stage.layer.name!r}: its method={method.name!r} "
                "has no operator there. The method changes no weight: build the same model "
                "with method='strided_conv' (or 'matmul'), load the weights and export that."
            )


def state_keys(step: StreamingStep) -> list[str]:
    """The state entries in the exported order."""
    return list(step.state_spec())


def metadata(layer: Any) -> dict:
    """What a caller of the exported step needs: ``hop``, ``phase``, ``warmup``, the state
    entries with their shapes and dtypes, and the latency."""
    step = _as_step(layer)
    return {
        "hop": step.hop,
        "block": step.block,
        "frames_per_step": step.frames_per_step,
        "phase": step.phase,
        "warmup": step.warmup,
        "waveform_out": step.waveform_out,
        "state": {k: {"shape": list(s), "dtype": d} for k, (s, d) in step.state_spec().items()},
        "latency": step.latency.as_dict(),
    }


def initial_state_numpy(layer: Any, batch: int) -> dict[str, np.ndarray]:
    """:meth:`StreamingStep.initial_state` as numpy arrays, for an exported step."""
    step = _as_step(layer)
    return {
        k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in step.initial_state(batch).items()
    }


def step_tf_function(layer: Any) -> tuple[Any, list[str]]:
    """``(tf.function with a flat input signature, state keys)`` of the step."""
    import tensorflow as tf

    step = _as_step(layer)
    _check(step, "TFLite/ONNX")
    keys = state_keys(step)
    spec = step.state_spec()
    signature = [tf.TensorSpec((None, step.block, *step.input_feature), tf.float32, name="block")]
    signature += [tf.TensorSpec(spec[k][0], spec[k][1], name=k) for k in keys]

    def run(block: Any, *flat: Any) -> dict:
        with portable():  # traced when converted: methods without an operator there fall back
            output, new = step.step(block, dict(zip(keys, flat, strict=True)))
        return {"output": output, **{f"new_{k}": new[k] for k in keys}}

    return tf.function(run, input_signature=signature, autograph=False), keys


def _writable(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"Cannot write {str(path)!r}: its folder {str(path.parent)!r} does not exist."
        )
    return path


def export_step_tflite(layer: Any, path: str | os.PathLike) -> Path:
    """Write the step as a ``.tflite`` flat buffer (builtin operators, batch dynamic).

    Through a SavedModel written by Keras's ``ExportArchive`` in a temporary folder (its
    variables tracked there, then frozen by the converter).
    """
    import tensorflow as tf

    path = _writable(path)
    step = _exportable_step(layer, "TFLite")
    function, _ = step_tf_function(step)
    archive = keras.export.ExportArchive()
    archive.track(step.layer)
    archive.add_endpoint("step", function, input_signature=function.input_signature)
    with tempfile.TemporaryDirectory() as folder:
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=["step"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        path.write_bytes(converter.convert())
    return path


def export_step_onnx(layer: Any, path: str | os.PathLike, opset: int = 17) -> Path:
    """Write the step as an ONNX file through ``tf2onnx`` (batch dynamic).

    ONNX has no ``log1p`` or ``expm1`` (PCEN's log-space root uses both): they are
    written as ``log(1 + x)`` and ``exp(x) - 1``, exact to float32 rounding of ``1 + x``.
    """
    tf2onnx = export_module("tf2onnx")
    register_onnx_handlers()
    path = _writable(path)
    function, _ = step_tf_function(_exportable_step(layer, "ONNX"))
    tf2onnx.convert.from_function(
        function, input_signature=function.input_signature, opset=opset, output_path=str(path)
    )
    return path


def tflite_step_runner(path: str | os.PathLike, num_threads: int | None = None) -> Any:
    """``run(block, state) -> (output, new_state)`` (numpy) over a ``.tflite`` step.

    With TFLite's default XNNPACK delegate where it can prepare the graph; some (LEAF's
    401-tap stride-1 filters as a convolution) it cannot resize, and those run on the
    builtin kernels. ``run.delegate`` says which ran.
    """
    import tensorflow as tf

    resolvers = tf.lite.experimental.OpResolverType
    for delegate, resolver in (
        ("xnnpack", resolvers.AUTO),
        ("builtin", resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
    ):
        interpreter = tf.lite.Interpreter(
            model_path=str(path), num_threads=num_threads, experimental_op_resolver_type=resolver
        )
        runner = interpreter.get_signature_runner("step")
        try:
            _probe(runner, interpreter)
            break
        except RuntimeError:
            if delegate == "builtin":
                raise

    def run(block: np.ndarray, state: dict) -> tuple[np.ndarray, dict]:
        state = {k: np.asarray(v) for k, v in state.items()}
        outputs = runner(block=np.asarray(block, np.float32), **state)
        new = {k[len("new_") :]: v for k, v in outputs.items() if k.startswith("new_")}
        return outputs["output"], new

    run.interpreter = interpreter
    run.signature_runner = runner
    run.delegate = delegate
    return run


def _probe(runner: Any, interpreter: Any) -> None:
    """One call on zeros of batch 1, so that a delegate that cannot prepare fails here."""
    inputs = runner.get_input_details()
    feed = {}
    for name, detail in inputs.items():
        shape = [1 if d < 0 else d for d in detail["shape_signature"]]
        feed[name] = np.zeros(shape, detail["dtype"])
    runner(**feed)


def onnx_step_runner(path: str | os.PathLike, threads: int | None = None) -> Any:
    """``run(block, state) -> (output, new_state)`` (numpy) over an ONNX step."""
    onnxruntime = export_module("onnxruntime")
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]

    def run(block: np.ndarray, state: dict) -> tuple[np.ndarray, dict]:
        feed = {}
        for name in inputs:
            key = name.split(":")[0]
            feed[name] = np.asarray(block if key == "block" else state[key])
        values = dict(zip(outputs, session.run(None, feed), strict=True))
        new = {}
        output = None
        for name, value in values.items():
            key = name.split(":")[0]
            if key == "output":
                output = value
            elif key.startswith("new_"):
                new[key[len("new_") :]] = value
        return output, new

    run.session = session
    return run
