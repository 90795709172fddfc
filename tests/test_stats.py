"""Paired statistics (framebank.training.stats): values worked out by hand, coverage on a
synthetic case whose answer is known, and the inputs each refuses."""

import math

import numpy as np
import pytest

from framebank.training.stats import mcnemar, paired_bootstrap


@pytest.mark.parametrize(
    "b,c,p",
    [
        # 2 * sum_{k <= min(b, c)} C(b + c, k) / 2^(b + c), by hand:
        (9, 1, 2 * (1 + 10) / 1024),  # 0.021484375
        (8, 2, 2 * (1 + 10 + 45) / 1024),  # 0.109375
        (5, 0, 2 * 1 / 32),  # 0.0625: five to none is not significant at 5%
        (6, 0, 2 * 1 / 64),  # 0.03125: six to none is
        (5, 5, 1.0),  # 2 * 638 / 1024 > 1, capped
        (0, 0, 1.0),  # no discordant item
    ],
)
def test_mcnemar_exact_p_values(b, c, p):
    # b items only A gets right, c only B, and 7 both right and 4 both wrong (which
    # must not count).
    a = [True] * b + [False] * c + [True] * 7 + [False] * 4
    other = [False] * b + [True] * c + [True] * 7 + [False] * 4
    result = mcnemar(a, other)
    assert (result["b"], result["c"]) == (b, c)
    assert result["p_value"] == pytest.approx(p, rel=1e-12)
    swapped = mcnemar(other, a)  # two-sided: symmetric
    assert (swapped["b"], swapped["c"], swapped["p_value"]) == (c, b, result["p_value"])


def test_mcnemar_matches_the_binomial_tail_on_many_items():
    rng = np.random.default_rng(3)
    a = rng.random(2000) < 0.8
    b = rng.random(2000) < 0.75
    result = mcnemar(a, b.astype(int))  # 0/1 integers work as booleans
    n, k = result["b"] + result["c"], min(result["b"], result["c"])
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    assert result["p_value"] == pytest.approx(min(1.0, 2 * tail))
    assert result["p_value"] < 1e-3  # 80% against 75% right on 2000 items


@pytest.mark.parametrize(
    "a,b,match",
    [
        ([True, False], [True], "same items"),
        ([], [], "no items"),
        ([[True, False]], [[True, False]], "1-D"),
        ([1, 2, 0], [1, 0, 0], "booleans"),
        ([0.5, 1.0], [1.0, 0.0], "booleans"),
        (["yes", "no"], [True, False], "booleans"),
    ],
)
def test_mcnemar_refuses_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        mcnemar(a, b)


def test_identical_scores_differ_by_zero_with_p_one():
    scores = np.random.default_rng(0).normal(5.0, 2.0, 40)
    result = paired_bootstrap(scores, scores.copy())
    assert result == {"mean_difference": 0.0, "low": 0.0, "high": 0.0, "p_value": 1.0}


def test_the_interval_covers_the_true_difference():
    """Pairs drawn with a known mean difference of 0.3: the 95% interval holds it in about
    95% of independent draws, and excludes 0 when the difference is large against the
    noise. The pairing matters: a shared per-item level ten times the noise cancels."""
    rng = np.random.default_rng(1)
    covered, significant = 0, 0
    trials = 200
    for trial in range(trials):
        level = rng.normal(0.0, 5.0, 60)  # what makes an item hard, shared by both systems
        a = level + 0.3 + rng.normal(0.0, 0.5, 60)
        b = level + rng.normal(0.0, 0.5, 60)
        result = paired_bootstrap(a, b, resamples=2000, seed=trial)
        assert result["low"] <= result["mean_difference"] <= result["high"]
        covered += result["low"] <= 0.3 <= result["high"]
        significant += result["p_value"] < 0.05
        # The interval and the p-value tell the same story.
        assert (result["low"] > 0 or result["high"] < 0) == (result["p_value"] < 0.05) or (
            min(abs(result["low"]), abs(result["high"])) < 0.01
        )
    # A percentile interval is a little narrow on 60 items; 95% +- 3 standard errors.
    assert 0.88 * trials <= covered <= trials
    assert significant >= 0.9 * trials  # 0.3 against a standard error of about 0.09


