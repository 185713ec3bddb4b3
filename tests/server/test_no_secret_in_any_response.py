"""Privacy invariant 10, second half: no API route ever returns an embedding or a key.

A real member (templates and thumbnail from real photos) arrives and is revealed; then every GET
route of the app, found in its OpenAPI schema (a route added later is walked too), is called as
each staff role, the device and the customer (self-service link), and every response body is
searched for the secrets the server holds: the plaintext templates, their ciphertexts, the
wrapped and unwrapped data key, the key-encryption keys, the signing key, token and password
hashes — as raw bytes, hex and base64 — and for anything shaped like an embedding (a JSON array
of 64 or more numbers).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models.types import Embedding
from server.db.membership import ConsentRecord, CustomerKey, FaceTemplate, FaceThumbnail
from server.db.recognition import EdgeDevice
from server.db.staff import Staff, StaffSession
from server.runtime import Runtime
from server.services.console.exports import VIEWS
from tests.server.conftest import PASSWORD, StoreFixture
from tests.server.factories import device_token, make_staff
from tests.server.members import enrol_member, new_link

pytestmark = pytest.mark.faces

NUMBER_RUN = re.compile(r"\[\s*-?\d[\d.eE+-]*(\s*,\s*-?\d[\d.eE+-]*){63,}\s*\]")


def encodings(secret: bytes) -> list[bytes]:
    """The forms a leaked secret could take in a response body."""
    forms = [
        secret,
        secret.hex().encode(),
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
    ]
    return [f for f in forms if len(f) >= 16]


def secrets_held(rt: Runtime, embeddings: list[Embedding]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    with rt.sessions() as s:
        for t in s.scalars(select(FaceTemplate)):
            out[f"template ciphertext {t.id}"] = encodings(t.ciphertext)
        for th in s.scalars(select(FaceThumbnail)):
            out[f"thumbnail ciphertext {th.id}"] = encodings(th.ciphertext)
        for k in s.scalars(select(CustomerKey)):
            out["wrapped data key"] = encodings(k.wrapped_dek)
            dek = rt.kek.unwrap(k.wrapped_dek, context=k.customer_id.encode())
            out["data key"] = encodings(dek)
        for d in s.scalars(select(EdgeDevice)):
            out[f"device token hash {d.id}"] = [d.token_hash.encode()]
        for st in s.scalars(select(Staff)):
            out[f"password hash {st.username}"] = [st.password_hash.encode()]
        for ss in s.scalars(select(StaffSession)):
            out["session token hash"] = [ss.token_hash.encode()]
    for i, emb in enumerate(embeddings):
        out[f"embedding {i}"] = encodings(np.asarray(emb.vector, "<f4").tobytes())
    keyring = json.loads(rt.settings.resolved_kek_path.read_bytes())
    for value in json.dumps(keyring).split('"'):
        if len(value) >= 40 and re.fullmatch(r"[A-Za-z0-9+/=_-]+", value):
            out[f"keyring value {value[:6]}"] = [value.encode()]
    # The signing key file is PKCS#8 PEM; an Ed25519 key's raw 32 bytes end its DER.
    pem = rt.settings.resolved_signing_key_path.read_text()
    der = base64.b64decode("".join(ln for ln in pem.splitlines() if not ln.startswith("-----")))
    out["signing key"] = encodings(der) + encodings(der[-32:])
    return out


def test_no_route_returns_an_embedding_or_a_key(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces, "obama")
    embeddings = [runtime.faces.analyse(p).embedding for p in member.photos]
    make_staff(runtime, "officer", "privacy_officer", None)
    make_staff(runtime, "chief", "admin", None)
    token = device_token(runtime, client, store.code)
    r = client.post(
        "/api/v1/device/events",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "events": [
                {
                    "id": uuid.uuid4().hex,
                    "kind": "arrival",
                    "subject_id": member.subject_id,
                    "at": datetime.now(UTC).isoformat(),
                    "score": 0.4,
                    "margin": 0.3,
                    "frames": 3,
                }
            ]
        },
    )
    assert r.json()["accepted"] == 1
    client.post("/api/v1/auth/login", json={"username": "sales", "password": PASSWORD})
    visit_id = client.get("/api/v1/visits/live").json()[0]["visit_id"]
    assert client.post(f"/api/v1/visits/{visit_id}/reveal").status_code == 200
    with runtime.sessions() as s:
        consent_id = s.scalars(select(ConsentRecord.id)).first()
    link_token = new_link(runtime, member.customer_id)
    values = {
        "customer_id": member.customer_id,
        "visit_id": str(visit_id),
        "consent_id": str(consent_id),
        "token": link_token,
    }

    schema = client.app.openapi()  # type: ignore[attr-defined]
    urls: list[str] = []
    for path, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        if "{view}" in path:
            urls += [
                path.replace("{view}", v) + f"?format={f}" for v in VIEWS for f in ("csv", "json")
            ]
            continue
        missing = set(re.findall(r"\{(\w+)\}", path)) - set(values)
        assert not missing, f"give this test a value for {missing} in {path}"
        urls.append(re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path))

    bodies: dict[str, bytes] = {}
    for who in ("sales", "cashier", "officer", "chief"):
        client.cookies.clear()
        r = client.post("/api/v1/auth/login", json={"username": who, "password": PASSWORD})
        assert r.status_code == 200
        for url in urls:
            bodies[f"{who} GET {url}"] = client.get(url).content
    client.cookies.clear()
    for url in urls:  # as the device, and as nobody (the customer's link is in the URL)
        bodies[f"device GET {url}"] = client.get(
            url, headers={"Authorization": f"Bearer {token}"}
        ).content
    assert any(b"Barack" in body for body in bodies.values())  # the walk did reach the data

    held = secrets_held(runtime, embeddings)
    assert held["embedding 0"]
    assert held["data key"]
    assert held["signing key"]
    leaks = [
        f"{what} in {where}"
        for where, body in bodies.items()
        for what, forms in held.items()
        if any(form in body for form in forms)
    ]
    assert not leaks, "\n".join(leaks[:20])
    shaped = [where for where, body in bodies.items() if NUMBER_RUN.search(body.decode("latin-1"))]
    assert not shaped, f"embedding-shaped arrays in: {shaped[:10]}"


def test_the_leak_check_would_see_a_leak() -> None:
    vector = np.arange(128, dtype="<f4") / 128
    body = json.dumps({"v": [float(x) for x in vector]})
    assert NUMBER_RUN.search(body)
    secret = b"\x01" * 32
    assert any(form in base64.b64encode(secret) for form in encodings(secret))
    assert not NUMBER_RUN.search(json.dumps({"scores": [0.1, 0.2, 0.3]}))
