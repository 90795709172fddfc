"""The compare recipe's family study: statistics, CSV, plot and REPORT.md.

The score is the **SI-SNR improvement**: the SI-SNR of the model's output minus that of
the noisy input, on the same validation chunk. Each family is summarised over seeds (mean
and sample standard deviation of the final improvement) and compared with the reference
family chunk by chunk: the per-chunk improvements are averaged over seeds, and a paired
bootstrap over chunks (:func:`framebank.training.stats.paired_bootstrap`) gives the mean
difference, its 95% interval and a two-sided p-value.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from framebank.training import io
from framebank.training.report import _save_figure, data_text, epoch_columns
from framebank.training.stats import paired_bootstrap, verdict

__all__ = ["family_stats", "summary_text", "write_csv", "plot_families", "write_all"]

RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def _families(summary: dict) -> dict[str, list[dict]]:
    """Runs by family label, in the config's order, each family's runs by seed."""
    groups: dict[str, list[dict]] = {}
    for run in summary["runs"]:
        groups.setdefault(run["family"], []).append(run)
    return {name: sorted(runs, key=lambda r: r["seed"]) for name, runs in groups.items()}


def _per_chunk_improvement(run: dict, input_scores: np.ndarray) -> np.ndarray:
    """``[chunks]``: the run's final SI-SNR minus the noisy input's, chunk by chunk."""
    scores = np.asarray(run["valid_si_snr_per_chunk"], "float64")
    if scores.shape != input_scores.shape:
        raise ValueError(
            f"run {run['family']} seed {run['seed']} holds {scores.size} per-chunk scores for "
            f"{input_scores.size} validation chunks: they cannot be paired"
        )
    return scores - input_scores


def _compare(a: np.ndarray, b: np.ndarray) -> dict:
    result = paired_bootstrap(a, b, resamples=RESAMPLES, seed=BOOTSTRAP_SEED, confidence=CONFIDENCE)
    return {**result, "verdict": verdict(result["low"], result["high"])}


def _family(row: dict) -> Any:
    """The registered filterbank class a row ran (None for a family not registered here)."""
    from framebank.filterbanks import FILTERBANKS

    return FILTERBANKS.get(row["filterbank"])


def _free_learned(rows: list[dict], pairs: bool) -> dict | None:
    """The first row of a randomly initialised family (complex pairs, i.e. analytic, or not)
    under a free decoder: the two sides of Pariente et al.'s comparison."""
    return next(
        (
            r
            for r in rows
            if r["decoder"] == "free"
            and getattr(_family(r), "random_init", False)
            and _family(r).complex_pairs == pairs
        ),
        None,
    )


def _family_row(name: str, runs: list[dict], finals: np.ndarray, curves: np.ndarray) -> dict:
    """One family's row: what it is, its improvement per seed and its mean curve (dB)."""
    first = runs[0]
    return {
        "family": name,
        "filterbank": first["filterbank"],
        "decoder": first["decoder"],
        "encoder_trainable": first["encoder_trainable"],
        "learnable_parameters": first["learnable_parameters"],
        "encoder_basis_change": float(
            np.mean([r.get("encoder_basis_change", np.nan) for r in runs])
        ),
        "seeds": [r["seed"] for r in runs],
        "improvement_per_seed_db": [float(v) for v in finals],
        "improvement_mean_db": float(finals.mean()),
        "improvement_sd_db": float(finals.std(ddof=1)) if len(finals) > 1 else None,
        "curve_mean_db": [float(v) for v in curves.mean(0)],
        "curve_min_db": [float(v) for v in curves.min(0)],
        "curve_max_db": [float(v) for v in curves.max(0)],
    }


def _add_reference_comparisons(
    rows: list[dict], groups: dict, chunk_means: dict, reference: str
) -> None:
    """Set each row's ``vs_reference``: the paired comparison and the seeds it came out ahead."""
    reference_finals = {}
    if reference in groups:
        reference_finals = dict(
            zip(
                (r["seed"] for r in groups[reference]),
                next(r for r in rows if r["family"] == reference)["improvement_per_seed_db"],
                strict=True,
            )
        )
    for row in rows:
        if row["family"] == reference or reference not in chunk_means:
            row["vs_reference"] = None
            continue
        row["vs_reference"] = _compare(chunk_means[row["family"]], chunk_means[reference])
        # The same seed on both sides: in how many seeds the family came out ahead.
        pairs = [
            (value, reference_finals[seed])
            for seed, value in zip(row["seeds"], row["improvement_per_seed_db"], strict=True)
            if seed in reference_finals
        ]
        row["vs_reference"]["seeds_better"] = sum(a > b for a, b in pairs)
        row["vs_reference"]["seeds_paired"] = len(pairs)


