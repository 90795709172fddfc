"""Recipe 1, `framebank compare`: results folder, equal curves, resume after a kill, bad data."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from framebank import cli
from framebank.audio import read_manifest, split_of
from framebank.progress import Progress
from framebank.training import compare, io
from framebank.training.compare import (
    CompareConfig,
    build_denoiser,
    load_compare_config,
    run_compare,
)
from framebank.training.config import from_dict

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "methods": ["dense", "reshape_conv"],
    "inits": ["basis_glorot_uniform"],
    "seeds": [0],
    "epochs": 3,
    "steps_per_epoch": 3,
    "batch_size": 4,
    "chunk_seconds": 0.5,
    "max_train_chunks": 64,
    "max_valid_chunks": 8,
    "memory_steps": 0,
}


def _events(folder: Path) -> list[tuple[str, int, str, object]]:
    """``(file, step, tag, value)`` of every summary in a TensorBoard folder, read by
    TensorFlow's own reader (it checks the records' CRCs)."""
    tf = pytest.importorskip("tensorflow")
    found = []
    for path in sorted(folder.glob("*tfevents*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                content = value.image if value.HasField("image") else value.simple_value
                found.append((path.name, event.step, value.tag, content))
    return found


def _tiny_config(tmp_path: Path, **changes) -> Path:
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


@pytest.mark.slow
def test_quick_run_writes_every_result_and_methods_coincide(tmp_path):
    out = tmp_path / "quick"
    assert cli.main(["compare", "--quick", "--out", str(out), "--quiet"]) == 0
    for name in ("results.csv", "results.json", "convergence.png", "memory.png", "REPORT.md"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "results.json").read_text())
    config = load_compare_config(ROOT / "recipes" / "compare_methods.yaml", quick=True)
    assert len(summary["runs"]) == len(config.methods) * len(config.inits) * len(config.seeds)
    # Under the shared initialisation every method follows the same curve.
    shared = [r for r in summary["runs"] if r["init"] == "basis_glorot_uniform"]
    losses = np.array([r["step_loss"] for r in shared])
    assert np.max(losses.max(0) - losses.min(0)) < 1e-3
    # Under keras_default Method 1 starts smaller, by Keras's fan-out rule.
    std = {
        r["method"]: r["initial_kernel_std"]
        for r in summary["runs"]
        if r["init"] == "keras_default"
    }
    expected = np.sqrt((40 + 64) / (40 + 40 * 64))
    assert abs(std["reshape_conv"] / std["dense"] - expected) < 0.1 * expected
    memory = summary["memory"]
    assert set(memory) == set(config.methods)
    assert all(m["peak_mb"] > 0 and m["device"] for m in memory.values())
    report = (out / "REPORT.md").read_text()
    assert "coincide" in report and "keras_default" in report
    rows = (out / "results.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + len(summary["runs"]) * config.epochs


def test_killed_run_resumes_to_the_same_numbers(tmp_path):
    config_path = _tiny_config(tmp_path)
    whole = tmp_path / "whole"
    run_compare(load_compare_config(config_path), whole, quiet=True)

    killed = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "framebank.cli",
        "compare",
        "--config",
        str(config_path),
        "--out",
        str(killed),
        "--quiet",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ))
    first = killed / "runs" / "dense__basis_glorot_uniform__seed0" / "checkpoint.npz"
    deadline = time.time() + 120
    while not first.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert first.exists()
    assert not (
        killed / "runs" / "reshape_conv__basis_glorot_uniform__seed0" / "result.json"
    ).exists(), "the run finished before it could be killed"

    with pytest.raises(io.RecipeInputError, match="--resume"):
        run_compare(load_compare_config(config_path), killed, quiet=True)
    run_compare(load_compare_config(config_path), killed, resume=True, quiet=True)

    a = json.loads((whole / "results.json").read_text())["runs"]
    b = json.loads((killed / "results.json").read_text())["runs"]
    for run_a, run_b in zip(a, b, strict=True):
        assert run_a["method"] == run_b["method"]
        np.testing.assert_array_equal(run_a["step_loss"], run_b["step_loss"])
        np.testing.assert_array_equal(run_a["valid_si_snr"], run_b["valid_si_snr"])
        # The TensorBoard logs resume as the checkpoints do: each step once, in order.
        name = f"{run_b['method']}__basis_glorot_uniform__seed0"
        steps = [
            s for _, s, tag, _ in _events(killed / "tensorboard" / name) if tag == "train/loss"
        ]
        assert steps == list(range(1, len(run_b["step_loss"]) + 1))
    leftovers = list(killed.rglob("*.tmp"))
    assert not leftovers, leftovers


def test_tensorboard_logs_and_progress_change_no_number(tmp_path, capsys):
    """The same tiny run with and without logs and progress: the same numbers."""
    config = from_dict(CompareConfig, {**TINY, "methods": ["dense"], "epochs": 2})
    logged = run_compare(config, tmp_path / "logged", quiet=False, tensorboard=True)
    printed = capsys.readouterr().out
    plain = run_compare(config, tmp_path / "plain", quiet=True, tensorboard=False)
    assert capsys.readouterr().out == ""  # --quiet silences the progress too
    for a, b in zip(logged["runs"], plain["runs"], strict=True):
        for key in ("step_loss", "valid_si_snr", "initial_kernel_std"):
            assert a[key] == b[key], key
    assert not (tmp_path / "plain" / "tensorboard").exists()

    # Progress: every epoch's line says how far the whole run is and how long is left.
    epochs = [line for line in printed.splitlines() if ": epoch " in line]
    assert len(epochs) == 2, printed
    assert all(" elapsed · ~" in line and " left]" in line for line in epochs), epochs
    assert "[100% · " in epochs[-1] and "~0:00 left" in epochs[-1]

    # The logs: each step's loss, each epoch's validation score, the filters per epoch.
    run = logged["runs"][0]
    events = _events(tmp_path / "logged" / "tensorboard" / "dense__basis_glorot_uniform__seed0")
    assert len({name for name, *_ in events}) == 3  # epochs 0 (initial filters), 1 and 2
    loss = [(step, value) for _, step, tag, value in events if tag == "train/loss"]
    assert [step for step, _ in loss] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([v for _, v in loss], run["step_loss"], rtol=1e-6)
    valid = [(step, value) for _, step, tag, value in events if tag == "valid/si_snr_db"]
    assert [step for step, _ in valid] == [3, 6]
    np.testing.assert_allclose([v for _, v in valid], run["valid_si_snr"], rtol=1e-6)
    images = [(step, v) for _, step, tag, v in events if tag == "filters/magnitude_response_db"]
    assert [step for step, _ in images] == [0, 3, 6]
    import tensorflow as tf

    pixels = tf.io.decode_png(images[-1][1].encoded_image_string).numpy()
    assert pixels.shape[:2] == (images[-1][1].height, images[-1][1].width)
    assert pixels.shape[0] == 129  # rfft bins of 256 points: frame_len 40 zero-padded
    assert pixels.max() == 255 and pixels.min() < 255


def test_progress_estimates_the_time_left_from_the_steps_run_here(monkeypatch):
    clock = iter([0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0])
    monkeypatch.setattr("framebank.progress.time.perf_counter", lambda: next(clock))
    progress = Progress(10, jobs=2, job_prior_s=7.0, live=False)  # t=0
    assert progress.left() is None  # nothing timed yet
    progress.skip(4)  # a resumed run's steps: counted, not timed (t=10)
    progress.step(2)  # two steps in 10 s (t=20)
    assert progress.left() == 4 * 5.0 + 2 * 7.0
    progress.step(4)  # t=30: all steps, 5 s each
    progress.job(3.0)  # t=40
    assert progress.left() == 3.0
    assert progress.status() == "94% · 0:50 elapsed · ~0:03 left"  # by time: 50 of 53 s


def test_memory_repeats_resume_and_give_a_spread(monkeypatch, tmp_path):
    """memory_repeats fresh processes a method; a resumed run keeps the ones measured."""
    calls = []

    def fake(config, method):
        calls.append(method)
        peak = {1: 100.0, 2: 120.0, 3: 90.0}[len(calls)]
        return {
            "method": method,
            "device": "cpu",
            "peak_mb": peak,
            "steady_peak_mb": peak / 2,
            "baseline_mb": 500.0,
            "context": {"cpu": "x"},
        }

    monkeypatch.setattr(compare, "measure_memory", fake)
    config = from_dict(CompareConfig, {**TINY, "memory_steps": 2, "memory_repeats": 3})
    path = tmp_path / "memory.json"
    io.write_json(path, {"dense": compare.summarise_memory([fake(config, "dense")])})
    memory = compare.measure_all_memory(config, path, Progress(0, quiet=True), ["dense"])
    assert calls == ["dense"] * 3  # one before the "kill", two after
    entry = memory["dense"]
    assert (entry["peak_mb"], entry["peak_mb_min"], entry["peak_mb_max"]) == (100.0, 90.0, 120.0)
    assert entry["steady_peak_mb"] == 50.0 and entry["repeats"] == 3
    assert io.read_json(path) == memory


def test_memory_records_what_it_depends_on(tmp_path):
    """Two fresh processes: the median, the range, a later step's peak and the context (CPU,
    instruction sets, backend, kernel library, allocator) in memory.json and REPORT.md."""
    config = from_dict(
        CompareConfig,
        {**TINY, "methods": ["dense"], "epochs": 1, "memory_steps": 2, "memory_repeats": 2}
        | {"memory_batch_size": 2, "memory_seconds": 0.5},
    )
    summary = run_compare(config, tmp_path / "out", quiet=True, tensorboard=False)
    entry = summary["memory"]["dense"]
    assert entry["repeats"] == 2 and len(entry["runs"]) == 2
    assert entry["peak_mb_min"] <= entry["peak_mb"] <= entry["peak_mb_max"]
    assert entry["steady_peak_mb"] is not None
    context = entry["context"]
    for key in ("cpu", "isa", "cpus", "backend", "kernel_library", "allocator", "peak_reset"):
        assert context[key] not in (None, ""), key
    assert context["env"]["MALLOC_MMAP_THRESHOLD_"] == "65536"
    assert entry["runs"][0]["rss_split_mb"]["before"]["file"] > 0
    report = (tmp_path / "out" / "REPORT.md").read_text()
    assert f"Measured on {context['cpu']}" in report and context["allocator"] in report


def test_ctrl_c_is_one_line_naming_resume_and_exit_130(tmp_path):
    """SIGINT after the first checkpoint: no traceback, one line that says what is kept."""
    # Epochs enough that the run cannot finish between the first checkpoint and the signal
    # (with 3, a fast machine finished them all first and exited 0).
    config_path = _tiny_config(tmp_path, methods=["dense"], epochs=40)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "framebank.cli", "compare", "--config", str(config_path)]
    command += ["--out", str(out), "--quiet", "--no-tensorboard"]
    # SIGINT restored in the child: a shell starts background jobs (CI's, `cmd &`) with it
    # ignored, which the child inherits, and Python then never raises KeyboardInterrupt.
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=dict(os.environ),
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    first = out / "runs" / "dense__basis_glorot_uniform__seed0" / "checkpoint.npz"
    deadline = time.time() + 120
    while not first.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=120)[1].decode()
    assert first.exists()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    # The backend may log to stderr too: framebank's line is the last of its own.
    last = [line for line in err.splitlines() if line.startswith("framebank:")][-1]
    assert last.startswith("framebank: interrupted after dense__basis_glorot_uniform__seed0 epoch ")
    assert "--resume" in last and str(out) in last


def _interrupt_after_checkpoints(monkeypatch, count: int):
    """Ctrl-C (a KeyboardInterrupt) right after the ``count``-th checkpoint is written;
    returns the real ``save_checkpoint`` to put back and the runs of the checkpoints written."""
    from framebank.training import loop

    original, saved = loop.save_checkpoint, []

    def save_then_interrupt(run_dir, model, state):
        original(run_dir, model, state)
        saved.append(run_dir.name)
        if len(saved) == count:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", save_then_interrupt)
    return original, saved


def test_ctrl_c_names_the_run_and_epoch_kept_and_resume_finishes(tmp_path, monkeypatch, capsys):
    from framebank.training import loop

    original, _ = _interrupt_after_checkpoints(monkeypatch, 2)
    out = tmp_path / "out"
    command = ["compare", "--config", str(_tiny_config(tmp_path, methods=["dense"]))]
    command += ["--out", str(out), "--quiet", "--no-tensorboard"]
    assert cli.main(command) == 130
    err = capsys.readouterr().err
    assert err == (
        "framebank: interrupted after dense__basis_glorot_uniform__seed0 epoch 2; the finished "
        f"runs and that epoch's checkpoint are kept in {out}: resume with the same command "
        "and --resume\n"
    )
    monkeypatch.setattr(loop, "save_checkpoint", original)
    assert cli.main([*command, "--resume"]) == 0
    assert (out / "results.json").exists()


def test_ctrl_c_in_a_first_epoch_says_that_run_starts_again(tmp_path, monkeypatch, capsys):
    # No checkpoint exists yet: the message said "the last epoch's checkpoint is kept".
    from framebank.training import loop

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train_run", interrupted)
    out = tmp_path / "out"
    command = ["compare", "--config", str(_tiny_config(tmp_path, methods=["dense"]))]
    assert cli.main([*command, "--out", str(out), "--quiet", "--no-tensorboard"]) == 130
    err = capsys.readouterr().err
    assert "first epoch; the finished runs are kept (this run starts again)" in err
    assert "checkpoint" not in err


def test_resume_refuses_a_changed_config(tmp_path):
    out = tmp_path / "out"
    run_compare(
        load_compare_config(_tiny_config(tmp_path, epochs=1, methods=["dense"])), out, quiet=True
    )
    changed = load_compare_config(_tiny_config(tmp_path, epochs=2, methods=["dense"]))
    with pytest.raises(ValueError, match="epochs"):
        run_compare(changed, out, resume=True, quiet=True)


def test_source_folder_resampled_stereo_and_bad_files_skipped(tmp_path):
    source = tmp_path / "audio"
    clips = [c for c in read_manifest() if c.language in ("en", "fr")]
    written = 0  # files in the train and valid splits (the test split is not read)
    for clip in clips:
        samples, rate = sf.read(clip.path, dtype="float32")
        # Another rate and two channels: framebank must resample and mix down.
        stereo = np.stack([samples, 0.5 * samples], axis=1)
        target = source / clip.language / f"{clip.prompt.replace('/', '_')}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(target, np.repeat(stereo, 2, axis=0), rate * 2)
        written += split_of(target.stem) != "test"
    # Bad files, named so that they fall in the splits that are read.
    bad = [name for name in (f"bad{i}" for i in range(100)) if split_of(name) != "test"][:3]
    (source / "en" / f"{bad[0]}.wav").write_bytes(b"RIFF not really audio")
    sf.write(source / "en" / f"{bad[1]}.wav", np.zeros((0,), "float32"), 16000)
    sf.write(
        source / "fr" / f"{bad[2]}.wav", np.full(800, np.nan, "float32"), 16000, subtype="FLOAT"
    )

    config = from_dict(CompareConfig, {**TINY, "epochs": 1, "methods": ["dense"]})
    with pytest.warns(UserWarning, match="skipping"):
        summary = run_compare(config, tmp_path / "out", source=source, quiet=True)
    assert summary["data"]["files_skipped"] == 3
    assert summary["data"]["files_loaded"] == written
    reasons = sorted(reason.split(" ")[0] for _, reason in summary["data"]["skipped"])
    assert reasons == ["empty", "non-finite", "unreadable"]


def test_no_usable_audio_is_a_clear_error(tmp_path):
    source = tmp_path / "audio"
    source.mkdir()
    (source / "a.wav").write_bytes(b"nothing")
    config = from_dict(CompareConfig, {**TINY, "methods": ["dense"]})
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no usable audio"):
        run_compare(config, tmp_path / "out", source=source, quiet=True)


@pytest.mark.parametrize(
    "data,error,match",
    [
        ({"methods": ["dense", "fft"]}, ValueError, "fft"),
        ({"inits": ["he"]}, ValueError, "keras_default"),
        ({"epochs": "3"}, TypeError, "epochs"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"unknown_field": 1}, ValueError, "unknown field.*Accepted"),
        ({"seeds": []}, ValueError, "seeds"),
        ({"chunk_seconds": 0.001}, ValueError, "chunk_seconds"),
    ],
)
def test_bad_config_is_one_clear_error(data, error, match):
    with pytest.raises(error, match=match):
        from_dict(CompareConfig, data)


def test_split_is_by_prompt_and_never_leaks():
    clips = read_manifest()
    splits = {c.prompt: split_of(c.prompt) for c in clips}
    for clip in clips:
        assert split_of(clip.prompt) == splits[clip.prompt]
    names = set(splits.values())
    assert names == {"train", "valid", "test"}


BLOCK_TENSORFLOW = """
import sys
class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is not installed (blocked by the test)")
sys.meta_path.insert(0, _NoTensorFlow())
"""


@pytest.mark.slow
def test_recipe_runs_under_jax_without_tensorflow(tmp_path):
    pytest.importorskip("jax")
    config_path = _tiny_config(tmp_path, epochs=1, methods=["dense", "strided_conv"])
    script = (
        BLOCK_TENSORFLOW
        + f"""
