"""Export a trained front end for serving: TensorFlow SavedModel, TFLite and ONNX.

Every path rides on an existing engine: Keras 3's ``model.export`` (its
``ExportArchive``) writes the SavedModel and the ONNX file, TensorFlow's
``TFLiteConverter`` turns the SavedModel into a ``.tflite`` flat buffer. The
exported signature takes a waveform ``[batch, time]`` with both batch and time
dynamic, in the model's own input dtype (``int16`` for a model built on
``keras.Input((None,), dtype="int16")``, whose layers scale the PCM themselves;
float32 for a float Input or a bare layer), and returns what the model returns
(``[batch, frames, num_basis]`` for an :class:`~framebank.Encoder`).

What each path supports (see docs/DEPLOY.md; each line is tested in
tests/test_export.py):

* SavedModel and TFLite: ``KERAS_BACKEND=tensorflow``; every family, every
  method, dynamic batch and time; TFLite needs only builtin ops.
* ONNX: ``KERAS_BACKEND=tensorflow`` (through ``tf2onnx``) for every family and
  method with dynamic batch and time; ``KERAS_BACKEND=torch`` (through
  ``torch.onnx``) only for ``method="strided_conv"``, because the frame gather of
  the other methods lowers to an op the TorchScript exporter lacks.
* A model trained under JAX or torch: ``model.save("x.keras")``, then load and
  export it in a process started with ``KERAS_BACKEND=tensorflow``
  (Keras's own JAX route, ``jax2tf``, fails on the dynamic frame count).

``fft_conv`` has no TFLite or ONNX operator: :func:`exportable_model` rebuilds such a
model with ``strided_conv`` (the same weights, outputs checked equal) and says so.

TensorFlow is imported inside the functions, never at ``import framebank``.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np

from framebank._onnx import export_module, register_onnx_handlers
from framebank._validation import PCM_FULL_SCALE, as_waveform, pcm_scale
from framebank.methods import portable

__all__ = [
    "serving_model",
    "exportable_model",
    "export_saved_model",
    "export_tflite",
    "export_onnx",
    "load_saved_model",
    "run_tflite",
    "run_onnx",
]

INPUT_NAME = "waveform"


def serving_model(model: keras.Layer | keras.Model, name: str = "frontend") -> keras.Model:
    """A functional model ``waveform [batch, time] -> model(waveform)`` with dynamic dims.

    A bare layer (an :class:`~framebank.Encoder`) is wrapped in a one-input
    functional model; a model is returned unchanged. The layer must be built
    (trained) already: wrapping it does not create new weights.
    """
    if isinstance(model, keras.Model):
        return model
    if not isinstance(model, keras.Layer):
        raise TypeError(
            f"Expected a Keras layer or model to export. Received: model={model!r} "
            f"of type {type(model).__name__}"
        )
    if not model.built:
        raise ValueError(
            f"The layer {model.name!r} is not built, so it has no trained weights to export. "
            "Call it on a waveform (or train it) first."
        )
    inputs = keras.Input(_waveform_shape(model), name=INPUT_NAME)
    return keras.Model(inputs, model(inputs), name=name)


def _waveform_shape(model: keras.Layer | keras.Model) -> tuple:
    """The exported input's shape without its batch: ``(None,)`` for ``[batch, time]``, or
    ``(None, channels)`` for a model (or :class:`~framebank.Multichannel`) on several
    channels. The length stays dynamic."""
    channels = getattr(model, "channels", None)
    if isinstance(model, keras.Model) and len(model.inputs) == 1:
        shape = tuple(model.inputs[0].shape)
        channels = shape[2] if len(shape) == 3 else None
    return (None,) if channels in (None, 1) else (None, int(channels))


def _sublayers(model: Any) -> Any:
    """Every layer inside ``model``: a model's layers, and the layers a layer holds."""
    yield model
    for layer in model.layers if isinstance(model, keras.Model) else model._layers:
        yield from _sublayers(layer)


def _check_exportable(model: keras.Model, what: str) -> None:
    """Refuse, before converting, a layer whose method has no operator in ``what``."""
    for layer in _sublayers(model):
        method = getattr(layer, "method", None)
        # A method with a fallback (rfft: matmul) runs it while exporting (`portable`).
        if not getattr(method, "exportable", True) and not getattr(method, "fallback", None):
            raise ValueError(
                f"{what} cannot take layer {layer.name!r}: its method={method.name!r} has no "
                f"operator there. The method changes no weight: build the same layer with "
                "method='strided_conv' (or another), load the weights and export that."
            )


