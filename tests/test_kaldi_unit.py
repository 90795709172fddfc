"""The ``kaldi`` family's unit: where ``|scale|`` is far from 1 (BEATs, KaldiFbank(scale=2^15))
the basis is ``kernel * unit``, two weights, so that a learnable basis trains; files saved with
one weight (the kernel holding the whole basis) load into it, and old weight lists are refused.
"""

from __future__ import annotations

import io
import zipfile

import h5py
import keras
import numpy as np
import pytest
from keras import ops

import framebank as fb
from framebank import frontends
from framebank.audio import load_audio, read_manifest
from framebank.filterbanks import kaldi
from framebank.filterbanks.kaldi import kaldi_basis
from framebank.methods import _is_exactly
from framebank.training.checkpoint import load_checkpoint, save_checkpoint

RATE = 16000
INT16 = 2.0**15


def _speech(samples: int, batch: int) -> np.ndarray:
    """Real speech from data/: ``batch`` clips' middle ``samples`` samples."""
    clips = [load_audio(c.path, RATE)[0] for c in read_manifest()[: 4 * batch]]
    clips = [c[(len(c) - samples) // 2 :][:samples] for c in clips if len(c) >= samples]
    return np.stack(clips[:batch]).astype("float32")


def _numpy(x):
    return ops.convert_to_numpy(x)


def _bank(frontend):
    return frontend.encoder.filterbank


def _model(frontend, samples: int = 4000) -> keras.Model:
    inputs = keras.Input((samples,))
    return keras.Model(inputs, frontend(inputs))


@pytest.mark.parametrize("scale", [1.0, 0.9, 0.0, INT16, -INT16, 3.0, 1000.0])
def test_the_basis_is_kernel_times_unit_bit_for_bit(scale):
    # A power of two changes exponents only: kernel * unit rounds nothing, so the float32
    # basis is the description's exactly, and the kernel is within sqrt(2) of scale 1's.
    bank = fb.Encoder(
        frame_len=400, hop=160, filterbank="kaldi", sample_rate=RATE, fft_length=512, scale=scale
    ).filterbank
    bank.build()
    want = kaldi_basis(400, 512, scale=scale).astype("float32")
    np.testing.assert_array_equal(_numpy(bank.filters()), want)
    unit = kaldi._kernel_unit(scale)
    assert len(bank.weights) == (1 if unit == 1.0 else 2)
    assert (bank.unit is None) == (unit == 1.0)
    if scale and unit != 1.0:
        largest = np.abs(_numpy(bank.kernel)).max()
        at_one = np.abs(kaldi_basis(400, 512)).max()
        assert at_one / np.sqrt(2) <= largest * (1 + 1e-6) <= at_one * np.sqrt(2) * (1 + 1e-6)


def test_the_unit_is_the_power_of_two_nearest_the_scale():
    assert kaldi._kernel_unit(INT16) == INT16
    assert kaldi._kernel_unit(-32767.0) == INT16
    assert kaldi._kernel_unit(1000.0) == 1024.0
    assert kaldi._kernel_unit(1.3) == kaldi._kernel_unit(0.8) == kaldi._kernel_unit(0.0) == 1.0
    assert kaldi._kernel_unit(1e-300) == 2.0**-126  # float32's smallest normal: still exact


@pytest.mark.parametrize("scale", [float("inf"), float("-inf"), float("nan")])
def test_a_scale_that_is_not_finite_is_refused(scale):
    with pytest.raises(ValueError, match="`scale` must be a finite number"):
        frontends.KaldiFbank(scale=scale)
    with pytest.raises(ValueError, match="`scale`"):
        fb.Encoder(frame_len=400, hop=160, filterbank="kaldi", sample_rate=RATE, scale=scale)


_TRAINS = {
    "beats": lambda: frontends.BEATs(learnable="basis"),
    "kaldi_fbank_int16": lambda: frontends.KaldiFbank(scale=INT16, learnable="basis"),
    "ast": lambda: frontends.AST(learnable="basis"),
}


def _relative_movement(make) -> float:
    """20 Adam steps at 1e-3 through a linear head and a squared error on real speech:
    the basis's largest change over its largest value."""
    keras.utils.set_random_seed(0)
    x = _speech(samples=16000, batch=4)
    frontend = make()
    inputs = keras.Input((x.shape[1],))
    pooled = keras.layers.GlobalAveragePooling1D()(frontend(inputs))
    # A linear head and a squared error: a softmax of unnormalised log fbanks can saturate
    # at its first step, where no gradient is left to follow.
    model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    targets = np.random.default_rng(0).standard_normal((len(x), 2)).astype("float32")
    start = _numpy(_bank(frontend).filters()).copy()
    model.fit(x, targets, epochs=20, batch_size=len(x), verbose=0)
    moved = _numpy(_bank(frontend).filters()) - start
    return float(np.abs(moved).max() / np.abs(start).max())


@pytest.mark.parametrize("name", list(_TRAINS))
def test_a_learnable_kaldi_basis_trains_at_any_scale(name):
    """Adam moves each weight by about its learning rate a step whatever its gradient's size
    (while the gradient is well above its epsilon, 1e-7), so 20 steps at 1e-3 move an entry
    by up to 2e-2: about 1e-2 of a kernel whose largest entry is about 2 (the basis at scale
    1, AST's), and the basis moves by the same fraction (kernel * unit). A kernel holding the
    2^15 scale (largest 6.5e4, gradients below epsilon) moved 6e-7 of it. 1e-3 leaves a
    factor 10 for entries whose gradient changes sign between steps."""
    assert _relative_movement(_TRAINS[name]) > 1e-3


def _one_weight_layout(monkeypatch) -> None:
    """Make the family build as before its unit (main at 8ce674f): one weight, the kernel
    holding the whole basis, scale included."""
    monkeypatch.setattr(kaldi, "_kernel_unit", lambda scale: 1.0)


def _store_shapes(h5: h5py.File) -> dict:
    shapes = {}
    h5.visititems(
        lambda name, o: (
            shapes.update({name: o.shape})
            if isinstance(o, h5py.Dataset) and "encoder/filterbank" in name
            else None
        )
    )
    return shapes


_OLD = {
    "beats_fixed": (lambda: frontends.BEATs(name="f"), "bea_ts", False),
    "kaldi_fbank_trained": (
        lambda: frontends.KaldiFbank(scale=INT16, learnable=True, name="f"),
        "kaldi_fbank",
        True,
    ),
}


def _old_files(make, trained, tmp_path, monkeypatch):
    """A model made and saved in the one-weight layout, its output and its two files."""
    _one_weight_layout(monkeypatch)
    model = _model(make())
    if trained:  # off the initial numbers (times 1.01)
        model.set_weights([w * 1.01 for w in model.get_weights()])
    model.save(tmp_path / "old.keras")
    model.save_weights(tmp_path / "old.weights.h5")
    x = _speech(samples=4000, batch=1)
    want = _numpy(model(x))
    monkeypatch.undo()
    return x, want


@pytest.mark.parametrize("case", list(_OLD))
def test_files_saved_with_one_weight_load_the_same_basis(case, tmp_path, monkeypatch):
    """Both files hold the one-weight layout main wrote (checked against it once:
    ``encoder/filterbank/vars/0``, ``[400, 514]``, nothing else); each loads into the
    two-weight layout, the kernel divided by 2^15 (exact), so the outputs are equal."""
    make, stored, trained = _OLD[case]
    x, want = _old_files(make, trained, tmp_path, monkeypatch)
    with h5py.File(tmp_path / "old.weights.h5") as h5:
        shapes = _store_shapes(h5)
    with zipfile.ZipFile(tmp_path / "old.keras") as archive:
        with h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5:
            assert _store_shapes(h5) == shapes
    assert shapes == {f"layers/{stored}/encoder/filterbank/vars/0": (400, 514)}
    loaded = keras.models.load_model(tmp_path / "old.keras")
    weights_only = _model(make())
    weights_only.load_weights(tmp_path / "old.weights.h5")
    for model in (loaded, weights_only):
        bank = _bank(model.get_layer("f"))
        assert float(_numpy(bank.unit)) == INT16
        assert np.abs(_numpy(bank.kernel)).max() < 4.0  # about 2: scale 1's size
        np.testing.assert_array_equal(_numpy(model(x)), want)


def test_a_fixed_beats_loaded_from_an_old_file_still_runs_its_description(tmp_path, monkeypatch):
    _old_files(_OLD["beats_fixed"][0], False, tmp_path, monkeypatch)
    weights_only = _model(frontends.BEATs(name="f"))
    weights_only.load_weights(tmp_path / "old.weights.h5")
    bank = _bank(weights_only.get_layer("f"))
    assert bool(_numpy(_is_exactly(bank.filters(), bank.describe().basis())))


def test_a_file_of_the_new_layout_loads_as_it_is(tmp_path):
    frontend = frontends.KaldiFbank(scale=INT16, learnable=True, name="f")
    model = _model(frontend)
    model.set_weights([w * 1.01 for w in model.get_weights()])  # the unit moves too: kept
    model.save_weights(tmp_path / "new.weights.h5")
    again = _model(frontends.KaldiFbank(scale=INT16, learnable=True, name="f"))
    again.load_weights(tmp_path / "new.weights.h5")
    for mine, theirs in zip(again.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_an_old_weight_list_and_an_old_checkpoint_are_refused(tmp_path, monkeypatch):
    _one_weight_layout(monkeypatch)
    old = _model(frontends.BEATs())
    old.compile(keras.optimizers.Adam(), "mse")
    old_weights = old.get_weights()
    save_checkpoint(tmp_path, old, {"epochs_done": 1})
    monkeypatch.undo()
    model = _model(frontends.BEATs())
    model.compile(keras.optimizers.Adam(), "mse")
    assert len(model.get_weights()) == len(old_weights) + 1
    with pytest.raises(ValueError, match="weight list of length"):
        model.set_weights(old_weights)
    with pytest.raises(ValueError, match="holds .* weights but the model has"):
        load_checkpoint(tmp_path, model)


def test_a_store_of_another_count_gets_keras_error():
    bank = frontends.BEATs().encoder.filterbank
    bank.build()
    store = {str(i): np.zeros((400, 514), "float32") for i in range(3)}
    with pytest.raises(ValueError, match="expected 2 variables"):
        bank.load_own_variables(store)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "float64"])
def test_a_fixed_beats_basis_is_its_description_until_either_weight_changes(policy):
    """The ``rfft`` method's per-call check: a float32 kernel times 2^15 is the float32 basis
    exactly (float64: exact too); cast to float16 after the product as the layer does, it is
    the description cast the same way. Any change to the kernel or the unit breaks it."""
    if policy == "float64" and keras.backend.backend() == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            pytest.skip("JAX without jax_enable_x64 has no float64")
    bank = frontends.BEATs(dtype=policy).encoder.filterbank
    bank.build()
    dtype = bank.compute_dtype

    def exact() -> bool:
        return bool(_numpy(_is_exactly(ops.cast(bank.filters(), dtype), bank.describe().basis())))

    assert exact()
    kernel = _numpy(bank.kernel)
    bank.kernel.assign(np.where(np.arange(kernel.size).reshape(kernel.shape) == 7, 0.5, kernel))
    assert not exact()
    bank.kernel.assign(kernel)
    assert exact()
    bank.unit.assign(2.0**14)
    assert not exact()
