"""Per-epoch checkpoints of a Keras model: weights, optimizer state and records in one file.

One ``.npz`` written by an atomic rename, so a kill at any moment leaves either
the previous epoch's checkpoint or the new one, never a mix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from framebank.training import io

__all__ = ["save_checkpoint", "load_checkpoint", "save_weights", "load_weights"]


def _random_states(model: Any) -> list:
    """The model's random-number states (a SpecAugment layer's seed generator): not
    weights, but a resumed run must draw the masks an unbroken one would."""
    return [v for v in model.variables if "seed_generator" in v.path]


def save_checkpoint(run_dir: Path, model: Any, state: dict) -> None:
    """One file holds weights, optimizer state and records: one atomic rename."""
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"o{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)})
    arrays.update({f"r{i}": np.asarray(v) for i, v in enumerate(_random_states(model))})
    arrays["state"] = np.array(json.dumps(state))
    _write_npz(run_dir / "checkpoint.npz", arrays)


def _write_npz(path: Path, arrays: dict) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    io.atomic_write(path, write)


def load_checkpoint(run_dir: Path, model: Any) -> dict | None:
    path = run_dir / "checkpoint.npz"
    if not path.exists():
        return None
    with np.load(path) as arrays:
        model.set_weights([arrays[f"w{i}"] for i in range(len(model.get_weights()))])
        model.optimizer.build(model.trainable_variables)
        for i, variable in enumerate(model.optimizer.variables):
            variable.assign(arrays[f"o{i}"])
        for i, variable in enumerate(_random_states(model)):
            if f"r{i}" in arrays:  # checkpoints of models without any have none
                variable.assign(arrays[f"r{i}"])
        return json.loads(str(arrays["state"]))


def save_weights(path: Path, model: Any) -> None:
    """The model's weights alone, atomically (a run's best epoch so far)."""
    _write_npz(path, {f"w{i}": w for i, w in enumerate(model.get_weights())})


def load_weights(path: Path, model: Any) -> None:
    """Weights written by :func:`save_weights` into the same model."""
    with np.load(path) as arrays:
        model.set_weights([arrays[f"w{i}"] for i in range(len(model.get_weights()))])
