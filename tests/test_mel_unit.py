"""Mel weights stored per band in a unit near the band's peak (``band_units``), so that a
learnable Slaney mel moves by about the learning rate relative to its bands, not by half a
band a step; files saved with the weights themselves (one entry) load into the new layout,
and old weight lists are refused."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from framebank import frontends
from framebank.audio import load_clips, read_manifest
from framebank.postprocessing import mel as mel_module
from framebank.postprocessing.mel import MelSpectrum, band_units, mel_matrix

RATE = 16000


def _speech(batch: int = 4) -> np.ndarray:
    clips = load_clips(read_manifest()[:batch], RATE)
    return np.stack([samples[:RATE] for _, samples in clips]).astype("float32")


def _mel_layer(frontend) -> MelSpectrum:
    (layer,) = [step for step in frontend.postprocessing if isinstance(step, MelSpectrum)]
    return layer


def _numpy(x) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(x))


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(n_mels=128, fmax=None),
        dict(htk=True, norm=None),
        dict(norm=None),
        dict(n_mels=80, fmin=50.0, fmax=7600.0, htk=True),
    ],
)
def test_the_weights_are_mel_times_unit_bit_for_bit(options):
    # Powers of two change exponents only, so mel * unit rounds nothing.
    layer = MelSpectrum(RATE, 512, **options)
    layer.build((None, None, 2 * 257))
    want = layer.initial_weights()
    np.testing.assert_array_equal(_numpy(mel_matrix(layer)), want.astype("float32"))
    units = band_units(want)
    assert (layer.mel_unit is None) == bool(np.all(units == 1.0))
    peaks = np.abs(_numpy(layer.mel)).max(axis=0)
    scaled = peaks[units != 1.0]
    assert np.all((scaled >= 2**-0.5 * (1 - 1e-6)) & (scaled <= 2**0.5 * (1 + 1e-6)))
    kept = peaks[(units == 1.0) & (peaks > 0)]
    assert np.all((kept >= 2**-2.5) & (kept <= 2**2.5))


def test_htk_style_bands_keep_one_weight():
    layer = MelSpectrum(RATE, 512, htk=True, norm=None)
    layer.build((None, None, 2 * 257))
    assert layer.mel_unit is None and len(layer.weights) == 1


def _relative_moves(make, rate: float, steps: int = 10) -> np.ndarray:
    """Each band's largest change over its initial peak after ``steps`` Adam steps."""
    keras.utils.set_random_seed(0)
    x = _speech()
    frontend = make()
    inputs = keras.Input((x.shape[1],))
    pooled = keras.layers.GlobalAveragePooling1D()(frontend(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4)(pooled))
    model.compile(keras.optimizers.Adam(rate), "mse")
    target = np.random.default_rng(0).standard_normal((len(x), 4)).astype("float32")
    layer = _mel_layer(frontend)
    start = _numpy(mel_matrix(layer)).astype(np.float64)
    model.fit(x, target, epochs=steps, batch_size=len(x), verbose=0)
    moved = np.abs(_numpy(mel_matrix(layer)) - start).max(axis=0)
    return moved / np.abs(start).max(axis=0)


@pytest.mark.parametrize(
    ("make", "rate"),
    [
        (lambda: frontends.LogMel(RATE, learnable="mel"), 1e-3),
        (lambda: frontends.WhisperLogMel(learnable="mel", max_over="example"), 1e-3),
    ],
    ids=["log_mel", "whisper"],
)
def test_a_learnable_slaney_mel_moves_by_the_rate_relative_to_its_bands(make, rate):
    """Adam moves a stored weight by at most lr (1 - beta_1) / sqrt(1 - beta_2) = 3.16 lr a
    step, and a band's stored peak is at least 1 / sqrt(2): 10 steps move a band by at most
    10 * 3.16 * sqrt(2) lr = 0.045 of its peak at 1e-3. Weights that held the bands
    themselves (peaks 1.7e-3 to 2.6e-2) moved 48% of the median band's peak."""
    moves = _relative_moves(make, rate)
    assert moves.max() <= 10 * 3.17 * np.sqrt(2) * rate
    assert np.median(moves) > 0  # and it learns


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
@pytest.mark.parametrize("learnable", [False, "mel"])
def test_files_saved_before_the_units_load_the_same(suffix, learnable, tmp_path, monkeypatch):
    x = _speech(batch=2)[:, :4000]

    def model() -> keras.Model:
        inputs = keras.Input((4000,))
        return keras.Model(inputs, frontends.LogMel(RATE, learnable=learnable, name="m")(inputs))

    with monkeypatch.context() as patch:
        # The layout before the units: every band's unit 1, one weight holding the bands.
        patch.setattr(mel_module, "band_units", lambda w: np.ones(np.shape(w)[1]))
        old = model()
        layer = _mel_layer(old.layers[1])
        assert layer.mel_unit is None
        # Trained weights, not the definition's: a load must carry them, not rebuild them.
        layer.mel.assign(_numpy(layer.mel) * 1.5)
        want = _numpy(old(x))
        path = tmp_path / f"old{suffix}"
        old.save(path) if suffix == ".keras" else old.save_weights(path)
    if suffix == ".keras":
        new = keras.models.load_model(path)
    else:
        new = model()
        new.load_weights(path)
    assert _mel_layer(new.layers[1]).mel_unit is not None
    np.testing.assert_array_equal(_numpy(new(x)), want)


def test_an_old_weight_list_is_refused(monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(mel_module, "band_units", lambda w: np.ones(np.shape(w)[1]))
        old = frontends.LogMel(RATE)
        old.build((None, 4000))
        weights = old.get_weights()
    new = frontends.LogMel(RATE)
    new.build((None, 4000))
    assert len(new.get_weights()) == len(weights) + 1
    with pytest.raises(ValueError):
        new.set_weights(weights)