def test_no_difference_is_seldom_significant():
    rng = np.random.default_rng(2)
    rejected = 0
    for trial in range(200):
        level = rng.normal(0.0, 5.0, 50)
        a, b = level + rng.normal(0, 1, 50), level + rng.normal(0, 1, 50)
        rejected += paired_bootstrap(a, b, resamples=1000, seed=trial)["p_value"] < 0.05
    assert rejected <= 0.12 * 200  # nominally 5%


def test_bootstrap_is_repeatable_and_seeded():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=30), rng.normal(size=30)
    assert paired_bootstrap(a, b, seed=7) == paired_bootstrap(list(a), list(b), seed=7)
    assert paired_bootstrap(a, b, seed=7)["low"] != paired_bootstrap(a, b, seed=8)["low"]
    result = paired_bootstrap(a, b)
    assert result["mean_difference"] == pytest.approx(float(np.mean(a - b)))
    assert 0.0 < result["p_value"] <= 1.0


def test_bootstrap_resamples_in_blocks_the_same_as_at_once(monkeypatch):
    """Many items are resampled a block at a time; the blocks continue one random stream,
    so the result does not depend on the block size."""
    from framebank.training import stats

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=100), rng.normal(size=100)
    whole = paired_bootstrap(a, b, resamples=500)
    monkeypatch.setattr(stats, "_BLOCK_ELEMENTS", 100 * 7)  # seven resamples a block
    assert paired_bootstrap(a, b, resamples=500) == whole


@pytest.mark.parametrize(
    "a,b,kwargs,match",
    [
        ([1.0, 2.0], [1.0], {}, "same items"),
        ([], [], {}, "no items"),
        ([[1.0, 2.0]], [[1.0, 2.0]], {}, "1-D"),
        ([1.0, float("nan")], [1.0, 2.0], {}, "finite"),
        ([1.0, "x"], [1.0, 2.0], {}, "numbers"),
        ([1.0, 2.0], [1.0, 2.0], {"resamples": 0}, "resamples"),
        ([1.0, 2.0], [1.0, 2.0], {"resamples": 10.5}, "resamples"),
        ([1.0, 2.0], [1.0, 2.0], {"confidence": 1.0}, "confidence"),
    ],
)
def test_bootstrap_refuses_bad_input(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired_bootstrap(a, b, **kwargs)


def test_cluster_bootstrap_widens_the_interval_of_clustered_items():
    """Items in clusters that share their difference: resampling items treats 400 items as
    400 pieces of evidence, resampling the 20 clusters sees 20; the interval must widen."""
    from framebank.training.stats import paired_bootstrap

    rng = np.random.default_rng(0)
    per_cluster = rng.normal(0.1, 1.0, 20)
    groups = np.repeat(np.arange(20), 20)
    a = per_cluster[groups] + rng.normal(0, 0.05, 400)
    b = np.zeros(400)
    items = paired_bootstrap(a, b, resamples=4000, seed=1)
    clusters = paired_bootstrap(a, b, resamples=4000, seed=1, groups=groups)
    assert clusters["mean_difference"] == pytest.approx(items["mean_difference"])
    assert clusters["high"] - clusters["low"] > 3 * (items["high"] - items["low"])
    # One item per cluster is the plain bootstrap.
    singles = paired_bootstrap(a, b, resamples=500, seed=2, groups=np.arange(400))
    assert singles == paired_bootstrap(a, b, resamples=500, seed=2)
    with pytest.raises(ValueError, match="`groups` must label every item"):
        paired_bootstrap(a, b, groups=groups[:10])


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0.1, 2.0, "better"), (-2.0, -0.1, "worse"), (-0.1, 0.1, "tie"), (0.0, 1.0, "tie")],
)
def test_verdict_is_decided_by_the_interval_alone(low, high, expected):
    from framebank.training.stats import verdict

    assert verdict(low, high) == expected
