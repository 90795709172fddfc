"""Recipe 2's results folder: CSV, confusion matrices, filter centres, REPORT.md."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from framebank.training import io
from framebank.training.report import _save_figure

__all__ = ["compare_frontends", "write_all", "summary_text"]

GOAL_POINTS = 3.0  # the bar: a learnable front end this far above the reference


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
                    "trainable_parameters": run.get("trainable_parameters", ""),
                    "chosen_epoch": run.get("chosen_epoch", ""),
                    "train_seconds": sum(run["epoch_seconds"]),
                }
            )
    return rows


def compare_frontends(summary: dict) -> list[dict]:
    """Per front end and SNR: accuracy's mean and sd over seeds, and the paired comparison
    with the reference front end on the same test chunks (seeds both ran).

    ``difference``: mean accuracy minus the reference's (points); ``low``/``high``/``p``: a
    paired bootstrap over chunks of each chunk's share of seeds right; ``mcnemar_p``: one
    exact McNemar p-value per seed; ``verdict``: better/worse when the interval excludes 0,
    else tie; ``seeds_ahead``: in how many paired seeds it beat the reference.
    """
    from framebank.training.stats import mcnemar, paired_bootstrap, verdict

    config = summary["config"]
    reference = config.get("reference") or config["frontends"][0]
    resamples = config.get("bootstrap_resamples", 10_000)
    groups = summary["data"].get("test_clip")  # a recording's chunks are resampled together
    runs: dict[tuple[str, str], dict[int, dict]] = {}
    for run in summary["runs"]:
        snr = f"{run['snr_db']:g}"
        runs.setdefault((run["frontend"], snr), {})[run["seed"]] = run["evaluation"][snr]
    rows = []
    for (frontend, snr), by_seed in runs.items():
        accuracies = np.array([e["accuracy"] for e in by_seed.values()])
        row = {
            "frontend": frontend,
            "snr_db": snr,
            "seeds": len(by_seed),
            "mean": float(accuracies.mean()),
            "sd": float(accuracies.std(ddof=1)) if len(accuracies) > 1 else None,
        }
        base = runs.get((reference, snr), {})
        seeds = sorted(set(by_seed) & set(base))
        if frontend != reference and seeds:
            mine, theirs = (
                np.array([[c == "1" for c in entries[s]["correct"]] for s in seeds])
                for entries in (by_seed, base)
            )
            test = paired_bootstrap(
                mine.mean(0), theirs.mean(0), resamples=resamples, groups=groups
            )
            # The bootstrap resamples chunks, not training runs: how many seeds came out
            # ahead says whether the difference outlasts seed-to-seed spread.
            ahead = int(np.sum(mine.mean(1) > theirs.mean(1)))
            high, low = 100 * test["high"], 100 * test["low"]
            row.update(
                reference=reference,
                paired_seeds=len(seeds),
                difference=100 * test["mean_difference"],
                low=low,
                high=high,
                p=test["p_value"],
                mcnemar_p=[mcnemar(m, t)["p_value"] for m, t in zip(mine, theirs, strict=True)],
                seeds_ahead=ahead,
                verdict=verdict(low, high),
            )
        rows.append(row)
    return rows


def goal_text(comparisons: list[dict], fixed: tuple[str, ...] = ("mel", "log_mel")) -> str:
    """Whether a learnable front end met the bar: ``GOAL_POINTS`` above the reference at
    every SNR, its interval above 0."""
    snrs = sorted({r["snr_db"] for r in comparisons}, key=float, reverse=True)
    best = []
    for frontend in dict.fromkeys(r["frontend"] for r in comparisons if "difference" in r):
        if frontend in fixed:
            continue
        mine = {r["snr_db"]: r for r in comparisons if r["frontend"] == frontend}
        if all(s in mine and "difference" in mine[s] for s in snrs):
            worst = min(mine[s]["difference"] for s in snrs)
            met = all(
                mine[s]["difference"] >= GOAL_POINTS
                and mine[s]["low"] > 0
                and mine[s]["seeds_ahead"] == mine[s]["paired_seeds"]
                for s in snrs
            )
            best.append((worst, frontend, met))
    if not best:
        return "No learnable front end was paired with the reference at every SNR."
    worst, frontend, met = max(best)
    reference = next(r["reference"] for r in comparisons if "reference" in r)
    where = (
        f"at {' and '.join(snrs)} dB" if len(snrs) > 1 else f"at {snrs[0]} dB (the one SNR here)"
    )
    if any(m for _, _, m in best):
        winners = ", ".join(f for _, f, m in best if m)
        return (
            f"Goal met: {winners} {'is' if ',' not in winners else 'are'} at least "
            f"{GOAL_POINTS:g} points above {reference} {where}, the 95% interval above 0, "
            "ahead in every seed."
        )
    return (
        f"Goal not met: no learnable front end is {GOAL_POINTS:g} points above {reference} "
        f"{where} with its interval above 0 and ahead in every seed. The closest, "
        f"{frontend}, is {worst:+.1f} points" + (" at its worse SNR." if len(snrs) > 1 else ".")
    )


def write_csv(summary: dict, path: Path) -> None:
    rows = _rows(summary)
    formatted = ([f"{v:.4f}" if isinstance(v, float) else v for v in row.values()] for row in rows)
    io.write_csv(path, list(rows[0]), formatted)


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


def _sd(row: dict) -> str:
    return "n/a" if row["sd"] is None else f"{row['sd']:.1%}"


def summary_text(summary: dict) -> str:
    """The comparison table in a terminal's width: one line a front end and SNR."""
    rows = summary.get("comparisons") or compare_frontends(summary)
    lines = [f"{'front end':<18}{'SNR dB':>7}{'seeds':>6}{'accuracy':>17}   vs reference"]
    for row in sorted(rows, key=lambda r: -float(r["snr_db"])):
        versus = (
            f"{row['difference']:+.1f} [{row['low']:+.1f}, {row['high']:+.1f}] {row['verdict']}"
            if "difference" in row
            else "(reference)"
        )
        lines.append(
            f"{row['frontend']:<18}{row['snr_db']:>7}{row['seeds']:>6}"
            f"{row['mean']:>10.1%} ±{_sd(row)}   {versus}"
        )
    lines.append(f"wall time {summary.get('wall_seconds', 0):.0f} s")
    return "\n".join(lines)


