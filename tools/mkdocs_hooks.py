"""mkdocs hooks: make the API reference's pages at build time (mkdocs.yml names this file).

- ``reference/<module>.md`` for every public module of ``src/`` (``::: framebank.framing``
  and so on; names and modules starting with ``_`` are private), so a new module or a new
  public name appears in the reference without an edit anywhere;
- ``index.md``: the README, its links into ``docs/`` made relative to it (and the guide
  pages' links to the README and ``benchmarks/`` made the site's);
- the Markdown files of ``benchmarks/`` and ``data/``, at the same paths (so the README's
  links to them hold).

The pages exist only in the build; nothing is written into ``docs/``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# Markdown outside docs/ that the README links to, copied in at the same paths.
BESIDE = ("benchmarks/*.md", "data/*.md")


# Docstring problems known and reported to whoever owns the file, waived one by one (file,
# message) so that the strict build stays strict for everything else. Remove an entry once
# its docstring is fixed.
WAIVED: list[tuple[str, str]] = []  # (file, message) pairs a strict build may ignore


class _Waive(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(path in message and text in message for path, text in WAIVED)


def on_startup(command: str, dirty: bool) -> None:
    for name in ("griffe", "mkdocs.plugins.griffe", "mkdocs.plugins.mkdocstrings"):
        logging.getLogger(name).addFilter(_Waive())


def public_modules() -> list[str]:
    """Dotted names of the modules under src/ whose names do not start with ``_``."""
    names = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not parts or any(part.startswith("_") for part in parts):
            continue
        if not (SRC / parts[0]).is_dir() and len(parts) == 1 and parts[0] != "framebank_cli":
            continue
        names.append(".".join(parts))
    return names


def _relink(text: str) -> str:
    """The README's links into ``docs/``, made relative to the site's root."""
    return re.sub(r"(\]\s*)\(docs/([^)\s]+)\)", r"\1(\2)", text)


def _guide_links(text: str) -> str:
    """A guide page's links to the README and to ``benchmarks/``, ``data/`` (their paths in
    the repository, which GitHub follows) made the site's: the README is ``index.md`` there,
    and those folders sit at the site's root."""
    text = re.sub(r"(\]\s*)\(\.\./\.\./README\.md", r"\1(../index.md", text)
    return re.sub(r"(\]\s*)\(\.\./\.\./(benchmarks|data)/", r"\1(../\2/", text)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri.startswith("guide/"):
        return _guide_links(markdown)
    return markdown


def on_files(files: Files, config) -> Files:
    readme = _relink((ROOT / "README.md").read_text())
    files.append(File.generated(config, "index.md", content=readme))
    for pattern in BESIDE:
        for path in sorted(ROOT.glob(pattern)):
            relative = path.relative_to(ROOT).as_posix()
            files.append(File.generated(config, relative, content=path.read_text()))
    for module in public_modules():
        title = f"`{module}`"
        content = f"# {title}\n\n::: {module}\n    options:\n      show_root_heading: false\n"
        files.append(File.generated(config, f"reference/{module}.md", content=content))
    return files
