"""The cashier's words (``server/api/staff_text.py``): the same keys and placeholders in every
staff language, and Dutch unless the deployment says otherwise."""

from __future__ import annotations

import string
from pathlib import Path

from server.api.staff_text import STAFF_LANGUAGES, STAFF_TEXT
from server.settings import ServerSettings


def test_every_staff_language_has_the_same_words_and_placeholders() -> None:
    assert set(STAFF_TEXT) == set(STAFF_LANGUAGES)
    fields = string.Formatter()
    for lang, words in STAFF_TEXT.items():
        assert set(words) == set(STAFF_TEXT["en"]), lang
        for key, value in words.items():
            assert value.strip(), (lang, key)
            names = {f[1] for f in fields.parse(value) if f[1]}
            assert names == {f[1] for f in fields.parse(STAFF_TEXT["en"][key]) if f[1]}, key


def test_dutch_by_default(tmp_path: Path) -> None:
    assert ServerSettings(data_dir=tmp_path, environment="test").staff_language == "nl"
