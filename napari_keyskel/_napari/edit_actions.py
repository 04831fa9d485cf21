"""Key actions that edit the points and instances of a keyskel layer.

:class:`EditActions`: toggle occluded (``O``), mark unlabelled (``U``), key or unkey (``K``),
delete the current instance on this frame (``X``), end it from this frame on (``Shift-X``), delete it
everywhere (``Alt-X``), and re-interpolate
every instance (``Shift-I``). Each is one undo step; errors become a status message.
"""

from __future__ import annotations

import numpy as np

from ..core import keyframes as kf
from ..core.store import UNLABELLED, VISIBLE, Change
from ..errors import KeyskelError
from .bindings_base import BindingsBase

__all__ = ["EditActions"]


class EditActions(BindingsBase):
    """Key actions that change node states, keys and instances (each one undo step)."""

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
            tid, k = self.owner.current_instance, self.next_node_index()
            if tid is None or tid not in self.store.tracks or k is None:
                self.say("select points, or start an instance, to mark unlabelled")
                return []
            sel = [(int(tid), np.asarray([k]))]
        changes = self.run(
            "mark unlabelled",
            lambda: [c for tid, n in sel for c in kf.set_visibility(self.store, f, tid, n, UNLABELLED)],
            [t for t, _ in sel],
        )
        self.owner.next_node = None
        self._fix_next_node()
        return changes

    def toggle_key(self) -> list[Change]:
        """Key the selected points (or the whole instance) here, or unkey them if all are keys."""
        try:
            f = self.frame()
            sel: list[tuple[int, np.ndarray | None]] = [*self.selected()] or [(self.current_track(), None)]
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

    def end_instance(self) -> list[Change]:
        """End the current instance from this frame on (its lifespan; V7 ``ranges``)."""
        try:
            f, tid = self.frame(), self.current_track()
        except KeyskelError as exc:
            self.say(str(exc))
            return []
        self.layer.selected_data = set()
        return self.run(f"end instance {tid} from frame {f}", lambda: kf.end_track(self.store, f, tid), [tid])

    def delete_track(self) -> list[Change]:
        """Delete the current instance on every frame."""
        try:
            tid = self.current_track()
        except KeyskelError as exc:
            self.say(str(exc))
            return []
        self.layer.selected_data = set()
        changes = self.run(f"delete instance {tid}", lambda: [self.store.remove_track(tid)], [tid])
        self.owner.current_instance = None
        return changes

    def interpolate(self) -> list[Change]:
        return self.run(f"interpolate ({self.store.method})", lambda: kf.interpolate_all(self.store))
