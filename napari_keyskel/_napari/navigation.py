"""Key actions that move around a keyskel layer without editing it.

:class:`NavigationActions`: the previous/next frame (``A``/``D``), keyframe (``Q``/``E``) and the
frame halfway between keys (``H``); the instance to work on (``I`` a new one, ``]``/``[`` the
next/previous on this frame) and the node the next click places (``N``/``Shift-N``).
"""

from __future__ import annotations

import numpy as np

from ..core import keyframes as kf
from ..errors import KeyskelError
from .bindings_base import BindingsBase

__all__ = ["NavigationActions"]


class NavigationActions(BindingsBase):
    """Key actions that change the frame in view, the current instance or the next node."""

    # -- frames ---------------------------------------------------------------------------------
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
        tid = self.owner.current_instance
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

    # -- instance and next node -----------------------------------------------------------------
    def _step_node(self, step: int) -> None:
        k = self.next_node_index()
        k = 0 if k is None else (k + step) % self.store.n_nodes
        self.owner.next_node = k
        self.say(self.next_node_text())

    def next_node(self) -> None:
        self._step_node(+1)

    def previous_node(self) -> None:
        self._step_node(-1)

    def new_instance(self) -> None:
        self.owner.current_instance = None
        self.owner.next_node = None
        self.layer.selected_data = set()
        self.say(self.next_node_text())

    def _cycle_instance(self, step: int) -> None:
        ids = self.ids_on_frame()
        if not ids:
            self.say("no instance on this frame")
            return
        cur = self.owner.current_instance
        i = ids.index(cur) + step if cur in ids else (0 if step > 0 else -1)
        tid = ids[i % len(ids)]
        self.owner.current_instance = tid
        self.owner.next_node = None
        rows = np.flatnonzero(self.layer.features["instance"].to_numpy(np.int64) == tid)
        self.layer.selected_data = set(rows.tolist())
        self.say(self.next_node_text())

    def next_instance(self) -> None:
        self._cycle_instance(+1)

    def previous_instance(self) -> None:
        self._cycle_instance(-1)
