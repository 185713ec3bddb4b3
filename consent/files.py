"""Crash-safe files: atomic writes, exclusive creation, 0600 key files.

The project's one way to write a file that must be whole after a power cut (keys, galleries,
the edge's offline queue and identity, converted models and their cards, caches): a temporary
file in the same directory, fsync'd, renamed over the target, the directory fsync'd.

It imports nothing from the project but ``consent.errors`` and no third-party package, so
``models`` may use it too (``tests/test_architecture.py`` allows exactly this module there).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from consent.errors import InsecureKeyFileError

__all__ = ["create_exclusive", "fsync_dir", "read_private_file", "write_atomic"]

MAX_PRIVATE_FILE_BYTES = 1 << 20


def fsync_dir(directory: Path) -> None:
    """fsync a directory so a rename/link inside it survives a power cut."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(directory: Path, name: str, data: bytes, mode: int) -> Path:
    """Write ``data`` to a new temporary file (mode ``mode``) in ``directory`` and fsync it."""
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that after a crash it holds the whole old or whole new.

    Writes a temporary file in the same directory, fsyncs it, ``os.replace``-s it over the target
    and fsyncs the directory. On any failure the temporary file is removed and the old file is
    left untouched.
    """
    target = Path(path)
    directory = target.parent
    tmp = _write_temp(directory, target.name, data, mode)
    try:
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(directory)


def create_exclusive(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data`` only if it does not exist yet, atomically.

    The file appears complete or not at all (temp file + ``os.link``, which fails if the target
    exists, like ``O_EXCL``). Returns ``False`` when another process created it first.
    """
    target = Path(path)
    directory = target.parent
    tmp = _write_temp(directory, target.name, data, mode)
    try:
        os.link(tmp, target)
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    fsync_dir(directory)
    return True


def read_private_file(path: str | os.PathLike[str]) -> bytes:
    """Read a key file, refusing one that group/others can access or that is not a regular file.

    Raises ``FileNotFoundError`` if absent and ``InsecureKeyFileError`` if its mode is unsafe.
    """
    target = Path(path)
    fd = os.open(target, os.O_RDONLY)  # symlinks allowed (secret mounts); fstat checks the file
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InsecureKeyFileError(f"{target} is not a regular file; refusing to use it")
        if st.st_mode & 0o077:
            raise InsecureKeyFileError(
                f"{target} is accessible by group or others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); refusing to use it. "
                f"Restrict it with: chmod 600 {target}"
            )
        if st.st_size > MAX_PRIVATE_FILE_BYTES:
            raise InsecureKeyFileError(f"{target} is implausibly large for a key file")
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read(MAX_PRIVATE_FILE_BYTES + 1)
    finally:
        if fd >= 0:
            os.close(fd)
