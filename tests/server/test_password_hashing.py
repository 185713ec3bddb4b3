"""Staff passwords: production Argon2 parameters (tests use cheap ones: tests/conftest.py)."""

from __future__ import annotations

import argon2

from server.services.staff import accounts as staff


def test_production_hasher_uses_the_argon2id_rfc9106_low_memory_profile(
    production_hasher: argon2.PasswordHasher,
) -> None:
    # The module's hasher is swapped for the test session; the production one (the module's
    # own, kept by tests/conftest.py) hashes here, and its parameters are checked against
    # RFC 9106's profile.
    profile = argon2.profiles.RFC_9106_LOW_MEMORY
    params = argon2.extract_parameters(production_hasher.hash("a staff password"))
    assert params.type is argon2.Type.ID
    assert params.time_cost == profile.time_cost
    assert params.memory_cost == profile.memory_cost
    assert params.parallelism == profile.parallelism


def test_an_unknown_account_is_checked_against_a_hash_of_the_same_cost(
    production_hasher: argon2.PasswordHasher,
) -> None:
    # The dummy is made lazily by the hasher in use: with the production one, the same
    # parameters as a real account's hash, so both paths of a sign-in cost the same.
    real = argon2.extract_parameters(production_hasher.hash("a staff password"))
    assert argon2.extract_parameters(staff._dummy_hash(production_hasher)) == real
    # and even the dummy's own password signs no unknown account in
    assert staff.password_matches(None, "vertrouwd-dummy-password") is False
