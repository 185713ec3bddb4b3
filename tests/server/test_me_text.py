"""The self-service page's own words (``server/api/me_text.py``): every language has the same
keys and placeholders; money reads as euros; purchases group by the local month."""

from __future__ import annotations

import string
from zoneinfo import ZoneInfo

from consent.records import LANGUAGES
from server.api.me_text import ME_TEXT, by_month, detail_columns, detail_value, euro, me_texts


def test_every_language_has_the_same_words_and_placeholders() -> None:
    assert set(ME_TEXT) == set(LANGUAGES)
    fields = string.Formatter()
    for lang, words in ME_TEXT.items():
        assert set(words) == set(ME_TEXT["en"]), lang
        for key, value in words.items():
            names = {f[1] for f in fields.parse(value) if f[1]}
            ref = {f[1] for f in fields.parse(ME_TEXT["en"][key]) if f[1]}
            assert names == ref, (lang, key)


def test_money_codes_and_columns_in_human_words() -> None:
    nl, en = me_texts("nl"), me_texts("en")
    assert euro(22900, "nl") == "€ 229,00"
    assert euro(123456, "nl") == "€ 1.234,56"
    assert euro(22900, "en") == "€229.00"
    assert detail_value("total_cents", 22900, nl, "nl") == "€ 229,00"
    assert detail_value("kind", "special_order", nl, "nl") == "bestelling"
    assert detail_value("kind", "some_new_code", en, "en") == "some new code"
    cols = detail_columns([{"id": 1, "store_id": 2, "total_cents": 5, "ref": "X"}], en)
    assert cols == [("total_cents", "Amount"), ("ref", "Number")]


def test_purchases_by_local_month_newest_first() -> None:
    rows = [
        {"purchased_at": "2026-10-31T23:30:00+00:00", "product_name": "a", "quantity": 1},
        {"purchased_at": "2026-10-15T12:00:00+00:00", "product_name": "b", "quantity": 2},
    ]
    months = by_month(rows, "nl", ZoneInfo("Europe/Amsterdam"))
    assert [m for m, _ in months] == ["november 2026", "oktober 2026"]  # 00:30 local, 1 Nov
    assert [r["product_name"] for r in months[1][1]] == ["b"]
