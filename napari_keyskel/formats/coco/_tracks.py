"""COCO annotations -> store tracks, on whole arrays (part of the reader; see :mod:`.coco`).

The keypoints of a category are one ``(N, K, 3)`` array (:mod:`._columns`); they are turned into
visibility, scores and keys, sorted by (track, frame) and sliced into track blocks with numpy.
Only annotations carrying keys beyond the plain COCO set (``attributes``, ``segmentation``,
``keyskel``...) take a slower per-annotation path.

A track id names one instance *within one video*: annotations sharing a track id on images of
different items (videos, unrelated images) become different tracks, so nothing is interpolated
across them; the first keeps the id, the others get new ones and remember the file's id.
"""

from __future__ import annotations

from itertools import repeat
from operator import is_
from typing import Any

import numpy as np

from ...core.store import AnnotationStore
from .._checks import INT64_MAX, short
from .._coords import COCO_OFFSET, DECIMALS
from ._columns import column, eq_rows, has_key, is_visibility, keypoint_array, plain_keys
from ._extras import AnnExtra, parse_ann_extra, parse_ranges
from ._rules import Ctx, ann_place, derived, is_id, item_codes, where
from ._track_parts import TrackParts, carried

__all__ = ["Cat", "build_tracks", "carried", "item_codes"]

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


def _track_key(ctx: Ctx, a: dict[str, Any], anns: list[Any], i: int) -> tuple[Any, list[str]]:
    """Track id of an annotation and the fields it came from (``track_id``, ``object_id``...)."""
    key, fields = a.get("track_id"), []
    if key is not None:
        fields.append("track_id")
    at = a.get("attributes")
    if isinstance(at, dict) and at.get("object_id") is not None:
        if key is None:
            key = at["object_id"]
        if at["object_id"] is key or (is_id(key) and at["object_id"] == key):
            fields.append("object_id")
    if key is None and a.get("instance_id") is not None:
        key = a["instance_id"]
        fields.append("instance_id")
    if key is not None and not is_id(key):
        field = fields[0] if fields else "object_id"  # object_id NaN: not even equal to itself
        raise ctx.fail(f"track id {short(key)} must be an integer or a string", where(anns, i, field))
    return key, fields


def _extras(a: dict[str, Any], fields: list[str], results: bool, rest: dict[str, Any]) -> dict[str, Any]:
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
    if rest:
        ext["keyskel"] = rest
    return ext


def _track_ids(tkeys: list[Any], types: set[type]) -> np.ndarray:
    """Integer track ids: integers as given, strings mapped to new ids, none -> one new id each.

    Raises OverflowError past the int64 range.
    """
    n = len(tkeys)
    if types <= {int}:
        return np.fromiter(tkeys, np.int64, n)
    if types == {type(None)}:
        return np.arange(1, n + 1, dtype=np.int64)
    next_id = max((x for x in tkeys if type(x) is int), default=0) + 1
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
    return tids


def _whole(
    ctx: Ctx, tids: np.ndarray, fr: np.ndarray, tkeys: list[Any], extras: dict[int, AnnExtra],
    n_frames: int, sub: list[Any], rows: list[int],
) -> np.ndarray:  # fmt: skip
    """Rows whose track is one instance across items (videos, images): not split by item.

    A string track id is a name: the same name is one instance wherever it appears. An integer
    id names an instance within one item, unless our ``keyskel.track`` record gives the track
    ``alive`` ranges over frames of several items (our writer's one track seen in several
    images): the annotations of that id inside those ranges are one instance.
    """
    whole = np.fromiter((type(k) is str for k in tkeys), bool, len(tkeys))
    spans = [(r, x.track["alive"]) for r, x in extras.items() if x.track and x.track.get("alive")]
    if not spans:
        return whole
    order = np.argsort(tids, kind="stable")
    t_sorted = tids[order]
    for r, raw in spans:
        place = f"{ann_place(sub[r], rows[r])}, field 'keyskel'"
        ranges = np.asarray(sorted(parse_ranges(ctx, raw, n_frames, place)), np.int64).reshape(-1, 2)
        a, b = np.searchsorted(t_sorted, tids[r], "left"), np.searchsorted(t_sorted, tids[r], "right")
        mine = order[a:b]
        f = fr[mine]
        i = np.searchsorted(ranges[:, 0], f, side="right") - 1
        inside = (i >= 0) & (f < ranges[np.maximum(i, 0), 1])
        whole[mine[inside]] = True
    return whole


