"""Recipe 1: train one encoder-decoder per execution method, or per filterbank family,
and compare them.

The task: recover clean speech from speech with white noise added at a set
SNR; the loss is minus the SI-SNR. The model: ``Encoder`` (the method under
test) -> ReLU -> ``Decoder(kind="free", method="matmul")``: a basis of its
own, then overlap-add back to the waveform. Every (method, initialisation, seed) run
sees the same batches in the same order, so any difference between methods
comes from the method or its initialisation, nothing else.

With ``families`` set (``recipes/compare_families.yaml``) the study varies the
filterbank family instead, one method and one initialisation fixed: each family
(:mod:`framebank.training.families`) is the encoder, with the decoder it names, run once
per seed on the same batches; the report compares each with a ``reference`` family,
paired over the same validation chunks (:mod:`framebank.training.stats`).

Each run checkpoints after every epoch (weights, optimizer state and the
records so far, written atomically); ``resume=True`` skips finished runs and
continues unfinished ones from their last epoch. TensorBoard logs (training loss,
validation SI-SNR, the encoder's filters as an image) go under ``<out>/tensorboard``,
one folder a run, resumed the same way.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from framebank._deprecation import deprecated_names
from framebank._validation import check_values
from framebank.audio import mix_noise
from framebank.progress import Progress
from framebank.training import io, loop
from framebank.training.config import (
    check_distribution,
    load_recipe,
    recipe_fields,
)
from framebank.training.data import check_loaded, source_clips, split_chunks
from framebank.training.families import FamilySpec, encoder_kwargs, parse_families
from framebank.training.loop import RunHooks, steps_per_epoch

__all__ = [
    "CompareConfig",
    "CompareData",
    "build_denoiser",
    "load_compare_config",
    "prepare_data",
    "run_compare",
]

INITS = ("basis_glorot_uniform", "keras_default")
DEFAULT_METHODS = ["reshape_conv", "pointwise_conv", "dense", "matmul", "strided_conv"]


@dataclass
class CompareConfig:
    """What ``framebank compare`` trains (``recipes/compare_methods.yaml``)."""

    sample_rate: int = 8000
    chunk_seconds: float = 1.0
    frame_len: int = 40
    hop: int = 20
    num_basis: int = 64
    snr_db: float = 5.0
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    inits: list[str] = field(default_factory=lambda: list(INITS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    epochs: int = 3
    batch_size: int = 16
    steps_per_epoch: int | None = None
    learning_rate: float = 1e-3
    max_train_chunks: int | None = None
    max_valid_chunks: int = 64
    memory_steps: int = 5
    memory_batch_size: int = 32
    memory_seconds: float = 4.0
    memory_repeats: int = 3
    jit_compile: bool | str = "auto"
    distribution: str | None = None
    # The family study (empty: the method study): family entries, and the one the
    # others are compared with.
    families: list[Any] = field(default_factory=list)  # names or mappings (families.py)
    reference: str = "free"
    quick: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from framebank.methods import METHODS

        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(
                f"config `methods`: unknown {unknown or 'empty list'}. "
                f"Accepted: {', '.join(sorted(METHODS))}"
            )
        bad_inits = [i for i in self.inits if i not in INITS]
        if bad_inits or not self.inits:
            raise ValueError(
                f"config `inits`: unknown {bad_inits or 'empty list'}. Accepted: {', '.join(INITS)}"
            )
        if not self.seeds:
            raise ValueError("config `seeds` must list at least one seed. Received: []")
        if self.memory_steps < 0:
            raise ValueError(f"config `memory_steps` must be >= 0. Received: {self.memory_steps}")
        for name in ("sample_rate", "frame_len", "hop", "num_basis", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"config `{name}` must be >= 1. Received: {getattr(self, name)}")
        if self.chunk_samples < self.frame_len:
            raise ValueError(
                f"config `chunk_seconds`={self.chunk_seconds} gives fewer samples than one frame "
                f"(frame_len={self.frame_len})"
            )
        check_values(
            self,
            positive=("learning_rate", "chunk_seconds", "max_valid_chunks", "memory_batch_size")
            + ("memory_seconds", "memory_repeats"),
            positive_or_none=("steps_per_epoch", "max_train_chunks"),
            finite=("snr_db",),
            unique=("methods", "inits", "seeds"),
        )
        if self.hop > int(round(self.chunk_seconds * self.sample_rate)) - self.frame_len:
            raise ValueError(
                f"config `hop`={self.hop} leaves one frame per chunk of "
                f"{self.chunk_seconds} s at {self.sample_rate} Hz (frame_len={self.frame_len}); "
                "use a longer chunk_seconds or a shorter hop"
            )
        if self.memory_steps and self.memory_seconds * self.sample_rate < self.frame_len:
            raise ValueError(
                f"config `memory_seconds`={self.memory_seconds} gives fewer samples than one "
                f"frame (frame_len={self.frame_len})"
            )
        check_distribution(self.distribution)
        if self.jit_compile not in (True, False, "auto"):
            raise ValueError(
                f"config `jit_compile` must be true, false or auto. Received: {self.jit_compile!r}"
            )
        if self.families:
            self._check_family_study()
        else:
            self._check_methods()

    def _check_methods(self) -> None:
        """The method study's encoder made once a method, now: a method that needs a
        structure the free basis lacks (``rfft``) stops the config, not run 2."""
        from framebank.layers import Encoder

        for method in self.methods:
            try:
                Encoder(self.num_basis, self.frame_len, self.hop, method=method)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"config `methods`: {method!r} cannot run the method study's free encoder: "
                    f"{err}"
                ) from None

    def _check_family_study(self) -> None:
        """The family study fixes everything but the family: one method, one
        initialisation, and no memory measurement (it would measure the method, not the
        family)."""
        for name in ("methods", "inits"):
            if len(getattr(self, name)) != 1:
                raise ValueError(
                    f"config `{name}`: the family study (`families` set) holds it fixed, so it "
                    f"must list one. Received: {getattr(self, name)}"
                )
        if self.memory_steps:
            raise ValueError(
                "config `memory_steps`: the family study (`families` set) measures no memory; "
                f"set it to 0. Received: {self.memory_steps}"
            )
        self.family_specs()  # every entry checked, and each family made once, now

    def family_specs(self) -> list[FamilySpec]:
        """The ``families`` entries as :class:`FamilySpec` (empty for the method study)."""
        return parse_families(
            self.families,
            self.reference,
            self.num_basis,
            self.frame_len,
            self.hop,
            self.sample_rate,
            self.methods[0],
        )

    @property
    def chunk_samples(self) -> int:
        """Chunk length, trimmed so whole frames tile it exactly (no padding needed)."""
        n = int(round(self.chunk_seconds * self.sample_rate))
        if n < self.frame_len:
            return n
        return n - (n - self.frame_len) % self.hop


def load_compare_config(path: str | Path | None, quick: bool = False) -> CompareConfig:
    """Read a compare config; ``quick`` applies its ``quick:`` overrides."""
    return load_recipe(CompareConfig, path, quick)


@dataclass
class CompareData:
    """Clean speech chunks ``[n, chunk_samples]`` for training and validation, and the
    noisy validation input's own SI-SNR per chunk ``[n_valid]`` (what doing nothing
    scores; a model's improvement is measured from it)."""

    train: np.ndarray
    valid_clean: np.ndarray
    valid_noisy: np.ndarray
    summary: dict
    valid_input_si_snr: np.ndarray | None = None


