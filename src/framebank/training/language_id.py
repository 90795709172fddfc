"""Recipe 2: spoken-language identification with a learnable or a fixed front end.

Five languages of the shipped corpus (en, es, fr, it, ru), short chunks with
white noise added, a small classifier (two Conv1D of 64, global average
pooling) behind each front end, the same epochs for all. Splits are by prompt
name hashed, so the same prompt is in the same split in every language and no
sentence is both trained on and tested. en and es are read by the same voice
artist, so their two-way accuracy is reported apart: the five-way score is
partly speaker identification.

Front ends: the bare learnable families with log compression (``free``, ``sinc``,
``gabor``), the fixed ``mel`` one, and the ready-made complete front ends
(:data:`framebank.frontends.FRONTENDS`: ``log_mel``, ``pcen_mel``, ``leaf``,
``td_filterbanks``, ``sincnet``). ``variants`` names a front end with levers set
(its own options, a learning-rate multiplier for its weights, SpecAugment masking);
``validation_fraction`` holds out training prompts to choose each run's epoch. Every
front end sees the same seeds, batches and noise, and is tested on the same chunks, so
the report pairs each with ``reference`` (McNemar per seed, a bootstrap over chunks).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from framebank._validation import check_known_keys, check_positive_number, check_values
from framebank.audio import mix_noise
from framebank.postprocessing import LogEnergy, MelSpectrum, SpecAugment
from framebank.progress import Progress
from framebank.training import io, loop
from framebank.training.checkpoint import load_weights, save_weights
from framebank.training.config import (
    RUN_LABEL,
    check_distribution,
    check_options,
    load_recipe,
    recipe_fields,
)
from framebank.training.data import check_loaded, clip_indices, source_clips, split_chunks
from framebank.training.loop import RunHooks, steps_per_epoch

__all__ = [
    "LanguageIdConfig",
    "build_classifier",
    "language_id_frontend",
    "load_language_id_config",
    "run_language_id",
]

# The bare families run when a config names no front ends: the recipe's choice. Which families
# it can build at all follows from their attributes (see _families).
FAMILIES = ("mel", "free", "sinc", "gabor")
# What a variant may set; anything else in it is refused when the config loads.
VARIANT_FIELDS = ("frontend", "options", "frontend_lr_multiplier", "spec_augment")
# Options the recipe sets from its own fields: a variant may not set them apart.
RECIPE_OPTIONS = {
    "sample_rate": "sample_rate",
    "n_filters": "num_filters",
    "num_basis": "num_filters",
    "n_mels": "num_filters",
    "window_ms": "frame_len",
    "frame_len": "frame_len",
    "hop_ms": "hop",
    "hop": "hop",
    "filterbank": "frontend",
    "name": "the variant's name",
    "dtype": "the model",
}


# What the recipe sets on a ready-made front end: one rate, window, hop and band count for all.
RECIPE_FRONTEND_OPTIONS = ("sample_rate", "n_filters", "window_ms", "hop_ms")


def _ready_made() -> dict:
    """The ready-made front ends this recipe can build: those that take its rate, window,
    hop and band count (the pretrained models' presets fix their own, so are left out)."""
    from framebank.frontends import FRONTENDS

    return {
        name: cls
        for name, cls in FRONTENDS.items()
        if all(_takes(cls, option) for option in RECIPE_FRONTEND_OPTIONS)
    }


def _presets_note(names: list) -> str:
    """Why ``names`` that are pretrained models' presets (``whisper``, ``ast``) are refused,
    as a sentence to append to "unknown ..." (empty when none is)."""
    from framebank.frontends import FRONTENDS

    presets = [n for n in names if isinstance(n, str) and n in FRONTENDS and n not in _ready_made()]
    if not presets:
        return ""
    return (
        f". {', '.join(presets)}: the pretrained models' presets are not recipe front ends: "
        "each fixes its own sample rate, window, hop and band count, which this recipe sets "
        "for every front end (build one with framebank.build_frontend and train it in your "
        "own model)"
    )


def _takes(cls: type, option: str) -> bool:
    """Whether front end class ``cls`` has constructor option ``option``."""
    import inspect

    return option in inspect.signature(cls.__init__).parameters


def _families() -> list[str]:
    """The registered filterbank families this recipe builds bare (log compression after):
    those whose basis size it sets from its band count, or whose mel spectrum gives the
    bands."""
    from framebank.filterbanks import FILTERBANKS

    return [
        name for name, cls in FILTERBANKS.items() if cls.mel_spectrum or not cls.fixed_num_basis
    ]


def _check_variant(name: Any, variant: Any) -> None:
    """One entry of a language-ID config's ``variants``: its name and its fields' types."""
    if not isinstance(name, str) or not RUN_LABEL.fullmatch(name):
        raise ValueError(
            "config `variants`: a name is letters, digits, '_', '.' and '-', starting "
            f"with a letter or digit (it names run folders and Keras layers). "
            f"Received: {name!r}"
        )
    where = f"config `variants.{name}`"
    if name in _families() or name in _ready_made():
        raise ValueError(f"{where}: the name is a front end's own; choose another")
    if not isinstance(variant, dict) or "frontend" not in variant:
        raise ValueError(
            f"{where} must be a mapping with `frontend:` (the front end it varies) "
            f"and any of {', '.join(VARIANT_FIELDS[1:])}. Received: {variant!r}"
        )
    check_known_keys(where, variant, VARIANT_FIELDS)
    if variant["frontend"] not in (*_families(), *_ready_made()):
        raise ValueError(
            f"{where}.frontend: unknown {variant['frontend']!r}. Accepted: "
            f"{', '.join([*_families(), *_ready_made()])}{_presets_note([variant['frontend']])}"
        )
    options = check_options(variant.get("options", {}), f"config `variants.{name}.options`")
    owned = sorted(set(options) & set(RECIPE_OPTIONS))
    if owned:
        raise ValueError(
            f"config `variants.{name}.options`: {', '.join(owned)} "
            f"{'is' if len(owned) == 1 else 'are'} set "
            f"by the recipe (from "
            f"{', '.join(dict.fromkeys(f'`{RECIPE_OPTIONS[o]}`' for o in owned))}), "
            "the same for every front end"
        )
    multiplier = variant.get("frontend_lr_multiplier", 1.0)
    check_positive_number(f"variants.{name}.frontend_lr_multiplier", multiplier)
    masks = variant.get("spec_augment")
    if masks is not None and not isinstance(masks, (bool, dict)):
        raise TypeError(
            f"config `variants.{name}.spec_augment` must be true, false, null or a mapping "
            f"of SpecAugment's options. Received: {masks!r}"
        )


@dataclass
class LanguageIdConfig:
    """What ``framebank train --config recipes/language_id.yaml`` trains."""

    languages: list[str] = field(default_factory=lambda: ["en", "es", "fr", "it", "ru"])
    sample_rate: int = 8000
    chunk_seconds: float = 0.25
    snr_db: list[float] = field(default_factory=lambda: [0.0, -5.0])
    frontends: list[str] = field(default_factory=lambda: list(FAMILIES))
    variants: dict = field(default_factory=dict)
    reference: str | None = None
    method: str = "dense"
    stride1_method: str = "strided_conv"
    frame_len: int = 256
    hop: int = 80
    num_filters: int = 40
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 0.001
    frontend_lr_multiplier: float = 1.0
    spec_augment: dict | bool | None = None
    validation_fraction: float = 0.0
    seeds: list[int] = field(default_factory=lambda: [0])
    max_train_chunks: int | None = None
    bootstrap_resamples: int = 10_000
    distribution: str | None = None
    quick: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from framebank.methods import METHODS

        for name in ("method", "stride1_method"):
            value = getattr(self, name)
            if value not in METHODS and value != "auto":
                raise ValueError(
                    f"config `{name}`: unknown {value!r}. Accepted: auto, "
                    f"{', '.join(sorted(METHODS))}"
                )
        check_distribution(self.distribution)
        check_values(
            self,
            positive=("learning_rate", "chunk_seconds", "frontend_lr_multiplier"),
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
        if self.bootstrap_resamples < 1000:
            raise ValueError(
                "config `bootstrap_resamples` must be >= 1000 (fewer give intervals and "
                f"p-values that disagree). Received: {self.bootstrap_resamples}"
            )
        if not self.seeds:
            raise ValueError("config `seeds` must list at least one seed. Received: []")
        bad_seeds = [seed for seed in self.seeds if not 0 <= seed < 2**32]
        if bad_seeds:
            raise ValueError(
                f"config `seeds` must be integers in [0, 2**32). Received: {bad_seeds}"
            )
        if not 0.0 <= self.validation_fraction < 0.5:
            raise ValueError(
                "config `validation_fraction` must be in [0, 0.5) (0: no validation split, "
                f"the last epoch is tested). Received: {self.validation_fraction}"
            )
        if self.chunk_samples < self.frame_len:
            raise ValueError(
                f"config `chunk_seconds`={self.chunk_seconds} is shorter than one frame "
                f"(frame_len={self.frame_len})"
            )
        self._check_frontends()

    def _check_frontends(self) -> None:
        known = [*_families(), *_ready_made(), *self.variants]
        bad = [f for f in self.frontends if f not in known]
        if bad or not self.frontends:
            raise ValueError(
                f"config `frontends`: unknown {bad or 'empty list'}. Accepted: "
                f"{', '.join(known)} (bare families, ready-made front ends, your `variants`)"
                + _presets_note(bad)
            )
        if self.reference is not None and self.reference not in self.frontends:
            raise ValueError(
                f"config `reference` must be one of `frontends` {self.frontends}. "
                f"Received: {self.reference!r}"
            )
        for name, variant in self.variants.items():
            _check_variant(name, variant)
        for name in self.frontends:
            settings = self.settings(name)
            masks = settings["spec_augment"] or {}
            taken = sorted({"name", "seed"} & set(masks))
            if taken:
                raise ValueError(
                    f"config front end {name!r}: `spec_augment` may not set "
                    f"{', '.join(taken)} (each run's seed draws its masks)"
                )
            try:  # the layers are cheap to make: a bad option stops the config, not run 7
                language_id_frontend(self, name)
                if settings["spec_augment"] is not None:
                    SpecAugment(**settings["spec_augment"])
            except (TypeError, ValueError) as err:
                raise ValueError(f"config front end {name!r}: {err}") from None

    @property
    def chunk_samples(self) -> int:
        return int(round(self.chunk_seconds * self.sample_rate))

    @property
    def reference_frontend(self) -> str:
        """The front end the others are paired against: ``reference``, else the first."""
        return self.reference or self.frontends[0]

    def settings(self, name: str) -> dict:
        """``{"frontend", "options", "frontend_lr_multiplier", "spec_augment"}`` of ``name``:
        a variant's own fields over the config's."""
        variant = self.variants.get(name, {"frontend": name})
        # A variant's spec_augment replaces the config's (it does not merge with it).
        spec_augment = variant.get("spec_augment", self.spec_augment)
        if spec_augment is True:
            spec_augment = {}
        return {
            "frontend": variant["frontend"],
            "options": dict(variant.get("options") or {}),
            "frontend_lr_multiplier": float(
                variant.get("frontend_lr_multiplier", self.frontend_lr_multiplier)
            ),
            "spec_augment": None if spec_augment is False else spec_augment,
        }


def load_language_id_config(path: str | Path | None, quick: bool = False) -> LanguageIdConfig:
    """Read a language-ID config; ``quick`` applies its ``quick:`` overrides."""
    return load_recipe(LanguageIdConfig, path, quick)


def language_id_frontend(config: LanguageIdConfig, name: str) -> list:
    """The layers that turn ``[batch, samples]`` into ``[batch, frames, num_filters]``
    features for front end ``name`` (a family, a ready-made front end or a variant).

    The first layer is an :class:`~framebank.Encoder` (bare families) or a
    :class:`~framebank.FrontEnd` (ready-made ones, at ``frame_len`` windows and ``hop``).
    """
    from framebank.config import build_frontend

    settings = config.settings(name)
    family, options = settings["frontend"], settings["options"]
    ready_made = _ready_made()
    if family in ready_made:
        # Through the registry's one factory, as a front-end config names it.
        rate = config.sample_rate
        stride1 = getattr(ready_made[family], "stride1", False)
        spec = {
            "frontend": family,
            "method": config.stride1_method if stride1 else config.method,
            # LEAF's own default path (band-limited); stride1_method runs the filters that
            # path cannot (and all of them with `options: {band_limited: false}`).
            **({"band_limited": True} if _takes(ready_made[family], "band_limited") else {}),
            **options,
            "sample_rate": rate,
            "n_filters": config.num_filters,
            "window_ms": 1000.0 * config.frame_len / rate,
            "hop_ms": 1000.0 * config.hop / rate,
            "name": "frontend",
        }
        return [build_frontend(spec)]
    return _bare_family_layers(config, family, options)


def _bare_family_layers(config: LanguageIdConfig, family: str, options: dict) -> list:
    """A bare family's encoder and what its capabilities ask after it: the mel spectrum
    (a mel family's bands), one energy per complex pair, else one per basis vector."""
    import framebank as fb
    from framebank.filterbanks import FILTERBANKS

    cls = FILTERBANKS[family]
    common = dict(method=options.pop("method", config.method), name="frontend_encoder")
    if cls.needs_sample_rate:
        options = {"sample_rate": config.sample_rate, **options}
    if cls.mel_spectrum:
        # num_basis follows from the frame; the recipe's band count is the mel bands'.
        encoder = fb.Encoder(
            None,
            config.frame_len,
            config.hop,
            filterbank=family,
            n_mels=config.num_filters,
            **{"power": 2.0, **options},
            **common,
        )
        spectrum = MelSpectrum.for_encoder(encoder)
        return [encoder, spectrum, LogEnergy(square=False, name="log")]
    pairs = cls.complex_pairs
    encoder = fb.Encoder(
        (2 if pairs else 1) * config.num_filters,
        config.frame_len,
        config.hop,
        filterbank=family,
        **options,
        **common,
    )
    return [encoder, LogEnergy(pairs=pairs, name="log_power")]


class _ScaledAdam(keras.optimizers.Adam):
    """Adam whose step on some variables (a front end's) is ``multiplier`` times larger.

    Scaling the gradient would not do it (Adam divides the scale out), so the learning
    rate of those variables is what is scaled, inside ``update_step``.
    """

    def __init__(self, learning_rate: float, multiplier: float, scaled: list) -> None:
        super().__init__(learning_rate, name="scaled_adam")
        self._multiplier = multiplier
        self._scaled_ids = {id(v) for v in scaled}
        self._scaled_indices: set[int] = set()

    def build(self, variables: list) -> None:
        super().build(variables)
        self._scaled_indices = {
            self._get_variable_index(v) for v in variables if id(v) in self._scaled_ids
        }

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        if self._get_variable_index(variable) in self._scaled_indices:
            learning_rate = learning_rate * self._multiplier
        super().update_step(gradient, variable, learning_rate)


def frontend_layers(model: Any) -> list:
    """The front end's layers in a classifier from :func:`build_classifier`."""
    layers = []
    for layer in model.layers[1:]:
        if layer.name in ("spec_augment", "feature_norm"):
            break
        layers.append(layer)
    return layers


def build_classifier(config: LanguageIdConfig, frontend: str, seed: int) -> Any:
    """Front end -> [SpecAugment] -> per-filter normalisation -> two Conv1D(64) -> pooling
    -> softmax; Adam with the front end's weights at ``frontend_lr_multiplier`` x the rate."""
    keras.utils.set_random_seed(seed)
    settings = config.settings(frontend)
    inputs = keras.Input((config.chunk_samples,), name="audio")
    layers = language_id_frontend(config, frontend)
    x = inputs
    for layer in layers:
        x = layer(x)
    if settings["spec_augment"] is not None:
        x = SpecAugment(**{"seed": seed, **settings["spec_augment"]}, name="spec_augment")(x)
    x = keras.layers.BatchNormalization(name="feature_norm")(x)
    x = keras.layers.Conv1D(64, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv1D(64, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(len(config.languages), name="logits")(x)
    model = keras.Model(inputs, outputs, name=f"language_id_{frontend}")
    multiplier = settings["frontend_lr_multiplier"]
    if multiplier == 1.0:
        optimizer = keras.optimizers.Adam(config.learning_rate)
    else:
        scaled = [v for layer in layers for v in layer.trainable_variables]
        optimizer = _ScaledAdam(config.learning_rate, multiplier, scaled)
    model.compile(
        optimizer=optimizer,
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
    valid: np.ndarray | None = None  # held-out training prompts that choose the epoch
    valid_labels: np.ndarray | None = None


def _choose_splits(config: LanguageIdConfig, clips: list) -> dict[str, list]:
    """The clips of each split: ``train``, ``test`` and, with a validation fraction, ``valid``."""
    from framebank.audio import split_clips, split_of

    # The test set is the same with or without validation (valid + test of the corpus
    # split: nothing is tuned on it); a validation split comes out of training prompts.
    trained = {id(c) for c in split_clips(clips)["train"]}
    chosen = {
        "train": [c for c in clips if id(c) in trained],
        "test": [c for c in clips if id(c) not in trained],
    }
    if config.validation_fraction > 0:
        share = (1.0 - config.validation_fraction, config.validation_fraction, 0.0)
        validating = {
            id(c)
            for c in chosen["train"]
            if split_of(f"valid/{c.prompt or c.path}", share) == "valid"
        }
        chosen["valid"] = [c for c in chosen["train"] if id(c) in validating]
        chosen["train"] = [c for c in chosen["train"] if id(c) not in validating]
    return chosen


def _check_splits(
    config: LanguageIdConfig, source: str | Path | None, train: tuple, test: tuple, valid: tuple
) -> None:
    """Refuse splits the recipe cannot use: each is (chunks, labels); ``valid``'s may be None."""
    (train, train_labels), (test, test_labels), (valid, valid_labels) = train, test, valid
    # A language without audio in both splits would stay a class nobody can score,
    # and the report's chance level (1 / languages) would be wrong.
    missing = [
        language
        for index, language in enumerate(config.languages)
        if not (np.any(train_labels == index) and np.any(test_labels == index))
    ]
    if missing:
        held = (
            f", or `validation_fraction`={config.validation_fraction} took all its training "
            "prompts (lower it, or set 0)"
            if config.validation_fraction
            else ""
        )
        raise io.RecipeInputError(
            f"config `languages` names {', '.join(missing)}, which has no usable audio for "
            f"both training and test in {source or 'the corpus'}; list only languages with "
            f"audio (a --source folder needs one sub-folder per language){held}"
        )
    if valid is not None and (
        not len(valid) or set(np.unique(valid_labels)) != set(np.unique(train_labels))
    ):
        raise io.RecipeInputError(
            f"config `validation_fraction`={config.validation_fraction} held out "
            f"{len(valid)} validation chunks of {len(set(np.unique(valid_labels)))} of the "
            f"{len(config.languages)} languages from {source or 'the corpus'}: change it so "
            "that every language has some, or set 0 (the last epoch is then tested)"
        )
    if len(train) < config.batch_size or len(test) == 0:
        raise io.RecipeInputError(
            f"too little audio: {len(train)} training, {len(test)} test and "
            f"{0 if valid is None else len(valid)} validation chunks of "
            f"{config.chunk_seconds} s"
        )


def prepare_data(config: LanguageIdConfig, source: str | Path | None = None) -> LanguageData:
    """Read the languages' clips, split them by prompt, and cut each split into audible
    chunks with their labels; a source the recipe cannot use is refused before training."""
    from framebank.audio import LoadReport, keep_at_most

    clips = source_clips(source)
    clips = [c for c in clips if c.language in config.languages and "silence" not in c.prompt]
    if not clips:
        raise io.RecipeInputError(
            f"no audio of languages {config.languages} in {source or 'the corpus'} "
            "(a --source folder needs one sub-folder per language)"
        )
    report = LoadReport()
    chosen = _choose_splits(config, clips)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    clip_of_chunk: dict[str, np.ndarray] = {}
    for split, members in chosen.items():
        chunks, owners = split_chunks(members, config.sample_rate, config.chunk_samples, report)
        labels = np.array([config.languages.index(c.language) for c in owners], "int32")
        out[split] = (chunks, labels)
        clip_of_chunk[split] = clip_indices(members, owners)
    check_loaded(report, source)
    train, train_labels = out["train"]
    pick = keep_at_most(len(train), config.max_train_chunks)
    train, train_labels = train[pick], train_labels[pick]
    test, test_labels = out["test"]
    valid, valid_labels = out.get("valid", (None, None))
    _check_splits(config, source, (train, train_labels), (test, test_labels), (valid, valid_labels))
    summary = {
        "files_loaded": report.loaded,
        "files_skipped": len(report.skipped),
        "skipped": report.skipped,
        "train_chunks": int(len(train)),
        "test_chunks": int(len(test)),
        "valid_chunks": 0 if valid is None else int(len(valid)),
        "test_recordings": int(len(np.unique(clip_of_chunk["test"]))),
        "test_clip": clip_of_chunk["test"].tolist(),
        "test_per_language": {
            lang: int(np.sum(test_labels == i)) for i, lang in enumerate(config.languages)
        },
        "source": str(source) if source else "data/ (shipped corpus)",
    }
    return LanguageData(train, train_labels, test, test_labels, summary, valid, valid_labels)


def _interval(correct: int, total: int) -> float:
    """Half-width of the 95% normal-approximation interval of an accuracy."""
    if total == 0:
        return float("nan")
    p = correct / total
    return 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / total)


def _logits(model: Any, audio: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [
            ops.convert_to_numpy(model(audio[i : i + 256], training=False))
            for i in range(0, len(audio), 256)
        ]
    )


def validation_accuracy(model: Any, data: LanguageData, snr: float) -> float:
    """Accuracy on the validation split, with its own fixed noise at ``snr`` dB."""
    noisy = mix_noise(data.valid, snr, np.random.default_rng(30_000))
    return float(np.mean(_logits(model, noisy).argmax(-1) == data.valid_labels))


def evaluate(model: Any, config: LanguageIdConfig, data: LanguageData, snr: float) -> dict:
    """Accuracy with its interval, confusion matrix, en-vs-es, and which test chunks were
    right (``correct``: a string of 0/1, one a chunk, for paired tests), noise at ``snr``."""
    noisy = mix_noise(data.test, snr, np.random.default_rng(20_000))
    logits = _logits(model, noisy)
    predicted = logits.argmax(-1)
    right = predicted == data.test_labels
    correct = int(np.sum(right))
    confusion = np.zeros((len(config.languages),) * 2, "int64")
    np.add.at(confusion, (data.test_labels, predicted), 1)
    entry = {
        "accuracy": correct / len(predicted),
        "interval95": _interval(correct, len(predicted)),
        "confusion": confusion.tolist(),
        "correct": "".join("1" if r else "0" for r in right),
    }
    if "en" in config.languages and "es" in config.languages:
        en, es = config.languages.index("en"), config.languages.index("es")
        mask = np.isin(data.test_labels, [en, es])
        pair = np.where(logits[mask][:, en] >= logits[mask][:, es], en, es)
        hits = int(np.sum(pair == data.test_labels[mask]))
        entry["en_vs_es_accuracy"] = hits / max(1, int(mask.sum()))
        entry["en_vs_es_interval95"] = _interval(hits, int(mask.sum()))
    return {f"{snr:g}": entry}


def filter_centres_hz(model: Any, config: LanguageIdConfig) -> list[float]:
    """Each learnable filter's centre frequency (Hz): parametric where the family has one
    (sinc, Gabor: continuous, so a small move shows), else its response's peak (as
    ``framebank inspect``); empty for a fixed filterbank."""
    from framebank.inspection import encoders_in, filter_table

    encoder = encoders_in(model)[0]
    filterbank = encoder.filterbank
    if not filterbank.trainable_weights:
        return []
    centres = filterbank.centre_hz()
    if centres is not None:
        return np.asarray(ops.convert_to_numpy(centres)).tolist()
    return [r["centre_hz"] for r in filter_table(encoder, config.sample_rate)]


def _parameter_summary(model: Any) -> dict:
    """Per post-processing layer with per-channel parameters (PCEN's, the pooling's):
    each parameter's mean, min and max over channels."""
    from framebank.inspection import parameter_tables

    summary = {}
    for layer, rows in parameter_tables(model).items():
        names = [k for k in rows[0] if k != "channel"]
        summary[layer] = {
            name: {
                "mean": float(np.mean([r[name] for r in rows])),
                "min": float(np.min([r[name] for r in rows])),
                "max": float(np.max([r[name] for r in rows])),
            }
            for name in names
        }
    return summary


class _ClassifierRun(RunHooks):
    """One (SNR, front end, seed) of the language-ID recipe, as :func:`loop.train_run`'s hooks."""

    def __init__(self, config, data, frontend, seed, snr, run_dir) -> None:
        self.config, self.data, self.frontend = config, data, frontend
        self.seed, self.snr, self.run_dir = seed, snr, run_dir
        self.validating = data.valid is not None
        self.best_path = run_dir / "best.weights.npz"

    def build(self) -> Any:
        model = build_classifier(self.config, self.frontend, self.seed)
        self.initial_centres = filter_centres_hz(model, self.config)
        self.initial_parameters = _parameter_summary(model)
        return model

    def encoder(self, model: Any) -> Any:
        from framebank.inspection import encoders_in

        return encoders_in(model)[0]

    def new_state(self) -> dict:
        state = {"epochs_done": 0, "step_loss": [], "epoch_seconds": []}
        return {**state, "valid_accuracy": []} if self.validating else state

    def train_epoch(self, model: Any, state: dict, epoch: int, progress: Progress) -> None:
        data, batch_size = self.data, self.config.batch_size
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(data.train))
        started = time.perf_counter()
        for step in range(steps_per_epoch(len(order), batch_size)):
            index = order[step * batch_size : (step + 1) * batch_size]
            noisy = mix_noise(data.train[index], self.snr, rng)
            loss = model.train_on_batch(noisy, data.train_labels[index])
            value = float(np.asarray(loss[0] if isinstance(loss, (list, tuple)) else loss))
            state["step_loss"].append(value)
            progress.step()
        state["epoch_seconds"].append(time.perf_counter() - started)

    def end_epoch(self, model: Any, state: dict, epoch: int, logging: bool) -> dict:
        scalars = {}
        if self.validating:
            accuracy = validation_accuracy(model, self.data, self.snr)
            scalars["valid/accuracy"] = accuracy
            if not state["valid_accuracy"] or accuracy > max(state["valid_accuracy"]):
                # Before the checkpoint: a kill in between re-runs this epoch, which
                # gives the same weights and rewrites the same file.
                save_weights(self.best_path, model)
            state["valid_accuracy"].append(accuracy)
        if logging:
            # Inference only, with its own noise: the training is untouched.
            snr = self.snr
            scalars["test/accuracy"] = evaluate(model, self.config, self.data, snr)[f"{snr:g}"][
                "accuracy"
            ]
        return scalars

    def epoch_note(self, state: dict) -> str:
        return f" valid {state['valid_accuracy'][-1]:.1%}" if self.validating else ""

    def frontend_layers(self, model: Any) -> list:
        return frontend_layers(model)

    def finish(self, model: Any, state: dict) -> dict:
        config = self.config
        if self.validating:
            load_weights(self.best_path, model)
            state["chosen_epoch"] = int(np.argmax(state["valid_accuracy"])) + 1
        else:
            state["chosen_epoch"] = config.epochs
        layers = frontend_layers(model)
        result = {
            "frontend": self.frontend,
            "settings": config.settings(self.frontend),
            "seed": self.seed,
            "snr_db": self.snr,
            "parameters": int(sum(layer.count_params() for layer in layers)),
            "trainable_parameters": int(
                sum(int(np.prod(v.shape)) for layer in layers for v in layer.trainable_weights)
            ),
            "initial_centres_hz": self.initial_centres,
            "learned_centres_hz": filter_centres_hz(model, config),
            "initial_parameters": self.initial_parameters,
            "learned_parameters": _parameter_summary(model),
            "evaluation": evaluate(model, config, self.data, self.snr),
            **state,
        }
        if result["trainable_parameters"]:  # what it learned, as `framebank inspect` writes it
            from framebank.inspection import inspect_frontend

            inspected = inspect_frontend(model, self.run_dir / "inspection", config.sample_rate)
            result["filters_moved_hz"] = next(iter(inspected["encoders"].values()))["moved_hz"]
        return result


class ClassifierRecipe(loop.RecipeHooks):
    """The language-ID recipe as :func:`loop.run_recipe`'s hooks: every (SNR, seed, front
    end) run of ``config`` on the data of ``source``; the folder-classification recipe
    overrides what differs (its record, its data, its headline, its report)."""

    what = "language-id"
    description = "framebank train"

    def __init__(
        self, config: LanguageIdConfig, source: str | Path | None, command: str | None
    ) -> None:
        self.config, self.source, self.command = config, source, command

    def record(self) -> dict:
        record = recipe_fields(self.config)
        record["source"] = str(self.source) if self.source else None
        # A resumed run must not mix backends: their step times and rounding differ.
        record["backend"] = keras.backend.backend()
        return record

    def prepare(self) -> LanguageData:
        return prepare_data(self.config, self.source)

    def plan(self, data: LanguageData) -> tuple[list, int]:
        config = self.config
        runs = [
            loop.Run(
                f"snr{snr:g}__{frontend}__seed{seed}",
                f"snr={snr:g} dB frontend={frontend} seed={seed}",
                functools.partial(_ClassifierRun, config, data, frontend, seed, snr),
            )
            for snr in config.snr_db
            for seed in config.seeds
            for frontend in config.frontends
        ]
        return runs, steps_per_epoch(len(data.train), config.batch_size)

    def headline(self, data: LanguageData) -> str:
        config = self.config
        return (
            f"framebank train (language id): {data.summary['train_chunks']} training / "
            f"{data.summary['test_chunks']} test chunks of {config.chunk_seconds} s, "
            f"{len(config.languages)} languages, noise at {config.snr_db} dB"
        )

    def summary_tail(self) -> dict:
        return {"command": self.command}

    def write(self, summary: dict, out: Path, progress: Progress, tensorboard: bool) -> dict:
        from framebank.training import report_language_id as report

        files = "REPORT.md, results.csv, results.json, confusion.png, centres.png"
        # The report adds the paired comparisons to the summary before results.json.
        return loop.write_results(report, summary, out, progress, files, tensorboard)


def run_language_id(
    config: LanguageIdConfig,
    out: str | Path,
    source: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    tensorboard: bool = True,
    command: str | None = None,
) -> dict:
    """Train every front end (x seed), evaluate, write results, plots and REPORT.md.

    ``quiet``: print nothing (no progress); ``tensorboard``: write TensorBoard logs under
    ``out/tensorboard`` (they change no number of the run); ``command``: the command line
    that ran it, quoted in the report.
    """
    recipe = ClassifierRecipe(config, source, command)
    return loop.run_recipe(recipe, out, resume, quiet, tensorboard)
