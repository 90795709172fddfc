"""LEAF's band-limited path equals its stride-1 definition: outputs and gradients, on speech.

The path is ``LEAF(band_limited=True)``, the default with ``method="auto"``; the reference is
``LEAF(band_limited=False, method="strided_conv")`` (a named method alone gives it), LEAF's
own design (a Gabor convolution at every sample), with the same weights. Each case also checks that
the band-limited path is the one that ran (its plan holds), so that an equality is not
the stride-1 fallback compared with itself.

Tolerances: outputs within 1e-4 of the largest value and gradients within 1e-3 of each
weight's largest gradient, the issue's bounds. The path's own error is the energy beyond
its band (below 1e-6 of the Gaussians' peaks by construction) and the spectrum outside each
filter's band of bins: the sidelobes of filters that the window cuts below 1e-3 of their
peak (measured at 1e-5 of the largest output at 16 kHz, 3e-5 at 8 kHz on speech,
``benchmarks/README.md``); float32 rounding through the two paths is about 2e-6 (the FFT
and the convolution of the stride-1 definition differ by that much).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import assert_close_rel, value_and_grads
from keras import ops

from framebank import frontends
from framebank.audio import load_audio, read_manifest

OUTPUT_RTOL, GRAD_RTOL = 1e-4, 1e-3
# Two compilations of one computation (a saved model and its reload) may order float32
# sums differently (XLA fuses and splits the FFTs per compilation): a few ulps of the
# largest value per FFT stage, log2(N) stages, N = 2,880 at 8 kHz and 0.25 s.
RECOMPILE_RTOL = 4 * np.finfo(np.float32).eps * np.log2(2880)


def _speech(rate: int, seconds: float, batch: int) -> np.ndarray:
    length = int(rate * seconds)
    chunks = []
    for clip in read_manifest():
        samples, _ = load_audio(clip.path, rate)
        for start in range(0, len(samples) - length + 1, length):
            chunks.append(samples[start : start + length])
            if len(chunks) == batch:
                return np.stack(chunks).astype("float32")
    raise AssertionError("not enough speech in data/")


def _pair(rate: int, x: np.ndarray, **options):
    fast = frontends.LEAF(rate, band_limited=True, **options)
    slow = frontends.LEAF(rate, band_limited=False, method="strided_conv", **options)
    fast(x[:1])
    slow(x[:1])
    slow.set_weights(fast.get_weights())
    return fast, slow


def _holds(leaf) -> bool:
    gabor = leaf.encoder.filterbank
    sigma = ops.clip(gabor.sigma, *gabor.sigma_range)
    return bool(ops.convert_to_numpy(leaf._plan.holds(sigma)))


def _assert_equal(fast, slow, x, what):
    assert_close_rel(
        ops.convert_to_numpy(fast(x)), ops.convert_to_numpy(slow(x)), OUTPUT_RTOL, what
    )


SHAPES = [(16000, 1.0, 3), (8000, 0.25, 4)]  # the step and the language-ID one


@pytest.mark.parametrize("rate,seconds,batch", SHAPES)
def test_equal_at_initialisation(rate, seconds, batch):
    x = _speech(rate, seconds, batch)
    fast, slow = _pair(rate, x)
    assert _holds(fast)
    assert len(fast._plan.groups) > 1 and max(g[0] for g in fast._plan.groups) > 1
    assert any(g[0] != int(g[0]) for g in fast._plan.groups)  # a stride hop / k, not a divisor
    _assert_equal(fast, slow, x, f"{rate} Hz")


def test_equal_at_extreme_centres_and_pooling_widths():
    """Centres at both ends of their range, pooling widths at both ends of theirs:
    the plan does not depend on them, so the band-limited path runs."""
    x = _speech(16000, 0.5, 2)
    fast, slow = _pair(16000, x)
    gabor, pool = fast.encoder.filterbank, fast.postprocessing[1]
    count = gabor.centre.shape[0]
    low, high = gabor.centre_range
    gabor.centre.assign(np.where(np.arange(count) % 2, low, high).astype("float32"))
    widths = np.where(np.arange(count) % 2, pool.sigma_low, 0.5).astype("float32")
    pool.sigma.assign(widths)
    slow.set_weights(fast.get_weights())
    assert _holds(fast)
    _assert_equal(fast, slow, x, "extreme centres and pooling widths")


@pytest.mark.parametrize("end", ["low", "high"])
def test_equal_at_extreme_widths(end):
    """Filter widths at an end of their constraint: outside the plan, so the stride-1
    definition runs, inside the same call."""
    x = _speech(16000, 0.5, 2)
    fast, slow = _pair(16000, x)
    gabor = fast.encoder.filterbank
    bound = gabor.sigma_range[0 if end == "low" else 1]
    gabor.sigma.assign(np.full(gabor.sigma.shape, bound, "float32"))
    slow.set_weights(fast.get_weights())
    assert not _holds(fast)
    _assert_equal(fast, slow, x, f"widths at the {end} end")


def test_equal_after_training():
    """60 Adam steps at 1e-2 through the band-limited path move centres, widths and
    pooling; the trained front end still equals the stride-1 definition."""
    rate = 8000
    x = _speech(rate, 0.25, 4)
    fast, slow = _pair(rate, x)
    before = [np.array(v) for v in fast.trainable_weights]
    target = np.random.default_rng(0).normal(size=fast.compute_output_shape(x.shape))
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, fast(inputs))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(x, target.astype("float32"), epochs=60, batch_size=len(x), verbose=0)
    moved = {
        v.path.split("/")[-1]: float(np.abs(np.array(v) - b).max())
        for v, b in zip(fast.trainable_weights, before, strict=True)
    }
    for name in ("centre", "sigma"):
        assert moved[name] > 1e-3, moved
    slow.set_weights(fast.get_weights())
    assert _holds(fast)
    _assert_equal(fast, slow, x, "after training")


@pytest.mark.parametrize(
    "rate,options",
    [(16000, {}), (8000, {"window_ms": 32.0, "hop_ms": 10.0})],  # default; language-ID recipe
)
def test_plan_holds_through_60_adam_steps_at_1e2_whatever_the_loss(rate, options):
    """The stride-1 fallback cannot run in 60 Adam steps at 1e-2, for any loss: Adam moves a
    weight by at most ``lr (1 - beta_1) / sqrt(1 - beta_2)`` a step (Kingma and Ba 2015,
    section 2.1, the case ``1 - beta_1 > sqrt(1 - beta_2)``), and every initial width is
    farther than 60 such steps from its group's bounds (clipping to the constraint only
    moves a width back toward its start)."""
    leaf = frontends.LEAF(rate, **options)
    leaf(np.zeros((1, rate // 4), "float32"))
    plan = leaf._plan
    _, sigma = leaf.encoder.filterbank.initial_parameters()
    adam = keras.optimizers.Adam(1e-2)
    beta_1, beta_2 = float(adam.beta_1), float(adam.beta_2)
    assert 1.0 - beta_1 > np.sqrt(1.0 - beta_2)
    reach = 60 * 1e-2 * (1.0 - beta_1) / np.sqrt(1.0 - beta_2)
    slack = np.minimum(sigma - plan.sigma_low, plan.sigma_high - sigma)
    assert max(g[0] for g in plan.groups) > 1  # a plan with strides above 1 to keep
    assert slack.min() > reach, (slack.min(), reach)


def test_gradients_agree():
    rate = 8000
    x = _speech(rate, 0.25, 2)
    fast, slow = _pair(rate, x)
    upstream = np.random.default_rng(1).normal(size=fast.compute_output_shape(x.shape))
    upstream = upstream.astype("float32")
    assert _holds(fast)
    _, gx_fast, gw_fast = value_and_grads(
        lambda s: ops.sum(fast(s) * upstream), [x], fast.trainable_weights
    )
    _, gx_slow, gw_slow = value_and_grads(
        lambda s: ops.sum(slow(s) * upstream), [x], slow.trainable_weights
    )
    assert_close_rel(gx_fast[0], gx_slow[0], GRAD_RTOL, "input")
    for var, a, b in zip(fast.trainable_weights, gw_fast, gw_slow, strict=True):
        assert np.abs(b).max() > 0, var.path
        assert_close_rel(a, b, GRAD_RTOL, var.path)


def test_saved_and_loaded(tmp_path):
    x = _speech(8000, 0.25, 2)
    fast, _ = _pair(8000, x)
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, fast(inputs))
    model.save(tmp_path / "leaf.keras")
    loaded = keras.models.load_model(tmp_path / "leaf.keras")
    assert loaded.layers[-1].band_limited
    assert_close_rel(loaded.predict(x, verbose=0), model.predict(x, verbose=0), RECOMPILE_RTOL)


def test_unknown_length_runs_the_definition():
    """A symbolic input of unknown length has no plan: the stride-1 definition runs."""
    leaf = frontends.LEAF(8000, band_limited=True)
    inputs = keras.Input((None,))
    model = keras.Model(inputs, leaf(inputs))
    x = _speech(8000, 0.25, 2)
    slow = frontends.LEAF(8000, band_limited=False, method="strided_conv")
    slow(x[:1])
    slow.set_weights(leaf.get_weights())
    assert_close_rel(model.predict(x, verbose=0), ops.convert_to_numpy(slow(x)), OUTPUT_RTOL)


def test_default_is_the_band_limited_path():
    assert frontends.LEAF(16000).band_limited
    assert not frontends.LEAF(16000, band_limited=False).band_limited


def test_a_named_method_is_the_stride1_definition():
    """Naming a method asks for the reference: exactly ``band_limited=False``'s numbers,
    and not the band-limited path's (which differs by more than 0, within its bound)."""
    x = _speech(8000, 0.25, 2)
    named = frontends.LEAF(8000, method="strided_conv")
    explicit = frontends.LEAF(8000, band_limited=False, method="strided_conv")
    fast = frontends.LEAF(8000)
    for leaf in (named, explicit, fast):
        leaf(x[:1])
    named.set_weights(fast.get_weights())
    explicit.set_weights(fast.get_weights())
    assert not named.band_limited and fast.band_limited and _holds(fast)
    want = ops.convert_to_numpy(explicit(x))
    got = ops.convert_to_numpy(named(x))
    np.testing.assert_array_equal(got, want)
    gap = np.abs(ops.convert_to_numpy(fast(x)) - got).max()
    assert 0 < gap <= OUTPUT_RTOL * np.abs(got).max()
    # True wins over a named method: the band-limited path, that method as its fallback.
    assert frontends.LEAF(8000, method="strided_conv", band_limited=True).band_limited