__getattr__ = deprecated_names(
    __name__,
    {
        "load_config": (
            lambda: load_compare_config,
            "use framebank.training.compare.load_compare_config (the same function)",
        )
    },
)


def prepare_data(config: CompareConfig, source: str | Path | None = None) -> CompareData:
    """Read, split (by prompt), chunk and mix the validation set; skip bad files."""
    from framebank.audio import LoadReport, keep_at_most, split_clips

    clips = source_clips(source)
    if not clips:
        raise io.RecipeInputError(f"no audio files found in {source or 'the corpus manifest'}")
    splits = split_clips(clips)
    report = LoadReport()
    length = config.chunk_samples
    chunks = {
        name: split_chunks(splits[name], config.sample_rate, length, report)[0]
        for name in ("train", "valid")
    }
    check_loaded(report, source)
    if len(chunks["train"]) < config.batch_size or len(chunks["valid"]) == 0:
        raise io.RecipeInputError(
            f"too little audio for a batch: {len(chunks['train'])} training and "
            f"{len(chunks['valid'])} validation chunks of {config.chunk_seconds} s "
            f"(batch_size={config.batch_size})"
        )
    train = chunks["train"][keep_at_most(len(chunks["train"]), config.max_train_chunks)]
    valid = chunks["valid"][: config.max_valid_chunks]
    valid_noisy = mix_noise(valid, config.snr_db, np.random.default_rng(10_000))
    from framebank.training.losses import si_snr_numpy

    input_scores = si_snr_numpy(valid, valid_noisy)
    summary = {
        # What doing nothing scores: the noisy input's own SI-SNR.
        "valid_input_si_snr_db": round(float(np.mean(input_scores)), 3),
        "valid_input_si_snr_per_chunk": [float(v) for v in input_scores],
        "files_loaded": report.loaded,
        "files_skipped": len(report.skipped),
        "skipped": report.skipped,
        "seconds_loaded": round(report.seconds, 1),
        "train_chunks": int(len(train)),
        "valid_chunks": int(len(valid)),
        "chunk_samples": length,
        "source": str(source) if source else "data/ (shipped corpus)",
    }
    return CompareData(train, valid, valid_noisy, summary, input_scores)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, steps: int | None) -> list:
    """The batch indices of one epoch: a function of (seed, epoch) only."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    count = steps_per_epoch(n, batch_size, steps)
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(count)]


def build_denoiser(
    config: CompareConfig, method: str, init: str, seed: int, family: FamilySpec | None = None
) -> Any:
    """Encoder (method under test) -> ReLU -> free Decoder (matmul, then overlap-add).

    ``family``: the family study's encoder (its filterbank, trainable or not) and decoder
    kind instead of the free encoder and free decoder.
    """
    import keras

    import framebank as fb
    from framebank.initializers import BasisGlorotUniform, KerasDefault
    from framebank.training.losses import neg_si_snr

    keras.utils.set_random_seed(seed)
    encoder_init = (
        BasisGlorotUniform(seed) if init == "basis_glorot_uniform" else KerasDefault(seed=seed)
    )
    inputs = keras.Input((config.chunk_samples,), name="noisy")
    if family is None:
        encoder = fb.Encoder(
            config.num_basis,
            config.frame_len,
            config.hop,
            method=method,
            kernel_initializer=encoder_init,
            name="encoder",
        )
    else:
        kwargs = encoder_kwargs(
            family,
            config.num_basis,
            config.frame_len,
            config.hop,
            config.sample_rate,
            method,
            encoder_init,
        )
        encoder = fb.Encoder(**kwargs, name="encoder")
    hidden = keras.layers.ReLU(name="relu")(encoder(inputs))
    # The decoder is the same for every run (same method, same seeded draw) so
    # that only the encoder's method and initialisation (or family) vary.
    decoder = fb.Decoder(
        encoder,
        kind="free" if family is None else family.decoder,
        method="matmul",
        kernel_initializer=BasisGlorotUniform(seed + 1000),
        name="decoder",
    )
    outputs = decoder(hidden, length=config.chunk_samples)
    name = f"compare_{method}" if family is None else f"compare_{family.name}"
    model = keras.Model(inputs, outputs, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=neg_si_snr,
        jit_compile=config.jit_compile,
    )
    return model


class Evaluation(NamedTuple):
    """The model's validation SI-SNR (dB): its mean, and per chunk ``[n_valid]``, in the
    order of ``CompareData.valid_clean`` (so two models pair chunk by chunk)."""

    mean: float
    per_chunk: np.ndarray


def evaluate(model: Any, data: CompareData, batch_size: int) -> Evaluation:
    """Validation SI-SNR (dB) of the model's output: the mean and each chunk's."""
    from keras import ops

    from framebank.training.losses import si_snr_numpy

    scores = []
    for start in range(0, len(data.valid_noisy), batch_size):
        batch = data.valid_noisy[start : start + batch_size]
        estimate = ops.convert_to_numpy(model(batch, training=False))
        scores.append(si_snr_numpy(data.valid_clean[start : start + batch_size], estimate))
    per_chunk = np.concatenate(scores)
    return Evaluation(float(np.mean(per_chunk)), per_chunk)


def _basis(encoder: Any) -> np.ndarray:
    """The encoder's ``[frame_len, num_basis]`` basis as float64 numpy."""
    from keras import ops

    return np.asarray(ops.convert_to_numpy(encoder.filterbank.filters()), "float64")


