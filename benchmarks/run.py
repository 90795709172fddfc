"""framebank's benchmark: every method, forward plus backward, under every installed backend.

One command::

    python benchmarks/run.py            # the full run (about 10 minutes on 2 cores)
    python benchmarks/run.py --quick    # tiny shapes, a smoke run of the whole pipeline

Each backend runs in its own subprocess (``KERAS_BACKEND`` set), timing every
method on the issue's four shapes (batch 16, 4 s of audio) in both gradient
cases; each time is reported as a ratio to a bare matmul on pre-framed data
measured in the same process (the limit) and as GFLOP/s. Peak memory is taken
in a fresh process per method and shape. Results go to ``--out``
(``results.csv``, ``results.md``, ``memory.csv``, ``ratios.png``).

Timings on a shared machine are noisy: compare ratios within one run only.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from worker import METHOD_NAMES, SHAPES  # noqa: E402

BACKENDS = ("tensorflow", "jax", "torch")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
MEMORY_MODES = {"tensorflow": "graph", "jax": "jit", "torch": "eager"}
TOLERANCE = 1.10  # the "within 1.10x"


def installed_backends() -> list[str]:
    return [b for b in BACKENDS if importlib.util.find_spec(b) is not None]


def has_asteroid() -> bool:
    return importlib.util.find_spec("asteroid_filterbanks") is not None


def _worker(args: list[str], backend: str, timeout: float) -> list[dict]:
    from framebank.device import measurement_env

    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    if args[0] == "memory":
        env = measurement_env(env, backend)
    else:  # JAX's 75% of a GPU at start would starve the memory runs beside it
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    proc = subprocess.run(
        [sys.executable, str(HERE / "worker.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        rows.append(dict(backend=backend, error=f"worker exit {proc.returncode}: {tail}"))
    return rows


# --------------------------------------------------------------------------- measuring


def measure_times(
    opts: argparse.Namespace, backends: list[str], save: Callable[[list[dict]], None]
) -> list[dict]:
    """Every backend's timings; ``save`` is given the rows so far after each backend."""
    rows = []
    for backend in backends:
        args = ["time", "--shapes", opts.shapes, "--repeats", str(opts.repeats)]
        args += ["--precisions", opts.precisions, "--budget", str(opts.budget)]
        if opts.quick:
            args.append("--quick")
        if backend == "torch" and has_asteroid():
            args.append("--asteroid")
        start = time.perf_counter()
        got = _worker(args, backend, timeout=opts.timeout)
        print(f"  {backend}: {len(got)} rows in {time.perf_counter() - start:.0f} s", flush=True)
        rows += got
        save(rows)
    return rows


def measure_memory(opts: argparse.Namespace, backends: list[str]) -> list[dict]:
    """One fresh process per (backend, shape, implementation, loss), two at a time.

    Every implementation is measured on the timed steps' loss, ``0.5 *
    sum(y**2)``; the limit and ``auto`` (the default) once more on ``sum(y)``,
    whose forward makes no output-sized temporary of its own, so that figure
    is what the projection holds (see the README: under TensorFlow with
    oneDNN the quadratic loss's temporary stays alive during the backward).
    """
    jobs = []
    for backend in [b for b in opts.memory_backends.split(",") if b in backends]:
        impls = ["none", "limit", *METHOD_NAMES, "auto"]
        if backend == "torch" and has_asteroid():
            impls.append("asteroid")
        shapes = opts.shapes.split(",")
        if opts.quick:  # the plumbing only: one shape, few processes
            impls, shapes = ["none", "limit", "matmul", "strided_conv", "auto"], shapes[:1]
        runs = [(impl, "square") for impl in impls] + [("limit", "sum"), ("auto", "sum")]
        for shape in shapes:
            for impl, loss in runs:
                args = ["memory", "--shapes", shape, "--impls", impl, "--loss", loss]
                args += ["--modes", MEMORY_MODES[backend]]
                if opts.quick:
                    args.append("--quick")
                jobs.append((args, backend))
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        results = list(pool.map(lambda job: _worker(job[0], job[1], opts.timeout), jobs))
    print(f"  memory: {len(jobs)} processes in {time.perf_counter() - start:.0f} s", flush=True)
    rows = [row for result in results for row in result]
    base = {(r["backend"], r["shape"]): r["peak_mb"] for r in rows if r.get("impl") == "none"}
    for r in rows:
        if "peak_mb" in r and r.get("impl") != "none":
            r["over_baseline_mb"] = r["peak_mb"] - base.get((r["backend"], r["shape"]), 0.0)
            r["peak_ratio"] = r["over_baseline_mb"] / r["output_mb"]
            r["step_ratio"] = r["step_mb"] / r["output_mb"]
    return rows


