"""The user guide runs: every page of ``docs/guide/`` is a script, executed as written.

A page's ```python blocks run in order in one fresh Python process whose working folder is an
empty temporary one (the pages find their audio through ``framebank.audio``: the corpus shipped
with the package, a checkout's ``data/``). Its ```bash blocks run at their place in that order;
each must start with ``framebank`` (the installed console script). A block that must not run is
marked in the markdown (```python no-run, ```bash no-run) and is compiled or syntax-checked
instead, so nothing is skipped silently. A page holding ``<!-- test: slow -->`` is marked slow.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide"
PAGES = sorted(GUIDE.glob("*.md"))
RUN = ("python", "bash")
# Pages written by other work that the index links to before they land.
LINKED_ELSEWHERE = ("own_folder.md",)

FENCE = re.compile(r"^```([\w-]*)([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)


@dataclass
class Block:
    language: str
    flags: tuple[str, ...]
    code: str
    line: int

    @property
    def runs(self) -> bool:
        return self.language in RUN and "no-run" not in self.flags


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, in order, with the line each starts on."""
    text = page.read_text()
    return [
        Block(
            match.group(1),
            tuple(match.group(2).split()),
            match.group(3),
            text.count("\n", 0, match.start()) + 1,
        )
        for match in FENCE.finditer(text)
    ]


def script(page: Path) -> str:
    """One Python script: the page's runnable blocks in order, bash through ``subprocess``."""
    parts = ["import subprocess as _guide_subprocess, sys as _guide_sys"]
    for block in blocks(page):
        if not block.runs:
            continue
        marker = f"{page.name}, the {block.language} block at line {block.line}"
        parts.append(f"print({('--- ' + marker)!r}, file=_guide_sys.stderr, flush=True)")
        if block.language == "python":
            parts.append(block.code)
        else:
            parts.append(f"_guide_subprocess.run(['bash', '-ec', {block.code!r}], check=True)")
    return "\n".join(parts) + "\n"


def _page_param(page: Path) -> object:
    slow = "<!-- test: slow -->" in page.read_text()
    return pytest.param(page, id=page.stem, marks=[pytest.mark.slow] if slow else [])


def test_there_is_a_guide_with_runnable_pages():
    assert (GUIDE / "index.md") in PAGES
    runnable = [page for page in PAGES if any(block.runs for block in blocks(page))]
    assert len(runnable) >= 6, [page.name for page in runnable]


def test_the_index_links_every_page():
    index = (GUIDE / "index.md").read_text()
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    expected = {page.name for page in PAGES if page.name != "index.md"} | set(LINKED_ELSEWHERE)
    assert expected <= linked, sorted(expected - linked)


@pytest.mark.parametrize("page", [*PAGES, ROOT / "docs" / "DEPLOY.md"], ids=lambda p: p.stem)
def test_relative_links_hold_in_the_repository(page):
    """A page's relative links name files that exist where the page sits, as GitHub reads
    them (`../index.md` and `../benchmarks/README.md` held only on the built site, where
    tools/mkdocs_hooks.py now maps the repository's paths)."""
    text = FENCE.sub("", page.read_text())
    targets = re.findall(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)", text)
    local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    missing = [t for t in local if not (page.parent / t).exists()]
    assert not missing, missing


@pytest.mark.parametrize("page", PAGES, ids=[page.stem for page in PAGES])
def test_blocks_are_runnable_or_marked(page):
    """A python or bash block runs, or says no-run and still compiles; bash starts with
    ``framebank``; no other flag is accepted (a typo would skip a block silently)."""
    for block in blocks(page):
        where = f"{page.name}:{block.line}"
        assert set(block.flags) <= {"no-run"}, f"{where}: unknown flags {block.flags}"
        if block.language == "python":
            compile(block.code, where, "exec")
        elif block.language == "bash":
            checked = subprocess.run(["bash", "-n"], input=block.code, text=True)
            assert checked.returncode == 0, f"{where}: bash syntax"
            first = block.code.split()[0] if block.code.split() else ""
            assert first == "framebank" or not block.runs, (
                f"{where}: a bash block that runs must start with `framebank`; mark others "
                "```bash no-run"
            )


