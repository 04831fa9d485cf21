"""npe2 reader hooks for footage: video files and folders of images, opened lazily (glue over ``media``).

- :func:`get_video_reader`: ``.mp4 .avi .mov .mkv .webm .m4v .mpg`` and friends. The layer's data
  is a :class:`~napari_keyskel.media.VideoSource` (frame-accurate, decodes only what is shown).
- :func:`get_images_reader`: a folder holding images of any sizes (*Open Folder*), as one stack on
  a canvas of the largest. A folder holding no images gets ``None``: napari tries its other
  readers, and nothing fails.

A file that cannot be read shows a notification naming it and the reason, and adds no layer
(napari's "nothing to add" sentinel), so there is never a traceback dialog.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import FormatWarning, KeyskelError
from ..media import is_video_file, media_kind, open_media
from .media_link import media_layer_tuple

__all__ = ["get_images_reader", "get_video_reader", "read_media"]

LayerTuple = tuple[Any, dict[str, Any], str]


def _single(path: str | Sequence[str]) -> Path | None:
    if isinstance(path, (list, tuple)):
        return Path(path[0]) if len(path) == 1 else None
    return Path(str(path))


def get_video_reader(path: str | Sequence[str]) -> Callable[..., list[Any]] | None:
    """npe2 reader hook: a read function for one video file, else ``None``."""
    p = _single(path)
    if p is None or not p.is_file() or not is_video_file(p):
        return None
    return read_media


def get_images_reader(path: str | Sequence[str]) -> Callable[..., list[Any]] | None:
    """npe2 reader hook: a read function for a folder of images, else ``None`` (never raises)."""
    p = _single(path)
    try:
        if p is None or not p.is_dir() or media_kind(p) != "images":
            return None
    except OSError:
        return None
    return read_media


def read_media(path: Any, stack: bool = False) -> list[Any]:
    """The media layer of a video or an image folder; on failure notify and add nothing."""
    from napari.utils.notifications import show_warning

    from .media_link import _connect_current_viewer

    p = _single(path)
    if p is None:
        return [(None,)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FormatWarning)
        try:
            source = open_media(p)
        except KeyskelError as exc:
            source, failure = None, str(exc)
        except Exception as exc:  # a reader bug must not take the viewer down
            source, failure = None, f"{type(exc).__name__}: {exc}"
    for w in caught:
        if issubclass(w.category, FormatWarning):
            show_warning(f"keyskel: {w.message}")
    if source is None:
        from .owner import notify_error

        notify_error(f"keyskel: cannot open {p}: {failure}")
        return [(None,)]
    _connect_current_viewer()
    return [media_layer_tuple(source)]
