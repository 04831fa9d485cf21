"""What CVAT shows of one skeleton element on each frame, from its keyframes (pure numpy).

CVAT keeps a skeleton track as one track per element (node), each a list of keyframes with
``outside`` and ``occluded`` flags (``TrackManager.get_interpolated_shapes`` in
``cvat/apps/dataset_manager/annotation.py``). On a frame ``f`` of ``[0, n)`` an element shows

- nothing before its first keyframe, and nothing from a keyframe marked ``outside`` until its
  next keyframe;
- after a keyframe ``k0`` that is not outside, the line from ``k0`` to the next keyframe ``k1``
  (whether or not ``k1`` is outside): ``p0 + (f - k0) / (k1 - k0) * (p1 - p0)``;
- after its last keyframe, if that is not outside, that keyframe's position, held to the end
  of the task (``stop_frame``);
- ``occluded`` as the keyframe before.

:func:`element_view` computes that; :func:`choose_keys` picks the keyframes a writer needs so
that CVAT shows exactly a given sequence of positions (our interpolated positions need not be
CVAT's linear ones; where they differ the frame becomes a keyframe).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["ElementKeys", "View", "choose_keys", "element_view"]

#: Largest difference (pixels) between our position and CVAT's that still counts as the same.
TOLERANCE = 1e-6


class ElementKeys(NamedTuple):
    """An element's keyframes sorted by frame: ``frames``, ``xy`` (M, 2), ``outside``, ``occluded``."""

    frames: np.ndarray
    xy: np.ndarray
    outside: np.ndarray
    occluded: np.ndarray


class View(NamedTuple):
    """An element on every frame of ``[0, n)``: ``present``, ``xy`` (n, 2; NaN where absent), ``occluded``."""

    present: np.ndarray
    xy: np.ndarray
    occluded: np.ndarray


def element_view(keys: ElementKeys, n: int) -> View:
    """CVAT's view of one element over frames ``[0, n)`` (see the module docstring)."""
    m = keys.frames.size
    if m == 0:
        return View(np.zeros(n, bool), np.full((n, 2), np.nan), np.zeros(n, bool))
    f = np.arange(n)
    j = np.searchsorted(keys.frames, f, side="right") - 1
    jj = np.clip(j, 0, m - 1)
    nxt = np.minimum(jj + 1, m - 1)
    has_next = jj + 1 < m
    span = np.where(has_next, keys.frames[nxt] - keys.frames[jj], 1)
    t = np.where(has_next, (f - keys.frames[jj]) / span, 0.0)
    xy = keys.xy[jj] + t[:, None] * (keys.xy[nxt] - keys.xy[jj])
    present = (j >= 0) & ~keys.outside[jj]
    return View(present, np.where(present[:, None], xy, np.nan), present & keys.occluded[jj])


def _keys_at(frames: np.ndarray, xy: np.ndarray, occluded: np.ndarray, present: np.ndarray) -> ElementKeys:
    """Keyframes at ``frames``: where not present, outside with the previous frame's position."""
    frames = np.unique(frames)
    here = present[frames]
    src = np.where(here, frames, np.maximum(frames - 1, 0))
    pos = xy[src].copy()
    pos[~np.isfinite(pos).all(axis=1)] = 0.0  # an element outside before it was ever placed
    return ElementKeys(frames, pos, ~here, occluded[src] & present[src])


def choose_keys(xy: np.ndarray, occluded: np.ndarray, is_key: np.ndarray, first: int = 0) -> ElementKeys:
    """Keyframes under which CVAT shows ``xy`` (NaN = absent) and ``occluded`` on every frame.

    Parameters
    ----------
    xy, occluded, is_key
        ``(n, 2)`` positions (NaN where the element is absent), ``(n,)`` occluded flags and our
        keys over the frames ``[0, n)`` of the task.
    first
        The track's first frame: an element absent there gets an ``outside`` keyframe there,
        as CVAT starts every element track with its skeleton.

    Our keys stay keyframes; so does the first frame of every run of presence, and the frame
    after each run is an ``outside`` keyframe. Frames where CVAT's linear view still differs
    from ours (another interpolation, a changed ``occluded``) are added until none differs.

    """
    n = xy.shape[0]
    present = np.isfinite(xy).all(axis=1)
    before = np.r_[False, present[:-1]]
    wanted = [np.flatnonzero(is_key & present), np.flatnonzero(present & ~before)]
    wanted.append(np.flatnonzero(~present & before))  # the frame after a run: outside
    if first < n and not present[first]:
        wanted.append(np.array([first]))
    frames = np.concatenate(wanted).astype(np.intp)
    while True:
        keys = _keys_at(frames, xy, occluded, present)
        view = element_view(keys, n)
        with np.errstate(invalid="ignore"):
            off = np.abs(np.nan_to_num(view.xy) - np.nan_to_num(xy)).max(axis=1) > TOLERANCE
        bad = (view.present != present) | (present & (off | (view.occluded != occluded)))
        bad[: keys.frames[0] if keys.frames.size else n] = False  # nothing shown before the first key
        if not bad.any():
            return keys
        frames = np.concatenate([frames, np.flatnonzero(bad)])
