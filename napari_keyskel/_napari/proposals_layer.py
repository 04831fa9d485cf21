"""A proposals layer tied to an annotation layer: show, accept, reject, propagate.

:class:`ProposalsLayer` holds a proposals :class:`~napari_keyskel.core.store.AnnotationStore` (a
model's output, or what propagation found) beside a keyskel annotation layer, as a part of its
owner (``owner.proposals``; one at a time). It
draws the proposals of the frame in view as their own Points layer (squares, dimmed, face
opacity and size growing with the score) with their own edges (a Vectors layer), hides those
scored below ``min_score``, and accepts or rejects them through :mod:`napari_keyskel.assist.proposals`.

Each accept is **one** undo step of the annotation layer (its history, the same Ctrl-Z) and one
of the proposals store; :meth:`ProposalsLayer.undo` reverts both. Propagation and "interpolate
with the image" run in a worker made by the ``run`` given (the Models dock gives napari's
``create_worker``: a thread with a progress bar in napari's activity dock) and can be cancelled
(:meth:`cancel`); the worker works on copies, and its result is applied on the GUI thread as one
step — or dropped with a warning if the annotations changed meanwhile. Without ``run`` the work
runs at once, in the caller's thread. This module holds no Qt.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..assist import proposals as prop
from ..assist.propagate import (
    FrameSource,
    iter_interpolate_with_image,
    iter_track,
    make_proposal,
    plan_propagation,
)
from ..core.history import History
from ..core.store import AnnotationStore, Change
from ..core.wording import plural
from ..errors import KeyskelError
from .layerdata import edge_rows, frame_points_to_layer

if TYPE_CHECKING:
    from .owner import LayerOwner

__all__ = ["ProposalsLayer", "Runner"]

_STEP = itertools.count(1)
#: Makes and returns a started worker from ``(work, progress)``: ``work()`` is a generator whose
#: return value is the result; ``progress`` the keywords of napari's ``_progress`` (total, desc).
#: The worker has ``returned``, ``finished`` and ``errored`` signals and ``quit()``.
Runner = Callable[[Callable[[], Generator[Any, None, Any]], dict[str, Any]], Any]


def _run_now(work: Callable[[], Generator[Any, None, Any]]) -> Any:
    """Run a worker's generator to its end in this thread; its return value."""
    gen = work()
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