def _refuse_random(model: Any, what: str) -> None:
    """Refuse, before converting, a layer that draws noise (Kaldi's ``dither``): TFLite's
    builtins have no stateless random draw, and its converter's error names none of it."""
    for layer in _sublayers(model):
        if getattr(layer, "dither", 0):
            raise ValueError(
                f"{what} cannot take layer {layer.name!r}: dither={layer.dither!r} draws "
                "random noise, which has no builtin operator there. Export it with dither=0 "
                "(Kaldi's features without dither; add the noise before the model if needed)."
            )


def _refuse_random_graph(saved: Path) -> None:
    """The folder's check of :func:`_refuse_random`: a SavedModel holds no layers to ask,
    so its serving graph (and the functions it calls) is searched for random draws."""
    import tensorflow as tf

    serving = tf.saved_model.load(str(saved)).signatures.get("serving_default")
    if serving is None:
        raise ValueError(
            f"TFLite export reads the SavedModel's serving_default signature; {saved} has "
            "none (write it with framebank.export.export_saved_model)."
        )
    graph = serving.graph.as_graph_def()
    nodes = [*graph.node, *(n for f in graph.library.function for n in f.node_def)]
    # Stateless draws (Kaldi's seeded dither) have no TFLite builtin; stateful ones do.
    drawn = sorted({n.op for n in nodes if n.op.startswith("StatelessRandom")})
    if drawn:
        raise ValueError(
            f"TFLite cannot take the SavedModel {saved}: it draws random noise ({', '.join(drawn)}"
            "; KaldiFbank's dither does), which has no builtin operator there. Export the "
            "front end with dither=0 (add the noise before the model if needed)."
        )


def _export_pick(name: str) -> str | None:
    """The method an export runs in place of ``name``: None when ``name`` exports.

    ``strided_conv`` for a method that reads the waveform (a convolution, a builtin
    operator everywhere), ``matmul`` for one that reads frames.
    """
    from framebank.methods import METHODS

    method = METHODS.get(name)
    if method is None or method.exportable:
        return None
    return "matmul" if method.needs_frames else "strided_conv"


def _replace_methods(config: Any) -> Any:
    """A serialised model with every non-exportable ``method`` replaced by its pick."""
    if isinstance(config, list):
        return [_replace_methods(item) for item in config]
    if not isinstance(config, dict):
        return config
    out = {key: _replace_methods(value) for key, value in config.items()}
    method = out.get("method")
    if isinstance(method, str) and _export_pick(method):
        out["method"] = _export_pick(method)
    if out.get("band_limited") is True:
        # The export's length is dynamic, where LEAF runs its stride-1 definition: the copy
        # runs it too, so the check measures what the exported file computes.
        out["band_limited"] = False
    return out


def _probe(model: Any) -> np.ndarray:
    """A noise waveform ``[2, time]`` (``[2, time, channels]`` for several channels) long
    enough for every frame of ``model``'s layers, in the dtype the export takes
    (:func:`_signature_dtype`): integer PCM at an eighth of full scale for an integer Input."""
    length = None
    if isinstance(model, keras.Model) and len(model.inputs) == 1:
        length = model.inputs[0].shape[1]
    if length is None:
        frames = [getattr(layer, "frame_len", 0) for layer in _sublayers(model)]
        length = max(4 * max(f for f in frames if isinstance(f, int)), 4000)
    shape = (2, length, *_waveform_shape(model)[1:])
    noise = np.random.default_rng(0).standard_normal(shape)
    dtype = _signature_dtype(model)
    if dtype == "float32":
        return noise.astype("float32")
    # Integer noise truncated from float noise would be nearly all zeros: scale it first.
    offset, full_scale = PCM_FULL_SCALE[dtype]
    info = np.iinfo(dtype)
    return np.clip(np.round(noise * full_scale / 8) + offset, info.min, info.max).astype(dtype)


# How far the replaced method's output may lie from the original's, as a fraction of the
# largest value: float32 rounding through an FFT or a convolution of these lengths stays
# below 1e-5; a weight lost in the rebuild moves the output by its own size.
EXPORT_TOLERANCE = 1e-4


_BAND_LIMITED = ("band_limited=True", "the stride-1 definition")


