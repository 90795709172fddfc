"""The banded mel product: only the blocks of the mel matrix its triangles cover, and the dense
product's numbers (within float32 rounding) for every preset, and for any weight.

Bounds: with non-negative terms (a power spectrum, mel weights >= 0, a positive upstream
gradient), a float32 sum of ``k`` products in any order is within ``gamma_k = k u / (1 - k u)``
(``u = 2**-24``) of the exact sum (Higham, Accuracy and Stability, 3.1). The dense product adds
the same non-zero products as the banded one, plus exact zeros; the banded one sums at most
``blocks`` partial sums on top. So both lie within ``gamma_(k + blocks)`` of the float64 sum,
and within twice that of each other, with ``k`` the most non-zeros in a column (a row, for the
gradient).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import value_and_grads
from keras import ops

from framebank import frontends
from framebank.postprocessing.mel import matmul

U = 2.0**-24
PRESETS = ("LogMel", "whisper", "whisper_v3", "torchaudio_mel", "keras_mel", "kaldi_fbank", "ast")
_LAYERS: dict = {}


def _mel_layer(name: str):
    """The mel (or Kaldi fbank) layer of preset ``name``, built (one per preset and backend)."""
    if name not in _LAYERS:
        frontend = frontends.LogMel(16000) if name == "LogMel" else frontends.FRONTENDS[name]()
        frontend(np.zeros((1, 16000), "float32"))
        _LAYERS[name] = next(x for x in frontend._flatten_layers() if hasattr(x, "product"))
    return _LAYERS[name]


def _gamma(k: int) -> float:
    return k * U / (1 - k * U)


def _power(rows: int, frames: int = 5, seed: int = 0) -> np.ndarray:
    """A float32 power spectrum ``[2, frames, rows]``, >= 0, over six decades."""
    rng = np.random.default_rng(seed)
    return (rng.random((2, frames, rows)) * 10.0 ** rng.uniform(-3, 3, (2, frames, rows))).astype(
        "float32"
    )


@pytest.mark.parametrize("name", PRESETS)
def test_every_presets_band_is_at_most_half_the_product_and_holds_every_non_zero(name):
    layer = _mel_layer(name)
    weights = np.asarray(ops.convert_to_numpy(layer.mel))
    product = layer.product
    assert len(product.blocks) >= 2
    assert product.work <= 0.5 * weights.size
    assert not np.any(weights[~product.inside])


@pytest.mark.parametrize("name", ("whisper", "torchaudio_mel", "keras_mel", "ast"))
def test_the_larger_mel_matrices_run_banded(name):
    # LogMel's 257 x 40 and kaldi_fbank's 257 x 23 stay dense: two blocks save less than
    # the split costs (benchmarks/README.md).
    assert _mel_layer(name).product.used


@pytest.mark.parametrize("name", PRESETS)
def test_banded_equals_dense_within_float32_rounding(name):
    layer = _mel_layer(name)
    weights = np.asarray(ops.convert_to_numpy(layer.mel), "float32")
    power = _power(weights.shape[0])
    banded = ops.convert_to_numpy(layer.product.banded(power, weights))
    dense = ops.convert_to_numpy(matmul(ops.convert_to_tensor(power), weights))
    exact = power.astype("float64") @ weights.astype("float64")
    k = int((weights != 0).sum(axis=0).max()) + len(layer.product.blocks)
    np.testing.assert_array_less(np.abs(banded - exact), _gamma(k) * exact + 1e-38)
    np.testing.assert_array_less(np.abs(banded - dense), 2 * _gamma(k) * exact + 1e-38)


@pytest.mark.parametrize("name", ("LogMel", "keras_mel", "ast"))
def test_the_input_gradients_of_banded_and_dense_agree(name):
    layer = _mel_layer(name)
    weights = np.asarray(ops.convert_to_numpy(layer.mel), "float32")
    power = _power(weights.shape[0], seed=1)
    upstream = np.random.default_rng(2).random((2, 5, weights.shape[1])).astype("float32")
    _, (banded,), _ = value_and_grads(
        lambda p: ops.sum(layer.product.banded(p, weights) * upstream), [power]
    )
    _, (dense,), _ = value_and_grads(lambda p: ops.sum(matmul(p, weights) * upstream), [power])
    exact = upstream.reshape(-1, weights.shape[1]).astype("float64") @ weights.T.astype("float64")
    exact = exact.reshape(banded.shape)
    k = int((weights != 0).sum(axis=1).max()) + 1
    np.testing.assert_array_less(np.abs(banded - dense), 2 * _gamma(k) * exact + 1e-38)


def test_the_layer_runs_the_banded_product_while_its_weight_holds_the_band(monkeypatch):
    layer = _mel_layer("keras_mel")
    calls = []
    banded = layer.product.banded
    monkeypatch.setattr(layer.product, "banded", lambda *a: calls.append(1) or banded(*a))
    layer(np.ones((1, 2, 2 * layer.n_freq), "float32"))
    assert calls


def _coefficients(layer, frames: int = 3) -> np.ndarray:
    return np.random.default_rng(3).normal(size=(2, frames, 2 * layer.n_freq)).astype("float32")


def _dense_reference(layer, coefficients: np.ndarray, weights: np.ndarray) -> np.ndarray:
    x = coefficients.astype("float64")
    power = x[..., : layer.n_freq] ** 2 + x[..., layer.n_freq :] ** 2
    return power @ weights


@pytest.mark.parametrize("compiled", (False, True))
def test_a_weight_with_an_entry_outside_the_band_gives_the_dense_product(compiled):
    layer = keras.layers.deserialize(keras.layers.serialize(_mel_layer("keras_mel")))
    coefficients = _coefficients(layer)
    layer(coefficients)
    weights = np.array(ops.convert_to_numpy(_mel_layer("keras_mel").mel), "float32")
    outside = np.argwhere(~layer.product.inside)
    outside = tuple(outside[len(outside) // 2])
    weights[outside] = 0.5  # in a bin and a band that no block holds
    layer.set_weights([weights])
    if compiled:  # a traced call: the check is a cond in the graph
        out = keras.Sequential([keras.Input((None, 2 * layer.n_freq)), layer]).predict(
            coefficients, verbose=0
        )
    else:
        out = ops.convert_to_numpy(layer(coefficients))
    expected = _dense_reference(layer, coefficients, weights.astype("float64"))
    # Each output: at most 45 non-zeros (50 with the entry), plus the power's rounding (2 u).
    bound = (_gamma(50) + 4 * U) * expected + 1e-30
    np.testing.assert_array_less(np.abs(out - expected), bound)
    # The banded product of this weight misses the entry: the test tells the two apart.
    band = weights * layer.product.inside
    missed = np.abs(_dense_reference(layer, coefficients, band.astype("float64")) - expected)
    assert np.all(missed[..., outside[1]] > bound[..., outside[1]])


def test_a_training_weight_gets_the_dense_gradient_everywhere():
    layer = frontends.FRONTENDS["keras_mel"](learnable="mel")
    layer(np.zeros((1, 16000), "float32"))
    mel = next(x for x in layer._flatten_layers() if hasattr(x, "product"))
    coefficients = _coefficients(mel)
    power = coefficients[..., : mel.n_freq] ** 2 + coefficients[..., mel.n_freq :] ** 2
    _, _, (grad,) = value_and_grads(lambda c: ops.sum(mel(c)), [coefficients], [mel.mel])
    # d sum(power @ W) / dW[b, m] = sum over frames of power[b]: outside the band too.
    expected = np.broadcast_to(power.sum(axis=(0, 1))[:, None].astype("float64"), grad.shape)
    np.testing.assert_allclose(grad, expected, rtol=_gamma(8) * 2)
    assert np.all(grad[~mel.product.inside] > 0)


def test_mixed_float16_and_zero_frames():
    reference = _mel_layer("whisper")
    layer = type(reference).from_config({**reference.get_config(), "dtype": "mixed_float16"})
    coefficients = _coefficients(reference)
    out = layer(coefficients)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_array_equal(
        ops.convert_to_numpy(out), ops.convert_to_numpy(reference(coefficients))
    )
    empty = reference(np.zeros((2, 0, 2 * reference.n_freq), "float32"))
    assert tuple(empty.shape) == (2, 0, reference.n_mels)


def test_a_long_fft_is_planned_on_a_coarse_grid_and_still_holds_every_non_zero(monkeypatch):
    # The plan's table is quadratic in the rows: 8193 bins planned row by row took 1.5 GB
    # at every build. Cuts now fall on every k-th row, and the band still holds the matrix.
    from framebank.postprocessing import mel

    seen = []
    costs = mel._segment_costs
    monkeypatch.setattr(mel, "_segment_costs", lambda w: seen.append(len(w)) or costs(w))
    weights = mel.mel_weights(48000, 16384, 128)
    product = mel.BandedProduct(weights)
    assert seen and max(seen) <= mel.PLANNED_ROWS
    assert sum(product.sizes) == weights.shape[0]
    assert not np.any(weights[~product.inside])
    assert product.work <= 0.5 * weights.size
    power = _power(weights.shape[0], frames=2)
    banded = ops.convert_to_numpy(product.banded(power, weights.astype("float32")))
    exact = power.astype("float64") @ weights.astype("float64")
    k = int((weights != 0).sum(axis=0).max()) + len(product.blocks)
    np.testing.assert_array_less(np.abs(banded - exact), _gamma(k) * exact + 1e-38)
