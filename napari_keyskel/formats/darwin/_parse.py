"""Parse one V7 Darwin JSON document into flat records (phase 1 of :func:`read_darwin`).

Nothing here knows the skeleton yet: node names become codes into a per-class name table
(first-seen order) and positions stay in file (x, y) order, as flat arrays per annotation.
:mod:`.darwin` then resolves each class's skeleton
and turns the records into store tracks. Every problem raises :class:`FormatError` naming the
file and the place (annotation id, frame, node).

Only ``skeleton`` and ``keypoint`` annotations are modelled; every other annotation is kept
verbatim, and so are the keys of a modelled annotation, frame or node that we do not model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import FormatError
from .._checks import MAX_FRAMES, fits_int64, is_int, is_num, short, warn
from ._extras import DocExtra, parse_ann_extra, parse_doc_extra

__all__ = ["AnnRecord", "ItemRecord", "SlotInfo", "is_darwin_doc", "parse_document"]

_NODE_KEYS = ("name", "x", "y", "occluded")
_get_name, _get_x, _get_y, _get_occ = map(itemgetter, _NODE_KEYS)
_NUM = (int, float)
_NUM_TYPES = frozenset(_NUM)


def is_darwin_doc(obj: Any) -> bool:
    """True for a parsed Darwin JSON 2.x document (or a 1.0 one: ``image`` + ``annotations``)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("annotations"), list):
        return False
    version = obj.get("version")
    if isinstance(version, str) and version.startswith("2") and isinstance(obj.get("item"), dict):
        return True
    return isinstance(obj.get("image"), dict) and "item" not in obj


@dataclass
class SlotInfo:
    """One slot of an item (an image, a video, or a volume whose slices are frames)."""

    name: str
    type: str
    declared: int | None  # frame count the file states, if any
    width: float | None = None
    height: float | None = None
    n_frames: int = 1
    offset: int = 0  # global index of the slot's frame 0
    limit: int = MAX_FRAMES  # no frame index may reach this
    present: np.ndarray | None = None  # the local frames in the frame table, when not all are


@dataclass
class AnnRecord:
    """One skeleton or keypoint annotation, flattened: ``counts[i]`` nodes on ``frames[i]``."""

    cls: str
    kind: str  # "skeleton" | "keypoint"
    slot: int
    where: str
    frames: np.ndarray  # (F,) local frame indices, ascending
    keyframe: np.ndarray  # (F,) bool
    counts: np.ndarray  # (F,) nodes written per frame
    codes: np.ndarray  # (N,) node name codes into the class's name table (0 for a keypoint)
    unique: bool  # True when no frame can name a node twice (checked already)
    x: np.ndarray  # (N,) NaN when the node has no position
    y: np.ndarray
    occluded: np.ndarray  # (N,) bool
    start: int  # block [start, stop) in local frames
    alive: np.ndarray  # (stop - start,) bool
    instance_id: int | None
    meta: dict[str, Any]
    extra: Any = None  # our annotation-level "keyskel" extra (checked), or None

    @property
    def stop(self) -> int:
        """One past the last local frame of the block."""
        return self.start + self.alive.shape[0]


@dataclass
class ItemRecord:
    """One file: its item, slots, the document minus annotations, and the annotation order."""

    key: str  # file name relative to the folder read (identifies the item on write)
    path: Path
    version: int  # 1 or 2
    name: str
    slots: list[SlotInfo]
    template: dict[str, Any]
    entries: list[dict[str, Any]] = field(default_factory=list)
    records: list[AnnRecord] = field(default_factory=list)
    extra: DocExtra | None = None  # our document-level "keyskel" extra
    doc: dict[str, Any] | None = None  # the document itself, when our writer made it (see ._made)