def _export_changes(model: Any, paths: bool = True) -> dict[str, tuple[str, str]]:
    """``{layer name: (what Keras runs, what the export runs)}`` for every layer whose
    computation the export changes: a method without an operator, and (``paths``) LEAF's
    band-limited path (taken at a known length only; the exported length is dynamic)."""
    changed = {}
    for layer in _sublayers(model):
        method = getattr(layer, "method", None)
        pick = _export_pick(getattr(method, "name", ""))
        if pick:
            changed[layer.name] = (method.name, pick)
        # A method entry is kept: it decides whether a failed copy is refused.
        if paths and getattr(layer, "band_limited", False) is True and layer.name not in changed:
            changed[layer.name] = _BAND_LIMITED
    return changed


def exportable_model(model: keras.Layer | keras.Model, what: str = "TFLite") -> Any:
    """``model``, or a copy in which every method without an operator in ``what`` is
    replaced by one that has (``fft_conv`` by ``strided_conv``): same weights, outputs
    checked equal to :data:`EXPORT_TOLERANCE` of the largest value on a noise probe.

    A method changes no weight, so the copy is the same model run by other operators.
    A ``UserWarning`` names each layer whose method changed and the error measured. A
    ``LEAF(band_limited=True)`` is copied with its stride-1 definition, what it runs at the
    exported (dynamic) length, so the number is the file's; where only such layers change and
    the model cannot be copied (a ``Lambda``), a SavedModel takes it as it is (a warning;
    it runs either path), TFLite and ONNX refuse it with the way out.

    Raises:
        ValueError: the copy cannot be made (a layer that is not serialisable) or its
            output differs from the original's.
    """
    return _exportable(model, what, paths=True)


def _exportable(model: Any, what: str, paths: bool) -> Any:
    """:func:`exportable_model`; ``paths=False`` where LEAF's ``call`` never runs (a streaming
    step runs its encoder and steps), so its band-limited path changes nothing there."""
    changed = _export_changes(model, paths)
    if not changed:
        return model
    probe = _probe(model)
    # Run first: it builds an unbuilt layer, whose weights the copy takes.
    want = keras.ops.convert_to_numpy(model(probe))
    try:
        copy = keras.saving.deserialize_keras_object(
            _replace_methods(keras.saving.serialize_keras_object(model))
        )
        copy(probe)  # builds a layer; a functional model is built already
        copy.set_weights(model.get_weights())
    except (TypeError, ValueError, NotImplementedError) as err:  # what Keras raises
        return _uncopyable(model, what, changed, err)
    got = keras.ops.convert_to_numpy(copy(probe))
    error = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))
    if not error <= EXPORT_TOLERANCE:
        raise ValueError(
            f"{what}: the model rebuilt with an exportable method ({changed}) differs from the "
            f"original by {error:.2e} of the largest value (allowed {EXPORT_TOLERANCE:g})."
        )
    names = ", ".join(f"{n!r} runs {new!r} (not {old!r})" for n, (old, new) in changed.items())
    warnings.warn(
        f"{what} has no operator for some methods (or runs a dynamic length), so the export "
        f"runs the same weights another way: {names}; outputs equal to {error:.1e} of the "
        "largest value.",
        UserWarning,
        stacklevel=3,
    )
    return copy


def _uncopyable(model: Any, what: str, changed: dict, err: Exception) -> Any:
    """What :func:`exportable_model` does when ``model`` cannot be copied: refuse (a method
    without an operator; a band-limited LEAF for TFLite and ONNX, whose converters may take
    neither path's FFTs); a SavedModel, which runs either path, gets ``model`` with a warning."""
    methods = [name for name, change in changed.items() if change != _BAND_LIMITED]
    leaves = ", ".join(repr(name) for name in changed if name not in methods)
    if not methods and what == "SavedModel":
        warnings.warn(
            f"SavedModel: the model could not be copied ({err}) to run the stride-1 "
            f"definition of LEAF layer(s) {leaves}, so it is exported as it is: they run "
            "their band-limited path where the traced length is known, the definition where "
            "it is not (within 1e-4 of the largest value, tests/test_leaf_band_limited.py).",
            UserWarning,
            stacklevel=4,
        )
        return model
    if not methods:
        raise ValueError(
            f"{what}: the model could not be copied ({err}) to run the stride-1 definition of "
            f"LEAF layer(s) {leaves} (its band-limited path's FFTs may not convert). It changes "
            "no weight: build the same model with LEAF(band_limited=False), load the weights "
            "and export that, or export a SavedModel."
        ) from err
    raise ValueError(
        f"{what} has no operator for the method of {', '.join(map(repr, methods))}, and the "
        f"model could not be rebuilt with another ({err}). The method changes no weight: "
        "build the same model with method='strided_conv' (or 'matmul' for 'rfft'), load the "
        "weights and export that."
    ) from err