@pytest.mark.parametrize(
    "options,band_limited",
    [({}, True), ({"method": "strided_conv"}, False), ({"band_limited": False}, False)],
)
def test_config_round_trip_keeps_the_path(options, band_limited):
    """The config stores the resolved choice: its method is the one "auto" picked, which
    would otherwise read as a named method on reload."""
    config = frontends.LEAF(8000, **options).get_config()
    assert config["band_limited"] is band_limited
    again = frontends.LEAF.from_config(config)
    assert again.band_limited is band_limited
    assert again.get_config() == config


def test_a_config_of_the_last_release_loads_as_before():
    """The last release wrote ``band_limited=True`` with the method "auto" resolved to (or
    the one named): explicit True wins, so the band-limited path still runs."""
    for method in ("fft_conv", "strided_conv"):
        config = frontends.LEAF(8000, method=method, band_limited=True).get_config()
        assert config["band_limited"] is True
        assert frontends.LEAF.from_config(config).band_limited


def test_bad_option():
    with pytest.raises(TypeError, match="band_limited"):
        frontends.LEAF(16000, band_limited="yes")


@pytest.mark.parametrize("hop", [160, 441, 147])
def test_fft_length_is_found_for_any_hop(hop):
    """A hop with a prime factor above 5 (441 = 10 ms at 44.1 kHz) still gives a length
    that holds the signal and is a multiple of the hop (it used to search forever)."""
    from framebank.frontends._band_limited import BandLimitedPlan

    plan = BandLimitedPlan(np.linspace(2.0, 60.0, 8), 401, hop)
    length = plan.fft_length(4 * hop)
    assert length % hop == 0 and length >= 4 * hop + 401
