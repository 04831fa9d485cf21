"""Frames suggested for labelling, per item of a dataset, kept beside the items.

:class:`Suggestions` holds, per item key, the frames of the item's media suggested for labelling
(the media's frame positions, as the viewer shows them), and saves them to
:data:`SUGGESTIONS_FILE` beside the items (JSON Lines: ``{"item": key, "frames": [...]}`` per
line; not a ``.json`` file, so that no annotation reader takes it for an item).
:func:`suggest_dataset` picks them over the whole dataset (:func:`~.suggest.suggest_many`: one
k-means over every item's thumbnails), reading the items' media one at a time, with progress
and a way to stop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..core._atomic import atomic_write_text
from ..errors import FormatError, KeyskelError

__all__ = [
    "SUGGESTIONS_FILE",
    "Cancelled",
    "Suggestions",
    "keyed_frames",
    "open_for_thumbnails",
    "suggest_dataset",
]

#: The file beside the items that keeps the suggestions.
SUGGESTIONS_FILE = "keyskel-suggestions.jsonl"
#: Decoded frames the suggestion reader may cache (MB): a few frames, never a whole video.
SUGGEST_CACHE_MB = 8


class Cancelled(KeyskelError):
    """A whole-dataset suggestion was stopped before its end."""


def _folder(root: Path) -> Path:
    return root if root.is_dir() else root.parent


class Suggestions:
    """Suggested frames per item key (sorted, distinct), read from and saved to a folder."""

    def __init__(
        self, folder: Path | None = None, by_item: Mapping[str, Iterable[int]] | None = None
    ) -> None:
        self.folder = folder
        self.by_item: dict[str, np.ndarray] = {}
        for key, frames in (by_item or {}).items():
            self.set(key, frames)

    @classmethod
    def load(cls, root: str | Path) -> Suggestions:
        """The suggestions saved beside ``root`` (a dataset folder or file); none if no file."""
        folder = _folder(Path(root))
        path = folder / SUGGESTIONS_FILE
        out = cls(folder)
        if not path.is_file():
            return out
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise FormatError(f"cannot read the suggested frames ({exc})", path) from None
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                key, frames = rec["item"], rec["frames"]
                if not isinstance(key, str) or not isinstance(frames, list):
                    raise TypeError
                out.set(key, [int(f) for f in frames])
            except (ValueError, KeyError, TypeError):
                raise FormatError(
                    f"line {i}: expected {{'item': key, 'frames': [frame, ...]}}, got {line[:80]!r}", path
                ) from None
        return out

    def get(self, key: str) -> np.ndarray:
        """The item's suggested frames (sorted int64; empty when none)."""
        return self.by_item.get(key, np.zeros(0, np.int64))

    def set(self, key: str, frames: Iterable[int]) -> None:
        """Replace the item's suggestions (none: forget them)."""
        arr = np.unique(np.asarray(list(frames), np.int64))
        if arr.size and arr[0] < 0:
            raise KeyskelError(f"item {key!r}: a suggested frame cannot be negative ({int(arr[0])})")
        if arr.size:
            self.by_item[key] = arr
        else:
            self.by_item.pop(key, None)

    def replace_all(self, by_item: Mapping[str, Iterable[int]]) -> None:
        """Forget every item's suggestions and keep these."""
        self.by_item = {}
        for key, frames in by_item.items():
            self.set(key, frames)

    def __len__(self) -> int:
        return sum(len(f) for f in self.by_item.values())

    def save(self, folder: str | Path | None = None) -> Path | None:
        """Write the suggestions file (atomically; removed when nothing is suggested)."""
        where = Path(folder) if folder is not None else self.folder
        if where is None:
            raise FormatError("the suggested frames have no folder to be saved in")
        path = _folder(where) / SUGGESTIONS_FILE
        if not self.by_item:
            path.unlink(missing_ok=True)
            return None
        lines = [json.dumps({"item": k, "frames": f.tolist()}) for k, f in sorted(self.by_item.items())]
        return atomic_write_text(path, "\n".join(lines) + "\n")


