"""Pixel-coordinate conventions of the file formats (docs/FORMATS.md §3), kept in one place.

The store holds positions in napari *data* order (..., row, col) = (..., y, x), where the
integer position ``(0, 0)`` is the centre of pixel ``[0, 0]``.

- V7 Darwin measures from the top-left *corner* of the image: ``x = col + 0.5``,
  ``y = row + 0.5`` (inferred from V7's own converters; not stated in V7's docs).
- COCO keypoints use the pixel index, as pycocotools and sleap-io read them: ``x = col``,
  ``y = row`` (detectron2 adds 0.5 on its own; we do not).
"""

from __future__ import annotations

import numpy as np

__all__ = ["COCO_OFFSET", "DARWIN_OFFSET", "DECIMALS", "from_file_xy", "round_decimals", "to_file_xy"]

#: Added to (col, row) to get Darwin (x, y).
DARWIN_OFFSET = 0.5
#: Added to (col, row) to get COCO (x, y).
COCO_OFFSET = 0.0
#: Decimals Darwin positions keep (both ways): removes the float noise of the +-0.5 shift, far
#: below a pixel, so a position read and written again has the same text.
DECIMALS = 10


def to_file_xy(yx: np.ndarray, offset: float) -> np.ndarray:
    """Store (..., y, x) -> file (..., x, y): swap the last two axes and add ``offset``."""
    yx = np.asarray(yx, dtype=float)
    return yx[..., ::-1] + offset


def from_file_xy(xy: np.ndarray, offset: float) -> np.ndarray:
    """File (..., x, y) -> store (..., y, x): subtract ``offset`` and swap the last two axes."""
    xy = np.asarray(xy, dtype=float)
    return xy[..., ::-1] - offset


#: Below this magnitude rounding to :data:`DECIMALS` cannot overflow.
_ROUND_SAFE = 1e280


def round_decimals(xy: np.ndarray) -> np.ndarray:
    """``xy`` rounded to :data:`DECIMALS` (finite values too large to round are kept as they are)."""
    if xy.size == 0 or float(np.abs(xy).max()) < _ROUND_SAFE:  # (NaN compares False: careful path)
        return np.round(xy, DECIMALS)
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = np.round(xy, DECIMALS)
    return np.where(np.isfinite(rounded), rounded, xy)
