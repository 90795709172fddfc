"""Where EfficientLEAF's step goes: its grouped filters and pooling, all groups and each alone.

Forward plus backward (the gradient of ``0.5 * sum(y**2)`` with respect to the input and every
weight), batch 16 x 1 s at 16 kHz of speech, compiled (TensorFlow graph, JAX jit), steps
timed in interleaved rounds, ratios to LogMel's step in the same run, each backend in its own
process. Rows: LogMel; EfficientLEAF (LogTBN in training mode); its grouped filters and
pooling alone (``grouped_pooled_energy``, all eight groups); each group alone.

    python benchmarks/efficient_leaf_groups.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def run_backend(repeats: int) -> list[dict]:
    import keras
    import worker
    from frontends import _speech
    from keras import ops

    from framebank import frontends
    from framebank.frontends._grouping import grouped_pooled_energy

    x = _speech()
    logmel, efficient = frontends.LogMel(16000), frontends.EfficientLEAF(16000)
    logmel(x[:1])
    efficient(x[:1])
    gabor, pool = efficient.encoder.filterbank, efficient.postprocessing[1]

    def grouped(groups):
        def energies(signal):
            width = ops.clip(pool.sigma, pool.sigma_low, 0.5)
            return grouped_pooled_energy(
                signal, gabor, width, groups, pool.kernel_size, pool.strides
            )

        return energies

    rows = {
        "LogMel": (logmel, logmel.trainable_variables),
        "EfficientLEAF": (lambda s: efficient(s, training=True), efficient.trainable_variables),
        "grouped filters and pooling": (grouped(efficient.groups), efficient.trainable_variables),
    }
    for group in efficient.groups:
        name = (
            f"group {group.start}-{group.stop - 1} (stride {group.stride}, "
            f"{group.kernel_size} taps, pooling {group.window_size})"
        )
        rows[name] = (grouped([group]), efficient.trainable_variables)
    steps = {
        name: worker.make_step(fn, list(variables), x, "weights+input", "graph")
        for name, (fn, variables) in rows.items()
    }
    timed = worker.time_interleaved(steps, repeats, budget_s=120)
    base = timed["LogMel"][0]
    return [
        {
            "backend": keras.backend.backend(),
            "row": name,
            "ms": round(sec * 1e3, 1),
            "x LogMel": round(sec / base, 2),
        }
        for name, (sec, _, _) in timed.items()
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_backend(args.repeats)))
        return
    rows = []
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run(
            [sys.executable, __file__, "--worker", "--repeats", str(args.repeats)],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    print("| backend | row | ms | x LogMel |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['row']} | {r['ms']:.1f} | {r['x LogMel']:.2f}x |")


if __name__ == "__main__":
    main()
