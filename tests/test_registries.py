"""The four registries (methods, filterbanks, post-processing, ready-made front ends) follow
one rule: a name is a str, a class is the registry's base's subclass (a TypeError names the
value otherwise), a name already held by another class is replaced only with
``override=True``, the same class again under its name is a no-op (as Keras's
``register_keras_serializable``), and a second name is an alias."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import framebank as fb
from framebank import methods
from framebank.filterbanks import base as filterbanks
from framebank.frontends import base as frontends
from framebank.postprocessing import base as postprocessing


class _Einsum(fb.Method):
    name = "matmul"  # a shipped name

    def project(self, frames, basis):
        return fb.METHODS["matmul"]().project(frames, basis)


class _MyFamily(fb.FreeFilterbank):
    pass


class _MyLayer(fb.Postprocessing):
    def call(self, x):
        return x


class _MyFrontEnd(fb.FrontEnd):
    """A user's front end: builds its encoder, passes the rest (``postprocessing``) through."""

    def __init__(self, frame_len: int = 64, **kwargs):
        super().__init__(fb.Encoder(filterbank="fourier", frame_len=frame_len, hop=16), **kwargs)


# (registry, how to register a class under a name with **options, a shipped name, a class)
REGISTRIES = {
    "method": (
        methods._REGISTRY,
        lambda name, cls, **o: fb.register_method(**o)(cls),
        "matmul",
        _Einsum,
    ),
    "filterbank": (
        filterbanks._REGISTRY,
        lambda name, cls, **o: fb.register_filterbank(name, **o)(cls),
        "gabor",
        _MyFamily,
    ),
    "postprocessing": (
        postprocessing._REGISTRY,
        lambda name, cls, **o: fb.register_postprocessing(name, **o)(cls),
        "pcen",
        _MyLayer,
    ),
    "frontend": (
        frontends._READY_MADE,
        lambda name, cls, **o: frontends.register_ready_made(name, **o)(cls),
        "leaf",
        _MyFrontEnd,
    ),
}


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_a_shipped_name_is_replaced_only_with_override(kind):
    registry, register, shipped, cls = REGISTRIES[kind]
    original = registry[shipped]
    family = getattr(cls, "family", None)
    with pytest.raises(ValueError, match=f"'{shipped}' is already registered.*override=True"):
        register(shipped, cls)
    assert registry[shipped] is original
    try:
        register(shipped, cls, override=True)
        assert registry[shipped] is cls
    finally:
        registry[shipped] = original
        if family is not None:
            cls.family = family
    register(shipped, original)  # the class it holds, again: no error, nothing changes
    assert registry[shipped] is original


@pytest.mark.parametrize("kind", ["filterbank", "postprocessing", "frontend"])
def test_a_name_that_is_not_a_str_is_a_type_error_naming_it(kind):
    _, register, _, cls = REGISTRIES[kind]
    with pytest.raises(TypeError, match=r"takes a name \(str\). Received: 3 of type int"):
        register(3, cls)


def test_a_method_whose_name_is_not_a_str_is_a_type_error_naming_it():
    """A method's name is its class attribute: ``name = 3`` was a ValueError, where the
    other registries' non-str names are a TypeError."""

    class Numbered(fb.Method):
        name = 3

    before = dict(methods._REGISTRY)
    with pytest.raises(TypeError, match=r"register_method takes a name \(str\). Received: 3"):
        fb.register_method(Numbered)
    assert methods._REGISTRY == before


def _subclass(kind: str, name: str) -> type:
    """A fresh class of the registry's kind, named ``name`` for the method registry."""
    cls = type(f"_Test{kind.title()}", (REGISTRIES[kind][3],), {})
    if kind == "method":
        cls.name = name
    return cls


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_the_same_class_again_under_its_name_changes_nothing(kind):
    registry, register, _, _ = REGISTRIES[kind]
    cls = _subclass(kind, "test_again")
    register("test_again", cls)
    try:
        register("test_again", cls)  # a script run twice: no error, as Keras's own registry
        assert registry["test_again"] is cls
        assert [name for name, held in registry.items() if held is cls] == ["test_again"]
    finally:
        registry.pop("test_again")


@pytest.mark.parametrize("kind", ["filterbank", "postprocessing", "frontend"])
@pytest.mark.parametrize("override", [False, True])
def test_a_second_name_is_an_alias_and_the_class_keeps_its_first(kind, override):
    """A class registered as 'a' then 'b' (an old name kept for saved configs) is built by
    both; its ``family`` (``kind``) stays 'a', so a config saved from it names what it was
    first built as (it read 'b' before)."""
    registry, register, _, _ = REGISTRIES[kind]
    cls = _subclass(kind, "test_first")
    register("test_first", cls)
    try:
        register("test_second", cls, override=override)
        assert registry["test_second"] is cls and registry["test_first"] is cls
        assert getattr(cls, "family", getattr(cls, "kind", "test_first")) == "test_first"
    finally:
        registry.pop("test_first")
        registry.pop("test_second", None)


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_a_value_that_is_not_the_registrys_class_is_a_type_error_naming_it(kind):
    registry, register, _, _ = REGISTRIES[kind]
    before = dict(registry)
    with pytest.raises(TypeError, match="subclass. Received: 42 of type int"):
        register("test_not_a_class", 42)
    assert registry == before


def test_a_users_frontend_is_built_by_name_with_a_list_of_postprocessing():
    """YAML and JSON have lists only; the inherited ``postprocessing=()`` took a tuple only."""
    frontends.register_ready_made("test_my_logspec")(_MyFrontEnd)
    try:
        fe = fb.build_frontend(
            {"frontend": "test_my_logspec", "frame_len": 32, "postprocessing": ["modulus", "log1p"]}
        )
    finally:
        frontends._READY_MADE.pop("test_my_logspec")
    assert [type(step).__name__ for step in fe.postprocessing] == ["Modulus", "Log1p"]
    out = keras.ops.convert_to_numpy(fe(np.ones((2, 160), "float32")))
    assert out.shape == (2, 9, 17) and np.all(np.isfinite(out)) and np.all(out >= 0)
