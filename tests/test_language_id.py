"""Recipe 2, `framebank train`: language identification results, splits, config errors."""

import json

import keras
import numpy as np
import pytest

from framebank import cli
from framebank.audio import read_manifest, split_of
from framebank.frontends import FRONTENDS
from framebank.postprocessing import LogEnergy
from framebank.training import language_id
from framebank.training.config import from_dict
from framebank.training.language_id import (
    FAMILIES,
    LanguageIdConfig,
    _ready_made,
    build_classifier,
    frontend_layers,
    prepare_data,
    run_language_id,
)


@pytest.mark.slow
def test_quick_run_writes_results_and_learns_something(tmp_path):
    out = tmp_path / "lid"
    assert cli.main(["train", "--quick", "--out", str(out), "--quiet"]) == 0
    for name in ("results.csv", "results.json", "confusion.png", "centres.png", "REPORT.md"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "results.json").read_text())
    for run in summary["runs"]:
        for entry in run["evaluation"].values():
            confusion = np.asarray(entry["confusion"])
            assert confusion.sum() == summary["data"]["test_chunks"]
            assert np.isclose(np.trace(confusion) / confusion.sum(), entry["accuracy"])
            assert 0 < entry["interval95"] < 0.1
    sinc = next(r for r in summary["runs"] if r["frontend"] == "sinc")
    assert len(sinc["learned_centres_hz"]) == summary["config"]["num_filters"]
    assert all(0 < f < 4000 for f in sinc["learned_centres_hz"])
    assert sinc["learned_centres_hz"] != sinc["initial_centres_hz"]  # the filters trained
    assert "en vs es" in (out / "REPORT.md").read_text()
    # TensorBoard: losses and each epoch's test accuracy for every front end, the filters
    # where there is something to learn (sinc), none for the fixed mel front end.
    tf = pytest.importorskip("tensorflow")
    for run in summary["runs"]:
        folder = out / "tensorboard" / f"snr0__{run['frontend']}__seed0"
        tags = {}
        for path in sorted(folder.glob("*tfevents*")):
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for value in event.summary.value:
                    tags.setdefault(value.tag, []).append((event.step, value))
        assert len(tags["train/loss"]) == len(run["step_loss"])
        accuracy = tags["test/accuracy"][-1][1].simple_value
        assert np.isclose(accuracy, run["evaluation"]["0"]["accuracy"], atol=1e-6)
        images = tags.get("filters/magnitude_response_db", [])
        assert len(images) == (
            0 if run["frontend"] == "log_mel" else 1 + summary["config"]["epochs"]
        )
    # Paired with the reference on the same chunks, and the epoch chosen on validation.
    (versus,) = [c for c in summary["comparisons"] if c["frontend"] == "sinc"]
    assert versus["reference"] == "log_mel" and versus["low"] <= versus["difference"]
    assert versus["difference"] <= versus["high"] and 0 < versus["p"] <= 1
    assert summary["data"]["valid_chunks"] > 0
    assert all(
        run["chosen_epoch"] == 1 and len(run["valid_accuracy"]) == 1 for run in summary["runs"]
    )
    report = (out / "REPORT.md").read_text()
    assert "vs log_mel" in report
    # Quoted as it was run, the shipped recipe by its name (it works on any install).
    assert summary["command"].endswith("framebank train --config language_id --quick")
    assert f"Command: `{summary['command']}`" in report


def test_held_out_prompts_never_in_training():
    config = from_dict(LanguageIdConfig, {"languages": ["en", "fr"]})
    data = prepare_data(config)
    assert data.summary["train_chunks"] > 0 and data.summary["test_chunks"] > 0
    train_prompts = {c.prompt for c in read_manifest() if split_of(c.prompt) == "train"}
    held_out = {c.prompt for c in read_manifest() if split_of(c.prompt) != "train"}
    assert train_prompts and held_out and not train_prompts & held_out
    assert set(np.unique(data.test_labels)) == {0, 1}


