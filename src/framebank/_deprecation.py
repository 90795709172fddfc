"""Old public names kept for one release: reading one warns and returns its replacement.

A module that renamed or moved a public name lists it in a ``{old: (loader, message)}``
mapping and sets ``__getattr__ = deprecated_names(__name__, mapping)`` (PEP 562): the old name
keeps working, with a :class:`DeprecationWarning` that says what to use instead, and stays out
of ``__all__`` (so ``from module import *`` does not warn). Imports nothing of framebank.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["deprecated_names"]


def deprecated_names(
    module: str, renamed: Mapping[str, tuple[Callable[[], Any], str]]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``renamed``'s old names with a DeprecationWarning.

    Args:
        module: the module's ``__name__`` (for the AttributeError of an unknown name).
        renamed: old name -> (a function returning the object now served, what to use instead).
    """

    def __getattr__(name: str) -> Any:
        if name not in renamed:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        loader, instead = renamed[name]
        warnings.warn(
            f"{module}.{name} is deprecated and will be removed in the next release; {instead}.",
            DeprecationWarning,
            stacklevel=2,
        )
        return loader()

    __getattr__.deprecated = tuple(renamed)  # type: ignore[attr-defined]  # the snapshot lists them
    return __getattr__
