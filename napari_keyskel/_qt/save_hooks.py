"""What saving needs from napari's window: Ctrl-S first, the close prompt, autosave, the file dialog.

:func:`install` (once per viewer; napari's entry points in :mod:`.entry` and the Keyskel docks call
it) puts a :class:`SaveHooks` object on the main window:

- **Ctrl-S** on a keyskel layer saves every frame of it (and of the other layers read from the
  same file) to the file it came from, in that file's format; a new layer asks once where and in
  which format (V7 Darwin JSON or COCO keypoints), then remembers. A notification gives the path.
  An event filter takes Ctrl-S before napari's own *Save Selected Layers* shortcut.
- Closing the window with **unsaved** annotations asks *Save / Discard / Cancel* first.
- **Autosave**: every :data:`~napari_keyskel._napari.save.AUTOSAVE_SECONDS` seconds
  (``$KEYSKEL_AUTOSAVE_SECONDS``, or :func:`set_autosave_interval`; 0 turns it off) unsaved work
  is written to a recovery file; a layer that comes in is offered the work autosaved for it.

Each layer's own save state is its owner's ``save`` (:class:`~napari_keyskel._napari.save.SaveState`,
no Qt); the hooks live as a child of the main window, found there again (no registry).
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import QFileDialog, QMessageBox

from .._napari.bindings import layer_key
from .._napari.napari_private import main_window, qt_viewer, unwrap_proxy
from .._napari.registry import connect_viewer, owner_of
from .._napari.save import AUTOSAVE_SECONDS, FILTERS, SaveState
from .._napari.saving import autosave_now, states, warn_on_csv_writer
from .._napari.saving import save_layer as _save_layer
from ..core import recovery
from .save_dialog import install as our_save_dialog
from .window_keys import install as keep_menu_shortcuts

__all__ = ["SaveHooks", "ask_save_path", "hooks_of", "install", "save_layer", "set_autosave_interval"]

_NAME = "keyskel-save-hooks"


def ask_save_path(state: SaveState) -> tuple[Path, str] | None:
    """Ask where (and as which format) to save a layer that has no file yet."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in state.layer.name) or "annotations"
    path, chosen = QFileDialog.getSaveFileName(
        main_window(state.viewer),
        "Save annotations (every frame)",
        f"{name}.json",
        ";;".join(FILTERS.values()),
    )
    if not path:
        return None
    fmt = next((k for k, v in FILTERS.items() if v == chosen), "darwin")
    return Path(path), fmt


def save_layer(layer: Any, ask: bool = True) -> list[Path]:
    """Ctrl-S: save ``layer`` to its file (asking once for a new one); notify; [] if not saved."""
    return _save_layer(layer, (lambda state: ask_save_path(state)) if ask else None)


def _ctrl_s(layer: Any) -> None:
    """Save every frame of this annotation layer to its file (asks once for a new layer)."""
    save_layer(layer)


class SaveHooks(QObject):
    """One viewer's Ctrl-S and close filter, autosave timer and recovery offers (a child of its window)."""

    def __init__(self, viewer: Any, main: QObject) -> None:
        super().__init__(main)
        self.setObjectName(_NAME)
        self.viewer = weakref.ref(viewer)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._autosave)
        self.set_interval(AUTOSAVE_SECONDS)
        connect_viewer(viewer)
        viewer.layers.events.inserted.connect(self._on_inserted, position="last")
        for layer in list(viewer.layers):
            self._adopt(layer)
        main.installEventFilter(self)

    def set_interval(self, seconds: float) -> None:
        """Autosave every ``seconds`` (0: never)."""
        self.timer.stop()
        if seconds > 0:
            self.timer.start(int(seconds * 1000))

    def _autosave(self) -> None:
        viewer = self.viewer()
        if viewer is not None:
            autosave_now(viewer)

    def _on_inserted(self, event: Any) -> None:
        self._adopt(event.value)

    def _adopt(self, layer: Any) -> None:
        owner = owner_of(layer)
        if owner is None or owner.points is not unwrap_proxy(layer):
            return
        layer.bind_key(layer_key("Control-S"), _ctrl_s, overwrite=True)  # Cmd-S on macOS
        owner.save.offer_recovery()

    def _active_state(self) -> SaveState | None:
        viewer = self.viewer()
        if viewer is None:
            return None
        active = viewer.layers.selection.active
        owner = owner_of(active)
        return None if owner is None or owner.points is not active else owner.save

    def eventFilter(self, obj: Any, event: Any) -> bool:
        t = event.type()
        if t in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and _is_ctrl_s(event):
            state = self._active_state()
            if state is None:
                return False
            event.accept()  # before napari's "Save Selected Layers..." shortcut
            if t == QEvent.Type.KeyPress:  # the canvas did not take it: save here
                save_layer(state.layer)
            return True
        if t == QEvent.Type.Close and obj is self.parent():
            viewer = self.viewer()
            return False if viewer is None else not _may_close(viewer, event)
        return False


def _is_ctrl_s(event: Any) -> bool:
    mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    return bool(event.key() == Qt.Key.Key_S and mods == Qt.KeyboardModifier.ControlModifier)


def hooks_of(viewer: Any) -> SaveHooks | None:
    """The viewer's save hooks, if :func:`install` put them on its window."""
    main = main_window(unwrap_proxy(viewer))
    return None if main is None else main.findChild(SaveHooks, _NAME)


def install(viewer: Any) -> SaveHooks | None:
    """Give ``viewer``'s window the save hooks (idempotent); None without a window."""
    viewer = unwrap_proxy(viewer)
    connect_viewer(viewer)
    warn_on_csv_writer()
    main = main_window(viewer)
    if main is None:
        return None
    keep_menu_shortcuts(main)  # napari's menu shortcuts with no active window (see window_keys)
    our_save_dialog(viewer)  # File > Save Selected Layers: our writers, the file's folder
    return hooks_of(viewer) or SaveHooks(viewer, main)


def set_autosave_interval(viewer: Any, seconds: float) -> None:
    """Autosave every ``seconds`` (0: never)."""
    hooks = hooks_of(viewer)
    if hooks is not None:
        hooks.set_interval(seconds)


def _may_close(viewer: Any, event: Any) -> bool:
    """Ask before a person closes the window with unsaved annotations; False keeps it open."""
    widget = qt_viewer(viewer)
    if widget is None or not widget.isVisible():  # a script's viewer.close(): no question
        return True
    dirty = [s for s in states(viewer) if s.unsaved]
    if not dirty:
        return True
    names = ", ".join(repr(s.layer.name) for s in dirty)
    box = QMessageBox(main_window(viewer))
    box.setObjectName("keyskel-unsaved")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Unsaved annotations")
    box.setText(f"{names} {'has' if len(dirty) == 1 else 'have'} unsaved annotations.")
    box.setInformativeText("Save them before closing?")
    box.setStandardButtons(
        QMessageBox.StandardButton.Save
        | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel
    )
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    if answer == QMessageBox.StandardButton.Save:
        ok = all(save_layer(s.layer) for s in dirty)
        if not ok:
            event.ignore()
        return ok
    if answer == QMessageBox.StandardButton.Discard:
        for s in dirty:
            recovery.discard_recovery(s.identity)
        return True
    event.ignore()
    return False