from framebank.training.compare import load_compare_config, run_compare
config = load_compare_config({str(config_path)!r})
summary = run_compare(config, {str(tmp_path / "out")!r}, quiet=True)
assert summary["backend"] == "jax", summary["backend"]
assert "tensorflow" not in sys.modules
import pathlib  # TensorBoard logs are written without TensorFlow
assert len(list(pathlib.Path({str(tmp_path / "out")!r}).rglob("*tfevents*"))) == 2 * 2
print("ok", len(summary["runs"]))
"""
    )
    env = dict(os.environ, KERAS_BACKEND="jax")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "ok 2"


@pytest.mark.slow
def test_mirrored_two_replicas_match_one(tmp_path):
    """The recipe's distribution option: two logical CPUs under MirroredStrategy."""
    pytest.importorskip("tensorflow")
    script = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from framebank.training.compare import CompareConfig, run_compare
from framebank.training.config import from_dict
tiny = {{**{TINY!r}, "methods": ["dense"], "epochs": 1}}
losses = {{}}
for dist in (None, "mirrored"):
    config = from_dict(CompareConfig, {{**tiny, "distribution": dist}})
    summary = run_compare(config, {str(tmp_path)!r} + f"/{{dist}}", quiet=True)
    losses[dist] = np.array(summary["runs"][0]["step_loss"])
