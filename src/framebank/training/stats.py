"""Paired comparisons of two systems scored on the same items.

Both tests take one score (or one right/wrong) per item for each system, the items in the
same order, so that each item is compared with itself: what varies between items (a hard
chunk, a quiet speaker) cancels. Plain numpy and :func:`math.comb`; no scipy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["paired_bootstrap", "mcnemar", "verdict"]

# Resamples drawn at once: bounds the index array at about 64 MB for any number of items.
_BLOCK_ELEMENTS = 8_000_000


def _paired_vectors(a: Any, b: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` as 1-D float64 arrays of the same, non-zero length."""
    arrays = []
    for name, value in (("a", a), ("b", b)):
        try:
            array = np.asarray(value, dtype="float64")
        except (TypeError, ValueError):
            raise ValueError(f"{what}: `{name}` must be numbers. Received: {value!r}") from None
        if array.ndim != 1:
            raise ValueError(
                f"{what}: `{name}` must be one value per item (1-D). Received shape {array.shape}"
            )
        arrays.append(array)
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(
            f"{what}: `a` and `b` must score the same items. Received {len(arrays[0])} and "
            f"{len(arrays[1])} values"
        )
    if len(arrays[0]) == 0:
        raise ValueError(f"{what}: no items to compare. Received 0 values")
    return arrays[0], arrays[1]


def paired_bootstrap(
    a: Any,
    b: Any,
    resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    groups: Any = None,
) -> dict[str, float]:
    """The mean of ``a - b`` over items, its bootstrap interval and a two-sided p-value.

    Items are resampled with replacement, the same draw for both systems (a paired
    bootstrap), ``resamples`` times; the interval is the percentile interval of the
    resampled mean difference. The p-value is the percentile test that matches it:
    twice the smaller share of resampled means on either side of 0, each count plus one
    (so it is never 0 from finitely many resamples), capped at 1. An interval that
    excludes 0 at ``confidence`` therefore goes with ``p < 1 - confidence`` (up to the
    resampling's granularity). Identical inputs give a difference of 0 and ``p = 1``.

    Args:
        a, b: ``[items]`` scores of the two systems on the same items, in the same order
            (anything numpy reads as a 1-D float array); finite.
        resamples: how many bootstrap resamples (>= 1).
        seed: seed of the resampling (``numpy.random.default_rng``): the same inputs and
            seed give the same interval and p-value.
        confidence: of the interval, in (0, 1).
        groups: ``[items]`` labels of clusters of items that are not independent (the
            chunks of one recording): whole clusters are resampled (a cluster bootstrap),
            so the interval counts recordings, not chunks. None: every item on its own.

    Returns:
        ``{"mean_difference", "low", "high", "p_value"}``: the observed mean of ``a - b``,
        the interval's ends and the p-value, as floats.

    Raises:
        ValueError: inputs not 1-D, of different lengths, empty or not finite; a bad
            ``resamples`` or ``confidence``.

    Example:
        >>> result = paired_bootstrap([1.0, 2.0, 3.0], [0.5, 1.5, 2.5], resamples=100)
        >>> result["mean_difference"], result["low"], result["high"]
        (0.5, 0.5, 0.5)
    """
    a, b = _paired_vectors(a, b, "paired_bootstrap")
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)):
        raise ValueError(f"`resamples` must be an integer. Received: resamples={resamples!r}")
    if resamples < 1:
        raise ValueError(f"`resamples` must be >= 1. Received: resamples={resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1). Received: confidence={confidence!r}")
    difference = a - b
    if not np.all(np.isfinite(difference)):
        raise ValueError("paired_bootstrap: the scores must be finite (a NaN or inf was given)")
    if groups is None:
        sums, counts = difference, np.ones_like(difference)
    else:
        labels = np.asarray(groups)
        if labels.shape != difference.shape:
            raise ValueError(
                f"paired_bootstrap: `groups` must label every item. Received {labels.size} "
                f"labels for {difference.size} items"
            )
        _, index = np.unique(labels, return_inverse=True)
        sums = np.bincount(index, weights=difference)
        counts = np.bincount(index).astype("float64")
    n = len(sums)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, "float64")
    block = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, resamples, block):
        count = min(block, resamples - start)
        draws = rng.integers(0, n, (count, n))
        means[start : start + count] = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    below = int(np.count_nonzero(means <= 0.0))
    above = int(np.count_nonzero(means >= 0.0))
    p_value = min(1.0, 2.0 * (min(below, above) + 1) / (resamples + 1))
    return {
        "mean_difference": float(difference.mean()),
        "low": float(low),
        "high": float(high),
        "p_value": float(p_value),
    }


def _booleans(value: Any, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 1:
        raise ValueError(
            f"mcnemar: `{name}` must be one right/wrong per item (1-D). Received shape "
            f"{array.shape}"
        )
    if array.dtype != bool:
        if not (np.issubdtype(array.dtype, np.number) and np.all((array == 0) | (array == 1))):
            raise ValueError(
                f"mcnemar: `{name}` must hold booleans (or 0 and 1). Received: {value!r}"
            )
        array = array.astype(bool)
    return array


def mcnemar(correct_a: Any, correct_b: Any) -> dict[str, float]:
    """McNemar's exact test: do two classifiers err on the same items at different rates?

    Only the discordant items count: ``b`` where ``a`` is right and ``b`` wrong, ``c``
    where ``a`` is wrong and ``b`` right. Under the null hypothesis each discordant item
    goes either way with probability 1/2, so ``min(b, c)`` is binomial(``b + c``, 1/2);
    the two-sided p-value is twice its lower tail, ``2 sum_{k <= min(b, c)} C(b + c, k) /
    2^(b + c)``, capped at 1 (1 when there is no discordant item).

    Args:
        correct_a, correct_b: ``[items]`` booleans (or 0/1): whether system A, resp. B,
            got each item right; the same items in the same order.

    Returns:
        ``{"b", "c", "p_value"}``: the two discordant counts (ints) and the p-value.

    Raises:
        ValueError: inputs not 1-D, of different lengths, empty, or not booleans.

    Example:
        >>> mcnemar([True] * 9 + [False], [False] * 9 + [True])
        {'b': 9, 'c': 1, 'p_value': 0.021484375}
    """
    a = _booleans(correct_a, "correct_a")
    b_correct = _booleans(correct_b, "correct_b")
    if a.shape != b_correct.shape:
        raise ValueError(
            f"mcnemar: `correct_a` and `correct_b` must judge the same items. Received "
            f"{len(a)} and {len(b_correct)} values"
        )
    if len(a) == 0:
        raise ValueError("mcnemar: no items to compare. Received 0 values")
    b = int(np.count_nonzero(a & ~b_correct))
    c = int(np.count_nonzero(~a & b_correct))
    n = b + c
    if n == 0:
        return {"b": 0, "c": 0, "p_value": 1.0}
    # Exact integers until the one division: no rounding in the tail's sum.
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    p_value = min(1.0, 2 * tail / 2**n)
    return {"b": b, "c": c, "p_value": float(p_value)}


def verdict(low: float, high: float) -> str:
    """``better`` when a difference's interval ``[low, high]`` lies above 0, ``worse`` when
    below, else ``tie``: the one rule every recipe's comparison uses."""
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "tie"
