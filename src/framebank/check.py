"""Run every method on one input: equal outputs, and what each one costs in time."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from keras import ops

from framebank.initializers import BasisGlorotUniform
from framebank.layers import Encoder
from framebank.methods import METHODS

__all__ = ["MethodRun", "run_methods"]


@dataclass
class MethodRun:
    method: str
    shape: tuple[int, ...]
    max_abs_diff: float
    rel_diff: float
    median_ms: float


def run_methods(
    signal: np.ndarray,
    num_basis: int,
    frame_len: int,
    hop: int,
    repeats: int = 10,
    seed: int = 0,
    methods: list[str] | None = None,
) -> list[MethodRun]:
    """Encode ``signal`` ``[batch, time]`` with every method from one seeded basis.

    Differences are against the ``matmul`` method's output; times are the
    median forward pass after one warm-up call.
    """
    # The basis is free: a method that needs a structured one (rfft: a windowed DFT) is left out.
    methods = methods or sorted(n for n, m in METHODS.items() if m.structure is None)
    outputs, times = {}, {}
    for name in methods:
        with warnings.catch_warnings():
            # Each method is asked for on purpose and timed forward only: the warning for a
            # layer that would train with a pathological method has nothing to say here.
            warnings.filterwarnings("ignore", "method=.* is pathological", UserWarning)
            encoder = Encoder(
                num_basis, frame_len, hop, method=name, kernel_initializer=BasisGlorotUniform(seed)
            )
        ops.convert_to_numpy(encoder(signal))  # build and warm up
        laps = []
        for _ in range(repeats):
            start = time.perf_counter()
            out = ops.convert_to_numpy(encoder(signal))
            laps.append(time.perf_counter() - start)
        outputs[name], times[name] = out, float(np.median(laps)) * 1e3
    reference = outputs.get("matmul", outputs[methods[0]]).astype("float64")
    scale = max(float(np.abs(reference).max()), 1e-30)
    runs = []
    for name in methods:
        diff = float(np.abs(outputs[name] - reference).max())
        runs.append(MethodRun(name, outputs[name].shape, diff, diff / scale, times[name]))
    return runs
