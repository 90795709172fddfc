"""Recipe 2's results folder: CSV, confusion matrices, filter centres, REPORT.md."""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path

import numpy as np

from framebank.training import io
from framebank.training.report import _save_figure

__all__ = ["write_all", "summary_text"]


def _rows(summary: dict) -> list[dict]:
    rows = []
    for run in summary["runs"]:
        for snr, entry in run["evaluation"].items():
            rows.append(
                {
                    "frontend": run["frontend"],
                    "seed": run["seed"],
                    "snr_db": snr,
                    "accuracy": entry["accuracy"],
                    "interval95": entry["interval95"],
                    "en_vs_es": entry.get("en_vs_es_accuracy", float("nan")),
                    "en_vs_es_interval95": entry.get("en_vs_es_interval95", float("nan")),
                    "parameters": run["parameters"],
                    "train_seconds": sum(run["epoch_seconds"]),
                }
            )
    return rows


def write_csv(summary: dict, path: Path) -> None:
    rows = _rows(summary)
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    io.write_text(path, buffer.getvalue())


def plot_confusion(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    languages = summary["config"]["languages"]
    first_seed = summary["runs"][0]["seed"]
    snrs = list(dict.fromkeys(r["snr_db"] for r in summary["runs"]))
    frontends = list(dict.fromkeys(r["frontend"] for r in summary["runs"]))
    fig, axes = plt.subplots(
        len(snrs),
        len(frontends),
        figsize=(3.4 * len(frontends), 3.4 * len(snrs)),
        squeeze=False,
        layout="constrained",
    )
    for run in summary["runs"]:
        if run["seed"] != first_seed:
            continue
        ax = axes[snrs.index(run["snr_db"])][frontends.index(run["frontend"])]
        snr = f"{run['snr_db']:g}"
        confusion = np.asarray(run["evaluation"][snr]["confusion"], "float64")
        share = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
        ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
        for i in range(len(languages)):
            for j in range(len(languages)):
                ax.text(
                    j,
                    i,
                    f"{share[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if share[i, j] > 0.5 else "black",
                )
        ax.set_xticks(range(len(languages)), languages)
        ax.set_yticks(range(len(languages)), languages)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{run['frontend']}, {snr} dB: {run['evaluation'][snr]['accuracy']:.1%}")
    fig.suptitle("held-out confusion, trained and tested at each SNR (rows sum to 1)")
    _save_figure(fig, path)
    plt.close(fig)


def plot_centres(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [
        r
        for r in summary["runs"]
        if r["learned_centres_hz"] and r["seed"] == summary["runs"][0]["seed"]
    ]
    fig, axes = plt.subplots(
        1, max(1, len(runs)), figsize=(4.5 * max(1, len(runs)), 4), squeeze=False
    )
    for ax, run in zip(axes[0], runs, strict=False):
        initial = np.asarray(run["initial_centres_hz"])
        learned = np.asarray(run["learned_centres_hz"])
        order = np.argsort(initial)
        ax.plot(initial[order], "o", ms=3, label="initial", color="tab:gray")
        ax.plot(learned[order], "x", ms=4, label="learned", color="tab:red")
        ax.set_xlabel("filter (sorted by initial centre)")
        ax.set_ylabel("centre frequency (Hz)")
        ax.set_title(f"{run['frontend']} (trained at {run['snr_db']:g} dB)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("learned filters' centre frequencies against their initial placement")
    _save_figure(fig, path)
    plt.close(fig)


def summary_text(summary: dict) -> str:
    lines = [f"{'frontend':<10}{'seed':>5}{'SNR dB':>8}{'accuracy':>16}{'en vs es':>16}"]
    for row in _rows(summary):
        lines.append(
            f"{row['frontend']:<10}{row['seed']:>5}{row['snr_db']:>8}"
            f"{row['accuracy']:>9.1%} ±{row['interval95']:.1%}"
            f"{row['en_vs_es']:>9.1%} ±{row['en_vs_es_interval95']:.1%}"
        )
    lines.append(f"wall time {summary.get('wall_seconds', 0):.0f} s")
    return "\n".join(lines)


def write_report(summary: dict, path: Path) -> None:
    config, data = summary["config"], summary["data"]
    chance = 1 / len(config["languages"])
    lines = [
        "# framebank train: spoken-language identification",
        "",
        f"Backend **{summary['backend']}**. {data['train_chunks']} training and "
        f"{data['test_chunks']} held-out chunks of {config['chunk_seconds']} s at "
        f"{config['sample_rate']} Hz ({', '.join(config['languages'])}; chance "
        f"{chance:.0%}), white noise at each SNR in {config['snr_db']} dB, in training and "
        "test alike; split by prompt "
        f"name, so no prompt is in two splits. Front ends: {config['frame_len']}-sample frames, "
        f"hop {config['hop']}, {config['num_filters']} filters, method `{config['method']}`; "
        f"classifier: two Conv1D(64) + global average pooling; {config['epochs']} epochs, "
        f"Adam {config['learning_rate']}, batch {config['batch_size']}. Wall time "
        f"{summary.get('wall_seconds', 0):.0f} s.",
        "",
        "| front end | seed | test SNR (dB) | accuracy ± 95% | en vs es ± 95% | front-end "
        "parameters |",
        "|---|---|---|---|---|---|",
    ]
    for row in _rows(summary):
        lines.append(
            f"| {row['frontend']} | {row['seed']} | {row['snr_db']} | {row['accuracy']:.1%} ± "
            f"{row['interval95']:.1%} | {row['en_vs_es']:.1%} ± {row['en_vs_es_interval95']:.1%} "
            f"| {row['parameters']} |"
        )
    lines += [
        "",
        "en and es are read by the same voice artist (Allison Smith): the en-vs-es column is the "
        "two-way decision between them on en and es chunks, where speaker identity cannot help.",
        "",
        "![confusion](confusion.png)",
        "",
        "![centres](centres.png)",
        "",
        "Each learnable run's filters (responses, centres and -3 dB bandwidths, learned "
        "against initial, as `framebank inspect` writes them) are in "
        "`runs/<run>/inspection/`.",
    ]
    io.write_text(path, "\n".join(lines) + "\n")


def write_all(summary: dict, out: Path) -> None:
    write_csv(summary, out / "results.csv")
    plot_confusion(summary, out / "confusion.png")
    plot_centres(summary, out / "centres.png")
    write_report(summary, out / "REPORT.md")
