"""Footage: videos and image sets as lazy arrays napari shows directly (pure core: no napari, no Qt).

:func:`open_media` opens a video file, an image folder / glob / list of images, or one image, as
a :class:`MediaSource`: an array-like ``(t, y, x[, c])`` that decodes only the frames asked for.

- Videos (:mod:`.video`, PyAV): frame ``i`` is the ``i``-th frame in presentation order, exactly
  as a full sequential decode yields it (index from packet timestamps, seek to the keyframe
  before, decode forward); a bounded LRU cache (MiB) and a read-ahead thread.
- Images (:mod:`.images`): natural order, a canvas as large as the largest image, each image at
  the top left; names and true sizes kept.
- Frame numbers (:mod:`.frames`): a layer may show every Nth frame (``stride``) or frames at a
  target rate (``fps``); ``source.frame_numbers`` maps layer frames to the source's own numbers,
  :func:`frames_table` gives the ``AnnotationSet.frames`` entries that make writers write them,
  and :func:`to_layer_frames` puts a file keyed in source numbers onto such a layer.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import FormatError
from ._cache import DEFAULT_CACHE_MB, FrameCache
from ._source import MediaSource
from .frames import fit_to_frames, frames_table, move_frames, select_frames, to_layer_frames
from .images import IMAGE_EXTENSIONS, ImageSource, image_files, natural_key, open_images
from .video import VIDEO_EXTENSIONS, VideoSource, open_video

__all__ = [
    "DEFAULT_CACHE_MB",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FrameCache",
    "ImageSource",
    "MediaSource",
    "VideoSource",
    "fit_to_frames",
    "frames_table",
    "image_files",
    "is_image_file",
    "is_video_file",
    "media_kind",
    "move_frames",
    "natural_key",
    "open_images",
    "open_media",
    "open_video",
    "select_frames",
    "to_layer_frames",
]

PathOrPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def is_video_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a video file extension (the content is not read)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has an image file extension (the content is not read)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def media_kind(source: PathOrPaths) -> str | None:
    """``"video"``, ``"images"`` or ``None`` (not media) by names alone; cheap, reads no pixels."""
    if not isinstance(source, (str, os.PathLike)):
        paths = [Path(p) for p in source]
        return "images" if paths and all(is_image_file(p) for p in paths) else None
    s = os.fspath(source)
    p = Path(s).expanduser()
    if p.is_dir():
        return "images" if any(is_image_file(f) for f in p.iterdir() if f.is_file()) else None
    if glob.has_magic(s):
        return "images" if any(is_image_file(f) for f in glob.iglob(os.path.expanduser(s))) else None
    if is_video_file(p):
        return "video"
    return "images" if is_image_file(p) else None


def open_media(
    path: PathOrPaths,
    *,
    stride: int = 1,
    fps: float | None = None,
    cache_mb: float | None = None,
    grey: bool | None = None,
    frames: Sequence[int] | None = None,
) -> MediaSource:
    """Open a video, an image folder / glob / list, or one image, lazily.

    Parameters
    ----------
    path
        A video file, an image file, a folder of images, a glob (``"frames/*.png"``) or a list.
    stride
        Show every ``stride``-th frame; annotations keep the source's own frame numbers.
    fps
        Videos: show frames at this rate instead of a stride.
    cache_mb
        Budget of the decoded-frame cache in MiB (default 512).
    grey
        Videos: ``True`` one channel, ``False`` RGB, ``None`` one channel for grey videos.
    frames
        Videos: explicit source frame numbers in layer order (an annotation file's frame table).

    Raises
    ------
    FormatError
        Unknown or broken media; the message names the file and the reason.

    """
    kind = media_kind(path)
    label = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(list(path)[:1])
    if kind == "video":
        return open_video(path, stride=stride, fps=fps, cache_mb=cache_mb, grey=grey, frames=frames)  # type: ignore[arg-type]
    if kind == "images":
        if fps is not None:
            raise FormatError("a target fps applies to videos, not to images (use stride)", label)
        return open_images(path, stride=stride, cache_mb=cache_mb)
    if (
        isinstance(path, (str, os.PathLike))
        and not Path(path).expanduser().exists()
        and not glob.has_magic(label)
    ):
        raise FormatError("no such file or folder", label)
    known = ", ".join(VIDEO_EXTENSIONS[:8] + IMAGE_EXTENSIONS[:4])
    raise FormatError(f"not a video or image set (known: {known}, …, or a folder of images)", label)
