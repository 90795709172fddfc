"""Export: every registered family under every method to SavedModel, TFLite and ONNX.

The exported artifact must give the Keras outputs (within 1e-4 relative) for
inputs of two different batch sizes and lengths, so batch and time are really
dynamic. The TensorFlow paths run in this process (the suite's default
backend); the torch ONNX path runs in a subprocess with ``KERAS_BACKEND=torch``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import assert_close_rel, family_case, perturbed_weights
from keras import ops

import framebank as fb
from framebank import export

FRAME_LEN, HOP = 32, 12
RTOL = 1e-4
HERE = Path(__file__).resolve().parent
EXPORTABLE = sorted(m for m, cls in fb.METHODS.items() if cls.exportable)
CASES = [(f, m) for f in sorted(fb.FILTERBANKS) for m in EXPORTABLE]
TF_ONLY = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="SavedModel/TFLite/tf2onnx export runs under KERAS_BACKEND=tensorflow (CI's default)",
)


def _signals() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    # Two batch sizes and two lengths (neither a multiple of the hop).
    return [rng.standard_normal(s).astype("float32") for s in ((3, 257), (1, 1001))]


def _trained_encoder(family: str, method: str, seed: int = 0) -> fb.Encoder:
    num_basis, options = family_case(family)
    enc = fb.Encoder(
        num_basis,
        FRAME_LEN,
        HOP,
        method=method,
        filterbank=family,
        use_bias=True,
        center=True,
        **options,
    )
    enc.build((None, None))
    enc.set_weights(perturbed_weights(enc.get_weights(), seed=seed))
    return enc


def _max_rel(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got.astype("float64") - want).max() / np.abs(want).max())


def _check(family: str, method: str, enc: fb.Encoder, paths: dict) -> None:
    """Every exported artifact in ``paths`` (name -> callable) gives the Keras outputs."""
    worst: dict[str, float] = {}
    for x in _signals():
        want = ops.convert_to_numpy(enc(x))
        assert np.all(np.isfinite(want)) and np.abs(want).max() > 0
        for what, run in paths.items():
            got = run(x)
            assert_close_rel(got, want, RTOL, f"{family}/{method} {what} {x.shape}")
            worst[what] = max(worst.get(what, 0.0), _max_rel(got, want))
    # Shown with -s: the measured differences to Keras.
    print(f"export max relative difference {family}/{method}:", worst)


@TF_ONLY
@pytest.mark.parametrize(("family", "method"), CASES)
def test_saved_model_and_tflite_match_keras(family, method, tmp_path):
    enc = _trained_encoder(family, method)
    saved = export.export_saved_model(enc, tmp_path / "saved")
    tflite = export.export_tflite(saved, tmp_path / "model.tflite")
    paths = {
        "SavedModel": export.load_saved_model(saved),
        "TFLite": lambda x: export.run_tflite(tflite, x),
    }
    _check(family, method, enc, paths)


NEEDS_ONNX = pytest.mark.skipif(
    importlib.util.find_spec("tf2onnx") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="ONNX export needs the 'export' extra (tf2onnx, onnx, onnxruntime); CI installs it",
)


@TF_ONLY
@NEEDS_ONNX
@pytest.mark.parametrize(("family", "method"), CASES)
def test_onnx_through_tf2onnx_matches_keras(family, method, tmp_path):
    enc = _trained_encoder(family, method)
    onnx_file = export.export_onnx(enc, tmp_path / "model.onnx")
    _check(family, method, enc, {"ONNX": lambda x: export.run_onnx(onnx_file, x)})


@TF_ONLY
@NEEDS_ONNX
@pytest.mark.parametrize("method", EXPORTABLE)
@pytest.mark.parametrize("center", [False, True])
def test_onnx_of_an_end_padded_encoder_matches_keras(method, center, tmp_path):
    """``pad_end=True`` at a length known only at run time: ``ceil(time / hop)`` frames.
    (tf2onnx exports an integer floor division as ONNX's truncating Div, so the count was once
    computed as ``-(-time // hop)`` and came out one frame short in the file.)"""
    enc = fb.Encoder(16, FRAME_LEN, HOP, method=method, pad_end=True, center=center)
    enc.build((None, None))
    enc.set_weights(perturbed_weights(enc.get_weights()))
    onnx_file = export.export_onnx(enc, tmp_path / "model.onnx")
    _check("free", method, enc, {"ONNX": lambda x: export.run_onnx(onnx_file, x)})


def _decoder_cases() -> list:
    try:
        from framebank.decoder import DECODER_KINDS
    except ImportError:  # fail the decoder test below, not the whole module's collection
        return [pytest.param("missing", "missing")]
    cases = []
    for kind in DECODER_KINDS:
        for method in EXPORTABLE:
            cases.append(pytest.param(kind, method))
    return cases


@TF_ONLY
@NEEDS_ONNX
@pytest.mark.parametrize(("kind", "method"), _decoder_cases())
def test_encoder_decoder_model_exports_waveform_to_waveform(kind, method, tmp_path):
    """An Encoder -> Decoder model (waveform in, waveform out) through every export path."""
    inputs = keras.Input((None,), name="waveform")
    enc = fb.Encoder(
        34, FRAME_LEN, HOP, filterbank="fourier", window="hann", center=True, method="matmul"
    )
    model = keras.Model(inputs, fb.Decoder(enc, kind=kind, method=method)(enc(inputs)))
    model.set_weights(perturbed_weights(model.get_weights()))
    saved = export.export_saved_model(model, tmp_path / "saved")
    tflite = export.export_tflite(saved, tmp_path / "model.tflite")
    paths = {
        "SavedModel": export.load_saved_model(saved),
        "TFLite": lambda x: export.run_tflite(tflite, x),
    }
    onnx_file = export.export_onnx(model, tmp_path / "model.onnx")
    paths["ONNX"] = lambda x: export.run_onnx(onnx_file, x)
    _check(f"decoder {kind}", method, model, paths)


@TF_ONLY
def test_a_fitted_model_exports_with_its_trained_weights(tmp_path):
    """Train for real (not perturbed weights), then export the whole model and the encoder."""
    enc = fb.Encoder(16, FRAME_LEN, HOP, method="strided_conv", filterbank="free", name="enc")
    inputs = keras.Input((None,), name="waveform")
    outputs = keras.layers.Dense(4)(keras.ops.abs(enc(inputs)))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(1).standard_normal((8, 200)).astype("float32")
    y = np.random.default_rng(2).standard_normal((8, 15, 4)).astype("float32")
    before = enc.get_weights()[0].copy()
    model.compile(keras.optimizers.Adam(0.05), "mse")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert not np.allclose(enc.get_weights()[0], before)

    for what, target in (("model", model), ("encoder", enc)):
        tflite = export.export_tflite(target, tmp_path / f"{what}.tflite")
        assert (tmp_path / f"{what}.saved_model").is_dir()
        for sig in _signals():
            want = ops.convert_to_numpy(target(sig))
            assert_close_rel(export.run_tflite(tflite, sig), want, RTOL, f"{what} TFLite")


@TF_ONLY
def test_keras_model_export_round_trip_through_tfsm_layer(tmp_path):
    """The SavedModel loads back into Keras (``TFSMLayer``) with dynamic shapes."""
    enc = _trained_encoder("free", "dense")
    saved = export.export_saved_model(enc, tmp_path / "saved")
    reloaded = keras.layers.TFSMLayer(str(saved), call_endpoint="serve")
    for x in _signals():
        got = ops.convert_to_numpy(reloaded(x))
        assert_close_rel(got, ops.convert_to_numpy(enc(x)), RTOL, f"TFSMLayer {x.shape}")


_JAX_TRAINER = """
import sys
import numpy as np
import keras
import framebank as fb

assert keras.backend.backend() == "jax"
keras.utils.set_random_seed(0)
inputs = keras.Input((None,), name="waveform")
enc = fb.Encoder(6, 32, 12, method="matmul", filterbank="sinc", sample_rate=8000, center=True)
model = keras.Model(inputs, enc(inputs))
x = np.random.default_rng(1).standard_normal((8, 200)).astype("float32")
y = np.random.default_rng(2).standard_normal((8, 17, 6)).astype("float32")
model.compile(keras.optimizers.Adam(0.01), "mse")
model.fit(x, y, epochs=2, batch_size=4, verbose=0)
model.save(sys.argv[1] + "/trained.keras")
probe = np.random.default_rng(3).standard_normal((2, 500)).astype("float32")
np.save(sys.argv[1] + "/probe.npy", probe)
np.save(sys.argv[1] + "/jax_out.npy", keras.ops.convert_to_numpy(model(probe)))
"""


@TF_ONLY
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is installed by CI")
def test_a_model_trained_under_jax_exports_from_tensorflow(tmp_path):
    """SavedModel export needs TensorFlow; a model trained on another backend is saved as
    ``.keras`` and exported from a TensorFlow process, giving the JAX outputs."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    run = subprocess.run(
        [sys.executable, "-c", _JAX_TRAINER, str(tmp_path)],
        env={**env, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    model = keras.models.load_model(tmp_path / "trained.keras")
    tflite = export.export_tflite(model, tmp_path / "from_jax.tflite")
    probe, want = np.load(tmp_path / "probe.npy"), np.load(tmp_path / "jax_out.npy")
    assert_close_rel(ops.convert_to_numpy(model(probe)), want, 1e-5, "reloaded under TF")
    assert_close_rel(export.run_tflite(tflite, probe), want, RTOL, "TFLite of a JAX-trained model")


@TF_ONLY
@NEEDS_ONNX
def test_the_runners_read_integer_audio_as_pcm(tmp_path):
    frontend = fb.frontends.LogMel(sample_rate=16000)
    x = 0.5 * np.random.default_rng(3).uniform(-1, 1, (2, 1600)).astype("float32")
    frontend(x)
    saved = export.export_saved_model(frontend, tmp_path / "saved")
    tflite = export.export_tflite(saved, tmp_path / "model.tflite")
    onnx = export.export_onnx(frontend, tmp_path / "model.onnx")
    runners = {
        "SavedModel": export.load_saved_model(saved),
        "TFLite": lambda w: export.run_tflite(tflite, w),
        "ONNX": lambda w: export.run_onnx(onnx, w),
    }
    for dtype, offset, full_scale in (("int16", 0, 2**15), ("uint8", 2**7, 2**7)):
        pcm = (np.round(x * full_scale) + offset).astype(dtype)
        # A power-of-two scale is exact: the runtime gets the very same float samples.
        floats = ((pcm.astype("float64") - offset) / full_scale).astype("float32")
        for what, run in runners.items():
            want = run(floats)
            assert np.all(np.isfinite(want)), what
            np.testing.assert_array_equal(run(pcm), want, err_msg=f"{what} {dtype}")
    for run in runners.values():
        with pytest.raises(TypeError, match="full scale.*dtype=int64"):
            run(np.zeros((1, 1600), "int64"))


def _int16_model(kind: str) -> keras.Model:
    """A model on ``keras.Input((None,), dtype="int16")``: its layers scale the PCM."""
    inputs = keras.Input((None,), dtype="int16", name="waveform")
    if kind == "log_mel":
        return keras.Model(inputs, fb.frontends.LogMel(sample_rate=16000)(inputs))
    return keras.Model(inputs, _trained_encoder("free", "strided_conv")(inputs))


@TF_ONLY
@NEEDS_ONNX
@pytest.mark.parametrize("kind", ["log_mel", "encoder"])
def test_an_int16_input_model_exports_files_that_take_int16(kind, tmp_path):
    """The signature is the Input's int16, so each file scales the PCM once, as Keras does
    (a float32 signature cast before the layers, which then saw 32768x louder floats)."""
    import tensorflow as tf

    model = _int16_model(kind)
    assert export.serving_model(model) is model
    saved = export.export_saved_model(model, tmp_path / "saved")
    tflite = export.export_tflite(saved, tmp_path / "model.tflite")
    with warnings.catch_warnings():  # LogMel's rfft runs as strided_conv there: said, checked
        warnings.simplefilter("ignore", UserWarning)
        onnx_file = export.export_onnx(model, tmp_path / "model.onnx")
    runners = {
        "SavedModel": export.load_saved_model(saved),
        "TFLite": lambda w: export.run_tflite(tflite, w),
        "ONNX": lambda w: export.run_onnx(onnx_file, w),
    }
    for x in _signals():
        pcm = np.round(np.clip(x / 4, -1, 1) * 32767).astype("int16")
        want = ops.convert_to_numpy(model(pcm))
        for what, run in runners.items():
            assert_close_rel(run(pcm), want, RTOL, f"int16 {kind} {what} {pcm.shape}")
            # Another integer width converts where every value fits, as Keras casts it.
            assert_close_rel(run(pcm.astype("int32")), want, RTOL, f"int32 {kind} {what}")
            with pytest.raises(TypeError, match="int16 PCM.*float32.*astype\\('int16'\\)"):
                run((pcm / 32768).astype("float32"))
            with pytest.raises(TypeError, match="outside int16"):
                run(np.full((1, 400), 2**15, "int32"))
    details = tf.lite.Interpreter(str(tflite)).get_signature_runner().get_input_details()
    assert details["waveform"]["dtype"] == np.int16


@TF_ONLY
def test_a_float_input_model_still_exports_a_float32_signature(tmp_path):
    import tensorflow as tf

    inputs = keras.Input((None,), name="waveform")
    model = keras.Model(inputs, fb.frontends.LogMel(sample_rate=16000)(inputs))
    tflite = export.export_tflite(model, tmp_path / "model.tflite")
    details = tf.lite.Interpreter(str(tflite)).get_signature_runner().get_input_details()
    assert details["waveform"]["dtype"] == np.float32
    x = _signals()[0] / 4
    assert_close_rel(export.run_tflite(tflite, x), ops.convert_to_numpy(model(x)), RTOL, "float")


def test_export_errors_are_clear():
    with pytest.raises(ValueError, match="not built"):
        export.serving_model(fb.Encoder(8, 16, 8))
    with pytest.raises(TypeError, match="Received: model=3"):
        export.serving_model(3)


_TORCH_WORKER = """
import sys
import numpy as np
import keras
sys.path.insert(0, sys.argv[2])
from test_export import _signals, _trained_encoder, RTOL
from helpers import assert_close_rel
import framebank as fb
from framebank import export

assert keras.backend.backend() == "torch"
worst = 0.0
for family in sorted(fb.FILTERBANKS):
    enc = _trained_encoder(family, "strided_conv")
    path = export.export_onnx(enc, f"{sys.argv[1]}/{family}.onnx")
    for x in _signals():
        want = keras.ops.convert_to_numpy(enc(x))
        got = export.run_onnx(path, x)
        assert_close_rel(got, want, RTOL, f"torch ONNX {family} {x.shape}")
        worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))
