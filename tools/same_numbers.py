"""Compare two recipe results.json files number for number, leaving out what a run measures
rather than computes (timings, memory, wall time, the command line).

    python tools/same_numbers.py BEFORE/results.json AFTER/results.json

Prints each difference and ``IDENTICAL`` when there is none; exits 1 on a difference.
"""

from __future__ import annotations

import json
import sys
from typing import Any

MEASURED = ("second", "time", "_ms", "memory", "wall", "rss", "_mb", "command", "duration")


def computed(value: Any) -> Any:
    """``value`` without the keys whose names say they were measured."""
    if isinstance(value, dict):
        return {
            k: computed(v) for k, v in value.items() if not any(m in k.lower() for m in MEASURED)
        }
    if isinstance(value, list):
        return [computed(v) for v in value]
    return value


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if type(a) is not type(b):
        return [f"{path}: {type(a).__name__} against {type(b).__name__}"]
    if isinstance(a, dict):
        found = [f"{path}/{k}: only on one side" for k in sorted(set(a) ^ set(b))]
        for key in sorted(set(a) & set(b)):
            found += differences(a[key], b[key], f"{path}/{key}")
        return found
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items against {len(b)}"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} against {b!r}"]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    before, after = (computed(json.loads(open(p).read())) for p in argv)
    found = differences(before, after)
    print("\n".join(found) if found else "IDENTICAL")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
