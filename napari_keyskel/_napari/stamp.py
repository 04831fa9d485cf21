"""Stamping whole poses at the cursor: the template, the previous pose, and their mirror images.

The pose maths is plain numpy: :func:`tree_layout` (a skeleton drawn as a tree),
:func:`template_pose` (the most complete key pose so far, completed by the tree layout) and
:func:`previous_pose` (an instance's last pose before a frame, moved to a point).
:class:`StampActions` are the key actions (``T``, ``Shift-T``, ``Y``, ``Shift-Y``, ``M``) that
stamp them onto the layer as one undo step each.
"""

from __future__ import annotations

import numpy as np

from ..core import keyframes as kf
from ..core.presets import default_pose
from ..core.skeleton import Skeleton
from ..core.store import VISIBLE, AnnotationStore, Change, Track
from ..errors import KeyskelError
from .bindings_base import BindingsBase

__all__ = ["StampActions", "previous_pose", "template_pose", "tree_layout"]


def tree_layout(skeleton: Skeleton) -> np.ndarray:
    """``(K, 2)`` (y, x) offsets in [-1, 1]: breadth-first depth down, siblings across."""
    k = skeleton.n_nodes
    depth = np.full(k, -1)
    adj: list[list[int]] = [[] for _ in range(k)]
    for a, b in skeleton.edges:
        adj[a].append(b)
        adj[b].append(a)
    level = 0
    for root in range(k):
        if depth[root] >= 0:
            continue
        depth[root] = level
        queue = [root]
        while queue:
            n = queue.pop(0)
            for m in adj[n]:
                if depth[m] < 0:
                    depth[m] = depth[n] + 1
                    queue.append(m)
        level = int(depth.max()) + 1
    out = np.zeros((k, 2))
    top = max(int(depth.max()), 1)
    for d in range(int(depth.max()) + 1):
        nodes = np.flatnonzero(depth == d)
        out[nodes, 0] = 2 * d / top - 1
        out[nodes, 1] = (np.arange(nodes.size) - (nodes.size - 1) / 2) / max(nodes.size, 2) * 2
    return out


def template_pose(store: AnnotationStore, frame: int, size: float) -> np.ndarray:
    """``(K, D)`` offsets of a whole-skeleton template around 0.

    The most complete labelled key pose in the store (on ``frame`` first, then anywhere),
    centred; nodes it lacks come from a tree layout of the skeleton ``size`` pixels tall.
    """
    k, d = store.n_nodes, store.coord_ndim
    best, best_n = None, 0
    for t in store:
        rows = np.flatnonzero(t.is_key.any(axis=1))
        if not rows.size:
            continue
        n = np.isfinite(t.coords[rows, :, -1]).sum(axis=1)
        here = np.flatnonzero(rows + t.start == frame)
        r = int(rows[here[0]]) if here.size and n[here[0]] > 0 else int(rows[np.argmax(n)])
        cnt = int(np.isfinite(t.coords[r, :, -1]).sum()) + (k if r + t.start == frame else 0)
        if cnt > best_n:
            best, best_n = t.coords[r].copy(), cnt
    layout = np.zeros((k, d))
    preset = default_pose(store.skeleton)  # a preset's pose looks like the animal; else a tree
    layout[:, -2:] = (tree_layout(store.skeleton) if preset is None else preset) * (size / 2)
    if best is None:
        return layout
    have = np.isfinite(best).all(axis=1)
    best[:, :-2] = 0.0
    centre = best[have].mean(axis=0)
    pose = best - centre
    pose[~have] = layout[~have]
    return pose


def previous_pose(
    track: Track, frame: int, at: np.ndarray, same_z: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(pose, visibility)``: the track's last pose before ``frame``, its centre moved to ``at``.

    Nodes without a point get visibility 0 and coordinates 0; ``same_z`` keeps the pose on its
    own plane (only the last two coordinates move). None if the track has no pose before ``frame``.
    """
    upto = min(max(frame - track.start, 0), len(track))
    rows = np.flatnonzero(np.isfinite(track.coords[:upto, :, -1]).any(axis=1))
    if not rows.size:
        return None
    src = track.coords[rows[-1]]
    vis = np.where(np.isfinite(src[:, -1]), np.maximum(track.visibility[rows[-1]], 1), 0).astype(np.int8)
    have = vis > 0
    pose = src.copy()
    shift = at - pose[have].mean(axis=0)
    if same_z and pose.shape[1] > 2:
        shift[:-2] = 0.0  # stay on the same z
    pose = pose + shift
    pose[vis == 0] = 0.0
    return pose, vis


class StampActions(BindingsBase):
    """Key actions that stamp a whole pose at the cursor, or mirror the current one."""

    def _stamp_size(self) -> float:
        ext = np.asarray(self.viewer.layers.extent.world)
        span = (ext[1] - ext[0])[-2:] / np.asarray(self.layer.scale)[-2:]
        return float(max(min(span) / 4, 4.0))

    def _stamp(self, pose: np.ndarray, vis: np.ndarray, track_id: int | None, label: str) -> list[Change]:
        f = self.frame()
        store = self.store

        def fn() -> list[Change]:
            tid = track_id
            if tid is None:  # a new instance: it lives to the end of the video (or as set)
                tid = kf.start_instance(store, f, lives=self.owner.new_instance_frames).track_id
            self.owner.current_instance = tid
            return kf.set_pose(store, f, tid, pose, vis)

        changes = self.run(label, fn, [] if track_id is None else [track_id])
        self.owner.next_node = None
        return changes

    def stamp_template(self, mirrored: bool = False) -> list[Change]:
        """Stamp the template (the most complete pose so far, else a tree layout) at the cursor."""
        try:
            f, at = self.frame(), self.cursor()
        except KeyskelError as exc:
            self.say(str(exc))
            return []
        pose = template_pose(self.store, f, self._stamp_size())
        if mirrored:
            pose = pose[self.store.skeleton.flip_permutation()]
        label = "stamp mirrored template" if mirrored else "stamp template"
        return self._stamp(pose + at, np.full(self.store.n_nodes, VISIBLE, np.int8), None, label)

    def stamp_template_mirrored(self) -> list[Change]:
        return self.stamp_template(mirrored=True)

    def stamp_previous(self, mirrored: bool = False) -> list[Change]:
        """Stamp the current instance's nearest earlier pose at the cursor, onto that instance."""
        try:
            f, at, tid = self.frame(), self.cursor(), self.current_track()
        except KeyskelError as exc:
            self.say(str(exc))
            return []
        t = self.store.tracks[tid]
        previous = previous_pose(t, f, at, same_z=self.store.frame_axis is not None)
        if previous is None:
            self.say(f"{t.name} has no pose before frame {f}")
            return []
        pose, vis = previous
        if mirrored:
            perm = self.store.skeleton.flip_permutation()
            pose, vis = pose[perm], vis[perm]
        label = "stamp previous pose mirrored" if mirrored else "stamp previous pose"
        return self._stamp(pose, vis, tid, label)

    def stamp_previous_mirrored(self) -> list[Change]:
        return self.stamp_previous(mirrored=True)

    def mirror(self) -> list[Change]:
        """Swap left and right of the current instance on this frame."""
        try:
            f, tid = self.frame(), self.current_track()
        except KeyskelError as exc:
            self.say(str(exc))
            return []
        return self.run("mirror left/right", lambda: kf.mirror_pose(self.store, f, tid), [tid])
