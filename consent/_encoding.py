"""Unambiguous byte encodings shared by the consent modules (internal)."""

from __future__ import annotations

import struct

from consent.errors import InvalidSeal

__all__ = ["Reader", "lp", "u32", "u64"]


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def u64(n: int) -> bytes:
    return struct.pack(">Q", n)


def lp(data: bytes) -> bytes:
    """Length-prefix ``data`` (u32 big-endian), so concatenations cannot be confused."""
    return u32(len(data)) + data


class Reader:
    """Bounds-checked reader over a byte string: any overrun raises ``InvalidSeal``."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self._pos + n > len(self._data):
            raise InvalidSeal
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def rest(self) -> bytes:
        out = bytes(self._data[self._pos :])
        self._pos = len(self._data)
        return out

    def done(self) -> bool:
        return self._pos == len(self._data)