def _beyond_v7(arr: np.ndarray) -> np.ndarray:
    """Rows with a coordinate that V7's 10 decimals (:data:`.._coords.DECIMALS`) would round."""
    xy = arr[..., :2]
    scale = 10.0**DECIMALS
    with np.errstate(over="ignore", invalid="ignore"):  # np.round(xy, DECIMALS), in one buffer
        rounded = np.multiply(xy, scale)
        np.rint(rounded, out=rounded)
        np.divide(rounded, scale, out=rounded)
        return (rounded != xy).any(axis=(1, 2))


def _split_by_item(tids: np.ndarray, g: np.ndarray, fr: np.ndarray) -> np.ndarray:
    """Track ids made unique per (id, item): an id's first item keeps it, later items get new ids.

    Rows whose ``g`` is -1 (one instance across items, see :func:`_whole`) are never split.
    """
    order = np.lexsort((fr, g, tids))
    t_s, g_s = tids[order], g[order]
    new_seg = np.r_[True, (t_s[1:] != t_s[:-1]) | (g_s[1:] != g_s[:-1])]
    first_of_id = np.r_[True, t_s[1:] != t_s[:-1]]
    fresh = new_seg & ~first_of_id  # a later item of the same id
    if not fresh.any():
        return tids
    base = int(tids.max()) + 1
    if base + int(fresh.sum()) > INT64_MAX:
        raise OverflowError
    seg_ids = np.where(fresh, base + np.cumsum(fresh) - 1, t_s)
    seg_no = np.cumsum(new_seg) - 1
    first_ids = seg_ids[new_seg]
    out = np.empty_like(tids)
    out[order] = first_ids[seg_no]
    return out


def _per_annotation(
    ctx: Ctx, sub: list[Any], anns: list[Any], rows: list[int], slow: list[int], tkeys: list[Any],
    exts: list[dict[str, Any]], results: bool, k: int,
) -> tuple[list[list[str] | None], dict[int, AnnExtra]]:  # fmt: skip
    """The per-annotation path: track id fields, unmodelled keys and our extras of ``slow`` rows."""
    fields: list[list[str] | None] = [None] * len(sub)
    extras: dict[int, AnnExtra] = {}
    for r in slow:
        a = sub[r]
        if a.keys().isdisjoint(_TRACK_EXTRAS):  # e.g. a COCO annotation with a segmentation
            key = tkeys[r]  # _track_key and _extras, inlined for this case
            fields[r] = ["track_id"] if key is not None else []
            if key is not None and not is_id(key):
                raise ctx.fail(
                    f"track id {short(key)} must be an integer or a string", where(anns, rows[r], "track_id")
                )
            ext = {kk: x for kk, x in a.items() if kk not in _REBUILT}
            if key is not None:
                del ext["track_id"]
            if not results and type(ext.get("iscrowd")) is int and ext["iscrowd"] == 0:
                del ext["iscrowd"]
            exts[r] = ext
            continue
        tkeys[r], found = _track_key(ctx, a, anns, rows[r])
        fields[r] = found
        rest: dict[str, Any] = {}
        if "keyskel" in a:
            extras[r] = parse_ann_extra(ctx, a["keyskel"], k, ann_place(a, rows[r]))
            rest = extras[r].rest
        exts[r] = _extras(a, found, results, rest)
    return fields, extras


