"""LEAF's eager calls under JAX: the first call on a fresh layer (which compiles every op it
meets) and a later one, with the band-limited path as one ``jax.jit`` program or op by op.

Each round runs each variant in a fresh process (the per-op compile cache is process-wide),
alternating, one XLA thread, timed by the process's CPU time (``time.process_time``):

    KERAS_BACKEND=jax python benchmarks/leaf_first_call_jax.py --rounds 2

``jit`` is the layer as it is; ``op_by_op`` runs ``BandLimitedPlan.pooled_energy`` unjitted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)


def _one(variant: str) -> dict:
    """CPU seconds of the first and the second eager call, batch 2 x 1 s at 16 kHz."""
    import numpy as np

    import framebank as fb
    from framebank.frontends import leaf

    if variant == "op_by_op":
        leaf.jit_under_jax = lambda fn: fn
    x = (0.1 * np.random.default_rng(0).standard_normal((2, 16000))).astype("float32")
    layer = fb.build_frontend({"frontend": "leaf"})
    times = {}
    for name in ("first", "second"):
        start = time.process_time()
        np.asarray(layer(x))
        times[name] = time.process_time() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(_one(args.variant)))
        return
    results: dict = {"jit": [], "op_by_op": []}
    for _ in range(args.rounds):
        for variant in results:
            run = [sys.executable, __file__, "--variant", variant]
            out = subprocess.run(run, capture_output=True, text=True, check=True).stdout
            results[variant].append(json.loads(out.strip().splitlines()[-1]))
    for variant, rows in results.items():
        first = min(r["first"] for r in rows)
        second = min(r["second"] for r in rows)
        print(f"{variant:9s} first call {first:6.2f} s CPU, later call {second:6.3f} s CPU")
    for key in ("first", "second"):
        ratio = min(r[key] for r in results["op_by_op"]) / min(r[key] for r in results["jit"])
        print(f"{key} call: op by op / jit = {ratio:.2f}x")


if __name__ == "__main__":
    main()