def open_for_thumbnails(path: str | Path) -> Any:
    """The media, opened for thumbnails: a small cache, a video decoded to grey (all that is compared)."""
    from ..media import media_kind, open_media

    if media_kind(str(path)) == "video":
        return open_media(str(path), cache_mb=SUGGEST_CACHE_MB, grey=True)
    return open_media(str(path), cache_mb=SUGGEST_CACHE_MB)


def item_length(item: Any) -> int:
    """An item's frames from its header or its media's header (indexed only when neither says)."""
    from ._media import media_frames

    n = item.n_frames or media_frames(item.media, item.kind)
    if n is None:
        with open_for_thumbnails(item.media) as src:
            n = len(src)
    return int(n)


def _keyed(dataset: Any, item: Any) -> np.ndarray:
    """Frames of an item that hold a key: from its annotations in memory, else read (not kept)."""
    return keyed_frames(item.annotations if item.annotations is not None else dataset.backend.load(item))


def keyed_frames(ann: Any) -> np.ndarray:
    """Sorted frames of an annotation set where some node holds a placed key (never suggested again)."""
    out: set[int] = set()
    for s in ann.stores:
        for t in s:
            m = t.is_key & np.isfinite(t.coords[..., 0])
            out.update((t.start + np.flatnonzero(m.any(axis=1))).tolist())
    return np.asarray(sorted(out), np.int64)


def suggest_dataset(
    dataset: Any,
    n: int,
    *,
    motion: bool = False,
    exclude: Mapping[str, Iterable[int]] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    failed: list[tuple[str, str]] | None = None,
) -> dict[str, np.ndarray]:
    """``n`` frames over every item of ``dataset`` with media: ``{item key: frames}`` (sorted).

    An item whose media cannot be read (a broken video) is left out and, with ``failed`` given,
    appended to it as ``(item name, reason)``; the others are suggested from.

    One k-means over the thumbnails of all items (:func:`~.suggest.suggest_many`), so an item
    unlike the others gets frames, and a long run of alike items few. Frames holding a key are
    never suggested: ``exclude`` gives them per item key (e.g. for the item open, as edited);
    the other items' annotations are read from their files (not kept). Then each item's media is
    opened, read at thumbnail size and closed in turn. ``progress(done, total, what)`` is called
    after each step, and ``cancelled()`` is asked before each (True: :class:`Cancelled`).
    """
    from .suggest import suggest_many, thumbnails

    items = [dataset.header(i) for i in range(len(dataset))]
    usable = [it for it in items if it.media is not None and it.kind in ("video", "images", "image")]
    if not usable:
        raise KeyskelError(f"{dataset.root}: no item's media was found")
    names = {it.key: it.name for it in usable}
    media = {it.key: it.media for it in usable}
    skip = {k: np.asarray(list(v), np.int64) for k, v in (exclude or {}).items()}
    total = 2 * len(usable)

    def check() -> None:
        if cancelled is not None and cancelled():
            raise Cancelled("suggesting frames was stopped")

    lengths = []
    for done, it in enumerate(list(usable), 1):
        check()
        try:
            lengths.append((it.key, item_length(it)))
        except KeyskelError as exc:  # a broken video: named, and the others go on
            usable.remove(it)
            if failed is not None:
                failed.append((it.name, str(exc)))
            continue
        if it.key not in skip:
            skip[it.key] = _keyed(dataset, it)
        if progress is not None:
            progress(done, total, f"read {it.name}")

    if not usable:
        raise KeyskelError(f"{dataset.root}: no item's media could be read")

    def read(key: str, frames: np.ndarray) -> np.ndarray:
        with open_for_thumbnails(media[key]) as src:
            return thumbnails(src, frames)

    def mapper(fn: Callable[[Any], np.ndarray], jobs: list[Any]) -> list[np.ndarray]:
        out = []
        for done, job in enumerate(jobs, len(usable) + 1):
            check()
            out.append(fn(job))
            if progress is not None:
                progress(done, len(usable) + len(jobs), f"looked at {names[job[0]]}")
        return out

    chosen = suggest_many(lengths, n, read, motion=motion, map=mapper, exclude=skip)
    by_item: dict[str, list[int]] = {}
    for key, frame in chosen:
        by_item.setdefault(key, []).append(frame)
    return {k: np.unique(np.asarray(v, np.int64)) for k, v in by_item.items()}