def family_stats(summary: dict) -> dict:
    """Per family: parameters, the improvement per seed, its mean and sd, the per-epoch
    curve, and the paired comparison with the reference; plus analytic against free when
    both ran (the claim of Pariente et al. 2020)."""
    input_scores = np.asarray(summary["data"]["valid_input_si_snr_per_chunk"], "float64")
    input_mean = float(np.mean(input_scores))
    reference = summary["config"]["reference"]
    groups = _families(summary)
    chunk_means: dict[str, np.ndarray] = {}
    rows = []
    for name, runs in groups.items():
        per_chunk = np.array([_per_chunk_improvement(r, input_scores) for r in runs])
        chunk_means[name] = per_chunk.mean(axis=0)
        finals = per_chunk.mean(axis=1)  # one improvement a seed
        epochs = min(len(r["valid_si_snr"]) for r in runs)
        curves = np.array([r["valid_si_snr"][:epochs] for r in runs]) - input_mean
        rows.append(_family_row(name, runs, finals, curves))
    _add_reference_comparisons(rows, groups, chunk_means, reference)
    analytic, free = _free_learned(rows, pairs=True), _free_learned(rows, pairs=False)
    analytic_vs_free = None
    if analytic and free:
        analytic_vs_free = {
            "analytic": analytic["family"],
            "free": free["family"],
            **_compare(chunk_means[analytic["family"]], chunk_means[free["family"]]),
        }
    return {
        "reference": reference,
        "chunks": int(input_scores.size),
        "input_si_snr_db": input_mean,
        "resamples": RESAMPLES,
        "bootstrap_seed": BOOTSTRAP_SEED,
        "confidence": CONFIDENCE,
        "rows": rows,
        "analytic_vs_free": analytic_vs_free,
    }


def _stats(summary: dict) -> dict:
    return summary.get("families") or family_stats(summary)


def _mean_sd(row: dict) -> str:
    sd = row["improvement_sd_db"]
    return f"{row['improvement_mean_db']:.2f}" + (f" ± {sd:.2f}" if sd is not None else "")


def _parameters(row: dict) -> str:
    counts = row["learnable_parameters"]
    encoder = f"{counts['encoder']}" + ("" if row["encoder_trainable"] else " (fixed)")
    return f"{encoder} + {counts['decoder']} = {counts['total']}"


def _p_floor() -> str:
    """The smallest p the bootstrap resolves, ``2 / resamples``, as text (``2e-4``)."""
    return f"{2.0 / RESAMPLES:.0e}".replace("e-0", "e-")


def _p(p: float) -> str:
    if p <= 2.0 / (RESAMPLES + 1):
        # No resampled mean fell on the other side of 0: the least this bootstrap can say.
        return f"< {_p_floor()}"
    return f"{p:.4f}" if p >= 1e-3 else f"{p:.1e}"


def _p_equation(p: float) -> str:
    """``= 0.0312`` or ``< 2e-4``: the p-value after a ``p``."""
    text = _p(p)
    return text if text.startswith("<") else f"= {text}"


def _difference(comparison: dict | None) -> str:
    if comparison is None:
        return "(reference)"
    return (
        f"{comparison['mean_difference']:+.2f} "
        f"[{comparison['low']:+.2f}, {comparison['high']:+.2f}]"
    )


def write_csv(summary: dict, path: Path) -> None:
    """One row per (run, epoch): the validation SI-SNR and its improvement over the input."""
    input_mean = float(np.mean(summary["data"]["valid_input_si_snr_per_chunk"]))
    header = [
        "family",
        "filterbank",
        "decoder",
        "encoder_trainable",
        "learnable_parameters",
        "seed",
        "epoch",
        "steps",
        "train_loss",
        "valid_si_snr_db",
        "valid_si_snr_improvement_db",
    ]
    io.write_csv(path, header, _csv_rows(summary["runs"], input_mean))


def _csv_rows(runs: list[dict], input_mean: float) -> Iterable[list]:
    for run in runs:
        for epoch, (_, columns) in enumerate(epoch_columns(run)):
            yield [
                run["family"],
                run["filterbank"],
                run["decoder"],
                run["encoder_trainable"],
                run["learnable_parameters"]["total"],
                run["seed"],
                *columns,
                f"{run['valid_si_snr'][epoch] - input_mean:.4f}",
            ]


