"""Image folders, globs and lists of images of any sizes, as one lazy ``(frame, y, x[, c])`` stack.

Files are sorted in natural order (``img2`` before ``img10``). Only their headers are read on
open (size and pixel mode); each frame is decoded when shown. The canvas is as large as the
largest image, and each image sits at its top left, so keypoints stay in each image's own pixel
coordinates. Grey images in a colour set are shown as grey RGB; RGB in a set with alpha gets an
opaque alpha. Each frame keeps its file name and true ``(height, width)``.

Files that are not readable images are skipped with one :class:`FormatWarning` naming them.
"""

from __future__ import annotations

import glob
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FormatError, FormatWarning
from ._source import MediaSource
from .frames import select_frames

__all__ = ["IMAGE_EXTENSIONS", "ImageSource", "image_files", "natural_key", "open_images"]

#: File extensions opened as images (lower case, with the dot).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")
_TIFF = (".tif", ".tiff")


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key putting ``img2`` before ``img10`` (digits compare as numbers, case ignored)."""
    return tuple((0, int(p), p) if p.isdigit() else (1, p.lower(), p) for p in re.split(r"(\d+)", name) if p)


def image_files(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> tuple[list[Path], Path]:
    """The image files of a folder, glob or list, in natural order, and the folder names are relative to."""
    if isinstance(source, (str, os.PathLike)):
        s = os.fspath(source)
        p = Path(s).expanduser()
        if p.is_dir():
            files = [f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS]
            files = [f for f in files if not f.name.startswith(".")]
            return sorted((f.absolute() for f in files), key=lambda f: natural_key(f.name)), p.absolute()
        if glob.has_magic(s):
            found = [Path(f).absolute() for f in glob.glob(os.path.expanduser(s)) if Path(f).is_file()]
            base = Path(os.path.commonpath([str(f.parent) for f in found])) if found else Path(s).parent
            return sorted(found, key=lambda f: natural_key(str(f.relative_to(base)))), base.absolute()
        return [p.absolute()], p.absolute().parent
    found = [Path(f).expanduser().absolute() for f in source]
    base = Path(os.path.commonpath([str(f.parent) for f in found])) if found else Path.cwd()
    return found, base


def _probe(path: Path) -> tuple[tuple[int, int], int, np.dtype]:
    """``(height, width)``, channels (1, 3, 4) and dtype of an image, from its header."""
    if path.suffix.lower() in _TIFF:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            shape, dtype = tuple(page.shape), np.dtype(page.dtype)
        if len(shape) == 2:
            return (int(shape[0]), int(shape[1])), 1, dtype
        if len(shape) == 3 and shape[-1] in (3, 4):
            return (int(shape[0]), int(shape[1])), int(shape[-1]), dtype
        raise ValueError(f"a TIFF page of shape {shape} is not one 2-D image")
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        mode = im.mode
        alpha = "transparency" in im.info
    if mode in ("1", "L"):
        return (h, w), 1, np.dtype(np.uint8)
    if mode.startswith("I;16"):
        return (h, w), 1, np.dtype(np.uint16)
    if mode in ("I", "F"):
        return (h, w), 1, np.dtype(np.int32 if mode == "I" else np.float32)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and alpha):
        return (h, w), 4, np.dtype(np.uint8)
    return (h, w), 3, np.dtype(np.uint8)


def _load(path: Path) -> np.ndarray:
    if path.suffix.lower() in _TIFF:
        import tifffile

        return np.asarray(tifffile.imread(path, key=0))
    from PIL import Image

    with Image.open(path) as im:
        if im.mode == "1":
            im = im.convert("L")
        elif im.mode in ("P", "LA", "PA", "CMYK", "YCbCr", "RGBa"):
            im = im.convert("RGBA" if im.mode in ("LA", "PA") or "transparency" in im.info else "RGB")
        return np.asarray(im)


def open_images(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    stride: int = 1,
    cache_mb: float | None = None,
) -> ImageSource:
    """Open a folder, glob, list of images or one image lazily; see :class:`ImageSource`."""
    return ImageSource(source, stride=stride, cache_mb=cache_mb)


class ImageSource(MediaSource):
    """Images of any sizes as a lazy ``(frame, y, x[, c])`` stack (see the module docstring).

    Attributes
    ----------
    files
        Every image, in frame order (source frame ``f`` is ``files[f]``).
    names
        Each file's path relative to the folder (``/`` separated).
    sizes
        int64 ``(n, 2)``: each image's true ``(height, width)``.

    """

    kind = "images"

    def __init__(
        self,
        source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        stride: int = 1,
        cache_mb: float | None = None,
    ) -> None:
        files, base = image_files(source)
        label = os.fspath(source) if isinstance(source, (str, os.PathLike)) else str(base)
        if not files:
            raise FormatError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found", label)
        kept: list[Path] = []
        sizes, channels, dtypes = [], [], []
        bad: list[str] = []
        for f in files:
            try:
                size, c, dt = _probe(f)
            except Exception as exc:  # PIL and tifffile raise many types for a non-image
                bad.append(f"{f.name} ({type(exc).__name__}: {exc})" if len(bad) < 5 else f.name)
                continue
            kept.append(f)
            sizes.append(size)
            channels.append(c)
            dtypes.append(dt)
        if bad:
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            msg = f"{len(bad)} of {len(files)} files are not readable images and are left out: "
            if not kept:
                raise FormatError(msg + "; ".join(bad[:5]) + more, label)
            warnings.warn(FormatWarning(msg + "; ".join(bad[:5]) + more, label), stacklevel=3)
        self.files = kept
        self.base = base
        self.names = [f.relative_to(base).as_posix() if f.is_relative_to(base) else f.name for f in kept]
        self.sizes = np.asarray(sizes, np.int64).reshape(-1, 2)
        h, w = (int(v) for v in self.sizes.max(axis=0))
        c = max(channels)
        dtype = np.result_type(*dtypes)
        shape: tuple[int, ...] = (h, w) if c == 1 else (h, w, c)
        super().__init__(label, shape, dtype, select_frames(len(kept), stride=stride), cache_mb=cache_mb)
        self.path = (
            str(Path(label).expanduser().absolute()) if isinstance(source, (str, os.PathLike)) else str(base)
        )

    def _read(self, i: int, src: int) -> np.ndarray:
        path = self.files[src]
        try:
            img = _load(path)
        except Exception as exc:  # a file that changed or is damaged past its header
            raise FormatError(
                f"cannot read the image ({type(exc).__name__}: {exc})", path, f"frame {i}"
            ) from None
        h, w = (int(v) for v in self.sizes[src])
        if img.shape[:2] != (h, w):
            raise FormatError(
                f"the image is now {img.shape[1]}x{img.shape[0]}, not {w}x{h}", path, f"frame {i}"
            )
        out = np.zeros(self.frame_shape, self._dtype)
        c = self.frame_shape[2] if self.rgb else 1
        if img.ndim == 2 and c > 1:
            img = np.repeat(img[..., None], 3, axis=-1)
        if img.ndim == 3 and c == 1:
            img = img[..., 0]
        if img.ndim == 3 and img.shape[-1] < c:  # RGB in an RGBA set: opaque
            full = np.iinfo(self._dtype).max if self._dtype.kind in "ui" else 1.0
            img = np.concatenate([img, np.full((h, w, 1), full, img.dtype)], axis=-1)
        out[:h, :w] = img[..., :c] if img.ndim == 3 else img
        return out

    def describe(self) -> dict[str, Any]:
        """Adds ``names`` (file name per source frame) and ``sizes`` (true ``[h, w]`` per source frame)."""
        d = super().describe()
        d.update(names=list(self.names), sizes=self.sizes.tolist(), n_source_frames=len(self.files))
        return d
