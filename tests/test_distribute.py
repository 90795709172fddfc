"""Data-parallel training: two replicas reach the weights one replica reaches.

Each case runs in subprocesses, because devices are fixed when the engine
starts: TensorFlow's two logical CPU devices (``mirrored``), two worker
processes on loopback ports (``multi_worker_mirrored``), and JAX with two host
devices (``data_parallel``). Every run trains the same small model holding a
framebank Encoder from the same initial weights, on the same data, with the same
global batch, for the same steps; the test compares the final weights.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from framebank import distribute

HERE = Path(__file__).resolve().parent
GLOBAL_BATCH, SAMPLES, EPOCHS = 8, 32, 2  # 4 steps an epoch, 8 steps in all
# Two replicas sum each gradient in another order than one: float32 rounding of a sum whose
# terms cancel (a bias's gradient, +- terms over the batch) is eps32 = 6e-8 of the terms'
# magnitudes, not of the sum, and momentum 0.9 carries each step's error into the next ~10.
# Measured up to 1.2e-5 of a weight's largest value (CI, AMD EPYC, two loopback workers): 1e-5
# was too tight. A replica that saw the wrong data or summed instead of averaging is off by
# a sizable fraction of the update, far above this.
RTOL = 1e-4


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES, 200)).astype("float32")
    y = rng.standard_normal((SAMPLES, 15, 4)).astype("float32")
    return x, y


def _build(initial: list[np.ndarray] | None):
    import framebank as fb

    inputs = keras.Input((None,))
    enc = fb.Encoder(16, 32, 12, method="matmul", use_bias=True)
    outputs = keras.layers.Dense(4)(keras.ops.abs(enc(inputs)))
    model = keras.Model(inputs, outputs)
    if initial is not None:
        model.set_weights(initial)
    # SGD with momentum: several steps, each depending on the last, so a replica that
    # saw the wrong data or averaged gradients wrongly ends elsewhere.
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse")
    return model


def _train(name: str | None, out: Path, devices: list[str] | None = None) -> None:
    """Train under ``name`` from the initial weights in ``out``; save the final weights."""
    initial_file = out / "initial.npz"
    initial = None
    if initial_file.exists():
        loaded = np.load(initial_file)
        initial = [loaded[f"w{i}"] for i in range(len(loaded.files))]
    x, y = _data()
    with distribute.distribution_scope(name, devices) as dist:
        replicas = distribute.replica_count(dist)
        model = _build(initial)
        if initial is None:
            np.savez(initial_file, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
        model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    tag = name or "single"
    weights = model.get_weights()
    np.savez(out / f"{tag}.npz", **{f"w{i}": w for i, w in enumerate(weights)})
    info = {"replicas": replicas, "copies": _copies(model.trainable_variables[0])}
    (out / f"{tag}.json").write_text(json.dumps(info))


def _copies(variable) -> int:
    """On how many devices the engine really placed a variable (this process's devices).

    Equal weights alone would also pass if the scope silently did nothing; this
    shows the engine did replicate the model.
    """
    value = variable.value
    if keras.backend.backend() == "jax":
        return len(value.sharding.device_set)
    values = getattr(value, "values", None)  # a tf.distribute DistributedVariable
    return len(values) if isinstance(values, tuple) else 0


def _worker(argv: list[str]) -> None:
    mode, out = argv[0], Path(argv[1])
    if mode == "mirrored":
        import tensorflow as tf

        # Before TensorFlow initialises its devices: one physical CPU as two logical ones.
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        _train(None, out)
        _train("mirrored", out)  # default devices: all (logical) CPUs, no GPU here
    elif mode == "multi_worker_mirrored":
        if argv[2] == "0":
            _train("multi_worker_mirrored", out)
        else:
            _train_silent(out)
    elif mode == "data_parallel":
        _train(None, out)
        _train("data_parallel", out)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


def _train_silent(out: Path) -> None:
    """A non-chief worker trains in lockstep but writes into its own folder."""
    own = out / "worker1"
    own.mkdir()
    (own / "initial.npz").write_bytes((out / "initial.npz").read_bytes())
    _train("multi_worker_mirrored", own)


def _run(args: list[str], env: dict) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "TF_CONFIG")}
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args],
        env={**base, "TF_CPP_MIN_LOG_LEVEL": "2", **env},
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(proc: subprocess.Popen, timeout: float = 240) -> None:
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        raise AssertionError(f"worker timed out:\n{_errors(stderr)}") from None
    assert proc.returncode == 0, f"worker failed:\n{_errors(stderr)}"


def _errors(stderr: str) -> str:
    """The worker's traceback without TensorFlow's start-up log lines."""
    noise = ("W0000", "I0000", "E0000", "WARNING: All log")
    return "\n".join(line for line in stderr.splitlines() if not line.startswith(noise))[-6000:]


def _load(path: Path) -> list[np.ndarray]:
    loaded = np.load(path)
    return [loaded[f"w{i}"] for i in range(len(loaded.files))]


def _assert_same_weights(got_file: Path, want_file: Path, initial_file: Path) -> float:
    got, want, initial = _load(got_file), _load(want_file), _load(initial_file)
    worst = 0.0
    for g, w, w0 in zip(got, want, initial, strict=True):
        # The runs really trained: every weight moved, by much more than the tolerance.
        assert np.abs(w - w0).max() > 100 * RTOL * np.abs(w).max()
        scale = np.abs(w).max()
        err = float(np.abs(g.astype("float64") - w).max())
        assert err <= RTOL * scale, f"{got_file.name}: max error {err:.3g} > {RTOL} x {scale:.3g}"
        worst = max(worst, err / scale)
    return worst


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held open together, so never the same one)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_mirrored_two_logical_cpus_match_one_replica(tmp_path):
    _wait(_run(["mirrored", str(tmp_path)], {"KERAS_BACKEND": "tensorflow"}))
    assert json.loads((tmp_path / "mirrored.json").read_text()) == {"replicas": 2, "copies": 2}
    assert json.loads((tmp_path / "single.json").read_text()) == {"replicas": 1, "copies": 0}
    worst = _assert_same_weights(
        tmp_path / "mirrored.npz", tmp_path / "single.npz", tmp_path / "initial.npz"
    )
    print("mirrored vs one replica, max relative weight difference:", worst)


def test_two_workers_on_loopback_match_one_replica(tmp_path):
    # The one-replica reference first; it also writes the initial weights both workers load.
    _wait(_run(["reference", str(tmp_path)], {"KERAS_BACKEND": "tensorflow"}))
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    procs = [
        _run(
            ["multi_worker_mirrored", str(tmp_path), str(index)],
            {
                "KERAS_BACKEND": "tensorflow",
                "TF_CONFIG": distribute.make_tf_config(workers, index),
            },
        )
        for index in range(2)
    ]
    for proc in procs:
        _wait(proc)
    for folder in (tmp_path, tmp_path / "worker1"):
        info = json.loads((folder / "multi_worker_mirrored.json").read_text())
        assert info == {"replicas": 2, "copies": 1}  # one local copy on each worker
        worst = _assert_same_weights(
            folder / "multi_worker_mirrored.npz", tmp_path / "single.npz", tmp_path / "initial.npz"
        )
        print(f"multi-worker ({folder.name}) vs one replica, max relative difference:", worst)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
def test_jax_data_parallel_two_cpu_devices_match_one_replica(tmp_path):
    _wait(
        _run(
            ["data_parallel", str(tmp_path)],
            {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
        )
    )
    assert json.loads((tmp_path / "data_parallel.json").read_text()) == {"replicas": 2, "copies": 2}
    assert json.loads((tmp_path / "single.json").read_text()) == {"replicas": 1, "copies": 1}
    worst = _assert_same_weights(
        tmp_path / "data_parallel.npz", tmp_path / "single.npz", tmp_path / "initial.npz"
    )
    print("jax data_parallel vs one replica, max relative difference:", worst)


def test_bad_names_and_configs_are_clear(monkeypatch):
    with pytest.raises(ValueError, match="Unknown distribution 'mirror'"):
        distribute.get_distribution("mirror")
    other = "data_parallel" if keras.backend.backend() != "jax" else "mirrored"
    with pytest.raises(ValueError, match=f"distribution={other!r} runs on KERAS_BACKEND"):
        distribute.get_distribution(other)
    with pytest.raises(ValueError, match="per_replica_batch=0"):
        distribute.global_batch(0)
    assert distribute.global_batch(16) == 16 and distribute.replica_count(None) == 1
    with pytest.raises(ValueError, match="index=2"):
        distribute.make_tf_config(["127.0.0.1:1", "127.0.0.1:2"], 2)
    config = json.loads(distribute.make_tf_config(["a:1", "b:2"], 1))
    assert config == {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    if keras.backend.backend() == "tensorflow":
        monkeypatch.delenv("TF_CONFIG", raising=False)
        with pytest.raises(ValueError, match="TF_CONFIG"):
            distribute.get_distribution("multi_worker_mirrored")
        monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
        with pytest.raises(ValueError, match="Received: TF_CONFIG="):
            distribute.get_distribution("multi_worker_mirrored")


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
def test_distribute_and_export_import_without_tensorflow():
    """TensorFlow is imported only when a TF engine is asked for, never at import."""
    code = (
        "import sys, framebank, framebank.distribute as d, framebank.export\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
        "with d.distribution_scope(None):\n"
        "    pass\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported by the scope'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, _errors(run.stderr)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    if sys.argv[1] == "reference":
        _train(None, Path(sys.argv[2]))
    else:
        _worker(sys.argv[1:])