def test_the_recipe_takes_the_front_ends_that_take_its_options():
    """Every ready-made front end with a rate, window, hop and band count; the presets of
    pretrained models (fixed definitions) are refused by name when a config asks for one."""
    ready = set(_ready_made())
    assert {"log_mel", "pcen_mel", "leaf", "td_filterbanks", "sincnet"} <= ready
    for name in set(FRONTENDS) - ready:
        with pytest.raises(ValueError, match=name):
            from_dict(LanguageIdConfig, {"frontends": [name]})


@pytest.mark.parametrize("frontend", [*FAMILIES, *_ready_made()])
def test_every_frontend_builds_and_gives_finite_logits(frontend):
    config = from_dict(
        LanguageIdConfig,
        {"num_filters": 8, "frame_len": 64, "hop": 32, "frontends": [frontend]},
    )
    model = build_classifier(config, frontend, seed=0)
    x = np.random.default_rng(0).standard_normal((3, config.chunk_samples)).astype("float32")
    logits = keras.ops.convert_to_numpy(model(x))
    assert logits.shape == (3, 5) and np.all(np.isfinite(logits))
    loss = model.train_on_batch(x, np.array([0, 1, 2]))
    assert np.all(np.isfinite(np.asarray(loss[0] if isinstance(loss, list) else loss)))


def test_a_family_is_built_from_its_attributes_not_its_name():
    """A complex family (analytic) gets one log energy per pair at the recipe's band count; a
    family whose basis size the frame fixes and no mel spectrum completes is refused."""
    config = from_dict(
        LanguageIdConfig,
        {"num_filters": 8, "frame_len": 64, "hop": 32, "frontends": ["analytic"]},
    )
    encoder, log = language_id.language_id_frontend(config, "analytic")
    assert encoder.num_basis == 16 and log.pairs
    assert log.compute_output_shape((1, 5, encoder.num_basis)) == (1, 5, 8)
    with pytest.raises(ValueError, match="fourier.*Accepted"):
        from_dict(LanguageIdConfig, {"frontends": ["fourier"]})


def test_log_power_pairs():
    x = np.array([[[3.0, 0.0, 4.0, 1.0]]], "float32")
    got = np.asarray(LogEnergy(pairs=True, eps=0.0)(x))
    np.testing.assert_allclose(got, np.log([[[25.0, 1.0]]]), rtol=1e-6)
    assert LogEnergy(pairs=True).compute_output_shape((2, 7, 4)) == (2, 7, 2)


