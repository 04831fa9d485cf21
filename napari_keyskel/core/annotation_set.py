"""An annotation set: what one annotation file (or folder) holds, as stores plus the frame table.

Formats read into a :class:`AnnotationSet` and write from one; the model never imports a format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import KeyskelError
from .store import AnnotationStore

__all__ = ["AnnotationSet"]


@dataclass
class AnnotationSet:
    """Annotation stores sharing one frame axis, and where each frame comes from.

    Parameters
    ----------
    stores
        One :class:`AnnotationStore` per class / category (each with its own skeleton).
    frames
        One JSON-able dict per frame index of the stores: at least ``"item"`` (the item or image
        file name) and ``"frame"`` (the frame or slice index inside that item); formats add what
        they need (``"slot"``, ``"width"``, ``"height"``, ``"image_id"``, ...). Empty when the
        frame table is unknown (then frame ``f`` is frame ``f`` of one unnamed item).
    meta
        Format-level extras kept for a lossless write (unknown keys, other annotation types).
    source
        The path read, if any.

    """

    stores: list[AnnotationStore] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def store(self, name: str) -> AnnotationStore:
        """The store of the class / category called ``name``."""
        for s in self.stores:
            if s.name == name:
                return s
        raise KeyskelError(f"no annotation set named {name!r} (have {[s.name for s in self.stores]})")

    @property
    def n_frames(self) -> int:
        """Number of frames: the frame table's length, else the stores' ``n_frames`` (or furthest frame)."""
        if self.frames:
            return len(self.frames)
        return max((max(s.n_frames or 0, s.frame_range()[1]) for s in self.stores), default=0)
