"""Shared fixtures for the consent tests: real keys, a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consent.device import DeviceKeyPair
from consent.signing import Ed25519PrivateKey


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 25, 10, 30, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def server_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def other_server_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def device_keys() -> DeviceKeyPair:
    return DeviceKeyPair.generate()


@pytest.fixture(scope="session")
def other_device_keys() -> DeviceKeyPair:
    return DeviceKeyPair.generate()
