"""The public API is a contract: every public name is pinned in ``tests/public_api.txt``.

Each line is one name: ``framebank.module: name`` for a module's ``__all__`` (every module
under ``src/`` whose dotted path has no ``_``-prefixed part, the console shim included),
``framebank.module: name (deprecated)`` for an old name a module still serves with a
DeprecationWarning, and ``cli: framebank command [sub] --option`` for the command line. A
removal or rename fails here until it is deliberate. After a deliberate change (and its
``CHANGELOG.md`` line), rewrite the snapshot with::

    python tests/test_public_api.py --write
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
SNAPSHOT = Path(__file__).with_name("public_api.txt")


def _public_modules() -> list[str]:
    names = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            names.append(".".join(parts))
    return names


def _cli_lines(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> list[str]:
    lines = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                lines.append(f"cli: {' '.join((*words, name))}")
                lines.extend(_cli_lines(sub, (*words, name)))
        elif action.option_strings:
            lines.extend(f"cli: {' '.join(words)} {o}" for o in action.option_strings)
        else:
            lines.append(f"cli: {' '.join(words)} <{action.dest}>")
    return lines


def public_api() -> list[str]:
    """Every public name, one sorted line each (the snapshot's format)."""
    lines = []
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        lines.extend(f"{module_name}: {name}" for name in getattr(module, "__all__", ()))
        old = getattr(getattr(module, "__getattr__", None), "deprecated", ())
        lines.extend(f"{module_name}: {name} (deprecated)" for name in old)
    import framebank_cli

    lines.extend(_cli_lines(framebank_cli.build_parser(), ("framebank",)))
    return sorted(set(lines))


def test_public_names_match_the_snapshot():
    now, pinned = public_api(), SNAPSHOT.read_text().splitlines()
    removed = sorted(set(pinned) - set(now))
    added = sorted(set(now) - set(pinned))
    assert removed == [], (
        "public names removed or renamed: keep the old name with a DeprecationWarning "
        "(framebank._deprecation) and a CHANGELOG.md line, then `python "
        f"tests/test_public_api.py --write`: {removed}"
    )
    assert added == [], f"new public names: `python tests/test_public_api.py --write`: {added}"


def test_every_listed_name_exists():
    for line in public_api():
        module_name, _, name = line.partition(": ")
        if module_name == "cli" or name.endswith("(deprecated)"):
            continue
        assert hasattr(importlib.import_module(module_name), name), line


def test_the_snapshot_sees_the_command_line_and_subpackages():
    """The listing is not empty by accident."""
    lines = set(public_api())
    for line in (
        "framebank: Encoder",
        "framebank.filterbanks: FILTERBANKS",
        "framebank.streaming: Stream",
        "cli: framebank compare --quick",
        "cli: framebank data fetch",
        "framebank.config: load_config (deprecated)",
    ):
        assert line in lines, line


RENAMED = [
    ("framebank", "Frontend", "framebank", "FrontEnd"),
    ("framebank.config", "load_config", "framebank.config", "read_frontend_config"),
    ("framebank.filterbanks", "MelSpectrum", "framebank.postprocessing", "MelSpectrum"),
    ("framebank.filterbanks", "mel_weights", "framebank.postprocessing.mel", "mel_weights"),
    (
        "framebank.training.compare",
        "load_config",
        "framebank.training.compare",
        "load_compare_config",
    ),
]


@pytest.mark.parametrize(("module", "old", "new_module", "new"), RENAMED)
def test_an_old_name_warns_and_is_the_new_one(module, old, new_module, new):
    with pytest.warns(DeprecationWarning, match=f"{module}.{old} is deprecated.*{new}"):
        got = getattr(importlib.import_module(module), old)
    assert got is getattr(importlib.import_module(new_module), new)


def test_old_names_work_as_before(tmp_path):
    import numpy as np
    from keras import ops

    import framebank as fb
    from framebank import config, decoder, filterbanks

    small = {"num_basis": 4, "frame_len": 8, "hop": 4}
    (tmp_path / "fe.yaml").write_text("num_basis: 4\nframe_len: 8\nhop: 4\n")
    with pytest.warns(DeprecationWarning):
        assert config.load_config(tmp_path / "fe.yaml") == small
    with pytest.warns(DeprecationWarning):
        assert isinstance(fb.build_frontend(small), fb.Frontend)
    with pytest.warns(DeprecationWarning):
        weights = filterbanks.mel_weights(n_mels=4, fft_length=16, sample_rate=8000)
    assert np.asarray(weights).shape[-1] == 4
    with pytest.warns(DeprecationWarning, match="DECODER_METHODS.*synthesize"):
        old = decoder.DECODER_METHODS
    assert set(old) == {"dense", "matmul", "pointwise_conv", "conv_transpose"}
    rng = np.random.default_rng(0)
    coefficients = rng.standard_normal((1, 5, 3)).astype("float32")
    synthesis = rng.standard_normal((3, 8)).astype("float32")
    want = ops.convert_to_numpy(old["matmul"](coefficients, synthesis, 4))
    assert want.shape == (1, 4 * 4 + 8)
    for name in ("dense", "pointwise_conv", "conv_transpose"):
        got = ops.convert_to_numpy(old[name](coefficients, synthesis, 4))
        # float32 rounding over 3 products per sample, summed over at most 2 frames.
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_the_mel_familys_old_spectrum_is_the_post_processing_layer_for_its_encoder():
    import framebank as fb
    from framebank.postprocessing import MelSpectrum

    enc = fb.Encoder(frame_len=64, hop=32, filterbank="mel", sample_rate=8000, n_mels=8)
    with pytest.warns(DeprecationWarning, match="MelSpectrum.for_encoder"):
        old = enc.filterbank.spectrum(power=1.0)
    new = MelSpectrum.for_encoder(enc, power=1.0)
    assert type(old) is MelSpectrum
    assert {**old.get_config(), "name": ""} == {**new.get_config(), "name": ""}


def test_an_unknown_name_is_still_an_attribute_error():
    import framebank

    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        framebank.no_such_name  # noqa: B018
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Old names stay out of __all__, so a star import reads none of them.
        exec("from framebank import *", {})


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: python {sys.argv[0]} --write  (rewrites {SNAPSHOT.name})")
    sys.path.insert(0, str(SRC))
    SNAPSHOT.write_text("\n".join(public_api()) + "\n")
    print(f"wrote {SNAPSHOT} ({len(public_api())} names)")
