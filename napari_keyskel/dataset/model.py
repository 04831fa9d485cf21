"""The dataset: many items (videos, images, image folders, volumes), each with its status.

A :class:`Dataset` lists its items at once and reads the rest when asked: an item's *header*
(status, kind, frame count; cheap) and its *annotations* (an
:class:`~napari_keyskel.core.annotation_set.AnnotationSet`, one store per skeleton class; read
on first use and kept while it is being worked on). Where the items come from and where they go
is the job of a *backend*, one per format (:mod:`._darwin`, :mod:`._coco`, :mod:`._sleap`,
:mod:`._folder`); the model never reads a file itself. Saving writes only the items that changed,
one at a time, each atomically, status included.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..core.annotation_set import AnnotationSet
from ..core.skeleton import Skeleton
from ..errors import FormatError, FormatWarning, KeyskelError
from .instructions import Instructions
from .status import STATUSES, Status, check_complete, default_status, has_keypoints, open_flag_count
from .suggestions import Suggestions

__all__ = ["KINDS", "Backend", "Counts", "Dataset", "Item"]

#: What an item can be.
KINDS: tuple[str, ...] = ("video", "image", "images", "volume")


@dataclass(frozen=True)
class Counts:
    """An item's annotation numbers, as the dock's table shows them."""

    labelled_frames: int
    keys: int
    instances: int
    review_flags: int

    @classmethod
    def of(cls, annotations: AnnotationSet) -> Counts:
        """The numbers of an item's annotations (review flags: the unreviewed ones)."""
        frames: set[int] = set()
        keys = instances = 0
        for s in annotations.stores:
            instances += len(s)
            for t in s:
                m = t.is_key & np.isfinite(t.coords[..., 0])
                keys += int(m.sum())
                frames.update((t.start + m.any(axis=1).nonzero()[0]).tolist())
        return cls(len(frames), keys, instances, sum(open_flag_count(annotations).values()))


@dataclass
class Item:
    """One item of a dataset.

    Parameters
    ----------
    key
        Unique within the dataset (a relative file path, or the item's name in a many-item file).
    name
        What the person sees (the media file's name).
    kind
        One of :data:`KINDS`.
    media
        The video, image or image folder, if found.
    source
        The annotation file the item is read from and written to (``None``: none yet).
    n_frames
        Frames of the item, when known.

    """

    key: str
    name: str
    kind: str = "video"
    media: Path | None = None
    source: Path | None = None
    n_frames: int | None = None
    status: Status | None = None  # None: header not read yet
    counts: Counts | None = None  # None: not counted yet
    #: Backend-specific facts (JSON-able).
    extra: dict[str, Any] = field(default_factory=dict)
    annotations: AnnotationSet | None = field(default=None, repr=False)
    changed: bool = False
    status_changed: bool = False


class Backend(Protocol):
    """Where a dataset's items come from and go to (one class per format)."""

    format: str
    root: Path

    def list_items(self) -> list[Item]:
        """Every item, with what listing them tells for free."""
        ...

    def header(self, item: Item) -> None:
        """Fill ``item.status`` (and ``n_frames``, ``kind`` where cheap) without building stores."""
        ...

    def load(self, item: Item) -> AnnotationSet:
        """The item's annotations (empty stores, or none, for an item not annotated yet)."""
        ...

    def save(self, item: Item, annotations: AnnotationSet | None, status: Status) -> list[Path]:
        """Write the item (its annotations when given, else its status only), atomically."""
        ...

    def skeletons(self) -> list[Skeleton]:
        """The skeletons found beside the items (skeleton files, or the file's classes)."""
        ...


def _load_suggestions(root: Path) -> Suggestions:
    """The frames suggested per item, kept beside the items (a broken file is warned of, not fatal)."""
    try:
        return Suggestions.load(root)
    except FormatError as exc:
        warnings.warn(f"{exc}; the suggested frames start empty", FormatWarning, stacklevel=3)
        return Suggestions(root if root.is_dir() else root.parent)


