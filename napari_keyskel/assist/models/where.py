"""Which frames a model runs on: the frame in view, a range, the frames between keys, suggestions.

Pure core. :func:`frames_for` turns a choice into sorted frame numbers; each choice is checked
against the number of frames and refused with a reason when it gives none.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ...core.store import AnnotationStore
from ...errors import KeyskelError

__all__ = ["WHERE", "frames_between_keys", "frames_for", "key_frames"]

#: The choices, as the Models tab names them.
WHERE = {
    "view": "the frame in view",
    "range": "a range of frames",
    "between_keys": "every frame between keys that has no key",
    "suggested": "the frames suggested for labelling",
    "all": "every frame",
}


def key_frames(store: AnnotationStore) -> np.ndarray:
    """Sorted frames where some instance has a key."""
    parts = [t.start + np.flatnonzero(t.is_key.any(axis=1)) for t in store]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def frames_between_keys(store: AnnotationStore) -> np.ndarray:
    """Frames from the first key to the last that no instance has a key on."""
    keys = key_frames(store)
    if keys.size < 2:
        return np.zeros(0, np.int64)
    span = np.arange(int(keys[0]), int(keys[-1]) + 1)
    return span[~np.isin(span, keys)]


def frames_for(
    where: str,
    n_frames: int,
    *,
    store: AnnotationStore | None = None,
    frame: int | None = None,
    start: int | None = None,
    stop: int | None = None,
    suggested: Iterable[int] | None = None,
) -> list[int]:
    """Frames for a choice of :data:`WHERE` (``range``: ``start`` to ``stop``, both included)."""
    if where not in WHERE:
        raise KeyskelError(f"where must be one of {', '.join(WHERE)}, got {where!r}")
    if where == "view":
        if frame is None:
            raise KeyskelError("no frame in view (the frame axis is displayed)")
        out = [int(frame)]
    elif where == "range":
        lo, hi = int(start if start is not None else 0), int(stop if stop is not None else n_frames - 1)
        if hi < lo:
            raise KeyskelError(f"the range {lo}..{hi} is empty")
        out = list(range(lo, hi + 1))
    elif where == "between_keys":
        if store is None:
            raise KeyskelError("frames between keys need annotations")
        out = frames_between_keys(store).tolist()
        if not out:
            raise KeyskelError("no frame between keys without a key (key at least two frames)")
    elif where == "suggested":
        out = sorted({int(f) for f in (suggested or ())})
        if not out:
            raise KeyskelError("no frames are suggested for labelling")
    else:
        out = list(range(n_frames))
    bad = [f for f in out if not 0 <= f < n_frames]
    if bad:
        raise KeyskelError(f"frame {bad[0]} is outside the media (frames 0..{n_frames - 1})")
    return out
