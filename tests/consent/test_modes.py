"""The recognition modes and what each may do (privacy invariant 13's single source)."""

from __future__ import annotations

import pytest

from consent.modes import (
    DEFAULT_MODE,
    RECOGNITION_MODES,
    is_recognition_mode,
    loads_face_models,
    parse_mode,
    uses_face_search,
    uses_face_verification,
    uses_passes,
)


def test_the_four_modes_and_the_default() -> None:
    assert RECOGNITION_MODES == ("door", "checkin", "pass", "pass+face")
    assert DEFAULT_MODE == "door"


@pytest.mark.parametrize(
    ("mode", "search", "passes", "verify", "models"),
    [
        ("door", True, False, False, True),
        ("checkin", True, False, False, True),
        ("pass", False, True, False, False),
        ("pass+face", False, True, True, True),
    ],
)
def test_what_each_mode_may_do(
    mode: str, search: bool, passes: bool, verify: bool, models: bool
) -> None:
    parsed = parse_mode(mode)
    assert uses_face_search(parsed) is search
    assert uses_passes(parsed) is passes
    assert uses_face_verification(parsed) is verify
    assert loads_face_models(parsed) is models


@pytest.mark.parametrize("bad", ["", "Door", "pass face", "pass+Face", None, 1, ["door"]])
def test_unknown_modes_are_refused_with_the_valid_ones_named(bad: object) -> None:
    assert not is_recognition_mode(bad)
    with pytest.raises(ValueError, match="door, checkin, pass, pass\\+face"):
        parse_mode(bad)


def test_helpers_refuse_an_unknown_mode_rather_than_guess() -> None:
    with pytest.raises(ValueError):
        loads_face_models("passport")  # type: ignore[arg-type]
