"""Recipe 3's results folder (a folder of classes): the language-ID study's CSV, figures and
paired comparison, and a REPORT.md that states the split and the files and clips per class."""

from __future__ import annotations

from pathlib import Path

from framebank.training import io
from framebank.training import report_language_id as language_id_report
from framebank.training.report_language_id import (
    _comparison_lines,
    _diagnostic_lines,
    _rows,
    summary_text,
)

__all__ = ["summary_text", "write_all", "write_report"]


def _noise(snr_db: list[float]) -> str:
    named = ["none (the audio as it is)" if s == float("inf") else f"{s:g} dB" for s in snr_db]
    return ", ".join(named)


def _class_lines(data: dict) -> list[str]:
    splits = [
        s
        for s in ("train", "valid", "test")
        if f"{s}_files" in next(iter(data["per_class"].values()))
    ]
    head = " | ".join(f"{s} files | {s} clips" for s in splits)
    lines = [f"| class | {head} |", "|---|" + "---|" * (2 * len(splits))]
    for name, counts in data["per_class"].items():
        cells = " | ".join(f"{counts[f'{s}_files']} | {counts[f'{s}_clips']}" for s in splits)
        lines.append(f"| {name} | {cells} |")
    return lines


# long: REPORT.md's sections in reading order, each one formatted block of the typed results
def write_report(summary: dict, path: Path) -> None:
    """REPORT.md: what was used (split, files and clips per class), then the comparison."""
    config, data = summary["config"], summary["data"]
    split = data["split"]
    by = (
        "by group (the labels' `group` column: no group is in two splits)"
        if split["by"] == "group"
        else "by file (every clip of a file is in the file's split)"
    )
    lines = [
        "# framebank train: classify a folder",
        "",
        f"Backend **{summary['backend']}**. {len(config['languages'])} classes "
        f"({', '.join(config['languages'])}; chance {1 / len(config['languages']):.0%}) from "
        f"{data['source']}: {data['files_loaded']} files read ({data['files_skipped']} "
        f"unreadable skipped, {len(data.get('files_without_clips', []))} silent or shorter "
        "than a clip left out before the split), cut into "
        f"{config['chunk_seconds']} s clips at {config['sample_rate']} Hz. "
        f"Split {by}, seed {split['seed']}, {split['test_fraction']:.0%} of each class's "
        "files tested"
        + (
            f", {split['validation_fraction']:.0%} of the training ones held out to choose "
            "the epoch"
            if split["validation_fraction"]
            else ", the last epoch tested"
        )
        + f". Noise: {_noise(config['snr_db'])}. Front ends: {config['frame_len']}-sample "
        f"windows, hop {config['hop']}, {config['num_filters']} filters; classifier: two "
        f"Conv1D(64) + global average pooling; {config['epochs']} epoch(s), Adam "
        f"{config['learning_rate']}, batch {config['batch_size']}, seeds {config['seeds']}. "
        f"Wall time {summary.get('wall_seconds', 0):.0f} s.",
        "",
        *([f"Command: `{summary['command']}`", ""] if summary.get("command") else []),
        "## Files and clips per class",
        "",
        *_class_lines(data),
        "",
        "## Front ends",
        "",
        *_comparison_lines(summary, goal=False),
        "",
        *_diagnostic_lines(summary),
        "## Every run",
        "",
        "| front end | seed | accuracy ± 95% | epoch tested | front-end parameters "
        "(trainable) | model |",
        "|---|---|---|---|---|---|",
    ]
    for row, run in zip(_rows(summary), summary["runs"], strict=True):
        folder = f"runs/snr{run['snr_db']:g}__{run['frontend']}__seed{run['seed']}"
        lines.append(
            f"| {row['frontend']} | {row['seed']} | {row['accuracy']:.1%} ± "
            f"{row['interval95']:.1%} | {row['chosen_epoch']} | {row['parameters']} "
            f"({row['trainable_parameters']}) | `{folder}/model.keras` |"
        )
    lines += [
        "",
        "Each run's folder holds the trained classifier (`model.keras`) and its front end "
        "alone (`frontend.keras`): `keras.models.load_model` (with framebank imported), "
        "`framebank stream frontend.keras in.wav out.npy` and `framebank inspect` read them.",
        "",
        "![confusion](confusion.png)",
        "",
        "![centres](centres.png)",
    ]
    io.write_text(path, "\n".join(lines) + "\n")


def write_all(summary: dict, out: Path) -> None:
    """results.csv, confusion.png, centres.png and REPORT.md (adds the comparisons)."""
    language_id_report.write_all(summary, out, report=write_report)
