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
import signal
import sys

from framebank.device import (
    device_description,
    gpu_memory,
    peak_rss_bytes,
    reset_peak_rss,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def measure(config_data: dict, method: str) -> dict:
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
    before = gpu_memory(reset_peak=True)[1] if kind == "gpu" else _reset_cpu_peak()
    for _ in range(config.memory_steps):
        model.train_on_batch(noisy, clean)
    after = gpu_memory()[1] if kind == "gpu" else peak_rss_bytes()
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


def _reset_cpu_peak() -> int:
    """Restart the peak RSS where Linux allows it and return the baseline to subtract."""
    current = reset_peak_rss(trim=False)
    return current if current is not None else peak_rss_bytes()


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
