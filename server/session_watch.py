"""The staff sessions behind one server process's open tablet sockets, checked together (and
the device sockets' credentials, :class:`CredentialChecks`).

A tablet pings every 15 s. Checking its session in the database on every ping cost a query
and a thread-pool trip per ping: about 333 a second for 5,000 tablets, most of a server's CPU
at rest. Instead each socket knows when its session runs out unless it is used again (its last
use + the idle timeout, as the database last said), and a ping before then costs no query.
What can end a session sooner is still noticed:

* a sign-out reaches the sockets of that staff member's store at once through the broker (in
  this process or, with Redis, any other): each of that member's sockets re-checks its own
  session (:meth:`SessionWatch.recheck`) and closes;
* anything else (a deactivated account, a session ended by another program) is found by the
  sweep: at most once every ``every`` (the ping interval, so as often as before), one ping
  re-checks every open session of the process in one query, and the sockets whose session is
  over are closed;
* a session used on another page pushes its expiry out; the sweep or the next check reads it.

Threading: only the event loop touches a ``SessionWatch``; the queries run in the thread pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import anyio.to_thread

Check = Callable[[Collection[str]], dict[str, datetime]]
"""Token digests -> when each still open session runs out (missing: over). Blocking: it runs
in the thread pool."""


@dataclass(eq=False)
class Watched:
    """One open tablet socket: its session's token digest, its staff member, when its session
    runs out unless used, and the cancel scope that ends the socket's jobs."""

    digest: str
    staff_id: int
    valid_until: datetime
    scope: anyio.CancelScope
    ended: bool = False


class SessionWatch:
    def __init__(self, check: Check, *, every: timedelta, now: datetime) -> None:
        self._check = check
        self._every = every
        self._open: dict[str, set[Watched]] = {}
        # the sockets just checked their sessions on connect: the first sweep is one interval on
        self._next_sweep = now + every

    def __len__(self) -> int:
        return sum(len(ws) for ws in self._open.values())

    def add(self, watched: Watched) -> None:
        self._open.setdefault(watched.digest, set()).add(watched)

    def discard(self, watched: Watched) -> None:
        sockets = self._open.get(watched.digest)
        if sockets is not None:
            sockets.discard(watched)
            if not sockets:
                del self._open[watched.digest]

    async def ping(self, watched: Watched, now: datetime) -> bool:
        """A ping from ``watched``'s tablet: whether its session is still open. Costs a query
        only when the session may have run out, or when the sweep is due."""
        if now >= self._next_sweep:
            self._next_sweep = now + self._every  # before the await: one sweep at a time
            await self.recheck(list(self._open), now)
        elif now > watched.valid_until:
            await self.recheck([watched.digest], now)
        return not watched.ended

    async def recheck(self, digests: Collection[str], now: datetime) -> None:
        """Check these sessions in the database now; close the sockets of those that are
        over, and move the others' expiry to what the database says."""
        if not digests:
            return
        found = await anyio.to_thread.run_sync(self._check, digests)
        for digest in digests:
            until = found.get(digest)
            for watched in list(self._open.get(digest, ())):
                if until is None or now > until:
                    watched.ended = True
                    watched.scope.cancel()
                else:
                    watched.valid_until = until


class CredentialChecks:
    """The periodic credential re-checks of a process's device push sockets, coalesced: the
    re-checks asked for within ``window`` seconds go to the database as ONE query (each socket
    still re-checks every ``device_recheck_s``; 1,000 devices made some 33 queries a second at
    rest, now about one).

    ``check(tokens)`` (blocking, run in the thread pool) answers the tokens still valid.
    Only the event loop calls :meth:`still_valid`."""

    def __init__(self, check: Callable[[list[str]], set[str]], *, window: float) -> None:
        self._check = check
        self._window = window
        self._waiting: dict[str, list[asyncio.Future[bool]]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def still_valid(self, token: str) -> bool:
        loop = asyncio.get_running_loop()
        if self._waiting is None:
            self._waiting = {}
            loop.call_later(self._window, self._flush)
        answer: asyncio.Future[bool] = loop.create_future()
        self._waiting.setdefault(token, []).append(answer)
        return await answer

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting or {}, None
        task = asyncio.get_running_loop().create_task(self._answer(waiting))
        self._tasks.add(task)  # held until done (the loop keeps only a weak reference)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, waiting: dict[str, list[asyncio.Future[bool]]]) -> None:
        try:
            valid = await anyio.to_thread.run_sync(self._check, list(waiting))
        except Exception as exc:  # the database is away: each socket sees the error itself
            for answers in waiting.values():
                for answer in answers:
                    if not answer.done():
                        answer.set_exception(exc)
            return
        for token, answers in waiting.items():
            for answer in answers:
                if not answer.done():
                    answer.set_result(token in valid)
