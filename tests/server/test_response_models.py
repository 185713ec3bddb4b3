"""Every JSON route declares its answer (issue 17): the OpenAPI schema tells an integrator what
comes back, and "no route returns a key, an embedding or ciphertext" rests on types, not only on
``test_no_secret_in_any_response``.

Walked from the app itself, so a new route without a ``response_model`` fails here:
- every JSON answer (2xx, ``application/json``) has a schema, and every object in it lists its
  fields and is closed (``additionalProperties: false``) or is a map of typed values; nothing is
  ``{}`` (anything) and nothing is binary;
- a page or a file (``response_class=Response``) names its media types instead;
- every JSON route documents its refusals (403, 404, 422) with the shared error schema.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from server.api.schemas import ExportOut, PublicOut, SaleIgnoredOut

Schema = dict[str, Any]

JSON_VALUE = "#/components/schemas/JsonValue"
"""pydantic's recursive JSON value (audit data as stored): JSON by definition, never bytes."""


def _resolve(spec: Schema, schema: Schema) -> tuple[str | None, Schema]:
    ref = schema.get("$ref")
    if ref is None:
        return None, schema
    name = ref.rsplit("/", 1)[-1]
    return ref, spec["components"]["schemas"][name]


def problems_in(spec: Schema, schema: Schema, where: str, seen: set[str]) -> list[str]:
    """What makes ``schema`` open or untyped (empty list when it is closed and typed)."""
    ref, schema = _resolve(spec, schema)
    if ref == JSON_VALUE:
        return []
    if ref is not None:
        if ref in seen:
            return []
        seen = seen | {ref}
        where = ref.rsplit("/", 1)[-1]
    out: list[str] = []
    if not schema:
        return [f"{where}: untyped (anything)"]
    if schema.get("format") == "binary" or "contentEncoding" in schema:
        out.append(f"{where}: binary")
    for key in ("anyOf", "oneOf", "allOf"):
        for i, part in enumerate(schema.get(key, [])):
            out += problems_in(spec, part, f"{where}.{key}[{i}]", seen)
    if "items" in schema:
        out += problems_in(spec, schema["items"], f"{where}[]", seen)
    if schema.get("type") == "object":
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        if props and extra is not False:
            out.append(f"{where}: fields listed but not closed (extra keys would pass)")
        if not props:
            if not isinstance(extra, dict):
                out.append(f"{where}: an object with no fields")
            else:
                out += problems_in(spec, extra, f"{where}{{}}", seen)
        for name, prop in props.items():
            out += problems_in(spec, prop, f"{where}.{name}", seen)
    return out


def _operations(spec: Schema) -> list[tuple[str, Schema]]:
    return [
        (f"{method.upper()} {path}", op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    ]


def test_every_json_route_declares_a_closed_typed_answer(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    spec = app.openapi()
    missing, open_, checked, files = [], [], 0, 0
    for name, op in _operations(spec):
        for code, answer in op["responses"].items():
            if not code.startswith("2") or code == "204":
                continue
            content = answer.get("content", {})
            if not content:
                missing.append(f"{name} {code}: no media type")
            elif set(content) - {"application/json"}:  # a page or a file: its media types
                files += 1
            elif not content["application/json"].get("schema"):
                missing.append(f"{name} {code}")
            else:
                checked += 1
                schema = content["application/json"]["schema"]
                open_ += [f"{name} {code}: {p}" for p in problems_in(spec, schema, name, set())]
    assert not missing, f"JSON routes without a response schema: {missing}"
    assert not open_, f"open or untyped answers: {open_}"
    # the walk saw the app's JSON answers (45 in session 4) and its pages and files (26)
    assert checked >= 35, checked
    assert files >= 15, files


def test_every_route_documents_its_refusals(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    spec = app.openapi()
    json_ops = [
        (name, op)
        for name, op in _operations(spec)
        if any(
            set(a.get("content", {})) == {"application/json"}
            for code, a in op["responses"].items()
            if code.startswith("2")
        )
    ]
    assert len(json_ops) >= 35, len(json_ops)
    for name, op in json_ops:
        for code in ("403", "404", "422"):
            assert code in op["responses"], (name, code)
            schema = op["responses"][code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (name, code)


def test_the_walk_refuses_an_open_answer(client: TestClient) -> None:
    """The checks above can fail: an untyped, an open and a binary schema are each reported."""
    app = client.app
    assert isinstance(app, FastAPI)
    spec = app.openapi()
    assert problems_in(spec, {}, "x", set()) == ["x: untyped (anything)"]
    assert problems_in(spec, {"type": "object"}, "x", set()) == ["x: an object with no fields"]
    opened = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert problems_in(spec, opened, "x", set()) == [
        "x: fields listed but not closed (extra keys would pass)"
    ]
    blob = {"type": "string", "format": "binary"}
    assert problems_in(spec, {"type": "array", "items": blob}, "x", set()) == ["x[]: binary"]


def test_an_answer_that_grew_a_key_is_refused_not_sent() -> None:
    """``extra="forbid"``: a dict with a key the schema does not list cannot become an answer
    (FastAPI answers 500 instead of sending it)."""
    ok = {"status": "ignored", "reason": "not a member", "sale_id": "S1"}
    assert SaleIgnoredOut.model_validate(ok).model_dump() == ok
    with pytest.raises(ValidationError, match="wrapped_dek"):
        SaleIgnoredOut.model_validate({**ok, "wrapped_dek": "AAAA"})
    for model in (ExportOut, SaleIgnoredOut):
        assert issubclass(model, PublicOut)
        assert model.model_config.get("extra") == "forbid"
