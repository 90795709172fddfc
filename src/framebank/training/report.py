"""The compare recipe's results folder: CSV, plots and REPORT.md from one run's numbers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from framebank.training import io

__all__ = [
    "data_text",
    "write_all",
    "summary_text",
    "write_csv",
    "plot_convergence",
    "plot_memory",
]


def _group(runs: list[dict]) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for run in runs:
        groups[(run["init"], run["method"])].append(run)
    return groups


def _cumulative_seconds(run: dict) -> np.ndarray:
    # The first step traces and compiles the training function; leave it out
    # so the time axis shows the steady cost of each method.
    seconds = np.asarray(run["step_seconds"], "float64").copy()
    seconds[0] = 0.0
    return np.cumsum(seconds)


def write_csv(summary: dict, path: Path) -> None:
    """One row per (run, epoch): validation SI-SNR, last loss, time, memory."""
    header = [
        "method",
        "init",
        "seed",
        "epoch",
        "steps",
        "train_loss",
        "valid_si_snr_db",
        "training_seconds",
        "median_step_ms",
        "initial_kernel_std",
        "peak_memory_mb",
        "peak_memory_mb_min",
        "peak_memory_mb_max",
        "steady_step_memory_mb",
        "device",
    ]
    io.write_csv(path, header, _csv_rows(summary))


def epoch_columns(run: dict) -> Iterable[tuple[int, list]]:
    """Per validated epoch of a run: the index of its last step, and the CSV columns every
    recipe writes for it (epoch, steps so far, that step's loss, the validation SI-SNR)."""
    steps_per_epoch = len(run["step_loss"]) // max(1, len(run["valid_si_snr"]))
    for epoch, score in enumerate(run["valid_si_snr"], 1):
        last = epoch * steps_per_epoch - 1
        yield last, [epoch, last + 1, f"{run['step_loss'][last]:.6f}", f"{score:.4f}"]


def _csv_rows(summary: dict) -> Iterable[list]:
    memory = summary.get("memory", {})
    for run in summary["runs"]:
        cumulative = _cumulative_seconds(run)
        median_ms = float(np.median(run["step_seconds"][1:] or run["step_seconds"])) * 1e3
        mem = memory.get(run["method"], {})
        for last, columns in epoch_columns(run):
            yield [
                run["method"],
                run["init"],
                run["seed"],
                *columns,
                f"{cumulative[last]:.3f}",
                f"{median_ms:.3f}",
                f"{run['initial_kernel_std']:.6f}",
                f"{mem.get('peak_mb', float('nan')):.2f}",
                f"{mem.get('peak_mb_min', mem.get('peak_mb', float('nan'))):.2f}",
                f"{mem.get('peak_mb_max', mem.get('peak_mb', float('nan'))):.2f}",
                f"{_number(mem.get('steady_peak_mb')):.2f}",
                mem.get("device", ""),
            ]


def _save_figure(fig: object, path: Path) -> None:
    def write(tmp: str) -> None:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]

    io.atomic_write(path, write)


