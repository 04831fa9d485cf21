"""V7 Darwin JSON 2.0 reader and writer (FORMATS.md §1, §3).

Mapping to the model (shared with the COCO module):

- one :class:`AnnotationStore` per class (annotation ``name``) holding ``skeleton`` annotations;
  a ``keypoint`` class becomes a store whose skeleton has one node named after the class;
- ``Dataset.frames`` has one entry per global frame: ``item``, ``slot``, ``frame`` (index inside
  the slot), ``width``/``height`` when known, ``slot_type`` and ``darwin_file`` (the file the item
  came from). Slots and items (files of a folder) are concatenated in order; an image slot is one
  frame, a video or dicom slot (a volume: slices are frames) as many as it has;
- one track per annotation; the track id is ``instance_id.value`` when that is unique in the
  class, else a fresh id; keyframe flags -> ``is_key``; ``ranges`` minus ``hidden_areas`` ->
  ``alive``; ``occluded`` -> visibility 1, else 2; a node without a position is unlabelled;
- Darwin (x, y) measure from the image corner: ``x = col + 0.5`` (see ``_coords.py``);
- everything else (other annotation types, unknown keys at every level) is kept in ``meta["darwin"]``
  of the dataset, store and tracks, and written back in place.

Edges are not stored in Darwin files: a skeleton comes from the ``skeleton`` argument, a
``<class>.skeleton.json`` beside the data, a preset matching the node names, or (last) the node
names seen in the file, without edges. :func:`write_darwin` writes the skeleton files beside its
output so a round trip keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ...dataset import Dataset
from ...errors import FormatError, KeyskelError
from ...presets import match_preset
from ...skeleton import SKELETON_FILE_SUFFIX, Skeleton
from ...store import AnnotationStore, Track
from .._coords import DARWIN_OFFSET, from_file_xy
from .._jsonio import gc_paused, load_json
from ._parse import AnnRecord, ItemRecord, is_darwin_doc, parse_document
from ._write import safe_name, write_darwin

__all__ = ["looks_like_darwin", "read_darwin", "write_darwin"]

SkeletonArg = Skeleton | Mapping[str, Skeleton] | str | PathLike | None


def looks_like_darwin(obj: Any) -> bool:
    """True if parsed JSON ``obj`` is a V7 Darwin 2.x document (or a Darwin 1.0 one)."""
    return is_darwin_doc(obj)


# -- files ------------------------------------------------------------------------------------
def _darwin_files(folder: Path) -> list[Path]:
    """The JSON files of a folder to read as Darwin items (``.v7/`` and skeleton files skipped)."""
    out = []
    for p in sorted(folder.rglob("*.json")):
        rel = p.relative_to(folder)
        if ".v7" in rel.parts[:-1] or p.name.endswith(SKELETON_FILE_SUFFIX) or not p.is_file():
            continue
        out.append(p)
    return out


def _load_items(path: Path, tables: dict[str, dict[str, int]]) -> tuple[list[ItemRecord], list[Path]]:
    if path.is_dir():
        files = _darwin_files(path)
        if not files:
            raise FormatError("the folder holds no Darwin JSON files", path)
        keys = [f.relative_to(path).as_posix() for f in files]
        dirs = [path, *sorted({f.parent for f in files} - {path})]
    elif path.is_file():
        files, keys, dirs = [path], [path.name], [path.parent]
    else:
        raise FormatError("no such file or folder", path)
    items = []
    for f, key in zip(files, keys):
        items.append(parse_document(load_json(f), f, key, tables))
    return items, dirs


# -- skeletons ----------------------------------------------------------------------------------
class _SkeletonFiles:
    """``*.skeleton.json`` files beside the data, matched to classes by file name, then by name."""

    def __init__(self, dirs: list[Path]) -> None:
        self.paths = [p for d in dirs for p in sorted(d.glob("*" + SKELETON_FILE_SUFFIX)) if p.is_file()]
        self._loaded: dict[Path, Skeleton] = {}

    def _load(self, p: Path) -> Skeleton:
        if p not in self._loaded:
            self._loaded[p] = _load_skeleton(p)
        return self._loaded[p]

    def find(self, cls: str) -> Skeleton | None:
        for p in self.paths:
            if p.name[: -len(SKELETON_FILE_SUFFIX)] in (cls, safe_name(cls)):
                return self._load(p)
        for p in self.paths:
            if self._load(p).name == cls:
                return self._loaded[p]
        return None


def _load_skeleton(p: Path) -> Skeleton:
    try:
        return Skeleton.load(p)
    except (KeyskelError, ValueError, OSError) as exc:
        raise FormatError(f"cannot read skeleton file: {exc}", p) from None


def _locate(it: ItemRecord, r: AnnRecord, j: int) -> str:
    """``annotation …, frame …`` of the ``j``-th node of a record."""
    return f"{r.where}, frame {int(r.frames[np.searchsorted(np.cumsum(r.counts), j, side='right')])}"


def _names_in_order(cls: str, recs: list[tuple[ItemRecord, AnnRecord]], table: dict[str, int]) -> list[str]:
    for n, code in table.items():
        if not n.strip():
            it, r = next((it, r) for it, r in recs if (r.codes == code).any())
            where = _locate(it, r, int(np.argmax(r.codes == code)))
            raise FormatError(f"a node of class {cls!r} has an empty name {n!r}", it.path, where)
    return list(table)


def _resolve_skeleton(
    cls: str,
    kind: str,
    recs: list[tuple[ItemRecord, AnnRecord]],
    arg: Any,
    files: _SkeletonFiles,
    table: dict[str, int],
) -> Skeleton:
    sk = None
    if isinstance(arg, Skeleton):
        sk = arg if kind == "skeleton" or arg.n_nodes == 1 else None
    elif isinstance(arg, Mapping):
        sk = arg.get(cls)
        if sk is not None and not isinstance(sk, Skeleton):
            raise FormatError(f"skeleton given for class {cls!r} is not a Skeleton: {sk!r}")
    if sk is None:
        sk = files.find(cls)
    if sk is None and kind == "keypoint":
        sk = Skeleton([cls], name=cls)
    if sk is None:
        names = _names_in_order(cls, recs, table)
        if not names:
            it, r = recs[0]
            raise FormatError(f"class {cls!r} has no named nodes; give its skeleton", it.path, r.where)
        sk = match_preset(names) or Skeleton(names, name=cls)
    if kind == "keypoint" and sk.n_nodes != 1:
        it, r = recs[0]
        raise FormatError(
            f"class {cls!r} holds keypoints but its skeleton has {sk.n_nodes} nodes (needs 1)",
            it.path,
            r.where,
        )
    return sk


# -- records -> tracks --------------------------------------------------------------------------
def _node_indices(
    sk: Skeleton, it: ItemRecord, r: AnnRecord, lut: np.ndarray, names: list[str]
) -> np.ndarray:
    """Skeleton index of every node of a record (``lut``: name code -> node index or -1)."""
    idx = lut[r.codes]
    bad = np.flatnonzero(idx < 0)
    if bad.size:
        name = names[r.codes[bad[0]]]
        raise FormatError(
            f"node {name!r} is not in the skeleton of class {r.cls!r} (nodes: {list(sk.nodes)})",
            it.path,
            f"{_locate(it, r, int(bad[0]))}, node {name!r}",
        )
    return idx


def _make_track(
    sk: Skeleton, it: ItemRecord, r: AnnRecord, tid: int, offset: int, lut: np.ndarray, names: list[str]
) -> Track:
    k = sk.n_nodes
    idx = _node_indices(sk, it, r, lut, names)
    rows = np.repeat(r.frames - r.start, r.counts)
    flat = rows * k + idx
    if not r.unique and np.unique(flat).size != flat.size:
        _, first, cnt = np.unique(flat, return_index=True, return_counts=True)
        j = first[np.argmax(cnt > 1)]
        raise FormatError(
            f"node {sk.nodes[idx[j]]!r} is given twice on one frame",
            it.path,
            f"{r.where}, frame {r.start + int(rows[j])}, node {sk.nodes[idx[j]]!r}",
        )
    length = r.alive.shape[0]
    coords = np.full((length, k, 2), np.nan)
    vis = np.zeros((length, k), np.int8)
    key = np.zeros((length, k), bool)
    lab = np.isfinite(r.x)
    rl, il = rows[lab], idx[lab]
    coords[rl, il] = from_file_xy(np.stack([r.x[lab], r.y[lab]], axis=-1), DARWIN_OFFSET)
    vis[rl, il] = np.where(r.occluded[lab], 1, 2)
    key[rl, il] = np.repeat(r.keyframe, r.counts)[lab]
    return Track(
        tid, f"instance {tid}", offset + r.start, coords, vis, key, r.alive.copy(), {"darwin": r.meta}
    )


def _track_ids(recs: list[tuple[ItemRecord, AnnRecord]]) -> list[int]:
    ids = [r.instance_id for _, r in recs]
    counts: dict[int, int] = {}
    for v in ids:
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    used = {v for v, c in counts.items() if c == 1}
    nxt = max(used, default=0) + 1
    out = []
    for v in ids:
        if v is not None and v in used:
            out.append(v)
        else:
            while nxt in used:
                nxt += 1
            out.append(nxt)
            nxt += 1
    return out


def read_darwin(path: str | PathLike[str], skeleton: SkeletonArg = None) -> Dataset:
    """Read a V7 Darwin JSON file, or a folder of them (one file per item), as one dataset.

    Parameters
    ----------
    path
        A Darwin JSON file, or a folder of them (read recursively; ``.v7/`` metadata and
        ``*.skeleton.json`` files are skipped, any other JSON must be Darwin).
    skeleton
        The skeleton of every skeleton class, a ``{class name: Skeleton}`` mapping, or a skeleton
        file. Classes it does not cover use a ``<class>.skeleton.json`` beside the data, then a
        preset with the same node names, then the node names found in the file (no edges).

    Returns
    -------
    Dataset
        One store per skeleton / keypoint class; other annotations kept in ``meta["darwin"]``.

    Raises
    ------
    FormatError
        For any problem with the input; the message names the file and the place in it.

    """
    path = Path(path)
    if isinstance(skeleton, (str, PathLike)):
        skeleton = _load_skeleton(Path(skeleton))
    with gc_paused():
        tables: dict[str, dict[str, int]] = {}
        items, dirs = _load_items(path, tables)
        files = _SkeletonFiles(dirs)

        frames: list[dict[str, Any]] = []
        for it in items:
            need: dict[int, int] = {}
            for r in it.records:
                need[r.slot] = max(need.get(r.slot, 0), r.stop)
            for k, s in enumerate(it.slots):
                s.n_frames = max(s.declared or 0, need.get(k, 0), 1)
                s.offset = len(frames)
                base = {"item": it.name, "slot": s.name, "frame": 0}
                if s.width is not None:
                    base["width"] = s.width
                if s.height is not None:
                    base["height"] = s.height
                base.update(slot_type=s.type, darwin_file=it.key)
                for f in range(s.n_frames):
                    d = base.copy()
                    d["frame"] = f
                    frames.append(d)

        classes: dict[str, list[tuple[ItemRecord, AnnRecord]]] = {}
        for it in items:
            for r in it.records:
                recs = classes.setdefault(r.cls, [])
                if recs and recs[0][1].kind != r.kind:
                    raise FormatError(
                        f"class {r.cls!r} holds both {recs[0][1].kind} and {r.kind} annotations",
                        it.path,
                        r.where,
                    )
                recs.append((it, r))

        stores = []
        for cls, recs in classes.items():
            kind = recs[0][1].kind
            table = tables.get(cls, {})
            sk = _resolve_skeleton(cls, kind, recs, skeleton, files, table)
            names = list(table)
            lut = np.array([sk._index.get(n, -1) for n in names] if kind == "skeleton" else [0], np.intp)
            store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=max(len(frames), 1), name=cls)
            store.meta["darwin"] = {"kind": kind}
            for (it, r), tid in zip(recs, _track_ids(recs)):
                store.tracks[tid] = _make_track(sk, it, r, tid, it.slots[r.slot].offset, lut, names)
            stores.append(store)

    meta_items = [
        {
            "key": it.key,
            "version": it.version,
            "name": it.name,
            "slots": [s.name for s in it.slots],
            "template": it.template,
            "entries": it.entries,
        }
        for it in items
    ]
    return Dataset(stores=stores, frames=frames, meta={"darwin": {"items": meta_items}}, source=str(path))
