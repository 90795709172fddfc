"""README's "Install from a wheel", followed literally: build, install in a fresh environment
outside the repository, list the recipes and run both recipes' quick versions from the wheel.

Minutes and pip's package index: it runs with ``FRAMEBANK_WHEEL_TEST=1`` (CI sets it).
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("FRAMEBANK_WHEEL_TEST"),
        reason="builds and installs a wheel in a fresh environment (minutes, needs pip's "
        "index): set FRAMEBANK_WHEEL_TEST=1",
    ),
]


def readme_block(heading: str) -> str:
    """The first ```bash block under ``heading`` in README.md."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```bash\n(.*?)```", section, re.S)
    assert found, f"no bash block under '{heading}'"
    return found.group(1)


def test_the_readme_block_is_what_this_test_runs():
    block = readme_block("Install from a wheel")
    assert "python -m build" in block and "framebank compare --quick" in block
    assert "framebank train --quick" in block and "framebank recipes" in block


def test_install_from_a_wheel_as_the_readme_says(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        # As a user has it: none of the test run's settings (conftest sets the log level).
        if key
        not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "FRAMEBANK_DATA", "TF_CPP_MIN_LOG_LEVEL")
    }
    # A home of its own (the block's ~), but pip's cache of the real one: no second download.
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    env["HOME"] = str(home)
    script = "set -euo pipefail\n" + readme_block("Install from a wheel")
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    # Installed outside the repository, it found its recipes and corpus inside the package.
    assert "framebank/_shipped/recipes" in output, output[-3000:]
    for folder, files in (
        ("compare-quick", ("REPORT.md", "results.json", "memory.png")),
        ("language_id-quick", ("REPORT.md", "results.json", "confusion.png")),
    ):
        for name in files:
            assert (home / "runs" / folder / name).stat().st_size > 0, (folder, name)
        assert list((home / "runs" / folder / "tensorboard").rglob("*tfevents*")), folder
    assert "Traceback" not in output
    assert "absl::InitializeLog" not in output and "cuInit" not in output
