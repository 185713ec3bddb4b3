"""Fault injection for crash-safety tests: die at a named point, as a power cut or ``kill -9``.

``VERTROUWD_FAULT=<point>`` makes :func:`point` end the process at once with exit status 137,
without unwinding, flushing or committing anything, exactly where the code calls it. It is
inert unless that variable is set, and always inert when ``VERTROUWD_ENVIRONMENT`` is
``production``.

Points (grep ``faults.point`` for the list): ``enrol.after_templates``,
``withdraw.after_key``, ``withdraw.after_templates``, ``erase.after_rows``,
``erase.after_commit``, ``rotate.after_batch``.
"""

from __future__ import annotations

import os

ENV = "VERTROUWD_FAULT"


def point(name: str) -> None:
    """Exit the process (status 137) if ``name`` is the configured fault point."""
    if os.environ.get(ENV) != name:
        return
    if os.environ.get("VERTROUWD_ENVIRONMENT", "development") == "production":
        return
    os._exit(137)
