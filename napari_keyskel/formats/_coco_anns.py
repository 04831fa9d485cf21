"""COCO annotations -> store tracks, on whole arrays (part of the reader; see :mod:`.coco`).

Annotations are checked column by column (ids, image and category references) with list
comprehensions; the keypoints of a category become one ``(N, K, 3)`` array that is validated,
sorted by (track, frame) and sliced into track blocks. Only annotations carrying keys beyond the
plain COCO set (``attributes``, ``segmentation``, ``score``, ``keyskel``...) take a slower
per-annotation path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..store import AnnotationStore, Track
from ._coco_common import Ctx, derived, is_id, is_int, where
from ._coords import COCO_OFFSET, from_file_xy

__all__ = ["Cat", "build_tracks", "carried", "sort_annotations"]

#: Keys of a plain ground-truth annotation (anything else takes the per-annotation path).
_PLAIN_GT = frozenset(
    {"id", "image_id", "category_id", "keypoints", "num_keypoints", "bbox", "area", "iscrowd", "track_id"}
)
_PLAIN_RES = frozenset({"image_id", "category_id", "keypoints", "score"})
#: Annotation keys rebuilt from the store on write (never kept as extras).
#: Annotation fields written from ``orig`` (or left out, if the file had none) while unchanged.
_DERIVED = ("num_keypoints", "bbox", "area", "iscrowd")
_REBUILT = frozenset({"image_id", "category_id", "keypoints", "num_keypoints", "bbox", "area", "keyskel"})


class Cat:
    """A category with keypoints and the store its annotations go to."""

    def __init__(self, cid: Any, store: AnnotationStore) -> None:
        self.cid = cid
        self.store = store
        self.k = store.n_nodes


def carried(rec: Any) -> dict[str, Any]:
    """Meta of other formats carried in our ``{"meta": {...}}`` record (not its ``coco`` part)."""
    src = rec.get("meta") if isinstance(rec, dict) else None
    return {k: v for k, v in src.items() if k != "coco"} if isinstance(src, dict) else {}


def _lookup(
    ctx: Ctx, anns: list[Any], values: list[Any], index: dict[Any, int], field: str, what: str
) -> list[int]:
    """``index[v]`` for every value; a bad or missing reference names its annotation."""
    if all(type(v) is int or type(v) is str for v in values):
        try:
            return [index[v] for v in values]
        except KeyError:
            pass
    for i, v in enumerate(values):
        if not is_id(v) or v not in index:
            raise ctx.fail(f"refers to {what} id {v!r}, which is not in '{what}s'", where(anns, i, field))
    raise ctx.fail(f"bad '{field}'")  # pragma: no cover - the loop above finds it


def sort_annotations(
    ctx: Ctx, anns: list[Any], cats: dict[Any, Cat | None], img_index: dict[Any, int]
) -> tuple[list[Any], np.ndarray, dict[Any, np.ndarray]]:
    """Check ids and references; return the unmodelled annotations, frames, and rows per category."""
    if not all(type(a) is dict for a in anns):
        i = next(i for i, a in enumerate(anns) if not isinstance(a, dict))
        raise ctx.fail("an annotation must be an object", f"annotations[{i}]")
    ids = [a.get("id") for a in anns]
    if not all(type(x) is int for x in ids):
        for i, x in enumerate(ids):
            if x is not None and not is_id(x):
                raise ctx.fail(f"'id' must be an integer or a string, got {x!r}", f"annotations[{i}]")
    present = [x for x in ids if x is not None]
    if len(set(present)) != len(present):
        seen: set[Any] = set()
        for x in present:
            if x in seen:
                raise ctx.fail("duplicate annotation id", f"annotation id {x!r}")
            seen.add(x)
    frame = _lookup(ctx, anns, [a.get("image_id") for a in anns], img_index, "image_id", "image")
    cpos = {cid: j for j, cid in enumerate(cats)}
    cp = np.asarray(
        _lookup(ctx, anns, [a.get("category_id") for a in anns], cpos, "category_id", "category"), np.intp
    )
    has_kp = np.asarray(["keypoints" in a for a in anns], bool)
    is_kp_cat = np.asarray([c is not None for c in cats.values()], bool)
    modelled = is_kp_cat[cp] & has_kp if len(anns) else np.zeros(0, bool)
    other = [anns[i] for i in np.flatnonzero(~modelled).tolist()]
    rows = {
        cid: np.flatnonzero(modelled & (cp == j)) for j, (cid, c) in enumerate(cats.items()) if c is not None
    }
    return other, np.asarray(frame, np.int64), rows


def _keypoint_array(ctx: Ctx, anns: list[Any], rows: list[int], sub: list[dict], k: int) -> np.ndarray:
    """``(N, K, 3)`` float array of the annotations' keypoints, every value checked."""
    n3 = 3 * k
    kps = [a["keypoints"] for a in sub]
    if not all(type(kp) is list and len(kp) == n3 for kp in kps):
        for i, kp in zip(rows, kps):
            if type(kp) is not list or len(kp) != n3:
                got = f"{len(kp)} numbers" if isinstance(kp, list) else f"a {type(kp).__name__}"
                raise ctx.fail(
                    f"expected a list of 3*{k} = {n3} numbers, got {got}", where(anns, i, "keypoints")
                )
    if not kps:
        return np.zeros((0, k, 3))
    try:
        arr = np.array(kps)
        ok = arr.dtype.kind in "iuf" and arr.shape == (len(kps), n3)
    except (ValueError, TypeError, OverflowError):
        ok = False
    if not ok:  # name the first bad value, or convert huge integers to float
        for i, kp in zip(rows, kps):
            for j, v in enumerate(kp):
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    raise ctx.fail(f"value {j} is {v!r}, not a number", where(anns, i, "keypoints"))
                if isinstance(v, int) and abs(v) >= 2**1023:
                    raise ctx.fail(f"value {j} is too large", where(anns, i, "keypoints"))
        arr = np.array(kps, dtype=np.float64)
    arr = arr.astype(np.float64, copy=False).reshape(len(kps), k, 3)
    bad_xy = ~np.isfinite(arr[..., :2]).all(axis=-1)
    bad_v = ~np.isin(arr[..., 2], (0.0, 1.0, 2.0))
    for bad, what in ((bad_xy, "coordinate is not a finite number"), (bad_v, "visibility must be 0, 1 or 2")):
        if bad.any():
            r, node = np.argwhere(bad)[0]
            got = arr[r, node, 2] if bad is bad_v else arr[r, node, :2].tolist()
            raise ctx.fail(f"node {node}: {what} (got {got})", where(anns, rows[r], "keypoints"))
    return arr


