"""Which device the running Keras backend computes on, and how much memory it used.

One home for what ``method="auto"``, the recipes' memory measurement and the
benchmarks all need. It asks the backend that is already imported, so it never
imports TensorFlow under another backend. Imports nothing of framebank.
"""

from __future__ import annotations

import ctypes
import resource

__all__ = [
    "current_device",
    "device_description",
    "gpu_memory",
    "peak_rss_bytes",
    "rss_bytes",
    "rss_split_mb",
    "reset_peak_rss",
    "measurement_env",
]


def device_description() -> tuple[str, str]:
    """``(kind, name)``: kind ``"gpu"`` when the backend computes on a GPU, else ``"cpu"``.

    A backend that cannot say (no driver, an odd build) counts as the CPU.
    """
    import keras

    backend = keras.backend.backend()
    try:
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
    except Exception:
        return "cpu", f"{backend} (device unknown)"
    return "cpu", backend


def current_device() -> str:
    """``"gpu"`` or ``"cpu"``: the kind of :func:`device_description`."""
    return device_description()[0]


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


def _proc_status_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        return None
    return None


def rss_bytes() -> int | None:
    """The process's resident set size now (Linux), or None where it cannot be read."""
    return _proc_status_bytes("VmRSS")


def rss_split_mb() -> dict:
    """``{"anon": MB, "file": MB}``: the resident set now, anonymous and file-backed (Linux),
    or ``{}`` where it cannot be read."""
    anon, file = _proc_status_bytes("RssAnon"), _proc_status_bytes("RssFile")
    if anon is None or file is None:
        return {}
    return {"anon": anon / 2**20, "file": file / 2**20}


def peak_rss_bytes() -> int:
    """The process's peak resident set size since it started or since :func:`reset_peak_rss`.

    Why ``VmHWM`` and not ``getrusage``: ``ru_maxrss`` survives ``execve``, so a
    child started by a big parent inherits the parent's peak; ``VmHWM`` belongs
    to this process's own address space (``getrusage`` only where it is absent).
    """
    peak = _proc_status_bytes("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def reset_peak_rss(trim: bool = True) -> int | None:
    """Restart the peak RSS from the current RSS (Linux ``clear_refs`` 5); return that RSS.

    ``trim`` first hands freed heap back to the OS (glibc ``malloc_trim``), so
    memory freed before the reset does not stay resident and hide a later peak.
    Returns None where the peak cannot be reset.
    """
    if trim:
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return None
    return rss_bytes()


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
