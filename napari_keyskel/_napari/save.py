"""Saving keyskel layers from the viewer: Ctrl-S, unsaved changes, the close prompt, autosave, recovery.

:func:`install` (once per viewer; the sample, napari's reader and the Keyskel docks call it) gives
every keyskel Points layer a :class:`SaveState`:

- **Ctrl-S** on the layer saves every frame of it (and of the other layers read from the same
  file) to the file it came from, in that file's format; a new layer asks once where and in which
  format (V7 Darwin JSON or COCO keypoints), then remembers. A notification gives the path.
- **Unsaved changes**: ``state.dirty`` (and ``dirty_changed``) follow the controller's ``changed``
  signal; the bottom timeline shows them. Closing the window with unsaved annotations asks
  *Save / Discard / Cancel* first.
- **Autosave**: every :data:`AUTOSAVE_SECONDS` (``$KEYSKEL_AUTOSAVE_SECONDS``, or
  :func:`set_autosave_interval`; 0 turns it off) unsaved work is written to a recovery file
  (:mod:`napari_keyskel.core.recovery`, in the user cache). A successful save or *Discard* removes it;
  after a crash it is still there, and opening the same data again offers it (a notification with
  *Recover* / *Discard*).
- napari's built-in **CSV** writer holds only the points of the frame in view: saving a keyskel
  layer with it shows a warning.

The napari private names this needs (the main window, the QtViewer, a wrap of the built-in
points writer) are in :mod:`.napari_private`, which says why.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from psygnal import Signal

from ..core import recovery
from ..core.store import Change
from ..core.wording import at_path, plural
from ..errors import KeyskelError
from .napari_private import after_builtin_points_writer, main_window, qt_viewer, unwrap_proxy

__all__ = [
    "AUTOSAVE_SECONDS",
    "SaveState",
    "autosave_now",
    "install",
    "save_layer",
    "set_autosave_interval",
    "state_for",
    "states",
]

#: Seconds between autosaves (``$KEYSKEL_AUTOSAVE_SECONDS`` overrides; 0: no autosave).
AUTOSAVE_SECONDS = float(os.environ.get("KEYSKEL_AUTOSAVE_SECONDS", "60"))
_FILTERS = {"darwin": "V7 Darwin JSON (*.json)", "coco": "COCO keypoints (*.json)"}

_STATES: dict[int, SaveState] = {}
_VIEWERS: dict[int, Any] = {}  # id(viewer) -> _ViewerHooks


def _is_keyskel(layer: Any) -> bool:
    return type(layer).__name__ == "Points" and "keyskel" in getattr(layer, "metadata", {})


def _notify(text: str, severity: str = "info", actions: tuple = ()) -> None:
    from napari.utils.notifications import Notification, notification_manager

    notification_manager.dispatch(Notification(text, severity, actions=actions))


def identity_of(layer: Any) -> str:
    """What "the same data" means for recovery: the file read (else the image item), and the layer."""
    plain = layer.metadata["keyskel"]
    ds = plain.get("dataset") or {}
    if ds.get("source"):
        return f"file:{Path(str(ds['source'])).resolve()}|{layer.name}"
    frames = ds.get("frames") or []
    item = frames[0].get("item", "") if frames else ""
    skeleton = (plain.get("skeleton") or {}).get("name")
    return f"new:{item}|{skeleton}|{plain.get('n_frames')}|{layer.name}"


class SaveState:
    """Where a keyskel layer is saved, whether it has unsaved changes, and its recovery file.

    Attributes
    ----------
    path, format
        The file Ctrl-S writes and its format (None until known: a new layer asks).
    dirty
        Edits since the last save (or since the layer was opened).
    dirty_changed
        Signal emitted with ``dirty`` when it flips (``offer_changed`` for the offer).
    offer
        The :class:`~napari_keyskel.core.recovery.Recovery` found when the layer was opened, until it
        is recovered or discarded.

    """

    dirty_changed = Signal(bool)
    #: Emitted when a recovery is offered, recovered or discarded.
    offer_changed = Signal()

    def __init__(self, viewer: Any, layer: Any, ctrl: Any) -> None:
        self.viewer, self.layer, self.ctrl = viewer, layer, ctrl
        self.identity = identity_of(layer)
        self.dirty = False
        self._pending = False  # edits since the last autosave
        self.offer: recovery.Recovery | None = None
        saved = layer.metadata.get("keyskel_save") or {}
        source = (layer.metadata["keyskel"].get("dataset") or {}).get("source")
        self.path: Path | None = Path(saved.get("path") or source) if (saved.get("path") or source) else None
        self.format: str | None = saved.get("format")
        self._skeleton = ctrl.store.skeleton  # a skeleton edit alone emits no change: compare it
        self._autosaved_skeleton = ctrl.store.skeleton
        ctrl.changed.connect(self._on_changed)

    @property
    def unsaved(self) -> bool:
        """Edits, or a skeleton edit, since the last save."""
        return self.dirty or self.ctrl.store.skeleton is not self._skeleton

    def _on_changed(self, changes: list[Change]) -> None:
        if changes:
            self._pending = True
            self._set_dirty(True)

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self.dirty:
            self.dirty = dirty
            self.dirty_changed.emit(dirty)

    # -- saving -----------------------------------------------------------------------------------
    def siblings(self) -> list[SaveState]:
        """The save states of the layers read from the same file as this one (saved together)."""
        if self.path is None:
            return [self]
        out = [s for s in states(self.viewer) if s.path == self.path]
        return out if self in out else [self, *out]

    def save(self, path: str | os.PathLike[str] | None = None, format: str | None = None) -> list[Path]:
        """Write every frame to ``path`` (default: the layer's file) in ``format`` (default: its own).

        Raises :class:`~napari_keyskel.errors.KeyskelError` (nothing written) when it cannot.
        """
        from .. import formats
        from ..core.plain import store_to_plain
        from .layerdata import dataset_from_plain

        target = Path(path) if path is not None else self.path
        if target is None:
            raise KeyskelError(f"layer {self.layer.name!r} has no file yet: give a path")
        fmt = format or (self.format if target == self.path else None)
        if fmt is None:
            fmt = formats.detect_format(target) if target.exists() else "darwin"
        group = self.siblings() if target == self.path else [self]
        # the live stores (every frame), with the frame table and extras the layers were read with
        plains = [
            {**store_to_plain(s.ctrl.store), "dataset": s.layer.metadata["keyskel"].get("dataset")}
            for s in group
        ]
        # several items as V7: the export folder File > Save writes too (one Darwin file per item)
        extra = {"export_folder": True} if fmt == "darwin" else {}
        written = formats.write(dataset_from_plain(plains), target, fmt, **extra)
        for s in group:
            s.mark_saved(target, fmt)
        return [Path(p) for p in written]

    def mark_saved(self, path: Path, fmt: str) -> None:
        """Every frame was just written to ``path`` as ``fmt``: Ctrl-S writes there now; not unsaved."""
        self.path, self.format = path, fmt
        self.layer.metadata["keyskel_save"] = {"path": str(path), "format": fmt}
        self._pending = False
        self._skeleton = self.ctrl.store.skeleton
        self._set_dirty(False)
        recovery.discard_recovery(self.identity)

    def autosave(self) -> Path | None:
        """Write the recovery file if there are edits since the last autosave; its path, else None."""
        if not self._pending and self.ctrl.store.skeleton is self._autosaved_skeleton:
            return None
        info = {"layer": self.layer.name, "source": None if self.path is None else str(self.path)}
        path = recovery.write_recovery(self.identity, [self.ctrl.store], info)
        self._pending = False
        self._autosaved_skeleton = self.ctrl.store.skeleton
        return path

    # -- recovery ---------------------------------------------------------------------------------
    def offer_recovery(self) -> recovery.Recovery | None:
        """Look for work autosaved before a crash and offer it in a notification."""
        found = recovery.find_recovery(self.identity)
        if found is None:
            return None
        self.offer = found
        self.offer_changed.emit()
        _notify(
            f"keyskel: unsaved work on {self.layer.name!r} was autosaved before napari closed "
            f"({found.summary()}). Recover it?",
            "warning",
            actions=(("Recover", lambda *_: self.recover()), ("Discard", lambda *_: self.discard())),
        )
        return found

    def recover(self) -> None:
        """Replace the layer's annotations by the offered recovery (one undo step); unsaved then."""
        if self.offer is None:
            return
        new = self.offer.stores[0]
        store = self.ctrl.store
        if new.skeleton != store.skeleton or new.coord_ndim != store.coord_ndim:
            _notify(f"keyskel: the autosaved work on {self.layer.name!r} has another skeleton; kept aside")
            return

        def replace() -> list[Change]:
            gone = [Change(t.track_id, t.start, t.stop, ()) for t in store]
            store.tracks.clear()
            store.tracks.update(new.tracks)
            store.method = new.method
            k = tuple(range(store.n_nodes))
            return gone + [Change(t.track_id, t.start, t.stop, k) for t in store]

        from .bindings import bindings_for

        b = bindings_for(self.ctrl)
        if b is not None:
            b.record("recover autosaved work", replace)
        else:
            self.ctrl.apply(replace())
        self.offer = None
        self.offer_changed.emit()
        self._pending = True
        self._set_dirty(True)
        _notify(f"keyskel: recovered {self.layer.name!r}; Ctrl-S saves it")

    def discard(self) -> None:
        """Forget the offered recovery and remove its file."""
        self.offer = None
        self.offer_changed.emit()
        recovery.discard_recovery(self.identity)


def state_for(layer: Any) -> SaveState | None:
    """The save state of a keyskel layer, if :func:`install` gave it one."""
    s = _STATES.get(id(unwrap_proxy(layer)))
    return s if s is not None and s.layer is unwrap_proxy(layer) else None


def states(viewer: Any) -> list[SaveState]:
    """The save states of the keyskel layers in ``viewer``."""
    viewer = unwrap_proxy(viewer)
    return [s for ly in viewer.layers if (s := state_for(ly)) is not None]


def save_layer(layer: Any, ask: bool = True) -> list[Path]:
    """Ctrl-S: save ``layer`` to its file (asking once for a new one); notify; [] if not saved."""
    state = state_for(layer)
    if state is None:
        return []
    path, fmt = state.path, state.format
    if path is None:
        if not ask:
            return []
        chosen = ask_save_path(state)
        if chosen is None:
            return []
        path, fmt = chosen
    try:
        written = state.save(path, fmt)
    except (KeyskelError, OSError) as exc:
        _notify(at_path(path, str(exc), "keyskel: nothing saved to"), "error")
        return []
    _notify(f"keyskel: saved {layer.name!r} (every frame) to {', '.join(str(p) for p in written)}")
    return written


def saved_by_writer(layer_data: Sequence[tuple[Any, dict[str, Any], str]], path: str, fmt: str) -> None:
    """Napari's File > Save just wrote these layers with a keyskel writer (every frame): saved.

    The layers are found by their ``metadata["keyskel"]`` (napari hands the writer the layer's own
    metadata dict); Ctrl-S then writes to the same path, in the same format.
    """
    written = {
        id(attrs["metadata"]["keyskel"])
        for _, attrs, ltype in layer_data
        if ltype == "points" and "keyskel" in (attrs.get("metadata") or {})
    }
    for state in list(_STATES.values()):
        if id(state.layer.metadata.get("keyskel")) in written:
            state.mark_saved(Path(path), fmt)


def ask_save_path(state: SaveState) -> tuple[Path, str] | None:
    """Ask where (and as which format) to save a layer that has no file yet."""
    from qtpy.QtWidgets import QFileDialog

    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in state.layer.name) or "annotations"
    path, chosen = QFileDialog.getSaveFileName(
        main_window(state.viewer),
        "Save annotations (every frame)",
        f"{name}.json",
        ";;".join(_FILTERS.values()),
    )
    if not path:
        return None
    fmt = next((k for k, v in _FILTERS.items() if v == chosen), "darwin")
    return Path(path), fmt