def _eq(values: list[Any], ours: np.ndarray) -> np.ndarray:
    """Row-wise ``values == ours`` (numbers or lists of numbers), for any junk in ``values``."""
    try:
        v = np.array(values)
        if v.dtype.kind in "iuf" and v.shape == ours.shape:
            out = v == ours
            return out if out.ndim == 1 else out.all(axis=1)
    except (ValueError, TypeError, OverflowError):
        pass
    return np.asarray([type(x) is not bool and x == y for x, y in zip(values, ours.tolist())], bool)


def _track_key(ctx: Ctx, a: dict[str, Any], place: str) -> tuple[Any, list[str]]:
    """Track id of an annotation and the fields it came from (``track_id``, ``object_id``...)."""
    key, fields = a.get("track_id"), []
    if key is not None:
        fields.append("track_id")
    at = a.get("attributes")
    if isinstance(at, dict) and at.get("object_id") is not None:
        if key is None:
            key = at["object_id"]
        if at["object_id"] == key:
            fields.append("object_id")
    if key is None and a.get("instance_id") is not None:
        key = a["instance_id"]
        fields.append("instance_id")
    if key is not None and not is_id(key):
        raise ctx.fail(f"track id {key!r} must be an integer or a string", f"{place}, field '{fields[0]}'")
    return key, fields