class Dataset:
    """Items with media, annotations and status, read lazily from one backend.

    Use :func:`~napari_keyskel.dataset.open_dataset` to open one from a path.
    """

    def __init__(self, backend: Backend, instructions: Instructions | None = None) -> None:
        self.backend = backend
        self.items: list[Item] = backend.list_items()
        self._by_key = {it.key: i for i, it in enumerate(self.items)}
        if len(self._by_key) != len(self.items):
            raise KeyskelError(f"{backend.root}: two items share a key")
        self.instructions = (
            instructions
            if instructions is not None
            else Instructions.load(backend.root, getattr(backend, "skeleton_folder", None))
        )
        self.suggestions = _load_suggestions(backend.root)

    # -- items ----------------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        """The folder (or file) the dataset was opened from."""
        return self.backend.root

    @property
    def format(self) -> str:
        """``"darwin"``, ``"coco"``, ``"sleap"``, ``"dlc"`` or ``"folder"``."""
        return self.backend.format

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __getitem__(self, which: int | str) -> Item:
        return self.items[self.index(which)]

    def index(self, which: int | str | Item) -> int:
        """The position of an item given by position, key, name or itself."""
        if isinstance(which, Item):
            which = which.key
        if isinstance(which, int):
            if not -len(self.items) <= which < len(self.items):
                raise KeyskelError(f"no item {which}: the dataset has {len(self.items)}")
            return which % len(self.items)
        if which in self._by_key:
            return self._by_key[which]
        named = [i for i, it in enumerate(self.items) if it.name == which]
        if len(named) == 1:
            return named[0]
        if named:
            raise KeyskelError(f"{len(named)} items are named {which!r}; give the key (the file path)")
        raise KeyskelError(f"no item {which!r} in {self.root}")

    # -- lazy reads -----------------------------------------------------------------------------
    def header(self, which: int | str | Item) -> Item:
        """The item with its status (and cheap facts) read."""
        item = self[self.index(which)]
        if item.status is None:
            self.backend.header(item)
            if item.status is None:  # the backend could not tell without reading: read
                item.status = default_status(has_keypoints(self.annotations(item)))
        return item

    def status(self, which: int | str | Item) -> Status:
        """The item's status."""
        st = self.header(which).status
        assert st is not None
        return st

    def annotations(self, which: int | str | Item) -> AnnotationSet:
        """The item's annotations, read on first use."""
        item = self[self.index(which)]
        if item.annotations is None:
            item.annotations = self.backend.load(item)
        return item.annotations

    def counts(self, which: int | str | Item) -> Counts:
        """The item's numbers (reads its annotations if needed; cached until it changes)."""
        item = self[self.index(which)]
        if item.counts is None:
            loaded = item.annotations is not None
            item.counts = Counts.of(self.annotations(item))
            if not loaded and not item.changed:
                item.annotations = None  # counted: no need to hold it
        return item.counts

    def skeletons(self) -> list[Skeleton]:
        """The skeletons of the dataset (skeleton files beside the items, or the file's classes)."""
        return self.backend.skeletons()

    # -- edits ----------------------------------------------------------------------------------
    def set_annotations(self, which: int | str | Item, annotations: AnnotationSet) -> None:
        """Give the item new annotations (e.g. from the viewer); saved by :meth:`save`."""
        item = self[self.index(which)]
        item.annotations = annotations
        self.mark_changed(item)

    def mark_changed(self, which: int | str | Item) -> None:
        """Say that the item's annotations were edited in place."""
        item = self[self.index(which)]
        if item.annotations is None:
            raise KeyskelError(f"item {item.name!r}: nothing to mark changed, its annotations are not read")
        item.changed = True
        item.counts = None
        if self.header(item).status == Status("new") and has_keypoints(item.annotations):
            item.status = Status.set_now("annotate")
            item.status_changed = True

    def set_status(
        self, which: int | str | Item, status: str, who: str | None = None, force: bool = False
    ) -> Status:
        """Move an item to ``status``; saved by :meth:`save`.

        Raises
        ------
        KeyskelError
            For an unknown status, or ``complete`` while the item has unreviewed review flags
            (unless ``force``); the message says how many and of which kinds.

        """
        item = self[self.index(which)]
        if status not in STATUSES:
            raise KeyskelError(f"unknown status {status!r} (choose from {', '.join(STATUSES)})")
        if status == "complete" and not force:
            check_complete(item.name, self.annotations(item))
        item.status = Status.set_now(status, who)
        item.status_changed = True
        return item.status

    def unsaved(self) -> list[Item]:
        """Items with changes not yet written."""
        return [it for it in self.items if it.changed or it.status_changed]

    def save(self, which: int | str | Item | None = None) -> list[Path]:
        """Write the changed items (or only ``which``, if it changed), one at a time; the files written."""
        items = self.unsaved() if which is None else [self[self.index(which)]]
        written: list[Path] = []
        for item in items:
            if not (item.changed or item.status_changed):
                continue
            ann = item.annotations if item.changed else None
            written += self.backend.save(item, ann, self.status(item))
            item.changed = item.status_changed = False
        return written

    def release(self, which: int | str | Item) -> None:
        """Forget the item's annotations if they are saved (they are read again when needed)."""
        item = self[self.index(which)]
        if not item.changed:
            item.annotations = None

    # -- the whole ------------------------------------------------------------------------------
    def progress(self) -> dict[str, int]:
        """How many items have each status (reads every header)."""
        out = dict.fromkeys(STATUSES, 0)
        for it in self.items:
            out[self.status(it).status] += 1
        return out

    def row(self, which: int | str | Item, counts: bool = True) -> dict[str, Any]:
        """One item as a JSON-able row: key, name, kind, frames, counts (when asked), status."""
        item = self.header(which)
        st = self.status(item)
        row: dict[str, Any] = {
            "key": item.key,
            "name": item.name,
            "kind": item.kind,
            "frames": item.n_frames,
            "media": None if item.media is None else str(item.media),
            "status": st.status,
            "who": st.who,
            "when": st.when,
        }
        if counts:
            c = self.counts(item)
            row.update(
                labelled_frames=c.labelled_frames,
                keys=c.keys,
                instances=c.instances,
                review_flags=c.review_flags,
            )
        return row

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, format={self.format!r}, items={len(self.items)})"
