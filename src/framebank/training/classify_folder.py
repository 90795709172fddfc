"""Recipe 3: classify the user's own audio, one sub-folder per class (or a CSV of labels).

``framebank train --source DIR`` on a folder ``DIR/<class>/<files>`` (or ``--labels
FILE.csv`` with columns ``file,label[,group]``) trains the language-ID recipe's classifier
behind each front end named in ``frontends``: the classes are the sub-folders (or the
labels), files are split into training and test with a fixed seed (``split_seed``), by file
or, with a ``group`` column, by group (a speaker, a session: no group in two splits), and
every file is cut into ``chunk_seconds`` clips as the language-ID recipe cuts them. The
paired comparison with ``reference`` (bootstrap over files, McNemar per seed) is the
language-ID study's; each run saves ``model.keras`` and ``frontend.keras``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from framebank.progress import Progress
from framebank.training import io, loop
from framebank.training.config import load_recipe, recipe_fields
from framebank.training.data import clip_indices
from framebank.training.language_id import ClassifierRecipe, LanguageData, LanguageIdConfig

__all__ = [
    "ClassifyFolderConfig",
    "folder_clips",
    "load_classify_folder_config",
    "prepare_folder_data",
    "run_classify_folder",
    "split_files",
]

TASK = "classify_folder"
LABEL_COLUMNS = ("file", "label", "group")


@dataclass
class ClassifyFolderConfig(LanguageIdConfig):
    """What ``framebank train --source DIR`` trains on a folder of classes.

    ``classes``: the classes to use (null: every sub-folder or label); ``test_fraction``:
    the share of each class's files (or of the groups) tested; ``split_seed``: the seed of
    that split. ``snr_db``: ``.inf`` trains and tests on the audio as it is (no noise).
    ``languages`` is set from the classes when the data is read.
    """

    task: str = TASK
    classes: list[str] | None = None
    test_fraction: float = 0.2
    split_seed: int = 0
    snr_db: list[float] = field(default_factory=lambda: [math.inf])
    sample_rate: int = 16000
    chunk_seconds: float = 1.0
    frontends: list[str] = field(default_factory=lambda: ["log_mel", "pcen_mel", "leaf"])
    frame_len: int = 400
    hop: int = 160

    def __post_init__(self) -> None:
        if self.task != TASK:
            raise ValueError(f"config `task` must be {TASK!r}. Received: {self.task!r}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(
                f"config `test_fraction` must be in (0, 1). Received: {self.test_fraction}"
            )
        if not 0 <= self.split_seed < 2**32:
            raise ValueError(
                f"config `split_seed` must be an integer in [0, 2**32). Received: {self.split_seed}"
            )
        if self.classes is not None and (
            len(set(self.classes)) != len(self.classes) or len(self.classes) < 2
        ):
            raise ValueError(
                "config `classes` must list two or more different classes, or be null (every "
                f"sub-folder). Received: {self.classes}"
            )
        snrs = self.snr_db
        # +inf means "no noise" here; the shared checks take finite SNRs only.
        self.snr_db = [-1e300 if s == math.inf else s for s in snrs]
        try:
            super().__post_init__()
        finally:
            self.snr_db = snrs


def load_classify_folder_config(
    path: str | Path | None, quick: bool = False
) -> ClassifyFolderConfig:
    """Read a folder-classification config; ``quick`` applies its ``quick:`` overrides."""
    return load_recipe(ClassifyFolderConfig, path, quick)


def _audio_files(folder: Path) -> list[Path]:
    from framebank.audio import AUDIO_SUFFIXES

    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
    )


def folder_clips(source: str | Path | None, labels: str | Path | None = None) -> list:
    """The labelled files: :class:`~framebank.audio.Clip` s whose ``language`` is the class
    and whose ``prompt`` is the split key (the group, else the file's path).

    ``source``: a folder with one sub-folder per class; ``labels``: a CSV with columns
    ``file,label[,group]`` (files relative to ``source`` when given, else to the CSV's
    folder). A class folder with no audio file is refused, naming it.
    """
    from framebank.audio import AUDIO_SUFFIXES, Clip

    if labels is not None:
        return _csv_clips(Path(labels), Path(source) if source else None)
    root = Path(source)
    clips = []
    empty = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = _audio_files(folder)
        if not found:
            empty.append(folder.name)
        for path in found:
            key = str(path.relative_to(root))
            clips.append(Clip(path=path, language=folder.name, prompt=key))
    loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES]
    if loose and not clips:
        raise io.RecipeInputError(
            f"{root} holds {len(loose)} audio file(s) but no class sub-folder: put each "
            f"class's files in a sub-folder named after the class ({root}/<class>/<files>), "
            "or list them with --labels FILE.csv"
        )
    if empty:
        raise io.RecipeInputError(
            f"class folder(s) {', '.join(empty)} in {root} hold no audio file "
            f"({', '.join(AUDIO_SUFFIXES)}): add audio or remove the folder"
        )
    return clips


def _csv_clips(path: Path, source: Path | None) -> list:
    from framebank.audio import Clip

    if not path.is_file():
        raise io.RecipeInputError(f"--labels must be a CSV file. Received: {path}")
    base = source or path.parent
    # utf-8-sig: spreadsheet programs start a CSV with a byte-order mark.
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    columns = set(rows[0]) if rows else set()
    if not {"file", "label"} <= columns:
        raise io.RecipeInputError(
            f"{path}: a labels CSV needs the columns file,label (and optionally group). "
            f"Received columns: {sorted(columns) or 'none (empty file)'}"
        )
    clips, missing = [], []
    for row in rows:
        file = (base / row["file"]).expanduser()
        if not file.is_file():
            missing.append(row["file"])
            continue
        key = f"group/{row['group']}" if row.get("group") else str(row["file"])
        clips.append(Clip(path=file, language=row["label"], prompt=key))
    if missing:
        raise io.RecipeInputError(
            f"{path}: {len(missing)} file(s) not found under {base}: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    return clips


def _split_groups(keys: list[str], fraction: float, rng: np.random.Generator) -> set[str]:
    """``fraction`` of ``keys`` (at least one, never all), drawn with ``rng``."""
    order = [keys[i] for i in rng.permutation(len(keys))]
    count = min(len(keys) - 1, max(1, round(fraction * len(keys))))
    return set(order[:count])


# long: the by-file and by-group splits and the one message naming every short class
def split_files(
    clips: list,
    classes: list[str],
    test_fraction: float,
    valid_fraction: float,
    seed: int,
    grouped: bool,
) -> dict[str, list]:
    """``{"train", "test"[, "valid"]}``: the clips of each split.

    By file (``grouped`` False): each class's files shuffled with ``seed`` (and the class's
    name), ``test_fraction`` of them (at least one) tested. By group: the groups (the
    clips' ``prompt``) shuffled with ``seed`` and split as a whole. ``valid_fraction`` of the
    training files (or groups) choose the epoch. A class without files in every split is
    refused, naming it and how many files (or groups) it needs.
    """
    need = 3 if valid_fraction > 0 else 2
    held: dict[str, set[str]] = {"test": set(), "valid": set()}
    if grouped:
        rng = np.random.default_rng(seed)
        keys = sorted({c.prompt for c in clips})
        if len(keys) < need:
            raise io.RecipeInputError(
                f"the labels name {len(keys)} group(s): a split by group needs at least "
                f"{need} (one for training, one for test"
                + (", one for validation)" if need == 3 else ")")
            )
        held["test"] = _split_groups(keys, test_fraction, rng)
        if valid_fraction > 0:
            rest = [k for k in keys if k not in held["test"]]
            held["valid"] = _split_groups(rest, valid_fraction, rng)
    else:
        for name in classes:
            keys = sorted(c.prompt for c in clips if c.language == name)
            if len(keys) < need:
                continue  # named in the message below, with every other short class
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            held["test"] |= _split_groups(keys, test_fraction, rng)
            if valid_fraction > 0:
                rest = [k for k in keys if k not in held["test"]]
                held["valid"] |= _split_groups(rest, valid_fraction, rng)
    splits = {"train": [], "test": [], **({"valid": []} if valid_fraction > 0 else {})}
    for clip in clips:
        split = next((s for s in ("test", "valid") if clip.prompt in held[s]), "train")
        splits[split].append(clip)
    short = [
        f"{name} ({sum(c.language == name for c in clips)} file(s))"
        for name in classes
        if any(not any(c.language == name for c in members) for members in splits.values())
    ]
    if short:
        unit = "groups" if grouped else "files"
        raise io.RecipeInputError(
            f"class(es) {', '.join(short)} have no {unit[:-1]} in every split "
            f"({', '.join(splits)}): each class needs at least {need} {unit} "
            f"(one a split, split by {unit[:-1]}); add audio, or leave the class out "
            "with `classes:`"
        )
    return splits


def _classes(config: ClassifyFolderConfig, clips: list, where: str) -> list[str]:
    found = sorted({c.language for c in clips})
    classes = list(config.classes) if config.classes is not None else found
    unknown = [c for c in classes if c not in found]
    if unknown:
        raise io.RecipeInputError(
            f"config `classes` names {', '.join(unknown)}, which has no audio in {where}. "
            f"Found: {', '.join(found) or 'none'}"
        )
    if len(classes) < 2:
        raise io.RecipeInputError(
            f"{where} holds {len(classes)} class(es) ({', '.join(classes) or 'none'}): a "
            "classifier needs at least 2 (one sub-folder per class, or two labels in the CSV)"
        )
    return classes


def _usable_audio(clips: list, config: ClassifyFolderConfig, report: Any) -> dict:
    """Every file read once: ``{clip: samples}`` of those that give at least one audible
    ``chunk_seconds`` clip. Unreadable files are warned about by the loader; silent or too
    short ones here, so that the split is drawn among files that can be used."""
    import warnings

    from framebank.audio import audible, chunk, load_clips

    usable = {}
    for clip, samples in load_clips(clips, config.sample_rate, report):
        if audible(chunk(samples, config.chunk_samples)).any():
            usable[clip] = samples
        else:
            warnings.warn(
                f"skipping {clip.path}: silent or shorter than chunk_seconds="
                f"{config.chunk_seconds} s",
                stacklevel=3,
            )
    return usable


# long: reading, chunking and counting each split, and the refusals of unusable audio
def prepare_folder_data(
    config: ClassifyFolderConfig, source: str | Path | None, labels: str | Path | None = None
) -> tuple[ClassifyFolderConfig, LanguageData]:
    """Read, split and chunk the user's files; the config with ``languages`` set to the
    classes, and the data (with a ``summary`` of files and clips per class and split).

    Files that cannot be used (unreadable, empty, silent, shorter than one clip) are left
    out before the split, so every file of a split gives clips."""
    from framebank.audio import LoadReport, audible, chunk_clips, keep_at_most

    where = str(labels or source)
    clips = folder_clips(source, labels)
    classes = _classes(config, clips, where)
    clips = [c for c in clips if c.language in classes]
    config = dataclasses.replace(config, languages=classes, classes=classes)
    grouped = labels is not None and any(c.prompt.startswith("group/") for c in clips)
    report = LoadReport()
    audio = _usable_audio(clips, config, report)
    unusable = [
        f"{name} ({sum(c.language == name for c in clips)} file(s))"
        for name in classes
        if not any(c.language == name for c in audio)
    ]
    if unusable:
        raise io.RecipeInputError(
            f"no usable audio for class(es) {', '.join(unusable)} in {where}: each file must be "
            f"readable, at least chunk_seconds={config.chunk_seconds} s long and not silent "
            f"({len(report.skipped)} file(s) skipped as unreadable)"
        )
    unreadable = {path for path, _ in report.skipped}
    unused = [str(c.path) for c in clips if c not in audio and str(c.path) not in unreadable]
    clips = [c for c in clips if c in audio]
    chosen = split_files(
        clips, classes, config.test_fraction, config.validation_fraction, config.split_seed, grouped
    )
    out, files, clip_of_chunk = {}, {}, {}
    for split, members in chosen.items():
        chunks, owners = chunk_clips([(c, audio[c]) for c in members], config.chunk_samples)
        labels_of = np.array([classes.index(c.language) for c in owners], "int32")
        keep = audible(chunks)
        chunks, labels_of = chunks[keep], labels_of[keep]
        owners = [o for o, k in zip(owners, keep, strict=True) if k]
        if split == "train":
            pick = keep_at_most(len(chunks), config.max_train_chunks)
            chunks, labels_of, owners = chunks[pick], labels_of[pick], [owners[i] for i in pick]
        out[split] = (chunks, labels_of)
        files[split] = {
            name: len({id(o) for o in owners if o.language == name}) for name in classes
        }
        clip_of_chunk[split] = clip_indices(members, owners)
    empty = [
        f"{name} ({split})" for split in out for i, name in enumerate(classes)
        if not np.any(out[split][1] == i)
    ]  # fmt: skip
    if empty:
        raise io.RecipeInputError(
            f"no usable audio for class(es) {', '.join(empty)} in {where}: each file must be "
            f"readable, at least chunk_seconds={config.chunk_seconds} s long and not silent "
            f"({len(report.skipped)} file(s) skipped as unreadable)"
        )
    summary = {
        "files_loaded": report.loaded,
        "files_skipped": len(report.skipped),
        "skipped": report.skipped,
        "files_without_clips": unused,
        "split": {
            "by": "group" if grouped else "file",
            "seed": config.split_seed,
            "test_fraction": config.test_fraction,
            "validation_fraction": config.validation_fraction,
        },
        "per_class": {
            name: {
                f"{split}_{kind}": int(count)
                for split in out
                for kind, count in (
                    ("files", files[split][name]),
                    ("clips", np.sum(out[split][1] == i)),
                )
            }
            for i, name in enumerate(classes)
        },
        "train_chunks": int(len(out["train"][0])),
        "test_chunks": int(len(out["test"][0])),
        "valid_chunks": int(len(out["valid"][0])) if "valid" in out else 0,
        "test_recordings": int(len(np.unique(clip_of_chunk["test"]))),
        "test_clip": clip_of_chunk["test"].tolist(),
        "source": where,
    }
    if len(out["train"][0]) < config.batch_size:
        raise io.RecipeInputError(
            f"too little audio: {len(out['train'][0])} training clips of "
            f"{config.chunk_seconds} s, fewer than batch_size={config.batch_size}"
        )
    valid = out.get("valid", (None, None))
    data = LanguageData(*out["train"], *out["test"], summary, *valid)
    return config, data


class _FolderRecipe(ClassifierRecipe):
    """The folder-classification recipe: the language-ID recipe's runs on data read before
    (the classes it found set the config), with its own record, headline and report."""

    what = "folder classification"

    def __init__(self, config, data, source, labels, command) -> None:
        super().__init__(config, source, command)
        self.data, self.labels = data, labels

    def record(self) -> dict:
        record = recipe_fields(self.config)
        record.update(
            source=str(self.source) if self.source else None,
            labels=str(self.labels) if self.labels else None,
        )
        record["backend"] = keras.backend.backend()
        return record

    def prepare(self) -> LanguageData:
        return self.data

    def headline(self, data: LanguageData) -> str:
        config = self.config
        return (
            f"framebank train (classify folder): {len(config.languages)} classes "
            f"({', '.join(config.languages)}), {data.summary['train_chunks']} training / "
            f"{data.summary['test_chunks']} test clips of {config.chunk_seconds} s"
        )

    def write(self, summary: dict, out: Path, progress: Progress, tensorboard: bool) -> dict:
        from framebank.training import report_classify_folder as report

        files = f"REPORT.md, results.json; models in {out / 'runs'}/*/"
        return loop.write_results(report, summary, out, progress, files, tensorboard)


def run_classify_folder(
    config: ClassifyFolderConfig,
    out: str | Path,
    source: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    tensorboard: bool = True,
    command: str | None = None,
    labels: str | Path | None = None,
) -> dict:
    """Train every front end (x seed x SNR) on the user's classes; write results.json,
    results.csv, confusion.png, centres.png, REPORT.md and each run's ``model.keras`` and
    ``frontend.keras`` under ``out/runs/<run>/``."""
    if source is None and labels is None:
        raise io.RecipeInputError(
            "the folder-classification recipe needs --source DIR (one sub-folder per class) "
            "or --labels FILE.csv"
        )
    started = time.perf_counter()
    config, data = prepare_folder_data(config, source, labels)
    recipe = _FolderRecipe(config, data, source, labels, command)
    return loop.run_recipe(recipe, out, resume, quiet, tensorboard, started)