def _extras(a: dict[str, Any], fields: list[str], results: bool) -> dict[str, Any]:
    """The annotation keys the store does not model (kept for the round trip)."""
    ext = {k: v for k, v in a.items() if k not in _REBUILT}
    for f in fields:
        if f != "object_id":
            del ext[f]
            continue
        at = {k: v for k, v in ext["attributes"].items() if k != "object_id"}
        if at:
            ext["attributes"] = at
        else:
            del ext["attributes"]
    if not results and type(ext.get("iscrowd")) is int and ext["iscrowd"] == 0:
        del ext["iscrowd"]
    ks = a.get("keyskel")
    if isinstance(ks, dict):
        rest = {k: v for k, v in ks.items() if k not in ("keyframe", "track")}
        if rest:
            ext["keyskel"] = rest
    return ext


def _keyflags(ctx: Ctx, ks: Any, k: int, place: str) -> np.ndarray | None:
    """Per-node key flags from our ``"keyskel": {"keyframe": [0/1 per node]}`` extra."""
    if not isinstance(ks, dict):
        raise ctx.fail("must be an object", f"{place}, field 'keyskel'")
    kf = ks.get("keyframe")
    if kf is None:
        return None
    if not (
        isinstance(kf, list) and len(kf) == k and all(type(v) in (int, bool) and v in (0, 1) for v in kf)
    ):
        raise ctx.fail(f"'keyframe' must be a list of {k} flags 0/1", f"{place}, field 'keyskel'")
    return np.asarray(kf, bool)


