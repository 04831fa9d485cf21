"""Keyframe editing on an :class:`~napari_keyskel.core.store.AnnotationStore`, with interpolation.

Every edit validates its arguments first (raising :class:`StoreError` and leaving the store
untouched), writes the keys, then re-interpolates only the window its nodes depend on:

- linear and hold: from the previous to the next anchor key of each touched node;
- cubic: PCHIP derivatives depend on neighbouring keys, so two anchors on each side are
  rewritten (computed with a third one on each side for context).

The result is identical to a full :func:`interpolate_all` with the store's ``method`` and
``bridge_unlabelled``. Edits return the list of :class:`Change` they recomputed, so the viewer
can update only those points. A store without a frame axis has one frame and nothing to
interpolate: edits only write their keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..errors import StoreError
from .interpolate import Method, check_method, fill_spans, interpolated
from .store import UNLABELLED, VISIBLE, AnnotationStore, Change, Track

__all__ = [
    "bisect_frame",
    "copy_previous_pose",
    "delete_key",
    "delete_nodes",
    "end_track",
    "extend_track",
    "interpolate_all",
    "key_all_nodes",
    "key_frames",
    "mirror_pose",
    "move_node",
    "move_nodes",
    "move_points",
    "next_key",
    "previous_key",
    "refresh",
    "set_pose",
    "set_visibility",
    "start_instance",
    "suggest_next_keyframe",
]


# -- full recompute ------------------------------------------------------------------------------
def interpolate_all(
    store: AnnotationStore,
    method: str | Method | None = None,
    bridge_unlabelled: bool | None = None,
    tracks: int | Iterable[int] | None = None,
) -> list[Change]:
    """Fill every span of every (or the given) track; clear stale interpolated cells.

    Parameters
    ----------
    store
        The annotations; changed in place.
    method
        A :class:`~napari_keyskel.core.interpolate.Method` or its name (``"linear"``, ``"cubic"``
        / ``"pchip"``, ``"hold"``); ``None`` = ``store.method``.
    bridge_unlabelled
        Skip over unlabelled keys; ``None`` = ``store.bridge_unlabelled`` (False by default).
    tracks
        Track ids to recompute (default: all).

    Returns
    -------
    list of Change
        One change per recomputed track (its whole block, all nodes).

    Notes
    -----
    The method and bridging are remembered on the store, so later incremental edits keep
    the interpolation consistent with this call.

    """
    m = check_method(store.method if method is None else method)
    bridge = store.bridge_unlabelled if bridge_unlabelled is None else bool(bridge_unlabelled)
    if tracks is None:
        chosen = list(store)
    else:
        ids = [tracks] if isinstance(tracks, (int, np.integer)) else list(tracks)
        chosen = [store.track(i) for i in ids]
    store.method, store.bridge_unlabelled = m, bridge
    if store.frame_axis is None:
        return []
    changes = []
    for t in chosen:
        fill_spans(t.coords, t.visibility, t.is_key, t.alive, m, bridge)
        changes.append(Change(t.track_id, t.start, t.stop, tuple(range(store.n_nodes))))
    return changes


# -- incremental recompute -----------------------------------------------------------------------
def _anchors(store: AnnotationStore, t: Track, nodes: np.ndarray) -> np.ndarray:
    """``(L, n)`` mask of the keys that anchor spans of ``nodes`` (labelled ones if bridging)."""
    key = t.is_key[:, nodes]
    if store.bridge_unlabelled:
        key &= (t.visibility[:, nodes] > 0) & np.isfinite(t.coords[:, nodes]).all(axis=-1)
        key &= t.alive[:, None]
    return key


def _nth(rows: np.ndarray, n: int, default: int) -> int:
    return int(rows[n]) if -rows.size <= n < rows.size else default


def refresh(store: AnnotationStore, track_id: int, frame: int, nodes: Any = None) -> Change:
    """Re-interpolate the spans of ``nodes`` that depend on keys at ``frame`` (incremental).

    Use after writing keys at ``frame`` directly through the store. Returns the rewritten window.
    """
    t = store.track(track_id)
    f = store.check_frame(frame)
    idx = np.unique(store.node_indices(nodes))
    if store.frame_axis is None or not t.start <= f < t.stop:
        return Change(t.track_id, f, f + 1, tuple(idx.tolist()))
    method = check_method(store.method)
    ctx, wide = (3, 2) if method is Method.CUBIC else (1, 1)
    r, last = f - t.start, len(t) - 1
    anchor = _anchors(store, t, idx)
    lo_c, hi_c = np.empty(idx.size, np.intp), np.empty(idx.size, np.intp)
    lo_w, hi_w = np.empty(idx.size, np.intp), np.empty(idx.size, np.intp)
    for i in range(idx.size):
        before = np.flatnonzero(anchor[:r, i])
        after = np.flatnonzero(anchor[r + 1 :, i]) + (r + 1)
        lo_c[i], lo_w[i] = _nth(before, -ctx, 0), _nth(before, -wide, 0)
        hi_c[i], hi_w[i] = _nth(after, ctx - 1, last), _nth(after, wide - 1, last)
    lo, hi = int(lo_c.min()), int(hi_c.max()) + 1
    coords = t.coords[lo:hi, idx]
    vis = t.visibility[lo:hi, idx]
    fill_spans(coords, vis, t.is_key[lo:hi, idx], t.alive[lo:hi], method, store.bridge_unlabelled)
    rows = np.arange(lo, hi)[:, None]
    write = (rows >= lo_w) & (rows <= hi_w)
    t.coords[lo:hi, idx] = np.where(write[..., None], coords, t.coords[lo:hi, idx])
    t.visibility[lo:hi, idx] = np.where(write, vis, t.visibility[lo:hi, idx])
    return Change(t.track_id, t.start + int(lo_w.min()), t.start + int(hi_w.max()) + 1, tuple(idx.tolist()))


def _edit(
    store: AnnotationStore, t: Track, f: int, nodes: np.ndarray, write: Callable[[], Any]
) -> list[Change]:
    """Run ``write`` (already validated), then refresh the touched nodes around ``f``."""
    check_method(store.method)  # fail before writing if the store holds an unknown method
    r = f - t.start
    revived = 0 <= r < len(t) and not t.alive[r]  # a dead frame coming alive may join others' spans
    grows = not 0 <= r < len(t)  # new frames: every node's held pose may reach into them
    write()
    touched = np.arange(store.n_nodes) if revived or grows else nodes
    return [refresh(store, t.track_id, f, touched)]


def _locate(store: AnnotationStore, frame: int, track_id: int, inside: bool = True) -> tuple[Track, int]:
    t = store.track(track_id)
    f = store.check_frame(frame)
    if inside and not t.start <= f < t.stop:
        raise StoreError(f"instance {t.track_id} has no frame {f} (its frames are [{t.start}, {t.stop}))")
    return t, f


# -- edits ---------------------------------------------------------------------------------------
def move_node(
    store: AnnotationStore,
    frame: int,
    track_id: int,
    node: int | str,
    coords: Any,
    visibility: int | None = None,
) -> list[Change]:
    """Place or move one node, making it a key on ``frame``; other nodes stay as they are.

    ``visibility`` defaults to the node's current one on that frame, or visible if it had none.
    The instance's block grows to include the frame if needed.
    """
    t, f = _locate(store, frame, track_id, inside=False)
    idx = store.node_indices(node)
    if idx.size != 1:
        raise StoreError(f"move_node moves one node, got {node!r}")
    xyz = store.check_coords(coords, 1)
    if visibility is None:
        cur = int(t.visibility[f - t.start, idx[0]]) if t.start <= f < t.stop else 0
        visibility = cur if cur > 0 else VISIBLE
    vis: Any = store.check_visibility(visibility, 1)  # (an int8 array; set_points takes it)
    if vis[0] == UNLABELLED:
        raise StoreError("a placed node needs visibility 1 or 2; use set_visibility(..., 0) to unlabel it")
    return _edit(store, t, f, idx, lambda: store.set_points(f, t.track_id, xyz, idx, vis, key=True))


def move_nodes(
    store: AnnotationStore, frame: int, track_id: int, nodes: Any, coords: Any, visibility: Any = None
) -> list[Change]:
    """Place or move several nodes of one instance on ``frame`` as keys, in one edit.

    ``coords[N, D]``; ``visibility`` (scalar or ``(N,)``) defaults to each node's current one, or
    visible where it had none. Validated first; then one write and one re-interpolation of the
    touched nodes' spans (not one per node).
    """
    t, f = _locate(store, frame, track_id, inside=False)
    idx = store.node_indices(nodes)
    if np.unique(idx).size != idx.size:
        raise StoreError(f"move_nodes got a node twice: {[store.skeleton.nodes[i] for i in idx]}")
    xyz = store.check_coords(np.asarray(coords, dtype=float).reshape(idx.size, -1), idx.size)
    if visibility is None:
        inside = t.start <= f < t.stop
        cur = t.visibility[f - t.start, idx] if inside else np.zeros(idx.size, np.int8)
        visibility = np.where(cur > 0, cur, VISIBLE)
    vis: Any = store.check_visibility(visibility, idx.size)
    if (vis == UNLABELLED).any():
        raise StoreError("a placed node needs visibility 1 or 2; use set_visibility(..., 0) to unlabel it")
    if idx.size == 0:
        return []
    return _edit(store, t, f, idx, lambda: store.set_points(f, t.track_id, xyz, idx, vis, key=True))


def move_points(store: AnnotationStore, frames: Any, track_ids: Any, nodes: Any, coords: Any) -> list[Change]:
    """:func:`move_nodes` for points of many (frame, instance) pairs: ``(N,)`` arrays and ``coords[N, D]``.

    Everything is validated before the first write; one edit per (frame, instance).
    """
    frames = np.asarray(frames, np.int64).ravel()
    ids = np.asarray(track_ids, np.int64).ravel()
    idx = np.asarray(nodes, np.intp).ravel()
    if not frames.size == ids.size == idx.size:
        raise StoreError(
            f"move_points needs as many frames, instances and nodes ({frames.size}, {ids.size}, {idx.size})"
        )
    xyz = store.check_coords(np.asarray(coords, dtype=float).reshape(idx.size, -1), idx.size)
    groups = np.unique(np.stack([frames, ids], axis=1), axis=0) if frames.size else np.zeros((0, 2), np.int64)
    for f, tid in groups.tolist():
        _locate(store, f, tid, inside=False)
    changes: list[Change] = []
    for f, tid in groups.tolist():
        m = (frames == f) & (ids == tid)
        changes += move_nodes(store, f, tid, idx[m], xyz[m])
    return changes


def delete_nodes(store: AnnotationStore, frame: int, track_id: int, nodes: Any) -> list[Change]:
    """Remove nodes of an instance on a frame, as a person deleting points means it.

    A removed key is deleted (its frame re-fills from the neighbouring keys, so the node may come
    back interpolated); a removed interpolated node becomes an unlabelled key (a gap interpolation
    does not bridge). One re-interpolation for all the nodes.
    """
    t, f = _locate(store, frame, track_id, inside=False)
    if not t.start <= f < t.stop:
        return []
    idx = np.unique(store.node_indices(nodes))
    keys = idx[t.is_key[f - t.start, idx]]
    others = np.setdiff1d(idx, keys)

    def write() -> None:
        if keys.size:
            store.delete_points(f, t.track_id, keys)
        if others.size:
            store.mark_unlabelled(f, t.track_id, others)

    if idx.size == 0:
        return []
    return _edit(store, t, f, idx, write)


def set_pose(
    store: AnnotationStore, frame: int, track_id: int, coords: Any, visibility: Any = VISIBLE
) -> list[Change]:
    """Key the whole skeleton on a frame: ``coords[K, D]``, ``visibility`` scalar or ``(K,)``.

    Nodes with visibility 0 become unlabelled keys (their coordinates are ignored and may be NaN).
    """
    t, f = _locate(store, frame, track_id, inside=False)
    k, d = store.n_nodes, store.coord_ndim
    try:
        arr = np.asarray(coords, dtype=float)
    except (TypeError, ValueError):
        raise StoreError(f"coordinates must be numbers, got {coords!r}") from None
    if arr.shape != (k, d):
        raise StoreError(f"expected a pose of shape ({k}, {d}), got {arr.shape}")
    vis: Any = store.check_visibility(visibility, k)
    lab = np.flatnonzero(vis > 0)
    unl = np.flatnonzero(vis == 0)
    xyz = store.check_coords(arr[lab], lab.size)

    def write() -> None:
        if lab.size:
            store.set_points(f, t.track_id, xyz, lab, vis[lab], key=True)
        if unl.size:
            store.mark_unlabelled(f, t.track_id, unl)

    return _edit(store, t, f, np.arange(k), write)


def key_all_nodes(store: AnnotationStore, frame: int, track_id: int) -> list[Change]:
    """Make the current (interpolated) pose a key on ``frame``: every node with a position."""
    t, f = _locate(store, frame, track_id)
    placed = np.flatnonzero(np.isfinite(t.coords[f - t.start]).all(axis=-1))
    if placed.size == 0:
        raise StoreError(f"instance {t.track_id} has no points on frame {f} to key")
    return _edit(store, t, f, placed, lambda: store.set_key(f, t.track_id, True, placed))


def delete_key(store: AnnotationStore, frame: int, track_id: int, nodes: Any = None) -> list[Change]:
    """Unkey ``nodes`` (default: all keys) on ``frame``; the frame becomes interpolated or empty."""
    t, f = _locate(store, frame, track_id)
    idx = np.unique(store.node_indices(nodes))
    keys = idx[t.is_key[f - t.start, idx]]
    if keys.size == 0:
        which = "" if nodes is None else f" for nodes {[store.skeleton.nodes[i] for i in idx]}"
        raise StoreError(f"instance {t.track_id} has no key on frame {f}{which}")
    return _edit(store, t, f, keys, lambda: store.delete_points(f, t.track_id, keys))


def set_visibility(
    store: AnnotationStore, frame: int, track_id: int, nodes: Any, visibility: Any
) -> list[Change]:
    """Set the visibility of nodes on a frame, as keys (``nodes=None``: all nodes).

    Visibility 1 or 2 keys the node at its current (possibly interpolated) position; 0 makes it an
    unlabelled key, which ends its spans (unless the store bridges unlabelled keys).
    """
    t, f = _locate(store, frame, track_id, inside=False)
    idx = np.unique(store.node_indices(nodes))
    vis = store.check_visibility(visibility, idx.size)
    lab, unl = idx[vis > 0], idx[vis == 0]
    if lab.size:
        inside = t.start <= f < t.stop
        have = np.isfinite(t.coords[f - t.start, lab]).all(axis=-1) if inside else np.zeros(lab.size, bool)
        if not have.all():
            missing = [store.skeleton.nodes[i] for i in lab[~have]]
            raise StoreError(
                f"nodes {missing} of instance {t.track_id} have no position on frame {f}; place them first"
            )

    def write() -> None:
        r = f - t.start
        if lab.size:
            t.visibility[r, lab] = vis[vis > 0]
            t.is_key[r, lab] = True
        if unl.size:
            store.mark_unlabelled(f, t.track_id, unl)

    return _edit(store, t, f, idx, write)


def copy_previous_pose(store: AnnotationStore, frame: int, track_id: int) -> list[Change]:
    """Copy the pose from the nearest earlier frame where the instance has points, as keys."""
    t, f = _locate(store, frame, track_id, inside=False)
    upto = min(f - t.start, len(t))
    has = np.isfinite(t.coords[: max(upto, 0), :, 0]).any(axis=1)
    rows = np.flatnonzero(has)
    if rows.size == 0:
        raise StoreError(f"instance {t.track_id} has no points before frame {f} to copy")
    src = int(rows[-1])
    nodes = np.flatnonzero(np.isfinite(t.coords[src]).all(axis=-1))
    xyz = t.coords[src, nodes].copy()
    vis: Any = t.visibility[src, nodes]
    vis = np.where(vis > 0, vis, VISIBLE).astype(np.int8)
    return _edit(store, t, f, nodes, lambda: store.set_points(f, t.track_id, xyz, nodes, vis, key=True))


def mirror_pose(store: AnnotationStore, frame: int, track_id: int) -> list[Change]:
    """Swap left and right on ``frame``: paired nodes exchange positions and visibility, as keys.

    A node whose partner has no position becomes an unlabelled key. Unpaired nodes are untouched.
    """
    t, f = _locate(store, frame, track_id)
    perm = store.skeleton.flip_permutation()
    paired = np.flatnonzero(perm != np.arange(store.n_nodes))
    if paired.size == 0:
        raise StoreError(f"skeleton {store.skeleton.name!r} has no left/right pairs to mirror")
    r = f - t.start
    have = np.isfinite(t.coords[r]).all(axis=-1)
    touch = paired[have[paired] | have[perm[paired]]]
    if touch.size == 0:
        raise StoreError(f"instance {t.track_id} has no paired nodes placed on frame {f} to mirror")
    new_c, new_v = t.coords[r, perm[touch]].copy(), t.visibility[r, perm[touch]].copy()
    ok = have[perm[touch]] & (new_v > 0)
    lab, unl = touch[ok], touch[~ok]

    def write() -> None:
        if lab.size:
            store.set_points(f, t.track_id, new_c[ok], lab, new_v[ok], key=True)
        if unl.size:
            store.mark_unlabelled(f, t.track_id, unl)

    return _edit(store, t, f, touch, write)


# -- lifespans -----------------------------------------------------------------------------------
def start_instance(
    store: AnnotationStore, frame: int, track_id: int | None = None, lives: int | None = None
) -> Track:
    """A new, empty instance starting on ``frame``: the one rule for every way one is made.

    It lives ``lives`` frames, or (``None``) to the end of the video when the store knows it (V7's
    default: an annotation lasts until it is ended); frames after its last key then hold the last
    key's pose as interpolated points. Stamps, clicks and ``api.set_node`` all start instances here.
    """
    if lives is not None and (isinstance(lives, bool) or int(lives) < 1):
        raise StoreError(f"a new instance lives at least one frame, got {lives!r}")
    f = store.check_frame(frame)
    n = store.n_frames
    if store.frame_axis is None:
        stop = f + 1
    elif lives is not None:
        stop = f + int(lives) if n is None else min(f + int(lives), n)
    else:
        stop = f + 1 if n is None else n
    return store.add_track(track_id, start=f, stop=stop)


def extend_track(store: AnnotationStore, track_id: int, n_frames: int) -> list[Change]:
    """Extend an instance's lifespan by ``n_frames`` after its block (V7's "extend by N frames").

    The new frames are alive and hold each node's last pose (as interpolated points); the extension
    stops at the end of the video when the store knows it.
    """
    t = store.track(track_id)
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise StoreError(f"extend by a positive number of frames, got {n_frames!r}")
    last = t.stop - 1 + int(n_frames)
    if store.n_frames is not None:
        last = min(last, store.n_frames - 1)
    if last < t.stop or store.frame_axis is None:
        return []
    store.set_alive(t.track_id, t.stop, last + 1, True)
    return interpolate_all(store, tracks=[t.track_id])


def end_track(store: AnnotationStore, frame: int, track_id: int) -> list[Change]:
    """End an instance from ``frame`` on: its lifespan stops before ``frame`` (V7 ``ranges``).

    The frames from ``frame`` to the end of its block lose their points and are no longer alive;
    the pose is no longer held there. Ending on the instance's first frame is refused (delete the
    instance instead).
    """
    t, f = _locate(store, frame, track_id)
    if f <= t.start or not t.alive[: f - t.start].any():
        raise StoreError(f"instance {t.track_id} starts at frame {f}: delete it instead of ending it there")
    store.set_alive(t.track_id, f, t.stop, False)
    return interpolate_all(store, tracks=[t.track_id])


# -- navigation ----------------------------------------------------------------------------------
def key_frames(store: AnnotationStore, track_id: int, node: int | str | None = None) -> np.ndarray:
    """Sorted frames where the instance has a key (on any node, or on ``node``)."""
    t = store.track(track_id)
    key = t.is_key if node is None else t.is_key[:, store.node_indices(node)]
    return np.flatnonzero(key.any(axis=1)) + t.start


def _tracks(store: AnnotationStore, track_id: int | None) -> list[Track]:
    return list(store) if track_id is None else [store.track(track_id)]


def _neighbour_key(
    store: AnnotationStore, frame: int, track_id: int | None, node: int | str | None, after: bool
) -> int | None:
    f = store.check_frame(frame)
    found = []
    for t in _tracks(store, track_id):
        frames = key_frames(store, t.track_id, node)
        i = np.searchsorted(frames, f, side="right" if after else "left")
        if after and i < frames.size:
            found.append(int(frames[i]))
        elif not after and i > 0:
            found.append(int(frames[i - 1]))
    if not found:
        return None
    return min(found) if after else max(found)


def next_key(
    store: AnnotationStore, frame: int, track_id: int | None = None, node: int | str | None = None
) -> int | None:
    """The first key frame after ``frame`` (of one track or any, one node or any), or None."""
    return _neighbour_key(store, frame, track_id, node, after=True)


def previous_key(
    store: AnnotationStore, frame: int, track_id: int | None = None, node: int | str | None = None
) -> int | None:
    """The last key frame before ``frame`` (of one track or any, one node or any), or None."""
    return _neighbour_key(store, frame, track_id, node, after=False)


def bisect_frame(store: AnnotationStore, frame: int, track_id: int | None = None) -> int | None:
    """The frame halfway between the key at or before ``frame`` and the next key, or None.

    None when there is no key on one side or no frame between them.
    """
    f = store.check_frame(frame)
    lo = f if _is_key_frame(store, f, track_id) else previous_key(store, f, track_id)
    hi = next_key(store, f, track_id)
    if lo is None or hi is None or hi - lo < 2:
        return None
    return (lo + hi) // 2


def _is_key_frame(store: AnnotationStore, f: int, track_id: int | None) -> bool:
    return any(t.start <= f < t.stop and bool(t.is_key[f - t.start].any()) for t in _tracks(store, track_id))


def suggest_next_keyframe(store: AnnotationStore, track_id: int | None = None) -> int | None:
    """A frame worth keying next: where linear and cubic interpolation disagree most.

    A cheap uncertainty measure: both methods agree on linear motion and near keys, and differ
    where the motion curves between sparse keys. Without any disagreement, the middle of the
    longest run of interpolated frames; None if nothing is interpolated.
    """
    tracks = _tracks(store, track_id)
    if store.frame_axis is None:
        return None
    best, best_frame = 0.0, None
    run_len, run_frame = 0, None
    for t in tracks:
        args = (t.coords, t.visibility, t.is_key, t.alive)
        lin, _ = interpolated(*args, "linear", store.bridge_unlabelled)
        cub, _ = interpolated(*args, "cubic", store.bridge_unlabelled)
        gap = np.linalg.norm(lin - cub, axis=-1)
        gap[t.is_key | ~np.isfinite(gap)] = 0.0
        per_frame = gap.max(axis=1)
        r = int(np.argmax(per_frame))
        if per_frame[r] > best:
            best, best_frame = float(per_frame[r]), t.start + r
        filled = (np.isfinite(lin).all(axis=-1) & ~t.is_key).any(axis=1)
        n, start = _longest_run(filled)
        if n > run_len:
            run_len, run_frame = n, t.start + start + n // 2
    return best_frame if best > 1e-9 else run_frame


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    """Length and start of the longest run of True in a 1-D mask ((0, 0) if none)."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if starts.size == 0:
        return 0, 0
    i = int(np.argmax(stops - starts))
    return int(stops[i] - starts[i]), int(starts[i])