def _node_state(
    arr: np.ndarray, extras: dict[int, AnnExtra], results: bool, gt_confidence: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Visibility, score and key flags ``(N, K)`` of the keypoint triplets, and the confidence mode.

    In a results file whose third values are not all 0/1/2 (or whose extras say so), the third
    value is a model's confidence: nodes are visible, with that score, unless our extras say
    otherwise. In ground truth whose third values are confidences (:func:`.is_confidence`) a node
    is visible with that score where it is above 0, unlabelled at 0. Elsewhere it is COCO's
    visibility and scores come from our extras only.
    """
    v = arr[..., 2]
    n, k = v.shape
    if gt_confidence:  # ground truth whose third values are confidences (checked by the caller)
        vis = np.where(v > 0, 2, 0).astype(np.int8)
        score = np.where(v > 0, v, np.nan).astype(np.float32)
        key = np.ones((n, k), bool)
        for r, x in extras.items():
            if x.keyframe is not None:
                key[r] = x.keyframe
        return vis, score, key, True
    conf = results and (
        not ((v == 0) | (v == 1) | (v == 2)).all()
        or any(x.scored is not None or x.visibility is not None for x in extras.values())
    )
    key = np.ones((n, k), bool)
    if conf:
        vis = np.full((n, k), 2, np.int8)
        scored = np.ones((n, k), bool)
    else:
        vis = v.astype(np.int8)
        score = np.full((n, k), np.nan, np.float32)
    for r, x in extras.items():
        if x.keyframe is not None:
            key[r] = x.keyframe
        if conf:
            if x.visibility is not None:
                vis[r] = x.visibility
            if x.scored is not None:
                scored[r] = x.scored
        elif x.score is not None:
            score[r] = x.score
    if conf:
        score = np.where(scored & (vis > 0), v, np.nan).astype(np.float32)
    return vis, score, key, conf


def build_tracks(
    ctx: Ctx,
    anns: list[Any],
    cat: Cat,
    rows_arr: np.ndarray,
    frame_of: np.ndarray,
    results: bool,
    cols: dict[str, list[Any]],
    frames: list[dict[str, Any]],
    bools: bool = True,
) -> None:
    """Turn one category's annotations (``rows_arr`` of ``anns``) into tracks of its store.

    ``cols``: columns ``a.get(key)`` of all ``anns`` already taken by :func:`sort_annotations`;
    ``frames``: the frame table (items decide which annotations can share a track).
    """
    k, store = cat.k, cat.store
    rows = rows_arr.tolist()
    n = len(rows)
    whole = n == len(anns)  # rows are sorted and distinct: all of them means rows == range(n)
    sub = anns if whole else list(map(anns.__getitem__, rows))
    col = {key: c if whole else list(map(c.__getitem__, rows)) for key, c in cols.items()}
    arr = keypoint_array(ctx, anns, rows, col["keypoints"], k, results, bools)
    gt_confidence = not results and not is_visibility(arr[..., 2])  # (keypoint_array let only these through)
    if gt_confidence:
        ctx.warn(
            f"category {store.name!r}: the keypoints' third values are confidences in [0, 1], not "
            "visibility (0, 1, 2): read as visible nodes with those scores (0: unlabelled); written "
            "back as COCO visibility 2 with the scores in a keyskel extra"
        )
    nk, box, area, junk = derived(arr)
    pk = _PLAIN_RES if results else _PLAIN_GT
    for key in pk | {"track_id", "iscrowd"}:
        if key not in col:
            col[key] = column(sub, key)
    keys_ok = plain_keys(sub, {key: col[key] for key in pk})
    tkeys, crowd, ids = col["track_id"], col["iscrowd"], col["id"]
    has_crowd = has_key(sub, "iscrowd") if any(map(is_, crowd, repeat(None))) else np.ones(n, bool)
    if all(keys_ok) and has_crowd.all() and set(map(type, crowd)) <= {int} and not any(crowd):
        slow: list[int] = []
    else:
        crowd = list(map(dict.get, sub, repeat("iscrowd"), repeat(0)))
        slow = [r for r, (ok, c) in enumerate(zip(keys_ok, crowd)) if not (ok and type(c) is int and c == 0)]
    if results:
        exts = [{"score": x} for x in col["score"]]
    elif set(map(type, ids)) <= {int, str}:  # every annotation has an id
        exts = [{"id": x} for x in ids]
    else:
        exts = [{"id": a["id"]} if "id" in a else {} for a in sub]
    fields, extras = _per_annotation(ctx, sub, anns, rows, slow, tkeys, exts, results, k)
    tkey_types = set(map(type, tkeys))
    if not tkey_types <= {int}:
        for r, t in enumerate(tkeys):
            if t is not None and not is_id(t):
                raise ctx.fail(
                    f"track id {short(t)} must be an integer or a string", where(anns, rows[r], "track_id")
                )
    # originals kept where v=0 points carry junk, the file's num_keypoints/bbox/area differ from
    # ours, or a point has more decimals than V7 keeps (so COCO -> V7 -> COCO gives them back)
    keep = junk | _beyond_v7(arr)
    if not results and n:
        same = eq_rows(col["num_keypoints"], nk) & eq_rows(col["bbox"], box) & eq_rows(col["area"], area)
        keep |= ~(same & has_crowd)
    origs: dict[int, dict[str, Any]] = {}
    for r in np.flatnonzero(keep).tolist():
        a = sub[r]
        origs[r] = {"keypoints": a["keypoints"]}
        if not results:
            origs[r].update({f: a[f] for f in _DERIVED if f in a})
    fr = (frame_of if whole else frame_of[rows_arr]) if n else np.zeros(0, np.int64)
    codes = item_codes(frames) if frames else np.zeros(max(int(fr.max(initial=0)) + 1, 1), np.intp)
    g = codes[fr] if n else np.zeros(0, np.intp)
    n_frames = len(frames) or int(fr.max(initial=0)) + 1
    try:
        tids = _track_ids(tkeys, tkey_types)
        if n and (g != g[0]).any():
            one = _whole(ctx, tids, fr, tkeys, extras, n_frames, sub, rows)
            tids = _split_by_item(tids, np.where(one, -1, g), fr)
    except OverflowError:
        raise ctx.fail("track ids run past the 64-bit integer range") from None
    order = np.lexsort((fr, tids))
    tid_s, fr_s = tids[order], fr[order]
    dup = np.flatnonzero((tid_s[1:] == tid_s[:-1]) & (fr_s[1:] == fr_s[:-1]))
    if dup.size:
        r0, r1 = rows[order[dup[0]]], rows[order[dup[0] + 1]]
        first = where(anns, r0, "image_id").rsplit(",", 1)[0]
        raise ctx.fail(
            f"track {short(tkeys[order[dup[0]]])} has two annotations on one image (the other is {first})",
            where(anns, r1, "image_id"),
        )
    vis, score, keyed, _ = _node_state(arr, extras, results, gt_confidence)
    order_l = order.tolist()
    vis, score, keyed = vis[order], score[order], keyed[order]
    lab = vis > 0
    coords = arr[..., 1::-1][order]  # file (x, y) -> store (y, x), one copy (from_file_xy's rule)
    coords -= COCO_OFFSET
    coords[~lab] = np.nan
    recs = {r: x.track for r, x in extras.items() if x.track is not None}
    parts = TrackParts(ctx, store, k, n_frames, codes)
    parts.add_all(
        tid_s, fr_s, g[order], order_l, coords, vis, keyed, score,
        list(map(fields.__getitem__, order_l)), list(map(tkeys.__getitem__, order_l)),
        list(map(exts.__getitem__, order_l)),
        origs, recs, sub, anns, rows,
    )  # fmt: skip