# -- the viewer: layers, Ctrl-S, close, autosave ----------------------------------------------------
def install(viewer: Any) -> None:
    """Give every keyskel layer of ``viewer`` (now and later) a save state; idempotent."""
    viewer = unwrap_proxy(viewer)
    hooks = _VIEWERS.get(id(viewer))
    if hooks is not None and hooks.viewer() is viewer:
        return
    _VIEWERS[id(viewer)] = _ViewerHooks(viewer)
    _warn_on_csv_writer()
    from .save_dialog import install as our_save_dialog

    our_save_dialog(viewer)  # File > Save Selected Layers: our writers, the file's folder


def set_autosave_interval(viewer: Any, seconds: float) -> None:
    """Autosave every ``seconds`` (0: never)."""
    hooks = _VIEWERS.get(id(unwrap_proxy(viewer)))
    if hooks is not None:
        hooks.set_interval(seconds)


def autosave_now(viewer: Any) -> list[Path]:
    """Write the recovery files of every layer with edits since the last autosave."""
    return [p for s in states(viewer) if (p := s.autosave()) is not None]


class _ViewerHooks:
    """One viewer's layer watch, Ctrl-S and close filter, and autosave timer."""

    def __init__(self, viewer: Any) -> None:
        from qtpy.QtCore import QTimer

        key = id(viewer)
        # weak: the hooks must not keep a closed viewer (and its window) alive
        self.viewer = weakref.ref(viewer, lambda _: _VIEWERS.pop(key, None))
        viewer.layers.events.inserted.connect(self._on_inserted, position="last")
        viewer.layers.events.removed.connect(self._on_removed)
        for layer in list(viewer.layers):
            self._adopt(layer)
        main = main_window(viewer)
        self.timer = QTimer(main)
        self.timer.timeout.connect(self._autosave)
        self.set_interval(AUTOSAVE_SECONDS)
        self.filter = None
        if main is not None:
            self.filter = _make_filter(viewer, main)
            main.installEventFilter(self.filter)

    def set_interval(self, seconds: float) -> None:
        self.timer.stop()
        if seconds > 0:
            self.timer.start(int(seconds * 1000))

    def _autosave(self) -> None:
        viewer = self.viewer()
        if viewer is not None:
            autosave_now(viewer)

    def _on_inserted(self, event: Any) -> None:
        self._adopt(event.value)

    def _on_removed(self, event: Any) -> None:
        """A layer leaves (or the viewer closes): forget it (its last autosave stays)."""
        state = state_for(event.value)
        if state is not None:
            state.ctrl.changed.disconnect(state._on_changed)
            del _STATES[id(state.layer)]

    def _adopt(self, layer: Any) -> None:
        from .controller import attach

        viewer = self.viewer()
        if not _is_keyskel(layer) or state_for(layer) is not None or viewer is None:
            return
        try:
            ctrl = attach(viewer, layer)  # the controller, made now if our handler runs first
        except KeyskelError:
            return
        state = _STATES[id(layer)] = SaveState(viewer, layer, ctrl)
        from .bindings import layer_key

        layer.bind_key(layer_key("Control-S"), _ctrl_s, overwrite=True)  # Cmd-S on macOS
        state.offer_recovery()


