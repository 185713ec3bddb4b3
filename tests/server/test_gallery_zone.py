"""Invariant 11 on the wire: the member zone recorded at go-live travels, sealed, to the device."""

from __future__ import annotations

from fastapi.testclient import TestClient

from consent.gallery import MemberZone
from server.db.session import transaction
from server.runtime import Runtime
from server.services.recognition import devices, signage
from tests.server.conftest import StoreFixture
from tests.server.members import fetch_gallery


def test_the_stores_member_zone_is_sealed_into_the_gallery(
    runtime: Runtime, client: TestClient
) -> None:
    with transaction(runtime.sessions) as session:
        s = devices.create_store(session, code="delft", name="Delft", now=runtime.now())
        signage.go_live(
            session,
            store=s,
            dpia_reference="DPIA-2026-07",
            signage_confirmed=True,
            zone=MemberZone(0.2, 0.15, 0.6, 0.8, 96),
            actor="privacy-officer",
            now=runtime.now(),
        )
        delft = StoreFixture(s.id, s.code)
    opened = fetch_gallery(client, runtime, delft)
    assert opened.manifest.store_id == "delft"
    assert opened.payload.zone == MemberZone(x=0.2, y=0.15, w=0.6, h=0.8, min_face_size=96)
    # the zone is inside the encrypted payload, not in the signed cleartext manifest
    assert b"min_face_size" not in opened.manifest.to_bytes()


def test_a_store_without_a_recorded_zone_ships_none(
    runtime: Runtime, client: TestClient, store: StoreFixture
) -> None:
    with transaction(runtime.sessions) as session:
        assert signage.member_zone(session, store.id) is None
    assert fetch_gallery(client, runtime, store).payload.zone is None