def _signature_dtype(model: keras.Layer | keras.Model) -> str:
    """The exported input's dtype: a one-input model's own integer dtype (its layers divide
    the PCM by its full scale, so a float signature would cast before they see the
    integers), else float32. An integer dtype that is not PCM is refused (TypeError)."""
    if isinstance(model, keras.Model) and len(model.inputs) == 1:
        dtype = keras.backend.standardize_dtype(model.inputs[0].dtype)
        if dtype.startswith(("int", "uint")):
            pcm_scale(dtype, "waveform")
            return dtype
    return "float32"


def _input_signature(model: keras.Model) -> list[keras.InputSpec]:
    shape = (None, *_waveform_shape(model))
    return [keras.InputSpec(shape=shape, dtype=_signature_dtype(model), name=INPUT_NAME)]


def _require_backend(allowed: tuple[str, ...], what: str) -> None:
    backend = keras.backend.backend()
    if backend not in allowed:
        raise ValueError(
            f"{what} needs KERAS_BACKEND in {allowed}. Received: backend={backend!r}. "
            "Weights are the same on every backend: save the model (`model.save('x.keras')`) "
            f"and export it from a process started with KERAS_BACKEND={allowed[0]}."
        )


def _existing(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path that exists; FileNotFoundError naming it and ``what`` it should be."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or a path. Received: path={path!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No {what} at {str(path)!r} (it does not exist).")
    return path