def test_the_runner_fails_on_a_failing_block(tmp_path):
    """What the page test relies on: a failing python or bash block fails the script."""
    for body in (
        "```python\nraise SystemExit(3)\n```\n",
        "```bash\nframebank no-such-command\n```\n",
    ):
        page = tmp_path / "page.md"
        page.write_text("# A page\n\n" + body)
        done = _run(page, tmp_path)
        assert done.returncode != 0, body


def _run(page: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # The guide is written for the default backend; its export page needs TensorFlow.
    env["KERAS_BACKEND"] = "tensorflow"
    # The `framebank` of this interpreter's environment, before any other on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    (cwd / "guide_page.py").write_text(script(page))
    return subprocess.run(
        [sys.executable, "guide_page.py"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_the_readmes_first_example_runs(tmp_path):
    """The README's first screen: its ```python block under "A front end in your model"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## A front end in your model\n", 1)[1].split("\n## ", 1)[0]
    page = tmp_path / "readme_example.md"
    # And what its last comment says: the saved model loads back.
    check = "import framebank\nassert keras.models.load_model('classifier.keras')\n"
    page.write_text(f"{section}\n```python\n{check}```\n")
    assert any(block.runs for block in blocks(page))
    done = _run(page, tmp_path)
    assert done.returncode == 0, done.stderr[-6000:]


@pytest.mark.parametrize("page", [_page_param(page) for page in PAGES])
def test_the_page_runs_as_written(page, tmp_path):
    done = _run(page, tmp_path)
    assert done.returncode == 0, (
        f"{page.name} failed (exit {done.returncode}); the last block started is the last "
        f"'---' line:\n{done.stderr[-6000:]}\n{done.stdout[-2000:]}"
    )


# What the README's and DEPLOY.md's later blocks leave to the reader (they are snippets in a
# running session): real speech from the corpus, in the shapes and dtypes their comments say.
GIVEN = {
    "README.md": """
import numpy as np, keras, framebank
from framebank import audio
_speech = np.stack([s[:16000] for _, s in audio.load_clips(audio.read_manifest()[:2], 16000)])
signal = _speech.astype("float32")                              # [batch, time] in [-1, 1]
waveform = signal
w = framebank.filterbanks.make_window("hann", 400).astype("float32")
pcm_int16 = np.round(signal * 32767).astype("int16")
chunks = [signal[:, i : i + 1000] for i in range(0, 16000, 1000)]
""",
    "DEPLOY.md": """
import numpy as np, keras, framebank
from framebank import audio
_speech = np.stack([s[:16000] for _, s in audio.load_clips(audio.read_manifest()[:2], 16000)])
waveform = x = _speech.astype("float32")
y = np.array([0, 1])
optimizer, loss = "adam", "sparse_categorical_crossentropy"
def build_model():
    inputs = keras.Input((16000,))
    features = framebank.frontends.LogMel(sample_rate=16000)(inputs)
    pooled = keras.layers.GlobalAveragePooling1D()(features)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(pooled))
encoder = framebank.Encoder(64, 80, 40, method="matmul", pad_end=True)
encoder(waveform)
""",
}


@pytest.mark.parametrize("page", [ROOT / "README.md", ROOT / "docs" / "DEPLOY.md"], ids=str)
def test_the_readme_and_deploy_snippets_run_given_their_inputs(page, tmp_path):
    """Every ```python block of README.md (past the first screen, run above) and DEPLOY.md
    runs in order, given only the inputs the text leaves to the reader (``GIVEN``)."""
    found = [block for block in blocks(page) if block.runs and block.language == "python"]
    if page.name == "README.md":
        found = found[1:]
    assert found, page
    given = tmp_path / "given.md"
    given.write_text(
        f"```python\n{GIVEN[page.name]}```\n"
        + "".join(f"```python\n{block.code}```\n" for block in found)
    )
    # The README's config paths are relative to a checkout.
    (tmp_path / "recipes").symlink_to(ROOT / "recipes")
    done = _run(given, tmp_path)
    assert done.returncode == 0, done.stderr[-6000:]