def learnable_parameters(model: Any) -> dict[str, int]:
    """Trainable values in the encoder, in the rest (the decoder), and in all."""

    def count(weights: list) -> int:
        return int(sum(int(np.prod(w.shape)) for w in weights))

    total = count(model.trainable_weights)
    encoder = count(model.get_layer("encoder").trainable_weights)
    return {"encoder": encoder, "decoder": total - encoder, "total": total}


class _DenoiserRun(RunHooks):
    """One (method, init, seed) of the compare recipe, as :func:`loop.train_run`'s hooks."""

    def __init__(self, config, data, method, init, seed, family, run_dir) -> None:
        self.config, self.data, self.run_dir, self.family = config, data, run_dir, family
        self.method, self.init, self.seed = method, init, seed

    def build(self) -> Any:
        model = build_denoiser(self.config, self.method, self.init, self.seed, self.family)
        self.initial_std = float(np.std(model.get_layer("encoder").get_weights()[0]))
        self.initial_basis = _basis(model.get_layer("encoder"))  # the seeded draw, resumed too
        return model

    def encoder(self, model: Any) -> Any:
        return model.get_layer("encoder")

    def new_state(self) -> dict:
        return {
            "epochs_done": 0,
            "step_loss": [],
            "step_seconds": [],
            "step_data_seconds": [],  # making the batch: indexing and mixing the noise
            "valid_si_snr": [],
            "valid_si_snr_per_chunk": [],  # the last epoch's
        }

    def train_epoch(self, model: Any, state: dict, epoch: int, progress: Progress) -> None:
        config, seed = self.config, self.seed
        noise_rng = np.random.default_rng([seed, epoch, 7])
        n = len(self.data.train)
        for index in epoch_batches(n, config.batch_size, seed, epoch, config.steps_per_epoch):
            loading = time.perf_counter()
            clean = self.data.train[index]
            noisy = mix_noise(clean, config.snr_db, noise_rng)
            start = time.perf_counter()
            state["step_data_seconds"].append(start - loading)
            with warnings.catch_warnings():
                # A fixed encoder with a pinv decoder has nothing to train: its loss is
                # still recorded, and the report says it is fixed.
                warnings.filterwarnings("ignore", "The model does not have any trainable")
                loss = model.train_on_batch(noisy, clean)
            state["step_seconds"].append(time.perf_counter() - start)
            state["step_loss"].append(float(np.asarray(loss)))
            if not math.isfinite(state["step_loss"][-1]):
                raise FloatingPointError(
                    f"{self.run_dir.name}: loss became {state['step_loss'][-1]} at step "
                    f"{len(state['step_loss'])}"
                )
            progress.step()

    def end_epoch(self, model: Any, state: dict, epoch: int, logging: bool) -> dict:
        scores = evaluate(model, self.data, self.config.batch_size)
        state["valid_si_snr"].append(scores.mean)
        state["valid_si_snr_per_chunk"] = [float(v) for v in scores.per_chunk]
        return {"valid/si_snr_db": state["valid_si_snr"][-1]}

    def epoch_note(self, state: dict) -> str:
        return f" valid SI-SNR {state['valid_si_snr'][-1]:.2f} dB"

    def finish(self, model: Any, state: dict) -> dict:
        result = {
            "method": self.method,
            "init": self.init,
            "seed": self.seed,
            "initial_kernel_std": self.initial_std,
            **{
                k: state[k]
                for k in ("step_loss", "step_seconds", "step_data_seconds", "valid_si_snr")
            },
            # Each validation chunk's SI-SNR after the last epoch, in the data's order.
            "valid_si_snr_per_chunk": state.get("valid_si_snr_per_chunk", []),
        }
        family = self.family
        if family is not None:
            basis, initial = _basis(model.get_layer("encoder")), self.initial_basis
            result.update(
                family=family.name,
                filterbank=family.filterbank,
                decoder=family.decoder,
                encoder_trainable=family.trainable,
                learnable_parameters=learnable_parameters(model),
                # How far training moved the encoder's basis, relative to where it began.
                encoder_basis_change=float(
                    np.linalg.norm(basis - initial) / np.linalg.norm(initial)
                ),
            )
        return result


