"""Paired statistics for comparing two systems on the same test items.

Both recipes compare each front end with a reference on the same held-out chunks, so
the tests are paired: McNemar's exact test on per-chunk correctness (classification)
and a paired bootstrap over chunks of any per-chunk score.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["mcnemar", "paired_bootstrap"]


def _paired(a: Any, b: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, "float64")
    b = np.asarray(b, "float64")
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"{name} needs two non-empty 1-D arrays of one length (one value per item). "
            f"Received: shapes {a.shape} and {b.shape}"
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(f"{name} needs finite values; received NaN or infinity")
    return a, b


def mcnemar(correct_a: Any, correct_b: Any) -> dict:
    """McNemar's exact test: do two classifiers' error rates differ on the same items?

    Args:
        correct_a, correct_b: ``[items]`` booleans (or 0/1), whether each system got
            each item right.

    Returns:
        ``{"a_only": b, "b_only": c, "p_value": p}``: items only A got right, items only
        B got right, and the two-sided exact binomial p-value of ``b`` among ``b + c``
        discordant items at 1/2 (1.0 when there are none).
    """
    a, b = _paired(correct_a, correct_b, "mcnemar")
    if not np.all(np.isin(a, (0.0, 1.0))) or not np.all(np.isin(b, (0.0, 1.0))):
        raise ValueError("mcnemar needs booleans or 0/1 per item (right or wrong)")
    a_only = int(np.sum((a == 1) & (b == 0)))
    b_only = int(np.sum((a == 0) & (b == 1)))
    n = a_only + b_only
    if n == 0:
        return {"a_only": 0, "b_only": 0, "p_value": 1.0}
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return {"a_only": a_only, "b_only": b_only, "p_value": min(1.0, 2.0 * tail)}


def paired_bootstrap(a: Any, b: Any, resamples: int = 10_000, seed: int = 0) -> dict:
    """The mean of ``a - b`` over items, with a bootstrap interval resampling items.

    Args:
        a, b: ``[items]`` scores of two systems on the same items (e.g. per-chunk
            accuracy averaged over seeds, or per-chunk SI-SNR improvement).
        resamples: bootstrap draws of the items, with replacement.
        seed: the draws' seed, so the interval is reproducible.

    Returns:
        ``{"mean_difference", "low", "high", "p_value"}``: the observed mean difference,
        the 2.5th and 97.5th percentiles of its bootstrap distribution, and a two-sided
        p-value (twice the smaller share of resampled means on either side of 0,
        at least ``1 / resamples``; 1.0 when every difference is 0).
    """
    a, b = _paired(a, b, "paired_bootstrap")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"`resamples` must be a positive int. Received: {resamples!r}")
    difference = a - b
    observed = float(difference.mean())
    if not np.any(difference):
        return {"mean_difference": 0.0, "low": 0.0, "high": 0.0, "p_value": 1.0}
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 1000):  # bounded memory for long test sets
        count = min(1000, resamples - start)
        draws = rng.integers(0, difference.size, size=(count, difference.size))
        means[start : start + count] = difference[draws].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    side = min(np.mean(means <= 0), np.mean(means >= 0))
    return {
        "mean_difference": observed,
        "low": float(low),
        "high": float(high),
        "p_value": float(min(1.0, max(2.0 * side, 1.0 / resamples))),
    }
