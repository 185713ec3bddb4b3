"""The only thing the edge ever sends about a person: an arrival of a confirmed member.

An ``ArrivalEvent`` carries a pseudonymous subject id from the gallery, a time, the match
score/margin and how many embeddings agreed. Never an image, crop, box or embedding.

``method`` says how the member was recognised: ``"face"`` (``door``/``checkin`` modes; the wire
form leaves the key out, as before modes existed, so older servers and queued events still
read) or ``"pass"`` (``pass``/``pass+face``): then ``pass_digest`` is the digest of the pass
shown (as listed in the gallery, never the token) and ``face_verified`` is ``True``/``False``
when the store verifies pass holders' faces and the member has a template, else ``None``.
A pass arrival's ``score`` is the 1:1 distance when a face was compared, else 0; its
``frames`` is how many frames the pass was read in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

ArrivalMethod = Literal["face", "pass"]
_HEX64 = frozenset("0123456789abcdef")

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
    method: ArrivalMethod = "face"
    pass_digest: str | None = None
    """Hex SHA-256 of the pass shown (``method == "pass"`` only)."""
    face_verified: bool | None = None
    """1:1 result for a pass holder's face (``pass+face`` with a template), else None."""

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        if self.frames < 1:
            raise ValueError("frames must be positive")
        if self.method == "face":
            if self.pass_digest is not None or self.face_verified is not None:
                raise ValueError("a face arrival has no pass_digest or face_verified")
        elif self.method == "pass":
            digest = self.pass_digest
            if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX64:
                raise ValueError("a pass arrival needs the pass digest (64 lowercase hex)")
            if not (self.face_verified is None or isinstance(self.face_verified, bool)):
                raise ValueError("face_verified must be true, false or null")
        else:
            raise ValueError("method must be 'face' or 'pass'")

    def to_json(self) -> dict[str, Any]:
        """The wire form of ``POST /api/v1/device/events``."""
        margin = min(float(self.margin), MARGIN_CAP)
        wire: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "subject_id": self.subject_id,
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "score": round(float(self.score), 6),
            "margin": round(margin, 6),
            "frames": int(self.frames),
        }
        if self.method == "pass":
            wire["method"] = "pass"
            wire["pass_digest"] = self.pass_digest
            wire["face_verified"] = self.face_verified
        return wire

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArrivalEvent:
        """The inverse of :meth:`to_json` (the offline queue stores the wire form).

        ``ValueError`` when a field is missing or of the wrong type."""
        try:
            if data["kind"] != "arrival":
                raise ValueError("not an arrival event")
            at = datetime.fromisoformat(str(data["at"]).replace("Z", "+00:00"))
            method = data.get("method", "face")
            face_verified = data.get("face_verified")
            if method not in ("face", "pass") or not (
                face_verified is None or isinstance(face_verified, bool)
            ):
                raise ValueError("not an arrival event: method")
            return cls(
                subject_id=str(data["subject_id"]),
                at=at,
                score=float(data["score"]),
                margin=float(data["margin"]),
                frames=int(data["frames"]),
                id=str(data["id"]),
                method=method,
                pass_digest=data.get("pass_digest"),
                face_verified=face_verified,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an arrival event: {type(exc).__name__}") from None

    def __repr__(self) -> str:  # no subject id in reprs that might end up in logs
        return f"ArrivalEvent(id={self.id!r}, method={self.method!r}, frames={self.frames})"


class EventSink(Protocol):
    """Where confirmed arrivals go: ``edge.sender.EventSender`` (in memory while the server
    answers, in the encrypted ``edge.offline_queue.OfflineQueue`` on disk while it does not).

    ``put`` must not block for long: it is called from the pipeline's publish stage.
    """

    def put(self, event: ArrivalEvent) -> None: ...


__all__ = ["MARGIN_CAP", "ArrivalEvent", "ArrivalMethod", "EventSink"]