def measure_memory(config: CompareConfig, method: str) -> dict:
    """Peak memory of training steps for ``method``, in one fresh process."""
    import keras

    from framebank.device import measurement_env

    command = [
        sys.executable,
        "-m",
        "framebank.training.memory",
        "--config-json",
        json.dumps(recipe_fields(config)),
        "--method",
        method,
    ]
    # Large buffers mapped, not kept in malloc's heap: freed setup memory then
    # cannot hide the steps' peak (glibc reads this at start).
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MALLOC_MMAP_THRESHOLD_="65536")
    env = measurement_env(env, keras.backend.backend())
    env["FRAMEBANK_PARENT_PID"] = str(os.getpid())  # the child ends with this process
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory measurement for {method} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise_memory(measured: list[dict]) -> dict:
    """One method's repeated measurements: the median peak, its range, every run's figure,
    and what they depend on (the first run's context; ``contexts_differ`` if any other's
    differs)."""
    peaks = [m["peak_mb"] for m in measured]
    steady = [m.get("steady_peak_mb") for m in measured]
    first = measured[0]
    per_run = ("peak_mb", "steady_peak_mb", "retained_mb", "baseline_mb", "rss_split_mb")
    retained = [m.get("retained_mb") for m in measured]
    return {
        **{k: v for k, v in first.items() if k not in per_run},
        "peak_mb": float(np.median(peaks)),
        "peak_mb_min": float(min(peaks)),
        "peak_mb_max": float(max(peaks)),
        # The steps after the first (no tracing, no new optimizer slots), where measured.
        "steady_peak_mb": float(np.median(steady)) if None not in steady else None,
        "steady_peak_mb_min": float(min(steady)) if None not in steady else None,
        "steady_peak_mb_max": float(max(steady)) if None not in steady else None,
        # The resident memory the steps left behind (CPU): a peak no higher than this on
        # every method suggests a kernel that does not track the peak (VmHWM).
        "retained_mb": float(np.median(retained)) if None not in retained else None,
        "repeats": len(peaks),
        "baseline_mb": float(np.median([m["baseline_mb"] for m in measured])),
        "contexts_differ": any(m.get("context") != first.get("context") for m in measured),
        "runs": measured,
    }