class _Ctx:
    """Error helper bound to one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, message: str, where: str | None = None) -> FormatError:
        return FormatError(message, self.path, where)


_is_int, _is_num = is_int, is_num


def _frame_key(ctx: _Ctx, k: Any, where: str) -> int:
    if not (isinstance(k, str) and k.isascii() and k.isdigit()):
        raise ctx.fail(f"frame key {short(k)} is not a non-negative integer", where)
    if len(k) > 12:
        raise ctx.fail(f"frame key {short(k)} is too large", where)
    return int(k)


def _spans(ctx: _Ctx, raw: Any, what: str, where: str) -> list[tuple[int, int]]:
    if not isinstance(raw, list):
        raise ctx.fail(f"'{what}' must be a list of [start, end] pairs, got {short(raw)}", where)
    out = []
    for s in raw:
        if not (isinstance(s, list) and len(s) == 2 and all(_is_int(v) for v in s) and 0 <= s[0] <= s[1]):
            raise ctx.fail(
                f"'{what}' entry {short(s)} is not a [start, end] pair with 0 <= start <= end", where
            )
        out.append((s[0], s[1]))
    return out


# -- slots ------------------------------------------------------------------------------------
def _parse_slot(ctx: _Ctx, s: Any, k: int) -> SlotInfo:
    where = f"item.slots[{k}]"
    if not isinstance(s, dict):
        raise ctx.fail("a slot must be an object", where)
    name = s.get("slot_name")
    if not isinstance(name, str):
        raise ctx.fail("slot has no 'slot_name' string", where)
    typ = s.get("type")
    if not isinstance(typ, str):
        typ = "video" if ("frame_urls" in s or "frame_count" in s) else "image"
    declared = None
    urls = len(s["frame_urls"]) if isinstance(s.get("frame_urls"), list) else 0
    if _is_int(s.get("frame_count")) and s["frame_count"] >= 0:
        declared = s["frame_count"]
    elif isinstance(s.get("frame_urls"), list):
        declared = urls
    w, h = s.get("width"), s.get("height")
    shape = s.get("metadata", {}).get("shape") if isinstance(s.get("metadata"), dict) else None
    if isinstance(shape, list) and len(shape) >= 4 and all(_is_int(v) for v in shape):
        # dicom volumes: shape is [1, W, H, n] (docs/FORMATS.md §1)
        w = w if _is_num(w) else shape[1]
        h = h if _is_num(h) else shape[2]
        if declared is None and typ == "dicom":
            declared = shape[3]
    if typ == "image":
        declared = 1
    limit = max(MAX_FRAMES, urls)
    if declared is not None and declared > limit:  # a number alone does not make frames
        warn(
            f"slot {short(name)} states {declared} frames, more than the {limit} a reader makes from a "
            f"number alone: the frame table holds the frames annotated (and any frame URLs)",
            ctx.path,
            where,
        )
        declared = urls or None
    info = SlotInfo(name, typ, declared, w if _is_num(w) else None, h if _is_num(h) else None)
    info.limit = limit
    return info


def _item_v2(ctx: _Ctx, doc: dict[str, Any]) -> tuple[str, list[SlotInfo]]:
    item = doc["item"]
    name = item.get("name")
    if not isinstance(name, str):
        raise ctx.fail("item has no 'name' string", "item")
    if "slots" not in item:
        raise ctx.fail("item has no 'slots' list", "item")
    slots_raw = item["slots"]
    if not isinstance(slots_raw, list):
        raise ctx.fail("'slots' must be a list", "item")
    slots = [_parse_slot(ctx, s, k) for k, s in enumerate(slots_raw)]
    names = [s.name for s in slots]
    if len(set(names)) != len(names):
        raise ctx.fail(f"slot names are not unique: {names}", "item.slots")
    return name, slots


def _item_v1(ctx: _Ctx, doc: dict[str, Any]) -> tuple[str, list[SlotInfo]]:
    image = doc["image"]
    name = image.get("filename", image.get("original_filename"))
    if not isinstance(name, str):
        raise ctx.fail("image has no 'filename' string", "image")
    video = (
        "frame_urls" in image
        or "frame_count" in image
        or any(isinstance(a, dict) and "frames" in a for a in doc["annotations"])
    )
    slot = _parse_slot(ctx, {**image, "slot_name": "0", "type": "video" if video else "image"}, 0)
    return name, [slot]


# -- annotations ------------------------------------------------------------------------------
def _kind(ctx: _Ctx, ann: dict[str, Any], where: str) -> str | None:
    """``"skeleton"``, ``"keypoint"`` or ``None`` (kept verbatim); ``frames`` decides, as in darwin-py."""
    if "frames" not in ann:
        return "skeleton" if "skeleton" in ann else "keypoint" if "keypoint" in ann else None
    frames = ann["frames"]
    if not isinstance(frames, dict):
        raise ctx.fail("'frames' must be an object keyed by frame index", where)
    found = None
    for fr in frames.values():
        if isinstance(fr, dict):
            if "skeleton" in fr:
                return "skeleton"
            if "keypoint" in fr:
                found = "keypoint"
    return found


def _fast_skeleton(frames: dict[str, Any]) -> tuple | None:
    """Vectorised parse of the common case (every node has exactly name/x/y/occluded, no extras).

    Returns ``None`` whenever anything is unusual; the careful per-node path then runs and
    reports errors precisely. Accepts nothing the careful path would reject.
    """
    keys = list(frames)
    joined = "".join(keys)  # every key made of ASCII digits (and none empty)
    if not (joined.isascii() and joined.isdigit()) or "" in frames:
        return None
    frs = list(frames.values())
    try:
        if set(map(len, frs)) != {2}:
            return None
        kf = np.array([fr["keyframe"] for fr in frs])  # dtype bool only if every value is a bool
        sks = [fr["skeleton"] for fr in frs]
        if set(map(type, sks)) != {dict} or set(map(len, sks)) != {1}:
            return None
        lists = [sk["nodes"] for sk in sks]
        if kf.dtype != bool or kf.ndim != 1 or set(map(type, lists)) != {list}:
            return None
        flat = list(chain.from_iterable(lists))
        if not flat:
            return None
        if set(map(len, flat)) != {4}:
            return None
        names = list(map(_get_name, flat))
        xs = list(map(_get_x, flat))
        ys = list(map(_get_y, flat))
        occ = np.array(list(map(_get_occ, flat)))  # dtype bool only if every value is a bool
    except (KeyError, TypeError, ValueError):  # a frame or node not a dict, a missing key, ragged
        return None
    c = len(lists[0])
    if names[:c] * len(lists) == names:  # every frame repeats the first frame's names
        names_ok = set(map(type, names[:c])) == {str}
    else:
        names_ok = set(map(type, names)) == {str}
    if (
        not names_ok
        or occ.dtype != bool
        or occ.ndim != 1
        or not set(map(type, xs)) <= _NUM_TYPES
        or not set(map(type, ys)) <= _NUM_TYPES
    ):
        return None
    try:
        x, y = np.array(xs, float), np.array(ys, float)
    except OverflowError:  # an integer beyond a float: the careful path names it
        return None
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None
    counts = np.fromiter(map(len, lists), np.intp, len(lists))
    return list(map(int, keys)), kf, counts, names, x, y, occ


def _parse_nodes(
    ctx: _Ctx, body: Any, where: str, fkey: str, meta: dict[str, Any]
) -> tuple[list[str], list[float], list[float], list[bool]]:
    if not isinstance(body, dict) or not isinstance(body.get("nodes"), list):
        raise ctx.fail("'skeleton' must be an object with a 'nodes' list", where)
    extra = {k: v for k, v in body.items() if k != "nodes"}
    if extra:
        meta.setdefault("body_extra", {})[fkey] = extra
    names, xs, ys, occ = [], [], [], []
    for j, n in enumerate(body["nodes"]):
        if not isinstance(n, dict):
            raise ctx.fail(f"node {j} must be an object", where)
        name = n.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ctx.fail(f"node {j} has no 'name'", where)
        nw = f"{where}, node {name!r}"
        x, y = n.get("x"), n.get("y")
        if x is None and y is None:
            x = y = math.nan  # never placed: unlabelled
        elif not (_is_num(x) and _is_num(y)):
            raise ctx.fail(f"node position must be two finite numbers, got x={short(x)}, y={short(y)}", nw)
        o = n.get("occluded")
        if o is not None and not isinstance(o, bool):
            raise ctx.fail(f"'occluded' must be true or false, got {short(o)}", nw)
        rest = {k: v for k, v in n.items() if k not in _NODE_KEYS}
        if rest:
            meta.setdefault("node_extra", {}).setdefault(fkey, {})[name] = rest
        names.append(name)
        xs.append(float(x))
        ys.append(float(y))
        occ.append(bool(o))
    return names, xs, ys, occ


def _parse_keypoint(ctx: _Ctx, body: Any, where: str, fkey: str, meta: dict[str, Any]) -> tuple[float, float]:
    if not isinstance(body, dict):
        raise ctx.fail("'keypoint' must be an object with x and y", where)
    x, y = body.get("x"), body.get("y")
    if not (_is_num(x) and _is_num(y)):
        raise ctx.fail(f"keypoint position must be two finite numbers, got x={short(x)}, y={short(y)}", where)
    extra = {k: v for k, v in body.items() if k not in ("x", "y")}
    if extra:
        meta.setdefault("body_extra", {})[fkey] = extra
    return float(x), float(y)


def _parse_frames(ctx: _Ctx, ann: dict[str, Any], kind: str, where: str, meta: dict[str, Any]) -> tuple:
    """Per-frame data of a video/volume annotation (careful path, with extras)."""
    frames = ann["frames"]
    fast = _fast_skeleton(frames) if kind == "skeleton" else None
    if fast is not None:
        return fast
    local, kf, counts, names, xs, ys, occ = [], [], [], [], [], [], []
    for k, fr in frames.items():
        f = _frame_key(ctx, k, where)
        fw, k = f"{where}, frame {k}", str(f)
        if not isinstance(fr, dict):
            raise ctx.fail("a frame must be an object", fw)
        key = fr.get("keyframe", True)
        if not isinstance(key, bool):
            raise ctx.fail(f"'keyframe' must be true or false, got {short(key)}", fw)
        if kind not in fr:
            raise ctx.fail(f"frame has no '{kind}' (every frame of a {kind} annotation needs one)", fw)
        extra = {kk: v for kk, v in fr.items() if kk not in ("keyframe", kind)}
        if extra:
            meta.setdefault("frame_extra", {})[k] = extra
        if kind == "skeleton":
            n, x, y, o = _parse_nodes(ctx, fr[kind], fw, k, meta)
        else:
            xy = _parse_keypoint(ctx, fr[kind], fw, k, meta)
            n, x, y, o = [""], [xy[0]], [xy[1]], [False]
        local.append(f)
        kf.append(key)
        counts.append(len(n))
        names += n
        xs += x
        ys += y
        occ += o
    return (
        local,
        np.array(kf, bool),
        np.array(counts, np.intp),
        names,
        np.array(xs),
        np.array(ys),
        np.array(occ, bool),
    )


def _instance_id(ann: dict[str, Any], meta: dict[str, Any], n_frames: int) -> int | None:
    """``instance_id.value`` of the annotation, or the one every frame states (frame extras)."""

    def value(d: Any) -> int | None:
        v = d.get("value") if isinstance(d, dict) else None
        return v if _is_int(v) and fits_int64(v) else None

    if "instance_id" in ann:
        return value(ann["instance_id"])
    extras = meta.get("frame_extra", {})
    if "frames" in ann and len(extras) == n_frames:
        vals = {value(fx.get("instance_id")) for fx in extras.values()}
        if len(vals) == 1:
            return vals.pop()
    return None


def _encode(names: list[str], counts: np.ndarray, table: dict[str, int]) -> tuple[np.ndarray, bool]:
    """Node names -> codes in ``table`` (extended with new names); quick when frames repeat."""
    n_fr = counts.size
    c = int(counts[0]) if n_fr else 0
    if c and (counts == c).all() and names == names[:c] * n_fr:
        first = [table.setdefault(n, len(table)) for n in names[:c]]
        return np.tile(np.asarray(first, np.intp), n_fr), len(set(first)) == c
    codes = np.fromiter((table.setdefault(n, len(table)) for n in names), np.intp, len(names))
    return codes, False


def _parse_annotation(
    ctx: _Ctx,
    item: ItemRecord,
    ann: dict[str, Any],
    kind: str,
    where: str,
    ref: str,
    tables: dict[str, dict[str, int]],
) -> AnnRecord:
    cls = ann.get("name")
    if not isinstance(cls, str) or not cls:
        raise ctx.fail("annotation has no class 'name'", where)
    slot = _bind_slot(ctx, item, ann, where)
    image = "frames" not in ann
    rkey = None if image else "ranges" if "ranges" in ann else "segments" if "segments" in ann else None
    modelled = {"name", kind, "keyskel"} if image else {"name", "frames", rkey, "keyskel"}  # rebuilt on write
    meta: dict[str, Any] = {
        "ref": ref,
        "file": item.key,
        "kind": kind,
        "image": image,
        "slot": item.slots[slot].name,
        "keys": list(ann),
        "extra": {k: v for k, v in ann.items() if k not in modelled},
    }
    ranges = hidden = None
    if not image:
        local, kf, counts, names, x, y, occ = _parse_frames(ctx, ann, kind, where, meta)
        if not local:
            raise ctx.fail("'frames' is empty", where)
        if rkey is not None:
            ranges = _spans(ctx, ann[rkey], rkey, where)
            meta["ranges_key"], meta["ranges"] = rkey, ann[rkey]
        if "hidden_areas" in ann:
            hidden = _spans(ctx, ann["hidden_areas"], "hidden_areas", where)
    else:
        fw = f"{where}, {kind}"
        if kind == "skeleton":
            names, xs, ys, oc = _parse_nodes(ctx, ann["skeleton"], fw, "0", meta)
        else:
            xy = _parse_keypoint(ctx, ann["keypoint"], fw, "0", meta)
            names, xs, ys, oc = [""], [xy[0]], [xy[1]], [False]
        local, kf, counts = [0], np.ones(1, bool), np.array([len(names)], np.intp)
        x, y, occ = np.array(xs, float), np.array(ys, float), np.array(oc, bool)
    limit = item.slots[slot].limit
    if max(local) >= limit:
        raise ctx.fail(f"frame {max(local)} is past the {limit} frames a slot can have here", where)
    for spans, what in ((ranges, "ranges"), (hidden, "hidden_areas")):
        if spans and max(b for _, b in spans) > limit:
            raise ctx.fail(f"'{what}' run past the {limit} frames a slot can have here", where)
    frames = np.asarray(local, np.int64)
    if frames.size > 1 and not (np.diff(frames) > 0).all():
        if np.unique(frames).size != frames.size:
            raise ctx.fail("'frames' names the same frame twice", where)
        frames, kf, counts, names, x, y, occ = _sort_frames(frames, kf, counts, names, x, y, occ)
    if kind == "keypoint":
        codes, unique = np.zeros(x.size, np.intp), True
    else:
        codes, unique = _encode(names, counts, tables.setdefault(cls, {}))
    meta["frames_read"] = frames.tolist()
    owner = np.repeat(np.arange(frames.size), counts)
    empty = np.bincount(owner[np.isfinite(x)], minlength=frames.size) == 0
    if empty.any():
        meta["empty_keyframes"] = {str(f): bool(k) for f, k in zip(frames[empty], kf[empty])}
    start, _, alive = _alive(frames, ranges, hidden)
    iid = _instance_id(ann, meta, frames.size)
    extra = parse_ann_extra(ctx, ann["keyskel"], meta["frames_read"], where) if "keyskel" in ann else None
    return AnnRecord(
        cls, kind, slot, where, frames, kf, counts, codes, unique, x, y, occ,
        start, alive, iid, meta, extra,
    )  # fmt: skip


def _starts(counts: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.intp)


def _sort_frames(frames, kf, counts, names, x, y, occ):
    order = np.argsort(frames, kind="stable")
    starts = _starts(counts)
    idx = np.concatenate([np.arange(starts[i], starts[i] + counts[i]) for i in order]).astype(np.intp)
    names_s = None if names is None else [names[i] for i in idx]
    return frames[order], kf[order], counts[order], names_s, x[idx], y[idx], occ[idx]


def _alive(
    frames: np.ndarray, ranges: list[tuple[int, int]] | None, hidden: list[tuple[int, int]] | None
) -> tuple[int, int, np.ndarray]:
    spans = ranges if ranges is not None else [(int(frames[0]), int(frames[-1]) + 1)]
    spans = [s for s in spans if s[1] > s[0]]
    start = min([int(frames[0]), *(s[0] for s in spans)])
    stop = max([int(frames[-1]) + 1, *(s[1] for s in spans)])
    alive = np.zeros(stop - start, bool)
    for a, b in spans:
        alive[a - start : b - start] = True
    for a, b in hidden or ():
        alive[max(a, start) - start : max(min(b, stop), start) - start] = False
    return start, stop, alive


def _bind_slot(ctx: _Ctx, item: ItemRecord, ann: dict[str, Any], where: str) -> int:
    if not item.slots:
        raise ctx.fail("the item has no slots to hold this annotation", where)
    names = ann.get("slot_names")
    if names is None or names == []:
        return 0
    if not isinstance(names, list) or not isinstance(names[0], str):
        raise ctx.fail(f"'slot_names' must be a list of slot names, got {short(names)}", where)
    for k, s in enumerate(item.slots):
        if s.name == names[0]:
            return k
    raise ctx.fail(f"unknown slot {short(names[0])} (the item has {[s.name for s in item.slots]})", where)


def parse_document(doc: Any, path: Path, key: str, tables: dict[str, dict[str, int]]) -> ItemRecord:
    """Parse one Darwin document read from ``path`` (``key``: its name relative to the folder).

    ``tables`` maps each class to its node-name table (name -> code), shared by all files read.
    """
    ctx = _Ctx(path)
    if not is_darwin_doc(doc):
        raise ctx.fail(
            "not a V7 Darwin JSON file (expected 'version' 2.x with 'item' and an 'annotations' list)"
        )
    version = 2 if "item" in doc else 1
    name, slots = _item_v2(ctx, doc) if version == 2 else _item_v1(ctx, doc)
    template = {k: (None if k in ("annotations", "keyskel") else v) for k, v in doc.items()}
    item = ItemRecord(key, path, version, name, slots, template)
    if "keyskel" in doc:
        item.extra = parse_doc_extra(ctx, doc["keyskel"], slots)
        if item.extra.made is not None:
            item.doc = doc
    seen: set[str] = set()
    for i, ann in enumerate(doc["annotations"]):
        if not isinstance(ann, dict):
            raise ctx.fail("an annotation must be an object", f"annotations[{i}]")
        aid = ann.get("id")
        where = f"annotation {aid[:80]}" if isinstance(aid, str) else f"annotations[{i}]"
        if isinstance(aid, str):
            if aid in seen:
                raise ctx.fail("duplicate annotation id", where)
            seen.add(aid)
        kind = _kind(ctx, ann, where)
        if kind is None:
            item.entries.append({"raw": ann})
            continue
        if "id" in ann and not isinstance(aid, str):
            raise ctx.fail(f"annotation 'id' must be a string, got {short(aid)}", where)
        ref = aid if isinstance(aid, str) else f"#{i}"
        item.records.append(_parse_annotation(ctx, item, ann, kind, where, ref, tables))
        item.entries.append({"ref": ref})
    return item