# --------------------------------------------------------------------------- reporting


def add_ratios(rows: list[dict]) -> None:
    """``ratio``: time over the limit measured in the same process, same configuration."""
    limits = {}
    for r in rows:
        if r.get("impl") in ("limit", "limit_stft") and "ms" in r:
            key = (r["backend"], r["mode"], r["precision"], r["shape"], r["grad"], r["impl"])
            limits[key] = r["ms"]
    for r in rows:
        if "ms" not in r:
            continue
        which = "limit_stft" if r["impl"] in ("keras_stft", "fourier", "limit_stft") else "limit"
        key = (r["backend"], r["mode"], r["precision"], r["shape"], r["grad"], which)
        if key in limits:
            r["ratio"] = r["ms"] / limits[key]


def fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _index(rows: list[dict]) -> dict:
    out = {}
    for r in rows:
        if "impl" in r and "shape" in r:
            out[(r["backend"], r["mode"], r["precision"], r["shape"], r["grad"], r["impl"])] = r
    return out


def _getter(idx: dict, *key: str):
    """``impl -> row or None`` for one (backend, mode, precision, shape, grad)."""
    return lambda impl: idx.get((*key, impl))


def _configs(rows: list[dict], precision: str, grad: str) -> list[tuple[str, str, str]]:
    seen = []
    for shape in dict.fromkeys(r["shape"] for r in rows if "shape" in r):
        for r in rows:
            if r.get("precision") != precision or r.get("grad") != grad or r.get("shape") != shape:
                continue
            key = (shape, r["backend"], r["mode"])
            if key not in seen:
                seen.append(key)
    return seen


def _cell(r: dict | None) -> str:
    if r is None:
        return "-"
    if "error" in r:
        return "fails"
    if r.get("estimated"):
        return f"~{r['ratio']:.0f}x (est.)" if "ratio" in r else f"~{r['ms']:.0f} ms (est.)"
    mark = "" if r["steps"] >= 10 else f" (n={r['steps']})"
    return f"{r['ratio']:.2f}x{mark}" if "ratio" in r else f"{r['ms']:.1f} ms"


