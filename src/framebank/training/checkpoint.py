"""Per-epoch checkpoints of a Keras model: weights, optimizer state and records in one file.

One ``.npz`` written by an atomic rename, so a kill at any moment leaves either
the previous epoch's checkpoint or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from framebank.training import io

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_epochs",
    "save_weights",
    "load_weights",
    "save_keras",
    "save_trained_models",
]


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
        model.set_weights(_saved_weights(path, arrays, model))
        model.optimizer.build(model.trainable_variables)
        for i, variable in enumerate(model.optimizer.variables):
            variable.assign(arrays[f"o{i}"])
        for i, variable in enumerate(_random_states(model)):
            if f"r{i}" in arrays:  # checkpoints of models without any have none
                variable.assign(arrays[f"r{i}"])
        return json.loads(str(arrays["state"]))


def checkpoint_epochs(run_dir: Path) -> int:
    """The epochs a run's checkpoint holds (0 without one), read without building the model."""
    path = run_dir / "checkpoint.npz"
    if not path.exists():
        return 0
    with np.load(path) as arrays:
        return int(json.loads(str(arrays["state"]))["epochs_done"])


def save_weights(path: Path, model: Any) -> None:
    """The model's weights alone, atomically (a run's best epoch so far)."""
    _write_npz(path, {f"w{i}": w for i, w in enumerate(model.get_weights())})


def load_weights(path: Path, model: Any) -> None:
    """Weights written by :func:`save_weights` into the same model."""
    with np.load(path) as arrays:
        model.set_weights(_saved_weights(path, arrays, model))


def _saved_weights(path: Path, arrays: Any, model: Any) -> list:
    """The weight list ``path`` holds, refused unless it has as many as ``model``: a file
    written for another layout (a kaldi basis saved before it held its unit) never loads
    shifted by one."""
    saved = sum(1 for key in arrays.files if key.startswith("w") and key[1:].isdigit())
    expected = len(model.weights)
    if saved != expected:
        raise ValueError(
            f"{path} holds {saved} weights but the model has {expected}: it was written for "
            "another model or another weight layout (a 'kaldi' basis with |scale| far from 1, "
            "and a Slaney mel, hold two weights since framebank's unit changes); train it again."
        )
    return [arrays[f"w{i}"] for i in range(saved)]


def save_keras(path: Path, model: Any) -> None:
    """``model`` as a ``.keras`` file, atomically, without the training's optimizer (an
    uncompiled functional model over the same layers), so ``keras.models.load_model``,
    ``framebank stream`` and ``framebank inspect`` read it with framebank imported."""
    import keras

    path = Path(path)
    plain = keras.Model(model.inputs, model.outputs, name=model.name)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as folder:
        tmp = Path(folder) / path.name  # Keras wants the .keras suffix
        plain.save(tmp)
        os.replace(tmp, path)


def save_trained_models(run_dir: Path, model: Any, frontend: list | None = None) -> list[str]:
    """A run's trained model as ``model.keras`` and, given ``frontend`` (its front end's
    layers), the front end alone as ``frontend.keras`` (a waveform ``[batch, time]`` of any
    length in); returns the file names written."""
    import keras

    save_keras(Path(run_dir) / "model.keras", model)
    if not frontend:
        return ["model.keras"]
    inputs = keras.Input((None,), name="waveform")
    x = inputs
    for layer in frontend:
        x = layer(x)
    save_keras(Path(run_dir) / "frontend.keras", keras.Model(inputs, x, name="frontend"))
    return ["model.keras", "frontend.keras"]