class ProposalsLayer:
    """Proposals shown over an annotation layer (see the module docstring).

    Parameters
    ----------
    owner
        The annotation layer's owner.
    proposals
        The proposals store (same node names as the annotations); default an empty one.
    min_score
        Proposed nodes scored below this are hidden and never accepted (NaN scores show).
    image
        The video to propagate through (an Image layer or an array); default the first image
        layer of the viewer with at least 3 dimensions.

    """

    def __init__(
        self,
        owner: LayerOwner,
        proposals: AnnotationStore | None = None,
        min_score: float = 0.0,
        image: Any = None,
    ) -> None:
        ann = owner.store
        if proposals is None:
            proposals = AnnotationStore(ann.skeleton, ann.coord_ndim, ann.frame_axis, ann.n_frames, ann.name)
        prop.check_compatible(ann, proposals)
        if owner.proposals is not None:  # one proposals layer per annotation layer: this one replaces it
            owner.proposals.close()
        self.owner, self.store = owner, proposals
        self.history = History(proposals)
        self.min_score = float(min_score)
        self.image = image
        self.worker: Any = None
        self._cancelled = False
        self.last_message = ""
        self._log: list[tuple[str, bool]] = []  # (label, the annotations got a step too)
        #: Called (no arguments) after an accept, reject or undo changed the proposals.
        self.changed: list[Callable[[], None]] = []
        a = owner.points
        geo = {"scale": a.scale, "translate": a.translate, "units": a.units, "axis_labels": a.axis_labels}
        name = f"{a.name} proposals"
        self.points = self.viewer.add_points(
            np.zeros((0, a.ndim)), ndim=a.ndim, name=name, symbol="square", opacity=0.7, **geo
        )
        self.edges = self.viewer.add_vectors(
            np.zeros((0, 2, a.ndim)),
            name=f"{name} edges",
            edge_width=1.0,
            opacity=0.45,
            vector_style="line",
            **geo,
        )
        self.points.metadata["keyskel_proposals_of"] = a.name
        self._ids = np.zeros(0, np.int64)
        self._nodes = np.zeros(0, np.intp)
        self._edits = 0  # annotation edits seen (a worker's result is dropped if this moved)
        self.viewer.dims.events.point.connect(self.refresh)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        self.viewer.layers.selection.active = a
        owner.proposals = self
        self.refresh()

    @classmethod
    def from_file(
        cls, owner: LayerOwner, path: Any, min_score: float = 0.0, **read_kwargs: Any
    ) -> ProposalsLayer:
        """Proposals from a Darwin or COCO file (the set named like the annotations, or the only one)."""
        from ..formats import read

        ds = read(path, **read_kwargs)
        same = [s for s in ds.stores if s.name == owner.store.name] or (
            ds.stores if len(ds.stores) == 1 else []
        )
        if not same:
            raise KeyskelError(
                f"{path}: no annotation set named {owner.store.name!r} (have {[s.name for s in ds.stores]})"
            )
        return cls(owner, same[0], min_score)

    @property
    def viewer(self) -> Any:
        """The annotation layer's viewer."""
        return self.owner.viewer

    # -- view -------------------------------------------------------------------------------------
    def frame(self) -> int:
        """The frame in view (an error when the frame axis is displayed)."""
        f = self.owner.frame_in_view()
        if f is None:
            raise KeyskelError("show one frame (the frame axis is displayed)")
        return f

    def refresh(self, event: Any = None) -> None:
        """Redraw the proposals of the frame in view that pass the threshold."""
        f = self.owner.frame_in_view()
        s = self.store
        outside = f is None or (s.n_frames is not None and not 0 <= f < s.n_frames)
        fp = None if f is None or outside else s.frame_points(f)
        if f is None or fp is None or not len(fp):
            self._ids, self._nodes = np.zeros(0, np.int64), np.zeros(0, np.intp)
            self.points.data = np.zeros((0, self.points.ndim))
            self.edges.data = np.zeros((0, 2, self.points.ndim))
            return
        show = ~(fp.score < self.min_score)
        self._ids, self._nodes = fp.track_ids[show], fp.nodes[show]
        score = np.where(np.isnan(fp.score[show]), 1.0, fp.score[show]).astype(float)
        data = frame_points_to_layer(s, fp, f)[show]
        colors = s.skeleton.color_array()[self._nodes].copy()
        colors[:, 3] = 0.25 + 0.6 * np.clip(score, 0, 1)
        p = self.points
        p.selected_data = set()
        p.data = data
        if len(data):
            p.size = 6.0 + 6.0 * np.clip(score, 0, 1)
            p.face_color = colors
            p.border_color = np.tile([0.9, 0.9, 0.9, 0.8], (len(data), 1))
        self.points.features = {"instance": self._ids, "node": self._nodes, "score": score}
        a, b = edge_rows(s.skeleton.edge_array(), s.n_nodes, np.full(len(data), f), self._ids, self._nodes)
        vec = np.stack([data[a], data[b] - data[a]], axis=1) if len(a) else np.zeros((0, 2, p.ndim))
        self.edges.data = vec
        if len(a):
            self.edges.edge_color = s.skeleton.color_array()[self._nodes[b]]

    def set_min_score(self, value: float) -> None:
        """Hide (and never accept) proposed nodes scored below ``value``."""
        self.min_score = float(value)
        self.refresh()

    def say(self, text: str) -> None:
        self.last_message = text

    # -- accept / reject --------------------------------------------------------------------------
    def selected(self) -> tuple[np.ndarray, np.ndarray]:
        """``(track ids, nodes)`` of the selected proposal points."""
        rows = np.asarray(sorted(self.points.selected_data), np.intp)
        rows = rows[rows < len(self._ids)]
        return self._ids[rows], self._nodes[rows]

    def _scope(self, scope: str) -> list[dict[str, Any]]:
        """Keyword sets for :func:`proposals.selection` for ``node``/``instance``/``frame``/``all``."""
        if scope == "all":
            return [{"min_score": self.min_score}]
        f = self.frame()
        if scope == "frame":
            return [{"frames": f, "min_score": self.min_score}]
        ids, nodes = self.selected()
        if not ids.size:
            raise KeyskelError("select proposal points first (select mode, on the proposals layer)")
        if scope == "instance":
            return [{"frames": f, "track_ids": sorted(set(ids.tolist())), "min_score": self.min_score}]
        if scope == "node":
            return [
                {
                    "frames": f,
                    "track_ids": int(t),
                    "nodes": nodes[ids == t].tolist(),
                    "min_score": self.min_score,
                }
                for t in np.unique(ids)
            ]
        raise KeyskelError(f"scope must be node, instance, frame or all, got {scope!r}")

    def accept(self, scope: str = "all") -> int:
        """Accept the proposals of ``scope`` into the annotations as keys: one undo step. Returns nodes."""
        picks = self._scope(scope)
        hist, b = self.owner.history, self.owner.bindings
        label = f"accept proposals ({scope}) #{next(_STEP)}"
        changes: list[Change] = []
        count = 0
        with hist.edit(label), self.history.edit(label):
            for kw in picks:
                res = prop.accept(self.owner.store, self.store, **kw)
                changes += res.annotations
                count += res.count
        if count:
            self._log.append((label, hist.undo_label == label))
            with b.applying():
                self.owner.apply(changes)
        self.refresh()
        self._notify_changed()
        self.say(f"accepted {count} proposed nodes" if count else "no proposal to accept")
        return count

    def reject(self, scope: str = "node") -> int:
        """Remove the proposals of ``scope`` (one undo step of the proposals). Returns nodes removed."""
        picks = self._scope(scope)
        label = f"reject proposals ({scope}) #{next(_STEP)}"
        n_before = int(sum(np.isfinite(t.coords[..., 0]).sum() for t in self.store))
        with self.history.edit(label):
            for kw in picks:
                prop.reject(self.store, **{k: v for k, v in kw.items() if k != "min_score"})
        n = n_before - int(sum(np.isfinite(t.coords[..., 0]).sum() for t in self.store))
        if n:
            self._log.append((label, False))
        self.refresh()
        self._notify_changed()
        self.say(f"rejected {n} proposed nodes")
        return n

    def undo(self) -> str | None:
        """Undo the last accept or reject (both stores; an accept already undone on the layer stays so)."""
        if not self._log:
            self.say("nothing to undo")
            return None
        label, with_ann = self._log.pop()
        hist, b = self.owner.history, self.owner.bindings
        if with_ann and hist.undo_label == label:
            b.undo()
        if self.history.undo_label == label:
            self.history.undo()
        self.refresh()
        self._notify_changed()
        self.say(f"undo {label}")
        return label

    # -- propagation ------------------------------------------------------------------------------
    def image_data(self) -> Any:
        """The video array to track through."""
        img = self.image
        if img is None:
            img = next(
                (
                    ly
                    for ly in self.viewer.layers
                    if type(ly).__name__ == "Image" and ly.ndim >= 3 and not ly.rgb
                ),
                None,
            )
            if img is None:
                raise KeyskelError("no image layer to follow (open a (t, y, x) video)")
        data = getattr(img, "data", img)
        if isinstance(data, (list, tuple)):  # a multiscale image: the full resolution
            data = data[0]
        return data

    def _instance(self, track_id: int | None) -> int:
        tid = track_id if track_id is not None else self.owner.current_instance
        if tid is None or tid not in self.owner.store.tracks:
            raise KeyskelError("choose an instance (select one of its points on the annotation layer)")
        return int(tid)

    def propagate(
        self,
        direction: int = 1,
        n_frames: int | None = None,
        track_id: int | None = None,
        into: str = "proposals",
        run: Runner | None = None,
    ) -> Any:
        """Follow an instance from the frame in view, in a worker; returns the (started) worker.

        ``n_frames`` None: to the frame before the next key. ``into="proposals"`` adds the result
        as proposals; ``"annotations"`` writes it as non-key positions of the instance (one undo
        step; a drag makes a node a key, a re-interpolation of the span replaces them). ``run``
        makes the worker (None: the work runs now, in this thread, and None is returned).
        """
        if into not in ("proposals", "annotations"):
            raise KeyskelError(f"into must be 'proposals' or 'annotations', got {into!r}")
        tid, f = self._instance(track_id), self.frame()
        source = FrameSource(self.image_data())
        start, n = plan_propagation(self.owner.store, tid, f, direction, n_frames, None, source.n_frames)
        coords = np.full((n, start.shape[0], 2), np.nan)
        err = np.full((n, start.shape[0]), np.nan)

        def work() -> Any:
            for step, row, e in iter_track(source, f, start, n, direction):
                coords[step - 1], err[step - 1] = row, e
                yield step
            return make_proposal(source, tid, f, direction, coords, err)

        def done(result: Any) -> None:
            if into == "proposals":
                self.add_proposal(result)
            else:
                self._write_positions(result)

        return self._start(run, work, {"total": max(n, 1), "desc": "keyskel: propagating"}, done)

    def interpolate_with_image(
        self, track_id: int | None = None, max_span: int | None = None, run: Runner | None = None
    ) -> Any:
        """Image-guided in-betweens of one instance (default: every instance), in a worker.

        ``run`` as in :meth:`propagate`.
        """
        ann = self.owner.store
        tracks = None if track_id is None else [self._instance(track_id)]
        source = FrameSource(self.image_data())
        work_store = ann.copy()
        generation = self._generation()

        def work() -> Any:
            return (yield from iter_interpolate_with_image(work_store, source, tracks, None, max_span))

        def done(changes: Any) -> None:
            if self._generation() != generation:
                self.say("the annotations changed while interpolating: result dropped, run it again")
                from napari.utils.notifications import show_warning

                show_warning(f"keyskel: {self.last_message}")
                return
            ids = [c.track_id for c in changes]
            hist, b = self.owner.history, self.owner.bindings
            with hist.edit("interpolate with the image", tracks=ids):
                for tid in ids:
                    t, w = ann.tracks[tid], work_store.tracks[tid]
                    t.coords[...], t.visibility[...] = w.coords, w.visibility
            with b.applying():
                self.owner.apply(changes)
            self.say(f"interpolated {plural(len(ids), 'instance')} with the image")

        return self._start(run, work, {"desc": "keyskel: interpolating with the image"}, done)

    def _generation(self) -> int:
        return self._edits

    def after_edit(self, changes: list[Change]) -> None:
        """An annotation edit; if it undid our last accept (Ctrl-Z on the layer), undo its proposals side."""
        self._edits += 1
        if not self._log or not self._log[-1][1]:
            return
        label = self._log[-1][0]
        hist = self.owner.history
        if hist.redo_label == label and self.history.undo_label == label:
            self._log.pop()
            self.history.undo()
            self.refresh()
            self._notify_changed()

    def _notify_changed(self) -> None:
        for fn in list(self.changed):
            fn()

    def _start(
        self,
        run: Runner | None,
        work: Callable[[], Generator[Any, None, Any]],
        progress: dict[str, Any],
        done: Callable[[Any], None],
    ) -> Any:
        if self.worker is not None:
            raise KeyskelError("a propagation is already running (cancel it first)")
        if run is None:
            try:
                result = _run_now(work)
            except Exception as exc:
                self.say(f"propagation failed: {exc}")
                raise
            done(result)
            return None
        worker = run(work, progress)
        self.worker = worker
        self._cancelled = False

        def finished() -> None:
            self.worker = None

        def returned(result: Any) -> None:
            if not self._cancelled:  # a result that arrives after a cancel is dropped
                done(result)

        worker.returned.connect(returned)
        worker.finished.connect(finished)
        worker.errored.connect(lambda exc: self.say(f"propagation failed: {exc}"))
        worker.start()
        return worker

    def cancel(self) -> None:
        """Stop the running propagation (nothing is applied)."""
        if self.worker is not None:
            self._cancelled = True
            self.worker.quit()
            self.say("cancelled")

    def add_proposal(self, result: Any) -> list[Change]:
        """Put a :class:`.Proposal` into the proposals store (one undo step)."""
        s, tid = self.store, int(result.track_id)
        changes: list[Change] = []
        if not result.frames.size:
            self.say(f"nothing to propagate for instance {tid}")
            return changes
        label = f"propagate #{next(_STEP)}"
        with self.history.edit(label):
            if tid not in s.tracks:
                s.add_track(tid, self.owner.store.tracks[tid].name, start=int(result.frames.min()))
            for f, xy, sc in zip(result.frames.tolist(), result.coords, result.score):
                m = np.isfinite(xy).all(axis=1)
                if m.any():
                    changes.append(s.set_points(f, tid, xy[m], np.flatnonzero(m), key=True, score=sc[m]))
        if changes:
            self._log.append((label, False))
        self.refresh()
        self.say(f"proposed {plural(len(changes), 'frame')} of instance {tid}")
        return changes

    def _write_positions(self, result: Any) -> None:
        ann, tid = self.owner.store, int(result.track_id)
        hist, b = self.owner.history, self.owner.bindings
        changes = []
        with hist.edit("propagate into the annotations", tracks=[tid]):
            for f, xy in zip(result.frames.tolist(), result.coords):
                m = np.isfinite(xy).all(axis=1)
                _, _, key = ann.get(f, tid)
                m &= ~key  # never overwrite a person's key
                if m.any():
                    vis = ann.get(f, tid)[1][m]
                    vis = np.where(vis > 0, vis, 2)
                    changes.append(ann.set_points(f, tid, xy[m], np.flatnonzero(m), vis, key=False))
        with b.applying():
            self.owner.apply(changes)
        self.say(f"propagated instance {tid} over {plural(len(changes), 'frame')}")

    def _on_layer_removed(self, event: Any) -> None:
        """The proposals layer leaves the viewer: close (the owner closes it with the annotation layer)."""
        if event.value is self.points:
            self.close()

    def close(self) -> None:
        """Remove the layers and disconnect."""
        self.cancel()
        self.viewer.layers.events.removed.disconnect(self._on_layer_removed)
        self.viewer.dims.events.point.disconnect(self.refresh)
        if self.owner.proposals is self:
            self.owner.proposals = None
        for layer in (self.points, self.edges):
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