def _writable(path: str | os.PathLike) -> Path:
    """``path`` as a Path whose folder exists, checked before any export work."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or a path. Received: path={path!r}")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"Cannot write {str(path)!r}: its folder {str(path.parent)!r} does not exist."
        )
    return path


def export_saved_model(model: keras.Layer | keras.Model, path: str | os.PathLike) -> Path:
    """Write a TensorFlow SavedModel with a dynamic ``[batch, time]`` waveform input.

    Uses ``model.export(format="tf_saved_model")`` (Keras's ``ExportArchive``):
    the endpoint ``serve`` (also the ``serving_default`` signature) takes
    ``waveform [None, None]`` in the model's input dtype: float32, or the integer dtype of
    a model on ``keras.Input((None,), dtype="int16")`` (its layers scale the PCM).

    Returns:
        The SavedModel folder.
    """
    _require_backend(("tensorflow",), "SavedModel export")
    path = _writable(path)
    model = serving_model(exportable_model(model, "SavedModel"))
    with portable():
        model.export(
            str(path),
            format="tf_saved_model",
            input_signature=_input_signature(model),
            verbose=False,
        )
    return path


def export_tflite(
    model: keras.Layer | keras.Model | str | os.PathLike,
    path: str | os.PathLike,
) -> Path:
    """Write a TFLite flat buffer with dynamic batch and time.

    Args:
        model: a built layer or model (exported to a SavedModel beside ``path``
            first, through :func:`exportable_model`), or the folder of a SavedModel written by
            :func:`export_saved_model`.
        path: the ``.tflite`` file to write.

    Returns:
        The ``.tflite`` file, whose input dtype is the SavedModel's (int16 for an int16
        Input). Run it with :func:`run_tflite` (or any TFLite interpreter: resize the
        input to ``[batch, time]`` before allocating).

    Raises:
        ValueError: a layer draws random noise (``KaldiFbank(dither > 0)``), before any work.
    """
    import tensorflow as tf

    path = _writable(path)
    if isinstance(model, (str, os.PathLike)):
        saved = _existing(model, "SavedModel folder")
        _refuse_random_graph(saved)
    else:
        _refuse_random(model, "TFLite")
        model = exportable_model(model, "TFLite")
        saved = export_saved_model(model, path.with_suffix(".saved_model"))
    # Builtin ops only: every family and method lowers to them, so the file
    # runs on any TFLite runtime without the Flex (TF ops) delegate.
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    path.write_bytes(converter.convert())
    return path


def export_onnx(model: keras.Layer | keras.Model, path: str | os.PathLike) -> Path:
    """Write an ONNX file through ``model.export(format="onnx")``.

    Under TensorFlow (``tf2onnx``) batch and time stay dynamic for every family
    and method, and the input keeps the model's dtype (int16 for an int16 Input).
    Under torch (``torch.onnx``) only encoders with ``method="strided_conv"`` and
    ``center=True`` (no ``pad_end``) export; others are refused with a ValueError that
    says so. JAX needs the ``jax2onnx`` package, which framebank does not install.
    """
    _require_backend(("tensorflow", "torch"), "ONNX export")
    if keras.backend.backend() == "tensorflow":
        register_onnx_handlers()  # PCEN's Log1p and Expm1; refuses before work without tf2onnx
    path = _writable(path)
    model = serving_model(exportable_model(model, "ONNX"))
    if keras.backend.backend() == "torch":
        _check_torch_onnx(model)
    with portable():
        model.export(
            str(path), format="onnx", input_signature=_input_signature(model), verbose=False
        )
    _check_onnx_file(model, path)
    return path


def _check_onnx_file(model: keras.Model, path: Path) -> None:
    """Run the written file on two probes of different lengths; refuse (and delete) it
    where it fails to load or run, or where it differs from Keras by more than
    :data:`EXPORT_TOLERANCE` of the largest value: a converter's silent mistranslation
    must not reach a user as a working file."""
    if importlib.util.find_spec("onnxruntime") is None:
        return  # nothing to run it with; the export extra installs it
    probe = _probe(model)
    for waveform in (probe, probe[:1, : probe.shape[1] * 3 // 4 + 7]):
        want = keras.ops.convert_to_numpy(model(waveform))
        try:
            got = run_onnx(path, waveform)
            error = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))
        except Exception as err:  # onnxruntime raises its own (pybind) exception types
            error, reason = np.inf, f"onnxruntime cannot run it: {str(err)[:300]}"
        else:
            reason = f"it differs from Keras by {error:.2e} of the largest value"
        if not error <= EXPORT_TOLERANCE:
            path.unlink(missing_ok=True)
            # Only a model that streams has a step to export (whisper's, for one, has none).
            streams = not any(getattr(layer, "not_streamable", "") for layer in _sublayers(model))
            raise ValueError(
                f"The ONNX file written for this model is wrong ({reason}; probe "
                f"{list(waveform.shape)}), so it was deleted. The converter does not yet "
                "translate every layer of it for a dynamic length: export to TFLite or a "
                "SavedModel instead"
                + (", or stream it (framebank.streaming.export_step_onnx)." if streams else ".")
            )


def _check_torch_onnx(model: keras.Model) -> None:
    """Refuse, before tracing, what ``torch.onnx`` cannot export from framebank's layers.

    Keras traces a torch model on a one-sample waveform: an encoder without
    ``center=True`` is then shorter than a frame, and ``pad_end`` writes a file
    onnxruntime refuses (int32/int64 in one ``Concat``); the framed methods stop at
    the frame gather (``aten::ravel``).
    """
    from framebank.layers import Encoder, FrameProjection

    def layers(outer: keras.Model) -> Any:
        for layer in outer.layers:
            yield layer
            if isinstance(layer, keras.Model):
                yield from layers(layer)

    for layer in layers(model):
        problem = None
        if isinstance(layer, FrameProjection) or (
            isinstance(layer, Encoder) and layer.method.needs_frames
        ):
            problem = f"method={layer.method.name!r} (only 'strided_conv' exports)"
        elif isinstance(layer, Encoder) and (not layer.center or layer.pad_end):
            problem = (
                f"center={layer.center}, pad_end={layer.pad_end} (needs center=True, pad_end=False)"
            )
        if problem:
            raise ValueError(
                f"ONNX export under KERAS_BACKEND=torch cannot take layer {layer.name!r}: "
                f"{problem}. Export from a process with KERAS_BACKEND=tensorflow (tf2onnx), "
                "where every family, method and padding exports: save the model "
                "(`model.save('x.keras')`) and load it there."
            )


def _waveform_array(waveform: Any) -> np.ndarray:
    """``waveform`` as the float32 array a float signature takes.

    Integer audio is PCM by the layers' own rule (:func:`as_waveform`: int16 divided by
    32768, uint8 centred on 128, other integers refused), so an exported model gives the
    Keras model's features for the same int16 clip.
    """
    if not (hasattr(waveform, "shape") and hasattr(waveform, "dtype")):
        waveform = np.asarray(waveform)
    if isinstance(waveform, np.ndarray) and waveform.dtype.kind == "f":
        return np.asarray(waveform, "float32")
    return np.asarray(
        keras.ops.convert_to_numpy(as_waveform(waveform, "waveform", "float32")), "float32"
    )


def _integer_array(waveform: Any, dtype: np.dtype) -> np.ndarray:
    """``waveform`` as the integer array a file whose input is ``dtype`` takes: unchanged
    in that dtype, converted from another integer dtype only where every value fits (as
    Keras casts it to the Input's dtype), refused (TypeError) otherwise. The file scales
    the PCM itself, so floats are refused rather than guessed at."""
    array = np.asarray(waveform)
    if array.dtype == dtype:
        return array
    info = np.iinfo(dtype)
    offset, full_scale = PCM_FULL_SCALE.get(dtype.name, (0, 2 ** (info.bits - 1)))
    if array.dtype.kind not in "iu":
        shift = f" + {offset}" if offset else ""
        raise TypeError(
            f"This exported file takes `waveform` as {dtype.name} PCM (the model's Input dtype; "
            f"it scales the integers itself). Received: waveform.dtype={array.dtype}. Convert "
            f"float audio in [-1, 1) with np.clip(np.round(x * {full_scale}){shift}, "
            f"{info.min}, {info.max}).astype('{dtype.name}'), or export a model whose Input "
            "is float32 to feed floats."
        )
    low, high = (array.min(), array.max()) if array.size else (0, 0)
    if low < info.min or high > info.max:
        raise TypeError(
            f"This exported file takes `waveform` as {dtype.name} PCM, and "
            f"waveform.dtype={array.dtype} holds values in [{low}, {high}], outside "
            f"{dtype.name}'s [{info.min}, {info.max}]: it cannot be converted exactly. "
            f"Rescale it to {dtype.name} yourself."
        )
    return array.astype(dtype)


def _feed(waveform: Any, dtype: Any) -> np.ndarray:
    """``waveform [batch, time]`` as the array an exported file whose input is ``dtype``
    takes: an integer array as is for an integer file, float32 for a float one."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        return _integer_array(waveform, dtype)
    return _waveform_array(waveform)


def load_saved_model(path: str | os.PathLike) -> Any:
    """Load an exported SavedModel; returns a callable ``waveform -> numpy array``.

    The callable feeds the folder's input dtype (the exported model's Input dtype). A float
    folder takes ``waveform [batch, time]`` float, or integer PCM scaled as the layers
    scale it (int16 divided by 32768). An integer (say int16) folder takes the integers
    unchanged; an integer array of another dtype only where every value fits, and a float
    array is refused (TypeError) with the conversion to make.
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(str(_existing(path, "SavedModel folder")))
    (spec,) = loaded.serve.input_signature

    def serve(waveform: Any) -> np.ndarray:
        return np.asarray(loaded.serve(tf.constant(_feed(waveform, spec.dtype.as_numpy_dtype))))

    serve.loaded = loaded  # keep the trackable alive with the function
    return serve


def run_tflite(path: str | os.PathLike, waveform: Any) -> np.ndarray:
    """Run a ``.tflite`` file from :func:`export_tflite` on ``waveform [batch, time]``.

    Fed in the file's input dtype, as :func:`load_saved_model`'s callable is: a float file
    takes float, or integer PCM scaled as the layers scale it (int16 / 32768); an integer
    file takes its own integers unchanged, and refuses floats (TypeError).
    """
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(_existing(path, ".tflite file")))
    runner = interpreter.get_signature_runner()  # the one (serving_default) signature
    dtype = runner.get_input_details()[INPUT_NAME]["dtype"]
    outputs = runner(**{INPUT_NAME: _feed(waveform, dtype)})
    (result,) = outputs.values()
    return np.asarray(result)


# onnxruntime's names of the input types an exported file may take.
_ONNX_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64"}


def run_onnx(path: str | os.PathLike, waveform: Any) -> np.ndarray:
    """Run an ONNX file from :func:`export_onnx` with ``onnxruntime``.

    Fed in the file's input dtype, as :func:`load_saved_model`'s callable is: a float file
    takes ``waveform [batch, time]`` float, or integer PCM scaled as the layers scale it
    (int16 / 32768); an integer file takes its own integers unchanged, and refuses floats.
    """
    onnxruntime = export_module("onnxruntime")
    path = _existing(path, "ONNX file")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (spec,) = session.get_inputs()
    dtype = _ONNX_TYPES.get(spec.type, spec.type.removeprefix("tensor(").removesuffix(")"))
    return np.asarray(session.run(None, {spec.name: _feed(waveform, dtype)})[0])
