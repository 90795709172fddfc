"""Paired statistics (framebank.training.stats): McNemar's exact test, the paired bootstrap."""

import math

import numpy as np
import pytest

from framebank.training.stats import mcnemar, paired_bootstrap


def test_mcnemar_matches_the_binomial_tail_by_hand():
    # 9 items only A got right, 1 only B: two-sided exact p = 2 * P(X <= 1), X ~ Bin(10, 1/2).
    a = np.array([1] * 9 + [0] * 1 + [1] * 5 + [0] * 5)
    b = np.array([0] * 9 + [1] * 1 + [1] * 5 + [0] * 5)
    got = mcnemar(a, b)
    assert (got["a_only"], got["b_only"]) == (9, 1)
    assert got["p_value"] == pytest.approx(2 * (1 + 10) / 2**10)
    assert mcnemar(b, a)["p_value"] == pytest.approx(got["p_value"])  # symmetric


def test_mcnemar_balanced_and_concordant_give_one():
    assert mcnemar([1, 0, 1, 0], [0, 1, 1, 0])["p_value"] == 1.0
    assert mcnemar([1, 1, 0], [1, 1, 0]) == {"a_only": 0, "b_only": 0, "p_value": 1.0}


def test_bootstrap_interval_covers_a_known_difference_and_excludes_zero():
    rng = np.random.default_rng(0)
    b = rng.standard_normal(2000)
    a = b + 0.3 + 0.5 * rng.standard_normal(2000)
    got = paired_bootstrap(a, b, resamples=2000, seed=1)
    assert got["low"] < 0.3 < got["high"]
    assert got["low"] > 0 and got["p_value"] < 0.01
    assert got["mean_difference"] == pytest.approx(float(np.mean(a - b)))
    assert paired_bootstrap(a, b, resamples=2000, seed=1) == got  # reproducible


def test_bootstrap_of_no_difference_is_a_tie():
    x = np.arange(10.0)
    assert paired_bootstrap(x, x) == {
        "mean_difference": 0.0,
        "low": 0.0,
        "high": 0.0,
        "p_value": 1.0,
    }
    rng = np.random.default_rng(3)
    noise = paired_bootstrap(rng.standard_normal(500), rng.standard_normal(500), resamples=2000)
    assert noise["low"] < 0 < noise["high"] and noise["p_value"] > 0.05


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: mcnemar([1, 0], [1]), "one length"),
        (lambda: mcnemar([], []), "non-empty"),
        (lambda: mcnemar([2, 0], [1, 0]), "0/1"),
        (lambda: paired_bootstrap([1.0, math.nan], [1.0, 2.0]), "finite"),
        (lambda: paired_bootstrap([1.0], [2.0], resamples=0), "resamples"),
        (lambda: paired_bootstrap([[1.0]], [[2.0]]), "1-D"),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
