"""``method="auto"`` by measurement (framebank.tuning): opt-in, cached on disk per shape class,
chosen at build, and never a change in the numbers beyond the methods' tested agreement.

Tolerance: the methods agree within 1e-5 of the largest value (tests/test_methods.py,
tests/test_fft_method.py: float32 sums of up to 400 products, or an FFT)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import ops

import framebank as fb
from framebank import tuning
from framebank.structures import WindowedInverseDFT

TOLERANCE = 1e-5
FREE = dict(num_basis=24, frame_len=32, hop=16)
FOURIER = dict(filterbank="fourier", frame_len=64, hop=16, window="hann", trainable=False)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder, measuring on for the test only."""
    monkeypatch.setenv("FRAMEBANK_CACHE_DIR", str(tmp_path))
    with tuning.measuring():
        yield tmp_path / tuning.CACHE_FILE


@pytest.fixture
def two_candidates(monkeypatch):
    """Time two methods only: what is tested is the caching, not the ranking (faster)."""
    monkeypatch.setattr(tuning, "candidates", lambda *args, **kwargs: ["dense", "matmul"])


def _signal(batch: int = 2, time: int = 800) -> np.ndarray:
    return np.random.default_rng(3).standard_normal((batch, time)).astype("float32")


def _shape(options: dict, batch: int, time: int) -> tuning.ShapeClass:
    layer = fb.Encoder(**options)
    frames = fb.framing.frames_for_shape((batch, time), layer)
    fixed = "filterbank" in options
    return tuning.ShapeClass.make(
        "signal", options["frame_len"], options["hop"], layer.num_basis, batch, frames,
        structure="windowed_dft" if fixed else "", trainable=not fixed,
        dtype=keras.config.dtype_policy().compute_dtype,
    )  # fmt: skip


@pytest.mark.parametrize("options", [FREE, FOURIER], ids=["free", "fixed fourier"])
def test_a_cached_choice_of_each_method_gives_the_same_outputs(cache, options):
    x = _signal()
    reference = fb.Encoder(method="matmul", **options)
    want = ops.convert_to_numpy(reference(x))
    shape = _shape(options, *x.shape)
    structure = reference.filterbank.windowed_dft if "filterbank" in options else None
    names = tuning.candidates(shape, structure, rule="matmul")
    assert "matmul" in names and len(names) >= 3, names
    if structure is not None:
        assert "rfft" in names
    for name in names:
        tuning.write_cache_entry(shape.key(), {"pick": name, "rule": "matmul", "ms": {}})
        layer = fb.Encoder(method="auto", **options)
        layer.build(x.shape)
        assert layer.method.name == name
        layer.set_weights(reference.get_weights())
        got = ops.convert_to_numpy(layer(x))
        assert np.abs(got - want).max() <= TOLERANCE * np.abs(want).max(), name
        # The pick is this machine's: the config keeps "auto", and a reload measures again.
        assert layer.get_config()["method"] == "auto"


def test_measuring_times_once_per_shape_class_and_writes_the_cache(
    cache, two_candidates, monkeypatch
):
    calls = []
    real = tuning.time_methods

    def counted(shape, names, structure=None, repeats=5):
        calls.append(shape)
        return real(shape, names, structure, repeats=1)  # one timed step: this test counts

    monkeypatch.setattr(tuning, "time_methods", counted)
    first = fb.Encoder(method="auto", **FREE)
    first.build((2, 800))
    assert len(calls) == 1
    entries = json.loads(cache.read_text())["entries"]
    (key, entry), = entries.items()  # fmt: skip
    assert key == calls[0].key() and entry["pick"] == first.method.name
    assert entry["pick"] == min(entry["ms"], key=entry["ms"].get)
    # Same class (2 x 49 frames and 2 x 60 frames both round to 128 rows): read, not timed.
    again = fb.Encoder(method="auto", **FREE)
    again.build((2, 970))
    assert len(calls) == 1 and again.method.name == first.method.name
    # No leftover temporary file beside the cache: it was written by a rename.
    assert [p.name for p in cache.parent.iterdir()] == [tuning.CACHE_FILE]