def measure_all_memory(
    config: CompareConfig, path: Path, progress: Progress, methods: list[str]
) -> dict:
    """``memory_repeats`` fresh processes a method, saved after each (a resumed run keeps
    the processes already measured)."""
    memory = io.read_json(path) if path.exists() else {}
    for method in methods:
        measured = list(memory.get(method, {}).get("runs", []))
        while len(measured) < config.memory_repeats:
            started = time.perf_counter()
            measured.append(measure_memory(config, method))
            memory[method] = summarise_memory(measured)
            io.write_json(path, memory)
            progress.job(time.perf_counter() - started)
        entry = memory[method]
        steady = entry.get("steady_peak_mb")
        spread = (
            f" (median of {entry['repeats']}; {entry['peak_mb_min']:.1f}-"
            f"{entry['peak_mb_max']:.1f})"
            if entry["repeats"] > 1
            else ""
        )
        progress.log(
            f"  memory {method}: {entry['peak_mb']:.1f} MB{spread}"
            + (f", a later step {steady:.1f} MB" if steady is not None else "")
            + f" on {entry['device']}",
            timing=True,
        )
    return memory


def _config_record(config: CompareConfig, source: str | Path | None) -> dict:
    """What config.json records: the recipe's fields, the data's source and the backend."""
    import keras

    record = recipe_fields(config)
    if not config.families:
        # The method study's record as before the family study existed: its folders resume.
        for name in ("families", "reference"):
            record.pop(name)
    record["source"] = str(source) if source else None
    # A resumed run must not mix backends: their step times and rounding differ.
    record["backend"] = keras.backend.backend()
    return record


