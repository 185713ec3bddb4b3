"""The staff's words (the register's ``staff_text``, the tablet's ``tablet_text``, the console's
``console_text``, the Art. 30 record's ``ropa_text``): the same keys and placeholders in every
staff language, and Dutch unless the deployment says otherwise."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from server.api.console_text import CONSOLE_TEXT
from server.api.staff_text import STAFF_LANGUAGES, STAFF_TEXT, staff_language
from server.api.tablet_text import TABLET_TEXT
from server.services.clienteling.catalogue import ALLERGEN_KEYS, DIETS
from server.services.console.ropa_text import ROPA_TEXT
from server.settings import ServerSettings


@pytest.mark.parametrize(
    "table",
    [STAFF_TEXT, TABLET_TEXT, CONSOLE_TEXT, ROPA_TEXT],
    ids=["register", "tablet", "console", "art30"],
)
def test_every_staff_language_has_the_same_words_and_placeholders(
    table: dict[str, dict[str, str]],
) -> None:
    assert set(table) == set(STAFF_LANGUAGES)
    fields = string.Formatter()
    for lang, words in table.items():
        assert set(words) == set(table["en"]), lang
        for key, value in words.items():
            assert value.strip(), (lang, key)
            names = {f[1] for f in fields.parse(value) if f[1]}
            assert names == {f[1] for f in fields.parse(table["en"][key]) if f[1]}, key


def test_a_page_asks_for_a_staff_language_or_gets_the_stores() -> None:
    assert staff_language("en", "nl") == "en"
    assert staff_language(None, "nl") == "nl"
    assert staff_language("de", "en") == "en"  # not a staff language: the setting


def test_dutch_by_default(tmp_path: Path) -> None:
    assert ServerSettings(data_dir=tmp_path, environment="test").staff_language == "nl"


def test_the_tablet_names_every_allergen_and_diet_in_every_staff_language() -> None:
    for words in TABLET_TEXT.values():
        assert {f"allergen:{k}" for k in ALLERGEN_KEYS} <= set(words)
        assert {f"diet:{k}" for k in DIETS} <= set(words)
    assert TABLET_TEXT["nl"]["allergen:peanut"] == "pinda"
    assert TABLET_TEXT["en"]["allergen:brazil_nut"] == "brazil nut"