@pytest.mark.parametrize(
    "data,error,match",
    [
        ({"frontends": ["cqt"]}, ValueError, "cqt.*Accepted"),
        ({"method": "fft"}, ValueError, "fft"),
        ({"languages": ["en"]}, ValueError, "two or more"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"chunk_seconds": 0.001}, ValueError, "chunk_seconds"),
        ({"snr": 3}, ValueError, "unknown field"),
        # Found in a user-perspective review: each trained, or failed mid-run.
        ({"languages": ["en", "en", "es"]}, ValueError, "`languages` lists en more than once"),
        ({"learning_rate": 0.0}, ValueError, "`learning_rate` must be a positive number"),
        ({"learning_rate": -0.003}, ValueError, "learning_rate"),
        ({"snr_db": [0.0, float("nan")]}, ValueError, "`snr_db` must be finite"),
        ({"seeds": [0, 0]}, ValueError, "`seeds` lists 0 more than once"),
        ({"max_train_chunks": 0}, ValueError, "max_train_chunks"),
        ({"distribution": "no_such"}, ValueError, "no_such"),
        ({"frontends": ["log_mel"], "reference": "leaf"}, ValueError, "`reference` must be"),
        ({"frontends": ["x"], "variants": {"x": {"frontend": "cqt"}}}, ValueError, "cqt"),
        # The pretrained presets were refused as unknown, beside a list that left them out.
        ({"frontends": ["whisper"]}, ValueError, "whisper: the pretrained models' presets are"),
        (
            {"frontends": ["x"], "variants": {"x": {"frontend": "kaldi_fbank"}}},
            ValueError,
            "kaldi_fbank: the pretrained .* fixes its own sample rate",
        ),
        ({"frontends": ["x"], "variants": {"x": {"base": "leaf"}}}, ValueError, "`frontend:`"),
        (
            {"frontends": ["x"], "variants": {"x": {"frontend": "leaf", "lr": 3}}},
            ValueError,
            "unknown field.*lr",
        ),
        (
            {"variants": {"x": {"frontend": "leaf", "frontend_lr_multiplier": 0}}},
            ValueError,
            "frontend_lr_multiplier` must be a positive",
        ),
        ({"variants": {"leaf": {"frontend": "leaf"}}}, ValueError, "a front end's own"),
        (
            {"frontends": ["x"], "variants": {"x": {"frontend": "leaf", "options": [1]}}},
            ValueError,
            r"variants.x.options` must be a mapping.*Received: \[1\]",
        ),
        (
            {"frontends": ["x"], "variants": {"x": {"frontend": "leaf", "options": {"n": 1}}}},
            ValueError,
            "front end 'x'.*n",
        ),
        ({"spec_augment": {"time_masks": -1}}, ValueError, "time_masks"),
        ({"validation_fraction": 0.5}, ValueError, "validation_fraction"),
        ({"stride1_method": "fft"}, ValueError, "stride1_method"),
        # Found in a newcomer's review: each failed after the results folder was written.
        ({"seeds": []}, ValueError, "`seeds` must list at least one"),
        ({"seeds": [-1]}, ValueError, r"`seeds` must be integers in \[0, 2\*\*32\)"),
        ({"spec_augment": {"name": "m"}}, ValueError, "may not set name"),
        ({"spec_augment": {"seed": 3}}, ValueError, "may not set seed"),
        ({"frontends": ["a/b"], "variants": {"a/b": {"frontend": "sinc"}}}, ValueError, "a/b"),
        ({"variants": {True: {"frontend": "sinc"}}}, ValueError, "a name is letters"),
        ({"frontends": [".."], "variants": {"..": {"frontend": "sinc"}}}, ValueError, "starting"),
        ({"bootstrap_resamples": 10}, ValueError, "bootstrap_resamples` must be >= 1000"),
        (
            {
                "frontends": ["x"],
                "variants": {"x": {"frontend": "sinc", "options": {"sample_rate": 1}}},
            },
            ValueError,
            "sample_rate is set by the recipe .from `sample_rate`",
        ),
        (
            {"frontends": ["x"], "variants": {"x": {"frontend": "leaf", "spec_augment": 1}}},
            TypeError,
            "true, false, null or a mapping",
        ),
    ],
)
def test_bad_config(data, error, match):
    with pytest.raises(error, match=match):
        from_dict(LanguageIdConfig, data)


def test_a_language_without_audio_is_refused_before_training():
    """A listed language with no audio stayed a class no chunk belonged to, and the report's
    chance level (1 / languages) was wrong."""
    from framebank.training.io import RecipeInputError
    from framebank.training.language_id import prepare_data

    config = from_dict(LanguageIdConfig, {"languages": ["en", "es", "de"], "max_train_chunks": 8})
    with pytest.raises(RecipeInputError, match="names de, which has no usable audio"):
        prepare_data(config)


def _trained_once(multiplier: float) -> tuple[list, list, list]:
    config = from_dict(
        LanguageIdConfig,
        {
            "num_filters": 8,
            "frame_len": 64,
            "hop": 32,
            "frontends": ["free"],
            "frontend_lr_multiplier": multiplier,
        },
    )
    # free: weights of order 0.1, so float32 resolves a 1e-3 step (sinc's are in Hz).
    model = build_classifier(config, "free", seed=0)
    before = [np.array(w) for w in model.get_weights()]
    x = np.random.default_rng(1).standard_normal((4, config.chunk_samples)).astype("float32")
    model.train_on_batch(x, np.array([0, 1, 2, 3]))
    front = {id(v) for layer in frontend_layers(model) for v in layer.weights}
    is_front = [id(v) in front for v in model.weights]
    steps = [np.array(w) - b for w, b in zip(model.get_weights(), before, strict=True)]
    return steps, is_front, [v.trainable for v in model.weights]


