"""Sign-in throttling (per account and per client address, with backoff: 429 + Retry-After),
the sign-in audit trail (success, failure, lockout) and its place in the console's staff access
view; the password is checked while no database connection is held."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.db.audit import AuditEntry
from server.db.staff import LoginThrottle
from server.runtime import Runtime
from server.services.staff import accounts as staff
from server.services.workpool import WorkPool
from tests.server.conftest import PASSWORD, StoreFixture, sign_in
from tests.server.factories import make_staff


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock(runtime: Runtime) -> Clock:
    c = Clock()
    runtime.clock = c
    return c


def login(client: TestClient, username: str, password: str) -> tuple[int, str | None]:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    return r.status_code, r.headers.get("retry-after")


def entries(rt: Runtime, prefix: str = "staff.") -> list[AuditEntry]:
    with rt.sessions() as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        s.expunge_all()
    return [r for r in rows if r.kind.startswith(prefix)]


def test_an_account_is_locked_after_five_failures_even_for_the_right_password(
    client: TestClient, runtime: Runtime, store: StoreFixture, clock: Clock
) -> None:
    assert [login(client, "sales", "wrong password!")[0] for _ in range(4)] == [401] * 4
    # The fifth failure starts the lockout.
    assert login(client, "sales", "wrong password!") == (429, "30")
    clock.at += timedelta(seconds=10)
    # The right password is refused while locked (and not even checked).
    assert login(client, "sales", PASSWORD) == (429, "20")
    kinds = [(e.kind, e.actor) for e in entries(runtime)]
    assert kinds == [("staff.sign_in_failed", "staff:sales")] * 5 + [
        ("staff.locked_out", "staff:sales")
    ]
    locked = entries(runtime)[-1]
    assert (locked.data["scope"], locked.data["failures"], locked.data["seconds"]) == (
        "account",
        5,
        30,
    )
    # Other accounts are not affected.
    assert login(client, "cashier", PASSWORD)[0] == 200

    # After the lockout the right password works, and the count starts again.
    clock.at += timedelta(seconds=21)
    assert login(client, "sales", PASSWORD)[0] == 200
    assert entries(runtime)[-1].kind == "staff.signed_in"
    assert entries(runtime)[-1].actor == "staff:sales"
    assert [login(client, "sales", "wrong password!")[0] for _ in range(4)] == [401] * 4


def test_backoff_doubles_with_each_failure_after_a_lockout(
    client: TestClient, runtime: Runtime, store: StoreFixture, clock: Clock
) -> None:
    for _ in range(5):
        login(client, "sales", "wrong password!")
    waits: list[str | None] = ["30"]
    for _ in range(3):
        clock.at += timedelta(seconds=int(waits[-1] or 0))  # the lockout has just ended
        status, retry = login(client, "sales", "wrong password!")
        assert status == 429
        waits.append(retry)
    assert waits == ["30", "60", "120", "240"]
    # Failures older than the window are forgotten.
    clock.at += timedelta(seconds=240 + 900 + 1)
    assert login(client, "sales", "wrong password!")[0] == 401


def test_one_address_is_locked_after_many_failures_across_accounts(
    client: TestClient, runtime: Runtime, store: StoreFixture, clock: Clock
) -> None:
    """Guessing across many names from one address: 20 failures lock the address, so even a
    real account with the right password is refused from there. Names that are no account are
    audited as ``anonymous``, without the name typed (it may be a password in the wrong
    field)."""
    statuses = [login(client, f"guess{i}", "wrong password!")[0] for i in range(20)]
    assert statuses == [401] * 19 + [429]
    assert login(client, "cashier", PASSWORD)[0] == 429
    failed = [e for e in entries(runtime) if e.kind == "staff.sign_in_failed"]
    assert {e.actor for e in failed} == {"anonymous"}
    assert all("guess" not in str(e.data) for e in failed)
    assert entries(runtime)[-1].data["scope"] == "address"
    with runtime.sessions() as s:
        keys = list(s.scalars(select(LoginThrottle.key)))
    assert not any("guess" in k for k in keys)  # accounts are keyed by digest


def test_the_console_staff_access_view_shows_sign_ins_and_lockouts(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    make_staff(runtime, "officer", "privacy_officer", None)
    for _ in range(5):
        login(client, "sales", "wrong password!")
    sign_in(client, "officer")
    page = client.get("/console/access")
    assert page.status_code == 200
    assert 'id="sign-ins"' in page.text
    assert "locked out" in page.text
    assert "Sign-in lockout" in page.text  # flagged under unusual patterns
    data = client.get("/api/v1/console/access").json()
    kinds = [(e["kind"], e["actor"]) for e in data["sign_ins"]]
    assert kinds.count(("staff.sign_in_failed", "staff:sales")) == 5
    assert ("staff.locked_out", "staff:sales") in kinds
    assert ("staff.signed_in", "staff:officer") in kinds
    assert [f["kind"] for f in data["flags"]] == ["lockout"]


def test_the_password_is_checked_without_holding_a_database_connection(
    client: TestClient, runtime: Runtime, store: StoreFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While Argon2 runs for one sign-in, the pool has no connection checked out (on SQLite
    the only one: holding it would stall every other store's arrivals)."""
    checking = threading.Event()
    release = threading.Event()
    seen: list[int] = []
    real = staff.password_matches

    def observed(password_hash: str | None, password: str) -> bool:
        seen.append(runtime.engine.pool.checkedout())  # type: ignore[attr-defined]
        checking.set()
        assert release.wait(60)
        return real(password_hash, password)

    monkeypatch.setattr(staff, "password_matches", observed)
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(login(client, "sales", PASSWORD)[0]))
    worker.start()
    assert checking.wait(60)
    # Meanwhile another request's transaction gets the connection at once.
    with runtime.sessions() as s, s.begin():
        assert s.scalar(select(LoginThrottle.key).limit(1)) is None
    release.set()
    worker.join(60)
    assert seen == [0]
    assert result == [200]


def test_password_checks_run_in_a_bounded_pool_and_a_full_pool_is_503(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    """Argon2 is CPU on purpose: sign-ins share a small pool, so a burst of them cannot take
    every core from arrivals. With the pool's one place taken, a sign-in is 503 + Retry-After
    and nothing is counted against the account; once it is free, the same sign-in works."""
    pool = WorkPool(name="sign-in check", workers=1, waiting=0, budget_s=30)
    runtime.password_pool, previous = pool, runtime.password_pool
    release = threading.Event()
    try:
        blocker = pool.submit(release.wait, 60)
        body = {"username": "sales", "password": PASSWORD}
        r = client.post("/api/v1/auth/login", json=body)
        assert r.status_code == 503, r.text
        assert int(r.headers["Retry-After"]) >= 1
        assert pool.refused == 1
        release.set()
        blocker.result(timeout=60)
        r = client.post("/api/v1/auth/login", json=body)
        assert r.status_code == 200, r.text
    finally:
        release.set()
        runtime.password_pool = previous
        pool.shutdown()
