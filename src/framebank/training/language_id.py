"""Recipe 2: spoken-language identification with a learnable or a fixed front end.

Five languages of the shipped corpus (en, es, fr, it, ru), short chunks with
white noise added, a small classifier (two Conv1D of 64, global average
pooling) behind each front end, the same epochs for all. Splits are by prompt
name hashed, so the same prompt is in the same split in every language and no
sentence is both trained on and tested. en and es are read by the same voice
artist, so their two-way accuracy is reported apart: the five-way score is
partly speaker identification.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from framebank.audio import mix_noise
from framebank.postprocessing import LogEnergy
from framebank.progress import Progress
from framebank.training import io
from framebank.training.checkpoint import load_checkpoint, save_checkpoint
from framebank.training.config import (
    check_distribution,
    check_values,
    load_recipe,
    recipe_fields,
)

__all__ = [
    "LanguageIdConfig",
    "build_classifier",
    "language_id_frontend",
    "load_language_id_config",
    "run_language_id",
]

FRONTENDS = ("mel", "free", "sinc", "gabor")


@dataclass
class LanguageIdConfig:
    """What ``framebank train --config recipes/language_id.yaml`` trains."""

    languages: list[str] = field(default_factory=lambda: ["en", "es", "fr", "it", "ru"])
    sample_rate: int = 8000
    chunk_seconds: float = 0.25
    snr_db: list[float] = field(default_factory=lambda: [0.0, -5.0])
    frontends: list[str] = field(default_factory=lambda: list(FRONTENDS))
    method: str = "dense"
    frame_len: int = 256
    hop: int = 80
    num_filters: int = 40
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 0.001
    seeds: list[int] = field(default_factory=lambda: [0])
    max_train_chunks: int | None = None
    distribution: str | None = None
    quick: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from framebank.methods import METHODS

        bad = [f for f in self.frontends if f not in FRONTENDS]
        if bad or not self.frontends:
            raise ValueError(
                f"config `frontends`: unknown {bad or 'empty list'}. "
                f"Accepted: {', '.join(FRONTENDS)}"
            )
        if self.method not in METHODS and self.method != "auto":
            raise ValueError(
                f"config `method`: unknown {self.method!r}. Accepted: auto, "
                f"{', '.join(sorted(METHODS))}"
            )
        check_distribution(self.distribution)
        check_values(
            self,
            positive=("learning_rate", "chunk_seconds"),
            positive_or_none=("max_train_chunks",),
            finite=("snr_db",),
            unique=("languages", "frontends", "seeds", "snr_db"),
        )
        if not self.snr_db:
            raise ValueError("config `snr_db` must list at least one SNR. Received: []")
        if len(set(self.languages)) < 2:
            raise ValueError(f"config `languages` needs two or more. Received: {self.languages}")
        for name in ("sample_rate", "frame_len", "hop", "num_filters", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"config `{name}` must be >= 1. Received: {getattr(self, name)}")
        if self.chunk_samples < self.frame_len:
            raise ValueError(
                f"config `chunk_seconds`={self.chunk_seconds} is shorter than one frame "
                f"(frame_len={self.frame_len})"
            )

    @property
    def chunk_samples(self) -> int:
        return int(round(self.chunk_seconds * self.sample_rate))


def load_language_id_config(path: str | Path | None, quick: bool = False) -> LanguageIdConfig:
    """Read a language-ID config; ``quick`` applies its ``quick:`` overrides."""
    return load_recipe(LanguageIdConfig, path, quick)


def language_id_frontend(config: LanguageIdConfig, name: str) -> tuple[Any, list]:
    """``(encoder, layers after it)`` giving ``[batch, frames, num_filters]`` log energies."""
    import framebank as fb

    common = dict(method=config.method, name=f"{name}_encoder")
    if name == "mel":
        fft_bins = 2 * (config.frame_len // 2 + 1)
        encoder = fb.Encoder(
            fft_bins,
            config.frame_len,
            config.hop,
            filterbank="mel",
            sample_rate=config.sample_rate,
            n_mels=config.num_filters,
            power=2.0,
            **common,
        )
        spectrum = encoder.filterbank.spectrum()
        return encoder, [spectrum, LogEnergy(square=False, name="log")]
    if name == "gabor":
        encoder = fb.Encoder(
            2 * config.num_filters,
            config.frame_len,
            config.hop,
            filterbank="gabor",
            sample_rate=config.sample_rate,
            **common,
        )
        return encoder, [LogEnergy(pairs=True, name="log_power")]
    options = {"sample_rate": config.sample_rate} if name == "sinc" else {}
    encoder = fb.Encoder(
        config.num_filters, config.frame_len, config.hop, filterbank=name, **options, **common
    )
    return encoder, [LogEnergy(name="log_power")]


def build_classifier(config: LanguageIdConfig, frontend: str, seed: int) -> Any:
    """Front end -> per-filter normalisation -> two Conv1D(64) -> pooling -> softmax."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((config.chunk_samples,), name="audio")
    encoder, after = language_id_frontend(config, frontend)
    x = encoder(inputs)
    for layer in after:
        x = layer(x)
    x = keras.layers.BatchNormalization(name="feature_norm")(x)
    x = keras.layers.Conv1D(64, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv1D(64, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(len(config.languages), name="logits")(x)
    model = keras.Model(inputs, outputs, name=f"language_id_{frontend}")
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


@dataclass
class LanguageData:
    train: np.ndarray
    train_labels: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    summary: dict


def prepare_data(config: LanguageIdConfig, source: str | Path | None = None) -> LanguageData:
    from framebank.audio import (
        LoadReport,
        audible,
        chunk_clips,
        keep_at_most,
        load_clips,
        read_manifest,
        scan_folder,
        split_clips,
    )

    try:
        clips = scan_folder(source) if source else read_manifest()
    except (ValueError, FileNotFoundError) as err:
        raise io.RecipeInputError(str(err)) from err
    clips = [c for c in clips if c.language in config.languages and "silence" not in c.prompt]
    if not clips:
        raise io.RecipeInputError(
            f"no audio of languages {config.languages} in {source or 'the corpus'} "
            "(a --source folder needs one sub-folder per language)"
        )
    report = LoadReport()
    # No early stopping or tuning here, so the held-out set is valid + test.
    trained = {id(c) for c in split_clips(clips)["train"]}
    chosen = {
        "train": [c for c in clips if id(c) in trained],
        "test": [c for c in clips if id(c) not in trained],
    }
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, members in chosen.items():
        loaded = load_clips(members, config.sample_rate, report)
        chunks, owners = chunk_clips(loaded, config.chunk_samples)
        labels = np.array([config.languages.index(c.language) for c in owners], "int32")
        keep = audible(chunks)
        out[split] = (chunks[keep], labels[keep])
    if report.loaded == 0:
        raise io.RecipeInputError(f"no usable audio: {len(report.skipped)} file(s) skipped")
    train, train_labels = out["train"]
    pick = keep_at_most(len(train), config.max_train_chunks)
    train, train_labels = train[pick], train_labels[pick]
    test, test_labels = out["test"]
    # A language without audio in both splits would stay a class nobody can score,
    # and the report's chance level (1 / languages) would be wrong.
    missing = [
        language
        for index, language in enumerate(config.languages)
        if not (np.any(train_labels == index) and np.any(test_labels == index))
    ]
    if missing:
        raise io.RecipeInputError(
            f"config `languages` names {', '.join(missing)}, which has no usable audio for "
            f"both training and test in {source or 'the corpus'}; list only languages with "
            "audio (a --source folder needs one sub-folder per language)"
        )
    if len(train) < config.batch_size or len(test) == 0:
        raise io.RecipeInputError(
            f"too little audio: {len(train)} training and {len(test)} test chunks of "
            f"{config.chunk_seconds} s"
        )
    summary = {
        "files_loaded": report.loaded,
        "files_skipped": len(report.skipped),
        "skipped": report.skipped,
        "train_chunks": int(len(train)),
        "test_chunks": int(len(test)),
        "test_per_language": {
            lang: int(np.sum(test_labels == i)) for i, lang in enumerate(config.languages)
        },
        "source": str(source) if source else "data/ (shipped corpus)",
    }
    return LanguageData(train, train_labels, test, test_labels, summary)


def _interval(correct: int, total: int) -> float:
    """Half-width of the 95% normal-approximation interval of an accuracy."""
    if total == 0:
        return float("nan")
    p = correct / total
    return 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / total)


def evaluate(model: Any, config: LanguageIdConfig, data: LanguageData, snr: float) -> dict:
    """Accuracy with its interval, confusion matrix and en-vs-es, with noise at ``snr`` dB."""
    noisy = mix_noise(data.test, snr, np.random.default_rng(20_000))
    logits = np.concatenate(
        [
            ops.convert_to_numpy(model(noisy[i : i + 256], training=False))
            for i in range(0, len(noisy), 256)
        ]
    )
    predicted = logits.argmax(-1)
    correct = int(np.sum(predicted == data.test_labels))
    confusion = np.zeros((len(config.languages),) * 2, "int64")
    np.add.at(confusion, (data.test_labels, predicted), 1)
    entry = {
        "accuracy": correct / len(predicted),
        "interval95": _interval(correct, len(predicted)),
        "confusion": confusion.tolist(),
    }
    if "en" in config.languages and "es" in config.languages:
        en, es = config.languages.index("en"), config.languages.index("es")
        mask = np.isin(data.test_labels, [en, es])
        pair = np.where(logits[mask][:, en] >= logits[mask][:, es], en, es)
        hits = int(np.sum(pair == data.test_labels[mask]))
        entry["en_vs_es_accuracy"] = hits / max(1, int(mask.sum()))
        entry["en_vs_es_interval95"] = _interval(hits, int(mask.sum()))
    return {f"{snr:g}": entry}


def filter_centres_hz(model: Any, frontend: str, config: LanguageIdConfig) -> list[float]:
    """Each filter's centre frequency (Hz): parametric where the family has one, else the
    peak of its magnitude response."""
    filterbank = model.get_layer(f"{frontend}_encoder").filterbank
    if frontend == "sinc":
        low = ops.convert_to_numpy(filterbank.low_hz)
        band = ops.convert_to_numpy(filterbank.band_hz)
        return (low + band / 2).tolist()
    if frontend == "gabor":
        return np.asarray(ops.convert_to_numpy(filterbank.centre_hz())).tolist()
    basis = ops.convert_to_numpy(filterbank.filters())
    if frontend == "mel":
        return []  # fixed, and its basis is the DFT's, not one filter per band
    spectrum = np.abs(np.fft.rfft(basis, n=1024, axis=0))
    return (spectrum.argmax(0) * config.sample_rate / 1024).tolist()


def train_run(
    config: LanguageIdConfig,
    data: LanguageData,
    frontend: str,
    seed: int,
    snr: float,
    run_dir: Path,
    progress: Progress,
    tensorboard: Path | None = None,
) -> dict:
    """Train one (SNR, front end, seed) with noise at ``snr`` dB; test at the same SNR.

    ``tensorboard``: this run's TensorBoard folder (the loss of each step, each epoch's test
    accuracy and the learnable filters), or None for no logs.
    """
    from framebank.training import tensorboard as tb

    per_epoch = _steps_per_epoch(len(data.train), config.batch_size)
    result_path = run_dir / "result.json"
    if result_path.exists():
        progress.log(f"  already finished, kept: {run_dir.name}")
        progress.skip(config.epochs * per_epoch)
        return io.read_json(result_path)
    from framebank.distribute import distribution_scope

    # batch_size is the global batch: the engine splits it over the replicas.
    with distribution_scope(config.distribution):
        model = build_classifier(config, frontend, seed)
        initial = filter_centres_hz(model, frontend, config)
        encoder = model.get_layer(f"{frontend}_encoder")
        state = load_checkpoint(run_dir, model)
        if state is None:
            state = {"epochs_done": 0, "step_loss": [], "epoch_seconds": []}
            if tensorboard is not None:
                tb.log_epoch(tensorboard, 0, [], {}, encoder)  # the initial filters
        else:
            progress.log(f"  resuming {run_dir.name} after epoch {state['epochs_done']}")
            progress.skip(state["epochs_done"] * per_epoch)
        for epoch in range(state["epochs_done"], config.epochs):
            rng = np.random.default_rng([seed, epoch])
            order = rng.permutation(len(data.train))
            started = time.perf_counter()
            first_step = len(state["step_loss"])
            for start in range(0, len(order) - config.batch_size + 1, config.batch_size):
                index = order[start : start + config.batch_size]
                noisy = mix_noise(data.train[index], snr, rng)
                loss = model.train_on_batch(noisy, data.train_labels[index])
                value = float(np.asarray(loss[0] if isinstance(loss, (list, tuple)) else loss))
                state["step_loss"].append(value)
                progress.step()
            state["epoch_seconds"].append(time.perf_counter() - started)
            state["epochs_done"] = epoch + 1
            if tensorboard is not None:
                # Inference only, with its own noise: the training is untouched. Before the
                # checkpoint, so that a resumed epoch rewrites its file.
                accuracy = evaluate(model, config, data, snr)[f"{snr:g}"]["accuracy"]
                tb.log_epoch(
                    tensorboard,
                    epoch + 1,
                    state["step_loss"][first_step:],
                    {"test/accuracy": accuracy},
                    encoder,
                    first_step=first_step + 1,
                )
            save_checkpoint(run_dir, model, state)
            progress.log(
                f"  {run_dir.name}: epoch {epoch + 1}/{config.epochs} "
                f"loss {state['step_loss'][-1]:.3f}",
                timing=True,
            )
        result = {
            "frontend": frontend,
            "seed": seed,
            "snr_db": snr,
            "parameters": int(model.get_layer(f"{frontend}_encoder").count_params()),
            "initial_centres_hz": initial,
            "learned_centres_hz": filter_centres_hz(model, frontend, config),
            "evaluation": evaluate(model, config, data, snr),
            **state,
        }
        if frontend != "mel":  # a learnable front end: what it learned, as `framebank inspect`
            from framebank.inspection import inspect_frontend

            inspected = inspect_frontend(model, run_dir / "inspection", config.sample_rate)
            result["filters_moved_hz"] = next(iter(inspected["encoders"].values()))["moved_hz"]
        io.write_json(result_path, result)
        return result


def _steps_per_epoch(n: int, batch_size: int) -> int:
    return len(range(0, n - batch_size + 1, batch_size))


def run_language_id(
    config: LanguageIdConfig,
    out: str | Path,
    source: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    tensorboard: bool = True,
) -> dict:
    """Train every front end (x seed), evaluate, write results, plots and REPORT.md.

    ``quiet``: print nothing (no progress); ``tensorboard``: write TensorBoard logs under
    ``out/tensorboard`` (they change no number of the run).
    """
    from framebank.training import report_language_id as report

    out = Path(out)
    record = recipe_fields(config)
    record["source"] = str(source) if source else None
    # A resumed run must not mix backends: their step times and rounding differ.
    record["backend"] = keras.backend.backend()
    config_path = out / "config.json"
    io.check_results_folder(out, record, resume, "language-id")
    started = time.perf_counter()
    data = prepare_data(config, source)
    io.write_json(config_path, record)
    runs = [(f, s, n) for n in config.snr_db for s in config.seeds for f in config.frontends]
    per_epoch = _steps_per_epoch(len(data.train), config.batch_size)
    progress = Progress(
        len(runs) * config.epochs * per_epoch, quiet=quiet, description="framebank train"
    )
    progress.log(
        f"framebank train (language id): {data.summary['train_chunks']} training / "
        f"{data.summary['test_chunks']} test chunks of {config.chunk_seconds} s, "
        f"{len(config.languages)} languages, noise at {config.snr_db} dB; "
        f"backend {keras.backend.backend()}; {len(runs)} runs of {config.epochs} x "
        f"{per_epoch} steps"
    )
    results = []
    with progress:
        for number, (frontend, seed, snr) in enumerate(runs, 1):
            progress.log(f"[{number}/{len(runs)}] snr={snr:g} dB frontend={frontend} seed={seed}")
            name = f"snr{snr:g}__{frontend}__seed{seed}"
            run_dir = out / "runs" / name
            run_dir.mkdir(parents=True, exist_ok=True)
            board = out / "tensorboard" / name if tensorboard else None
            results.append(train_run(config, data, frontend, seed, snr, run_dir, progress, board))
    summary = {
        "config": record,
        "data": data.summary,
        "backend": keras.backend.backend(),
        "runs": results,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    io.write_json(out / "results.json", summary)
    report.write_all(summary, out)
    progress.log(report.summary_text(summary))
    board = f", tensorboard/ (tensorboard --logdir {out / 'tensorboard'})" if tensorboard else ""
    progress.log(
        f"results in {out}: REPORT.md, results.csv, results.json, confusion.png, centres.png{board}"
    )
    return summary
