"""The next frame to label: one without a key, or with a review flag nobody has reviewed.

Pure numpy over a store's tracks: :func:`frames_to_label` marks the frames of ``[0, n)`` that
hold no key of any instance, or hold an unreviewed flag; :func:`step` finds the next (or
previous) marked frame from a frame, not wrapping around.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..core.store import AnnotationStore

__all__ = ["flagged_frames", "frames_to_label", "keyed_frames", "step"]


def keyed_frames(stores: Iterable[AnnotationStore], n: int) -> np.ndarray:
    """``(n,)`` bool: the frame holds a placed key of some instance."""
    out = np.zeros(n, bool)
    for s in stores:
        for t in s:
            rows = np.flatnonzero((t.is_key & np.isfinite(t.coords[..., 0])).any(axis=1)) + t.start
            out[rows[(rows >= 0) & (rows < n)]] = True
    return out


def flagged_frames(stores: Iterable[AnnotationStore], n: int) -> np.ndarray:
    """``(n,)`` bool: the frame holds a review flag with no review state."""
    from ..assist.review import detect
    from ..assist.review.states import open_flags

    out = np.zeros(n, bool)
    for s in stores:
        if s.frame_axis is None or not len(s):
            continue
        f = open_flags(s, detect(s)).frame
        out[f[(f >= 0) & (f < n)]] = True
    return out


def frames_to_label(
    stores: Iterable[AnnotationStore], n: int, flagged: np.ndarray | None = None
) -> np.ndarray:
    """``(n,)`` bool: frames without a key, or with an unreviewed flag (``flagged``, else detected)."""
    stores = list(stores)
    todo = ~keyed_frames(stores, n)
    return todo | (flagged_frames(stores, n) if flagged is None else np.asarray(flagged, bool)[:n])


def step(marked: np.ndarray, frame: int, direction: int = 1) -> int | None:
    """The first marked frame after ``frame`` (``direction`` -1: before it), or None."""
    idx = np.flatnonzero(marked)
    if direction >= 0:
        after = idx[idx > frame]
        return int(after[0]) if after.size else None
    before = idx[idx < frame]
    return int(before[-1]) if before.size else None
