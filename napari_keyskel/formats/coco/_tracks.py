"""COCO annotations -> store tracks, on whole arrays (part of the reader; see :mod:`.coco`).

Annotations are checked column by column (ids, image and category references), each column taken
with one C-level ``map`` (no Python loop per annotation); the keypoints of a category become one
``(N, K, 3)`` array (one ``np.fromiter``) that is validated with numpy, sorted by (track, frame)
and sliced into track blocks. Only annotations carrying keys beyond the plain COCO set
(``attributes``, ``segmentation``, ``score``, ``keyskel``...) take a slower per-annotation path,
and only input that fails a whole-array check takes the value-by-value path that names the error.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain, repeat
from operator import is_, itemgetter
from typing import Any

import numpy as np

from ...store import AnnotationStore, Track
from .._coords import COCO_OFFSET, from_file_xy
from ._rules import Ctx, ann_place, derived, is_id, is_int, where

__all__ = ["Cat", "build_tracks", "carried", "sort_annotations"]

#: Keys of a plain ground-truth annotation (anything else takes the per-annotation path).
_PLAIN_GT = frozenset(
    {"id", "image_id", "category_id", "keypoints", "num_keypoints", "bbox", "area", "iscrowd", "track_id"}
)
_PLAIN_RES = frozenset({"image_id", "category_id", "keypoints", "score"})
#: Annotation fields written from ``orig`` (or left out, if the file had none) while unchanged.
_DERIVED = ("num_keypoints", "bbox", "area", "iscrowd")
#: Keys that make an annotation take the general per-annotation path (track ids, our extras).
_TRACK_EXTRAS = frozenset({"attributes", "instance_id", "keyskel"})
#: Annotation keys rebuilt from the store on write (never kept as extras).
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


def _column(anns: list[dict[str, Any]], key: str) -> list[Any]:
    """``a.get(key)`` of every annotation (C-level: no Python loop)."""
    return list(map(dict.get, anns, repeat(key)))


def _numbers(rows: list[list[Any]]) -> Iterator[Any]:
    """The items of ``rows`` one after another, each row summed first (TypeError on junk).

    ``sum`` raises TypeError on a str, None, list or dict, so no string slips through
    ``np.fromiter`` as a number. A row is summed just before it is read, while its numbers are in
    the CPU cache (the numbers of a parsed document are scattered in memory; a separate pass
    would fetch them all twice).
    """
    return chain.from_iterable(map(itemgetter(1), zip(map(sum, rows), rows)))


def _has(anns: list[dict[str, Any]], key: str) -> np.ndarray:
    """``key in a`` for every annotation."""
    return np.fromiter(map(dict.__contains__, anns, repeat(key)), bool, len(anns))


def _plain_keys(sub: list[dict[str, Any]], cols: dict[str, list[Any]]) -> list[bool]:
    """``a.keys() <= set(cols)`` for every annotation, given its ``a.get(key)`` column of each key.

    Cheap when each column is full (no None: every annotation has the key) or empty (all None):
    an annotation with as many keys as there are full columns has just those; if moreover no
    annotation holds a key of an empty column (as null), one with more keys has some other key.
    """
    pk = cols.keys()
    full, nulls = 0, False
    for key, col in cols.items():
        if not any(map(is_, col, repeat(None))):
            full += 1
        elif not all(map(is_, col, repeat(None))):
            return [a.keys() <= pk for a in sub]
        elif not nulls and _has(sub, key).any():
            nulls = True
    exact = np.fromiter(map(len, sub), np.intp, len(sub)) == full
    if exact.all():
        return [True] * len(sub)
    if not nulls:
        return exact.tolist()
    return [a.keys() <= pk for a in sub]


def _lookup(
    ctx: Ctx, anns: list[Any], values: list[Any], index: dict[Any, int], field: str, what: str
) -> np.ndarray:
    """``index[v]`` for every value; a bad or missing reference names its annotation."""
    if set(map(type, values)) <= {int, str}:
        try:
            return np.fromiter(map(index.__getitem__, values), np.intp, len(values))
        except KeyError:
            pass
    for i, v in enumerate(values):
        if not is_id(v) or v not in index:
            raise ctx.fail(f"refers to {what} id {v!r}, which is not in '{what}s'", where(anns, i, field))
    raise ctx.fail(f"bad '{field}'")  # pragma: no cover - the loop above finds it


def sort_annotations(
    ctx: Ctx, anns: list[Any], cats: dict[Any, Cat | None], img_index: dict[Any, int]
) -> tuple[list[Any], np.ndarray, dict[Any, np.ndarray], dict[str, list[Any]]]:
    """Check ids and references.

    Returns the unmodelled annotations, the frame of each annotation, the rows of each keypoint
    category and the ``id`` and ``keypoints`` columns (``a.get(key)``, for :func:`build_tracks`).
    """
    if not set(map(type, anns)) <= {dict}:
        i = next(i for i, a in enumerate(anns) if not isinstance(a, dict))
        raise ctx.fail("an annotation must be an object", f"annotations[{i}]")
    ids = _column(anns, "id")
    if set(map(type, ids)) <= {int}:
        present = ids
    else:
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
    n = len(anns)
    iids, cids = _column(anns, "image_id"), _column(anns, "category_id")
    frame = _lookup(ctx, anns, iids, img_index, "image_id", "image")
    cpos = {cid: j for j, cid in enumerate(cats)}
    cp = _lookup(ctx, anns, cids, cpos, "category_id", "category")
    kcol = _column(anns, "keypoints")
    has_kp = _has(anns, "keypoints") if any(map(is_, kcol, repeat(None))) else np.ones(n, bool)
    is_kp_cat = np.asarray([c is not None for c in cats.values()], bool)
    modelled = is_kp_cat[cp] & has_kp if n else np.zeros(0, bool)
    other = [anns[i] for i in np.flatnonzero(~modelled).tolist()] if not modelled.all() else []
    kp_cats = [(j, cid) for j, (cid, c) in enumerate(cats.items()) if c is not None]
    if len(kp_cats) == 1 and len(cats) == 1 and modelled.all():
        rows = {kp_cats[0][1]: np.arange(n)}
    else:
        rows = {cid: np.flatnonzero(modelled & (cp == j)) for j, cid in kp_cats}
    return (
        other,
        frame.astype(np.int64, copy=False),
        rows,
        {"id": ids, "image_id": iids, "category_id": cids, "keypoints": kcol},
    )


#: Magnitude below which every number converts alike through numpy and ``float()``.
_SAFE = float(2**63)


def _keypoint_array(ctx: Ctx, anns: list[Any], rows: list[int], kps: list[Any], k: int) -> np.ndarray:
    """``(N, K, 3)`` float array of the annotations' keypoints, every value checked.

    Fast path: cheap whole-list checks (types, lengths), one :func:`numpy.fromiter` over all the
    numbers (:func:`_numbers` rejects strings, None and nested junk), vectorised value checks. Any
    doubt (bad type, NaN, visibility not 0/1/2, huge or boolean numbers) falls back to
    :func:`_keypoint_array_checked`, which converts exactly as before or names the first error.
    """
    n, n3 = len(kps), 3 * k
    if (
        n
        and n3
        and set(map(type, kps)) == {list}
        and set(map(len, kps)) == {n3}
        and type(kps[0][0]) is not bool
    ):
        try:
            arr = np.fromiter(_numbers(kps), np.float64, n * n3).reshape(n, k, 3)
        except (TypeError, ValueError, OverflowError):
            pass
        else:
            v = arr[..., 2]
            if (np.abs(arr[..., :2]) < _SAFE).all() and ((v == 0) | (v == 1) | (v == 2)).all():
                return arr
    return _keypoint_array_checked(ctx, anns, rows, kps, k)


def _keypoint_array_checked(ctx: Ctx, anns: list[Any], rows: list[int], kps: list[Any], k: int) -> np.ndarray:
    """:func:`_keypoint_array` value by value: converts what it can, else names the first error."""
    n3 = 3 * k
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
    if ours.ndim == 2 and set(map(type, values)) == {list} and set(map(len, values)) == {ours.shape[1]}:
        # lists of numbers (the usual bbox): one fromiter, no dtype discovery; anything odd
        # (strings, None, integers too large for an exact float, NaN) takes the path below
        try:
            v = np.fromiter(_numbers(values), np.float64, ours.size).reshape(ours.shape)
        except (TypeError, ValueError, OverflowError):
            pass
        else:
            if (np.abs(v) < 2.0**53).all():
                return (v == ours).all(axis=1)
    try:
        v = np.array(values)
        if v.dtype.kind in "iuf" and v.shape == ours.shape:
            out = v == ours
            return out if out.ndim == 1 else out.all(axis=1)
    except (ValueError, TypeError, OverflowError):
        pass
    return np.asarray([type(x) is not bool and x == y for x, y in zip(values, ours.tolist())], bool)


def _track_key(ctx: Ctx, a: dict[str, Any], anns: list[Any], i: int) -> tuple[Any, list[str]]:
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
        field = fields[0] if fields else "object_id"  # object_id NaN: not even equal to itself
        raise ctx.fail(f"track id {key!r} must be an integer or a string", where(anns, i, field))
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


def _track_ids(tkeys: list[Any], types: set[type], by_name: dict[str, int]) -> np.ndarray:
    """Integer track ids: integers as given, strings mapped to new ids, none -> one new id each.

    Fills ``by_name`` (string id -> new id); raises OverflowError past the int64 range.
    """
    n = len(tkeys)
    if types <= {int}:
        return np.fromiter(tkeys, np.int64, n)
    if types == {type(None)}:
        return np.arange(1, n + 1, dtype=np.int64)
    next_id = max((x for x in tkeys if is_int(x)), default=0) + 1
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
    return tids


def build_tracks(
    ctx: Ctx,
    anns: list[Any],
    cat: Cat,
    rows_arr: np.ndarray,
    frame_of: np.ndarray,
    results: bool,
    cols: dict[str, list[Any]],
) -> None:
    """Turn one category's annotations (``rows_arr`` of ``anns``) into tracks of its store.

    ``cols``: columns ``a.get(key)`` of all ``anns`` already taken by :func:`sort_annotations`.
    """
    k, store = cat.k, cat.store
    rows = rows_arr.tolist()
    n = len(rows)
    whole = n == len(anns)  # rows are sorted and distinct: all of them means rows == range(n)
    sub = anns if whole else list(map(anns.__getitem__, rows))
    col = {key: c if whole else list(map(c.__getitem__, rows)) for key, c in cols.items()}
    arr = _keypoint_array(ctx, anns, rows, col["keypoints"], k)
    nk, box, area, junk = derived(arr)
    pk = _PLAIN_RES if results else _PLAIN_GT
    for key in pk | {"track_id", "iscrowd"}:
        if key not in col:
            col[key] = _column(sub, key)
    keys_ok = _plain_keys(sub, {key: col[key] for key in pk})
    tkeys, crowd, ids = col["track_id"], col["iscrowd"], col["id"]
    has_crowd = _has(sub, "iscrowd") if any(map(is_, crowd, repeat(None))) else np.ones(n, bool)
    if all(keys_ok) and has_crowd.all() and set(map(type, crowd)) <= {int} and not any(crowd):
        slow: list[int] = []
    else:
        crowd = list(map(dict.get, sub, repeat("iscrowd"), repeat(0)))
        slow = [r for r, (ok, c) in enumerate(zip(keys_ok, crowd)) if not (ok and type(c) is int and c == 0)]
    fields: list[list[str] | None] = [None] * n
    if results:
        exts = [{"score": x} for x in col["score"]]
    else:
        if set(map(type, ids)) <= {int, str}:  # every annotation has an id
            exts = [{"id": x} for x in ids]
        else:
            exts = [{"id": a["id"]} if "id" in a else {} for a in sub]
    keyflags = np.ones((n, k), bool)
    track_recs: dict[int, dict[str, Any]] = {}
    for r in slow:  # the per-annotation path
        a = sub[r]
        if a.keys().isdisjoint(_TRACK_EXTRAS):  # e.g. a COCO annotation with a segmentation
            key = tkeys[r]  # _track_key and _extras, inlined for this case
            fields[r] = ["track_id"] if key is not None else []
            if key is not None and not is_id(key):
                raise ctx.fail(
                    f"track id {key!r} must be an integer or a string", where(anns, rows[r], "track_id")
                )
            ext = {kk: x for kk, x in a.items() if kk not in _REBUILT}
            if key is not None:
                del ext["track_id"]
            if not results and type(ext.get("iscrowd")) is int and ext["iscrowd"] == 0:
                del ext["iscrowd"]
            exts[r] = ext
            continue
        tkeys[r], fields[r] = _track_key(ctx, a, anns, rows[r])
        exts[r] = _extras(a, fields[r], results)
        if "keyskel" in a:
            kf = _keyflags(ctx, a["keyskel"], k, ann_place(a, rows[r]))
            if kf is not None:
                keyflags[r] = kf
            if isinstance(a["keyskel"].get("track"), dict):
                track_recs[r] = a["keyskel"]["track"]
    tkey_types = set(map(type, tkeys))
    if not tkey_types <= {int}:
        for r, t in enumerate(tkeys):
            if t is not None and not is_id(t):
                raise ctx.fail(
                    f"track id {t!r} must be an integer or a string", where(anns, rows[r], "track_id")
                )
    # originals kept where v=0 points carry junk or the file's num_keypoints/bbox/area differ from ours
    keep = junk.copy()
    if not results and n:
        same = _eq(col["num_keypoints"], nk) & _eq(col["bbox"], box) & _eq(col["area"], area)
        keep |= ~(same & has_crowd)
    origs: dict[int, dict[str, Any]] = {}
    for r in np.flatnonzero(keep).tolist():
        a = sub[r]
        origs[r] = {"keypoints": a["keypoints"]}
        if not results:
            origs[r].update({f: a[f] for f in _DERIVED if f in a})
    # track ids: integers as given, strings mapped to new ids, none -> one new track per annotation
    by_name: dict[str, int] = {}
    try:
        tids = _track_ids(tkeys, tkey_types, by_name)
    except OverflowError:
        r = next((r for r, t in enumerate(tkeys) if is_int(t) and not -(2**63) <= t < 2**63), None)
        if r is None:  # a new id past the largest given one
            raise ctx.fail("track ids run past the 64-bit integer range") from None
        raise ctx.fail(
            f"track id {tkeys[r]!r} does not fit in 64 bits", where(anns, rows[r], "track_id")
        ) from None
    fr = (frame_of if whole else frame_of[rows_arr]) if n else np.zeros(0, np.int64)
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
    arr_s = arr[order]
    lab = arr_s[..., 2] > 0
    coords = from_file_xy(arr_s[..., :2], COCO_OFFSET)
    coords[~lab] = np.nan
    vis, key_s = arr_s[..., 2].astype(np.int8), keyflags[order] & lab
    alive = np.ones(n, bool)
    bounds = np.flatnonzero(np.diff(tid_s)) + 1
    order_l, fr_l = order.tolist(), fr_s.tolist()
    fnames = list(map(str, range(int(fr.max()) + 1))) if n else []
    fstr = list(map(fnames.__getitem__, fr_l))
    exts_s = list(map(exts.__getitem__, order_l))
    every_ext = all(exts)
    empty = set(np.flatnonzero(nk == 0).tolist())
    names = {v: s for s, v in by_name.items()}
    tid_l = tid_s.tolist()
    if n and bounds.size == n - 1:  # every track one annotation (no track ids): the loop below, lean
        tracks = store.tracks
        views = (list(x[:, None]) for x in (coords, vis, key_s, alive))  # (1, ...) views, made in bulk
        for q, c, v, kk, al in zip(range(n), *views):
            tid, f0, r0 = tid_l[q], fr_l[q], order_l[q]
            meta: dict[str, Any] = {
                "fields": fields[r0] if fields[r0] is not None else (["track_id"] * (tkeys[r0] is not None))
            }
            if tid in names:
                meta["key"] = names[tid]
            x = exts_s[q]
            meta["ann"] = {fstr[q]: x} if x else {}
            if r0 in origs:
                meta["orig"] = {fstr[q]: origs[r0]}
            if r0 in empty:
                meta["empty"] = [f0]
            name, tmeta = names.get(tid, f"instance {tid}"), {}
            rec = track_recs.get(r0)
            if rec is not None:
                name = rec["name"] if isinstance(rec.get("name"), str) and rec["name"] else name
                tmeta = carried(rec)
            tmeta["coco"] = meta
            tracks[tid] = Track(tid, name, f0, c, v, kk, al, tmeta)
        return
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
        meta = {"fields": fields[r0] if fields[r0] is not None else (["track_id"] * (tkeys[r0] is not None))}
        if tid in names:
            meta["key"] = names[tid]
        if every_ext:
            meta["ann"] = dict(zip(fstr[s:e], exts_s[s:e]))
        else:
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
