"""Atomic file writes: write a temporary file beside the target, then rename it over.

:func:`atomic_write_many` does the same for several files at once: every file is written to a
temporary file first, and only when all of them are written are they renamed over their
targets, so a failure (disk full, permissions) leaves every earlier file as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import IO

__all__ = ["AtomicWriteError", "atomic_write", "atomic_write_bytes", "atomic_write_many", "atomic_write_text"]


class AtomicWriteError(OSError):
    """A write of :func:`atomic_write_many` failed; ``filename`` is the target, not a temporary file."""


def _mode_for(path: Path) -> int:
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_many(files: list[tuple[str | PathLike[str], bytes]]) -> list[Path]:
    """Write every ``(path, data)``; either all targets are replaced, or none is (as far as the OS allows).

    Phase 1 writes each file to a temporary file in its target's folder (created if needed); any
    failure removes the temporary files and leaves every target untouched. Phase 2 renames them
    over the targets; if a rename fails, the targets already replaced are restored from backups.

    Raises
    ------
    AtomicWriteError
        With ``filename`` set to the target that could not be written.

    """
    temps: list[tuple[Path, str]] = []
    try:
        for target, data in files:
            path = Path(target)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            except OSError as exc:
                raise AtomicWriteError(exc.errno, exc.strerror or str(exc), str(path)) from None
            temps.append((path, tmp))
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, _mode_for(path))
            except OSError as exc:
                raise AtomicWriteError(exc.errno, exc.strerror or str(exc), str(path)) from None
        backups: list[tuple[Path, str | None]] = []
        current = temps[0][0] if temps else None
        try:
            for path, tmp in temps:
                current = path
                backup = None
                if path.exists():
                    fd, backup = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".bak", dir=path.parent)
                    os.close(fd)
                    os.replace(path, backup)
                backups.append((path, backup))
                os.replace(tmp, path)
        except OSError as exc:
            for path, backup in reversed(backups):
                with contextlib.suppress(OSError):
                    if backup is not None:
                        os.replace(backup, path)
                    else:
                        os.unlink(path)
            raise AtomicWriteError(exc.errno, exc.strerror or str(exc), str(current)) from None
        for _, backup in backups:
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.unlink(backup)
    finally:
        for _, tmp in temps:
            with contextlib.suppress(FileNotFoundError, OSError):
                if os.path.exists(tmp):
                    os.unlink(tmp)
    return [p for p, _ in temps]


def atomic_write(path: str | PathLike[str], write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(fh)`` on a temporary file in the target's folder, then rename it to ``path``.

    The target's folder is created if needed. If ``write`` raises, the temporary file is removed
    and an existing ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | PathLike[str], data: bytes) -> Path:
    """Atomically replace ``path`` with ``data``."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Atomically replace ``path`` with ``text``."""
    return atomic_write_bytes(path, text.encode(encoding))
