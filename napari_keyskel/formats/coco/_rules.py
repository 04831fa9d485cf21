"""Rules shared by the COCO reader and writer: places in a file, the bbox rule, the default item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import FormatError
from .._checks import is_id, is_int, is_num, short, warn

__all__ = [
    "DEFAULT_ITEM",
    "IMAGE_FIELDS",
    "Ctx",
    "ann_place",
    "derived",
    "is_id",
    "is_int",
    "is_num",
    "item_codes",
    "where",
]

#: Item name when a ``frame_N`` file name has no prefix (and of a frame table that has none).
DEFAULT_ITEM = "video"
#: Image keys that become frame-table fields (everything else goes to ``frame["coco"]``).
IMAGE_FIELDS = ("id", "file_name", "width", "height")


def ann_place(a: Any, i: int) -> str:
    """``"annotation id 17"``, or ``"annotations[3]"`` when it has no usable id."""
    aid = a.get("id") if isinstance(a, dict) else None
    return f"annotation id {short(aid)}" if is_id(aid) else f"annotations[{i}]"


def where(anns: list[Any], i: int, field: str) -> str:
    """``"annotation id 17, field 'keypoints'"``."""
    return f"{ann_place(anns[i], i)}, field '{field}'"


class Ctx:
    """Error helper bound to one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, message: str, where: object = None) -> FormatError:
        """A :class:`FormatError` naming this file and ``where`` (text, or made text only now)."""
        return FormatError(message, self.path, None if where is None else str(where))

    def warn(self, message: str, where: str | None = None) -> None:
        """Emit a :class:`~napari_keyskel.errors.FormatWarning` naming this file and ``where``."""
        warn(message, self.path, where)


def derived(trip: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Our rule for ``num_keypoints``, ``bbox`` and ``area`` of ``(N, K, 3)`` keypoint triplets.

    ``num_keypoints`` = count of v > 0; ``bbox`` = ``[x0, y0, x1 - x0, y1 - y0]`` over the labelled
    points (zeros when there are none); ``area`` = ``w * h``. Also returns the *junk* mask: rows
    with a v=0 point whose x or y is not 0 (real files carry leftovers there).
    """
    x, y = trip[..., 0], trip[..., 1]
    lab = trip[..., 2] > 0
    x0 = np.where(lab, x, np.inf).min(axis=1, initial=np.inf)
    x1 = np.where(lab, x, -np.inf).max(axis=1, initial=-np.inf)
    y0 = np.where(lab, y, np.inf).min(axis=1, initial=np.inf)
    y1 = np.where(lab, y, -np.inf).max(axis=1, initial=-np.inf)
    with np.errstate(over="ignore", invalid="ignore"):  # absurd coordinates (1e308) give inf, not a warning
        box = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
        nk = lab.sum(axis=1)
        box[nk == 0] = 0.0
        area = box[:, 2] * box[:, 3]
    junk = ((~lab) & ((x != 0) | (y != 0))).any(axis=1)
    return nk, box, area, junk


def item_codes(frames: list[dict[str, Any]]) -> np.ndarray:
    """A code per global frame for its (item, slot): frames of one video share a code."""
    codes: dict[tuple[Any, Any], int] = {}
    return np.fromiter(
        (codes.setdefault((fr.get("item"), fr.get("slot")), len(codes)) for fr in frames),
        np.intp,
        len(frames),
    )
