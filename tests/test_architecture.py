"""The house rules: imports form a DAG in the directions DESIGN.md gives, registries are
read-only, and a new method, family or post-processing layer is one class registered from
outside the package that then works everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

import framebank as fb

SRC = Path(__file__).resolve().parents[1] / "src" / "framebank"
# Calls that import a module named by a string: importlib's, and the console shim's loader.
_IMPORTING_CALLS = {"import_module", "_load_keras_free"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_by_name(node: ast.AST) -> list[str]:
    """``importlib.import_module("framebank.cli")`` and the like: the string it names."""
    if not isinstance(node, ast.Call) or not node.args:
        return []
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    first = node.args[0]
    if called in _IMPORTING_CALLS and isinstance(first, ast.Constant):
        return [str(first.value)]
    return []


def _imports() -> dict[str, set[str]]:
    """Every module under ``src/`` (the package and the console shims beside it) -> the
    modules of ``src/`` it imports, anywhere in its body (function-local imports included:
    they hide a cycle, they do not remove it) or by name through importlib."""
    modules = {_module_name(p): p for p in SRC.parent.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = _imported_by_name(node)
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                # `from framebank import framing` names a module, `from x import f` a name.
                targets = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
                targets = targets or [base]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)
        graph[name] = found
    return graph


GRAPH = _imports()


def _reaches(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_parser_sees_known_edges():
    """The graph is not empty by accident: edges that exist are found."""
    assert "framebank.framing" in GRAPH["framebank.layers"]
    assert "framebank._validation" in GRAPH["framebank.framing"]
    assert "framebank.training.compare" in GRAPH["framebank.training.memory"]
    assert {"framebank._command", "framebank.cli"} <= GRAPH["framebank_cli"]


def test_the_command_line_imports_one_way():
    """The console shim is the top: nothing imports it. Its parsing and shipped-file lookup
    import nothing of framebank that imports Keras, and nothing of the package imports back
    up into the command's work (framebank.cli) but the shim."""
    importers = sorted(m for m in GRAPH if "framebank_cli" in GRAPH[m])
    assert importers == [], f"modules importing the console shim: {importers}"
    assert _reaches("framebank._resources", GRAPH) == set()
    assert _reaches("framebank._command", GRAPH) == {"framebank._resources"}
    assert sorted(m for m in GRAPH if "framebank.cli" in GRAPH[m]) == ["framebank_cli"]


def test_no_import_cycles():
    cycles = sorted(m for m in GRAPH if m in _reaches(m, GRAPH) and m != "framebank")
    assert cycles == [], f"modules that import themselves through others: {cycles}"


def _direct(module: str) -> set[str]:
    return {m for m in GRAPH[module] if m.startswith("framebank")}


def test_no_filterbank_imports_post_processing_but_for_a_deprecated_name():
    """The mel family's layer is made by post-processing from the family's options
    (``MelSpectrum.for_encoder``); the old ``MelFilterbank.spectrum()`` and the old
    ``framebank.filterbanks.MelSpectrum``/``mel_weights`` keep one release, importing it on use."""
    # module -> the function that serves its deprecated names
    deprecated = {
        "framebank.filterbanks.mel": "spectrum",
        "framebank.filterbanks": "_postprocessing_mel",
    }
    importers = {
        m
        for m in GRAPH
        if m.startswith("framebank.filterbanks")
        and any(t.startswith("framebank.postprocessing") for t in GRAPH[m])
    }
    assert importers <= set(deprecated)
    for module in importers:
        path = SRC.parent / (
            module.replace(".", "/")
            + ("/__init__.py" if module == "framebank.filterbanks" else ".py")
        )
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
        assert not any("postprocessing" in (n.module or "") for n in top), module
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and "postprocessing" in (node.module or ""):
                    assert function.name == deprecated[module], (module, function.name)


