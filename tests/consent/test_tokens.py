from __future__ import annotations

import base64
import os
import string
from datetime import datetime, timedelta

import pytest

from consent.errors import InvalidSeal
from consent.tokens import issue_token, read_token

KEY = bytes(range(32))


def test_round_trip_url_safe(now: datetime) -> None:
    token = issue_token("cust-42", key=KEY, now=now, ttl=timedelta(days=30))
    assert set(token) <= set(string.ascii_letters + string.digits + "-_")
    assert read_token(token, key=KEY, now=now + timedelta(days=29)) == "cust-42"


def test_subject_not_readable_from_token(now: datetime) -> None:
    token = issue_token("cust-42", key=KEY, now=now, ttl=timedelta(days=1))
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b"cust-42" not in raw


def test_expires(now: datetime) -> None:
    token = issue_token("cust-42", key=KEY, now=now, ttl=timedelta(hours=1))
    assert read_token(token, key=KEY, now=now + timedelta(minutes=59)) == "cust-42"
    for later in (timedelta(hours=1), timedelta(days=500)):
        with pytest.raises(InvalidSeal):
            read_token(token, key=KEY, now=now + later)


def test_issued_in_future_refused(now: datetime) -> None:
    token = issue_token("c", key=KEY, now=now + timedelta(hours=2), ttl=timedelta(days=1))
    with pytest.raises(InvalidSeal):
        read_token(token, key=KEY, now=now)


def test_wrong_purpose_and_key(now: datetime) -> None:
    token = issue_token("c", key=KEY, now=now, ttl=timedelta(days=1), purpose="self-service")
    with pytest.raises(InvalidSeal):
        read_token(token, key=KEY, now=now, purpose="erase-confirm")
    with pytest.raises(InvalidSeal):
        read_token(token, key=os.urandom(32), now=now)


def test_every_character_changed_is_rejected(now: datetime) -> None:
    token = issue_token("cust-42", key=KEY, now=now, ttl=timedelta(days=1))
    alphabet = string.ascii_letters + string.digits + "-_"
    for i, ch in enumerate(token):
        replacement = alphabet[(alphabet.index(ch) + 1) % len(alphabet)]
        with pytest.raises(InvalidSeal):
            read_token(token[:i] + replacement + token[i + 1 :], key=KEY, now=now)
    for bad in ("", token[:-1], token + "A", token + "=", "!" + token[1:], "é" * 10):
        with pytest.raises(InvalidSeal):
            read_token(bad, key=KEY, now=now)


def test_key_and_ttl_validated(now: datetime) -> None:
    with pytest.raises(ValueError):
        issue_token("c", key=b"short", now=now, ttl=timedelta(days=1))
    with pytest.raises(ValueError):
        issue_token("c", key=KEY, now=now, ttl=timedelta(0))
    with pytest.raises(ValueError):
        issue_token("c", key=KEY, now=now, ttl=timedelta(days=1000))
