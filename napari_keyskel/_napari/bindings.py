"""Key bindings and undo/redo for a keyskel Points layer (bound on the layer, not the viewer).

Every :class:`~napari_keyskel._napari.owner.LayerOwner` has a :class:`Bindings`: the keys in
:data:`KEYS`, undo/redo of the owner's :class:`~napari_keyskel.core.history.History`, and the
"next node" for click-to-place annotation. Every edit goes through
:mod:`napari_keyskel.core.keyframes` inside :meth:`LayerOwner.record`, so it is one undo step and
only the touched points and spans are redrawn, once.

The actions are split by kind: :mod:`.stamp` (whole poses), :mod:`.edit_actions` (node states,
keys, instances), :mod:`.navigation` (frames, current instance, next node), all on the shared
state of :mod:`.bindings_base`. This module wires them to the keys and to napari's events, and
holds undo/redo.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.store import Change
from ..errors import KeyskelError
from .edit_actions import EditActions
from .label_next import install as install_label_next
from .navigation import NavigationActions
from .stamp import StampActions, template_pose

if TYPE_CHECKING:
    from .owner import LayerOwner

__all__ = [
    "KEYS",
    "Bindings",
    "layer_key",
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
    ("Shift-X", "end_instance", "end the current instance from this frame on (shortens its lifespan)"),
    ("Alt-X", "delete_track", "delete the current instance on every frame"),
    ("A", "previous_frame", "previous frame"),
    ("D", "next_frame", "next frame"),
    ("Q", "previous_keyframe", "previous keyframe"),
    ("E", "next_keyframe", "next keyframe"),
    ("H", "bisect", "jump halfway between the keys around this frame"),
    ("Shift-I", "interpolate", "re-interpolate every instance"),
    ("Control-Z", "undo", "undo"),
    ("Control-Shift-Z", "redo", "redo"),
)


def layer_key(key: str) -> int:
    """The napari key binding of ``key`` as written in :data:`KEYS`, with ``Control`` as Cmd on macOS.

    napari reads a ``"Control-Z"`` string as the Control key on every system (on macOS: ⌃, not
    ⌘), so the keys are bound as app-model's ``KeyMod.CtrlCmd`` (Ctrl on Linux and Windows, Cmd on
    macOS), as napari's own shortcuts are.
    """
    from app_model.types import KeyCode, KeyMod

    *mods, name = key.split("-") if key != "-" else ["-"]
    flags = {"Control": KeyMod.CtrlCmd, "Shift": KeyMod.Shift, "Alt": KeyMod.Alt}
    out = int(KeyCode.from_string(name))
    for m in mods:
        out |= int(flags[m])
    return out


def shortcuts_text() -> str:
    """The key bindings as a Markdown table (for the README and the dock's help)."""
    rows = ["| Key | Action |", "| --- | --- |"]
    rows += [f"| `{k}` | {d} |" for k, _, d in KEYS]
    rows.append("| click (Points add mode, `P`) | place the next node; advances to the next unlabelled |")
    rows.append("| drag (select mode, `S`) | move a node: it becomes a key, its span re-interpolates |")
    return "\n".join(rows)


class Bindings(StampActions, EditActions, NavigationActions):
    """Key bindings, history and click-to-place state of one keyskel layer.

    The key actions come from the base classes; ``history`` (undo/redo of the layer's store) and
    the ``message`` status signal from :class:`~napari_keyskel._napari.bindings_base.BindingsBase`.
    """

    def __init__(self, owner: LayerOwner) -> None:
        super().__init__(owner)
        for key, method, _ in KEYS:
            self.layer.bind_key(layer_key(key), self._key_handler(method), overwrite=True)
        install_label_next(self, layer_key)  # Shift-D / Shift-A: next frame still to label (datasets)
        self.layer.selected_data.events.items_changed.connect(self._on_selection)

    def unbind(self) -> None:
        """Remove the key bindings and disconnect (the layer left its viewer)."""
        for key, _, _ in KEYS:
            with contextlib.suppress(Exception):
                self.layer.bind_key(layer_key(key), None)
        self.layer.selected_data.events.items_changed.disconnect(self._on_selection)

    def _key_handler(self, method: str) -> Callable[[Any], None]:
        def handler(layer: Any) -> None:
            getattr(self, method)()

        handler.__name__ = f"keyskel_{method}"
        handler.__doc__ = next(d for k, m, d in KEYS if m == method)
        return handler

    def after_edit(self, changes: list[Change]) -> None:
        """After any edit (napari's add, drag, delete among them): skip to the next free node."""
        if not self._applying:
            self._fix_next_node()

    def _on_selection(self, event: Any = None) -> None:
        """Selecting points (select mode) makes their instance the current one."""
        if str(self.layer.mode) == "add" or not self.layer.selected_data:
            return
        with contextlib.suppress(KeyskelError, KeyError, IndexError):
            tid = self.selected()[0][0]
            if tid != self.owner.current_instance:
                self.owner.current_instance = tid
                self.owner.next_node = None
                self._fix_next_node()

    def on_frame(self, frame: int | None) -> None:
        """A new frame: placing starts again from the first free node."""
        self.owner.next_node = None
        if frame is not None:
            self._fix_next_node()

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
                self.owner.reload_skeleton()
            else:
                self.owner.apply(changes)
        self.say(label if changes or label.startswith("nothing") else f"{label} (settings)")
        return changes

    def undo(self) -> list[Change]:
        """Undo the last edit of this layer."""
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