def plot_convergence(summary: dict, path: Path) -> None:
    """Loss against step and against seconds; one line per method, seeds' range shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _group(summary["runs"])
    inits = list(dict.fromkeys(run["init"] for run in summary["runs"]))
    methods = list(dict.fromkeys(run["method"] for run in summary["runs"]))
    colours = dict(zip(methods, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    fig, axes = plt.subplots(
        len(inits), 2, figsize=(12, 4.2 * len(inits)), squeeze=False, layout="constrained"
    )
    for row, init in enumerate(inits):
        for method in methods:
            runs = groups.get((init, method), [])
            if not runs:
                continue
            length = min(len(r["step_loss"]) for r in runs)
            losses = np.array([r["step_loss"][:length] for r in runs])
            seconds = np.mean([_cumulative_seconds(r)[:length] for r in runs], axis=0)
            steps = np.arange(1, length + 1)
            for col, x in enumerate((steps, seconds)):
                ax = axes[row][col]
                ax.plot(x, losses.mean(0), label=method, color=colours[method], lw=1.2)
                ax.fill_between(x, losses.min(0), losses.max(0), color=colours[method], alpha=0.2)
        axes[row][0].set_title(f"init = {init}: loss per step")
        axes[row][1].set_title(f"init = {init}: loss against training time")
        axes[row][0].set_xlabel("step")
        axes[row][1].set_xlabel("seconds of training steps (first, compiling step excluded)")
        for ax in axes[row]:
            ax.set_ylabel("loss (-SI-SNR, dB)")
            ax.grid(alpha=0.3)
        axes[row][0].legend(fontsize=8)
    seeds = len({run["seed"] for run in summary["runs"]})
    fig.suptitle(
        f"framebank compare ({summary.get('backend', '?')}): mean over {seeds} seed(s), "
        "shaded: min-max over seeds"
    )
    _save_figure(fig, path)
    plt.close(fig)


def plot_memory(summary: dict, path: Path) -> None:
    """Peak training memory per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    memory = summary.get("memory", {})
    methods = list(memory)
    values = [memory[m]["peak_mb"] for m in methods]
    # The range over the repeated processes (none for a single one).
    low = [v - memory[m].get("peak_mb_min", v) for m, v in zip(methods, values, strict=True)]
    high = [memory[m].get("peak_mb_max", v) - v for m, v in zip(methods, values, strict=True)]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(methods, values, color="tab:blue", yerr=[low, high], capsize=4)
    if methods:
        output_mb = memory[methods[0]]["encoder_output_mb"]
        label = f"encoder output ({output_mb:.1f} MB)"
        ax.axhline(output_mb, color="k", ls="--", lw=1, label=label)
        ax.legend(fontsize=8)
        repeats = memory[methods[0]].get("repeats", 1)
        ax.set_title(
            f"{memory[methods[0]]['measure']} of {summary['config']['memory_steps']} training "
            f"steps, {memory[methods[0]]['device']}: median and range of {repeats} processes",
            fontsize=9,
        )
    ax.set_ylabel("MB above the same process before the steps")
    ax.tick_params(axis="x", labelrotation=20)
    _save_figure(fig, path)
    plt.close(fig)


def _stats(summary: dict) -> dict:
    """The numbers REPORT.md and the printed summary are made of."""
    groups = _group(summary["runs"])
    memory = summary.get("memory", {})
    rows = []
    for (init, method), runs in groups.items():
        finals = [r["valid_si_snr"][-1] for r in runs]
        step_ms = np.median([np.median(r["step_seconds"][1:] or r["step_seconds"]) for r in runs])
        rows.append(
            {
                "init": init,
                "method": method,
                "seeds": len(runs),
                "final_mean": float(np.mean(finals)),
                "final_std": float(np.std(finals)),
                "initial_std": float(np.mean([r["initial_kernel_std"] for r in runs])),
                "step_ms": float(step_ms) * 1e3,
                "peak_mb": memory.get(method, {}).get("peak_mb", float("nan")),
                "peak_min": memory.get(method, {}).get("peak_mb_min", float("nan")),
                "peak_max": memory.get(method, {}).get("peak_mb_max", float("nan")),
                "repeats": memory.get(method, {}).get("repeats", 1),
                "steady_mb": _number(memory.get(method, {}).get("steady_peak_mb")),
            }
        )
    # How close the methods' curves are, seed by seed, within one initialisation.
    spread = {}
    for init in dict.fromkeys(r["init"] for r in summary["runs"]):
        worst_loss, worst_final = 0.0, 0.0
        for seed in {r["seed"] for r in summary["runs"]}:
            same = [r for r in summary["runs"] if r["init"] == init and r["seed"] == seed]
            if len(same) < 2:
                continue
            length = min(len(r["step_loss"]) for r in same)
            losses = np.array([r["step_loss"][:length] for r in same])
            finals = np.array([r["valid_si_snr"][-1] for r in same])
            worst_loss = max(worst_loss, float(np.max(losses.max(0) - losses.min(0))))
            worst_final = max(worst_final, float(finals.max() - finals.min()))
        spread[init] = {"max_loss_gap_db": worst_loss, "max_final_gap_db": worst_final}
    return {"rows": rows, "spread": spread}


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _range(row: dict) -> str:
    if row["repeats"] < 2 or not np.isfinite(row["peak_min"]):
        return ""
    return f"{row['peak_min']:.1f}-{row['peak_max']:.1f}"