def _ctrl_s(layer: Any) -> None:
    """Save every frame of this annotation layer to its file (asks once for a new layer)."""
    save_layer(layer)


def _make_filter(viewer: Any, main: Any) -> Any:
    from qtpy.QtCore import QEvent, QObject, Qt

    ref, main_ref = weakref.ref(viewer), weakref.ref(main)

    def is_ctrl_s(event: Any) -> bool:
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        return event.key() == Qt.Key.Key_S and mods == Qt.KeyboardModifier.ControlModifier

    def active_state() -> SaveState | None:
        v = ref()
        return None if v is None else state_for(v.layers.selection.active)

    class _Filter(QObject):
        def eventFilter(self, obj: Any, event: Any) -> bool:
            t = event.type()
            if t in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and is_ctrl_s(event):
                state = active_state()
                if state is None:
                    return False
                event.accept()  # before napari's "Save Selected Layers..." shortcut
                if t == QEvent.Type.KeyPress:  # the canvas did not take it: save here
                    save_layer(state.layer)
                return True
            if t == QEvent.Type.Close and obj is main_ref():
                v = ref()
                return False if v is None else not _may_close(v, event)
            return False

    return _Filter(main)


def _may_close(viewer: Any, event: Any) -> bool:
    """Ask before a person closes the window with unsaved annotations; False keeps it open."""
    widget = qt_viewer(viewer)
    if widget is None or not widget.isVisible():  # a script's viewer.close(): no question
        return True
    dirty = [s for s in states(viewer) if s.unsaved]
    if not dirty:
        return True
    from qtpy.QtWidgets import QMessageBox

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


def _warn_csv(out: str, data: Any, meta: dict[str, Any]) -> None:
    """After napari's built-in CSV writer saved a keyskel layer: warn that it holds one frame."""
    if "keyskel" in (meta.get("metadata") or {}):
        _notify(
            f"keyskel: {out} holds only the {plural(len(data), 'point')} of the frame in view, "
            "not every frame. "
            "Save as 'V7 Darwin JSON' or 'COCO keypoints' (or press Ctrl-S on the layer) "
            "to keep them all.",
            "warning",
        )


def _warn_on_csv_writer() -> None:
    """Warn when napari's built-in CSV writer saves a keyskel layer: it holds the frame in view only."""
    after_builtin_points_writer(_warn_csv)
