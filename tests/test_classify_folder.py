"""`framebank train --source DIR` on the user's folder of classes (recipe classify_folder)."""

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile as sf

from framebank import _command, cli
from framebank.audio import Clip, read_manifest
from framebank.training.classify_folder import (
    ClassifyFolderConfig,
    folder_clips,
    prepare_folder_data,
    split_files,
)
from framebank.training.io import RecipeInputError

# Three classes of the shipped corpus under names of the user's own, so that nothing but
# the folder layout says what they are.
CLASSES = {"bird": "en", "cat": "fr", "dog": "it"}


def _write_classes(root: Path, per_class: int = 5, classes: dict = CLASSES) -> dict[str, int]:
    """Copy ``per_class`` clips of 1-3 s of each language into ``root/<class>/``."""
    clips = read_manifest()
    counts = {}
    for name, language in classes.items():
        chosen = [c for c in clips if c.language == language and 1.0 <= c.seconds <= 3.0]
        (root / name).mkdir(parents=True)
        for clip in chosen[:per_class]:
            shutil.copy(clip.path, root / name / clip.path.name)
        counts[name] = len(chosen[:per_class])
    return counts


@pytest.mark.slow
def test_train_on_a_folder_of_classes_reports_counts_and_saves_keras(tmp_path):
    source, out = tmp_path / "my_sounds", tmp_path / "out"
    counts = _write_classes(source)
    argv = ["train", "--source", str(source), "--quick", "--out", str(out), "--quiet"]
    assert cli.main([*argv, "--no-tensorboard"]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["config"]["languages"] == sorted(CLASSES)
    data = summary["data"]
    assert data["split"] == {
        "by": "file", "seed": 0, "test_fraction": 0.2, "validation_fraction": 0.0
    }  # fmt: skip
    # Every file in exactly one split, every class in both; the clips add up to the data's.
    for name, count in counts.items():
        entry = data["per_class"][name]
        assert entry["train_files"] + entry["test_files"] == count, (name, entry)
        assert entry["train_files"] >= 1 and entry["test_files"] >= 1
    for split in ("train", "test"):
        total = sum(e[f"{split}_clips"] for e in data["per_class"].values())
        assert total == data[f"{split}_chunks"]
    for run in summary["runs"]:
        confusion = np.asarray(run["evaluation"]["inf"]["confusion"])
        assert confusion.shape == (3, 3) and confusion.sum() == data["test_chunks"]
    (versus,) = [c for c in summary["comparisons"] if "difference" in c]
    assert versus["reference"] == "log_mel" and 0 < versus["p"] <= 1
    report = (out / "REPORT.md").read_text()
    for name, entry in data["per_class"].items():
        row = (
            f"| {name} | {entry['train_files']} | {entry['train_clips']} | "
            f"{entry['test_files']} | {entry['test_clips']} |"
        )
        assert row in report
    assert "Split by file" in report and "seed 0" in report
    assert summary["command"].endswith(f"--source {source} --quick")

    # The trained model and its front end load, stream and inspect.
    folder = out / "runs" / "snrinf__sinc__seed0"
    model = keras.models.load_model(folder / "model.keras")
    rate, length = summary["config"]["sample_rate"], model.inputs[0].shape[1]
    x = np.random.default_rng(0).uniform(-0.1, 0.1, (1, length)).astype("float32")
    assert keras.ops.convert_to_numpy(model(x)).shape == (1, 3)
    sf.write(tmp_path / "in.wav", x[0], rate, subtype="FLOAT")
    features = tmp_path / "features.npy"
    assert (
        cli.main(
            ["stream", str(folder / "frontend.keras"), str(tmp_path / "in.wav"), str(features)]
        )
        == 0
    )
    frontend = keras.models.load_model(folder / "frontend.keras")
    want = keras.ops.convert_to_numpy(frontend(x))[0]
    got = np.load(features).reshape(-1, want.shape[-1])
    assert got.shape == want.shape
    assert cli.main(["inspect", str(folder / "model.keras"), "--out", str(tmp_path / "i")]) == 0
    assert list((tmp_path / "i").glob("*.csv"))


def _clips(spec: dict[str, int], groups: int | None = None) -> list:
    return [
        Clip(
            path=Path(f"{name}/{i}.wav"),
            language=name,
            prompt=f"group/g{i % groups}" if groups else f"{name}/{i}.wav",
        )
        for name, count in spec.items()
        for i in range(count)
    ]


def test_split_by_file_is_seeded_and_puts_each_class_in_both_splits():
    clips = _clips({"a": 10, "b": 4, "c": 2})
    first = split_files(clips, ["a", "b", "c"], 0.2, 0.0, seed=0, grouped=False)
    again = split_files(clips, ["a", "b", "c"], 0.2, 0.0, seed=0, grouped=False)
    assert first == again
    assert {c.path for c in first["train"]}.isdisjoint(c.path for c in first["test"])
    assert len(first["train"]) + len(first["test"]) == len(clips)
    tested = {name: sum(c.language == name for c in first["test"]) for name in "abc"}
    assert tested == {"a": 2, "b": 1, "c": 1}  # round(0.2 x n), at least one, never all
    other = split_files(clips, ["a", "b", "c"], 0.2, 0.0, seed=1, grouped=False)
    assert {c.path for c in other["test"]} != {c.path for c in first["test"]}


def test_split_by_group_never_splits_a_group():
    clips = _clips({"a": 12, "b": 12}, groups=4)
    splits = split_files(clips, ["a", "b"], 0.25, 0.25, seed=0, grouped=True)
    seen = [{c.prompt for c in members} for members in splits.values()]
    assert all(x.isdisjoint(y) for i, x in enumerate(seen) for y in seen[i + 1 :])
    assert sum(len(m) for m in splits.values()) == len(clips)


def test_a_class_with_files_in_one_split_only_is_named():
    clips = _clips({"a": 5, "lonely": 1})
    with pytest.raises(RecipeInputError, match=r"lonely \(1 file\(s\)\).*at least 2 files"):
        split_files(clips, ["a", "lonely"], 0.2, 0.0, seed=0, grouped=False)
    with pytest.raises(RecipeInputError, match=r"lonely.*at least 3 files"):
        split_files(clips, ["a", "lonely"], 0.2, 0.1, seed=0, grouped=False)


def test_a_class_folder_without_audio_is_named(tmp_path):
    _write_classes(tmp_path, per_class=1, classes={"bird": "en"})
    (tmp_path / "empty_one").mkdir()
    (tmp_path / "empty_one" / "notes.txt").write_text("no audio here")
    with pytest.raises(RecipeInputError, match="empty_one .*hold no audio file"):
        folder_clips(tmp_path)


def test_fewer_than_two_classes_is_refused_in_one_line(tmp_path, capsys):
    source = tmp_path / "one"
    _write_classes(source, per_class=3, classes={"bird": "en"})
    argv = ["train", "--source", str(source), "--quick", "--out", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    assert "holds 1 class(es) (bird)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_silent_class_has_no_usable_audio(tmp_path, capsys):
    source = tmp_path / "src"
    _write_classes(source, per_class=3, classes={"bird": "en"})
    (source / "quiet").mkdir()
    for i in range(3):
        sf.write(source / "quiet" / f"{i}.wav", np.zeros(8000, "float32"), 8000)
    argv = ["train", "--source", str(source), "--quick", "--out", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    assert "no usable audio for class(es) quiet (3 file(s))" in capsys.readouterr().err


def test_unusable_files_are_left_out_before_the_split(tmp_path):
    # Broken, empty and silent files beside good ones: a split drawn among every file could
    # test a class on broken files alone; drawn among the usable ones, each split has clips.
    counts = _write_classes(tmp_path, per_class=4)
    for name in CLASSES:
        (tmp_path / name / "empty.wav").write_bytes(b"")
        (tmp_path / name / "broken.WAV").write_text("not audio")
        (tmp_path / name / "b_broken.flac").write_text("not audio")
        sf.write(tmp_path / name / "quiet.wav", np.zeros(8000, "float32"), 8000)
    config = ClassifyFolderConfig(chunk_seconds=0.5, sample_rate=8000, frame_len=200, hop=80)
    with pytest.warns(UserWarning, match="skipping"):
        _, data = prepare_folder_data(config, tmp_path)
    summary = data.summary
    assert summary["files_loaded"] == sum(counts.values()) + len(CLASSES)  # the quiet ones read
    assert summary["files_skipped"] == 3 * len(CLASSES)
    assert len(summary["files_without_clips"]) == len(CLASSES)
    for name, count in counts.items():
        per_class = summary["per_class"][name]
        assert per_class["train_files"] + per_class["test_files"] == count
        assert per_class["test_clips"] > 0 and per_class["train_clips"] > 0


def test_labels_csv_with_a_byte_order_mark_is_read(tmp_path):
    _write_classes(tmp_path, per_class=1)
    rows = ["file,label"] + [
        f"{p.relative_to(tmp_path)},{p.parent.name}" for p in sorted(tmp_path.rglob("*.flac"))
    ]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    assert {c.language for c in folder_clips(None, tmp_path / "labels.csv")} == set(CLASSES)


def test_audio_without_class_folders_says_to_make_them(tmp_path):
    _write_classes(tmp_path / "x", per_class=2, classes={"bird": "en"})
    for path in (tmp_path / "x" / "bird").iterdir():
        path.rename(tmp_path / path.name)
    shutil.rmtree(tmp_path / "x")
    with pytest.raises(RecipeInputError, match="2 audio file.* but no class sub-folder"):
        folder_clips(tmp_path)


def test_labels_csv_takes_groups_and_names_missing_files(tmp_path):
    _write_classes(tmp_path, per_class=2)
    rows = ["file,label,group"] + [
        f"{p.relative_to(tmp_path)},{p.parent.name},speaker{i % 2}"
        for i, p in enumerate(sorted(tmp_path.rglob("*.flac")))
    ]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    clips = folder_clips(None, tmp_path / "labels.csv")
    assert {c.prompt for c in clips} == {"group/speaker0", "group/speaker1"}
    assert {c.language for c in clips} == set(CLASSES)
    (tmp_path / "bad.csv").write_text("file,label\nnowhere.wav,bird\n")
    with pytest.raises(RecipeInputError, match="1 file.* not found.*nowhere.wav"):
        folder_clips(None, tmp_path / "bad.csv")
    (tmp_path / "columns.csv").write_text("path,class\nx.wav,bird\n")
    with pytest.raises(RecipeInputError, match="needs the columns file,label"):
        folder_clips(None, tmp_path / "columns.csv")


def test_train_picks_the_recipe_from_the_folder_layout(tmp_path):
    parser = _command.build_parser()
    languages = tmp_path / "corpus"
    for language in ("en", "es", "fr", "it", "ru"):
        (languages / language).mkdir(parents=True)
    _write_classes(tmp_path / "mine", per_class=1)
    (tmp_path / "labels.csv").write_text("file,label\n")
    cases = {
        ("--source", str(languages)): "language_id",
        ("--source", str(tmp_path / "mine")): "classify_folder",
        ("--labels", str(tmp_path / "labels.csv")): "classify_folder",
        (): "language_id",
        ("--source", str(tmp_path / "mine"), "--config", "language_id"): "language_id",
    }
    for extra, recipe in cases.items():
        args = parser.parse_args(["train", *extra])
        _command._check_train_args(args)
        assert Path(args.config).stem == recipe, extra


def test_labels_with_the_language_id_recipe_is_refused(tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("file,label\n")
    argv = ["train", "--labels", str(tmp_path / "labels.csv"), "--config", "language_id"]
    assert cli.main(argv) == 2
    assert "--labels takes the folder-classification recipe" in capsys.readouterr().err


def test_frontend_option_replaces_the_recipes_list(tmp_path, capsys):
    source = tmp_path / "src"
    _write_classes(source, per_class=1)
    argv = [
        "train",
        "--source",
        str(source),
        "--frontend",
        "nonsense",
        "--out",
        str(tmp_path / "o"),
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown ['nonsense']" in err and "leaf" in err


def test_frontend_option_sets_the_front_ends_and_keeps_a_named_reference(tmp_path, monkeypatch):
    from framebank.training import classify_folder

    seen = {}
    monkeypatch.setattr(classify_folder, "run_classify_folder", lambda c, o, **k: seen.update(c=c))
    source = tmp_path / "src"
    _write_classes(source, per_class=1)
    for names, reference in ((["sinc", "log_mel"], "log_mel"), (["leaf", "sincnet"], None)):
        assert cli.main(["train", "--source", str(source), "--frontend", *names]) == 0
        assert seen["c"].frontends == names and seen["c"].reference == reference


def test_every_ready_made_front_end_and_family_builds_at_the_recipes_settings():
    from framebank.training.classify_folder import load_classify_folder_config
    from framebank.training.config import from_dict, recipe_fields
    from framebank.training.language_id import FAMILIES, _ready_made

    shipped = recipe_fields(load_classify_folder_config(_command.resolve_recipe("classify_folder")))
    names = [*_ready_made(), *FAMILIES]
    config = from_dict(type(load_classify_folder_config(None)), {**shipped, "frontends": names})
    assert config.frontends == names and config.sample_rate == 16000
