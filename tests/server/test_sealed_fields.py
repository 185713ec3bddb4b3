"""Personal fields reach the database only as ciphertext under the customer's profile key, and
staff still find customers through keyed blind indexes (issue 18, privacy invariant 14)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from consent.fields import is_sealed_field
from server.cli import main
from server.db.base import Base
from server.db.clienteling import Allergy, StaffNote
from server.db.membership import Customer, CustomerSearchTerm, ProfileKey
from server.db.migrate import upgrade
from server.db.sealed import UnreadableField, sealed_columns
from server.db.session import transaction
from server.runtime import Runtime, build_runtime
from server.services.membership import enrolment, export, fieldseal, lookup
from server.services.recognition import devices
from server.settings import ServerSettings
from tests.databases import database_url_for_tests
from tests.server.conftest import StoreFixture, sign_in
from tests.server.members import enrol_member
from tests.server.test_erasure import fill_every_customer_table


def join(rt: Runtime, store: StoreFixture, name: str, email: str, loyalty: str) -> str:
    """A member without a face (no photos needed): name, e-mail, loyalty id."""
    with transaction(rt.sessions) as session:
        result = enrolment.enrol(
            session,
            rt.context().with_settings(consent_months=12),
            request=enrolment.EnrolmentRequest(
                name=name,
                preferred_name=name.split()[0],
                language="nl",
                photos=(),
                consent_confirmed=True,
                confirmation_name=name,
                channel="register",
                collected_by="cashier",
                email=email,
                loyalty_id=loyalty,
                membership="pass",
            ),
            store=devices.store_by_code(session, store.code),
            analyser=rt.faces,
            threshold=rt.threshold,
        )
    return result.customer_id


def raw_sealed_values(rt: Runtime) -> dict[str, list[Any]]:
    """Every non-null value of every sealed column, read with Core (what the database holds)."""
    out: dict[str, list[Any]] = {}
    with rt.engine.connect() as conn:
        for model in fieldseal.sealed_models():
            table = model.__table__
            for column in sealed_columns(model):
                values = conn.execute(select(table.c[column])).scalars().all()
                out[f"{table.name}.{column}"] = [v for v in values if v is not None]
    return out


@pytest.mark.faces
def test_every_personal_field_is_ciphertext_in_the_database_and_text_to_the_customer(
    runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces, "obama")
    fill_every_customer_table(runtime, member, store)
    raw = raw_sealed_values(runtime)
    # every sealed column holds a value (the member gave no loyalty id)
    assert [k for k, v in raw.items() if not v] == ["customers.loyalty_id"]
    for where, values in raw.items():
        for value in values:
            assert isinstance(value, bytes), where
            assert is_sealed_field(value), where
            assert b"Obama" not in value
            assert b"hazelnut" not in value
    # The customer's own export opens everything (Art. 15/20): words, not ciphertext.
    with transaction(runtime.sessions) as session:
        doc = export.export_customer(
            session, customer_id=member.customer_id, kek=runtime.kek, now=runtime.now()
        )
    assert doc["profile"]["name"] == "Barack Obama"
    assert doc["profile"]["email"] == member.email
    assert [(a["allergen"], a["note"]) for a in doc["allergies"]] == [("hazelnut", "severe")]
    assert [n["body"] for n in doc["staff_notes"]] == ["Prefers to be helped by Sanne"]
    assert [d["need"] for d in doc["dietary_needs"]] == ["vegan"]
    assert [s["description"] for s in doc["service_items"]] == ["Box of 40 pralines, engraved"]
    assert [e["external_id"] for e in doc["customer_external_ids"]] == ["CRM-998877"]
    assert doc["profile_key"]["held"] is True
    assert doc["search_index"]["entries"] > 0
    assert "email_bidx" not in str(doc)
    assert "external_bidx" not in str(doc)
    # A ciphertext copied to another row, or to another customer's row, does not open.
    other = join(runtime, store, "Joe Biden", "joe@example.org", "VT-2")
    with transaction(runtime.sessions) as session:
        allergy = session.scalars(select(Allergy)).one()
        session.add(Allergy(customer_id=other, allergen="sesame"))
        session.flush()
        table = Base.metadata.tables["allergies"]
        session.execute(
            update(table)
            .where(table.c.customer_id == other)
            .values(allergen=allergy.allergen_sealed)
        )
        session.execute(
            update(Base.metadata.tables["staff_notes"]).values(body=allergy.allergen_sealed)
        )
    with runtime.sessions() as session:
        for row in session.scalars(select(Allergy).where(Allergy.customer_id == other)):
            with pytest.raises(UnreadableField):
                _ = row.allergen
        with pytest.raises(UnreadableField):
            _ = session.scalars(select(StaffNote)).one().body


def test_search_finds_by_name_prefix_exact_email_and_loyalty_id_through_blind_indexes(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    anna = join(runtime, store, "Anna Zoë de Vries", "Anna.de.Vries@Example.NL", "VT 1001")
    piet = join(runtime, store, "Piet de Boer", "piet@example.nl", "VT1002")
    sign_in(client, "cashier")

    def found(q: str) -> list[str]:
        r = client.get("/api/v1/customers", params={"q": q})
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()]

    assert found("vri") == [anna]
    assert found("zoe VRIES") == [anna]  # every word a prefix; accents and case dropped
    assert found("de") == [anna, piet]  # sorted by the opened name
    assert found("anna.de.vries@example.nl ") == [anna]  # e-mail: exact, normalised
    assert found("vt1001") == [anna]  # loyalty id: exact, spaces and case dropped
    assert found("ries") == []  # no infix search: only prefixes of words are indexed
    assert found("anna.de.vries@example") == []  # no partial e-mail
    assert client.get("/api/v1/customers", params={"q": "anna"}).json()[0]["name"] == (
        "Anna Zoë de Vries"
    )
    # The index holds digests, never the words; renaming re-indexes.
    with transaction(runtime.sessions) as session:
        terms = session.scalars(select(CustomerSearchTerm.term)).all()
        assert terms
        assert all(len(t) == 16 and b"vri" not in t for t in terms)
        customer = session.get(Customer, anna)
        assert customer is not None
        customer.name = "Anna Jansen"
    assert found("vri") == []
    assert found("jans") == [anna]
    # the loyalty id stays unique through its blind index
    with runtime.sessions() as session:
        assert lookup.loyalty_taken(session, "vt 1001")
        assert not lookup.loyalty_taken(session, "VT1003")


def test_search_shows_the_most_recent_matches_by_name_and_leaves_out_one_whose_key_is_gone(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    bram = join(runtime, store, "Bram de Wit", "bram@example.nl", "VT2001")
    anna = join(runtime, store, "anna de Vries", "anna@example.nl", "VT2002")
    carmen = join(runtime, store, "Carmen de Boer", "carmen@example.nl", "VT2003")
    sign_in(client, "cashier")

    def found(q: str) -> list[dict[str, Any]]:
        r = client.get("/api/v1/customers", params={"q": q})
        assert r.status_code == 200, r.text
        return list(r.json())

    page = found("de")
    assert [c["id"] for c in page] == [anna, bram, carmen]  # by name, case-folded
    assert [c["email"] for c in page] == ["anna@example.nl", "bram@example.nl", "carmen@example.nl"]
    # the page's consent state and store, read for the whole page at once
    assert {(c["recognition"], c["membership"], c["home_store"]) for c in page} == {
        ("active", "pass", store.code)
    }
    assert all(c["consent_expires_at"] for c in page)
    # More matches than a page: ranked in the database, the most recently seen make the page
    # (nothing else is opened), shown by name.
    with transaction(runtime.sessions) as session:
        for cid, days_ago in ((anna, 3), (bram, 1), (carmen, 2)):
            session.execute(
                update(Customer)
                .where(Customer.id == cid)
                .values(last_interaction_at=runtime.now() - timedelta(days=days_ago))
            )
    with runtime.sessions() as session:
        shown = lookup.search_page(session, "de", store_id=store.id, limit=2)
        assert [c.id for c in shown] == [bram, carmen]
    # A profile key that no longer opens (a restored backup past its epoch reads the same): the
    # customer cannot be ranked or shown, and the others still are.
    with transaction(runtime.sessions) as session:
        session.execute(sa.delete(ProfileKey).where(ProfileKey.customer_id == bram))
    assert [c["id"] for c in found("de")] == [anna, carmen]


# -- a database written by the code before migration 0007 ------------------------------------

OLD_ROWS: dict[str, list[dict[str, Any]]] = {
    "stores": [{"id": 1, "code": "oud", "name": "Oud", "live": False, "gallery_version": 0}],
    "customers": [
        {
            "id": f"c{i}",
            "subject_id": f"s{i}",
            "name": f"Klant{i} Plaintextsen",
            "preferred_name": f"Klant{i}",
            "language": "nl",
            "email": f"klant{i}@oud.example",
            "loyalty_id": f"OLD{i}",
            "home_store_id": 1,
        }
        for i in range(5)
    ],
    "allergies": [
        {
            "id": 1,
            "customer_id": "c1",
            "allergen": "plaintextnut",
            "note": "oude notitie",
            "severity": "severe",
        }
    ],
    "staff_notes": [{"id": 1, "customer_id": "c2", "author": "a", "body": "oude plaintext noot"}],
    "customer_external_ids": [
        {"id": 1, "customer_id": "c3", "system": "crm", "external_id": "CRM-OLD-3"}
    ],
}


def test_encrypt_fields_seals_a_database_the_old_code_wrote_in_plaintext_resumably(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with database_url_for_tests(data_dir, migrated=False) as url:
        settings = ServerSettings(data_dir=data_dir, environment="test", database_url=url)
        db = settings.resolved_database_url
        upgrade(db, "0006")  # the schema the old code wrote to
        old = sa.MetaData()
        engine = sa.create_engine(db)
        old.reflect(engine)
        now = sa.func.now()
        with engine.begin() as conn:
            for table, rows in OLD_ROWS.items():
                t = old.tables[table]
                stamped = [
                    {
                        **r,
                        **{
                            c: now
                            for c in ("created_at", "last_interaction_at", "updated_at")
                            if c in t.c
                        },
                    }
                    for r in rows
                ]
                for r in stamped:
                    conn.execute(t.insert().values(**r))
        engine.dispose()

        rt = build_runtime(settings)  # migrates to head: columns binary, values legacy text
        try:
            with rt.sessions() as session:  # legacy plaintext still reads
                c1 = session.get(Customer, "c1")
                assert c1 is not None
                assert c1.name == "Klant1 Plaintextsen"
                assert lookup.by_loyalty_id(session, "OLD1") is None  # not indexed yet
            assert any(
                not is_sealed_field(bytes(v) if not isinstance(v, str) else v.encode())
                for v in raw_sealed_values(rt)["customers.name"]
            )
            args = ["--data-dir", str(data_dir)] + (["--database-url", url] if url else [])
            assert main(["keys", "encrypt-fields", "--batch", "2", *args]) == 0
            out = capsys.readouterr().out
            assert "personal fields sealed: 8 rows" in out
            assert "customers 5" in out
            raw = raw_sealed_values(rt)
            assert len(raw["customers.name"]) == 5
            assert len(raw["staff_notes.body"]) == 1
            for where, values in raw.items():
                assert all(isinstance(v, bytes) and is_sealed_field(v) for v in values), where
            with rt.sessions() as session:
                c1 = lookup.by_loyalty_id(session, "OLD1")
                assert c1 is not None
                assert c1.email == "klant1@oud.example"
                assert c1.name == "Klant1 Plaintextsen"
                assert session.scalars(select(Allergy)).one().allergen == "plaintextnut"
                assert session.scalars(select(StaffNote)).one().body == "oude plaintext noot"
                assert lookup.by_external_id(session, "crm", "CRM-OLD-3") is not None
                assert len(session.scalars(select(ProfileKey)).all()) == 5
                found = session.scalars(
                    select(Customer).where(lookup.matches(session, "plaintexts"))
                ).all()
                assert len(found) == 5
            # Run again (or after a stop): nothing left to seal.
            assert main(["keys", "encrypt-fields", "--batch", "2", *args]) == 0
            assert "personal fields sealed: 0 rows" in capsys.readouterr().out
            assert main(["keys", "encrypt-fields", "--batch", "0", *args]) == 2
        finally:
            rt.close()
