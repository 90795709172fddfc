"""Peak memory of training steps, measured in a fresh process.

Run as ``python -m framebank.training.memory --config-json ... --method NAME``;
prints one JSON line. On a GPU it reads the backend's own allocator peak
(TensorFlow ``get_memory_info``, JAX ``memory_stats``, PyTorch
``max_memory_allocated``); on a CPU the peak resident set size. Either way the
figure is the peak after the training steps minus the peak before them, in the
same process with the same model and input already made. The parent sets
``MALLOC_MMAP_THRESHOLD_`` so that large buffers are mapped and unmapped, not
kept in the heap, and the peak RSS follows the live tensors.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def device_description() -> tuple[str, str]:
    """``(kind, name)``: kind ``"gpu"`` when the backend computes on a GPU, else ``"cpu"``."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return ("gpu" if device.platform == "gpu" else "cpu", f"jax {device.device_kind}")
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return "gpu", f"torch {torch.cuda.get_device_name(0)}"
        return "cpu", "torch cpu"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return ("gpu", f"tensorflow {gpus[0].name}") if gpus else ("cpu", "tensorflow cpu")
    return "cpu", backend


def gpu_memory(reset_peak: bool = False) -> tuple[int, int]:
    """``(bytes in use, peak bytes)`` of the running backend's GPU allocator.

    ``reset_peak`` first restarts the peak from the bytes in use, where the
    backend can (TensorFlow, PyTorch); JAX cannot, so its peak is the process's.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return int(stats.get("bytes_in_use", 0)), int(stats.get("peak_bytes_in_use", 0))
    if backend == "torch":
        import torch

        if reset_peak:
            torch.cuda.reset_peak_memory_stats()
        return int(torch.cuda.memory_allocated()), int(torch.cuda.max_memory_allocated())
    import tensorflow as tf

    if reset_peak:
        tf.config.experimental.reset_memory_stats("GPU:0")
    info = tf.config.experimental.get_memory_info("GPU:0")
    return int(info["current"]), int(info["peak"])


def measurement_env(env: dict, backend: str) -> dict:
    """``env`` for a fresh process that measures device memory under ``backend``.

    On a GPU, JAX would take 75% of the device at start (more than the processes
    beside it leave free), and XLA's autotuning allocates scratch copies of a
    step's buffers while compiling, which JAX's peak (it cannot be reset) would
    count. Both are off; elsewhere the settings do nothing.
    """
    env = dict(env)
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if backend == "jax":
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_gpu_autotune_level=0").strip()
    return env


def _proc_status_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        return None
    return None


def _rss_peak_bytes(reset: bool = False) -> int:
    """Peak resident set size; with ``reset``, restart the peak from the current RSS.

    Why not ``getrusage``: its ``ru_maxrss`` survives ``execve``, so a child
    started by a big parent inherits the parent's peak. ``VmHWM`` belongs to
    this process's own address space, and writing 5 to ``clear_refs`` resets it.
    """
    if reset:
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        except OSError:
            pass
        else:
            current = _proc_status_bytes("VmRSS")
            if current is not None:
                return current
    peak = _proc_status_bytes("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def measure(config_data: dict, method: str) -> dict:
    import numpy as np

    from framebank.training.compare import CompareConfig, build_model
    from framebank.training.config import from_dict

    # Measured on a bigger batch than training uses, so the step's own
    # tensors stand well above the process's noise.
    config = from_dict(
        CompareConfig, {**config_data, "chunk_seconds": config_data.get("memory_seconds", 4.0)}
    )
    kind, name = device_description()
    model = build_model(config, method, "basis_glorot_uniform", 0)
    rng = np.random.default_rng(0)
    shape = (config.memory_batch_size, config.chunk_samples)
    clean = rng.standard_normal(shape).astype("float32")
    noisy = clean + 0.1 * rng.standard_normal(shape).astype("float32")
    before = gpu_memory(reset_peak=True)[1] if kind == "gpu" else _rss_peak_bytes(reset=True)
    for _ in range(config.memory_steps):
        model.train_on_batch(noisy, clean)
    after = gpu_memory()[1] if kind == "gpu" else _rss_peak_bytes()
    frames = 1 + (config.chunk_samples - config.frame_len) // config.hop
    output_bytes = config.memory_batch_size * frames * config.num_basis * 4
    return {
        "method": method,
        "device": name,
        "device_kind": kind,
        "measure": "allocator peak" if kind == "gpu" else "peak RSS",
        "peak_mb": (after - before) / 2**20,
        "baseline_mb": before / 2**20,
        "encoder_output_mb": output_bytes / 2**20,
        "batch_shape": list(shape),
    }


def _end_with_parent() -> None:
    """Ask Linux to stop this process when its parent dies (``PR_SET_PDEATHSIG``).

    Why: a recipe killed during its memory measurement (SIGKILL, which it cannot
    catch) left this child training on; elsewhere this does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    # The parent may have died while this process was importing: it names itself.
    parent = os.environ.get("FRAMEBANK_PARENT_PID")
    if parent and os.getppid() != int(parent):
        sys.exit(1)


def main(argv: list[str] | None = None) -> int:
    _end_with_parent()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config-json", required=True)
    parser.add_argument("--method", required=True)
    args = parser.parse_args(argv)
    print(json.dumps(measure(json.loads(args.config_json), args.method)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
