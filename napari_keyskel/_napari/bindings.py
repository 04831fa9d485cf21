"""Key bindings and undo/redo for a keyskel Points layer (bound on the layer, not the viewer).

:func:`install` gives a :class:`~napari_keyskel._napari.controller.LayerController` a
:class:`Bindings`: the keys in :data:`KEYS`, a :class:`~napari_keyskel.history.History` of its
store that records every edit (key bindings, docks, and napari's own add / drag / delete through
the controller; a mouse drag from press to release is one step), and the "next node" for
click-to-place annotation. Every edit goes through :mod:`napari_keyskel.keyframes` and then
:meth:`LayerController.apply`, so only the touched points and spans are updated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

from .. import keyframes as kf
from ..errors import KeyskelError
from ..history import History
from ..skeleton import Skeleton
from ..store import UNLABELLED, VISIBLE, AnnotationStore, Change

if TYPE_CHECKING:
    from .controller import LayerController

__all__ = [
    "KEYS",
    "Bindings",
    "bindings_for",
    "install",
    "reload_skeleton",
    "shortcuts_text",
    "template_pose",
]

#: (key, method, description): the key bindings of a keyskel layer.
KEYS: tuple[tuple[str, str, str], ...] = (
    ("T", "stamp_template", "stamp the skeleton template at the cursor (a new instance)"),
    ("Shift-T", "stamp_previous", "stamp the current instance's previous pose at the cursor"),
    ("Y", "stamp_template_mirrored", "stamp the template mirrored (left/right pairs swapped)"),
    ("Shift-Y", "stamp_previous_mirrored", "stamp the previous pose mirrored"),
    ("M", "mirror", "swap left/right of the current instance on this frame"),
    ("I", "new_instance", "start a new instance: the next click places its first node"),
    ("]", "next_instance", "select the next instance on this frame"),
    ("[", "previous_instance", "select the previous instance on this frame"),
    ("N", "next_node", "next node to place by clicking (Points add mode, P)"),
    ("Shift-N", "previous_node", "previous node to place"),
    ("O", "toggle_occluded", "toggle occluded on the selected points"),
    ("U", "mark_unlabelled", "mark the selected points (in add mode: the next node) unlabelled"),
    ("K", "toggle_key", "make the selected points (or the instance) a key, or unkey them"),
    ("X", "delete_instance_frame", "delete the current instance on this frame"),
    ("Shift-X", "delete_track", "delete the current instance on every frame"),
    ("A", "previous_frame", "previous frame"),
    ("D", "next_frame", "next frame"),
    ("Q", "previous_keyframe", "previous keyframe"),
    ("E", "next_keyframe", "next keyframe"),
    ("H", "bisect", "jump halfway between the keys around this frame"),
    ("Shift-I", "interpolate", "re-interpolate every instance"),
    ("Control-Z", "undo", "undo"),
    ("Control-Shift-Z", "redo", "redo"),
)

_BINDINGS: dict[int, Bindings] = {}


def shortcuts_text() -> str:
    """The key bindings as a Markdown table (for the README and the dock's help)."""
    rows = ["| Key | Action |", "| --- | --- |"]
    rows += [f"| `{k}` | {d} |" for k, _, d in KEYS]
    rows.append("| click (Points add mode, `P`) | place the next node; advances to the next unlabelled |")
    rows.append("| drag (select mode, `S`) | move a node: it becomes a key, its span re-interpolates |")
    return "\n".join(rows)


def bindings_for(ctrl: LayerController) -> Bindings | None:
    """The bindings installed on a controller, if any."""
    b = _BINDINGS.get(id(ctrl))
    return b if b is not None and b.ctrl is ctrl else None


def install(ctrl: LayerController) -> Bindings:
    """Install (once) the key bindings and history on a controller's Points layer."""
    return bindings_for(ctrl) or Bindings(ctrl)


def reload_skeleton(ctrl: LayerController) -> None:
    """Make the controller pick up a new ``store.skeleton`` (edges, colours, node names)."""
    ctrl.reload_skeleton()


def _tree_layout(skeleton: Skeleton) -> np.ndarray:
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
    layout[:, -2:] = _tree_layout(store.skeleton) * (size / 2)
    if best is None:
        return layout
    have = np.isfinite(best).all(axis=1)
    best[:, :-2] = 0.0
    centre = best[have].mean(axis=0)
    pose = best - centre
    pose[~have] = layout[~have]
    return pose


class Bindings:
    """Key bindings, history and click-to-place state of one keyskel layer.

    Attributes
    ----------
    history
        The undo/redo history of the layer's store.
    message
        Signal emitted with a short status text after each action (the dock shows it).

    """

    message = Signal(str)

    def __init__(self, ctrl: LayerController) -> None:
        self.ctrl = ctrl
        self.layer = ctrl.points
        self.viewer = ctrl.viewer
        self.history = History(ctrl.store)
        self._applying = 0
        self._last_message = ""
        for key, method, _ in KEYS:
            self.layer.bind_key(key, self._key_handler(method), overwrite=True)
        ctrl.changed.connect(self._on_changed)
        ctrl.frame_changed.connect(self._on_frame)
        self.layer.selected_data.events.items_changed.connect(self._on_selection)
        self._keep_drag_last()
        self.layer.events.mode.connect(self._keep_drag_last)
        _BINDINGS[id(ctrl)] = self

    def _key_handler(self, method: str) -> Callable[[Any], None]:
        def handler(layer: Any) -> None:
            getattr(self, method)()

        handler.__name__ = f"keyskel_{method}"
        handler.__doc__ = next(d for k, m, d in KEYS if m == method)
        return handler

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def store(self) -> AnnotationStore:
        return self.ctrl.store

    def say(self, text: str) -> None:
        self._last_message = text
        self.message.emit(text)

    @contextlib.contextmanager
    def applying(self) -> Iterator[None]:
        self._applying += 1
        try:
            yield
        finally:
            self._applying -= 1

    def _on_changed(self, changes: list[Change]) -> None:
        """Edits made by napari through the controller (add, drag, delete): record them."""
        if not self._applying:
            self.history.commit("edit points", changes)
            self._fix_next_node()

    def _keep_drag_last(self, event: Any = None) -> None:
        """Run our drag callback after the mode's (napari appends it on each mode change).

        So on release the mode has made its edit (an add happens on release) before the step
        is recorded.
        """
        callbacks = self.layer.mouse_drag_callbacks
        if self._drag in callbacks:
            callbacks.remove(self._drag)
        callbacks.append(self._drag)

    def _drag(self, layer: Any, event: Any) -> Iterator[None]:
        """A mouse drag (press to release) is one undo step."""
        self.history.begin()
        try:
            yield
            while event.type == "mouse_move":
                yield
        finally:
            self.history.end("add point" if str(layer.mode) == "add" else "move points")
            self._fix_next_node()

    def record(
        self, label: str, fn: Callable[[], list[Change]], tracks: list[int] | None = None
    ) -> list[Change]:
        """Run a store edit as one undo step and update the layer; errors propagate (nothing done)."""
        with self.history.edit(label, tracks):
            changes = fn()
        with self.applying():
            self.ctrl.apply(changes)
        return changes

    def run(
        self, label: str, fn: Callable[[], list[Change]], tracks: list[int] | None = None
    ) -> list[Change]:
        """:meth:`record`, with errors shown as a status message instead of raised."""
        try:
            changes = self.record(label, fn, tracks)
        except KeyskelError as exc:
            self.say(f"{label}: {exc}")
            return []
        self.say(label)
        return changes

    def frame(self) -> int:
        f = self.ctrl.frame_in_view()
        if f is None:
            raise KeyskelError("show one frame (the frame axis is displayed)")
        return f

    def cursor(self) -> np.ndarray:
        """Store coordinates of the mouse cursor (the layer's data coordinates without the frame axis)."""
        pos = np.asarray(self.viewer.cursor.position, float)[-self.layer.ndim :]
        data = np.asarray(self.layer.world_to_data(pos), float)
        fa = self.store.frame_axis
        return data if fa is None else np.delete(data, fa)

    def selected(self) -> list[tuple[int, np.ndarray]]:
        """``[(track_id, node indices)]`` of the selected points."""
        rows = np.asarray(sorted(self.layer.selected_data), np.intp)
        if not rows.size:
            return []
        feats = self.layer.features
        ids = feats["instance"].to_numpy(np.int64)[rows]
        nodes = np.asarray(feats["node"].cat.codes, np.intp)[rows]
        return [(int(t), np.unique(nodes[ids == t])) for t in np.unique(ids)]

    def current_track(self) -> int:
        """The instance actions apply to: of the selected points, else the current instance."""
        sel = self.selected()
        if sel:
            self.ctrl.current_instance = sel[0][0]
            return sel[0][0]
        tid = self.ctrl.current_instance
        if tid is None or tid not in self.store.tracks:
            ids = self.ids_on_frame()
            if len(ids) == 1:
                return ids[0]
            raise KeyskelError("select a point of an instance first")
        return int(tid)

    def ids_on_frame(self) -> list[int]:
        f = self.frame()
        on = [t for t in self.store if t.start <= f < t.stop]
        return [t.track_id for t in on if np.isfinite(t.coords[f - t.start]).any()]

    def _jump(self, frame: int | None) -> None:
        if frame is None:
            self.say("no such frame")
            return
        fa = self.store.frame_axis
        if fa is None:
            return
        n = self.store.n_frames
        frame = int(np.clip(frame, 0, (n or frame + 1) - 1))
        world_axis = self.viewer.dims.ndim - self.layer.ndim + fa
        self.viewer.dims.set_current_step(world_axis, frame)

    # -- next node (click to place) ---------------------------------------------------------------
    def free_nodes(self) -> list[int]:
        """Nodes of the current instance without a point (or an unlabelled key) on this frame."""
        tid = self.ctrl.current_instance
        if tid is None or tid not in self.store.tracks:
            return list(range(self.store.n_nodes))
        coords, vis, key = self.store.get(self.frame(), tid)
        skipped = key & (vis == UNLABELLED)
        return [k for k in range(self.store.n_nodes) if not np.isfinite(coords[k, -1]) and not skipped[k]]

    def next_node_index(self) -> int | None:
        """The node the next click places (None: the instance is complete on this frame)."""
        if self.ctrl.next_node is not None:
            return int(self.ctrl.next_node)
        try:
            free = self.free_nodes()
        except KeyskelError:
            return None
        return free[0] if free else None

    def next_node_text(self) -> str:
        """The next-node indicator, e.g. ``next: snout (instance 1)``."""
        try:
            k = self.next_node_index()
        except KeyskelError:
            return ""
        tid = self.ctrl.current_instance
        who = "new instance" if tid is None or tid not in self.store.tracks else self.store.tracks[tid].name
        if k is None:
            return f"{who}: all nodes placed"
        return f"next: {self.store.skeleton.nodes[k]} ({who})"

    def _fix_next_node(self) -> None:
        """After napari added a point the controller forgets the next node: skip unlabelled keys."""
        if self.ctrl.next_node is None:
            with contextlib.suppress(KeyskelError):
                free = self.free_nodes()
                tid = self.ctrl.current_instance
                if free and tid is not None and tid in self.store.tracks:
                    self.ctrl.next_node = free[0]
        self.say(self.next_node_text())

    def _on_selection(self, event: Any = None) -> None:
        """Selecting points (select mode) makes their instance the current one."""
        if str(self.layer.mode) == "add" or not self.layer.selected_data:
            return
        with contextlib.suppress(KeyskelError, KeyError, IndexError):
            tid = self.selected()[0][0]
            if tid != self.ctrl.current_instance:
                self.ctrl.current_instance = tid
                self.ctrl.next_node = None
                self._fix_next_node()

    def _on_frame(self, frame: int | None) -> None:
        """A new frame: placing starts again from the first free node."""
        self.ctrl.next_node = None
        if frame is not None:
            self._fix_next_node()

    def _step_node(self, step: int) -> None:
        k = self.next_node_index()
        k = 0 if k is None else (k + step) % self.store.n_nodes
        self.ctrl.next_node = k
        self.say(self.next_node_text())

    def next_node(self) -> None:
        self._step_node(+1)

    def previous_node(self) -> None:
        self._step_node(-1)

    def new_instance(self) -> None:
        self.ctrl.current_instance = None
        self.ctrl.next_node = None
        self.layer.selected_data = set()
        self.say(self.next_node_text())

    def _cycle_instance(self, step: int) -> None:
        ids = self.ids_on_frame()
        if not ids:
            self.say("no instance on this frame")
            return
        cur = self.ctrl.current_instance
        i = ids.index(cur) + step if cur in ids else (0 if step > 0 else -1)
        tid = ids[i % len(ids)]
        self.ctrl.current_instance = tid
        self.ctrl.next_node = None
        rows = np.flatnonzero(self.layer.features["instance"].to_numpy(np.int64) == tid)
        self.layer.selected_data = set(rows.tolist())
        self.say(self.next_node_text())

    def next_instance(self) -> None:
        self._cycle_instance(+1)

    def previous_instance(self) -> None:
        self._cycle_instance(-1)

    # -- stamping -------------------------------------------------------------------------------
    def _stamp_size(self) -> float:
        ext = np.asarray(self.viewer.layers.extent.world)
        span = (ext[1] - ext[0])[-2:] / np.asarray(self.layer.scale)[-2:]
        return float(max(min(span) / 4, 4.0))

    def _stamp(self, pose: np.ndarray, vis: np.ndarray, track_id: int | None, label: str) -> list[Change]:
        f = self.frame()
        store = self.store

        def fn() -> list[Change]:
            tid = track_id if track_id is not None else store.add_track(start=f).track_id
            self.ctrl.current_instance = tid
            return kf.set_pose(store, f, tid, pose, vis)

        changes = self.run(label, fn, [] if track_id is None else [track_id])
        self.ctrl.next_node = None
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
        upto = min(max(f - t.start, 0), len(t))
        rows = np.flatnonzero(np.isfinite(t.coords[:upto, :, -1]).any(axis=1))
        if not rows.size:
            self.say(f"{t.name} has no pose before frame {f}")
            return []
        src = t.coords[rows[-1]]
        vis = np.where(np.isfinite(src[:, -1]), np.maximum(t.visibility[rows[-1]], 1), 0).astype(np.int8)
        have = vis > 0
        pose = src.copy()
        shift = at - pose[have].mean(axis=0)
        if self.store.frame_axis is not None and pose.shape[1] > 2:
            shift[:-2] = 0.0  # stay on the same z
        pose = pose + shift
        if mirrored:
            perm = self.store.skeleton.flip_permutation()
            pose, vis = pose[perm], vis[perm]
        pose[vis == 0] = 0.0
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

    # -- node state -----------------------------------------------------------------------------
    def _selected_or_say(self, what: str) -> list[tuple[int, np.ndarray]]:
        sel = self.selected()
        if not sel:
            self.say(f"select points to {what}")
        return sel

    def toggle_occluded(self) -> list[Change]:
        """Occluded <-> visible for the selected points (they become keys)."""
        sel = self._selected_or_say("toggle occluded")
        if not sel:
            return []
        f = self.frame()

        def fn() -> list[Change]:
            out: list[Change] = []
            for tid, nodes in sel:
                _, vis, _ = self.store.get(f, tid)
                new = np.where(vis[nodes] == VISIBLE, 1, VISIBLE)
                out += kf.set_visibility(self.store, f, tid, nodes, new)
            return out

        return self.run("toggle occluded", fn, [t for t, _ in sel])

    def mark_unlabelled(self) -> list[Change]:
        """Selected points (or the next node to place) become unlabelled keys; ends their spans."""
        try:
            f = self.frame()
        except KeyskelError as exc:
            self.say(str(exc))
            return []
        # in add mode the point just placed is selected: U then skips the next node instead
        sel = [] if str(self.layer.mode) == "add" else self.selected()
        if not sel:
            tid, k = self.ctrl.current_instance, self.next_node_index()
            if tid is None or tid not in self.store.tracks or k is None:
                self.say("select points, or start an instance, to mark unlabelled")
                return []
            sel = [(int(tid), np.asarray([k]))]
        changes = self.run(
            "mark unlabelled",
            lambda: [c for tid, n in sel for c in kf.set_visibility(self.store, f, tid, n, UNLABELLED)],
            [t for t, _ in sel],
        )
        self.ctrl.next_node = None
        self._fix_next_node()
        return changes

    def toggle_key(self) -> list[Change]:
        """Key the selected points (or the whole instance) here, or unkey them if all are keys."""
        try:
            f = self.frame()
            sel = self.selected() or [(self.current_track(), None)]
        except KeyskelError as exc:
            self.say(str(exc))
            return []

        def fn() -> list[Change]:
            out: list[Change] = []
            for tid, nodes in sel:
                coords, vis, key = self.store.get(f, tid)
                idx = np.flatnonzero(np.isfinite(coords[:, -1]) | key) if nodes is None else nodes
                if idx.size and key[idx].all():
                    out += kf.delete_key(self.store, f, tid, idx)
                elif nodes is None:
                    out += kf.key_all_nodes(self.store, f, tid)
                else:
                    out += kf.set_visibility(self.store, f, tid, idx, np.maximum(vis[idx], 1))
            return out

        return self.run("toggle key", fn, [t for t, _ in sel])

    # -- instances ------------------------------------------------------------------------------
    def delete_instance_frame(self) -> list[Change]:
        """The current instance is absent on this frame (a lifespan gap interpolation never bridges)."""
        try:
            f, tid = self.frame(), self.current_track()
        except KeyskelError as exc:
            self.say(str(exc))
            return []

        def fn() -> list[Change]:
            out = [self.store.set_alive(tid, f, f + 1, False)]
            return out + kf.interpolate_all(self.store, tracks=[tid])

        return self.run(f"delete instance {tid} on frame {f}", fn, [tid])

    def delete_track(self) -> list[Change]:
        """Delete the current instance on every frame."""
        try:
            tid = self.current_track()
        except KeyskelError as exc:
            self.say(str(exc))
            return []
        self.layer.selected_data = set()
        changes = self.run(f"delete instance {tid}", lambda: [self.store.remove_track(tid)], [tid])
        self.ctrl.current_instance = None
        return changes

    # -- navigation -----------------------------------------------------------------------------
    def _frame_or_none(self) -> int | None:
        try:
            return self.frame()
        except KeyskelError as exc:
            self.say(str(exc))
            return None

    def previous_frame(self) -> None:
        f = self._frame_or_none()
        if f is not None:
            self._jump(max(f - 1, 0))

    def next_frame(self) -> None:
        f = self._frame_or_none()
        if f is not None:
            self._jump(f + 1)

    def _track_filter(self) -> int | None:
        tid = self.ctrl.current_instance
        return tid if tid in self.store.tracks else None

    def previous_keyframe(self) -> None:
        f = self._frame_or_none()
        if f is not None:
            self._jump(kf.previous_key(self.store, f, self._track_filter()))

    def next_keyframe(self) -> None:
        f = self._frame_or_none()
        if f is not None:
            self._jump(kf.next_key(self.store, f, self._track_filter()))

    def bisect(self) -> None:
        f = self._frame_or_none()
        if f is not None:
            self._jump(kf.bisect_frame(self.store, f, self._track_filter()))

    def interpolate(self) -> list[Change]:
        return self.run(f"interpolate ({self.store.method})", lambda: kf.interpolate_all(self.store))

    # -- undo / redo ----------------------------------------------------------------------------
    def _replay(self, label: str, fn: Callable[[], list[Change]]) -> list[Change]:
        skeleton = self.store.skeleton
        try:
            changes = fn()
        except KeyskelError as exc:
            self.say(str(exc))
            return []
        with self.applying():
            if self.store.skeleton is not skeleton:
                reload_skeleton(self.ctrl)
            else:
                self.ctrl.apply(changes)
        self.say(label if changes or label.startswith("nothing") else f"{label} (settings)")
        return changes

    def undo(self) -> list[Change]:
        """Undo the last edit of this layer."""
        label = self.history.undo_label
        if label is None and not self.history.can_undo:
            self.history.commit("unrecorded edits")
            label = self.history.undo_label
        if label is None:
            self.say("nothing to undo")
            return []
        return self._replay(f"undo {label}", self.history.undo)

    def redo(self) -> list[Change]:
        """Redo the last undone edit."""
        label = self.history.redo_label
        if label is None:
            self.say("nothing to redo")
            return []
        return self._replay(f"redo {label}", self.history.redo)
