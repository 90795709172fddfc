"""The `framebank` command line: a light entry point, one line for each user mistake."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest
import tomllib
import yaml

import framebank_cli
from framebank import cli
from framebank.training import compare, language_id

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("keras", "tensorflow", "jax", "torch", "framebank")
# The command line's parsing and shipped-file lookup: standard library only, loaded by their
# files without framebank's __init__ (which imports Keras).
KERAS_FREE = ("framebank._command", "framebank._resources")


def _fresh_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that finds this checkout's modules."""
    environment = dict(os.environ, PYTHONPATH=str(ROOT / "src"), **env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=120
    )


def test_methods_command_reports_agreement(capsys, recwarn):
    code = cli.main(
        [
            "methods",
            "--batch",
            "2",
            "--seconds",
            "1",
            "--num-basis",
            "32",
            "--frame-len",
            "40",
            "--hop",
            "20",
            "--repeats",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "all methods agree" in out
    for method in ("reshape_conv", "pointwise_conv", "dense", "matmul", "strided_conv"):
        assert method in out
    assert "[2, 8000]" in out
    # Every method is run on purpose: no warning against asking for one of them.
    assert not [w for w in recwarn if "pathological" in str(w.message)]


# --------------------------------------------------------------------------- a light start


@pytest.mark.parametrize(
    "argv,code",
    [
        (["--help"], 0),
        (["compare", "--help"], 0),
        (["recipes"], 0),
        (["recipes", "log_mel"], 0),
        (["methods", "--hop", "0"], 2),
        (["compare", "--config", "no_such_recipe"], 2),
        (["data", "fetch", "--languages", "xx"], 2),
        (["tune", "--shapes", "xx"], 2),
    ],
)
def test_help_and_option_errors_import_neither_keras_nor_tensorflow(argv, code):
    """`framebank --help` took 4-10 s (it imported framebank, hence Keras and TensorFlow,
    which also printed their native logs)."""
    done = _fresh_python(
        "import sys, framebank_cli\n"
        "try:\n"
        f"    code = framebank_cli.main({argv!r})\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}\n"
        f"               and m not in {KERAS_FREE!r})\n"
        "print('RESULT', code, heavy)\n"
    )
    assert done.returncode == 0, done.stderr
    assert f"RESULT {code} []" in done.stdout, done.stdout + done.stderr


def test_the_console_script_is_the_light_entry_point():
    """The console script must not import the framebank package: framebank_cli runs it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["framebank"] == "framebank_cli:console_main"
    assert "framebank_cli" in project["tool"]["setuptools"]["py-modules"]


ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
CUINIT = "E0000 00:00:1.2 6344 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error"
INFO = "I0000 00:00:17.7 6155 cudart_stub.cc:31] Could not find cuda drivers on your machine"
WARN = "W0000 00:00:17.1 6160 cpu_feature_guard.cc:227] This TensorFlow binary is optimized"
ERROR = "E0000 00:00:1.2 6344 some_op.cc:52] a real error"


@pytest.mark.parametrize(
    "line,level,gpu,noise",
    [
        (ABSL, 2, False, True),
        (ABSL, 1, False, False),
        (INFO, 1, False, True),
        (INFO, 0, False, False),
        (WARN, 2, False, True),
        (WARN, 1, False, False),
        ("To enable AVX2, rebuild TensorFlow with the appropriate compiler flags.", 1, False, True),
        (CUINIT, 1, False, True),
        (CUINIT, 0, False, False),
        (CUINIT, 2, True, False),
        (ERROR, 2, False, False),
        (ERROR, 3, False, True),
        ("F0000 00:00:1.2 6344 op.cc:52] Check failed: a fatal error", 3, False, False),
        ("Traceback (most recent call last):", 3, False, False),
    ],
)
def test_native_start_up_lines_are_filtered_as_tensorflow_would(line, level, gpu, noise):
    """TF_CPP_MIN_LOG_LEVEL does not reach the lines TensorFlow logs before reading it: they
    are filtered by severity here (the failed CUDA probe too, on a machine without a GPU)."""
    assert framebank_cli._command._tf_noise(line, level, gpu) is noise


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's own logs")
@pytest.mark.parametrize("user_level", [None, "2", "0"])
def test_a_command_prints_no_tensorflow_start_up_logs_unless_asked(tmp_path, user_level):
    """Every command printed six lines of TensorFlow/absl/CUDA logs (and compare a cuInit
    error) whatever TF_CPP_MIN_LOG_LEVEL said: now nothing but its own output, unless the
    user asks for the logs with TF_CPP_MIN_LOG_LEVEL=0."""
    config = tmp_path / "bad.yaml"
    config.write_text("frame_len: 80\nnope: 1\n")  # read after TensorFlow has started
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    if user_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = user_level
    done = subprocess.run(
        [sys.executable, "-m", "framebank_cli", "compare", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert lines[-1].startswith("framebank compare: error: ") and "nope" in lines[-1]
    if user_level != "0":
        assert len(lines) == 1, done.stderr
    else:
        assert len(lines) > 1, "TF_CPP_MIN_LOG_LEVEL=0 asks for TensorFlow's logs"


# --------------------------------------------------------------------------- user mistakes


def _config(tmp_path: Path, **fields) -> Path:
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump(fields))
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a recipe reads its audio: a user mistake is found before that."""

    def loaded(*args, **kwargs):
        raise AssertionError("the corpus was loaded before the mistake was reported")

    monkeypatch.setattr(compare, "prepare_data", loaded)
    monkeypatch.setattr(language_id, "prepare_data", loaded)
    monkeypatch.setattr(cli, "_speech_batch", loaded)


def _one_line(capsys, command: str, message: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    prefix = " ".join(["framebank", command] if command else ["framebank"])
    assert err.startswith(f"{prefix}: error: "), err
    assert message in err, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "argv,command,message",
    [
        (["methods", "--hop", "0"], "methods", "--hop: must be a positive integer. Received: 0"),
        (["methods", "--seconds", "nan"], "methods", "Received: nan"),
        # A frame longer than its signal was a traceback from inside the layers.
        (["methods", "--seconds", "0.001"], "methods", "--frame-len 80 is longer than"),
        (["compare", "--nope"], "", "unrecognized arguments: --nope"),
        (["compare", "--config", "nowhere.yaml"], "compare", "no file nowhere.yaml"),
        (["train", "--source", "no/such/folder"], "train", "--source must be a folder"),
        # A good message, but it came as a traceback.
        (["data", "fetch", "--languages", "en", "xx"], "data fetch", "unknown xx. Accepted"),
        (["recipes", "nope"], "recipes", "no shipped recipe nope"),
        (["tune", "--shapes", "log_mel,nope"], "tune", "--shapes: unknown nope. Accepted: log_mel"),
        (["tune", "--hop", "4"], "tune", "--hop describes a shape of your own: give --frame-len"),
        (
            ["tune", "--frame-len", "64", "--hop", "16", "--fft-length", "32"],
            "tune",
            "--fft-length must be at least --frame-len 64. Received: 32",
        ),
    ],
)
def test_option_mistakes_are_one_line_and_exit_2(argv, command, message, capsys, no_work):
    assert cli.main(argv) == 2
    _one_line(capsys, command, message)


def test_an_unknown_command_is_one_line(capsys):
    assert cli.main(["nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("framebank: error: ") and err.count("\n") == 1, err


@pytest.mark.parametrize(
    "command,config,message",
    [
        ("train", "", "is empty"),
        ("compare", "frame_len: [1, 2\n", "is not valid YAML"),
        ("compare", "frame_len: 80\nnope: 1\n", "unknown field(s) nope"),
        # It trained matmul, then failed at run 2 with a traceback and a half-written --out.
        ("compare", "methods: [matmul, rfft]\n", "'rfft' cannot run the method study's free"),
    ],
)
def test_config_mistakes_are_one_line_not_a_traceback(
    command, config, message, tmp_path, capsys, no_work
):
    """A bad option or config file exits 2 with the message (it printed a traceback)."""
    path = tmp_path / "config.yaml"
    path.write_text(config)
    argv = [command, "--quick", "--config", str(path), "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    _one_line(capsys, command, message)
    assert not (tmp_path / "out").exists()  # nothing was started


@pytest.mark.parametrize("command", ["compare", "train"])
def test_quick_with_a_config_that_has_no_quick_settings_is_refused(
    command, tmp_path, capsys, no_work
):
    """--quick with a config without `quick:` ran the full config and said nothing."""
    path = _config(tmp_path, seeds=[0]) if command == "compare" else _config(tmp_path, epochs=1)
    argv = [command, "--quick", "--config", str(path), "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    _one_line(capsys, command, "has none: add a `quick:` section")


def test_out_naming_an_existing_file_is_refused_before_the_corpus_loads(tmp_path, capsys, no_work):
    """It was a FileExistsError, raised only after the corpus had loaded."""
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    assert cli.main(["compare", "--quick", "--out", str(existing)]) == 2
    _one_line(capsys, "compare", "--out must be a folder")
    assert cli.main(["compare", "--quick", "--out", str(existing / "below")]) == 2
    _one_line(capsys, "compare", "lies under a file")
    assert existing.read_text() == "keep me"


def test_out_naming_a_file_is_refused_by_the_recipe_too(tmp_path):
    """The same mistake through the Python API: the recipe's own check, before any data."""
    from framebank.training.io import RecipeInputError, check_results_folder

    existing = tmp_path / "results.txt"
    existing.write_text("")
    with pytest.raises(RecipeInputError, match="is a file"):
        check_results_folder(existing, {}, resume=False, what="compare")


def test_train_frontend_help_names_every_front_end_the_recipe_builds(capsys):
    """--help (no Keras) lists them by hand: checked here against the registries, so that a
    shipped family or ready-made front end is never left out (`analytic` was)."""
    from framebank import _command
    from framebank.filterbanks import FILTERBANKS
    from framebank.frontends import FRONTENDS
    from framebank.training import language_id

    def shipped(names, registry):  # other tests register their own for the session
        return {n for n in names if registry[n].__module__.startswith("framebank.")}

    listed = dict(_command.TRAIN_FRONTENDS)
    assert set(listed["ready-made"]) == shipped(language_id._ready_made(), FRONTENDS)
    assert set(listed["bare families"]) == shipped(language_id._families(), FILTERBANKS)
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in (*listed["ready-made"], *listed["bare families"]):
        assert f" {name}," in text or f" {name};" in text, name


def test_a_misspelt_framebank_auto_stops_every_command_in_one_line(monkeypatch, capsys):
    """FRAMEBANK_AUTO=bogus was read only where a layer with method="auto" was built: a
    command building none (explicit methods, a saved model) ignored it without a word."""
    monkeypatch.setenv("FRAMEBANK_AUTO", "Bogus")
    monkeypatch.setitem(cli.COMMANDS, "methods", lambda args: pytest.fail("it ran"))
    assert cli.main(["methods"]) == 2
    _one_line(capsys, "methods", "FRAMEBANK_AUTO must be 'rule' (the default) or 'measure'")
    monkeypatch.setenv("FRAMEBANK_AUTO", "Measure")  # case and spaces as the library reads it
    monkeypatch.setitem(cli.COMMANDS, "methods", lambda args: 0)
    assert cli.main(["methods"]) == 0


def test_a_misspelt_framebank_auto_stops_recipes_too(monkeypatch, capsys):
    """`recipes` runs without Keras and skipped the check every other command makes."""
    monkeypatch.setenv("FRAMEBANK_AUTO", "mesure")
    assert cli.main(["recipes"]) == 2
    _one_line(capsys, "recipes", "FRAMEBANK_AUTO must be 'rule' (the default) or 'measure'")
    monkeypatch.setenv("FRAMEBANK_AUTO", " ")  # empty: the default, as the library reads it
    assert cli.main(["recipes"]) == 0
    assert "language_id" in capsys.readouterr().out


@pytest.mark.parametrize("resume", [[], ["--resume"]])
def test_out_holding_the_other_commands_run_says_which(resume, tmp_path, capsys, no_work):
    """train into a compare run's folder said "already holds a language-id run" (and with
    --resume listed every field as differing)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text('{"recipe": "compare", "epochs": 3, "methods": ["dense"]}')
    assert cli.main(["train", "--quick", "--out", str(out), *resume]) == 2
    err = _one_line(capsys, "train", f"{out} holds a compare run")
    assert "not a language-id one" in err and "fields" not in err


def test_resume_on_an_empty_folder_says_it_starts(tmp_path, monkeypatch, capsys):
    """--resume on a folder with nothing in it started fresh without a word."""

    class Stop(Exception):
        pass

    def stop(self, data):
        raise Stop  # after the line under test: no data or training needed

    monkeypatch.setattr(compare._CompareRecipe, "headline", stop)
    monkeypatch.setattr(compare, "prepare_data", lambda *a, **k: None)
    monkeypatch.setattr(compare._CompareRecipe, "plan", lambda self, data: ([], 1))
    out = tmp_path / "empty"
    out.mkdir()
    with pytest.raises(Stop):
        cli.main(["compare", "--quick", "--resume", "--out", str(out)])
    assert f"nothing to resume in {out}: starting" in capsys.readouterr().out


@pytest.mark.parametrize("content", ['{"sample_rate": 80', "", "[1, 2]", "\xff\xfe"])
def test_resume_on_a_damaged_config_json_is_one_line(content, tmp_path, capsys, no_work):
    """A truncated config.json was a JSONDecodeError traceback."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_bytes(content.encode("latin-1"))
    assert cli.main(["compare", "--quick", "--resume", "--out", str(out)]) == 2
    err = _one_line(capsys, "compare", "--resume: ")
    assert "config.json" in err


def test_traceback_on_request(tmp_path):
    """FRAMEBANK_TRACEBACK=1 shows the traceback of a user mistake too."""
    done = _fresh_python(
        "import framebank_cli; framebank_cli.main(['methods', '--seconds', '0.001'])",
        FRAMEBANK_TRACEBACK="1",
    )
    assert "Traceback" in done.stderr and "UsageError" in done.stderr


def test_an_error_during_the_run_keeps_its_traceback(monkeypatch, tmp_path):
    """Only reading options and configs is reported in one line; a failure in the run is not
    hidden as a usage error (it may be a bug, found hours into a run)."""

    def broken(*args, **kwargs):
        raise TypeError("a bug inside the run")

    monkeypatch.setattr(compare, "run_compare", broken)
    with pytest.raises(TypeError, match="a bug inside the run"):
        cli.main(["compare", "--quick", "--out", str(tmp_path / "out")])


# --------------------------------------------------------------------------- shipped recipes


def test_a_bare_name_is_said_to_build_the_ready_made_front_end(capsys):
    """`log_mel` names both the ready-made LogMel (which build_frontend builds) and the shipped
    8 kHz YAML: the listing and the printout say which a bare name builds."""
    from framebank import _resources, build_frontend, frontends

    assert set(_resources.ready_made_names()) == set(frontends.FRONTENDS)  # Keras-free, current
    with pytest.warns(DeprecationWarning, match="ready_made_names"):
        assert _resources.READY_MADE_NAMES == _resources.ready_made_names()
    assert type(build_frontend("log_mel")) is frontends.LogMel
    assert type(build_frontend("frontends/log_mel")) is not frontends.LogMel
    assert cli.main(["recipes"]) == 0
    listing = capsys.readouterr().out
    assert "'frontends/log_mel' names the file" in listing
    shadowed = listing.split("frontends/log_mel ")[1].split("frontends/")[0]
    assert "bare 'log_mel' builds the ready-made one" in " ".join(shadowed.split())
    whisper = listing.split("frontends/whisper ")[1].split("frontends/")[0]
    assert "ready-made one" not in whisper  # its file is `frontend: whisper` itself
    assert cli.main(["recipes", "log_mel"]) == 0
    out, err = capsys.readouterr()
    assert out == (ROOT / "recipes/frontends/log_mel.yaml").read_text()  # still a clean copy
    assert "build_frontend('log_mel') builds the ready-made" in err
    assert "build_frontend('frontends/log_mel') builds this file" in err


def test_recipes_lists_the_shipped_recipes_and_front_ends(capsys):
    assert cli.main(["recipes"]) == 0
    out = capsys.readouterr().out
    for name in ("compare_methods", "language_id", "frontends/log_mel", "frontends/sincnet"):
        assert f"  {name} " in out, out
    assert cli.main(["recipes", "frontends/log_mel"]) == 0
    assert capsys.readouterr().out == (ROOT / "recipes/frontends/log_mel.yaml").read_text()
    # A front-end config by its own name: `frontends/` may be left out.
    assert cli.main(["recipes", "leaf_frontend"]) == 0
    want = (ROOT / "recipes/frontends/leaf_frontend.yaml").read_text()
    assert capsys.readouterr().out == want


def test_a_recipes_description_is_its_whole_opening_comment_without_usage_lines():
    """An indented usage line in the middle of the opening comment does not end it."""
    for path in sorted((ROOT / "recipes").rglob("*.yaml")):
        header = []
        for line in path.read_text().splitlines():
            if not line.startswith("#"):
                break
            header.append(line)
        described = framebank_cli._command._description(path)
        for line in header:
            text = line.lstrip("#").strip()
            if line.startswith("#  "):
                assert text not in described, (path.name, text)
            else:
                assert text in described, (path.name, text)
    full = framebank_cli._command._description(ROOT / "recipes/language_id_full_corpus.yaml")
    assert "LEAF is the one that filters every sample." in full


def test_every_command_has_a_description_in_its_help():
    parser = framebank_cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    parsers = dict(commands)
    parsers.update(commands["data"]._subparsers._group_actions[0].choices)
    missing = [name for name, sub in parsers.items() if not sub.description]
    assert missing == []


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`framebank recipes | head -1`: the pipe closes while the listing is written."""
    code = (
        "import sys, framebank_cli\n"
        "sys.argv = ['framebank', 'recipes']\n"
        "framebank_cli.console_main()"
    )
    environment = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )
    process.stdout.close()  # before the interpreter has started: every write fails
    _, err = process.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
    assert process.returncode == 1


@pytest.mark.parametrize(
    "value", ["language_id", "language_id.yaml", "recipes/language_id.yaml", "frontends/sincnet"]
)
def test_config_takes_a_shipped_recipe_by_name(value, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # nowhere near the recipes folder
    expected = ROOT / "recipes" / f"{value.removeprefix('recipes/').removesuffix('.yaml')}.yaml"
    assert framebank_cli.resolve_recipe(value) == expected


def test_config_takes_a_path_before_a_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "language_id").write_text("epochs: 1\n")  # a file named like a recipe
    assert framebank_cli.resolve_recipe("language_id") == Path("language_id")


def test_the_default_recipe_is_found_from_any_folder(monkeypatch, tmp_path):
    """`framebank train --quick` from a folder without recipes/ (an installed wheel's case)."""
    monkeypatch.chdir(tmp_path)
    seen = {}

    def record(config, out, **kwargs):
        seen.update(config=config, out=out)

    monkeypatch.setattr(language_id, "run_language_id", record)
    assert cli.main(["train", "--quick"]) == 0
    quick = yaml.safe_load((ROOT / "recipes/language_id.yaml").read_text())["quick"]
    assert seen["config"].epochs == quick["epochs"]
    assert seen["out"] == "runs/language_id-quick"


def test_shipped_dir_prefers_the_checkout_and_finds_the_packaged_copy(tmp_path, monkeypatch):
    assert framebank_cli.shipped_dir("recipes") == ROOT / "recipes"
    assert framebank_cli.shipped_dir("data") == ROOT / "data"
    # An installed package: framebank/_shipped/ beside its modules, no checkout around it.
    package = tmp_path / "site-packages" / "framebank"
    (package / "_shipped" / "recipes").mkdir(parents=True)
    (package / "_shipped" / "recipes" / "compare_methods.yaml").write_text("epochs: 1\n")
    monkeypatch.setattr(framebank_cli._resources, "_package_dir", lambda: package)
    assert framebank_cli.shipped_dir("recipes") == package / "_shipped" / "recipes"
    assert framebank_cli.shipped_dir("data") is None
    with pytest.raises(ValueError, match="'recipes' or 'data'"):
        framebank_cli.shipped_dir("docs")


def test_version_is_the_package_version(capsys):
    import framebank

    with pytest.raises(SystemExit):
        framebank_cli.main(["--version"])
    out = capsys.readouterr().out
    assert out.strip() in (
        f"framebank {framebank.__version__}",
        "framebank unknown (not installed)",
    )


TIMED = ("rfft", "matmul", "dense")


def test_tune_applies_batch_and_frames_to_named_shapes(monkeypatch, capsys):
    # --batch and --frames were ignored for named shapes: the table said 16 x 101.
    from framebank import tuning

    sizes = []

    def fake_tune(frame_len, hop, num_basis, batch, frames, **kwargs):
        sizes.append((frame_len, batch, frames))
        return {"key": "", "ms": {"matmul": 1.0}, "pick": "matmul", "rule": "matmul"}

    monkeypatch.setattr(tuning, "tune", fake_tune)
    assert (
        cli.main(["tune", "--shapes", "log_mel,kaldi_fbank", "--batch", "2", "--frames", "20"]) == 0
    )
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| log_mel")]
    assert rows and all("| 2 x 20 |" in row for row in rows), rows
    assert set(sizes) == {(400, 2, 20)}
    # Not given: each named shape keeps its own step size.
    sizes.clear()
    assert cli.main(["tune", "--shapes", "language_id,kaldi_fbank", "--frames", "7"]) == 0
    assert set(sizes) == {(256, 32, 7), (400, 16, 7)}


def test_tune_warns_that_few_repeats_may_pick_timing_noise(monkeypatch, capsys):
    """At 2 repeats a pick (reshape_conv 1.70 ms, matmul 3.96 ms) came with no warning."""
    from framebank import tuning

    def fake_tune(frame_len, hop, num_basis, batch, frames, **kwargs):
        return {"key": "", "ms": {"matmul": 1.0}, "pick": "matmul", "rule": "matmul"}

    monkeypatch.setattr(tuning, "tune", fake_tune)
    assert cli.main(["tune", "--shapes", "log_mel", "--repeats", "2"]) == 0
    err = capsys.readouterr().err
    assert "--repeats 2 is below 5" in err and "timing noise" in err
    assert cli.main(["tune", "--shapes", "log_mel", "--repeats", "5"]) == 0
    assert "timing noise" not in capsys.readouterr().err


def test_tune_times_the_methods_prints_the_table_and_fills_the_cache(tmp_path, monkeypatch, capsys):
    from framebank import tuning

    monkeypatch.setenv("FRAMEBANK_CACHE_DIR", str(tmp_path))
    # Three methods (each traced once under TensorFlow) keep it fast; test_auto_measure.py
    # checks which methods are candidates.
    real = tuning.candidates
    monkeypatch.setattr(
        tuning, "candidates", lambda *a, **k: [m for m in real(*a, **k) if m in TIMED]
    )
    argv = ["tune", "--frame-len", "16", "--hop", "8", "--fft-length", "16", "--batch", "2"]
    assert cli.main([*argv, "--frames", "4", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| shape"))
    split = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]  # noqa: E731
    rows = [split(line) for line in out.splitlines() if line.startswith("| yours")]
    # One row for the encoder, one for the decoder inverting it: each its own cached pick.
    by_layer = {row[1]: dict(zip(split(header), row, strict=True)) for row in rows}
    assert sorted(by_layer) == ["decoder", "encoder"]
    for cells in by_layer.values():
        assert cells["frame_len/hop/num_basis"] == "16/8/18"
        assert cells["basis"] == "fixed DFT" and float(cells["rfft"]) > 0
        timed = {m: float(cells[m]) for m in TIMED}
        assert cells["pick"] in cells and cells["fixed rule"] == "rfft"
        assert float(cells[cells["pick"]]) <= min(timed.values())
    entries = json.loads((tmp_path / "auto_methods.json").read_text())["entries"]
    # The key's fifth field is the direction, with the decoder's variant: "synthesis:tied".
    picks = {("decoder" if key.split("|")[4].startswith("synthesis") else "encoder"): e["pick"]
             for key, e in entries.items()}  # fmt: skip
    assert picks == {layer: cells["pick"] for layer, cells in by_layer.items()}
