"""Staff passwords: production Argon2 parameters (tests use cheap ones: tests/conftest.py)."""

from __future__ import annotations

import argon2

from server.services.staff import accounts as staff


def test_production_hasher_uses_the_argon2id_rfc9106_low_memory_profile() -> None:
    # The module's hasher is swapped for the test session; the production one is rebuilt here
    # exactly as the module builds it, and its parameters checked against RFC 9106's profile.
    profile = argon2.profiles.RFC_9106_LOW_MEMORY
    hashed = staff._DUMMY_HASH  # made at import time with the production hasher
    params = argon2.extract_parameters(hashed)
    assert params.type is argon2.Type.ID
    assert params.time_cost == profile.time_cost
    assert params.memory_cost == profile.memory_cost
    assert params.parallelism == profile.parallelism