def method_table(rows: list[dict], precision: str, grad: str) -> list[str]:
    idx = _index(rows)
    head = ["shape", "backend", "limit ms", "limit GFLOP/s", *METHOD_NAMES, "auto (pick)", "best"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for shape, backend, mode in _configs(rows, precision, grad):
        get = _getter(idx, backend, mode, precision, shape, grad)
        limit = get("limit")
        if limit is None or "ms" not in limit:
            continue
        cells = [_cell(get(m)) for m in METHOD_NAMES]
        auto = get("auto")
        auto_cell = _cell(auto) + (f" ({auto['resolved']})" if auto and "resolved" in auto else "")
        timed = [(get(m)["ms"], m) for m in METHOD_NAMES if get(m) and "ms" in get(m)]
        best = min(timed)[1] if timed else "-"
        label = SHAPE_LABELS.get(shape, shape)
        lines.append(
            f"| {label} | {backend} {mode} | {limit['ms']:.1f} | {limit['gflops']:.0f} | "
            + " | ".join(cells)
            + f" | {auto_cell} | {best} |"
        )
    return lines


def stft_table(rows: list[dict]) -> list[str]:
    idx = _index(rows)
    head = [
        "shape",
        "backend",
        "num_basis",
        "limit ms",
        "keras STFTSpectrogram",
        "framebank fourier",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for shape, backend, mode in _configs(rows, "float32", "weights"):
        get = _getter(idx, backend, mode, "float32", shape, "weights")
        limit = get("limit_stft")
        if limit is None or "ms" not in limit:
            continue
        fourier = get("fourier")
        pick = f" ({fourier['resolved']})" if fourier and "resolved" in fourier else ""
        lines.append(
            f"| {SHAPE_LABELS.get(shape, shape)} | {backend} {mode} | {limit['num_basis']} | "
            f"{limit['ms']:.1f} | {_cell(get('keras_stft'))} | {_cell(fourier)}{pick} |"
        )
    return lines


def peer_table(rows: list[dict]) -> list[str]:
    """asteroid-filterbanks vs framebank's auto pick under each backend, in ms."""
    idx = _index(rows)
    shapes = list(dict.fromkeys(r["shape"] for r in rows if "shape" in r))
    lines = []
    for grad in ("weights", "weights+input"):
        peer = {s: idx.get(("torch", "eager", "float32", s, grad, "asteroid")) for s in shapes}
        if not any(p and "ms" in p for p in peer.values()):
            continue
        configs = list(dict.fromkeys((b, m) for (_, b, m) in _configs(rows, "float32", grad)))
        head = ["shape", "asteroid Encoder(FreeFB) ms"] + [f"auto, {b} {m}" for b, m in configs]
        lines += [f"Gradient case: {grad}", ""]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for s in shapes:
            p = peer[s]
            if not p or "ms" not in p:
                continue
            cells = []
            for b, m in configs:
                a = idx.get((b, m, "float32", s, grad, "auto"))
                cells.append(f"{a['ms']:.1f} ms ({p['ms'] / a['ms']:.2f}x faster)" if a else "-")
            lines.append(
                f"| {SHAPE_LABELS.get(s, s)} | {p['ms']:.1f} | " + " | ".join(cells) + " |"
            )
        lines.append("")
    return lines


def _memory_key(r: dict) -> tuple[str, str, str, str]:
    """``(shape, backend, impl, loss)`` of a memory row."""
    return (r["shape"], r["backend"], r["impl"], r.get("loss", "square"))


def memory_table(mem: list[dict]) -> list[str]:
    columns = list(
        dict.fromkeys(_memory_key(r)[2:] for r in mem if r.get("impl") not in (None, "none"))
    )
    columns.sort(key=lambda column: column[1] != "square")  # the sum(y) runs last
    head = ["shape", "backend", "output MB", "frames MB"]
    head += [impl if loss == "square" else f"{impl}, {loss}(y) loss" for impl, loss in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    keys = list(dict.fromkeys((r["shape"], r["backend"]) for r in mem if "shape" in r))
    by = {_memory_key(r): r for r in mem if "impl" in r}
    for shape, backend in keys:
        any_row = by.get((shape, backend, "limit", "square")) or by.get(
            (shape, backend, "none", "square")
        )
        if any_row is None:
            continue
        cells = []
        for impl, loss in columns:
            r = by.get((shape, backend, impl, loss))
            ok = r and "peak_ratio" in r
            pick = f" ({r['resolved']})" if ok and r.get("resolved") else ""
            cells.append(f"{r['peak_ratio']:.1f}x / {r['step_ratio']:.1f}x{pick}" if ok else "-")
        lines.append(
            f"| {SHAPE_LABELS.get(shape, shape)} | {backend} {any_row['mode']} | "
            f"{any_row['output_mb']:.1f} | {any_row['frames_mb']:.1f} | " + " | ".join(cells) + " |"
        )
    return lines


def check_targets(rows: list[dict], mem: list[dict], default_method: str) -> list[str]:
    """The issue's targets, each checked on this run's numbers."""
    idx = _index(rows)
    out = []
    # auto within 1.10x of the fastest method, and never failing; fastest within 1.10x of limit.
    worst_auto, worst_best, fails, spreads = [], [], [], []
    for precision in ("float32", "mixed_float16", "mixed_bfloat16"):
        for grad in ("weights", "weights+input"):
            for shape, backend, mode in _configs(rows, precision, grad):
                get = _getter(idx, backend, mode, precision, shape, grad)
                timed = [get(m)["ms"] for m in METHOD_NAMES if get(m) and "ms" in get(m)]
                fails += [
                    f"{m} ({backend} {mode}, {precision}, {shape}, {grad})"
                    for m in [*METHOD_NAMES, "auto"]
                    if get(m) and "error" in get(m)
                ]
                auto, limit = get("auto"), get("limit")
                label = f"{shape}, {backend} {mode}, {precision}, {grad}"
                if timed and auto and "ms" in auto:
                    pick = get(auto.get("resolved", ""))
                    note = ""
                    if pick and "ms" in pick:  # the same computation, timed twice: the noise
                        spreads.append(abs(auto["ms"] - pick["ms"]) / min(auto["ms"], pick["ms"]))
                        note = f"; its pick timed as itself: {pick['ms'] / min(timed):.2f}x"
                    worst_auto.append((auto["ms"] / min(timed), label + note, auto.get("resolved")))
                if timed and limit and "ms" in limit and precision == "float32":
                    worst_best.append((min(timed) / limit["ms"], label, ""))
    for title, values in (
        ("auto within 1.10x of the fastest method", worst_auto),
        ("fastest method within 1.10x of the matmul limit (float32)", worst_best),
    ):
        if not values:
            continue
        misses = sorted([v for v in values if v[0] > TOLERANCE], reverse=True)
        verdict = "met" if not misses else f"missed in {len(misses)} of {len(values)}"
        out.append(f"- {title}: {verdict}; worst {max(values)[0]:.2f}x ({max(values)[1]}).")
        for ratio, label, pick in misses[:12]:
            out.append(f"  - {ratio:.2f}x: {label}" + (f" (auto picked {pick})" if pick else ""))
    if spreads:
        out.append(
            f"- noise: `auto` and the method it picks are one computation timed twice in the same "
            f"rounds; they differed by {100 * statistics.median(spreads):.0f}% (median) and "
            f"{100 * max(spreads):.0f}% (worst) over {len(spreads)} configurations, so a ratio "
            "within that of 1.10x is not a measured difference."
        )
    if rows:
        out.append(
            "- every method and auto runs in every configuration: "
            + ("met." if not fails else "failures: " + "; ".join(fails[:10]))
        )
    # memory
    by = {_memory_key(r): r for r in mem if "peak_ratio" in r}
    for (shape, backend, impl, loss), r in sorted(by.items()):
        if impl == default_method:
            verdict = "met" if r["peak_ratio"] <= 3.0 else "missed"
            pick = f" -> {r['resolved']}" if r.get("resolved") else ""
            limit = by.get((shape, backend, "limit", loss))
            floor = f"; the bare matmul {limit['peak_ratio']:.2f}x" if limit else ""
            formula = "sum(y)" if loss == "sum" else "0.5 * sum(y**2)"
            out.append(
                f"- default method ({default_method}{pick}) peak memory <= 3x output, {shape} "
                f"{backend}, loss {formula}: {r['peak_ratio']:.2f}x (step alone "
                f"{r['step_ratio']:.2f}x{floor}; output {r['output_mb']:.0f} MB): {verdict}."
            )
    for (shape, backend, impl, loss), r in sorted(by.items()):
        if impl != "strided_conv" or loss != "square" or r["hop"] >= r["frame_len"]:
            continue
        keys = [(shape, backend, m, "square") for m in METHOD_NAMES]
        framed = [by[key] for key in keys if key in by]
        framed = [f for f in framed if f["impl"] != "strided_conv"]
        if not framed:
            continue
        least = min(framed, key=lambda f: f["peak_mb"])
        gap = least["peak_mb"] - r["peak_mb"]
        verdict = "met" if gap >= r["frames_mb"] else "missed"
        out.append(
            f"- strided_conv below the frame-materialising paths by >= frames "
            f"({r['frames_mb']:.1f} MB), {shape} {backend}: {gap:.1f} MB below "
            f"{least['impl']}: {verdict}."
        )
    # peers
    for grad in ("weights", "weights+input"):
        peers = {
            r["shape"]: r
            for r in rows
            if r.get("impl") == "asteroid" and r.get("grad") == grad and "ms" in r
        }
        for shape, p in peers.items():
            autos = [
                r
                for r in rows
                if r.get("impl") == "auto" and r.get("shape") == shape and r.get("grad") == grad
                and r.get("precision") == "float32" and "ms" in r
            ]  # fmt: skip
            if autos:
                slow = [f"{a['backend']} {a['mode']}" for a in autos if a["ms"] >= p["ms"]]
                verdict = "met" if not slow else "missed under " + ", ".join(slow)
                out.append(f"- faster than asteroid Encoder(FreeFB), {shape}, {grad}: {verdict}.")
    return out


SHAPE_LABELS = {
    "tasnet8k": "8 kHz L16 h8 N512",
    "tasnet16k": "16 kHz L32 h16 N512",
    "stft25ms": "16 kHz L400 h160 N256",
    "nooverlap": "16 kHz L80 h80 N256",
}


def gpus(rows: list[dict]) -> list[str]:
    """The GPUs the rows were measured on (``device`` as the worker names it), if any."""
    named = {r.get("device", "") for r in rows}
    return sorted(d for d in named if d and not d.endswith(" cpu"))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    versions = []
    for mod in ("keras", "tensorflow", "jax", "torch", "asteroid_filterbanks"):
        if importlib.util.find_spec(mod) is not None:
            from importlib.metadata import PackageNotFoundError, version

            dist = mod.replace("_", "-")
            try:
                versions.append(f"{dist} {version(dist)}")
            except PackageNotFoundError:
                pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; " + ", ".join(
        versions
    )


def write_csv(path: Path, rows: list[dict]) -> None:
    from framebank.training.io import atomic_write

    fields = list(dict.fromkeys(k for r in rows for k in r))

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def plot(rows: list[dict], path: Path) -> None:
    """Training-case ratios to the limit (log scale), one panel per shape, float32."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    shapes = list(dict.fromkeys(r["shape"] for r in rows if "shape" in r))
    configs = list(
        dict.fromkeys(f"{r['backend']} {r['mode']}" for r in rows if "mode" in r and r.get("ratio"))
    )
    fig, axes = plt.subplots(1, len(shapes), figsize=(4 * len(shapes), 4), squeeze=False)
    impls = [*METHOD_NAMES, "auto"]
    width = 0.8 / max(1, len(configs))
    for ax, shape in zip(axes[0], shapes, strict=True):
        for k, config in enumerate(configs):
            values = []
            for impl in impls:
                match = [
                    r.get("ratio", float("nan"))
                    for r in rows
                    if r.get("shape") == shape and r.get("impl") == impl
                    and f"{r.get('backend')} {r.get('mode')}" == config
                    and r.get("precision") == "float32" and r.get("grad") == "weights"
                ]  # fmt: skip
                values.append(match[0] if match else float("nan"))
            xs = [i + k * width for i in range(len(impls))]
            ax.bar(xs, values, width=width, label=config)
        ax.axhline(1.0, color="k", linewidth=0.8)
        ax.axhline(TOLERANCE, color="k", linewidth=0.8, linestyle=":")
        ax.set_yscale("log")
        # Plain "1.5x" ticks rather than matplotlib's "1.5 x 10^0" on a log axis.
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.1fx"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%.1fx"))
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(impls))])
        ax.set_xticklabels(impls, rotation=45, ha="right")
        ax.set_title(SHAPE_LABELS.get(shape, shape), fontsize=9)
    axes[0][0].set_ylabel("time / matmul limit (training case)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")  # path may be a temporary name
    plt.close(fig)


def report(rows: list[dict], mem: list[dict], opts: argparse.Namespace, elapsed: float) -> str:
    import inspect

    from framebank.layers import Encoder  # the default method, read from the signature

    default_method = inspect.signature(Encoder).parameters["method"].default
    lines = [
        "# framebank benchmark results",
        "",
        f"Machine: {machine()}"
        + (f"; measured on the GPU: {', '.join(gpus(rows + mem))}." if gpus(rows + mem) else "."),
        f"Command: `python benchmarks/run.py {' '.join(opts.argv)}`; {elapsed:.0f} s in all.",
        "Batch 16, 4 s of audio; forward plus backward of `0.5 * sum(y**2)`; median of "
        f"{opts.repeats} steps after warm-up, timed in interleaved rounds so that the shared "
        "machine's load hits every method alike ((n=3): a step too slow for the budget, timed "
        "3 times; (est.): so slow that one batch item was timed and multiplied by the batch). "
        "Mixed precision: the backend's first mode only. "
        "Each cell is the time over a bare matmul on pre-framed data (the limit) timed in the "
        "same process and configuration. The machine is shared: compare within one run only.",
        "",
    ]
    for precision in opts.precisions.split(","):
        for grad in ("weights", "weights+input"):
            table = method_table(rows, precision, grad)
            if len(table) <= 2:
                continue
            case = "training case: weights only" if grad == "weights" else "in-model case"
            lines += [f"## {precision}, {case} (gradient w.r.t. {grad})", "", *table, ""]
    stft = stft_table(rows)
    if len(stft) > 2:
        lines += [
            "## Keras `STFTSpectrogram(mode='stft')` and framebank's fourier basis",
            "",
            "Training case, float32; ratio to a matmul with num_basis = 2 * (frame_len // 2 + 1).",
            "",
            *stft,
            "",
        ]
    peers = peer_table(rows)
    if peers:
        where = "GPU" if gpus([r for r in rows if r.get("impl") == "asteroid"]) else "CPU"
        lines += [f"## asteroid-filterbanks (PyTorch, {where}) side by side", "", *peers]
    if mem:
        measure = (
            "the GPU allocator's peak (device memory) in a fresh process over that of a process "
            "that only imports, as a multiple of the output `[batch, frames, num_basis]`; then "
            "the second step's peak over the bytes in use before it (under JAX, whose peak cannot "
            "be reset, the process's peak over them; XLA's autotuning is off in these processes, "
            "its scratch buffers would count). The last "
            if gpus(mem)
            else "peak RSS of a fresh process over a process that only imports and makes "
            "the input, as a multiple of the output `[batch, frames, num_basis]`; then the rise "
            "during a second step alone (after freed memory went back to the OS). The last "
        )
        lines += [
            "## Peak memory, training case, float32",
            "",
            "Each cell: "
            + measure
            + "columns repeat the limit and `auto` (the default method; its pick in brackets) on "
            "the loss `sum(y)`, whose forward makes no output-sized temporary of its own.",
            "",
            *memory_table(mem),
            "",
        ]
    lines += ["## Targets", "", *check_targets(rows, mem, default_method), ""]
    return "\n".join(lines)


def write_results(
    out: Path, rows: list[dict], mem: list[dict], opts: argparse.Namespace, elapsed: float
) -> str:
    """Write results.csv, memory.csv (if any), results.md and ratios.png; return the report."""
    if rows:
        write_csv(out / "results.csv", rows)
    if mem:
        write_csv(out / "memory.csv", mem)
    from framebank.training.io import atomic_write, write_text

    text = report(rows, mem, opts, elapsed)
    write_text(out / "results.md", text)
    if rows:
        atomic_write(out / "ratios.png", lambda tmp: plot(rows, Path(tmp)))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="framebank benchmark (see benchmarks/README.md)")
    parser.add_argument("--quick", action="store_true", help="tiny shapes: a smoke run")
    parser.add_argument("--backends", default=None, help="default: every installed backend")
    parser.add_argument("--shapes", default=None, help=f"from {', '.join(SHAPES)}")
    parser.add_argument("--precisions", default=None, help=f"from {', '.join(PRECISIONS)}")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--budget", type=float, default=None, help="s per configuration")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-time", action="store_true", help="memory only")
    parser.add_argument(
        "--memory-backends",
        default="tensorflow,jax",
        help="backends whose memory is measured (a process each per method and shape)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="memory processes at a time")
    parser.add_argument("--timeout", type=float, default=900.0, help="s per worker process")
    parser.add_argument("--out", type=Path, default=None)
    opts = parser.parse_args(argv)
    opts.argv = sys.argv[1:] if argv is None else argv
    if opts.quick:  # under a minute: one backend, one overlapping shape, two precisions
        opts.shapes = opts.shapes or "tasnet8k"
        opts.precisions = opts.precisions or "float32,mixed_bfloat16"
        opts.backends = opts.backends or os.environ.get("KERAS_BACKEND", "tensorflow")
    opts.shapes = opts.shapes or ",".join(SHAPES)
    opts.precisions = opts.precisions or ",".join(PRECISIONS)
    opts.backends = opts.backends or ",".join(installed_backends())
    opts.repeats = opts.repeats or (3 if opts.quick else 10)
    opts.budget = opts.budget or (2.0 if opts.quick else 20.0)
    # --quick numbers mean nothing: keep them out of the committed results/.
    quick_out = Path(tempfile.gettempdir()) / "framebank-benchmark-quick"
    out = opts.out or (quick_out if opts.quick else HERE / "results")
    out.mkdir(parents=True, exist_ok=True)
    backends = [b for b in opts.backends.split(",") if b]
    # This process imports framebank (hence Keras) for the report; where TensorFlow,
    # Keras's default, is not installed (a GPU image with JAX and torch), use another.
    if "tensorflow" not in installed_backends() and installed_backends():
        os.environ.setdefault("KERAS_BACKEND", installed_backends()[0])

    start = time.perf_counter()
    if not opts.no_time:
        print(f"timing under {', '.join(backends)} ...", flush=True)

    def save(rows: list[dict]) -> None:
        # Written after each backend, so a run cut short (a time limit, a kill)
        # keeps the timings it finished.
        add_ratios(rows)
        write_results(out, rows, [], opts, time.perf_counter() - start)

    rows = [] if opts.no_time else measure_times(opts, backends, save)
    add_ratios(rows)
    mem = [] if opts.no_memory else measure_memory(opts, backends)
    text = write_results(out, rows, mem, opts, time.perf_counter() - start)
    print(text)
    written = (["results.csv"] if rows else []) + ["results.md"] + (["ratios.png"] if rows else [])
    print(f"\nwritten in {out}: " + ", ".join(written + (["memory.csv"] if mem else [])))
    errors = [r for r in rows + mem if "error" in r and "impl" not in r]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
