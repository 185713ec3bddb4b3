"""Membership pass tokens: compact, typeable, unguessable, one opaque refusal."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from consent.errors import InvalidSeal
from consent.passes import PASS_PREFIX, new_pass_token, parse_pass_token, pass_digest
from consent.tokens import issue_token

_QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def test_a_new_pass_is_canonical_typeable_and_qr_alphanumeric() -> None:
    token = new_pass_token()
    groups = token.split("-")
    assert groups[0] == PASS_PREFIX
    assert [len(g) for g in groups[1:]] == [4] * 7
    assert set(token) <= _QR_ALPHANUMERIC  # the sparse alphanumeric QR mode
    assert parse_pass_token(token) == token


def test_passes_are_random() -> None:
    tokens = {new_pass_token() for _ in range(200)}
    assert len(tokens) == 200


def test_typing_variations_normalise_to_the_same_pass() -> None:
    token = new_pass_token()
    body = token[len(PASS_PREFIX) + 1 :]
    variants = [
        token.lower(),
        token.replace("-", ""),
        token.replace("-", " "),
        f"  {token}\n",
        PASS_PREFIX + " " + body.replace("O", "0").replace("I", "1").replace("B", "8"),
    ]
    for text in variants:
        assert parse_pass_token(text) == token
        assert pass_digest(text) == pass_digest(token)


def test_the_digest_is_sha256_of_the_canonical_token() -> None:
    token = new_pass_token()
    assert pass_digest(token) == hashlib.sha256(token.encode("ascii")).hexdigest()
    assert pass_digest(token) != pass_digest(new_pass_token())


def _flip_one_char(token: str, index: int) -> str:
    ch = token[index]
    replacement = "A" if ch != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


def test_a_mistyped_pass_is_refused_by_its_check_byte() -> None:
    token = new_pass_token()
    refused = 0
    positions = [i for i, ch in enumerate(token) if i > len(PASS_PREFIX) and ch != "-"]
    for i in positions:
        if parse_pass_token(_flip_one_char(token, i)) is None:
            refused += 1
    # One changed character alters the random part or the check byte; a 1-in-256 collision of
    # the check byte is the only way through, so (nearly) every position is refused.
    assert refused >= len(positions) - 1


def test_a_self_service_link_is_not_a_pass() -> None:
    from datetime import UTC, datetime

    link_token = issue_token(
        "subj-1", key=b"k" * 32, now=datetime(2026, 1, 1, tzinfo=UTC), ttl=timedelta(days=1)
    )
    assert parse_pass_token(link_token) is None
    assert parse_pass_token(f"https://shop.example/me/{link_token}") is None
    assert parse_pass_token(f"https://shop.example/pass/{new_pass_token()}") is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "VP1",
        "VP1-",
        "VP2-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA",
        "VP1-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAA",  # truncated
        "VP1-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAAA",  # too long
        "VP1-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAA9",  # not base32
        "VP1-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AA=A",
        "X" * 10_000,
        "VP1-" + "A" * 200,
    ],
)
def test_anything_else_is_one_opaque_refusal(text: str) -> None:
    assert parse_pass_token(text) is None
    with pytest.raises(InvalidSeal) as info:
        pass_digest(text)
    assert "VP1" not in str(info.value)


def test_non_text_is_refused() -> None:
    assert parse_pass_token(None) is None
    assert parse_pass_token(b"VP1") is None


def test_non_canonical_trailing_bits_are_refused() -> None:
    token = new_pass_token()
    last = token[-1]
    # The last base32 character carries 1 data bit + 4 zero bits: setting a padding bit gives
    # another spelling of the same bytes, which must not be accepted as a second pass.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    value = alphabet.index(last)
    other = alphabet[value | 0b00001]
    assert other != last
    assert parse_pass_token(token[:-1] + other) is None
