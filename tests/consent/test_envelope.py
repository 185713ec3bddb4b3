from __future__ import annotations

import numpy as np
import pytest

from consent.envelope import (
    PURPOSE_THUMBNAIL,
    new_data_key,
    open_blob,
    open_template,
    seal_blob,
    seal_template,
)
from consent.errors import InvalidSeal


def _vector() -> bytes:
    return np.arange(128, dtype="<f4").tobytes()


def test_template_round_trip() -> None:
    dek = new_data_key()
    vec = _vector()
    sealed = seal_template(dek, vec, subject_id="cust-1", template_version=2)
    assert vec not in sealed
    assert open_template(dek, sealed, subject_id="cust-1", template_version=2) == vec
    restored = np.frombuffer(
        open_template(dek, sealed, subject_id="cust-1", template_version=2), dtype="<f4"
    )
    assert restored[5] == 5.0


def test_data_key_is_256_bit_and_random() -> None:
    a, b = new_data_key(), new_data_key()
    assert len(a) == 32
    assert a != b


def test_nonce_is_random() -> None:
    dek = new_data_key()
    one = seal_template(dek, _vector(), subject_id="c", template_version=1)
    two = seal_template(dek, _vector(), subject_id="c", template_version=1)
    assert one != two


@pytest.mark.parametrize(
    ("subject_id", "version"), [("cust-2", 2), ("cust-1", 1), ("cust-1", 3), ("cust-10", 2)]
)
def test_template_bound_to_subject_and_version(subject_id: str, version: int) -> None:
    dek = new_data_key()
    sealed = seal_template(dek, _vector(), subject_id="cust-1", template_version=2)
    with pytest.raises(InvalidSeal):
        open_template(dek, sealed, subject_id=subject_id, template_version=version)


def test_wrong_key_is_invalid_seal() -> None:
    sealed = seal_template(new_data_key(), _vector(), subject_id="c", template_version=1)
    with pytest.raises(InvalidSeal):
        open_template(new_data_key(), sealed, subject_id="c", template_version=1)


def test_every_flipped_byte_is_invalid_seal() -> None:
    dek = new_data_key()
    sealed = seal_template(dek, b"\x01\x02\x03\x04" * 4, subject_id="c", template_version=1)
    for i in range(len(sealed)):
        damaged = bytearray(sealed)
        damaged[i] ^= 0x01
        with pytest.raises(InvalidSeal):
            open_template(dek, bytes(damaged), subject_id="c", template_version=1)
    for cut in (0, 3, 10, len(sealed) - 1):
        with pytest.raises(InvalidSeal):
            open_template(dek, sealed[:cut], subject_id="c", template_version=1)


def test_blob_round_trip_and_purpose_binding() -> None:
    dek = new_data_key()
    thumb = b"\xff\xd8 jpeg bytes"
    sealed = seal_blob(dek, thumb, subject_id="cust-1", purpose=PURPOSE_THUMBNAIL)
    assert open_blob(dek, sealed, subject_id="cust-1", purpose=PURPOSE_THUMBNAIL) == thumb
    with pytest.raises(InvalidSeal):
        open_blob(dek, sealed, subject_id="cust-1", purpose="export")
    with pytest.raises(InvalidSeal):
        open_blob(dek, sealed, subject_id="cust-2", purpose=PURPOSE_THUMBNAIL)


def test_template_and_blob_cannot_be_swapped() -> None:
    dek = new_data_key()
    template = seal_template(dek, _vector(), subject_id="c", template_version=0)
    with pytest.raises(InvalidSeal):
        open_blob(dek, template, subject_id="c", purpose="template")
    blob = seal_blob(dek, _vector(), subject_id="c", purpose="template")
    with pytest.raises(InvalidSeal):
        open_template(dek, blob, subject_id="c", template_version=0)


def test_invalid_seal_message_is_opaque() -> None:
    dek = new_data_key()
    sealed = seal_template(dek, _vector(), subject_id="c", template_version=1)
    with pytest.raises(InvalidSeal) as wrong_subject:
        open_template(dek, sealed, subject_id="d", template_version=1)
    with pytest.raises(InvalidSeal) as truncated:
        open_template(dek, sealed[:5], subject_id="c", template_version=1)
    assert str(wrong_subject.value) == str(truncated.value)
    assert "subject" not in str(wrong_subject.value)


def test_bad_key_length_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        seal_template(b"short", _vector(), subject_id="c", template_version=1)
    with pytest.raises(ValueError):
        seal_template(new_data_key(), _vector(), subject_id="", template_version=1)
