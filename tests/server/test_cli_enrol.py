"""`vertrouwd enrol`: a member from photo files, and `--customer-id` for a member who withdrew
and joins again (the same record, a new consent and templates); refused for an active member."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from server.cli import main
from server.db.membership import ConsentRecord, Customer, FaceTemplate
from server.db.session import transaction
from server.runtime import Runtime
from server.services.membership import lifecycle, selfservice
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture

pytestmark = pytest.mark.faces


def _count(rt: Runtime, model: type[Customer] | type[FaceTemplate]) -> int:
    with rt.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_enrol_withdraw_and_enrol_again_from_the_command_line(
    runtime: Runtime,
    settings: ServerSettings,
    store: StoreFixture,
    faces: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    photo = str(faces / "people" / "lin_manuel_miranda" / "img1.png")
    args = ["--data-dir", str(settings.data_dir), "--store", store.code, "--consent-confirmed"]
    if settings.database_url:
        args += ["--database-url", settings.database_url]
    name = ["--name", "Lin Manuel Miranda"]
    assert main(["enrol", photo, *name, *args]) == 0
    with runtime.sessions() as s:
        customer_id = s.scalars(select(Customer.id)).one()
    out = capsys.readouterr().out
    assert customer_id in out
    # The same short, server-side link as the register's: the whole link within 80 characters.
    link = out.split("self-service link: ", 1)[1].split()[0]
    assert link.startswith(f"{settings.public_url}/me/")
    assert len(link) <= 80
    with runtime.sessions() as s:
        assert selfservice.resolve(s, token=link.rsplit("/", 1)[1], now=runtime.now()).id == (
            customer_id
        )

    with transaction(runtime.sessions) as session:
        lifecycle.withdraw(
            session,
            runtime.context(),
            customer_id=customer_id,
            actor="test",
            channel="cli",
        )
    assert _count(runtime, FaceTemplate) == 0

    again = ["--customer-id", customer_id]
    assert main(["enrol", photo, *name, *args, *again]) == 0
    assert f"again: customer {customer_id}" in capsys.readouterr().out
    assert _count(runtime, Customer) == 1
    assert _count(runtime, FaceTemplate) > 0
    with runtime.sessions() as s:
        statuses = sorted(
            s.scalars(select(ConsentRecord.status).where(ConsentRecord.customer_id == customer_id))
        )
    assert statuses == ["active", "withdrawn"]

    # an active member is renewed, not enrolled again: a clear message, exit 2, nothing written
    templates = _count(runtime, FaceTemplate)
    assert main(["enrol", photo, *name, *args, *again]) == 2
    assert "renew" in capsys.readouterr().err
    assert _count(runtime, FaceTemplate) == templates
