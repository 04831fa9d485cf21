"""Cut an item's frames out of a many-item annotation set, and put them back (pure numpy).

For files that hold many items in one frame table (a SLEAP file's videos are consecutive runs
of frames): :func:`take` gives frames ``[a, b)`` as an annotation set of their own (frames
counted from 0), :func:`put` writes such a set back over frames ``[a, b)`` of the whole. A track
crossing the range keeps its frames outside; meta keyed by frame (review states, SLEAP instance
scores) moves with the frames.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..core.annotation_set import AnnotationSet
from ..core.store import AnnotationStore, Track

__all__ = ["compact", "frame_numbers", "put", "renumber", "take"]

#: Paths in ``Track.meta`` of dicts keyed by frame (as text).
FRAME_KEYED: tuple[tuple[str, ...], ...] = (("review",), ("sleap", "instance_score"))


def _table(meta: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = meta
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _set_table(meta: dict[str, Any], path: tuple[str, ...], table: dict[str, Any]) -> None:
    node: Any = meta
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            if not table:
                return
            node[key] = {}
        node = node[key]
    if table:
        node[path[-1]] = table
    else:
        node.pop(path[-1], None)


def _shift_meta(meta: dict[str, Any], lo: int, hi: int, shift: int) -> dict[str, Any]:
    """A copy of ``meta`` with frame-keyed entries in ``[lo, hi)`` kept and moved by ``shift``."""
    out = copy.deepcopy(meta)
    for path in FRAME_KEYED:
        parent: Any = out
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        table = parent.get(path[-1]) if isinstance(parent, dict) else None
        if isinstance(table, dict):
            parent[path[-1]] = {
                str(int(k) + shift): v
                for k, v in table.items()
                if str(k).lstrip("-").isdigit() and lo <= int(k) < hi
            }
    return out


def _empty_like(store: AnnotationStore, n_frames: int | None) -> AnnotationStore:
    out = AnnotationStore(store.skeleton, store.coord_ndim, store.frame_axis, n_frames, store.name)
    out.meta = copy.deepcopy(store.meta)
    out.method, out.bridge_unlabelled = store.method, store.bridge_unlabelled
    return out


def _slice(t: Track, a: int, b: int, shift: int) -> Track | None:
    lo, hi = max(a, t.start), min(b, t.stop)
    if lo >= hi:
        return None
    r = slice(lo - t.start, hi - t.start)
    return Track(
        t.track_id, t.name, lo + shift, t.coords[r].copy(), t.visibility[r].copy(), t.is_key[r].copy(),
        t.alive[r].copy(), _shift_meta(t.meta, lo, hi, shift), t.score[r].copy(),
    )  # fmt: skip


def take(whole: AnnotationSet, a: int, b: int) -> AnnotationSet:
    """Frames ``[a, b)`` of ``whole`` as an annotation set of their own (copies)."""
    stores = []
    for s in whole.stores:
        part = _empty_like(s, b - a)
        for t in s:
            cut = _slice(t, a, b, -a)
            if cut is not None and (np.isfinite(cut.coords[..., 0]).any() or t.meta.get("review")):
                part.tracks[cut.track_id] = cut
        stores.append(part)
    return AnnotationSet(stores, copy.deepcopy(whole.frames[a:b]), copy.deepcopy(whole.meta), whole.source)


def _merge(old: Track | None, new: Track, a: int, b: int) -> Track:
    """``old`` with its frames in ``[a, b)`` replaced by ``new`` (in whole-set frames)."""
    if old is None:
        return new
    start, stop = min(old.start, new.start), max(old.stop, new.stop)
    n, k, d = stop - start, old.coords.shape[1], old.coords.shape[2]
    coords = np.full((n, k, d), np.nan)
    vis, key = np.zeros((n, k), np.int8), np.zeros((n, k), bool)
    alive, score = np.zeros(n, bool), np.full((n, k), np.nan, np.float32)
    for t in (old, new):
        r = slice(t.start - start, t.stop - start)
        keep = np.ones(len(t), bool)
        if t is old:  # old frames inside the range give way
            f = np.arange(t.start, t.stop)
            keep = (f < a) | (f >= b)
        idx = np.arange(r.start, r.stop)[keep]
        coords[idx], vis[idx], key[idx] = t.coords[keep], t.visibility[keep], t.is_key[keep]
        alive[idx], score[idx] = t.alive[keep], t.score[keep]
    meta = copy.deepcopy(old.meta)
    for path in FRAME_KEYED:
        before, after = _table(old.meta, path), _table(new.meta, path)
        table = {
            k: v for k, v in (before or {}).items() if not (str(k).lstrip("-").isdigit() and a <= int(k) < b)
        }
        table.update(after or {})
        _set_table(meta, path, table)
    for k, v in new.meta.items():
        meta.setdefault(k, copy.deepcopy(v))
    return Track(old.track_id, new.name, start, coords, vis, key, alive, meta, score)


def put(whole: AnnotationSet, part: AnnotationSet, a: int, b: int) -> AnnotationSet:
    """``whole`` with frames ``[a, b)`` replaced by ``part`` (same length; new stores appended)."""
    if len(part.frames) not in (0, b - a):
        from ..errors import KeyskelError

        raise KeyskelError(f"the item has {len(part.frames)} frames but its place in the file has {b - a}")
    n_total = len(whole.frames) or None
    by_name = {s.name: s for s in part.stores}
    out_stores = []
    for s in whole.stores:
        new = _empty_like(s, n_total)
        mine = by_name.pop(s.name, None)
        for t in s:  # frames outside [a, b) stay
            kept = [x for x in (_slice(t, -(1 << 62), a, 0), _slice(t, b, 1 << 62, 0)) if x is not None]
            if kept:
                merged = kept[0] if len(kept) == 1 else _merge(kept[0], kept[1], a, b)
                new.tracks[t.track_id] = merged
        if mine is not None:
            new.skeleton = mine.skeleton
            for t in mine:
                moved = _slice(t, 0, b - a, a)
                if moved is None:
                    continue
                new.tracks[t.track_id] = _merge(new.tracks.get(t.track_id), moved, a, b)
        out_stores.append(new)
    for s in by_name.values():  # a class new in this item
        new = _empty_like(s, n_total)
        for t in s:
            moved = _slice(t, 0, b - a, a)
            if moved is not None:
                new.tracks[t.track_id] = moved
        out_stores.append(new)
    frames = list(whole.frames)
    if part.frames:
        frames[a:b] = copy.deepcopy(part.frames)
    return AnnotationSet(out_stores, frames, whole.meta, whole.source)


def _remap_meta(meta: dict[str, Any], mapping: dict[int, int]) -> dict[str, Any]:
    """A copy of ``meta`` with frame-keyed entries renamed by ``mapping`` (others dropped)."""
    out = copy.deepcopy(meta)
    for path in FRAME_KEYED:
        table = _table(out, path)
        if table is not None:
            _set_table(
                out,
                path,
                {
                    str(mapping[int(k)]): v
                    for k, v in table.items()
                    if str(k).lstrip("-").isdigit() and int(k) in mapping
                },
            )
    return out


def renumber(ann: AnnotationSet, numbers: Any, n_frames: int) -> AnnotationSet:
    """Store frame ``f`` moved to frame ``numbers[f]`` (increasing) of ``n_frames``; alive in between.

    For a file listing only some frames of a video (COCO images of frames 0, 10, 20): its rows
    become the video's frame numbers, so the annotations sit on the right frames of the media.
    """
    nums = np.asarray(numbers, np.int64)
    stores = []
    for s in ann.stores:
        out = _empty_like(s, n_frames)
        if s.frame_axis is None:
            out.tracks = {t.track_id: t.copy() for t in s}
            stores.append(out)
            continue
        for t in s:
            f = nums[t.start : t.stop]
            if f.size == 0:
                continue
            n, k, d = int(f[-1] - f[0] + 1), t.coords.shape[1], t.coords.shape[2]
            coords, vis = np.full((n, k, d), np.nan), np.zeros((n, k), np.int8)
            key, score = np.zeros((n, k), bool), np.full((n, k), np.nan, np.float32)
            rows = f - f[0]
            coords[rows], vis[rows], key[rows], score[rows] = t.coords, t.visibility, t.is_key, t.score
            alive = np.ones(n, bool)
            alive[rows] = t.alive
            mapping = {int(a): int(b) for a, b in zip(range(t.start, t.stop), f.tolist())}
            out.tracks[t.track_id] = Track(
                t.track_id, t.name, int(f[0]), coords, vis, key, alive, _remap_meta(t.meta, mapping), score
            )
        stores.append(out)
    return AnnotationSet(stores, list(ann.frames), ann.meta, ann.source)


def compact(ann: AnnotationSet, keep: Any) -> AnnotationSet:
    """Only frames ``keep`` (increasing) of ``ann``, numbered from 0: the inverse of :func:`renumber`."""
    kept = np.asarray(keep, np.int64)
    stores = []
    for s in ann.stores:
        out = _empty_like(s, max(len(kept), 1))
        if s.frame_axis is None:
            out.tracks = {t.track_id: t.copy() for t in s}
            stores.append(out)
            continue
        for t in s:
            inside = kept[(kept >= t.start) & (kept < t.stop)]
            if inside.size == 0:
                continue
            rows = inside - t.start
            first = int(np.searchsorted(kept, inside[0]))
            mapping = {int(f): first + i for i, f in enumerate(inside.tolist())}
            out.tracks[t.track_id] = Track(
                t.track_id, t.name, first, t.coords[rows].copy(), t.visibility[rows].copy(),
                t.is_key[rows].copy(), t.alive[rows].copy(), _remap_meta(t.meta, mapping),
                t.score[rows].copy(),
            )  # fmt: skip
        stores.append(out)
    frames = [ann.frames[int(f)] for f in kept] if ann.frames else []
    return AnnotationSet(stores, frames, ann.meta, ann.source)


def frame_numbers(ann: AnnotationSet) -> np.ndarray | None:
    """The video frame number of each row of a one-video frame table, when they are not the rows."""
    if not ann.frames:
        return None
    nums = [fr.get("frame") for fr in ann.frames]
    if not all(isinstance(f, (int, np.integer)) and not isinstance(f, bool) for f in nums):
        return None
    if len({fr.get("item") for fr in ann.frames}) != 1 or len({fr.get("slot") for fr in ann.frames}) != 1:
        return None
    arr = np.asarray(nums, np.int64)
    if arr.size and (np.any(np.diff(arr) <= 0) or arr[0] < 0):
        return None
    return None if np.array_equal(arr, np.arange(arr.size)) else arr
