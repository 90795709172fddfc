"""mkdocs hooks: make the API reference's pages at build time (mkdocs.yml names this file).

- ``reference/<module>.md`` for every public module of ``src/`` (``::: framebank.framing``
  and so on; names and modules starting with ``_`` are private), so a new module or a new
  public name appears in the reference without an edit anywhere;
- ``index.md``: the README, its links into ``docs/`` made relative to it;
- ``benchmarks.md`` and ``data.md``: the READMEs of those folders.

The pages exist only in the build; nothing is written into ``docs/``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# Top-level files copied in as pages, and where the README's links to them now point.
PAGES = {
    "README.md": "index.md",
    "benchmarks/README.md": "benchmarks.md",
    "data/README.md": "data.md",
}


# Docstring problems known and reported to whoever owns the file, waived one by one (file,
# message) so that the strict build stays strict for everything else. Remove an entry once
# its docstring is fixed.
WAIVED = [
    # The "Warns:" section's second line is not indented, so it reads as a new entry.
    ("framebank/methods.py", "Failed to get 'warning: description' pair"),
]


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


def _relink(text: str, page: str) -> str:
    """Point the links of a top-level Markdown file at the pages they became."""
    if page != "index.md":
        return text

    def target(match: re.Match) -> str:
        link = match.group(2)
        if link.startswith(("http://", "https://", "#")):
            return match.group(0)
        for source, name in PAGES.items():
            if link == source:
                return f"{match.group(1)}({name})"
        if link.startswith("docs/"):
            return f"{match.group(1)}({link.removeprefix('docs/')})"
        return match.group(0)

    return re.sub(r"(\]\s*)\(([^)\s]+)\)", target, text)


def on_files(files: Files, config) -> Files:
    for source, page in PAGES.items():
        text = _relink((ROOT / source).read_text(), page)
        files.append(File.generated(config, page, content=text))
    for module in public_modules():
        title = f"`{module}`"
        content = f"# {title}\n\n::: {module}\n    options:\n      show_root_heading: false\n"
        files.append(File.generated(config, f"reference/{module}.md", content=content))
    return files
