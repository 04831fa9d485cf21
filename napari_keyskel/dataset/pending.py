"""Pending proposals of a dataset's items: a model's poses kept beside the dataset until accepted.

A model run over the items of a dataset (:mod:`napari_keyskel.assist.models.over_items`) keeps
each item's poses as *pending proposals*: one file per item, written atomically under

    ``<dataset folder>/.keyskel/proposals/`` (a dataset opened from a folder), or
    ``<folder of the file>/.keyskel/proposals/<file name>/`` (a COCO ``.json`` or a SLEAP ``.slp``),

named after the item's key (its characters outside ``[A-Za-z0-9._-]`` made ``_``, and a short
hash of the key so that two keys never share a file): ``clip0.mp4-1a2b3c4d.pending``. The file is
our own JSON (not named ``.json``, so that a V7 export folder, whose every ``.json`` is an item,
never reads it as one) (``"format": "keyskel-pending"``, ``"version": 1``): the item's key and name, the
model, when, and one store per annotation set, each as :func:`~napari_keyskel.core.plain.store_to_plain`
gives it with NaN written ``null``. Frames are the item's media frames (the frames of its layer
in the viewer, 0 the first frame shown). Scores are kept per node.

:func:`write_pending`, :func:`read_pending`, :func:`clear_pending` and
:func:`items_with_pending`; an empty store (every proposal accepted or rejected) clears the
file. A pending file that cannot be read is refused naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core._atomic import atomic_write_bytes
from ..core.plain import store_from_plain, store_to_plain
from ..core.store import AnnotationStore
from ..errors import KeyskelError

if TYPE_CHECKING:
    from .model import Dataset, Item

__all__ = [
    "PENDING_FORMAT",
    "clear_pending",
    "items_with_pending",
    "pending_folder",
    "pending_path",
    "read_pending",
    "read_pending_stores",
    "write_pending",
]

PENDING_FORMAT = "keyskel-pending"
_VERSION = 1
#: The pending files' suffix.
SUFFIX = ".pending"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def pending_folder(dataset: Dataset) -> Path:
    """Where the dataset's pending proposals are kept (see the module docstring)."""
    root = Path(dataset.root)
    if root.is_dir():
        return root / ".keyskel" / "proposals"
    return root.parent / ".keyskel" / "proposals" / root.name


def _key(item: Item | str) -> str:
    return item if isinstance(item, str) else item.key


def pending_path(dataset: Dataset, item: Item | str) -> Path:
    """The pending file of an item (given by itself or its key)."""
    key = _key(item)
    stem = _UNSAFE.sub("_", key).strip("._")[-80:] or "item"
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    return pending_folder(dataset) / f"{stem}-{digest}{SUFFIX}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            obj = value.astype(object)
            obj[np.isnan(value)] = None
            return obj.tolist()
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _nan(raw: Any) -> Any:
    """``null`` back to NaN in a plain track's coordinates and scores."""
    if raw is None:
        return raw
    return np.array(raw, dtype=float)


def write_pending(
    dataset: Dataset,
    item: Item | str,
    stores: AnnotationStore | Sequence[AnnotationStore],
    model: str | None = None,
) -> Path | None:
    """Keep ``stores`` as the item's pending proposals (atomically); an empty one clears the file.

    Returns the file written, or None when there was nothing to keep.
    """
    from .status import now

    if isinstance(stores, AnnotationStore):
        stores = [stores]
    kept = [s for s in stores if len(s) and any(np.isfinite(t.coords[..., 0]).any() for t in s)]
    if not kept:
        clear_pending(dataset, item)
        return None
    it = dataset[dataset.index(item if isinstance(item, str) else item.key)]
    doc = {
        "format": PENDING_FORMAT,
        "version": _VERSION,
        "item": it.key,
        "name": it.name,
        "model": model,
        "when": now(),
        "stores": [_jsonable(store_to_plain(s)) for s in kept],
    }
    path = pending_path(dataset, it)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, json.dumps(doc, allow_nan=False).encode("utf-8"))


def read_pending_stores(dataset: Dataset, item: Item | str) -> list[AnnotationStore]:
    """Every pending store of the item (one per annotation set); empty if it has none."""
    path = pending_path(dataset, item)
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise KeyskelError(f"{path}: cannot read the pending proposals ({exc})") from None
    if (
        not isinstance(doc, dict)
        or doc.get("format") != PENDING_FORMAT
        or not isinstance(doc.get("stores"), list)
    ):
        raise KeyskelError(f"{path}: not a keyskel pending proposals file")
    if doc.get("item") != _key(item):
        raise KeyskelError(f"{path}: holds the proposals of item {doc.get('item')!r}, not {_key(item)!r}")
    out = []
    for i, raw in enumerate(doc["stores"]):
        try:
            for t in raw["tracks"]:
                t["coords"], t["score"] = _nan(t["coords"]), _nan(t.get("score"))
            out.append(store_from_plain(raw))
        except (KeyError, TypeError, ValueError, KeyskelError) as exc:
            raise KeyskelError(f"{path}: store {i} cannot be read ({exc})") from None
    return out


def read_pending(dataset: Dataset, item: Item | str, name: str | None = None) -> AnnotationStore | None:
    """The item's pending proposals (the store named ``name``, else the first), or None."""
    stores = read_pending_stores(dataset, item)
    if name is not None:
        stores = [s for s in stores if s.name == name]
    return stores[0] if stores else None


def clear_pending(dataset: Dataset, item: Item | str, name: str | None = None) -> None:
    """Forget the item's pending proposals (only the store named ``name`` when given)."""
    path = pending_path(dataset, item)
    if name is not None:
        rest = [s for s in read_pending_stores(dataset, item) if s.name != name]
        if rest:
            write_pending(dataset, item, rest)
            return
    path.unlink(missing_ok=True)


def items_with_pending(dataset: Dataset) -> list[Item]:
    """The items that have pending proposals, in dataset order."""
    folder = pending_folder(dataset)
    if not folder.is_dir():
        return []
    names = {p.name for p in folder.glob(f"*{SUFFIX}")}
    return [it for it in dataset if pending_path(dataset, it).name in names]