def _fixed(summary: dict) -> tuple[str, ...]:
    """Front ends with nothing to learn before the classifier (log-mel, a frozen family)."""
    return tuple({run["frontend"] for run in summary["runs"] if not run["trainable_parameters"]})


def _levers(settings: dict) -> str:
    parts = [f"{k}={v}" for k, v in settings.get("options", {}).items()]
    if settings.get("frontend_lr_multiplier", 1.0) != 1.0:
        parts.append(f"front-end lr x{settings['frontend_lr_multiplier']:g}")
    if settings.get("spec_augment") is not None:
        options = settings["spec_augment"]
        parts.append("SpecAugment" + (f" {options}" if options else ""))
    return ", ".join(parts) or "-"


def _comparison_lines(summary: dict, goal: bool = True) -> list[str]:
    """The paired comparison's table (and, with ``goal``, whether the study's bar was met)."""
    rows = summary.get("comparisons") or compare_frontends(summary)
    reference = summary["config"].get("reference") or summary["config"]["frontends"][0]
    settings = {run["frontend"]: run.get("settings", {}) for run in summary["runs"]}
    lines = [
        f"Mean accuracy over seeds (± sd), and each front end against **{reference}** on the "
        "same test chunks: the difference in points with its 95% interval and p-value (a "
        "paired bootstrap of the share of seeds right per chunk, resampling whole recordings, "
        "since the chunks of one recording are not independent; "
        f"{summary['config'].get('bootstrap_resamples', 10_000)} resamples), McNemar's exact "
        "p per seed (it takes chunks as independent: optimistic), in how many seeds it beat "
        "the reference (the bootstrap resamples recordings, not training runs), and the "
        "verdict (better or worse when the interval excludes 0).",
        "",
        "| front end | levers | test SNR (dB) | seeds | accuracy (mean ± sd) | vs "
        f"{reference} (points, 95%) | p | McNemar p per seed | seeds ahead | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: -float(r["snr_db"])):
        levers = _levers(settings.get(row["frontend"], {}))
        head = (
            f"| {row['frontend']} | {levers} | {row['snr_db']} | {row['seeds']} | "
            f"{row['mean']:.1%} ± {_sd(row)} |"
        )
        if "difference" in row:
            mcnemar = ", ".join(f"{p:.2g}" for p in row["mcnemar_p"])
            lines.append(
                f"{head} {row['difference']:+.1f} [{row['low']:+.1f}, {row['high']:+.1f}] | "
                f"{row['p']:.2g} | {mcnemar} | {row['seeds_ahead']} of {row['paired_seeds']} | "
                f"{row['verdict']} |"
            )
        else:
            lines.append(f"{head} (reference) | | | | |")
    if goal:
        lines += ["", goal_text(rows, _fixed(summary))]
    return lines


def _diagnostic_lines(summary: dict) -> list[str]:
    """How far the filters moved, and the learned per-channel parameters (PCEN's, the
    pooling's), first seed of each front end and SNR."""
    lines = []
    first = summary["runs"][0]["seed"]
    for run in summary["runs"]:
        if run["seed"] != first or not run.get("trainable_parameters"):
            continue
        parts = []
        if run.get("filters_moved_hz") is not None and run.get("learned_centres_hz"):
            parts.append(f"filter centres moved {run['filters_moved_hz']:.0f} Hz (median)")
        for layer, values in run.get("learned_parameters", {}).items():
            before = run.get("initial_parameters", {}).get(layer, {})
            for name, learned in values.items():
                start = before.get(name, {}).get("mean")
                parts.append(
                    f"{layer}.{name}: {learned['mean']:.3g} [{learned['min']:.3g}, "
                    f"{learned['max']:.3g}]"
                    + (f" (initial {start:.3g})" if start is not None else "")
                )
        if parts:
            lines.append(f"- **{run['frontend']}**, {run['snr_db']:g} dB: " + "; ".join(parts))
    if not lines:
        return []
    return [
        "## What the front ends learned",
        "",
        "Seed "
        f"{first}: the median change of the filters' centre frequencies (response peak, "
        "as `framebank inspect`), and each per-channel parameter's mean [min, max] over "
        "channels after training. Per-filter and per-channel tables: "
        "`runs/<run>/inspection/`.",
        "",
        *lines,
        "",
    ]


# long: REPORT.md's sections in reading order, each one formatted block of the typed results
def write_report(summary: dict, path: Path) -> None:
    config, data = summary["config"], summary["data"]
    chance = 1 / len(config["languages"])
    valid = data.get("valid_chunks", 0)
    selection = (
        f"the epoch with the best accuracy on {valid} validation chunks (held-out training "
        "prompts) is tested"
        if valid
        else "the last epoch is tested"
    )
    lines = [
        "# framebank train: spoken-language identification",
        "",
        f"Backend **{summary['backend']}**. {data['train_chunks']} training and "
        f"{data['test_chunks']} test chunks"
        + (f" (from {data['test_recordings']} recordings)" if "test_recordings" in data else "")
        + f" of {config['chunk_seconds']} s at "
        f"{config['sample_rate']} Hz ({', '.join(config['languages'])}; chance "
        f"{chance:.0%}) from {data.get('source', 'the corpus')}, white noise at each SNR in "
        f"{config['snr_db']} dB, in training and test alike; split by prompt name, so no "
        f"prompt is in two splits. Front ends: {config['frame_len']}-sample windows, hop "
        f"{config['hop']}, {config['num_filters']} filters (method `{config['method']}`, "
        f"`{config.get('stride1_method', config['method'])}` for filters at every sample); "
        "classifier: two Conv1D(64) + global average pooling; "
        f"{config['epochs']} epochs, Adam {config['learning_rate']}, batch "
        f"{config['batch_size']}; {selection}. Seeds {config['seeds']}: every front end "
        "sees the same batches and noise. Wall time "
        f"{summary.get('wall_seconds', 0):.0f} s (this invocation; the runs' training "
        f"alone: {sum(sum(r['epoch_seconds']) for r in summary['runs']):.0f} s).",
        "",
        *([f"Command: `{summary['command']}`", ""] if summary.get("command") else []),
        *_comparison_lines(summary),
        "",
        *_diagnostic_lines(summary),
        "## Every run",
        "",
        "| front end | seed | test SNR (dB) | accuracy ± 95% | en vs es ± 95% | epoch tested "
        "| front-end parameters (trainable) | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in _rows(summary):
        lines.append(
            f"| {row['frontend']} | {row['seed']} | {row['snr_db']} | {row['accuracy']:.1%} ± "
            f"{row['interval95']:.1%} | {row['en_vs_es']:.1%} ± {row['en_vs_es_interval95']:.1%} "
            f"| {row['chosen_epoch']} | {row['parameters']} ({row['trainable_parameters']}) "
            f"| {row['train_seconds']:.0f} |"
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


def write_all(summary: dict, out: Path, report: Callable[[dict, Path], None] | None = None) -> None:
    """results.csv, confusion.png, centres.png and REPORT.md (``report``, this study's by
    default), after adding the paired comparisons to ``summary``."""
    summary["comparisons"] = compare_frontends(summary)
    write_csv(summary, out / "results.csv")
    plot_confusion(summary, out / "confusion.png")
    plot_centres(summary, out / "centres.png")
    (report or write_report)(summary, out / "REPORT.md")