def _runs(config: CompareConfig, data: CompareData, families: list) -> list[loop.Run]:
    """Every run, in the order they train."""
    if families:
        # Seed by seed, so that an interrupted study has every family of its first seeds.
        plan = [
            (f"{family.name}__seed{s}", config.methods[0], config.inits[0], s, family)
            for s in config.seeds
            for family in families
        ]
    else:
        plan = [
            (f"{m}__{i}__seed{s}", m, i, s, None)
            for i in config.inits
            for s in config.seeds
            for m in config.methods
        ]
    return [
        loop.Run(
            name,
            (f"method={method} init={init}" if family is None else f"family={family.name}")
            + f" seed={seed}",
            functools.partial(_DenoiserRun, config, data, method, init, seed, family),
        )
        for name, method, init, seed, family in plan
    ]


def _write_results(
    summary: dict, out: Path, progress: Progress, tensorboard: bool, families: bool
) -> dict:
    """Write results.json, the report and its plots; the summary as written."""
    from framebank.training import report, report_families

    files = "REPORT.md, results.csv, results.json, "
    if families:
        # Step times compare methods, not families: they stay in runs/*/result.json.
        timings = ("step_seconds", "step_data_seconds")
        summary["runs"] = [
            {k: v for k, v in r.items() if k not in timings} for r in summary["runs"]
        ]
        summary["families"] = report_families.family_stats(summary)
        files += "families.png"
        return loop.write_results(report_families, summary, out, progress, files, tensorboard)
    files += "convergence.png, memory.png"
    return loop.write_results(report, summary, out, progress, files, tensorboard)


class _CompareRecipe(loop.RecipeHooks):
    """The compare recipe (the method study or the family study) as
    :func:`loop.run_recipe`'s hooks."""

    what = "compare"
    description = "framebank compare"
    jobs_name = "memory processes"

    def __init__(self, config: CompareConfig, source: str | Path | None) -> None:
        self.config, self.source = config, source
        self.families = config.family_specs()
        self.memory_methods = config.methods if config.memory_steps > 0 else []
        self.jobs = len(self.memory_methods) * config.memory_repeats

    def record(self) -> dict:
        return _config_record(self.config, self.source)

    def prepare(self) -> CompareData:
        return prepare_data(self.config, self.source)

    def plan(self, data: CompareData) -> tuple[list, int]:
        config = self.config
        steps = steps_per_epoch(len(data.train), config.batch_size, config.steps_per_epoch)
        return _runs(config, data, self.families), steps

    def headline(self, data: CompareData) -> str:
        summary = data.summary
        return (
            f"framebank compare: {summary['files_loaded']} files "
            f"({summary['seconds_loaded']} s; {summary['files_skipped']} skipped), "
            f"{summary['train_chunks']} training / {summary['valid_chunks']} validation "
            f"chunks of {self.config.chunk_samples} samples"
        )

    def after_run(self, out: Path, record: dict, results: list) -> None:
        io.write_json(out / "results.json", {"config": record, "runs": results})

    def after_runs(self, out: Path, progress: Progress) -> dict:
        path = out / "memory.json"
        return {"memory": measure_all_memory(self.config, path, progress, self.memory_methods)}

    def write(self, summary: dict, out: Path, progress: Progress, tensorboard: bool) -> dict:
        return _write_results(summary, out, progress, tensorboard, bool(self.families))


def run_compare(
    config: CompareConfig,
    out: str | Path,
    source: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    tensorboard: bool = True,
) -> dict:
    """Run every (method, init, seed), measure memory, write the results folder; or, with
    ``config.families`` set, every (family, seed) and the family report.

    ``quiet``: print nothing (no progress); ``tensorboard``: write TensorBoard logs under
    ``out/tensorboard`` (they change no number of the run).
    """
    return loop.run_recipe(_CompareRecipe(config, source), out, resume, quiet, tensorboard)
