"""Peak memory of training steps, measured in a fresh process.

Run as ``python -m framebank.training.memory --config-json ... --method NAME``;
prints one JSON line. On a GPU it reads the backend's own allocator peak
(TensorFlow ``get_memory_info``, JAX ``memory_stats``, PyTorch
``max_memory_allocated``); on a CPU the peak resident set size. Either way the
figure is the peak after the training steps minus the peak before them, in the
same process with the same model and input already made. The parent sets
``MALLOC_MMAP_THRESHOLD_`` so that large buffers are mapped and unmapped, not
kept in the heap, and the peak RSS follows the live tensors.

The line also records what the figure depends on (:func:`measurement_context`): the
CPU and the instruction sets its kernels may choose by, the backend and its kernel
library, the allocator and how the peak was reset. ``benchmarks/compare_memory.md``
says which of them moved the figure when tried.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import signal
import sys
from typing import Any

from framebank.device import (
    device_description,
    gpu_memory,
    peak_rss_bytes,
    reset_peak_rss,
    rss_split_mb,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _step_peaks(
    model: Any, noisy: Any, clean: Any, steps: int, gpu: bool, peak_reset: str
) -> tuple[int, float | None]:
    """Train ``steps`` steps: the peak (bytes) over them all, and the later steps' own peak
    above what the first left (MB; None where the peak cannot be reset between them)."""
    import keras

    # The first step also traces the training function and makes the optimizer's
    # slots; the later ones show what a step itself needs (the "steady" peak).
    model.train_on_batch(noisy, clean)
    first_peak = gpu_memory()[1] if gpu else peak_rss_bytes()
    steady = None
    resettable = peak_reset == "clear_refs" or (gpu and keras.backend.backend() != "jax")
    if steps >= 2 and resettable:
        after_first = gpu_memory(reset_peak=True)[0] if gpu else reset_peak_rss(trim=False)
        for _ in range(steps - 1):
            model.train_on_batch(noisy, clean)
        later_peak = gpu_memory()[1] if gpu else peak_rss_bytes()
        steady = (later_peak - after_first) / 2**20
        peak = max(first_peak, later_peak)
    else:
        for _ in range(steps - 1):
            model.train_on_batch(noisy, clean)
        peak = gpu_memory()[1] if gpu else peak_rss_bytes()
    return peak, steady


def measure(config_data: dict, method: str) -> dict:
    """Train ``memory_steps`` steps of ``method``'s denoiser on ``memory_batch_size`` x
    ``memory_seconds`` of noise and return the memory they took, as JSON."""
    import numpy as np

    from framebank.training.compare import CompareConfig, build_denoiser
    from framebank.training.config import from_dict

    # Measured on a bigger batch than training uses, so the step's own
    # tensors stand well above the process's noise.
    config = from_dict(
        CompareConfig, {**config_data, "chunk_seconds": config_data.get("memory_seconds", 4.0)}
    )
    kind, name = device_description()
    model = build_denoiser(config, method, "basis_glorot_uniform", 0)
    rng = np.random.default_rng(0)
    shape = (config.memory_batch_size, config.chunk_samples)
    clean = rng.standard_normal(shape).astype("float32")
    noisy = clean + 0.1 * rng.standard_normal(shape).astype("float32")
    gpu = kind == "gpu"
    split_before = rss_split_mb()
    if gpu:
        before, peak_reset = gpu_memory(reset_peak=True)[1], "allocator"
    else:
        before, peak_reset = _reset_cpu_peak()
    peak, steady = _step_peaks(model, noisy, clean, config.memory_steps, gpu, peak_reset)
    split_after = rss_split_mb()
    # What the steps left resident: had the peak not been tracked (VmHWM), the figure
    # would be this, whatever the method.
    retained = (
        (sum(split_after.values()) - sum(split_before.values()))
        if split_before and split_after and not gpu
        else None
    )
    frames = 1 + (config.chunk_samples - config.frame_len) // config.hop
    output_bytes = config.memory_batch_size * frames * config.num_basis * 4
    return {
        "method": method,
        "device": name,
        "device_kind": kind,
        "measure": "allocator peak" if gpu else "peak RSS",
        "peak_mb": (peak - before) / 2**20,
        "steady_peak_mb": steady,
        "retained_mb": retained,
        "baseline_mb": before / 2**20,
        "encoder_output_mb": output_bytes / 2**20,
        "batch_shape": list(shape),
        # Anonymous and file-backed resident memory before and after the steps: file pages
        # (the libraries' code, hundreds of MB under TensorFlow) count in the RSS, and a
        # machine short of memory may evict them mid-measurement, lowering the figure.
        "rss_split_mb": {"before": split_before, "after": split_after},
        "context": measurement_context(peak_reset),
    }


def _reset_cpu_peak() -> tuple[int, str]:
    """Restart the peak RSS where Linux allows it; return the baseline to subtract and how
    the peak was reset (``"clear_refs"``; else ``"none"``: the baseline is the peak since
    the process started, which a high start-up peak can hide the steps under)."""
    current = reset_peak_rss(trim=False)
    if current is not None:
        return current, "clear_refs"
    return peak_rss_bytes(), "none"


# The CPU features a kernel library may dispatch on (oneDNN, XLA, PyTorch's CPU kernels).
ISA_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "asimd",
    "sve",
)
# Settings that change kernels, threads or the allocator, recorded when set.
CONTEXT_ENV = (
    "KERAS_BACKEND",
    "TF_ENABLE_ONEDNN_OPTS",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "OMP_NUM_THREADS",
    "XLA_FLAGS",
    "LD_PRELOAD",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_ARENA_MAX",
)


def _cpuinfo() -> tuple[str, set[str]]:
    """The CPU's model name and feature flags (Linux ``/proc/cpuinfo``)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model") and model in ("", platform.machine()):
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model, flags


