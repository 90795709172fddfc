"""The same weights give the same outputs on TensorFlow, JAX and PyTorch.

Keras picks its backend once per process, so each backend runs this file as a
script in its own subprocess (``KERAS_BACKEND`` set); the script loads the
weights written by the test, runs every registered family under every method and
saves the outputs as ``.npy``. The test then compares the backends to each other
within 1e-5 relative (to the largest output magnitude).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BACKENDS = ("tensorflow", "jax", "torch")
FRAME_LEN, HOP = 32, 12
RTOL = 1e-5
HERE = Path(__file__).resolve().parent


def _cases() -> list[tuple[str, str]]:
    from helpers import methods_for

    import framebank as fb

    return [(family, method) for family in sorted(fb.FILTERBANKS) for method in methods_for(family)]


def _encoder(family: str, method: str):
    from helpers import family_case

    import framebank as fb

    num_basis, options = family_case(family)
    # center=True and pad_end=True so the padding paths are compared too.
    return fb.Encoder(
        num_basis,
        FRAME_LEN,
        HOP,
        method=method,
        filterbank=family,
        use_bias=True,
        center=True,
        pad_end=True,
        **options,
    )


def _run_worker(folder: Path) -> None:
    """In a subprocess: load weights and signal, save every case's output."""
    import keras

    signal = np.load(folder / "signal.npy")
    backend = keras.backend.backend()
    for family, method in json.loads((folder / "cases.json").read_text()):
        weights = np.load(folder / f"weights_{family}.npz")
        enc = _encoder(family, method)
        enc.build(signal.shape)
        enc.set_weights([weights[f"w{i}"] for i in range(len(weights.files))])
        out = keras.ops.convert_to_numpy(enc(signal))
        np.save(folder / f"{backend}_{family}_{method}.npy", out)


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def test_same_weights_same_outputs_on_every_backend(tmp_path):
    import keras
    from helpers import assert_close_rel, perturbed_weights

    missing = [b for b in BACKENDS if not _installed(b)]
    if missing:
        # CI installs all three (extras jax and torch); a developer may lack one.
        pytest.skip(f"backend package not installed: {', '.join(missing)}")
    cases = _cases()
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    signal = np.random.default_rng(0).standard_normal((3, 257)).astype("float32")
    np.save(tmp_path / "signal.npy", signal)
    for family in sorted({f for f, _ in cases}):
        enc = _encoder(family, "matmul")
        enc.build(signal.shape)
        weights = perturbed_weights(enc.get_weights(), seed=len(family))
        np.savez(tmp_path / f"weights_{family}.npz", **{f"w{i}": w for i, w in enumerate(weights)})
    assert keras.backend.backend() in BACKENDS

    env_base = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    for backend in BACKENDS:
        run = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), str(tmp_path)],
            env={**env_base, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"},
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, f"{backend} worker failed:\n{run.stderr[-4000:]}"

    worst = {}
    for family, method in cases:
        ref = np.load(tmp_path / f"tensorflow_{family}_{method}.npy")
        assert np.all(np.isfinite(ref)) and np.abs(ref).max() > 0, (family, method)
        for backend in BACKENDS[1:]:
            got = np.load(tmp_path / f"{backend}_{family}_{method}.npy")
            assert_close_rel(got, ref, RTOL, f"{backend} vs tensorflow, {family}/{method}")
            rel = np.abs(got.astype("float64") - ref).max() / np.abs(ref).max()
            worst[backend] = max(worst.get(backend, 0.0), float(rel))
    # Shown with -s or on failure: the measured cross-backend differences.
    print("max relative difference to tensorflow:", worst)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    _run_worker(Path(sys.argv[1]))