def context_text(memory: dict) -> str:
    """What the memory figures depend on, in one paragraph (from the measurements' JSON)."""
    first = next(iter(memory.values()), {})
    context = first.get("context")
    if not context:
        return ""
    env = ", ".join(f"{k}={v}" for k, v in context.get("env", {}).items()) or "none"
    differ = any(m.get("contexts_differ") for m in memory.values())
    text = (
        f"Measured on {context['cpu']} ({context['cpus']} CPUs; instruction sets "
        f"{' '.join(context['isa']) or 'none listed'}), {context['backend']} with "
        f"{context['kernel_library']}, Keras {context['keras']}, allocator "
        f"{context['allocator']}, peak reset by {context['peak_reset']}; settings: {env}."
        + (" The processes' contexts differed (see memory.json)." if differ else "")
    )
    retained = [m.get("retained_mb") for m in memory.values()]
    if None not in retained and all(
        m["peak_mb"] - m["retained_mb"] < 0.1 * m["peak_mb"] for m in memory.values()
    ):
        text += (
            " **Check these figures**: every method's peak is within 10% of the memory its "
            "steps left resident, as if this kernel did not track the peak (VmHWM); the "
            "step's transient tensors may be missing (benchmarks/compare_memory.md)."
        )
    return text


def summary_text(summary: dict) -> str:
    """A short table for the terminal."""
    stats = _stats(summary)
    lines = [
        f"{'init':<22}{'method':<16}{'valid SI-SNR dB':>18}{'step ms':>10}{'peak MB':>10}"
        f"{'range':>14}",
    ]
    for row in stats["rows"]:
        lines.append(
            f"{row['init']:<22}{row['method']:<16}"
            f"{row['final_mean']:>11.2f} ± {row['final_std']:<4.2f}"
            f"{row['step_ms']:>10.1f}{row['peak_mb']:>10.1f}"
            f"{_range(row):>14}"
        )
    for init, gap in stats["spread"].items():
        lines.append(
            f"{init}: methods' losses differ by at most {gap['max_loss_gap_db']:.2g} dB at any "
            f"step (same seed); final SI-SNR by at most {gap['max_final_gap_db']:.2g} dB"
        )
    lines.append(f"wall time {summary.get('wall_seconds', 0):.0f} s")
    return "\n".join(lines)


def data_text(summary: dict) -> str:
    """The data a compare run trained and validated on, in one sentence."""
    config, data = summary["config"], summary["data"]
    return (
        f"Data: {data['files_loaded']} files ({data['seconds_loaded']} s; "
        f"{data['files_skipped']} skipped) from {data['source']}, "
        f"{data['train_chunks']} training and {data['valid_chunks']} "
        f"validation chunks of {data['chunk_samples']} samples at "
        f"{config['sample_rate']} Hz, white noise at {config['snr_db']} dB SNR (the noisy "
        f"input itself scores {data.get('valid_input_si_snr_db', float('nan')):.2f} "
        "dB SI-SNR on the validation chunks: a model must beat that to help)."
    )


