"""EfficientLEAF (framebank.frontends.EfficientLEAF) against a float64 numpy transcription of
its reference's forward pass (CPJKU/EfficientLEAF ``GroupedGaborFilterbank`` and ``LogTBN``)
on real speech, within a bound derived from float32 rounding; its LogTBN layers; its bad
options; and its refusal to stream."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import value_and_grads
from keras import ops
from test_frontends import _speech

import framebank as fb
from framebank import frontends, streaming
from framebank.frontends._grouping import grouped_pooled_energy

RATE = 16000
U = 2.0**-24  # float32's unit roundoff


def _gamma(n: int) -> float:
    return n * U / (1 - n * U)


def _odd(size: int) -> int:
    return size + 1 - size % 2


def reference_groups(x, centre, sigma, widths, num_groups, pool_size, hop, win_factor, factor):
    """The reference's grouped filterbank in float64 on ``x`` ``[batch, time]``: pooled
    energies ``[batch, frames, bands]``, a bound on a float32 computation's distance from
    them (below), and per group ``(stride, kernel, window)``.

    Transcribed from ``GroupedGaborFilterbank.forward``: parameters clamped, groups split
    at ``i * bands // num_groups``, a stride from the group's highest centre, a kernel from
    its widest sigma, a complex Gabor filter as a cross-correlation with ``kernel // 2``
    zeros each side, ``|.|^2``, a Gaussian window at the group's rate with ``window // 2``
    zeros each side.

    The bound: a Gabor output is a sum of ``kernel`` float32 products (``gamma_kernel``
    of the sum of their magnitudes) whose taps carry the rounding of their phase ``t mu``
    (``|t mu| u``, absolute) and of the Gaussian's exponent (``(t / sigma)^2 / 2 u``)
    besides a few other roundings; ``|y|^2`` inherits ``2 |y| dy + dy^2``; the window's sum
    adds ``gamma_window`` and its taps' exponent rounding."""
    z = np.sqrt(2 * np.log(2)) / np.pi
    centre = np.clip(centre, 0.0, np.pi)
    sigma = np.clip(sigma, 2 * z, pool_size * z)
    widths = np.clip(widths, 2.0 / pool_size, 0.5)
    strides = [d for d in range(1, hop + 1) if hop % d == 0]
    splits = np.arange(num_groups + 1) * len(centre) // num_groups
    outputs, bounds, plan = [], [], []
    for a, b in zip(splits[:-1], splits[1:], strict=True):
        wanted = max(1, np.pi / centre[a:b].max() * factor)
        stride = strides[np.searchsorted(strides, wanted, side="right") - 1]
        kernel = _odd(int(sigma[a:b].max() * win_factor))
        t = np.arange(-(kernel // 2), (kernel + 1) // 2)
        envelope = np.exp(np.outer(1 / (2 * sigma[a:b] ** 2), -(t**2)))
        envelope /= (np.sqrt(2 * np.pi) * sigma[a:b])[:, None]
        gabor = np.exp(1j * np.outer(centre[a:b], t)) * envelope
        padded = np.pad(x, [(0, 0), (kernel // 2, kernel // 2)])
        frames = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=1)[:, ::stride]
        y = frames @ gabor.T  # [batch, steps, group]
        energy = np.abs(y) ** 2
        window = _odd(int(pool_size / stride + 0.5))
        scaled = widths[a:b] / stride * pool_size / window
        n = np.arange(window) * (2 / (window - 1)) - 1
        exponent = 0.5 * (n[:, None] / scaled) ** 2
        windows = np.exp(-exponent)  # [window, group]
        step = hop // stride

        def pool(e, taps, window=window, step=step):
            e = np.pad(e, [(0, 0), (window // 2, window // 2), (0, 0)])
            spans = np.lib.stride_tricks.sliding_window_view(e, window, axis=1)[:, ::step]
            return np.einsum("bsgw,wg->bsg", spans, taps)

        outputs.append(pool(energy, windows))
        plan.append((stride, kernel, window))
        tap_error = np.abs(np.outer(centre[a:b], t)) + 0.5 * (t / sigma[a:b, None]) ** 2 + 16
        dy = np.abs(frames) @ (envelope * (tap_error * U + _gamma(kernel))).T
        de = 2 * (np.abs(y.real) + np.abs(y.imag)) * dy + 2 * dy**2 + 4 * U * energy
        bounds.append(pool(de, windows) + pool(energy, windows * ((exponent + 8) * U)))
        bounds[-1] += _gamma(window) * outputs[-1]
    return np.concatenate(outputs, axis=-1), np.concatenate(bounds, axis=-1), plan


def reference_logtbn(x, log10_gain, dx, epsilon=1e-5):
    """LogTBN with the median appended, batch statistics (training), on ``[batch, frames,
    bands]`` to ``[batch, frames, 2 bands]`` (``torch.median``'s lower middle value), and
    a bound on a float32 computation's distance from it given ``dx``, one on its input's.

    The bound follows the input's through each step: ``log1p`` is increasing (its
    extremes at the interval's ends, with the gain's own rounding ``(|a ln 10| + 4) u``);
    a median moves by at most the largest of its inputs' errors; batch normalisation's
    mean by the mean error, its deviation by at most the largest error (Minkowski), each
    with the rounding of its sums."""
    gain = 10.0**log10_gain
    rho = (np.abs(log10_gain * np.log(10)) + 4) * U
    log = np.log1p(gain * x)
    high = np.log1p(gain * (1 + rho) * (x + dx))
    low = np.log1p(gain * (1 - rho) * np.maximum(x - dx, 0))
    dlog = np.maximum(high - log, log - low) + 4 * U * np.abs(log) + U
    middle = (x.shape[1] - 1) // 2
    median = np.sort(log, axis=1)[:, middle : middle + 1]
    v = np.concatenate([log, log - median], axis=-1)  # channels then bands, as the reshape
    shift = dlog.max(axis=1, keepdims=True) + U * (np.abs(log) + np.abs(median))
    dv = np.concatenate([dlog, dlog + shift], axis=-1)
    count = v.shape[0] * v.shape[1]
    mean, variance = v.mean(axis=(0, 1)), v.var(axis=(0, 1))
    scale = np.sqrt(variance + epsilon)
    out = (v - mean) / scale
    dmean = dv.mean(axis=(0, 1)) + _gamma(count) * np.abs(v).mean(axis=(0, 1))
    dscale = dv.max(axis=(0, 1)) + dmean + (_gamma(count) + 4 * U) * scale
    dout = (dv + dmean) / scale + np.abs(out) * dscale / (scale - dscale) + 8 * U * np.abs(out)
    return out, dout


def _weights(frontend):
    gabor, pool = frontend.encoder.filterbank, frontend.postprocessing[1]
    values = [gabor.centre, gabor.sigma, pool.sigma, frontend.postprocessing[2].log10_gain]
    return [ops.convert_to_numpy(v).astype("float64") for v in values]


@pytest.fixture(scope="module")
def speech():
    return _speech(0.5, batch=2).astype("float64")


def test_grouped_filterbank_is_the_references(speech):
    frontend = frontends.EfficientLEAF(RATE)
    frontend.build((None, speech.shape[1]))
    centre, sigma, widths, _ = _weights(frontend)
    want, bound, plan = reference_groups(speech, centre, sigma, widths, 8, 401, 160, 6.0, 16.0)
    assert plan == [(g.stride, g.kernel_size, g.window_size) for g in frontend.groups]
    pool = frontend.postprocessing[1]
    got = grouped_pooled_energy(
        ops.convert_to_tensor(speech.astype("float32")),
        frontend.encoder.filterbank,
        pool.sigma,
        frontend.groups,
        401,
        160,
    )
    got = ops.convert_to_numpy(got).astype("float64")
    assert got.shape == want.shape == (2, 50, 40)
    error = np.abs(got - want)
    print(
        f"worst error {error.max() / np.abs(want).max():.2e} of the largest value, "
        f"{np.max(error / bound):.3f} of its float32 bound"
    )
    assert np.all(error <= bound)


def test_front_end_is_the_references_with_logtbn(speech):
    frontend = frontends.EfficientLEAF(RATE)
    got = ops.convert_to_numpy(frontend(speech.astype("float32"), training=True))
    centre, sigma, widths, gain = _weights(frontend)
    pooled, dpooled, _ = reference_groups(speech, centre, sigma, widths, 8, 401, 160, 6.0, 16.0)
    want, bound = reference_logtbn(pooled, gain, dpooled)
    assert got.shape == want.shape == (2, 50, 80)
    error = np.abs(got - want)
    print(f"worst error {error.max():.2e}, {np.max(error / bound):.3f} of its float32 bound")
    assert np.all(error <= bound)


def test_logtbn_layers_follow_torchs_batch_norm_and_median():
    x = np.array([[[1.0, 4.0], [5.0, 0.0], [2.0, 2.0], [3.0, 1.0]]], "float32")  # 4 frames
    median = fb.MedianSubtraction(append=True)
    got = ops.convert_to_numpy(median(x))
    lower = np.array([2.0, 1.0], "float32")  # the lower of the two middle values
    np.testing.assert_array_equal(got, np.concatenate([x, x - lower], axis=-1))
    assert median.compute_output_shape((None, 4, 2)) == (None, 4, 4)
    norm = fb.TemporalBatchNorm(momentum=0.1, epsilon=1e-5)
    out = ops.convert_to_numpy(norm(x, training=True))
    mean, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-5, atol=1e-6)
    moving = ops.convert_to_numpy(norm.moving_variance)
    np.testing.assert_allclose(moving, 0.9 + 0.1 * var * 4 / 3, rtol=1e-6)  # unbiased
    inference = ops.convert_to_numpy(norm(x, training=False))
    want = (x - 0.1 * mean) / np.sqrt(moving + 1e-5)
    np.testing.assert_allclose(inference, want, rtol=1e-5, atol=1e-6)
    for layer in (median, norm):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: frontends.EfficientLEAF(num_groups=0), ValueError, "num_groups=0"),
        (lambda: frontends.EfficientLEAF(n_filters=4, num_groups=5), ValueError, "num_groups=5"),
        (lambda: frontends.EfficientLEAF(conv_win_factor=0), ValueError, "conv_win_factor=0"),
        (lambda: frontends.EfficientLEAF(stride_factor=-1.0), ValueError, "stride_factor=-1"),
        (lambda: frontends.EfficientLEAF(median_filter=False), ValueError, "append_filtered"),
        (lambda: frontends.EfficientLEAF(median_filter="yes"), TypeError, "median_filter"),
        (lambda: frontends.EfficientLEAF(hop_ms=60.0), ValueError, "pooling window"),
        (lambda: fb.TemporalBatchNorm(momentum=0.0), ValueError, "momentum=0.0"),
        (lambda: fb.MedianSubtraction(append=1), TypeError, "append=1"),
    ],
)
def test_bad_options_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_options_set_the_groups_and_the_features():
    frontend = frontends.EfficientLEAF(8000, n_filters=12, num_groups=3, median_filter=False,
                                       append_filtered=False, stride_factor=1.0)  # fmt: skip
    assert [(g.start, g.stop) for g in frontend.groups] == [(0, 4), (4, 8), (8, 12)]
    assert all(80 % g.stride == 0 for g in frontend.groups)
    out = ops.convert_to_numpy(frontend(np.zeros((1, 4000), "float32")))
    assert out.shape == (1, 50, 12) and np.all(np.isfinite(out))


def test_it_refuses_to_stream_and_says_why():
    frontend = frontends.EfficientLEAF(RATE)
    with pytest.raises(streaming.NotStreamableError, match="median over the whole clip"):
        streaming.Stream(frontend, sample_rate=RATE)


def test_mixed_float16_gives_the_float32_features(speech):
    x = speech.astype("float32")
    want = ops.convert_to_numpy(frontends.EfficientLEAF(RATE)(x, training=True))
    keras.config.set_dtype_policy("mixed_float16")
    try:
        got = ops.convert_to_numpy(frontends.EfficientLEAF(RATE)(x, training=True))
    finally:
        keras.config.set_dtype_policy("float32")
    assert got.dtype == np.float32  # computed in float32: energies overflow float16
    np.testing.assert_array_equal(got, want)


def test_an_input_of_unknown_length_gives_the_same_features(speech):
    """A model built on keras.Input((None,)) (its graph traced with no length) runs."""
    frontend = frontends.EfficientLEAF(RATE)
    inputs = keras.Input((None,))
    model = keras.Model(inputs, frontend(inputs))
    x = speech.astype("float32")
    want = ops.convert_to_numpy(frontend(x))
    got = ops.convert_to_numpy(model(x))
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


@pytest.mark.parametrize("frames", [1, 2, 25, 32, 33, 37, 100])
def test_median_is_the_lower_middle_of_the_sorted_frames_exactly(frames):
    """Signs, ties, zeros of both signs, a narrow spread and a wide one: the count (up to 32
    frames) and the bisection over the floats' bits find the same element a sort does."""
    rng = np.random.default_rng(frames)
    x = (rng.standard_normal((4, frames, 6)) * 10.0 ** rng.integers(-8, 8, 6)).astype("float32")
    x[0, : frames // 2, 0] = 0.0
    x[1, :, 1] = -0.0
    x[2, :, 2] = np.linspace(1.0, 1.0 + 1e-6, frames, dtype="float32")
    x[3, :, 3] = np.round(x[3, :, 3])  # ties
    got = ops.convert_to_numpy(fb.MedianSubtraction()(x))
    want = x - np.sort(x, axis=1)[:, (frames - 1) // 2 : (frames - 1) // 2 + 1]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("copies", [1, 8])  # 5 frames (the count), 40 (the bisection)
def test_a_nan_of_either_sign_ranks_last_as_in_a_sort(copies):
    """NaNs made by arithmetic (log of a negative, 0 / 0) carry the sign bit: they rank above
    +inf, as numpy's and the torch branch's sort put them, so the median stays finite."""
    x = np.array([1.0, np.nan, 3.0, 2.0, 5.0], "float32")[None, :, None]
    for nan in (np.float32(np.nan), -np.float32(np.nan)):
        x[0, 1, 0] = nan
        got = ops.convert_to_numpy(fb.MedianSubtraction()(np.tile(x, (1, copies, 1))))
        np.testing.assert_array_equal(got[0, [0, 2, 3, 4], 0], [-2.0, 0.0, -1.0, 2.0])


@pytest.mark.parametrize(
    "frames", [[-0.0, 0.0, 5.0], [-0.0, 0.0, 0.0, -0.0, 3.0], [2.0, -1.0, 2.0, 7.0]]
)
def test_the_count_and_the_bisection_give_a_tie_the_same_gradient(frames):
    """Equal values with other bits (-0.0, +0.0) share the median's gradient on both paths,
    as copies of one value do (the count once gave it all to +0.0)."""
    from framebank.postprocessing.logtbn import _lower_median, _lower_median_by_count

    x = np.array(frames, "float32")[None, :, None]
    rank = (len(frames) + 1) // 2
    grads = [
        value_and_grads(lambda t, find=find: ops.sum(find(t, rank)), [x])[1][0]
        for find in (_lower_median_by_count, _lower_median)
    ]
    np.testing.assert_array_equal(grads[0], grads[1])