def plot_families(summary: dict, path: Path) -> None:
    """Validation SI-SNR improvement per epoch, one line a family (mean over seeds), the
    seeds' min-max shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    stats = _stats(summary)
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, row in enumerate(stats["rows"]):
        colour = colours[index % len(colours)]
        epochs = np.arange(1, len(row["curve_mean_db"]) + 1)
        ax.plot(epochs, row["curve_mean_db"], marker="o", ms=3, lw=1.3, color=colour)
        ax.fill_between(epochs, row["curve_min_db"], row["curve_max_db"], color=colour, alpha=0.2)
        ax.annotate(
            row["family"],
            (epochs[-1], row["curve_mean_db"][-1]),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color=colour,
        )
        ax.plot([], [], color=colour, label=row["family"])
    ax.axhline(0.0, color="k", ls="--", lw=1, label="the noisy input")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation SI-SNR improvement (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    seeds = len(stats["rows"][0]["seeds"]) if stats["rows"] else 0
    ax.set_title(
        f"framebank compare, filterbank families ({summary.get('backend', '?')}): "
        f"mean over {seeds} seed(s), shaded: min-max",
        fontsize=9,
    )
    _save_figure(fig, path)
    plt.close(fig)


def summary_text(summary: dict) -> str:
    """A short table for the terminal."""
    stats = _stats(summary)
    lines = [
        f"{'family':<16}{'decoder':<9}{'params':>8}{'SI-SNR improvement dB':>24}"
        f"{'vs ' + stats['reference'] + ' [95%]':>26}{'p':>9}  verdict"
    ]
    for row in stats["rows"]:
        comparison = row["vs_reference"]
        lines.append(
            f"{row['family']:<16}{row['decoder']:<9}{row['learnable_parameters']['total']:>8}"
            f"{_mean_sd(row):>24}{_difference(comparison):>26}"
            f"{_p(comparison['p_value']) if comparison else '':>9}  "
            f"{comparison['verdict'] if comparison else ''}"
        )
    lines.append(f"wall time {summary.get('wall_seconds', 0):.0f} s")
    return "\n".join(lines)


def _fixed_text(rows: list[dict], config: dict) -> str:
    fixed = [r for r in rows if not r["encoder_trainable"]]
    if not fixed:
        return ""
    names = ", ".join(f"`{r['family']}`" for r in fixed)
    nothing = [f"`{r['family']}`" for r in fixed if r["learnable_parameters"]["total"] == 0]
    subject = (
        "the encoders of {} do not train: each keeps"
        if len(fixed) > 1
        else ("the encoder of {} does not train: it keeps")
    )
    dft = ""
    if any(getattr(_family(r), "dft_basis", False) for r in fixed):
        dft = (
            f" (for `fourier`, a periodic-Hann-windowed DFT of {config['frame_len']} samples "
            f"zero-padded to {config['num_basis'] - 2} points: {config['num_basis']} "
            "coefficients, the real parts then the imaginary parts)"
        )
    text = (
        f"**Fixed encoders**: {subject.format(names)} its filterbank's initial basis{dft}. "
        "A free decoder after it still trains."
    )
    if nothing:
        text += (
            f" With nothing learnable at all, {', '.join(nothing)} is a fixed transform, the "
            "ReLU (which zeroes every negative real and imaginary part) and the transform's "
            "pseudo-inverse: its training steps only record the loss, and its score is what "
            "that ReLU costs."
        )
    return text


# long: REPORT.md's sections in reading order, each one formatted block of the typed results
def write_report(summary: dict, path: Path) -> None:
    """REPORT.md: the family table, the curves, and the answers from this run's numbers."""
    stats = _stats(summary)
    config = summary["config"]
    rows = stats["rows"]
    reference = stats["reference"]
    seeds = config["seeds"]
    lines = [
        "# framebank compare: filterbank families",
        "",
        f"Backend **{summary.get('backend')}**. " + data_text(summary),
        f"Model: Encoder(filterbank=FAMILY, num_basis={config['num_basis']}, "
        f"frame_len={config['frame_len']}, hop={config['hop']}, method='{config['methods'][0]}', "
        f"initialiser {config['inits'][0]} where the family takes one, sample_rate="
        f"{config['sample_rate']}) -> ReLU -> Decoder(kind=DECODER, method='matmul'); loss "
        f"-SI-SNR; Adam {config['learning_rate']}, batch {config['batch_size']}, "
        f"{config['epochs']} epochs of {len(summary['runs'][0]['step_loss']) // config['epochs']} "
        f"steps, seeds {seeds} (every family sees the same batches for a seed). Wall time "
        f"{summary.get('wall_seconds', 0):.0f} s.",
        "",
        f"The score is the **SI-SNR improvement**: the output's SI-SNR minus the noisy input's, "
        f"on each of the {stats['chunks']} validation chunks (the input scores "
        f"{stats['input_si_snr_db']:.2f} dB on average). *Mean ± sd*: the final epoch's "
        f"improvement averaged over the chunks, then its mean and sample standard deviation "
        f"over the {len(seeds)} seeds. *Difference*: each chunk's improvement averaged over "
        f"the seeds, minus the reference family's (`{reference}`) on the same chunk; the mean "
        f"of those differences, with the {CONFIDENCE:.0%} interval and two-sided p of a paired "
        f"bootstrap over the chunks ({RESAMPLES} resamples, seed {BOOTSTRAP_SEED}; "
        f"p < {_p_floor()} means no resample crossed 0, the least it can resolve). "
        "*Verdict*: better or worse when the interval excludes 0, else tie. The interval "
        "measures how much the difference varies between chunks, for these trained models, "
        "not between trainings: the spread over seeds is in the mean ± sd column, and *seeds "
        "ahead* counts the seeds in which the family's improvement beat the reference's "
        "(same seed, same batches). *Basis moved*: how far training moved the encoder's "
        "basis, `|B_end - B_start| / |B_start|` (Frobenius norms, mean over seeds).",
        "",
        f"| family | encoder filterbank | decoder | learnable parameters (encoder + decoder) | "
        f"basis moved | SI-SNR improvement (dB), mean ± sd over {len(seeds)} seeds | "
        f"difference vs `{reference}` (dB) [{CONFIDENCE:.0%} interval] | p | seeds ahead | "
        "verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        comparison = row["vs_reference"]
        ahead = (
            f"{comparison['seeds_better']} of {comparison['seeds_paired']}" if comparison else ""
        )
        lines.append(
            f"| {row['family']} | {row['filterbank']} | {row['decoder']} | "
            f"{_parameters(row)} | {row['encoder_basis_change']:.1%} | {_mean_sd(row)} | "
            f"{_difference(comparison)} | {_p(comparison['p_value']) if comparison else ''} | "
            f"{ahead} | {comparison['verdict'] if comparison else ''} |"
        )
    lines += ["", "![SI-SNR improvement per epoch](families.png)", "", "## Answers", ""]
    fixed = _fixed_text(rows, config)
    if fixed:
        lines += [fixed, ""]
    still = [
        f"`{r['family']}` ({r['encoder_basis_change']:.2%})"
        for r in rows
        if r["encoder_trainable"] and r["encoder_basis_change"] < 0.01
    ]
    if still:
        lines += [
            f"**Trainable, yet hardly moved**: {', '.join(still)}: "
            + ("each encoder ends" if len(still) > 1 else "the encoder ends")
            + " within 1% of its initial basis, so this study compares that initialisation "
            "more than what the family can learn (Adam moves a parameter by about the "
            f"learning rate, {config['learning_rate']}, a step, whatever its unit: a cut-off "
            "in Hz hardly moves).",
            "",
        ]
    if rows:
        best = max(rows, key=lambda r: r["improvement_mean_db"])
        ranking = ", ".join(
            f"`{r['family']}` {r['improvement_mean_db']:.2f}"
            for r in sorted(rows, key=lambda r: -r["improvement_mean_db"])
        )
        better = [r["family"] for r in rows if (r["vs_reference"] or {}).get("verdict") == "better"]
        worse = [r["family"] for r in rows if (r["vs_reference"] or {}).get("verdict") == "worse"]
        ties = [r["family"] for r in rows if (r["vs_reference"] or {}).get("verdict") == "tie"]
        lines.append(
            f"**Ranking** (mean improvement, dB): {ranking}. Against `{reference}`: "
            f"better: {', '.join(better) or 'none'}; worse: {', '.join(worse) or 'none'}; "
            f"tie: {', '.join(ties) or 'none'}."
            + (f" Best: `{best['family']}`." if best["family"] != reference else "")
        )
        lines.append("")
    check = stats["analytic_vs_free"]
    if check:
        said = (
            "**Pariente et al. (ICASSP 2020) found analytic free filters better than free ones "
            "for separation.**"
        )
        numbers = (
            f"Here `{check['analytic']}` minus `{check['free']}` is "
            f"{check['mean_difference']:+.2f} dB [{check['low']:+.2f}, {check['high']:+.2f}], "
            f"p {_p_equation(check['p_value'])}"
        )
        if check["verdict"] == "better":
            answer = "so the finding **holds here**: analytic beats free."
        elif check["verdict"] == "worse":
            answer = "so the finding **does not hold here**: free beats analytic."
        else:
            answer = (
                "so it is **not shown here**: the interval includes 0 (no difference this run "
                "can tell apart)."
            )
        lines.append(
            f"{said} {numbers}, {answer} This is a different task and model from theirs "
            f"(denoising one speaker in white noise, {config['frame_len']}-sample frames, an "
            "encoder-ReLU-decoder without a masking network, "
            f"{config['epochs']} short epochs): their result is not tested as they ran it."
        )
        lines.append("")
    io.write_text(path, "\n".join(lines) + "\n")


def write_all(summary: dict, out: Path) -> None:
    write_csv(summary, out / "results.csv")
    plot_families(summary, out / "families.png")
    write_report(summary, out / "REPORT.md")
