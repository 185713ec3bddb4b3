"""The offline queue: arrival events the server has not accepted yet, on disk, encrypted.

The sender (``edge.sender.EventSender``) moves its unsent events here as soon as the server is
unreachable (connection error, timeout, 5xx), replays them oldest first once the server answers
again, and deletes each one only after the server accepted it (2xx; the server deduplicates by
event id, so an event whose answer was lost is sent again and counted once).

Layout, inside the device's data dir::

    queue.key              32 random bytes, 0600 (consent.keys.load_or_create_secret)
    queue/<seq:020d>.evt   one event, sealed: consent.envelope.seal_blob (AES-256-GCM)

A file holds the event's wire form only: event id, pseudonymous subject id, time, score, margin,
number of agreeing embeddings. Never an image, crop, box or embedding. The seal's associated
data binds it to its file name, so a file renamed into another place in the order, or copied in
from elsewhere, does not open. Nothing about an event is in clear text on disk, not even its
time (ages are read after decrypting).

Why one file per event, not an append-only segment with length + checksum framing:

* Deleting an accepted event is one ``unlink``: once the backlog is replayed nothing of it is
  left in the queue. A segment keeps sent events' ciphertext until it is compacted, and needs a
  read cursor persisted next to it.
* A crash can not leave a half event: each file is written to a temporary name, fsync'd, renamed
  into place and the directory fsync'd (``consent.files.write_atomic``). At start-up leftover
  temporaries are deleted; a file that does not open (tampered, or the key was lost) is dropped
  and counted. A segment needs torn-tail detection and truncation instead; here the GCM tag is
  the checksum.
* The volume is small: an arrival is a member walking in (a few per minute per store), and
  files are written only while the server is unreachable. Three fsyncs per queued event cost
  nothing at that rate; the count bound keeps the directory small.

Bounds: at most ``max_events`` (the oldest are dropped first, reason ``queue_full``) and none
older than ``max_age_s`` (reason ``too_old``; the server refuses events older than its replay
window anyway). Drops are counted in ``dropped`` by reason, for the metrics.

``purge()`` deletes every queued event and the key (a revoked device must not keep a backlog
that could leak later); the queue then refuses further events. Thread-safety: the sender's
thread writes and replays, the gallery thread may purge (a 401 to a poll); file operations are
serialised by one lock, the index and counters by another (``len()`` and ``drop_counts()`` are
safe from any thread).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from consent.envelope import open_blob, seal_blob
from consent.errors import InvalidSeal
from consent.files import fsync_dir, write_atomic
from consent.keys import load_or_create_secret
from edge.events import ArrivalEvent

log = logging.getLogger(__name__)

QUEUE_DIR = "queue"
KEY_FILE = "queue.key"
PURPOSE = "edge-event-queue"
SUFFIX = ".evt"
_NAME = re.compile(r"^(\d{20})\.evt$")

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Queued:
    """One event in the queue: its place in the order and the event."""

    seq: int
    event: ArrivalEvent


def _name(seq: int) -> str:
    return f"{seq:020d}{SUFFIX}"


class OfflineQueue:
    """A durable, encrypted FIFO of arrival events. See the module docstring."""

    def __init__(
        self,
        data_dir: Path,
        *,
        max_events: int = 10_000,
        max_age_s: float = 12 * 3600.0,
        now: Clock = _utc_now,
    ) -> None:
        if max_events < 1 or max_age_s <= 0:
            raise ValueError("max_events and max_age_s must be positive")
        self.dir = data_dir / QUEUE_DIR
        self.key_path = data_dir / KEY_FILE
        self.max_events = max_events
        self.max_age = timedelta(seconds=max_age_s)
        self._now = now
        self._lock = threading.Lock()
        """Guards the index and the counters (read from other threads)."""
        self._io = threading.RLock()
        """Serialises file operations: a purge (revocation, found by another thread) never
        interleaves with a write, so no event file or key can be written after it."""
        self._purged = False
        self._key: bytes | None = None
        self._index: list[tuple[int, str, datetime]] = []
        """(seq, event id, event time), oldest first."""
        self._next = 1
        self.dropped: Counter[str] = Counter()
        self.written = 0
        self._load()

    # --- reading what a previous run left ---------------------------------------------------

    def _load(self) -> None:
        if not self.dir.is_dir():
            return
        seqs: list[int] = []
        for path in self.dir.iterdir():
            match = _NAME.match(path.name)
            if match:
                seqs.append(int(match.group(1)))
            elif path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)  # a write that a crash interrupted
        seqs.sort()
        if seqs:
            self._next = seqs[-1] + 1
        for seq in seqs:
            event = self._read(seq)
            if event is not None:
                self._index.append((seq, event.id, event.at))
        self._expire()
        if seqs:
            log.info("offline queue: %d events from a previous run", len(self._index))

    def _secret(self, *, create: bool) -> bytes | None:
        if self._key is None:
            if not create and not self.key_path.exists():
                return None
            self._key = load_or_create_secret(self.key_path)
        return self._key

    def _read(self, seq: int) -> ArrivalEvent | None:
        """The event in file ``seq``; a file that does not open is deleted and counted."""
        path = self.dir / _name(seq)
        try:
            sealed = path.read_bytes()
        except FileNotFoundError:
            return None
        key = self._secret(create=False)
        try:
            if key is None:
                raise InvalidSeal
            plain = open_blob(key, sealed, subject_id=_name(seq), purpose=PURPOSE)
            return ArrivalEvent.from_json(json.loads(plain))
        except (InvalidSeal, ValueError):
            log.warning("offline queue: dropped an unreadable entry")
            path.unlink(missing_ok=True)
            self._count_drop("unreadable", 1)
            return None

    def _count_drop(self, reason: str, n: int) -> None:
        with self._lock:
            self.dropped[reason] += n

    def drop_counts(self) -> dict[str, int]:
        """Events dropped so far, by reason (a copy; safe from any thread)."""
        with self._lock:
            return dict(self.dropped)

    # --- the queue --------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    def append(self, events: Sequence[ArrivalEvent]) -> int:
        """Queue ``events`` after everything already queued (each durable when this returns);
        the number written. Too-old events are not written; when full, the oldest go first."""
        with self._io:
            if self._purged:  # revoked: nothing is written any more
                self._count_drop("revoked", len(events))
                return 0
            written = 0
            now = self._now()
            for event in events:
                if now - event.at > self.max_age:
                    self._count_drop("too_old", 1)
                    continue
                key = self._secret(create=True)
                assert key is not None
                self.dir.mkdir(mode=0o700, exist_ok=True)
                seq = self._next
                self._next += 1
                body = json.dumps(event.to_json(), separators=(",", ":")).encode()
                write_atomic(
                    self.dir / _name(seq),
                    seal_blob(key, body, subject_id=_name(seq), purpose=PURPOSE),
                )
                with self._lock:
                    self._index.append((seq, event.id, event.at))
                written += 1
                self.written += 1
                overflow = len(self) - self.max_events
                if overflow > 0:
                    with self._lock:
                        oldest = [seq for seq, _, _ in self._index[:overflow]]
                    self._delete(oldest)
                    self._count_drop("queue_full", len(oldest))
                    log.warning("offline queue full: dropped the %d oldest events", len(oldest))
            return written

    def _expire(self) -> None:
        cutoff = self._now() - self.max_age
        with self._lock:
            old = [seq for seq, _, at in self._index if at < cutoff]
        if old:
            self._delete(old)
            self._count_drop("too_old", len(old))
            log.warning("offline queue: dropped %d events older than the age limit", len(old))

    def head(self, n: int) -> list[Queued]:
        """The ``n`` oldest events (after dropping those past the age limit)."""
        with self._io:
            self._expire()
            with self._lock:
                seqs = [seq for seq, _, _ in self._index[:n]]
            out: list[Queued] = []
            for seq in seqs:
                event = self._read(seq)
                if event is None:
                    with self._lock:
                        self._index = [row for row in self._index if row[0] != seq]
                    continue
                out.append(Queued(seq, event))
            return out

    def remove(self, seqs: Collection[int]) -> None:
        """Delete these entries (the server accepted them)."""
        with self._io:
            self._delete(seqs)

    def _delete(self, seqs: Collection[int]) -> None:
        gone = set(seqs)
        if not gone:
            return
        for seq in gone:
            (self.dir / _name(seq)).unlink(missing_ok=True)
        with self._lock:
            self._index = [row for row in self._index if row[0] not in gone]
        if self.dir.is_dir():
            fsync_dir(self.dir)

    def purge(self) -> int:
        """Delete every queued event and the queue key; the number of events deleted."""
        with self._io:
            with self._lock:
                seqs = [seq for seq, _, _ in self._index]
            self._delete(seqs)
            if self.dir.is_dir():
                for path in self.dir.iterdir():  # anything else, e.g. a leftover temporary
                    path.unlink(missing_ok=True)
                self.dir.rmdir()
            self.key_path.unlink(missing_ok=True)
            self._key = None
            self._purged = True
            return len(seqs)

    def files(self) -> list[Path]:
        """The queue's files on disk (tests and the health page count them)."""
        if not self.dir.is_dir():
            return []
        return sorted(self.dir.iterdir())
