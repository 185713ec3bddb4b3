"""Sealed personal fields and blind indexes (``consent.fields``, issue 18)."""

from __future__ import annotations

import os

import pytest

from consent.envelope import new_data_key
from consent.errors import InvalidSeal
from consent.fields import (
    blind_index,
    is_sealed_field,
    name_terms,
    normalise_email,
    normalise_id,
    open_field,
    query_words,
    seal_field,
)

PLACE = {"table": "customers", "column": "name", "row_id": "c1", "customer_id": "c1"}


def test_a_sealed_field_opens_only_in_its_own_place_and_under_its_own_key() -> None:
    dek = new_data_key()
    sealed = seal_field(dek, "Zoë de Vries", **PLACE)
    assert is_sealed_field(sealed)
    assert "Zoë".encode() not in sealed
    assert b"Vries" not in sealed
    assert open_field(dek, sealed, **PLACE) == "Zoë de Vries"
    assert seal_field(dek, "Zoë de Vries", **PLACE) != sealed  # random nonce
    for change in ({"table": "staff_notes"}, {"column": "email"}, {"row_id": "c2"},
                   {"customer_id": "c2"}):  # fmt: skip
        with pytest.raises(InvalidSeal):
            open_field(dek, sealed, **{**PLACE, **change})
    with pytest.raises(InvalidSeal):
        open_field(new_data_key(), sealed, **PLACE)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(InvalidSeal):
        open_field(dek, tampered, **PLACE)
    assert not is_sealed_field(b"Zoe de Vries")  # legacy plaintext is told apart


def test_blind_indexes_match_normalised_values_only_under_the_same_key() -> None:
    key = os.urandom(32)
    assert blind_index(key, "email", normalise_email(" Anna@Example.NL ")) == blind_index(
        key, "email", normalise_email("anna@example.nl")
    )
    assert blind_index(key, "loyalty", normalise_id("vt 1001")) == blind_index(
        key, "loyalty", normalise_id("VT1001")
    )
    # the kind separates domains; another key gives other digests
    assert blind_index(key, "email", "x") != blind_index(key, "loyalty", "x")
    assert blind_index(key, "email", "x") != blind_index(os.urandom(32), "email", "x")
    assert len(blind_index(key, "name", "an")) == 16
    with pytest.raises(ValueError):
        blind_index(b"short", "email", "x")


def test_name_terms_are_word_prefixes_without_accents_and_queries_match_them() -> None:
    terms = name_terms("Zoë O'Brien-Smit", "Zoë")
    assert {"zo", "zoe", "br", "brien", "smit"} <= terms
    assert "o" not in terms
    assert "rien" not in terms
    assert set(query_words("ZOE bri")) <= terms
    assert query_words("%_") == []
    assert query_words("a b") == []
    long = "a" * 40
    assert max(len(t) for t in name_terms(long)) == 16
    assert query_words(long) == ["a" * 16]
