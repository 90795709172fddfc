"""No function in ``src/`` is longer than 60 lines outside its docstring, unless a one-line
``# long: <reason>`` comment sits on the line above its ``def`` (or its first decorator)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
LIMIT = 60


def _length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` to the end, less the docstring's."""
    length = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        if isinstance(first.value.value, str):
            length -= first.end_lineno - first.lineno + 1
    return length


def long_functions(source: str) -> list[tuple[int, str, int, bool]]:
    """(line, name, length, has a reason) for each function over the limit in ``source``."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _length(node) > LIMIT:
            top = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            above = lines[top - 2].strip() if top >= 2 else ""
            reason = above.startswith("# long:") and len(above) > len("# long: ") + 3
            found.append((node.lineno, node.name, _length(node), reason))
    return found


def test_the_check_sees_a_long_function_and_its_reason():
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    bare = f'def f():\n    """Doc\n    string."""\n{body}\n'
    assert long_functions(bare) == [(1, "f", LIMIT + 1, False)]
    reasoned = f"# long: one table of options, read top to bottom\n{bare}"
    assert long_functions(reasoned) == [(2, "f", LIMIT + 1, True)]
    short = f'def g():\n    """{"doc " * 200}"""\n    return 1\n'
    assert long_functions(short) == []


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_long_function_without_a_reason(path):
    bad = [
        f"{path.relative_to(SRC)}:{line} {name} ({length} lines)"
        for line, name, length, reason in long_functions(path.read_text())
        if not reason
    ]
    assert bad == [], f"split these, or say why in a `# long: ...` line above the def: {bad}"
