"""What a service needs from the process around it, in one typed object.

A route gets it from ``deps.ContextDep`` and a CLI command from ``Runtime.context()``; both are
built by :meth:`server.runtime.Runtime.context`, so the console, the register and the command
line run a command (go-live, enrolment, a device revocation, the retention pass) with the same
clock, the same notifier and the same settings. Before it, each call site passed ``now=``,
``notify=`` and a setting or two by hand, and the CLI's copies drifted from the API's (no
notification after a CLI enrolment, another store lookup for go-live).

Tests build one with a fixed clock: ``runtime.context().at(when)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from consent.keys import KeyProvider
from models.calibration import Calibration

if TYPE_CHECKING:
    from server.settings import ServerSettings

# Tells the subscribers of a channel (tablets, devices) something changed; never blocks.
Notify = Callable[[str, dict[str, Any]], None]


def _nobody(channel: str, message: dict[str, Any]) -> None:
    """The notifier of a context with no sockets to tell."""


@dataclass(frozen=True, slots=True)
class ServiceContext:
    settings: ServerSettings
    clock: Callable[[], datetime]
    kek: KeyProvider
    # the configured embedder's (issue 13): the expected false matches and door mode's bound
    calibration: Calibration
    notify: Notify = _nobody

    def now(self) -> datetime:
        return self.clock()

    def at(self, when: datetime) -> ServiceContext:
        """The same context with its clock stopped at ``when`` (tests, replays)."""
        return replace(self, clock=lambda: when)

    def with_settings(self, **changes: Any) -> ServiceContext:
        """The same context with some settings changed (tests: a shorter consent, say)."""
        return replace(self, settings=self.settings.model_copy(update=changes))

    def quiet(self) -> ServiceContext:
        """The same context telling nobody: a process with no broker that reaches the servers
        (tests of the paths that do not rely on a notice)."""
        return replace(self, notify=_nobody)
