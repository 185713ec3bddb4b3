"""Expected false matches per 1,000 non-member visitors: shown per store, bounded for door mode.

The figure comes from the embedding model's calibration (``models.exposure``: the open-set
curve measured on many people at the threshold the devices use) at the store's current number
of members. The console shows it for every store; taking a store live in ``door`` mode is
refused while it is above ``VERTROUWD_MAX_FALSE_MATCHES_PER_1000`` (issue 13): at the door every
passer-by is searched, so a model that matches a sizeable share of strangers to somebody's card
breaks the promise that nobody else is identified. The other modes look only at people who step
up (``checkin``), compare 1:1 against one claimed member (``pass+face``) or see no face
(``pass``); their figure is shown, not bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.calibration import Calibration
from models.exposure import expected_false_matches_per_1000
from server.db.stores import Store
from server.services.errors import BadInput
from server.services.recognition import gallery

PER: dict[str, str] = {
    "door": "non-members who walk in",
    "checkin": "non-members who step onto the check-in spot",
    "pass": "pass presentations (no face is processed)",
    "pass+face": "passes shown by someone else than their member",
}


@dataclass(frozen=True)
class Estimate:
    """The expected false matches per 1,000 at a store, and the bound door mode must meet."""

    mode: str
    members: int
    per_1000: float | None
    bound: float

    @property
    def over_bound(self) -> bool:
        """Door mode only: the figure is above the bound (an unmeasured model is not refused,
        it is shown as not measured)."""
        return self.mode == "door" and self.per_1000 is not None and self.per_1000 > self.bound

    @property
    def member_text(self) -> str:
        return f"{self.members} member" + ("" if self.members == 1 else "s")

    @property
    def text(self) -> str:
        if self.per_1000 is None:
            return (
                f"not measured for this model at {self.member_text}: run "
                "`vertrouwd models calibrate DIR --gallery N --write`"
            )
        return f"{self.per_1000:.3g} per 1,000 {PER[self.mode]}, at {self.member_text}" + (
            f" (door mode allows {self.bound:g})" if self.mode == "door" else ""
        )


def estimate(
    session: Session,
    *,
    store: Store,
    mode: str,
    bound: float,
    calibration: Calibration,
    now: datetime,
) -> Estimate:
    """``calibration``: the configured embedder's (``Runtime.calibration``)."""
    members = gallery.member_count(session, store=store, now=now)
    per_1000 = expected_false_matches_per_1000(calibration, members, mode)
    return Estimate(mode=mode, members=members, per_1000=per_1000, bound=bound)


def check_go_live(
    session: Session,
    *,
    store: Store,
    mode: str,
    bound: float,
    calibration: Calibration,
    now: datetime,
) -> Estimate:
    """Refuse (``BadInput``, nothing written) door mode above the bound; the estimate else."""
    found = estimate(session, store=store, mode=mode, bound=bound, calibration=calibration, now=now)
    if found.over_bound:
        raise BadInput(
            f"door mode expects {found.per_1000:.3g} false matches per 1,000 non-members who "
            f"walk in with this store's {found.member_text}, above the bound of "
            f"{bound:g} (VERTROUWD_MAX_FALSE_MATCHES_PER_1000): choose checkin, pass or "
            "pass+face, or a better-calibrated model"
        )
    return found


def by_store(
    session: Session,
    *,
    bound: float,
    calibration: Calibration,
    now: datetime,
    modes: Mapping[str, str] | None = None,
) -> dict[str, Estimate]:
    """Every store's estimate by code, in its mode (``modes`` by code; ``door`` if absent)."""
    return {
        s.code: estimate(
            session,
            store=s,
            mode=(modes or {}).get(s.code, "door"),
            bound=bound,
            calibration=calibration,
            now=now,
        )
        for s in session.scalars(select(Store).order_by(Store.name))
    }
