"""The only thing the edge ever sends about a person: an arrival of a confirmed member.

An ``ArrivalEvent`` carries a pseudonymous subject id from the gallery, a time, the match
score/margin and how many embeddings agreed. Never an image, crop, box or embedding.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

MARGIN_CAP = 2.0
"""Margins are sent capped at this value: with a one-subject gallery the margin is infinite,
which JSON cannot carry. Distances between embeddings of the supported models stay below it."""


@dataclass(frozen=True, slots=True)
class ArrivalEvent:
    subject_id: str
    at: datetime
    score: float
    """Distance of the best agreeing embedding (smaller is closer)."""
    margin: float
    frames: int
    """Embeddings that agreed on this subject."""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    """Idempotency key: a retry of the same event is recognised as a duplicate."""
    kind: Literal["arrival"] = "arrival"

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        if self.frames < 1:
            raise ValueError("frames must be positive")

    def to_json(self) -> dict[str, Any]:
        """The wire form of ``POST /api/v1/device/events``."""
        margin = min(float(self.margin), MARGIN_CAP)
        return {
            "id": self.id,
            "kind": self.kind,
            "subject_id": self.subject_id,
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "score": round(float(self.score), 6),
            "margin": round(margin, 6),
            "frames": int(self.frames),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArrivalEvent:
        """The inverse of :meth:`to_json` (the offline queue stores the wire form).

        ``ValueError`` when a field is missing or of the wrong type."""
        try:
            if data["kind"] != "arrival":
                raise ValueError("not an arrival event")
            at = datetime.fromisoformat(str(data["at"]).replace("Z", "+00:00"))
            return cls(
                subject_id=str(data["subject_id"]),
                at=at,
                score=float(data["score"]),
                margin=float(data["margin"]),
                frames=int(data["frames"]),
                id=str(data["id"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an arrival event: {type(exc).__name__}") from None

    def __repr__(self) -> str:  # no subject id in reprs that might end up in logs
        return f"ArrivalEvent(id={self.id!r}, frames={self.frames})"


class EventSink(Protocol):
    """Where confirmed arrivals go: ``edge.sender.EventSender`` (in memory while the server
    answers, in the encrypted ``edge.offline_queue.OfflineQueue`` on disk while it does not).

    ``put`` must not block for long: it is called from the pipeline's publish stage.
    """

    def put(self, event: ArrivalEvent) -> None: ...


__all__ = ["MARGIN_CAP", "ArrivalEvent", "EventSink"]