def test_measuring_is_opt_in_and_a_concrete_method_is_never_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMEBANK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("FRAMEBANK_AUTO", raising=False)
    layer = fb.Encoder(method="auto", **FREE)
    layer.build((2, 800))
    assert layer.get_config()["method"] == layer.method.name != "auto"
    assert not tuning.cache_path().exists()
    monkeypatch.setenv("FRAMEBANK_AUTO", "measure")
    assert tuning.measuring_enabled()
    chosen = fb.Encoder(method="pointwise_conv", **FREE)
    chosen.build((2, 800))
    assert chosen.method.name == "pointwise_conv" and not tuning.cache_path().exists()
    monkeypatch.setenv("FRAMEBANK_AUTO", "fast")
    with pytest.raises(ValueError, match="FRAMEBANK_AUTO.*'measure'.*Received: 'fast'"):
        tuning.measuring_enabled()


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("FRAMEBANK_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tuning.cache_dir() == tmp_path / "framebank"
    monkeypatch.setenv("FRAMEBANK_CACHE_DIR", str(tmp_path / "mine"))
    assert tuning.cache_path() == tmp_path / "mine" / tuning.CACHE_FILE


def test_a_damaged_cache_is_measured_again(cache, two_candidates):
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("{not json")
    layer = fb.Encoder(method="auto", **FREE)
    layer.build((2, 800))
    assert json.loads(cache.read_text())["entries"], "the measured pick was written"


def test_a_measured_model_saves_auto_and_reloads_with_equal_outputs(
    cache, two_candidates, tmp_path
):
    x = _signal()
    inputs = keras.Input((x.shape[1],))
    model = keras.Model(inputs, fb.Encoder(method="auto", **FREE)(inputs))
    want = ops.convert_to_numpy(model(x))
    path = tmp_path / "measured.keras"
    model.save(path)
    assert '"method": "auto"' in _config_text(path)
    with tuning.measuring(False):
        loaded = keras.models.load_model(path)
    got = ops.convert_to_numpy(loaded(x))
    assert np.abs(got - want).max() <= TOLERANCE * np.abs(want).max()


def _config_text(path) -> str:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return archive.read("config.json").decode()


def test_tune_reports_the_times_the_pick_and_the_rule(cache):
    result = tuning.tune(16, 8, 12, batch=2, frames=8, repeats=1)
    assert result["pick"] == min(result["ms"], key=result["ms"].get)
    assert result["rule"] in fb.METHODS and "matmul" in result["ms"]
    assert all(ms > 0 for ms in result["ms"].values())
    with pytest.raises(ValueError, match="direction.*Received: direction='up'"):
        tuning.tune(16, 8, 12, direction="up")


def test_tied_and_pinv_decoders_are_measured_and_cached_apart(cache, monkeypatch):
    """Each variant synthesises with its own basis, so one's ranking is not the other's."""
    calls = []

    def timer(shape, names, structure=None, repeats=5):
        calls.append(shape)
        fastest = "dense" if shape.kind == "tied" else "matmul"
        return {n: 1.0 if n == fastest else 2.0 for n in names}

    monkeypatch.setattr(tuning, "time_methods", timer)
    encoder = fb.Encoder(method="matmul", **FREE)
    coefficients = encoder(_signal())
    tied = fb.Decoder(encoder, kind="tied", method="auto")
    tied.build(coefficients.shape)
    pinv = fb.Decoder(encoder, kind="pinv", method="auto")
    pinv.build(coefficients.shape)
    assert [shape.kind for shape in calls] == ["tied", "pinv"]
    assert calls[0].key() != calls[1].key()
    assert (tied.method.name, pinv.method.name) == ("dense", "matmul")


def test_a_decoders_auto_is_measured_and_cached_under_a_synthesis_key(cache, monkeypatch):
    calls = []

    def timer(shape, names, structure=None, repeats=5):
        calls.append((shape, names, structure))
        return {n: 1.0 if n == "dense" else 2.0 for n in names}  # dense "fastest"

    monkeypatch.setattr(tuning, "time_methods", timer)
    encoder = fb.Encoder(method="matmul", **FOURIER)  # concrete: only the decoder measures
    coefficients = encoder(_signal())
    decoder = fb.Decoder(encoder, kind="tied", method="auto")
    got = ops.convert_to_numpy(decoder(coefficients))
    (shape, names, structure), = calls  # fmt: skip
    assert shape.direction == "synthesis" and shape.structure == "windowed_dft"
    # The inverse FFT is a candidate, with the decoder's own synthesis description.
    assert "rfft" in names and "matmul" in names
    assert isinstance(structure, WindowedInverseDFT)
    assert decoder.method.name == "dense" and decoder.get_config()["method"] == "auto"
    entries = json.loads(cache.read_text())["entries"]
    assert list(entries) == [shape.key()] and "|synthesis:tied|" in shape.key()
    assert entries[shape.key()]["pick"] == "dense" and entries[shape.key()]["rule"] == "rfft"
    # Same class: read from the cache, not timed again; the outputs agree with matmul's.
    again = fb.Decoder(encoder, kind="tied", method="auto")
    again.build(coefficients.shape)
    assert len(calls) == 1 and again.method.name == "dense"
    want = ops.convert_to_numpy(fb.Decoder(encoder, kind="tied", method="matmul")(coefficients))
    assert np.abs(got - want).max() <= TOLERANCE * np.abs(want).max()