def build_tracks(
    ctx: Ctx, anns: list[Any], cat: Cat, rows_arr: np.ndarray, frame_of: np.ndarray, results: bool
) -> None:
    """Turn one category's annotations (``rows_arr`` of ``anns``) into tracks of its store."""
    k, store = cat.k, cat.store
    rows = rows_arr.tolist()
    n = len(rows)
    sub = [anns[i] for i in rows]
    arr = _keypoint_array(ctx, anns, rows, sub, k)
    nk, box, area, junk = derived(arr)
    pk = _PLAIN_RES if results else _PLAIN_GT
    plain = [a.keys() <= pk and type(c := a.get("iscrowd", 0)) is int and c == 0 for a in sub]
    tkeys = [a.get("track_id") for a in sub]
    fields: list[list[str] | None] = [None] * n
    if results:
        exts = [{"score": a["score"]} for a in sub]
    else:
        exts = [{"id": a["id"]} if "id" in a else {} for a in sub]
    keyflags = np.ones((n, k), bool)
    track_recs: dict[int, dict[str, Any]] = {}
    for r in [r for r, p in enumerate(plain) if not p]:  # the per-annotation path
        a, place = sub[r], where(anns, rows[r], "keypoints").rsplit(",", 1)[0]
        tkeys[r], fields[r] = _track_key(ctx, a, place)
        exts[r] = _extras(a, fields[r], results)
        if "keyskel" in a:
            kf = _keyflags(ctx, a["keyskel"], k, place)
            if kf is not None:
                keyflags[r] = kf
            if isinstance(a["keyskel"].get("track"), dict):
                track_recs[r] = a["keyskel"]["track"]
    if not all(type(t) is int for t in tkeys):
        for r, t in enumerate(tkeys):
            if t is not None and not is_id(t):
                raise ctx.fail(
                    f"track id {t!r} must be an integer or a string", where(anns, rows[r], "track_id")
                )
    # originals kept where v=0 points carry junk or the file's num_keypoints/bbox/area differ from ours
    keep = junk.copy()
    if not results and n:
        same = _eq([a.get("num_keypoints") for a in sub], nk) & _eq([a.get("bbox") for a in sub], box)
        keep |= ~(same & _eq([a.get("area") for a in sub], area))
        keep |= np.asarray(["iscrowd" not in a for a in sub], bool)
    origs: dict[int, dict[str, Any]] = {}
    for r in np.flatnonzero(keep).tolist():
        a = sub[r]
        origs[r] = {"keypoints": a["keypoints"]}
        if not results:
            origs[r].update({f: a[f] for f in _DERIVED if f in a})
    # track ids: integers as given, strings mapped to new ids, none -> one new track per annotation
    next_id = max((x for x in tkeys if is_int(x)), default=0) + 1
    by_name: dict[str, int] = {}
    tids = np.empty(n, np.int64)
    for r, key in enumerate(tkeys):
        if type(key) is int:
            tids[r] = key
        elif key is None:
            tids[r], next_id = next_id, next_id + 1
        else:
            if key not in by_name:
                by_name[key], next_id = next_id, next_id + 1
            tids[r] = by_name[key]
    fr = frame_of[rows_arr] if n else np.zeros(0, np.int64)
    order = np.lexsort((fr, tids))
    tid_s, fr_s = tids[order], fr[order]
    dup = np.flatnonzero((tid_s[1:] == tid_s[:-1]) & (fr_s[1:] == fr_s[:-1]))
    if dup.size:
        a, b = rows[order[dup[0]]], rows[order[dup[0] + 1]]
        first = where(anns, a, "image_id").rsplit(",", 1)[0]
        raise ctx.fail(
            f"track {tkeys[order[dup[0]]]!r} has two annotations on one image (the other is {first})",
            where(anns, b, "image_id"),
        )
    lab = arr[..., 2] > 0
    coords = from_file_xy(arr[..., :2], COCO_OFFSET)
    coords[~lab] = np.nan
    coords, vis, key_s = coords[order], arr[..., 2].astype(np.int8)[order], (keyflags & lab)[order]
    alive = np.ones(n, bool)
    bounds = np.flatnonzero(np.diff(tid_s)) + 1
    order_l, fr_l = order.tolist(), fr_s.tolist()
    fstr = [str(f) for f in fr_l]
    exts_s = [exts[r] for r in order_l]
    empty = set(np.flatnonzero(nk == 0).tolist())
    names = {v: s for s, v in by_name.items()}
    tid_l = tid_s.tolist()
    for s, e in zip([0, *bounds.tolist()], [*bounds.tolist(), n]):
        if e == s:
            continue
        tid, f0, f1 = tid_l[s], fr_l[s], fr_l[e - 1] + 1
        if f1 - f0 == e - s:  # frames contiguous: views into the sorted arrays
            c, v, kk, al = coords[s:e], vis[s:e], key_s[s:e], alive[s:e]
        else:
            rr = fr_s[s:e] - f0
            c = np.full((f1 - f0, k, 2), np.nan)
            v, kk, al = np.zeros((f1 - f0, k), np.int8), np.zeros((f1 - f0, k), bool), np.ones(f1 - f0, bool)
            c[rr], v[rr], kk[rr] = coords[s:e], vis[s:e], key_s[s:e]
        r0 = order_l[s]
        meta: dict[str, Any] = {
            "fields": fields[r0] if fields[r0] is not None else (["track_id"] * (tkeys[r0] is not None))
        }
        if tid in names:
            meta["key"] = names[tid]
        meta["ann"] = {f: x for f, x in zip(fstr[s:e], exts_s[s:e]) if x}
        if origs:
            o = {fstr[q]: origs[order_l[q]] for q in range(s, e) if order_l[q] in origs}
            if o:
                meta["orig"] = o
        if empty:
            em = [fr_l[q] for q in range(s, e) if order_l[q] in empty]
            if em:
                meta["empty"] = em
        name, tmeta = names.get(tid, f"instance {tid}"), {}
        if track_recs:
            rec = next((track_recs[order_l[q]] for q in range(s, e) if order_l[q] in track_recs), None)
            if rec is not None:
                name = rec["name"] if isinstance(rec.get("name"), str) and rec["name"] else name
                tmeta = carried(rec)
        tmeta["coco"] = meta
        store.tracks[tid] = Track(tid, name, f0, c, v, kk, al, tmeta)
