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