def test_directions_of_import():
    below_training = [
        m
        for m in GRAPH
        if not m.startswith(("framebank.training", "framebank.cli", "framebank_cli"))
        and m != "framebank"
    ]
    leaks = {
        m: sorted(t for t in GRAPH[m] if t.startswith("framebank.training")) for m in below_training
    }
    assert {m: t for m, t in leaks.items() if t} == {}, "nothing below training/ imports it"
    assert _direct("framebank._validation") == set()
    assert _direct("framebank.device") == set()
    assert _direct("framebank.framing") == {"framebank._validation"}
    for module in GRAPH:
        if module.startswith("framebank.filterbanks"):
            assert "framebank.methods" not in GRAPH[module], module
        if module.startswith("framebank.postprocessing"):
            bad = {
                t
                for t in GRAPH[module]
                if t.startswith(("framebank.filterbanks", "framebank.methods", "framebank.layers"))
            }
            assert bad == set(), module
    assert not any(t.startswith("framebank.filterbanks") for t in GRAPH["framebank.methods"])
    core = ["framebank.layers", "framebank.decoder", "framebank.methods", "framebank.framing"]
    for module in core:
        above = {
            t for t in GRAPH[module] if t.split(".")[1] in ("audio", "corpus", "cli", "config")
        }
        assert above == set(), module


def test_registries_are_read_only():
    for registry in (fb.METHODS, fb.FILTERBANKS, fb.POSTPROCESSING):
        with pytest.raises(TypeError):
            registry["mine"] = object
    assert {"free", "fourier", "mel"} <= set(fb.FILTERBANKS)
    assert {"matmul", "strided_conv"} <= set(fb.METHODS)
    assert {"mel_spectrum", "log_energy"} <= set(fb.POSTPROCESSING)


def test_every_public_name_exists():
    for name in fb.__all__:
        assert getattr(fb, name) is not None, name


# --------------------------------------------------------------------- extension from outside


class _Einsum(fb.Method):
    """A method written the way a user would: only `project`."""

    name = "test_einsum"

    def project(self, frames, basis):
        return ops.einsum("bfl,ln->bfn", frames, basis)


@pytest.fixture
def einsum_method():
    """Registered for one test (a registry entry left behind would join other modules'
    "every method" parametrisations)."""
    from framebank import methods

    fb.register_method(_Einsum)
    yield
    methods._REGISTRY.pop(_Einsum.name)


def test_a_registered_method_works_in_every_layer_and_config(einsum_method):
    x = np.random.default_rng(0).standard_normal((2, 160)).astype("float32")
    reference = fb.Encoder(12, 16, 8, method="matmul", name="ref")
    mine = fb.Encoder(12, 16, 8, method="test_einsum", name="mine")
    reference.build((None, None))
    mine.build((None, None))
    mine.set_weights(reference.get_weights())
    np.testing.assert_allclose(
        ops.convert_to_numpy(mine(x)), ops.convert_to_numpy(reference(x)), rtol=1e-5, atol=1e-6
    )
    frames = np.random.default_rng(1).standard_normal((2, 5, 16)).astype("float32")
    projection = fb.FrameProjection(12, method="test_einsum")
    assert tuple(projection(frames).shape) == (2, 5, 12)
    coefficients = reference(x)
    want = fb.Decoder(reference, method="matmul")(coefficients)
    got = fb.Decoder(reference, method="test_einsum")(coefficients)
    np.testing.assert_allclose(
        ops.convert_to_numpy(got), ops.convert_to_numpy(want), rtol=1e-5, atol=1e-6
    )
    fe = fb.build_frontend(
        {"num_basis": 12, "frame_len": 16, "hop": 8, "method": "test_einsum",
         "decoder": {"kind": "tied", "method": "test_einsum"}}
    )  # fmt: skip
    assert (fe.encoder.method.name, fe.decoder.method.name) == ("test_einsum", "test_einsum")
    from framebank.training.compare import CompareConfig, build_denoiser

    config = CompareConfig(
        methods=["test_einsum"], chunk_seconds=0.05, frame_len=16, hop=8, num_basis=8
    )
    model = build_denoiser(config, "test_einsum", "basis_glorot_uniform", 0)
    assert model.get_layer("encoder").method.name == "test_einsum"


def test_register_method_refuses_what_is_not_a_method():
    with pytest.raises(TypeError, match="Method subclass"):
        fb.register_method(object)

    class Nameless(fb.Method):
        pass

    with pytest.raises(ValueError, match="non-empty `name`"):
        fb.register_method(Nameless)