def _kernel_library(backend: str) -> str:
    """The running backend's CPU kernel library and its setting."""
    try:
        if backend == "tensorflow":
            from tensorflow.python.util import _pywrap_util_port

            if _pywrap_util_port.IsMklEnabled():
                return "oneDNN on"
            if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
                return "Eigen (oneDNN off: TF_ENABLE_ONEDNN_OPTS=0)"
            # TensorFlow turns oneDNN on by itself only on CPUs with AVX-512 or newer
            # (an AVX2-only CPU runs Eigen unless TF_ENABLE_ONEDNN_OPTS=1).
            return "Eigen (oneDNN off: TensorFlow's default for this CPU)"
        if backend == "torch":
            import torch

            return f"ATen; mkldnn {'on' if torch.backends.mkldnn.is_enabled() else 'off'}"
        if backend == "jax":
            return "XLA CPU"
    except Exception as err:  # an odd build: say so, do not fail the measurement
        return f"unknown ({type(err).__name__})"
    return "unknown"


def _allocator() -> str:
    preload = os.environ.get("LD_PRELOAD", "")
    for name in ("jemalloc", "tcmalloc", "mimalloc"):
        if name in preload:
            return f"{name} (LD_PRELOAD)"
    libc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    return f"{libc} malloc" if libc else "the C library's malloc"


def measurement_context(peak_reset: str = "none") -> dict:
    """What a memory figure depends on, as JSON: CPU, instruction sets, backend and its
    kernel library, threads, allocator, the settings that change them, the peak reset."""
    import keras

    backend = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    version = getattr(sys.modules.get(module or ""), "__version__", "unknown")
    model, flags = _cpuinfo()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": model,
        "isa": [flag for flag in ISA_FLAGS if flag in flags],
        "cpus": cpus,
        "backend": f"{backend} {version}",
        "keras": keras.__version__,
        "kernel_library": _kernel_library(backend),
        "allocator": _allocator(),
        "peak_reset": peak_reset,
        "env": {name: os.environ[name] for name in CONTEXT_ENV if name in os.environ},
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
