"""Frequency-like parameters learn at the usual learning rates: Adam moves a parameter by
about its learning rate a step whatever the gradient's scale, so the unit a frequency is
stored in decides how far a step moves a filter. A task that pulls every band 200 Hz up
(a teacher of the same family, shifted) must move the median cut-off or centre at least
50 Hz in 300 Adam steps at 1e-3; in Hz, a step of 1e-3 moved a sinc cut-off 0.001 Hz."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

import framebank as fb

RATE = 16000
SHIFT_HZ = 200.0


def _low_hz(encoder):
    return np.asarray(ops.convert_to_numpy(encoder.filterbank.low_hz), "float64")


def _centre_hz(encoder):
    return np.asarray(ops.convert_to_numpy(encoder.filterbank.centre_hz()), "float64")


FAMILIES = {
    # family: (encoder options, its frequencies in Hz, the weight to shift, Hz -> its unit)
    "sinc": (dict(num_basis=16, filterbank="sinc"), _low_hz, "low", 1.0 / RATE),
    "gabor": (dict(num_basis=32, filterbank="gabor"), _centre_hz, "centre", 2 * np.pi / RATE),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_adam_moves_the_filters_audibly(family):
    options, hz, weight, per_hz = FAMILIES[family]
    make = lambda: fb.Encoder(frame_len=201, hop=100, sample_rate=RATE, **options)  # noqa: E731
    student, teacher = make(), make()
    noise = np.random.default_rng(0).standard_normal((4, 4000)).astype("float32")
    student(noise), teacher(noise)
    shifted = getattr(teacher.filterbank, weight)
    shifted.assign(ops.convert_to_numpy(shifted) + SHIFT_HZ * per_hz)
    target = ops.convert_to_numpy(teacher(noise))
    before = hz(student)
    model = keras.Sequential([keras.Input((noise.shape[1],)), student])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(noise, target, epochs=300, batch_size=len(noise), verbose=0)
    moved = np.median(hz(student) - before)
    print(f"{family}: median move {moved:.1f} Hz towards {SHIFT_HZ:.0f}")
    assert moved >= 50.0


def test_sinc_weights_saved_in_hz_load_to_the_same_filters(tmp_path):
    """The old layout (cut-offs and widths in Hz) written into a .keras file loads and gives
    the filters it gave."""
    import zipfile

    import h5py

    encoder = fb.Encoder(8, 101, 50, filterbank="sinc", sample_rate=RATE, name="sinc_encoder")
    x = np.random.default_rng(1).standard_normal((1, 2000)).astype("float32")
    model = keras.Sequential([keras.Input((2000,)), encoder])
    want = ops.convert_to_numpy(model(x))
    model.save(tmp_path / "new.keras")
    # Rewrite the sinc weights as the Hz values the old code stored.
    with zipfile.ZipFile(tmp_path / "new.keras") as src:
        src.extractall(tmp_path / "unzipped")
    with h5py.File(tmp_path / "unzipped" / "model.weights.h5", "r+") as store:
        found = []

        def to_hz(name, item):
            if isinstance(item, h5py.Dataset) and name.endswith(
                ("filterbank/vars/0", "filterbank/vars/1")
            ):
                item[...] = item[...] * RATE
                found.append(name)

        store.visititems(to_hz)
        assert len(found) == 2, found
    with zipfile.ZipFile(tmp_path / "old.keras", "w") as out:
        for path in (tmp_path / "unzipped").rglob("*"):
            out.write(path, path.relative_to(tmp_path / "unzipped"))
    loaded = keras.models.load_model(tmp_path / "old.keras")
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded.layers[0].filterbank.low_hz), _low_hz(encoder), rtol=1e-6
    )
