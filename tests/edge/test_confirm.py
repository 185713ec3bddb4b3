"""k-of-n confirmation with threshold and margin; cooldown with an injected clock."""

from __future__ import annotations

import pytest

from edge.confirm import Cooldown, KOfN, MatchOutcome


def _m(subject: str | None, distance: float, margin: float = 0.3) -> MatchOutcome:
    return MatchOutcome(subject, distance, margin)


def test_k_of_n_confirms_only_with_k_agreeing_matches() -> None:
    rule = KOfN(k=3, n=5, threshold=0.5, min_margin=0.1)
    two = [_m("a", 0.4), _m("a", 0.45), _m("a", 0.7), _m(None, 9.0), _m("b", 0.3)]
    assert rule.decide(two) is None
    three = [*two, _m("a", 0.35)]  # window is now the last five: a .45, a .7, -, b, a .35
    assert rule.decide(three) is None
    four = [*three, _m("a", 0.42)]  # last five: a .7 (rejected), -, b, a .35, a .42 -> 2
    assert rule.decide(four) is None
    five = [*four, _m("a", 0.41)]  # last five: -, b, a .35, a .42, a .41 -> 3
    confirmation = rule.decide(five)
    assert confirmation is not None
    assert confirmation.subject_id == "a"
    assert confirmation.frames == 3
    assert confirmation.score == pytest.approx(0.35)


def test_small_margin_does_not_count() -> None:
    rule = KOfN(k=2, n=3, threshold=0.5, min_margin=0.1)
    assert rule.decide([_m("a", 0.3, 0.05), _m("a", 0.3, 0.09), _m("a", 0.3, 0.0)]) is None
    assert rule.decide([_m("a", 0.3, 0.05), _m("a", 0.3, 0.1), _m("a", 0.3, 0.2)]) is not None


def test_split_votes_do_not_confirm() -> None:
    rule = KOfN(k=3, n=5, threshold=0.6, min_margin=0.0)
    assert rule.decide([_m("a", 0.3), _m("b", 0.3), _m("a", 0.3), _m("b", 0.3)]) is None


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        KOfN(k=4, n=3, threshold=0.5, min_margin=0.0)
    with pytest.raises(ValueError):
        KOfN(k=1, n=3, threshold=0.0, min_margin=0.0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cooldown_allows_one_arrival_per_window() -> None:
    clock = FakeClock()
    cooldown = Cooldown(600.0, clock=clock)
    assert cooldown.allow("s1") is True
    assert cooldown.allow("s1") is False
    assert cooldown.allow("s2") is True  # per subject
    clock.now += 599.0
    assert cooldown.allow("s1") is False
    clock.now += 1.0
    assert cooldown.allow("s1") is True
    assert cooldown.allow("s1") is False
    assert len(cooldown) == 1  # s2's window is over: forgotten, not kept
    clock.now += 600.0
    assert cooldown.allow("s3") is True
    assert len(cooldown) == 1  # s1's window is over too
