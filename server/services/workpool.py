"""A bounded pool for CPU- and memory-heavy work (photo decoding and face analysis).

A fixed number of worker threads and a fixed number of jobs that may wait for one: a request
that finds every place taken is refused at once with 503 and Retry-After (the register retries)
instead of queueing work nobody may still wait for. The caller waits at most ``budget_s`` for its
job; past it, it gets the same 503 while the job finishes on its worker and then frees its place,
so the pool stays bounded even then. Jobs must not hold a database connection: the routes
analyse photos before they touch their session (see ``server.api.customers.enrol``).

Threading: ``run`` may be called from any thread (route threads); jobs run on the pool's own.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from server.services.errors import Unavailable

P = ParamSpec("P")
T = TypeVar("T")


class PoolBusy(Unavailable):
    pass


class WorkPool:
    def __init__(self, *, name: str, workers: int, waiting: int, budget_s: float) -> None:
        if workers < 1 or waiting < 0 or budget_s <= 0:
            raise ValueError("a work pool needs workers >= 1, waiting >= 0 and budget_s > 0")
        self.name = name
        self.capacity = workers + waiting
        self.budget_s = budget_s
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=name
        )
        self._changed = threading.Condition()
        self._in_use = 0
        self.refused = 0
        self.over_budget = 0

    @property
    def in_use(self) -> int:
        """Jobs running or waiting now."""
        with self._changed:
            return self._in_use

    def wait_until(self, test: Callable[[int], bool], timeout: float) -> bool:
        """Block until ``test(jobs in the pool)`` holds (for tests and monitoring)."""
        with self._changed:
            return self._changed.wait_for(lambda: test(self._in_use), timeout)

    def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on a worker; its result or its exception. Raises
        :class:`PoolBusy` (503) when the pool is full or the job runs past the budget."""
        future = self.submit(fn, *args, **kwargs)
        try:
            return future.result(timeout=self.budget_s)
        except concurrent.futures.TimeoutError:
            with self._changed:
                self.over_budget += 1
            raise PoolBusy(
                f"the {self.name} took longer than {self.budget_s:g} s; retry shortly"
            ) from None

    def submit(
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        with self._changed:
            if self._in_use >= self.capacity:
                self.refused += 1
                raise PoolBusy(f"the {self.name} is busy; retry shortly")
            self._in_use += 1
            self._changed.notify_all()
        try:
            future = self._executor.submit(fn, *args, **kwargs)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return future

    def _release(self, _future: object) -> None:
        with self._changed:
            self._in_use -= 1
            self._changed.notify_all()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
