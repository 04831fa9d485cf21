"""Atomic writes (core/_atomic.py): all-or-nothing batches, flushed to the disk once per batch."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import napari_keyskel.core._atomic as atomic
from napari_keyskel.core._atomic import AtomicWriteError, atomic_write_bytes, atomic_write_many


def _dot_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_batch_replaces_every_file_keeps_modes_and_leaves_nothing_behind(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_bytes(b"old")
    old.chmod(0o640)
    files = [(old, b"new old"), *((tmp_path / "sub" / f"f{i}.json", b"x%d" % i) for i in range(5))]
    written = atomic_write_many(files)
    assert written == [Path(p) for p, _ in files]
    assert [Path(p).read_bytes() for p, _ in files] == [d for _, d in files]
    assert stat.S_IMODE(old.stat().st_mode) == 0o640
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "sub" / "f0.json").stat().st_mode) == 0o666 & ~umask
    assert _dot_files(tmp_path) == [] and _dot_files(tmp_path / "sub") == []


@pytest.mark.parametrize("flush", ["syncfs", "sync", "fsync"])
def test_every_way_of_flushing_the_batch_writes_it(tmp_path: Path, monkeypatch, flush: str) -> None:
    calls: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    if flush != "syncfs":
        monkeypatch.setattr(atomic, "_syncfs", lambda: None)
    if flush == "sync":
        monkeypatch.setattr(atomic.os, "sync", lambda: calls.append("sync"))
    if flush == "fsync":
        monkeypatch.delattr(atomic.os, "sync", raising=False)
    n = atomic.BATCH_SYNC_FILES
    files = [(tmp_path / f"f{i}.json", b"%d" % i) for i in range(n)]
    atomic_write_many(files)
    assert [p.read_bytes() for p, _ in files] == [b"%d" % i for i in range(n)]
    expected = {"syncfs": [], "sync": ["sync"], "fsync": ["fsync"] * n}[flush]
    assert calls == expected  # one flush for the batch, or one fsync per file where nothing else works


def test_a_small_batch_is_flushed_file_by_file(tmp_path: Path, monkeypatch) -> None:
    """A whole-file-system sync waits for other programs' writes too: not worth it for a few files."""
    calls: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(atomic, "_syncfs", lambda: lambda fd: calls.append("syncfs") or 0)
    monkeypatch.setattr(atomic.os, "sync", lambda: calls.append("sync"))
    atomic_write_many([(tmp_path / f"f{i}.json", b"x") for i in range(3)])
    assert calls == ["fsync"] * 3


def test_a_single_file_is_flushed_with_fsync(tmp_path: Path, monkeypatch) -> None:
    calls: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
    atomic_write_many([(tmp_path / "one.json", b"1")])
    atomic_write_bytes(tmp_path / "two.json", b"2")
    assert len(calls) == 2


def test_a_failed_flush_replaces_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(atomic, "_syncfs", lambda: lambda fd: -1)
    monkeypatch.setattr(atomic, "BATCH_SYNC_FILES", 2)
    (tmp_path / "a.json").write_bytes(b"old a")
    with pytest.raises(AtomicWriteError):
        atomic_write_many([(tmp_path / "a.json", b"new a"), (tmp_path / "b.json", b"new b")])
    assert (tmp_path / "a.json").read_bytes() == b"old a" and not (tmp_path / "b.json").exists()
    assert _dot_files(tmp_path) == []


@pytest.mark.parametrize("links", [True, False])
def test_a_failed_rename_puts_back_the_replaced_files(tmp_path: Path, monkeypatch, links: bool) -> None:
    if not links:  # a file system without hard links: the backups are renames
        monkeypatch.setattr(atomic.os, "link", lambda *a: (_ for _ in ()).throw(OSError(1, "no links")))
    names = ["a.json", "b.json", "c.json"]
    for n in names[:2]:
        (tmp_path / n).write_bytes(b"old " + n.encode())
    real_replace = os.replace
    seen = {"n": 0}

    def flaky(src, dst):  # the third rename of a temporary file fails
        if str(src).endswith(".tmp"):
            seen["n"] += 1
            if seen["n"] == 3:
                raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    with pytest.raises(AtomicWriteError) as err:
        atomic_write_many([(tmp_path / n, b"new") for n in names])
    assert err.value.filename == str(tmp_path / "c.json")
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.json")} == {
        "a.json": b"old a.json",
        "b.json": b"old b.json",
    }
    assert _dot_files(tmp_path) == []