for bad, match in [
    (dict(method="strided_conv"), "center=False"),
    (dict(method="strided_conv", center=True, pad_end=True), "pad_end=True"),
    (dict(method="matmul", center=True), "method='matmul'"),
]:
    layer = fb.Encoder(8, 16, 8, **bad)
    layer.build((None, None))
    try:
        export.export_onnx(layer, f"{sys.argv[1]}/refused.onnx")
    except ValueError as err:
        assert match in str(err) and "KERAS_BACKEND=tensorflow" in str(err), err
    else:
        raise AssertionError(f"torch ONNX export of {bad} must raise ValueError")
try:
    export.export_saved_model(enc, f"{sys.argv[1]}/saved")
except ValueError as err:
    assert "KERAS_BACKEND" in str(err), err
else:
    raise AssertionError("SavedModel export under torch must raise ValueError")
print("torch onnx max relative difference", worst)
"""


@pytest.mark.skipif(
    any(importlib.util.find_spec(p) is None for p in ("torch", "onnx", "onnxruntime")),
    reason="torch, onnx and onnxruntime are installed by CI (extras torch, export); not here",
)
def test_torch_backend_onnx_export_of_strided_conv(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    run = subprocess.run(
        [sys.executable, "-c", _TORCH_WORKER, str(tmp_path), str(HERE)],
        env={**env, "KERAS_BACKEND": "torch"},
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert "torch onnx max relative difference" in run.stdout
    print(run.stdout.strip().splitlines()[-1])  # the measured difference, shown with -s


@TF_ONLY
@pytest.mark.parametrize("name", ["leaf", "sincnet", "td_filterbanks"])
def test_a_default_method_without_an_operator_is_replaced_and_checked(name, tmp_path):
    frontend = fb.frontends.FRONTENDS[name](sample_rate=16000, method="fft_conv")
    x = np.random.default_rng(1).standard_normal((2, 4000)).astype("float32")
    want = ops.convert_to_numpy(frontend(x))
    with pytest.warns(UserWarning, match="runs 'strided_conv' \\(not 'fft_conv'\\)"):
        path = export.export_tflite(frontend, tmp_path / "x.tflite")
    got = export.run_tflite(path, x)
    # float32 rounding through two methods and the converter: far below 1e-4 of the largest.
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    assert frontend.encoder.method.name == "fft_conv"  # the user's model is left alone


@TF_ONLY
def test_a_model_that_cannot_be_rebuilt_is_refused_with_the_way_out(tmp_path):
    class Unregistered(keras.layers.Layer):
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    layer = Unregistered(fb.Encoder(8, 32, 1, method="fft_conv", center=True))
    layer(np.zeros((1, 64), "float32"))
    with pytest.raises(ValueError, match="method='strided_conv'"):
        export.export_tflite(layer, tmp_path / "x.tflite")
    assert not (tmp_path / "x.saved_model").exists()


@TF_ONLY
@pytest.mark.skipif(
    importlib.util.find_spec("tf2onnx") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="ONNX export needs the 'export' extra (tf2onnx, onnx, onnxruntime); CI installs it",
)
@pytest.mark.parametrize("name", ["leaf", "pcen_mel", "log_mel"])
def test_default_front_ends_export_to_saved_model_and_onnx(name, tmp_path):
    # LEAF's default method has no dynamic-shape SavedModel trace: export swaps it. PCEN's
    # blocked smoother does not survive tf2onnx at a dynamic length: the file is checked
    # and refused with the way out, never handed over broken.
    frontend = fb.frontends.FRONTENDS[name](sample_rate=16000)
    x = np.random.default_rng(2).standard_normal((2, 4000)).astype("float32")
    want = ops.convert_to_numpy(frontend(x))
    saved = export.export_saved_model(frontend, tmp_path / "saved")
    got = {"SavedModel": export.load_saved_model(saved)(x)}
    onnx_file = tmp_path / "model.onnx"
    if name == "log_mel":
        got["ONNX"] = export.run_onnx(export.export_onnx(frontend, onnx_file), x)
    else:
        with pytest.raises(ValueError, match="export to TFLite or a SavedModel instead"):
            export.export_onnx(frontend, onnx_file)
        assert not onnx_file.exists()
    for what, values in got.items():
        # float32 rounding through another method or converter: far below 1e-4 of the largest.
        assert np.abs(values - want).max() <= 1e-4 * np.abs(want).max(), what


# The pretrained presets through tf2onnx at their defaults: the Kaldi ones convert; the
# centred STFTs (reflect padding) come out wrong at a dynamic length, and are refused.
ONNX_PRESETS = {"kaldi_fbank": True, "ast": True, "beats": True}
ONNX_PRESETS.update(whisper=False, whisper_v3=False, torchaudio_mel=False, keras_mel=False)


@TF_ONLY
@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("tf2onnx") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="ONNX export needs the 'export' extra (tf2onnx, onnx, onnxruntime); CI installs it",
)
@pytest.mark.parametrize("name", sorted(ONNX_PRESETS))
def test_pretrained_presets_to_onnx_convert_or_are_refused(name, tmp_path):
    # docs/DEPLOY.md and the README's front-end table say which; this holds them to it.
    frontend = fb.frontends.FRONTENDS[name]()
    rng = np.random.default_rng(4)
    x = (0.1 * rng.standard_normal((2, 8192))).astype("float32")
    want = ops.convert_to_numpy(frontend(x))
    path = tmp_path / "preset.onnx"
    if not ONNX_PRESETS[name]:
        with pytest.raises(ValueError, match="export to TFLite or a SavedModel instead"):
            export.export_onnx(frontend, path)
        assert not path.exists()
        return
    got = export.run_onnx(export.export_onnx(frontend, path), x)
    # float32 rounding through another method and converter: far below 1e-4 of the largest.
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


@TF_ONLY
def test_a_multichannel_front_end_exports_with_its_channels(tmp_path):
    # The exported input is [batch, time, channels], the layer's own, length still dynamic.
    frontend = fb.Multichannel(fb.frontends.LogMel(sample_rate=8000))
    x = np.random.default_rng(3).standard_normal((2, 4000, 2)).astype("float32")
    want = ops.convert_to_numpy(frontend(x))
    got = export.run_tflite(export.export_tflite(frontend, tmp_path / "stereo.tflite"), x)
    shorter = x[:1, :3001]
    again = export.run_tflite(tmp_path / "stereo.tflite", shorter)
    # float32 rounding through another converter: far below 1e-4 of the largest value.
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    assert again.shape == ops.convert_to_numpy(frontend(shorter)).shape


@TF_ONLY
@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("tf2onnx") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="ONNX export needs the 'export' extra (tf2onnx, onnx, onnxruntime); CI installs it",
)
def test_a_refused_onnx_file_offers_streaming_only_where_the_model_streams(tmp_path):
    # torchaudio's centred STFT reflects the clip's end: no streaming step to export instead.
    frontend = fb.frontends.TorchaudioMel()
    frontend(np.zeros((1, 4000), "float32"))
    with pytest.raises(ValueError, match="export to TFLite or a SavedModel instead") as refused:
        export.export_onnx(frontend, tmp_path / "mel.onnx")
    assert "export_step_onnx" not in str(refused.value)


@TF_ONLY
def test_the_leaf_export_warning_gives_the_exported_files_real_difference(tmp_path):
    """The check ran the copy band-limited, as Keras ran the original, and printed 0.0e+00
    while the file (a dynamic length: the stride-1 definition) was 2e-5 off Keras."""
    frontend = fb.frontends.LEAF(sample_rate=8000)
    probe = export._probe(frontend)
    want = ops.convert_to_numpy(frontend(probe))
    with pytest.warns(UserWarning, match="stride-1 definition") as said:
        tflite = export.export_tflite(frontend, tmp_path / "leaf.tflite")
    printed = [re.search(r"outputs equal to (\S+) of", str(w.message)) for w in said]
    printed = [float(m.group(1)) for m in printed if m]
    assert len(printed) == 1, [str(w.message) for w in said]
    measured = np.abs(export.run_tflite(tflite, probe) - want).max() / np.abs(want).max()
    # The band-limited path and the definition differ by ~4e-6 of the largest value here
    # (different float32 sums); TFLite and Keras round the same definition ~3e-7 apart and
    # the printed number has two digits (~1%): it is the file's difference to 10%.
    assert 0 < printed[0] <= export.EXPORT_TOLERANCE
    assert abs(printed[0] - measured) <= 0.1 * measured, (printed[0], measured)
    assert frontend.band_limited, "the original keeps its own path"


@TF_ONLY
def test_a_band_limited_leaf_of_an_exportable_method_is_checked_and_an_unbuilt_one_copied():
    """Its method exports, yet the export runs the definition: it was returned unchecked.
    An unbuilt layer failed ("a weight list of length 0"): the copy took no weights."""
    frontend = fb.frontends.LEAF(sample_rate=8000, method="strided_conv", band_limited=True)
    with pytest.warns(UserWarning, match=f"'{frontend.name}' runs 'the stride-1 definition'"):
        copy = export.exportable_model(frontend)
    assert copy is not frontend and not copy.band_limited and frontend.band_limited


@TF_ONLY
def test_a_band_limited_leaf_that_cannot_be_copied_exports_to_saved_model_only(tmp_path):
    """Only LEAF's path changes (its method exports) and a Lambda stops the copy: a SavedModel
    runs either path, so it is written, with a warning (it was refused with a message naming
    a method to change); TFLite, whose converter may take neither path's FFT, is refused
    with the way out (LEAF(band_limited=False)), before any file."""
    inputs = keras.Input((None,))
    leaf = fb.frontends.LEAF(sample_rate=8000, method="strided_conv", band_limited=True)
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0)(leaf(inputs)))
    probe = export._probe(model)
    with pytest.warns(UserWarning, match="exported as it is"):
        saved = export.export_saved_model(model, tmp_path / "saved")
    got = export.load_saved_model(saved)(probe)
    reference = ops.convert_to_numpy(model(probe))
    # The band-limited path is within 1e-4 of the definition the file runs.
    assert np.abs(got - reference).max() <= 1e-4 * np.abs(reference).max()
    with pytest.raises(ValueError, match=r"LEAF\(band_limited=False\)"):
        export.export_tflite(model, tmp_path / "leaf.tflite")
    assert not (tmp_path / "leaf.tflite").exists()


def test_a_streaming_step_of_a_band_limited_leaf_is_not_copied():
    """A step runs the encoder and the steps, never LEAF's call: nothing to replace."""
    from framebank.streaming.export import _exportable_step

    frontend = fb.frontends.LEAF(sample_rate=8000, method="strided_conv", band_limited=True)
    frontend(np.zeros((1, 800), "float32"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step = _exportable_step(frontend, "TFLite")
    assert step.layer is frontend


@TF_ONLY
def test_onnx_without_the_export_extra_names_the_install_command(tmp_path, monkeypatch):
    """Without tf2onnx the export failed with a raw ModuleNotFoundError from deep inside."""
    from framebank import _onnx

    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # what an absent package imports as
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setattr(_onnx, "_HANDLERS", [])  # registered by an earlier test, maybe
    frontend = fb.frontends.LogMel(sample_rate=8000)
    with pytest.raises(ImportError, match=r"'tf2onnx'.*pip install \"framebank\[export\]\""):
        export.export_onnx(frontend, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
    (tmp_path / "y.onnx").write_bytes(b"")
    with pytest.raises(ImportError, match=r"'onnxruntime'.*pip install \"framebank\[export\]\""):
        export.run_onnx(tmp_path / "y.onnx", np.zeros((1, 800), "float32"))
