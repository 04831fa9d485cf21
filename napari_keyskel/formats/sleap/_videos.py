"""sleap-io videos of our frames' files: TIFF stacks read as napari shows them, references kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["make_video", "open_video", "video_shape"]


def video_shape(sio: Any, video: Any) -> tuple[int, ...] | None:
    """``(frames, height, width, channels)`` of a sleap-io video, or ``None`` when unknown."""
    fn = video.filename
    if isinstance(fn, str) and fn.lower().endswith((".tif", ".tiff")) and Path(fn).is_file():
        video = open_video(sio, fn)  # sleap-io's readers guess a TIFF stack's axes
    try:
        shape = video.shape
    except Exception:  # a backend that cannot open its file
        shape = None
    return None if shape is None else tuple(int(s) for s in shape)


def open_video(sio: Any, filename: str) -> Any:
    """A sleap-io ``Video`` of a file; a TIFF stack is read as (t, y, x[, c]), as napari shows it.

    sleap-io guesses the axes of a TIFF stack stored as one series from its shape (a non-square
    (t, y, x) stack is read as (y, x, t)); where its guess differs from the stack's own shape,
    the frames are read along the first axis.
    """
    video = sio.Video.from_filename(filename)
    if Path(filename).suffix.lower() not in (".tif", ".tiff"):
        return video
    import tifffile

    try:
        with tifffile.TiffFile(filename) as tf:
            shape = tuple(int(n) for n in tf.series[0].shape)
    except Exception:  # not readable as TIFF: sleap-io says why when it reads
        return video
    if len(shape) == 3 and shape[-1] not in (3, 4):
        want, fmt = (*shape, 1), "THW"
    elif len(shape) == 4:
        want, fmt = shape, "THWC"
    else:
        return video
    if tuple(video.shape) == want:
        return video
    from sleap_io.io.video_reading import TiffVideo

    backend = TiffVideo(filename, format=fmt, grayscale=fmt == "THW", keep_open=True)
    backend._cached_shape = want  # sleap-io counts a THW stack's frames from its guess again
    return sio.Video(filename=filename, backend=backend)


def make_video(sio: Any, filename: Any, metadata: dict[str, Any]) -> Any:
    """A video of a file (or image files) when they can be read, else a reference with ``metadata``.

    A reference to image files not on disk is written as sleap-io writes an ``ImageVideo``, so
    that sleap-io's ``load_slp`` opens the file.
    """
    fn = [str(f) for f in filename] if isinstance(filename, (list, tuple)) else str(filename)
    exists = all(Path(f).exists() for f in fn) if isinstance(fn, list) else Path(fn).exists()
    if exists:
        try:
            return sio.Video.from_filename(fn) if isinstance(fn, list) else open_video(sio, fn)
        except Exception:  # an unreadable file is written as a reference, like a missing one
            pass
    md = dict(metadata)
    if isinstance(fn, list) and fn:
        # sleap-io's .slp reader takes an image list from the backend's "filenames" (with
        # "filename" its first image): without them it fails on the list (TypeError)
        md.update({"type": "ImageVideo", "filename": fn[0], "filenames": list(fn)})
    return sio.Video(filename=fn, backend_metadata=md, open_backend=False)
