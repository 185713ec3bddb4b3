"""Provisioning: key pair in data_dir, registration, identity stored 0600."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from edge.provision import (
    IDENTITY_FILE,
    ProvisioningError,
    load_identity,
    load_or_create_keys,
    register,
)
from tests.edge.fakeserver import CODE, TOKEN, FakeServer


def test_register_stores_identity_and_keys_privately(tmp_path: Path) -> None:
    server = FakeServer(tmp_path)
    data = tmp_path / "data"
    with server.client() as client:
        identity = register(
            server_url="http://server.test/",
            enrolment_code=CODE,
            name="entrance",
            data_dir=data,
            client=client,
        )
    assert identity.device_id == "dev-1"
    assert identity.token == TOKEN
    assert identity.server_url == "http://server.test"
    assert identity.server_public_key == server.public_key
    assert TOKEN not in repr(identity)
    # the server got this device's public key, and the private key stayed here, 0600
    keys = load_or_create_keys(data)
    assert server.device_key is not None
    assert server.device_key.raw == keys.public_bytes()
    for name in ("device.key", IDENTITY_FILE):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    assert load_identity(data) == identity


def test_wrong_code_is_refused_with_the_reason(tmp_path: Path) -> None:
    server = FakeServer(tmp_path)
    with (
        server.client() as client,
        pytest.raises(ProvisioningError, match=r"refused.*400.*unknown or used"),
    ):
        register(
            server_url="http://server.test",
            enrolment_code="WRONG",
            name="x",
            data_dir=tmp_path / "d",
            client=client,
        )
    assert load_identity(tmp_path / "d") is None


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        httpx.Client(transport=httpx.MockTransport(refuse)) as client,
        pytest.raises(ProvisioningError, match="cannot reach the server"),
    ):
        register(
            server_url="http://server.test",
            enrolment_code=CODE,
            name="x",
            data_dir=tmp_path / "d",
            client=client,
        )


def test_keys_are_made_once_and_reused(tmp_path: Path) -> None:
    first = load_or_create_keys(tmp_path)
    second = load_or_create_keys(tmp_path)
    assert first.public_bytes() == second.public_bytes()
