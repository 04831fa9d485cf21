"""Atomic file writes: write a temporary file beside the target, then rename it over.

Guarantees. A reader of a target sees the old file or the new one, never a part of either,
and a failure (disk full, permissions) leaves the old file as it was and no temporary file
behind. The new data is on the disk before the rename (so a crash or power loss cannot leave a
renamed but empty file): :func:`atomic_write` flushes its file with ``fsync``;
:func:`atomic_write_many` writes every temporary file first and then flushes them all at once
(:func:`_flush`: from 16 files on, one ``syncfs`` of each file system holding them on Linux,
else ``os.sync``; else one ``fsync`` per file), so the kernel writes a large batch together
instead of committing its journal once per file. The folders are not flushed (neither the
renames): after a power loss a target may still be its old file, complete.

:func:`atomic_write_many` does this for several files at once: only when all of them are
written and flushed are they renamed over their targets, so a failure leaves every earlier file
as it was; a rename that fails puts back the targets already replaced.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import sys
import tempfile
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import IO

__all__ = ["AtomicWriteError", "atomic_write", "atomic_write_bytes", "atomic_write_many", "atomic_write_text"]


class AtomicWriteError(OSError):
    """A write of :func:`atomic_write_many` failed; ``filename`` is the target, not a temporary file."""


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _target(path: Path, umask: int) -> tuple[int, bool]:
    """``(permissions for the file replacing path, whether path is there)``.

    The permissions are those of ``path``, or ``0o666`` less the umask for a new file.
    """
    try:
        return os.stat(path).st_mode & 0o777, True
    except FileNotFoundError:
        return 0o666 & ~umask, False


def _mode_for(path: Path) -> int:
    """The permissions of the file ``path`` replaces, or of a new file (``0o666`` less the umask)."""
    return _target(path, _umask())[0]


def _syncfs() -> Callable[[int], int] | None:
    """Linux's ``syncfs(fd)`` from the C library, if there is one."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


#: From this many files on, a batch is flushed with one sync of its file system; a smaller batch
#: is flushed file by file (a whole-file-system sync also waits for other programs' writes).
BATCH_SYNC_FILES = 16


def _flush(temps: list[tuple[Path, str]]) -> None:
    """Put the data of every temporary file on the disk, the whole batch at once.

    From :data:`BATCH_SYNC_FILES` files on: one ``syncfs`` per file system holding them (Linux),
    else one ``os.sync``; fewer files, or neither call: ``fsync`` of each file.
    """
    syncfs = _syncfs() if len(temps) >= BATCH_SYNC_FILES else None
    if syncfs is not None:
        done: set[int] = set()
        for folder in dict.fromkeys(path.parent for path, _ in temps):
            fd = os.open(folder, os.O_RDONLY)
            try:
                dev = os.fstat(fd).st_dev
                if dev not in done and syncfs(fd) != 0:
                    err = ctypes.get_errno()
                    raise AtomicWriteError(err, os.strerror(err), str(folder))
                done.add(dev)
            finally:
                os.close(fd)
        return
    if hasattr(os, "sync") and len(temps) >= BATCH_SYNC_FILES:
        os.sync()
        return
    for path, tmp in temps:
        try:
            fd = os.open(tmp, os.O_RDWR)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise AtomicWriteError(exc.errno, exc.strerror or str(exc), str(path)) from None


def _backup(path: Path, token: str) -> str | None:
    """A second name for the target ``path`` (a hard link, else a rename), or None if it has none.

    With a hard link the target is never missing: the rename over it replaces it in one step.
    """
    backup = str(path.parent / f".{path.name}.{token}.bak")
    try:
        os.link(path, backup)
        return backup
    except FileNotFoundError:
        if not path.exists():
            return None
    except OSError:  # (no hard links on this file system, or the name is taken)
        pass
    if not path.exists():
        return None
    fd, backup = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".bak", dir=path.parent)
    os.close(fd)
    os.replace(path, backup)
    return backup


def atomic_write_many(files: list[tuple[str | PathLike[str], bytes]]) -> list[Path]:
    """Write every ``(path, data)``; either all targets are replaced, or none is (as far as the OS allows).

    Phase 1 writes each file to a temporary file in its target's folder (created if needed); any
    failure removes the temporary files and leaves every target untouched. Then the batch is
    flushed to the disk at once (see the module's docstring). Phase 2 renames them over the
    targets; if a rename fails, the targets already replaced are restored from backups.

    Raises
    ------
    AtomicWriteError
        With ``filename`` set to the target that could not be written.

    """
    temps: list[tuple[Path, str]] = []
    exists: list[bool] = []  # (whether each target is there to be backed up)
    umask = _umask()
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
                    if len(files) == 1:
                        os.fsync(fd)
                    mode, there = _target(path, umask)
                    exists.append(there)
                    if hasattr(os, "fchmod"):
                        os.fchmod(fd, mode)
                    else:  # pragma: no cover - Windows
                        os.chmod(tmp, mode)
            except OSError as exc:
                raise AtomicWriteError(exc.errno, exc.strerror or str(exc), str(path)) from None
        if len(temps) > 1:
            _flush(temps)
        backups: list[tuple[Path, str | None]] = []
        current = temps[0][0] if temps else None
        token = secrets.token_hex(4)
        try:
            for (path, tmp), there in zip(temps, exists):
                current = path
                backups.append((path, _backup(path, token) if there else None))
                os.replace(tmp, path)
        except OSError as exc:
            for path, backup in reversed(backups):
                with contextlib.suppress(OSError):
                    if backup is None:
                        os.unlink(path)
                    elif path.exists() and os.path.samefile(backup, path):
                        os.unlink(backup)  # (not replaced yet; a rename onto itself would keep both)
                    else:
                        os.replace(backup, path)
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
