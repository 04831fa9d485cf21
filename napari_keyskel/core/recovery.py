"""Recovery files: unsaved annotations written aside while you work, offered after a crash.

A recovery file holds the annotation stores of one layer (every frame, keys and interpolated
positions, lifespans, scores, format extras) and a small JSON header saying what they belong to.
It is one ``.npz`` (no pickles): ``header`` is the JSON text, the track arrays are
``s<store>_t<track>_<field>``. Writes are atomic, so a crash while writing leaves the previous
recovery file whole.

Files are named by an *identity* string (the annotation file the layer came from, or the image
and layer name of a new layer), so opening the same data again finds them:
``<folder>/<sha1 of identity>.keyskel-recovery.npz``. The default folder is the user cache
(``$XDG_CACHE_HOME/napari-keyskel/recovery``, ``~/Library/Caches/...`` on macOS,
``%LOCALAPPDATA%/napari-keyskel/recovery`` on Windows), or ``$KEYSKEL_RECOVERY_DIR``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FormatError
from ._atomic import atomic_write_bytes
from .plain import store_from_plain, store_to_plain
from .store import AnnotationStore
from .wording import plural

__all__ = [
    "RECOVERY_SUFFIX",
    "Recovery",
    "discard_recovery",
    "find_recovery",
    "read_recovery",
    "recovery_dir",
    "recovery_path",
    "write_recovery",
]

RECOVERY_SUFFIX = ".keyskel-recovery.npz"
_FORMAT, _VERSION = "keyskel-recovery", 1
_ARRAYS = ("coords", "visibility", "is_key", "alive", "score")


@dataclass
class Recovery:
    """What a recovery file holds: the stores and its header (``identity``, ``saved_at``, ...)."""

    path: Path
    stores: list[AnnotationStore]
    info: dict[str, Any]

    @property
    def saved_at(self) -> float:
        """When it was written (seconds since the epoch)."""
        return float(self.info.get("saved_at", 0.0))

    def summary(self) -> str:
        """``"2 instances, 40 keys, autosaved 12:03:05"``."""
        n_inst = sum(len(s) for s in self.stores)
        n_keys = sum(int(t.is_key.sum()) for s in self.stores for t in s)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        return f"{plural(n_inst, 'instance')}, {plural(n_keys, 'key')}, autosaved {when}"


def recovery_dir() -> Path:
    """The folder for recovery files (``$KEYSKEL_RECOVERY_DIR`` or the user cache)."""
    env = os.environ.get("KEYSKEL_RECOVERY_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "napari-keyskel" / "recovery"


def recovery_path(identity: str, folder: str | PathLike[str] | None = None) -> Path:
    """Where the recovery file of ``identity`` lives."""
    digest = hashlib.sha1(identity.encode("utf-8")).hexdigest()[:20]
    return Path(folder if folder is not None else recovery_dir()) / f"{digest}{RECOVERY_SUFFIX}"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-able")


def write_recovery(
    identity: str,
    stores: list[AnnotationStore],
    info: dict[str, Any] | None = None,
    folder: str | PathLike[str] | None = None,
) -> Path:
    """Write ``stores`` as the recovery file of ``identity`` (atomically); returns its path.

    ``info`` (JSON-able) is kept in the header, e.g. the layer name, the file it came from and
    the dataset's frame table.
    """
    path = recovery_path(identity, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    headers = []
    for i, store in enumerate(stores):
        plain = store_to_plain(store)
        tracks = []
        for j, t in enumerate(plain.pop("tracks")):
            for name in _ARRAYS:
                if t.get(name) is not None:
                    arrays[f"s{i}_t{j}_{name}"] = np.ascontiguousarray(t.pop(name))
                else:
                    t.pop(name, None)
            tracks.append(t)
        plain["tracks"] = tracks
        headers.append(plain)
    header = {
        "format": _FORMAT,
        "version": _VERSION,
        "identity": identity,
        "saved_at": time.time(),
        "pid": os.getpid(),
        **(info or {}),
        "stores": headers,
    }
    arrays["header"] = np.array(json.dumps(header, default=_jsonable))
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as its allow_pickle
    atomic_write_bytes(path, buf.getvalue())
    return path


def read_recovery(path: str | PathLike[str]) -> Recovery:
    """Read a recovery file; :class:`~napari_keyskel.errors.FormatError` if it is not one."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as npz:
            header = json.loads(str(npz["header"]))
            if header.get("format") != _FORMAT:
                raise FormatError("not a keyskel recovery file", p)
            stores = []
            for i, plain in enumerate(header.pop("stores")):
                for j, t in enumerate(plain["tracks"]):
                    for name in _ARRAYS:
                        key = f"s{i}_t{j}_{name}"
                        if key in npz.files:
                            t[name] = npz[key]
                stores.append(store_from_plain(plain))
    except FormatError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"cannot read the recovery file: {type(exc).__name__}: {exc}", p) from exc
    return Recovery(p, stores, header)


def find_recovery(identity: str, folder: str | PathLike[str] | None = None) -> Recovery | None:
    """The readable recovery of ``identity``, if one was left behind."""
    path = recovery_path(identity, folder)
    if not path.exists():
        return None
    try:
        return read_recovery(path)
    except FormatError:
        return None


def discard_recovery(identity: str, folder: str | PathLike[str] | None = None) -> bool:
    """Remove the recovery file of ``identity``; True if there was one."""
    path = recovery_path(identity, folder)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