print("gap", float(np.max(np.abs(losses[None] - losses["mirrored"]))))
"""
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    gap = float(done.stdout.strip().splitlines()[-1].split()[1])
    assert gap < 1e-3, gap


@pytest.mark.parametrize(
    "change,match",
    [
        ({"learning_rate": 0.0}, "`learning_rate` must be a positive number"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"steps_per_epoch": 0}, "`steps_per_epoch` must be a positive number"),
        ({"max_valid_chunks": 0}, "max_valid_chunks"),
        ({"max_train_chunks": 0}, "max_train_chunks"),
        ({"memory_batch_size": 0}, "memory_batch_size"),
        ({"memory_steps": 2, "memory_seconds": 0.001}, "memory_seconds"),
        ({"hop": 100000}, "leaves one frame per chunk"),
        ({"seeds": [0, 0]}, "`seeds` lists 0 more than once"),
        ({"methods": ["matmul", "matmul"]}, "`methods` lists matmul more than once"),
        ({"snr_db": float("inf")}, "`snr_db` must be finite"),
    ],
)
def test_values_that_trained_wrongly_or_failed_late_are_refused(change, match):
    """Found in a user-perspective review: each trained without complaint, or failed after
    an epoch or after every run had trained."""
    with pytest.raises(ValueError, match=match):
        from_dict(CompareConfig, {**TINY, **change})


def test_resume_refuses_a_folder_started_under_another_backend(tmp_path):
    import keras

    from framebank.training.config import recipe_fields

    config = from_dict(CompareConfig, TINY)
    other = "jax" if keras.backend.backend() != "jax" else "torch"
    record = {**recipe_fields(config), "source": None, "backend": other}
    io.write_json(tmp_path / "config.json", record)
    with pytest.raises(io.RecipeInputError, match="fields: backend"):
        run_compare(config, tmp_path, resume=True, quiet=True)


def test_recipe_input_errors_are_one_line_at_the_command_line(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text('{"recipe": "compare"}')
    assert cli.main(["compare", "--quick", "--out", str(out)]) == 2
    assert "already holds a compare run" in capsys.readouterr().err
    (out / "config.json").write_text("{}")  # written before config.json named its recipe
    assert cli.main(["compare", "--quick", "--out", str(out)]) == 2
    assert "already holds a run. Pass --resume" in capsys.readouterr().err
    missing = tmp_path / "no_such_folder"
    assert cli.main(["compare", "--quick", "--source", str(missing), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "framebank compare: error: " in err and "Traceback" not in err


def test_the_memory_child_ends_with_its_parent(tmp_path):
    """A recipe killed during its memory measurement (SIGKILL) left the child running."""
    parent_code = (
        "import os, subprocess, sys\n"
        "env = dict(os.environ, FRAMEBANK_PARENT_PID=str(os.getpid()))\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; "
        "from framebank.training.memory import _end_with_parent; "
        '_end_with_parent(); print("ready", flush=True); time.sleep(120)\'], env=env)\n'
        "print(child.pid, flush=True)\n"
        "child.wait()\n"
    )
    command = [sys.executable, "-c", parent_code]
    parent = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert parent.stdout.readline().strip() == "ready"  # it has asked to end with its parent
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{child}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return  # ended; a zombie until whoever adopted it reaps it
        except FileNotFoundError:
            return
        time.sleep(0.2)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the child outlived its killed parent")


def test_report_flags_peaks_that_are_only_what_the_steps_left_resident():
    """A kernel that does not track VmHWM gives every method about the memory its steps left
    behind (a measured machine's 75-85 MB for all five methods looked like that)."""
    from framebank.training.report import context_text

    context = {"cpu": "c", "isa": [], "cpus": 2, "backend": "b", "keras": "k"}
    context |= {"kernel_library": "l", "allocator": "a", "peak_reset": "clear_refs", "env": {}}

    def memory(peaks, retained):
        return {
            str(i): {"peak_mb": p, "retained_mb": r, "context": context}
            for i, (p, r) in enumerate(zip(peaks, retained, strict=True))
        }

    assert "Check these figures" in context_text(memory([84.6, 80.0], [82.0, 78.0]))
    assert "Check these figures" not in context_text(memory([221.0, 94.0], [88.0, 86.0]))


# --------------------------------------------------------------------------- the family study

FAMILIES_TINY = {
    **TINY,
    "methods": ["matmul"],
    "families": ["free", "analytic"],
    "seeds": [0, 1],
    "epochs": 2,
    "steps_per_epoch": 2,
}


def test_the_shipped_families_recipe_loads_with_each_family_wired():
    from framebank_cli import resolve_recipe

    path = resolve_recipe("compare_families")
    assert path == ROOT / "recipes" / "compare_families.yaml"
    config = load_compare_config(path)
    specs = {s.name: (s.filterbank, s.decoder, s.trainable) for s in config.family_specs()}
    assert specs == {
        "free": ("free", "free", True),
        "analytic": ("analytic", "free", True),
        "fourier_pinv": ("fourier", "pinv", False),  # the STFT, fixed
        "fourier_free": ("fourier", "free", False),
        "sinc": ("sinc", "free", True),
        "gabor": ("gabor", "free", True),
    }
    assert config.reference == "free" and config.seeds == [0, 1, 2]
    assert len(config.methods) == 1 and config.memory_steps == 0
    quick = load_compare_config(path, quick=True)
    assert quick.families and quick.epochs * quick.steps_per_epoch <= 10


def test_family_entries_in_each_form_build_their_denoiser():
    """A mapping entry chooses the decoder, training and options; every family gives the
    config's num_basis (the Fourier one through its zero-padded DFT) and only the
    parameters it should train."""
    entries = [
        "fourier_pinv",
        "gabor_tied",
        {"filterbank": "fourier", "decoder": "pinv", "trainable": True, "name": "stft_learned"},
        {"filterbank": "sinc", "options": {"min_band_hz": 80.0}},
    ]
    config = from_dict(CompareConfig, {**FAMILIES_TINY, "families": entries, "reference": "sinc"})
    specs = config.family_specs()
    assert [s.name for s in specs] == ["fourier_pinv", "gabor_tied", "stft_learned", "sinc"]
    counts = {}
    for spec in specs:
        model = build_denoiser(config, "matmul", "basis_glorot_uniform", 0, spec)
        encoder = model.get_layer("encoder")
        assert (
            encoder.num_basis == config.num_basis and encoder.filterbank.family == spec.filterbank
        )
        assert model.get_layer("decoder").kind == spec.decoder
        counts[spec.name] = compare.learnable_parameters(model)
    assert counts["fourier_pinv"] == {"encoder": 0, "decoder": 0, "total": 0}
    assert counts["gabor_tied"] == {"encoder": 64, "decoder": 0, "total": 64}  # centre, sigma
    assert counts["stft_learned"]["encoder"] == 40 * 64
    assert counts["sinc"]["encoder"] == 2 * 64 and counts["sinc"]["decoder"] == 40 * 64
    sinc = build_denoiser(config, "matmul", "basis_glorot_uniform", 0, specs[3])
    assert sinc.get_layer("encoder").filterbank.min_band_hz == 80.0


@pytest.mark.parametrize(
    "change,match",
    [
        ({"families": ["free", "nope"]}, r"unknown family 'nope'.*Accepted: .*analytic"),
        ({"families": ["free", "fourier_inverse"]}, r"'fourier_inverse'.*_free/_pinv"),
        ({"families": ["free", 3]}, "families"),
        ({"families": [{"filterbank": "free", "decoder": "inverse"}]}, "decoder 'inverse'"),
        ({"families": [{"decoder": "pinv"}]}, "no `filterbank`"),
        ({"families": [{"filterbank": "free", "window": "hann"}]}, "unknown key.*window"),
        ({"families": [{"filterbank": "nope"}]}, "unknown filterbank 'nope'"),
        ({"families": [{"filterbank": "free", "name": "a/b"}]}, "`name`"),
        ({"families": [{"filterbank": "free", "options": 3}]}, "`options` must be a mapping"),
        ({"families": ["free", {"filterbank": "free"}]}, "names free more than once"),
        ({"families": ["analytic"]}, "`reference` must be one of the families.*'free'"),
        ({"families": ["free", "gabor"], "num_basis": 63}, "'gabor' cannot be made.*even"),
        ({"families": ["free", "fourier_pinv"], "num_basis": 32}, "'fourier_pinv' cannot be"),
        ({"methods": ["matmul", "dense"]}, "`methods`.*must list one"),
        ({"memory_steps": 2}, "measures no memory"),
    ],
)
def test_bad_family_configs_are_refused_when_the_config_loads(tmp_path, change, match):
    with pytest.raises(ValueError, match=match):
        load_compare_config(_tiny_config(tmp_path, **{**FAMILIES_TINY, **change}))


def test_family_study_reports_and_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    """A tiny study (two families, two seeds): the family table with a p-value, the
    per-chunk scores in result.json; then the same study stopped right after a checkpoint
    (the second family's first epoch) and resumed gives the same numbers."""
    config = from_dict(CompareConfig, FAMILIES_TINY)
    whole = run_compare(config, tmp_path / "whole", quiet=True, tensorboard=False)
    report = (tmp_path / "whole" / "REPORT.md").read_text()
    assert "| family | encoder filterbank | decoder | learnable parameters" in report
    row = next(line for line in report.splitlines() if line.startswith("| analytic |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "1280 + 2560 = 3840"  # half the free kernel; the decoder's
    assert " ± " in cells[5] and cells[9] in ("better", "worse", "tie")
    assert cells[7].startswith("<") or 0.0 < float(cells[7]) <= 1.0  # the p-value
    assert cells[8] in ("0 of 2", "1 of 2", "2 of 2")  # seeds ahead of free
    assert "Pariente et al." in report and "![SI-SNR improvement per epoch](families.png)" in report
    assert (tmp_path / "whole" / "families.png").stat().st_size > 0
    csv_rows = (tmp_path / "whole" / "results.csv").read_text().strip().splitlines()
    assert len(csv_rows) == 1 + 4 * 2
    # Each run keeps its per-chunk scores, and the statistics are made of them.
    chunks = whole["data"]["valid_chunks"]
    result = json.loads(
        (tmp_path / "whole" / "runs" / "analytic__seed1" / "result.json").read_text()
    )
    assert len(result["valid_si_snr_per_chunk"]) == chunks == 8
    assert np.mean(result["valid_si_snr_per_chunk"]) == pytest.approx(result["valid_si_snr"][-1])
    stats = whole["families"]
    analytic = next(r for r in stats["rows"] if r["family"] == "analytic")
    inputs = np.array(whole["data"]["valid_input_si_snr_per_chunk"])
    assert analytic["improvement_per_seed_db"][1] == pytest.approx(
        np.mean(np.array(result["valid_si_snr_per_chunk"]) - inputs)
    )
    for key in ("mean_difference", "low", "high", "p_value", "verdict"):
        assert analytic["vs_reference"][key] == stats["analytic_vs_free"][key], key
    assert 0.0 < analytic["encoder_basis_change"] < 1.0

    # Stopped after the third checkpoint: free (both epochs), then analytic's first epoch.
    from framebank.training import loop

    original, saved = _interrupt_after_checkpoints(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        run_compare(config, tmp_path / "stopped", quiet=True, tensorboard=False)
    monkeypatch.setattr(loop, "save_checkpoint", original)
    assert saved == ["free__seed0", "free__seed0", "analytic__seed0"]
    resumed = run_compare(config, tmp_path / "stopped", resume=True, quiet=True, tensorboard=False)
    for a, b in zip(whole["runs"], resumed["runs"], strict=True):
        assert (a["family"], a["seed"]) == (b["family"], b["seed"])
        for key in ("step_loss", "valid_si_snr", "valid_si_snr_per_chunk"):
            assert a[key] == b[key], (a["family"], a["seed"], key)
    assert resumed["families"] == whole["families"]


@pytest.mark.slow
def test_the_families_recipe_runs_quick_from_the_command_line(tmp_path):
    out = tmp_path / "families"
    command = ["compare", "--config", "compare_families", "--quick", "--out", str(out)]
    assert cli.main([*command, "--quiet", "--no-tensorboard"]) == 0
    summary = json.loads((out / "results.json").read_text())
    quick = load_compare_config(ROOT / "recipes" / "compare_families.yaml", quick=True)
    assert len(summary["runs"]) == len(quick.families) * len(quick.seeds)
    report = (out / "REPORT.md").read_text()
    assert "Fixed encoders" in report and "fourier_pinv" in report


def test_each_run_saves_a_keras_model_that_stream_and_inspect_read(tmp_path):
    import keras
    import soundfile as sf

    config = load_compare_config(_tiny_config(tmp_path, methods=["matmul"], epochs=1))
    summary = run_compare(config, tmp_path / "out", quiet=True, tensorboard=False)
    (run,) = summary["runs"]
    folder = tmp_path / "out" / "runs" / f"matmul__{run['init']}__seed0"
    path = folder / "model.keras"
    assert (folder / "checkpoint.npz").exists() and path.exists()  # beside the weights
    model = keras.models.load_model(path)
    x = np.random.default_rng(0).standard_normal(config.chunk_samples).astype("float32") * 0.1
    sf.write(tmp_path / "in.wav", x, config.sample_rate, subtype="FLOAT")
    out = tmp_path / "out.wav"
    assert cli.main(["stream", str(path), str(tmp_path / "in.wav"), str(out)]) == 0
    want = keras.ops.convert_to_numpy(model(x[None]))[0]
    got, _ = sf.read(out, dtype="float32")
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max())
    rate = str(config.sample_rate)  # a free basis has no rate of its own
    assert (
        cli.main(
            ["inspect", str(path), "--out", str(tmp_path / "inspection"), "--sample-rate", rate]
        )
        == 0
    )
    assert any((tmp_path / "inspection").iterdir())
