"""A dataset in a viewer: one item at a time, media below, annotations above (napari, no Qt).

A :class:`DatasetSession` opens an item of a :class:`~napari_keyskel.dataset.Dataset`: its media
as an Image layer showing the lazy :class:`~napari_keyskel.media.MediaSource` (never decoded
whole), and each annotation store as a keyskel Points layer linked to it (the seam of
:mod:`napari_keyskel._napari.media_link`: media directly below its annotations). An item with no
annotations yet gets empty layers with the skeleton(s) of the item left (the skeleton is kept
from item to item), else the dataset's skeleton files. Leaving an item (:meth:`open` another,
:meth:`step`, :meth:`close`) saves it when it changed, through the dataset's backend, and removes
its layers. Keyskel Points layers made while an item is open (e.g. in the Keyskel dock) belong to
it and are saved with it.

Frames: a file may list only some frames of a video (a COCO video item of frames 0, 10, 20):
its rows are put on the video's frame numbers on opening, and on saving the frames written are
those it listed plus every frame that now holds a key (interpolated frames between are not
listed: COCO has no interpolation, and the keys give them back).
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

from ..core.annotation_set import AnnotationSet
from ..core.skeleton import Skeleton
from ..core.store import AnnotationStore
from ..dataset import Dataset, Item, Status
from ..dataset._frames import compact, frame_numbers, renumber
from ..errors import FormatWarning, KeyskelError
from .dataset_layers import free_names, link_to_media, media_below, rebind, remove_layers
from .dataset_suggestions import SessionSuggestions
from .model_items import show_session_pending

if TYPE_CHECKING:
    import napari

__all__ = ["DatasetSession"]


def _notify(text: str, error: bool = False) -> None:
    from napari.utils.notifications import show_error, show_info

    (show_error if error else show_info)(text)


class DatasetSession:
    """Open the items of ``dataset`` one at a time in ``viewer`` (see the module docstring).

    Attributes
    ----------
    current
        Index of the item open, or None.
    reused
        True when the item open shows in the last item's layers (each with a new owner): docks
        that keep an owner must look again (napari added no layer they would hear of).
    opened
        Emitted with the index of the item just opened.
    saved
        Emitted with the index of an item just written.
    status_changed
        Emitted with the index of an item whose status changed.

    """

    opened = Signal(int)
    saved = Signal(int)
    status_changed = Signal(int)
    #: A model run over the items wrote pending proposals (the Dataset dock marks the items).
    pending_changed = Signal()

    def __init__(self, viewer: napari.Viewer, dataset: Dataset) -> None:
        self.viewer, self.dataset = viewer, dataset
        self.current: int | None = None
        self.reused = False
        self.media_layer: Any = None
        self.points_layers: list[Any] = []
        self._ann: AnnotationSet | None = None  # the item's annotations as read (file frames)
        self._file_numbers: np.ndarray | None = None
        self._dirty = False
        self._connected: list[Any] = []
        self._skeletons: list[Skeleton] = []
        self.source: Any = None
        self._spare: Any = None  # the last item's Image layer, reused for the next media
        self._spare_points: list[Any] = []  # and its annotation layers, reused if they fit
        self.suggestions = SessionSuggestions(self)
        self.stack_layers: list[Any] = []  # a volume's Image layers (one per channel)
        self._stack: list[Any] | None = None  # a volume's layer tuples while it opens
        self._old_source: Any = None

    # -- opening --------------------------------------------------------------------------------
    @property
    def item(self) -> Item | None:
        """The item open."""
        return None if self.current is None else self.dataset.items[self.current]

    def open(self, which: int | str | Item) -> Item:
        """Save and close the item open, then open ``which``; returns it.

        The layers of the item left are kept for the next one when they fit (same media kind,
        as many annotation layers of the same dimensions): each gets the new item's data and a
        new owner (its own undo history, save state, review and names), which is much faster
        than napari removing and adding layers. Otherwise they are removed and new ones added.
        """
        index = self.dataset.index(which)
        self.leave(keep_layers=True)
        try:
            item = self.dataset.header(index)
            self.source = self._open_media(item)
            ann = self.dataset.annotations(item)
            self._ann = ann
            self._file_numbers = frame_numbers(ann)
            layer_ann = self._on_layer_frames(ann, item)
            self._add_layers(item, layer_ann)
        except BaseException:
            self._drop_spares()
            raise
        if self._old_source is not None:  # the kept Image layer shows the new media now
            with contextlib.suppress(Exception):
                self._old_source.close()
            self._old_source = None
        self.current = index
        self._dirty = False
        self.suggestions.show()
        show_session_pending(self)  # a model's pending proposals for this item, as its proposals layer
        self.opened.emit(index)
        return item

    def _open_media(self, item: Item) -> Any:
        """The item's media source (None for none, or for a volume: :attr:`_stack` holds it then)."""
        self._stack = None
        if item.media is None:
            _notify(f"keyskel: no media found for item {item.name!r}: its annotations open alone")
            return None
        from ..media import open_media
        from .dataset_media import stack_layers

        try:
            self._stack = stack_layers(item)
            if self._stack is not None:  # a volume: its slices are the frames
                item.kind, item.n_frames = "volume", int(self._stack[0][0].shape[0])
                return None
            source = open_media(item.media)
        except KeyskelError as exc:
            _notify(f"keyskel: cannot open the media of {item.name!r}: {exc}", error=True)
            return None
        source.strict = False  # a frame that cannot be decoded shows black with a warning
        if item.n_frames is None or item.kind in ("video", "images"):
            item.n_frames = len(source)
        return source

    def _media_frames(self, item: Item) -> list[dict[str, Any]]:
        """A frame table for the media (frame numbers, names and sizes), named after the item."""
        from ..media import frames_table

        table = frames_table(self.source.describe())
        if item.kind == "images":  # one item holding many images: a sequence of frames
            return [{**fr, "item": item.name, "frame": i} for i, fr in enumerate(table)]
        return [{**fr, "item": item.name} for fr in table]

    def _on_layer_frames(self, ann: AnnotationSet, item: Item) -> AnnotationSet:
        """The item's annotations on the media layer's frames, with a store per kept skeleton."""
        if self.source is not None:
            n = len(self.source)
        else:
            n = item.n_frames if self._stack is not None and item.n_frames else max(ann.n_frames, 1)
        if self._file_numbers is not None:
            ann = renumber(ann, self._file_numbers, max(n, int(self._file_numbers[-1]) + 1))
        if self.source is not None:
            from ..media import to_layer_frames

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", FormatWarning)
                ann = to_layer_frames(ann, self.source.frame_numbers)
            for w in caught:
                _notify(f"keyskel: {w.message}")
        stores = [s.copy() for s in ann.stores]
        have = {s.name for s in stores}
        for sk in self._skeletons or self.dataset.skeletons():
            if sk.name not in have:
                stores.append(AnnotationStore(sk, n_frames=n, name=sk.name))
        described = self.dataset.instructions.nodes
        for s in stores:  # the dataset's node descriptions, shown in the skeleton editor
            if described.get(s.name):
                s.skeleton = s.skeleton.with_descriptions(described[s.name])
        for s in stores:
            if s.frame_axis is not None:
                s.n_frames = max(n, s.frame_range()[1])
        frames = list(ann.frames)
        if self.source is not None and len(frames) != n:  # the file lists some frames: the media's,
            media = self._media_frames(item)  # with the file's own entries where it has them
            listed = {int(fr["frame"]): fr for fr in frames} if self._file_numbers is not None else {}
            numbers = self.source.frame_numbers.tolist()
            frames = [dict(listed.get(int(f), media[j])) for j, f in enumerate(numbers)]
        elif self._stack is not None and len(frames) != n:  # a volume: one entry per slice
            from .dataset_media import stack_frames

            frames = stack_frames(item, self._stack)
        return AnnotationSet(stores, frames, ann.meta, ann.source)

    def _add_layers(self, item: Item, ann: AnnotationSet) -> None:
        from .dataset_media import media_layer
        from .layerdata import points_layer_tuple
        from .registry import add_points_layer

        v = self.viewer
        spare, self._spare = self._spare, None
        if self.source is not None:
            self.media_layer = media_layer(v, self.source, item.name, spare)
        else:
            self._remove([spare])
            if self._stack is not None:  # a volume: one layer per channel, with its voxel size
                self.stack_layers = [v.add_image(d, **attrs) for d, attrs, _ in self._stack]
                self.media_layer = self.stack_layers[0]
        kept, self._spare_points = self._spare_points, []
        reuse = len(kept) == len(ann.stores) and all(
            ly in v.layers and ly.ndim == s.layer_ndim for ly, s in zip(kept, ann.stores, strict=True)
        )
        if reuse:
            free_names(kept, [s.name for s in ann.stores])
        else:
            self._remove(kept)
        self.reused = reuse and bool(kept)
        self.points_layers = []
        for i, store in enumerate(ann.stores):
            if reuse:
                points = self._rebind(kept[i], store, ann)
            else:
                tup = points_layer_tuple(store, 0, name=store.name, dataset=ann)
                points = add_points_layer(v, tup, store=store)
            self._link(points)
            self.points_layers.append(points)
            self._follow_owner(points)
        self._media_below()
        if self.points_layers:
            v.layers.selection.active = self.points_layers[0]
        v.layers.events.inserted.connect(self._on_inserted)

    def _rebind(self, points: Any, store: AnnotationStore, ann: AnnotationSet) -> Any:
        """Show ``store`` in the kept Points layer ``points`` with a new owner (nothing of the old)."""
        return rebind(self.viewer, points, store, ann)

    def _media_below(self) -> None:
        """The media below every annotation layer of the item (linking puts it below the last)."""
        media_below(self.viewer, self.stack_layers or [self.media_layer], self.points_layers)

    def _follow_owner(self, points: Any) -> None:
        from .registry import owner_of

        owner = owner_of(points)
        if owner is not None:
            owner.changed.connect(self._on_changed)
            self._connected.append(owner)

    def _remove(self, layers: list[Any]) -> None:
        remove_layers(self.viewer, layers)

    def _drop_spares(self) -> None:
        """Remove the layers kept for an item that could not be opened."""
        spares = [*self._spare_points, self._spare]
        self._spare_points, self._spare = [], None
        self._remove(spares)

    def _link(self, points: Any) -> None:
        """Media directly below its annotations, sharing scale, axes and units (the footage seam)."""
        if self.media_layer is not None:
            link_to_media(self.viewer, points, self.media_layer)

    def _on_changed(self, changes: Any = None) -> None:
        self._dirty = True

    def _on_inserted(self, event: Any) -> None:
        """A keyskel layer added while the item is open belongs to it (saved with it)."""
        from .registry import is_keyskel_points

        layer = event.value
        if is_keyskel_points(layer) and layer not in self.points_layers and self.current is not None:
            self.points_layers.append(layer)
            self._dirty = True
            self._follow_owner(layer)

    # -- leaving --------------------------------------------------------------------------------
    def stores(self) -> list[AnnotationStore]:
        """The stores of the item's annotation layers (as edited)."""
        from .registry import owner_of

        out = []
        for layer in self.points_layers:
            owner = owner_of(layer)
            if owner is not None:
                out.append(owner.store)
        return out

    def changed(self) -> bool:
        """Whether the item's annotations were edited since it opened (or last saved)."""
        return self._dirty

    def annotations(self) -> AnnotationSet:
        """The item's annotations as edited, on the file's frames (what a save writes)."""
        if self._ann is None or self.item is None:
            raise KeyskelError("no item is open")
        stores = self.stores()
        frames = list(self._layer_frames())
        ann = AnnotationSet(stores, frames, self._ann.meta, self._ann.source)
        if self._file_numbers is None:
            return ann
        keep = set(self._file_numbers.tolist())
        for s in stores:
            for t in s:
                keyed = t.is_key & np.isfinite(t.coords[..., 0])
                keep.update((t.start + np.flatnonzero(keyed.any(axis=1))).tolist())
        numbers = np.asarray(sorted(f for f in keep if f < len(frames)), np.int64)
        return compact(ann, numbers)

    def _layer_frames(self) -> list[dict[str, Any]]:
        layer = self.points_layers[0] if self.points_layers else None
        info = (layer.metadata.get("keyskel") or {}).get("dataset") if layer is not None else None
        return list((info or {}).get("frames") or [])

    def save(self) -> list[Path]:
        """Write the item open if it changed (annotations and status); the files written."""
        item = self.item
        if item is None or self.current is None:
            return []
        if self._dirty:
            self.dataset.set_annotations(item, self.annotations())
        written = self.dataset.save(item) + self._save_descriptions()
        if written:
            self._dirty = False
            self.saved.emit(self.current)
        return written

    def _save_descriptions(self) -> list[Path]:
        """Node descriptions edited in the skeleton editor go to the dataset's instructions (saved)."""
        ins, skeletons = self.dataset.instructions, [s.skeleton for s in self.stores()]
        changed = False
        for sk in skeletons:
            for node, text in zip(sk.nodes, sk.descriptions, strict=True):
                if text != ins.description(sk.name, node):
                    ins.set_description(sk.name, node, text)
                    changed = True
        if not changed:
            return []
        try:
            return ins.save(skeletons)
        except (KeyskelError, OSError) as exc:
            _notify(f"keyskel: node descriptions not saved: {exc}", error=True)
            return []

    def leave(self, keep_layers: bool = False) -> list[Path]:
        """Save the item open (if it changed) and remove its layers.

        ``keep_layers``: the layers stay, for the next item (:meth:`open` reuses them or removes them).
        """
        if self.current is None:
            return []
        written = self.save()
        index = self.current
        self._skeletons = [s.skeleton for s in self.stores()] or self._skeletons
        with contextlib.suppress(TypeError, ValueError):
            self.viewer.layers.events.inserted.disconnect(self._on_inserted)
        for owner in self._connected:
            with contextlib.suppress(TypeError, ValueError):
                owner.changed.disconnect(self._on_changed)
        self._connected = []
        if keep_layers:  # (a volume's layers are never given other media)
            self._spare = None if self.stack_layers else self.media_layer
            self._spare_points = list(self.points_layers)
            self._remove(self.stack_layers)
        else:
            self._remove([*self.points_layers, self.media_layer, *self.stack_layers])
        self.points_layers, self.media_layer, self.stack_layers = [], None, []
        if self.source is not None and not keep_layers:  # (a kept layer still shows it until swapped)
            with contextlib.suppress(Exception):
                self.source.close()
        self._old_source = self.source if keep_layers else None
        self.source = None
        self.current, self._ann, self._file_numbers = None, None, None
        self.dataset.release(index)
        return written

    def close(self) -> list[Path]:
        """Save and close the item open."""
        return self.leave()

    # -- moving and statuses --------------------------------------------------------------------
    def step(self, direction: int = 1) -> Item | None:
        """Open the next (``direction`` +1) or previous (-1) item; None at either end."""
        if not len(self.dataset):
            return None
        if self.current is None:
            return self.open(0 if direction > 0 else len(self.dataset) - 1)
        target = self.current + (1 if direction > 0 else -1)
        if not 0 <= target < len(self.dataset):
            _notify(f"keyskel: no {'next' if direction > 0 else 'previous'} item")
            return None
        return self.open(target)

    def set_status(self, status: str, force: bool = False, which: int | str | Item | None = None) -> Status:
        """Set an item's status (default: the one open) and save it; ``complete`` is checked.

        For the item open the check sees its annotations as edited. Raises :class:`KeyskelError`
        with the reason when refused (unreviewed review flags, unless ``force``).
        """
        index = self.current if which is None else self.dataset.index(which)
        if index is None:
            raise KeyskelError("no item is open")
        if index == self.current and self._dirty:
            self.dataset.set_annotations(index, self.annotations())
            self._dirty = False
        st = self.dataset.set_status(index, status, force=force)
        self.dataset.save(index)
        self.status_changed.emit(index)
        return st

    def suggest(self, n: int, motion: bool = False) -> np.ndarray:
        """``n`` frames of the item open worth labelling (layer frames; frames with keys skipped).

        They become the item's suggestions (kept in the dataset, saved beside the items).
        """
        from ..dataset.suggest import suggest_frames
        from ..dataset.where_next import keyed_frames

        if self.source is None:
            raise KeyskelError("the item open has no media to look at")
        keyed = np.flatnonzero(keyed_frames(self.stores(), len(self.source)))
        frames = suggest_frames(self.source, n, motion=motion, exclude=keyed)
        return self.suggestions.set_item(frames)

    def keyed(self) -> dict[str, np.ndarray]:
        """Frames holding a key of the item open, by item key (never suggested again)."""
        from ..dataset.where_next import keyed_frames

        item = self.item
        if item is None:
            return {}
        n = len(self.source) if self.source is not None else max((s.n_frames or 1) for s in self.stores())
        return {item.key: np.flatnonzero(keyed_frames(self.stores(), n))}