class _CubeRoot(fb.Postprocessing):
    """A post-processing layer written the way a user would."""

    def __init__(self, gain: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.gain = gain

    def call(self, x):
        return self.gain * ops.sign(x) * ops.power(ops.abs(x) + 1e-12, 1.0 / 3.0)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


@pytest.fixture
def cube_root():
    from framebank.postprocessing import base

    fb.register_postprocessing("test_cube_root")(_CubeRoot)
    yield
    base._REGISTRY.pop("test_cube_root")


def test_a_registered_postprocessing_layer_works_in_configs_and_keras_files(tmp_path, cube_root):
    fe = fb.build_frontend(
        {
            "num_basis": 6,
            "frame_len": 16,
            "hop": 8,
            "postprocessing": [{"test_cube_root": {"gain": 2.0}}],
        }
    )
    x = np.random.default_rng(0).standard_normal((2, 96)).astype("float32")
    coefficients = ops.convert_to_numpy(fe.encoder(x))
    want = 2.0 * np.cbrt(coefficients)
    np.testing.assert_allclose(ops.convert_to_numpy(fe(x)), want, rtol=1e-4, atol=1e-5)
    inputs = keras.Input((96,))
    model = keras.Model(inputs, fe(inputs))
    model.save(tmp_path / "fe.keras")
    loaded = keras.models.load_model(tmp_path / "fe.keras")
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), want, rtol=1e-4, atol=1e-5)
    with pytest.raises(fb.FrontendConfigError, match="unknown option 'gian'.*gain"):
        fb.build_frontend(
            {
                "num_basis": 6,
                "frame_len": 16,
                "hop": 8,
                "postprocessing": [{"test_cube_root": {"gian": 2.0}}],
            }
        )
    with pytest.raises(fb.FrontendConfigError, match="must be float or int"):
        fb.build_frontend(
            {
                "num_basis": 6,
                "frame_len": 16,
                "hop": 8,
                "postprocessing": [{"test_cube_root": {"gain": "x"}}],
            }
        )


def test_frontend_config_lists_every_postprocessing_problem_at_once():
    config = {
        "num_basis": 6,
        "frame_len": 16,
        "hop": 8,
        "postprocessing": ["no_such_layer", {"log_energy": {"pairs": "yes"}}, 3],
        "hop_size": 4,
    }
    with pytest.raises(fb.FrontendConfigError) as err:
        fb.build_frontend(config)
    message = str(err.value)
    for part in (
        "no_such_layer",
        "postprocessing[1].log_energy.pairs",
        "postprocessing[2]",
        "hop_size",
    ):
        assert part in message, (part, message)


def test_frontend_round_trips_through_a_keras_file_with_its_decoder(tmp_path):
    fe = fb.build_frontend(
        {"filterbank": "fourier", "frame_len": 32, "hop": 8, "center": True,
         "postprocessing": [{"log_energy": {"pairs": True}}],
         "decoder": {"kind": "pinv"}}
    )  # fmt: skip
    x = np.random.default_rng(0).standard_normal((1, 256)).astype("float32")
    inputs = keras.Input((256,))
    model = keras.Model(inputs, fe(inputs))
    model.save(tmp_path / "fe.keras")
    loaded = keras.models.load_model(tmp_path / "fe.keras").layers[-1]
    assert isinstance(loaded, fb.FrontEnd)
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(fe(x)), rtol=1e-5, atol=1e-5
    )
    # The decoder still inverts this encoder: they share one basis after loading.
    assert loaded.decoder.encoder is loaded.encoder
    again = ops.convert_to_numpy(loaded.decoder(loaded.encoder(x), length=256))
    np.testing.assert_allclose(again, x, atol=1e-4)


def test_num_basis_is_optional_where_the_family_fixes_it():
    mel = fb.Encoder(frame_len=128, hop=64, filterbank="mel", sample_rate=8000, n_mels=16)
    assert mel.num_basis == 2 * (128 // 2 + 1)
    assert fb.Encoder(None, 64, 16, filterbank="fourier").num_basis == 66
    with pytest.raises(ValueError, match="num_basis = 2 \\* \\(fft_length // 2 \\+ 1\\) = 130"):
        fb.Encoder(num_basis=64, frame_len=128, hop=64, filterbank="mel", sample_rate=8000)
    with pytest.raises(TypeError, match="num_basis=None"):
        fb.Encoder(frame_len=128, hop=64)  # the free family has no size of its own
    with pytest.raises(TypeError, match="frame_len=None"):
        fb.Encoder(16, hop=8)
