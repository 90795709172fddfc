"""The `framebank` command line."""

import pytest

from framebank import cli


def test_methods_command_reports_agreement(capsys):
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


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit):
        cli.main(["nope"])


@pytest.mark.parametrize(
    "argv,config,message",
    [
        (["methods", "--hop", "0", "--batch", "1", "--seconds", "1"], None, "hop=0"),
        (["train", "--quick"], "", "is empty"),
        (["compare", "--quick"], "frame_len: [1, 2\n", "is not valid YAML"),
        (["compare", "--quick"], "frame_len: 80\nnope: 1\n", "unknown field(s) nope"),
    ],
)
def test_user_errors_are_one_line_not_a_traceback(argv, config, message, tmp_path, capsys):
    """A bad option or config file exits 2 with the message (it printed a traceback)."""
    if config is not None:
        path = tmp_path / "config.yaml"
        path.write_text(config)
        argv = [*argv, "--config", str(path), "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"framebank {argv[0]}: error: " in err and message in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing was started


def test_an_error_during_the_run_keeps_its_traceback(monkeypatch, tmp_path):
    """Only reading options and configs is reported in one line; a failure in the run is not
    hidden as a usage error (it may be a bug, found hours into a run)."""
    from framebank.training import compare

    def broken(*args, **kwargs):
        raise TypeError("a bug inside the run")

    monkeypatch.setattr(compare, "run_compare", broken)
    with pytest.raises(TypeError, match="a bug inside the run"):
        cli.main(["compare", "--quick", "--out", str(tmp_path / "out")])


def test_quick_without_a_recipe_file_is_refused(monkeypatch, capsys):
    """--quick reads the recipe's quick: settings; without a recipe file it silently ran the
    full defaults (an install without recipes/)."""
    monkeypatch.setattr(cli, "_default_recipe", lambda name: None)
    assert cli.main(["compare", "--quick"]) == 2
    assert "pass --config with a recipe file" in capsys.readouterr().err