def test_frontend_lr_multiplier_scales_only_the_front_ends_steps():
    """Adam's first step is about lr x sign(gradient): x10 for the front end's weights,
    the classifier's steps unchanged."""
    plain, is_front, trainable = _trained_once(1.0)
    scaled, _, _ = _trained_once(10.0)
    assert any(is_front) and not all(is_front)
    for a, b, front, learns in zip(plain, scaled, is_front, trainable, strict=True):
        if not learns:
            continue
        if front:
            moved = np.abs(a) > 1e-7
            assert moved.any()
            np.testing.assert_allclose(b[moved], 10 * a[moved], rtol=0.02)
        else:
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-8)


def test_validation_split_comes_from_training_prompts_and_leaves_test_alone():
    plain = prepare_data(from_dict(LanguageIdConfig, {"frontends": ["log_mel"]}))
    held = prepare_data(
        from_dict(LanguageIdConfig, {"frontends": ["log_mel"], "validation_fraction": 0.2})
    )
    np.testing.assert_array_equal(held.test, plain.test)  # the paired chunks stay the same
    assert held.valid is not None and len(held.valid) > 0
    assert len(held.train) + len(held.valid) == len(plain.train)
    assert plain.valid is None
    train_rows = {row.tobytes() for row in held.train}
    assert not any(row.tobytes() in train_rows for row in held.valid)


