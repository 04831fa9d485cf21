"""The review of one keyskel layer in napari: its flags, stepping through them, review states.

A :class:`ReviewSession` is a part of a layer's owner (``owner.review``, made on first use). It
runs the detectors (:func:`napari_keyskel.assist.review.detect`) over the store, re-runs them on
the tracks an edit touched (the owner's redraw calls :meth:`ReviewSession.after_edit`), so a
fixed node's flag clears, and can add the
disagreements with another layer (:func:`~napari_keyskel.assist.review.agreement.disagreement_flags`).
The flags are kept in review order (:attr:`order`): grouped by frame, the groups and the flags in
them by score (highest first), or by frame. :meth:`go` jumps to a flag's frame and selects its
instance and node; ``F`` / ``Shift-F`` on the layer go to the next / previous flag. Review states
go to ``Track.meta["review"]`` (:mod:`napari_keyskel.assist.review.states`), which the layer's metadata
shares, so napari's writers save them; setting one is an undoable edit of the layer.
:meth:`ReviewSession.timeline_marks` gives, per track, the frames a timeline should mark (flags
with their worst kind, review states).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

from ..assist.review import KINDS, Flags, Thresholds, detect
from ..assist.review import states as st
from ..assist.review.agreement import disagreement_flags
from ..assist.review.flags import DISAGREE
from ..core.store import Change

if TYPE_CHECKING:
    from ..core.store import AnnotationStore
    from .owner import LayerOwner

__all__ = ["REVIEW_KEYS", "ReviewSession"]

#: (key, method, description) bound on the layer.
REVIEW_KEYS: tuple[tuple[str, str, str], ...] = (
    ("F", "next_flag", "go to the next review flag"),
    ("Shift-F", "previous_flag", "go to the previous review flag"),
)


class ReviewSession:
    """Flags, the current flag and review states of one annotation layer.

    Attributes
    ----------
    flags
        All flags (detectors and comparison), in review order.
    current
        Index into :attr:`flags` of the flag last gone to, or None.
    updated
        Signal emitted (no argument) whenever the flags or the review states change.

    """

    updated = Signal()

    def __init__(self, owner: LayerOwner) -> None:
        self.owner = owner
        self.kinds: tuple[str, ...] = KINDS
        self.thresholds = Thresholds()
        self.order = "score"
        self.flags = Flags.empty()
        self.current: int | None = None
        self._detected = Flags.empty()
        self._compare: weakref.ref[Any] | None = None
        self._disagree = Flags.empty()
        self.active = False
        for key, method, _ in REVIEW_KEYS:
            owner.points.bind_key(key, self._key_handler(method), overwrite=True)

    def unbind(self) -> None:
        """Remove the keys (the layer left its viewer)."""
        for key, _, _ in REVIEW_KEYS:
            with contextlib.suppress(Exception):
                self.owner.points.bind_key(key, None)

    @property
    def store(self) -> AnnotationStore:
        """The layer's annotation store."""
        return self.owner.store

    def _key_handler(self, method: str) -> Any:
        def handler(layer: Any) -> None:
            getattr(self, method)()

        handler.__name__ = f"keyskel_{method}"
        handler.__doc__ = next(d for _, m, d in REVIEW_KEYS if m == method)
        return handler

    # -- flags ----------------------------------------------------------------------------------
    def run(self, kinds: Sequence[str] | None = None) -> Flags:
        """Run the detectors (``kinds``: these only, and remembered) over the whole store."""
        if kinds is not None:
            self.kinds = tuple(kinds)
        self.active = True
        self._detected = detect(self.store, self.kinds, self.thresholds)
        self._rebuild(keep=False)
        return self.flags

    def compare_with(self, other: LayerOwner | None) -> Flags:
        """Add the disagreements with another layer's store as ``disagree`` flags (None: drop them)."""
        self._compare = None if other is None else weakref.ref(other)
        self._disagree = Flags.empty() if other is None else disagreement_flags(self.store, other.store)
        self.active = True
        self._rebuild(keep=False)
        return self._disagree

    def after_edit(self, changes: list[Change]) -> None:
        """Re-run the detectors on the tracks an edit touched; their flags clear once fixed."""
        touched = {c.track_id for c in changes if c.nodes}
        if not touched:
            if changes:  # only review states (Track.meta) changed: set, undone or redone
                self.updated.emit()
            return
        if not self.active:
            return
        keep = self._detected.take(~self._detected.touching(touched))
        fresh = detect(self.store, self.kinds, self.thresholds, track_ids=touched)
        self._detected = Flags.concat([keep, fresh]).sorted()
        other = None if self._compare is None else self._compare()
        if other is not None:
            self._disagree = disagreement_flags(self.store, other.store)
        self._rebuild(keep=True)

    def set_order(self, order: str) -> None:
        """Review order: ``"score"`` (frames with the worst flag first) or ``"frame"``."""
        if order not in ("score", "frame"):
            raise ValueError(f"order must be 'score' or 'frame', got {order!r}")
        self.order = order
        self._rebuild(keep=True)

    def _rebuild(self, keep: bool) -> None:
        key = self.flag_key(self.current) if keep and self.current is not None else None
        flags = Flags.concat([self._detected, self._disagree])
        self.flags = _review_order(flags, self.order)
        self.current = None
        if key is not None:
            hit = np.flatnonzero(
                (self.flags.frame == key[0])
                & (self.flags.track_id == key[1])
                & (self.flags.node == key[2])
                & (self.flags.kind == key[3])
            )
            self.current = int(hit[0]) if hit.size else None
        self.updated.emit()

    def flag_key(self, i: int) -> tuple[int, int, int, str]:
        """``(frame, track id, node, kind)`` of flag ``i``."""
        f = self.flags
        return int(f.frame[i]), int(f.track_id[i]), int(f.node[i]), str(f.kind[i])

    # -- going to flags -------------------------------------------------------------------------
    def go(self, i: int) -> None:
        """Jump to flag ``i``'s frame, select its instance (and node) and centre it."""
        if not 0 <= i < len(self.flags):
            return
        self.current = int(i)
        frame, tid, node, _ = self.flag_key(i)
        owner, layer = self.owner, self.owner.points
        viewer = owner.viewer
        fa = self.store.frame_axis
        if fa is not None:
            viewer.dims.set_current_step(viewer.dims.ndim - layer.ndim + fa, frame)
        feats = layer.features
        rows = feats["instance"].to_numpy() == tid
        if node >= 0:
            rows_node = rows & (feats["node"].astype(str).to_numpy() == self.store.skeleton.nodes[node])
            rows = rows_node if rows_node.any() else rows  # a missing node: the instance
        sel = np.flatnonzero(rows)
        owner.current_instance = tid if tid in self.store.tracks else None
        if viewer.layers.selection.active is not layer:
            viewer.layers.selection.active = layer
        layer.selected_data = set(sel.tolist())
        if sel.size:
            data = np.asarray(layer.data)[sel]
            world = np.asarray([layer.data_to_world(p) for p in data]).mean(axis=0)
            displayed = list(viewer.dims.displayed)
            scene = getattr(viewer, "scene", None)  # napari >= 0.9: viewer.scene.camera
            camera = scene.camera if scene is not None else viewer.camera
            center = list(camera.center)[-len(displayed) :]
            for j, ax in enumerate(displayed):
                center[j] = world[ax - (viewer.dims.ndim - layer.ndim)]
            camera.center = tuple(center)
        self.updated.emit()

    def next_flag(self) -> None:
        """Go to the next flag in review order (the first after the last one)."""
        if len(self.flags):
            self.go(0 if self.current is None else (self.current + 1) % len(self.flags))

    def previous_flag(self) -> None:
        """Go to the previous flag in review order."""
        if len(self.flags):
            self.go(len(self.flags) - 1 if self.current is None else (self.current - 1) % len(self.flags))

    # -- review states --------------------------------------------------------------------------
    def set_state(self, i: int, state: str | None, comment: str = "") -> None:
        """Set (``None``: clear) the review state of flag ``i``'s (frame, instance): one undo step.

        It is an edit of the layer like any other: Ctrl-Z undoes it, and it is unsaved work.
        """
        frame, tid, _, _ = self.flag_key(i)

        def edit() -> list[Change]:
            if state is None:
                st.clear_state(self.store, frame, tid)
            else:
                st.set_state(self.store, frame, tid, state, comment)  # Track.meta: shared with metadata
            return [Change(tid, frame, frame + 1, ())]  # no node moved: the detectors need not re-run

        label = f"review: {'clear' if state is None else state} frame {frame}, instance {tid}"
        self.owner.record(label, edit, tracks=[tid])  # (its change makes after_edit show it)

    def states(self) -> np.ndarray:
        """The review state of each flag (``""``: unreviewed)."""
        return st.state_of_flags(self.store, self.flags)

    def timeline_marks(self) -> dict[int, dict[str, np.ndarray]]:
        """What a timeline should mark, per track id: flagged frames and reviewed frames.

        ``{"flag_frames", "flag_kinds", "flag_scores"}`` (one entry per flagged frame: the kind
        and score of its worst flag) and ``{"state_frames", "states"}`` (every review state).
        """
        out: dict[int, dict[str, np.ndarray]] = {}
        f = self.flags.take(np.lexsort((-self.flags.score, self.flags.frame, self.flags.track_id)))
        first = np.ones(len(f), bool)
        first[1:] = (f.track_id[1:] != f.track_id[:-1]) | (f.frame[1:] != f.frame[:-1])
        f = f.take(first)
        frames, ids, states = st.review_table(self.store)
        for tid in self.store.tracks:
            m, n = f.track_id == tid, ids == tid
            out[tid] = {
                "flag_frames": f.frame[m],
                "flag_kinds": f.kind[m],
                "flag_scores": f.score[m],
                "state_frames": frames[n],
                "states": states[n],
            }
        return out

    def progress(self) -> dict[str, int]:
        """``reviewed`` / ``flagged`` (frame, instance) pairs and ``total`` pairs with points."""
        return st.progress(self.store, self.flags)


def _review_order(flags: Flags, order: str) -> Flags:
    """Grouped by frame; groups by their worst score (``"score"``) or by frame; flags by score."""
    if not len(flags):
        return flags
    if order == "frame":
        return flags.sorted()
    frames, inv = np.unique(flags.frame, return_inverse=True)
    worst = np.full(len(frames), -np.inf)
    np.maximum.at(worst, inv, flags.score)
    group_score = worst[inv]
    return flags.take(np.lexsort((flags.node, flags.track_id, -flags.score, flags.frame, -group_score)))


def is_disagreement(kind: str) -> bool:
    """True for the flags of a comparison with another layer."""
    return kind == DISAGREE
