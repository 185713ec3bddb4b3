"""Numbers read back from the database that may predate the input checks.

Input schemas refuse NaN and Infinity (``FiniteFloat``), but rows written before they did may
hold an infinite match margin. JSON (answers, the audit log's canonical form) cannot carry one,
so such a value is read as "unknown" (None) wherever it leaves the database.
"""

from __future__ import annotations

import math


def finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value