def test_killed_run_with_masks_and_validation_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    """SpecAugment's random state and the best epoch's weights survive a kill."""
    config = from_dict(
        LanguageIdConfig,
        {
            "num_filters": 8,
            "frame_len": 64,
            "hop": 32,
            "frontends": ["gabor_masked"],
            "variants": {
                "gabor_masked": {
                    "frontend": "gabor",
                    "spec_augment": {"time_width": 3, "freq_width": 2},
                    "frontend_lr_multiplier": 5.0,
                }
            },
            "snr_db": [0.0],
            "epochs": 3,
            "max_train_chunks": 96,
            "validation_fraction": 0.1,
        },
    )
    whole = run_language_id(config, tmp_path / "whole", quiet=True, tensorboard=False)
    from framebank.training import loop

    saved = loop.save_checkpoint
    calls = []

    def killed_after_one_epoch(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt("killed")
        calls.append(1)
        saved(*args, **kwargs)

    monkeypatch.setattr(loop, "save_checkpoint", killed_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_language_id(config, tmp_path / "killed", quiet=True, tensorboard=False)
    monkeypatch.setattr(loop, "save_checkpoint", saved)
    resumed = run_language_id(
        config, tmp_path / "killed", resume=True, quiet=True, tensorboard=False
    )
    (a,), (b,) = whole["runs"], resumed["runs"]
    assert a["step_loss"] == b["step_loss"] and a["valid_accuracy"] == b["valid_accuracy"]
    assert a["chosen_epoch"] == b["chosen_epoch"]
    assert a["evaluation"] == b["evaluation"]


def test_spec_augment_true_means_the_defaults_and_a_variant_may_turn_it_off():
    config = from_dict(
        LanguageIdConfig,
        {
            "frontends": ["log_mel", "plain"],
            "spec_augment": True,
            "variants": {"plain": {"frontend": "log_mel", "spec_augment": False}},
        },
    )
    assert config.settings("log_mel")["spec_augment"] == {}
    assert config.settings("plain")["spec_augment"] is None


def test_a_variant_may_choose_its_own_method():
    config = from_dict(
        LanguageIdConfig,
        {
            "frontends": ["x"],
            "variants": {"x": {"frontend": "sinc", "options": {"method": "matmul"}}},
        },
    )
    (encoder, _) = language_id.language_id_frontend(config, "x")
    assert encoder.method.name == "matmul"


def _comparison(reference, other, seeds_right, groups=None):
    """A summary with a reference and one learnable front end on the same chunks."""
    runs = []
    for name, shares in ((reference, seeds_right[0]), (other, seeds_right[1])):
        for seed, share in enumerate(shares):
            correct = "".join("1" if i < share * 40 else "0" for i in range(40))
            runs.append(
                {
                    "frontend": name,
                    "seed": seed,
                    "snr_db": 0.0,
                    "trainable_parameters": 0 if name == reference else 80,
                    "evaluation": {"0": {"accuracy": correct.count("1") / 40, "correct": correct}},
                }
            )
    config = {"frontends": [reference, other], "reference": reference, "bootstrap_resamples": 2000}
    return {"config": config, "data": {"test_clip": groups}, "runs": runs}


def test_goal_needs_every_seed_ahead():
    from framebank.training import report_language_id as report

    summary = _comparison("log_mel", "sinc", [[0.5, 0.5, 0.5], [0.75, 0.75, 0.45]])
    (row,) = [r for r in report.compare_frontends(summary) if r["frontend"] == "sinc"]
    assert row["seeds_ahead"] == 2 and row["paired_seeds"] == 3 and row["low"] > 0
    assert report.goal_text(report.compare_frontends(summary), ("log_mel",)).startswith(
        "Goal not met"
    )
    summary = _comparison("log_mel", "sinc", [[0.5, 0.5, 0.5], [0.75, 0.75, 0.7]])
    assert report.goal_text(report.compare_frontends(summary), ("log_mel",)).startswith(
        "Goal met: sinc"
    )


def test_the_comparison_resamples_recordings_not_chunks():
    """Chunks of one recording move together: with 4 recordings of 10 chunks the interval
    is wider than with 40 independent chunks."""
    from framebank.training import report_language_id as report

    shares = [[0.5, 0.5, 0.5], [0.6, 0.6, 0.6]]
    chunks = report.compare_frontends(_comparison("log_mel", "sinc", shares))
    recordings = report.compare_frontends(
        _comparison("log_mel", "sinc", shares, groups=[i // 10 for i in range(40)])
    )
    width = [
        next(r["high"] - r["low"] for r in rows if "low" in r) for rows in (chunks, recordings)
    ]
    assert width[1] > width[0]


def test_each_run_saves_the_classifier_and_the_front_end_as_keras(tmp_path):
    import soundfile as sf

    config = from_dict(
        LanguageIdConfig,
        {"num_filters": 8, "frame_len": 64, "hop": 32, "frontends": ["log_mel"],
         "snr_db": [0.0], "epochs": 1, "max_train_chunks": 32},
    )  # fmt: skip
    run_language_id(config, tmp_path / "out", quiet=True, tensorboard=False)
    (folder,) = (tmp_path / "out" / "runs").iterdir()
    classifier = keras.models.load_model(folder / "model.keras")
    frontend = keras.models.load_model(folder / "frontend.keras")
    x = np.random.default_rng(0).standard_normal((1, config.chunk_samples)).astype("float32")
    assert keras.ops.convert_to_numpy(classifier(x)).shape == (1, len(config.languages))
    sf.write(tmp_path / "in.wav", 0.1 * x[0], config.sample_rate, subtype="FLOAT")
    out = tmp_path / "features.npy"
    assert (
        cli.main(["stream", str(folder / "frontend.keras"), str(tmp_path / "in.wav"), str(out)])
        == 0
    )
    want = keras.ops.convert_to_numpy(frontend(0.1 * x))[0]
    got = np.load(out).reshape(-1, want.shape[-1])  # one channel
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


def test_stride1_front_ends_take_the_stride1_method():
    """Which ready-made front ends run their filters at every sample is their own attribute."""
    config = from_dict(LanguageIdConfig, {"frontends": ["leaf", "pcen_mel"]})
    (leaf,) = language_id.language_id_frontend(config, "leaf")
    (pcen_mel,) = language_id.language_id_frontend(config, "pcen_mel")
    assert leaf.encoder.method.name == config.stride1_method
    assert pcen_mel.encoder.method.name == config.method != config.stride1_method
    # A named stride-1 method is not LEAF's reference here: the recipe's LEAF is LEAF()'s own
    # band-limited path, unless a variant's options say band_limited: false.
    assert leaf.band_limited
    config = from_dict(
        LanguageIdConfig,
        {
            "frontends": ["leaf", "leaf_stride1"],
            "variants": {"leaf_stride1": {"frontend": "leaf", "options": {"band_limited": False}}},
        },
    )
    (reference,) = language_id.language_id_frontend(config, "leaf_stride1")
    assert not reference.band_limited
    assert reference.encoder.method.name == config.stride1_method
