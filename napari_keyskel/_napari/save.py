"""Where a keyskel layer is saved, whether it has unsaved changes, and its recovery file.

Every :class:`~.owner.LayerOwner` has a :class:`SaveState` (``owner.save``):

- **saving** writes every frame of the layer (and of the other layers read from the same file)
  to the file it came from, in that file's format, or to a new path and format, which it then
  remembers (:meth:`SaveState.save`, :func:`save_layer` with a notification);
- **unsaved changes**: ``state.dirty`` (and ``dirty_changed``) follow the owner's edits; the
  bottom timeline shows them;
- **recovery**: :meth:`SaveState.autosave` writes unsaved work to a recovery file
  (:mod:`napari_keyskel.core.recovery`); opening the same data again offers it
  (:meth:`SaveState.offer_recovery`: a notification with *Recover* / *Discard*);
- napari's built-in **CSV** writer holds only the points of the frame in view: saving a keyskel
  layer with it shows a warning (:func:`warn_on_csv_writer`).

Saving from the viewer (a notification, several layers, napari's writers, autosave of every
layer) is in :mod:`.saving`; what needs the window (Ctrl-S before napari's own shortcut, the close
prompt, the autosave timer, the file dialog for a new layer) in :mod:`napari_keyskel._qt.save_hooks`.
Neither holds Qt here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from psygnal import Signal

from ..core import recovery
from ..core.store import Change
from ..errors import KeyskelError

if TYPE_CHECKING:
    from .owner import LayerOwner

__all__ = ["AUTOSAVE_SECONDS", "FILTERS", "SaveState", "identity_of", "notify"]

#: Seconds between autosaves (``$KEYSKEL_AUTOSAVE_SECONDS`` overrides; 0: no autosave).
AUTOSAVE_SECONDS = float(os.environ.get("KEYSKEL_AUTOSAVE_SECONDS", "60"))
#: The formats a new layer can be saved as, with their file-dialog filters.
FILTERS = {"darwin": "V7 Darwin JSON (*.json)", "coco": "COCO keypoints (*.json)"}


def notify(text: str, severity: str = "info", actions: tuple[Any, ...] = ()) -> None:
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

    def __init__(self, owner: LayerOwner) -> None:
        self.owner = owner
        layer = owner.points
        self.identity = identity_of(layer)
        self.dirty = False
        self._pending = False  # edits since the last autosave
        self.offer: recovery.Recovery | None = None
        saved = layer.metadata.get("keyskel_save") or {}
        source = (layer.metadata["keyskel"].get("dataset") or {}).get("source")
        where = saved.get("path") or source
        self.path: Path | None = Path(str(where)) if where else None
        self.format: str | None = saved.get("format")
        self._skeleton = owner.store.skeleton  # a skeleton edit alone emits no change: compare it
        self._autosaved_skeleton = owner.store.skeleton

    @property
    def layer(self) -> Any:
        """The annotation Points layer."""
        return self.owner.points

    @property
    def viewer(self) -> Any:
        return self.owner.viewer

    @property
    def unsaved(self) -> bool:
        """Edits, or a skeleton edit, since the last save."""
        return self.dirty or self.owner.store.skeleton is not self._skeleton

    def after_edit(self, changes: list[Change]) -> None:
        """An edit of the layer (the owner's redraw): unsaved, and due for the next autosave."""
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
        out = [o.save for o in self.owner.peers() if o.save.path == self.path]
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
            {**store_to_plain(s.owner.store), "dataset": s.layer.metadata["keyskel"].get("dataset")}
            for s in group
        ]
        # several items as V7: the export folder File > Save writes too (one Darwin file per item)
        extra = {"export_folder": True} if fmt == "darwin" else {}
        if fmt not in formats.FORMATS:
            raise KeyskelError(f"cannot save as {fmt!r} (choose from {', '.join(formats.FORMATS)})")
        written = formats.write(dataset_from_plain(plains), target, cast("formats.Format", fmt), **extra)
        for s in group:
            s.mark_saved(target, fmt)
        return [Path(p) for p in written]

    def mark_saved(self, path: Path, fmt: str) -> None:
        """Every frame was just written to ``path`` as ``fmt``: Ctrl-S writes there now; not unsaved."""
        self.path, self.format = path, fmt
        self.layer.metadata["keyskel_save"] = {"path": str(path), "format": fmt}
        self._pending = False
        self._skeleton = self.owner.store.skeleton
        self._set_dirty(False)
        recovery.discard_recovery(self.identity)

    def autosave(self) -> Path | None:
        """Write the recovery file if there are edits since the last autosave; its path, else None."""
        if not self._pending and self.owner.store.skeleton is self._autosaved_skeleton:
            return None
        info = {"layer": self.layer.name, "source": None if self.path is None else str(self.path)}
        path = recovery.write_recovery(self.identity, [self.owner.store], info)
        self._pending = False
        self._autosaved_skeleton = self.owner.store.skeleton
        return path

    # -- recovery ---------------------------------------------------------------------------------
    def offer_recovery(self) -> recovery.Recovery | None:
        """Look for work autosaved before a crash and offer it in a notification."""
        found = recovery.find_recovery(self.identity)
        if found is None:
            return None
        self.offer = found
        self.offer_changed.emit()
        notify(
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
        store = self.owner.store
        if new.skeleton != store.skeleton or new.coord_ndim != store.coord_ndim:
            notify(f"keyskel: the autosaved work on {self.layer.name!r} has another skeleton; kept aside")
            return

        def replace() -> list[Change]:
            gone = [Change(t.track_id, t.start, t.stop, ()) for t in store]
            store.tracks.clear()
            store.tracks.update(new.tracks)
            store.method = new.method
            k = tuple(range(store.n_nodes))
            return gone + [Change(t.track_id, t.start, t.stop, k) for t in store]

        self.owner.bindings.record("recover autosaved work", replace)
        self.offer = None
        self.offer_changed.emit()
        self._pending = True
        self._set_dirty(True)
        notify(f"keyskel: recovered {self.layer.name!r}; Ctrl-S saves it")

    def discard(self) -> None:
        """Forget the offered recovery and remove its file."""
        self.offer = None
        self.offer_changed.emit()
        recovery.discard_recovery(self.identity)
