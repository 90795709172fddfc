"""The one config-schema checker: the recipe configs, a language-ID variant and the
front-end configs refuse the same wrong values the same way (no reader of its own)."""

from __future__ import annotations

import pytest

import framebank as fb
from framebank._validation import check_field, check_known_keys, type_problem
from framebank.training.compare import CompareConfig
from framebank.training.config import from_dict
from framebank.training.language_id import LanguageIdConfig


@pytest.mark.parametrize(
    "value,accepted,refused",
    [
        (True, (int, float), True),  # a bool is never a number
        (3, (int, float), False),
        (3.0, (int,), True),
        ("mel", (str,), False),
        (None, (int,), False),  # null: the option's default
    ],
)
def test_type_problem(value, accepted, refused):
    problem = type_problem("`x`", value, accepted)
    assert (problem is not None) == refused
    if refused:
        assert problem.startswith("`x` must be") and repr(value) in problem


def test_check_field_converts_and_refuses():
    assert check_field("rate", 3, float) == 3.0 and isinstance(check_field("rate", 3, float), float)
    assert check_field("seeds", (1, 2), list[int]) == [1, 2]
    assert check_field("cap", None, int | None) is None
    for value, annotation in ((True, float), (None, int), ("3", int), ([1, "a"], list[int])):
        with pytest.raises(TypeError, match="config field"):
            check_field("f", value, annotation)


def test_check_known_keys_names_the_unknown_and_the_accepted():
    check_known_keys("here", {"a": 1}, ["a", "b"])
    with pytest.raises(ValueError, match=r"here: unknown field\(s\) c, d. Accepted: a, b"):
        check_known_keys("here", {"a": 1, "d": 2, "c": 3}, ["a", "b"])


@pytest.mark.parametrize(
    "build",
    [
        lambda: from_dict(CompareConfig, {"learning_rate": True}),
        lambda: from_dict(LanguageIdConfig, {"learning_rate": True}),
        lambda: from_dict(
            LanguageIdConfig,
            {"variants": {"x": {"frontend": "sinc", "frontend_lr_multiplier": True}}},
        ),
        lambda: fb.build_frontend({"frontend": "log_mel", "sample_rate": 16000, "hop_ms": True}),
        lambda: fb.build_frontend(
            {"filterbank": "free", "num_basis": 8, "frame_len": 16, "hop": True}
        ),
    ],
    ids=["compare", "language_id", "variant", "ready_made", "frontend_config"],
)
def test_every_config_reader_refuses_a_bool_for_a_number(build):
    with pytest.raises((TypeError, ValueError), match="True"):
        build()


def test_a_ready_made_front_end_of_a_recipe_is_checked_as_a_front_end_config():
    """The recipe builds its ready-made front ends through build_frontend: an option of the
    wrong type is named with the front end it was meant for."""
    with pytest.raises(ValueError, match=r"front end 'x'.*Invalid front-end config"):
        from_dict(
            LanguageIdConfig,
            {
                "frontends": ["x"],
                "variants": {"x": {"frontend": "leaf", "options": {"instance_norm": 3}}},
            },
        )