# long: REPORT.md's sections in reading order, each one formatted block of the typed results
def write_report(summary: dict, path: Path) -> None:
    """REPORT.md: the table, and the answer in plain words from this run's numbers."""
    stats = _stats(summary)
    config = summary["config"]
    memory = summary.get("memory", {})
    device = next(iter(memory.values()), {}).get("device", "unknown device")
    rows = stats["rows"]
    by = {(r["init"], r["method"]): r for r in rows}
    lines = [
        "# framebank compare: one basis, five execution methods",
        "",
        f"Backend **{summary.get('backend')}**, measured on **{device}**. " + data_text(summary),
        f"Model: Encoder(num_basis={config['num_basis']}, frame_len={config['frame_len']}, "
        f"hop={config['hop']}, method=...) -> ReLU -> Decoder(kind='free', method='matmul'); "
        f"loss -SI-SNR; Adam {config['learning_rate']}, batch {config['batch_size']}, "
        f"{config['epochs']} epochs, seeds {config['seeds']}. Wall time "
        f"{summary.get('wall_seconds', 0):.0f} s.",
        "",
        "| init | method | valid SI-SNR (dB), mean ± sd over seeds | initial kernel std | "
        "median step (ms) | peak training memory (MB), median | its range over processes | "
        "a later step's peak (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['init']} | {r['method']} | {r['final_mean']:.2f} ± {r['final_std']:.2f} | "
            f"{r['initial_std']:.4f} | {r['step_ms']:.1f} | {r['peak_mb']:.1f} | "
            f"{_range(r) or 'one process'} | {r['steady_mb']:.1f} |"
        )
    lines += ["", "![convergence](convergence.png)", "", "![memory](memory.png)", ""]
    lines += ["## Answers", ""]
    shared = stats["spread"].get("basis_glorot_uniform")
    if shared:
        lines.append(
            "**Under the shared initialisation (`basis_glorot_uniform`) the methods' curves "
            f"coincide**: with the same seed, their training losses differ by at most "
            f"{shared['max_loss_gap_db']:.2g} dB at any step and their final validation SI-SNR "
            f"by at most {shared['max_final_gap_db']:.2g} dB. Same weights, same data order, "
            "same map: only float rounding (different kernels sum in different orders) separates "
            "them."
        )
        lines.append("")
    default = stats["spread"].get("keras_default")
    m1, dense = by.get(("keras_default", "reshape_conv")), by.get(("keras_default", "dense"))
    if default and m1 and dense:
        ratio = m1["initial_std"] / dense["initial_std"]
        length, count = config["frame_len"], config["num_basis"]
        expected = float(np.sqrt((length + count) / (length + length * count)))
        lines.append(
            "**Under each layer's own Keras default (`keras_default`) Method 1 starts "
            f"different**: its initial kernel std is {m1['initial_std']:.4f} against Dense's "
            f"{dense['initial_std']:.4f}, a ratio of {ratio:.3f} (Keras's fan-out rule predicts "
            f"sqrt((L+N)/(L+L*N)) = {expected:.3f}: a Conv1D of kernel L on one channel counts "
            "fan-out as filters x kernel_size). Its final SI-SNR is "
            f"{m1['final_mean']:.2f} dB against Dense's {dense['final_mean']:.2f} dB, and the "
            f"methods' losses differ by up to {default['max_loss_gap_db']:.2g} dB at a step. "
            "The difference is the initial scale, not the method: under the shared "
            "initialisation above the same methods coincide."
        )
        lines.append("")
    data_ms = [np.median(r.get("step_data_seconds") or [np.nan]) * 1e3 for r in summary["runs"]]
    if rows and np.isfinite(np.nanmedian(data_ms)):
        step_ms = np.median([r["step_ms"] for r in rows])
        lines.append(
            f"**Input pipeline**: making a batch (numpy indexing and noise mixing, no "
            f"TensorFlow) takes {np.nanmedian(data_ms):.2f} ms, "
            f"{np.nanmedian(data_ms) / (np.nanmedian(data_ms) + step_ms):.1%} of a step "
            f"({step_ms:.1f} ms training step, median over methods). It runs before each step, "
            "not beside it, so it adds that share to the wall time but never to the step times "
            "compared above."
        )
        lines.append("")
    if memory and rows:
        shared_rows = [r for r in rows if r["init"] == rows[0]["init"]]
        fastest = min(shared_rows, key=lambda r: r["step_ms"])
        parts = [
            f"`{r['method']}` {r['step_ms']:.1f} ms ({r['step_ms'] / fastest['step_ms']:.2f}x), "
            f"{r['peak_mb']:.1f} MB"
            for r in sorted(shared_rows, key=lambda r: r["step_ms"])
        ]
        lines.append(
            f"**Cost here** ({device}, median training step; peak memory of "
            f"{config['memory_steps']} steps in a fresh process, above the same process before "
            f"them, median of {shared_rows[0]['repeats']} processes): " + "; ".join(parts) + ". "
            "These are one run's numbers on a shared machine; `benchmarks/` measures speed and "
            "memory properly."
        )
        lines += [
            "",
            "The peak training memory includes what the first step adds once (tracing the "
            "training function, the optimizer's slots, the kernels' code pages: tens of MB, "
            "about the same for every method); the last column is the peak of the later "
            "steps above the memory after the first, what a step itself needs.",
        ]
        context = context_text(memory)
        if context:
            lines += ["", context]
    io.write_text(path, "\n".join(lines) + "\n")


def write_all(summary: dict, out: Path) -> None:
    write_csv(summary, out / "results.csv")
    plot_convergence(summary, out / "convergence.png")
    plot_memory(summary, out / "memory.png")
    write_report(summary, out / "REPORT.md")
