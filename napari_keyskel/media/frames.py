"""Frame numbers: the layer's frames (the slider) against the source's own frame numbers.

A layer may show every Nth frame of a video, or the frames nearest a target rate. The store and
the viewer index the layer's frames; files always speak in the video's own frame numbers. These
pure helpers translate between the two:

- :func:`select_frames`: which source frames a layer shows (stride or target fps);
- :func:`frames_table`: the ``AnnotationSet.frames`` entries of a media layer, so every writer
  writes the source's frame numbers, file names and true sizes;
- :func:`to_layer_frames`: a file read in source frame numbers, re-indexed onto a layer's frames
  (keys on frames the layer does not show are counted in a warning, never dropped silently).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.annotation_set import AnnotationSet
from ..core.store import AnnotationStore, Track
from ..errors import FormatWarning, KeyskelError

__all__ = ["fit_to_frames", "frames_table", "move_frames", "select_frames", "to_layer_frames"]


def select_frames(
    n_source: int,
    *,
    stride: int = 1,
    fps: float | None = None,
    times: np.ndarray | None = None,
    source_fps: float | None = None,
    frames: Any = None,
) -> np.ndarray:
    """The source frame numbers a layer shows, int64 (increasing unless ``frames`` says otherwise).

    Parameters
    ----------
    n_source
        Frames in the source.
    stride
        Every ``stride``-th frame from frame 0.
    fps
        A target rate instead: for each tick ``k / fps`` (seconds from the first frame) the frame
        nearest in time (``times``, else ``frame / source_fps``); repeats are shown once.
    times
        Seconds of each source frame since the first (variable frame rate videos).
    source_fps
        The source's own rate, used when ``times`` is not given.
    frames
        Explicit source frame numbers, in layer order (a file's frame table); not with the others.

    """
    if frames is not None:
        if stride != 1 or fps is not None:
            raise KeyskelError("give explicit frames, a stride or a target fps, not several")
        out = np.asarray(frames, np.int64).reshape(-1)
        bad = out[(out < 0) | (out >= n_source)]
        if bad.size:
            raise KeyskelError(f"frame {int(bad[0])} does not exist (the source has {n_source} frames)")
        return out
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise KeyskelError(f"stride must be a whole number >= 1, got {stride!r}")
    if fps is None:
        return np.arange(0, n_source, int(stride), dtype=np.int64)
    if stride != 1:
        raise KeyskelError("give either a stride or a target fps, not both")
    if not np.isfinite(fps) or fps <= 0:
        raise KeyskelError(f"target fps must be a positive number, got {fps!r}")
    if times is None:
        if not source_fps:
            raise KeyskelError("a target fps needs the source's frame rate or frame times")
        times = np.arange(n_source) / float(source_fps)
    times = np.asarray(times, np.float64)
    if len(times) == 0:
        return np.zeros(0, np.int64)
    ticks = np.arange(0.0, times[-1] + 1e-9, 1.0 / fps)
    right = np.clip(np.searchsorted(times, ticks), 0, len(times) - 1)
    left = np.maximum(right - 1, 0)
    nearer = np.where(np.abs(times[left] - ticks) <= np.abs(times[right] - ticks), left, right)
    return np.unique(nearer).astype(np.int64)


def frames_table(desc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One ``AnnotationSet.frames`` entry per layer frame of a media source's description.

    Videos: ``{"item": <video file name>, "frame": <source frame number>, "width", "height",
    "fps", "frame_count"}`` (the video's own rate and number of frames, for V7's slot);
    images: ``{"item": <image name>, "frame": 0, "file_name": <image name>, "width", "height"}``
    with each image's true size.
    """
    numbers = [int(f) for f in desc.get("frame_numbers", [])]
    if desc.get("kind") == "images":
        names = list(desc.get("names") or [])
        sizes = list(desc.get("sizes") or [])
        if len(names) < len(numbers) and len(names) != 0:
            raise KeyskelError(f"{desc.get('path')}: {len(names)} names for {len(numbers)} frames")
        out = []
        for f in numbers:
            name = names[f] if f < len(names) else f"image_{f:06d}"
            h, w = sizes[f] if f < len(sizes) else (desc.get("height", 0), desc.get("width", 0))
            out.append({"item": name, "frame": 0, "file_name": name, "width": int(w), "height": int(h)})
        return out
    item = os.path.basename(str(desc.get("path", ""))) or "video"
    w, h = int(desc.get("width", 0)), int(desc.get("height", 0))
    more: dict[str, Any] = {}
    if desc.get("fps"):
        more["fps"] = float(desc["fps"])
    if desc.get("n_source_frames"):
        more["frame_count"] = int(desc["n_source_frames"])
    return [{"item": item, "frame": f, "width": w, "height": h, **more} for f in numbers]


def to_layer_frames(annotation_set: AnnotationSet, frame_numbers: Any) -> AnnotationSet:
    """Re-index a set read in source frame numbers onto a layer showing ``frame_numbers``.

    Layer frame ``j`` shows source frame ``frame_numbers[j]``. Every store is copied with its
    tracks moved to the shown frames; keys on frames the layer does not show are counted in a
    :class:`FormatWarning`. The frame table keeps the entries of the shown frames when it lists
    the source's frames. Identity numbers return the set unchanged.
    """
    numbers = np.asarray(frame_numbers, np.int64)
    if numbers.ndim != 1 or (numbers.size > 1 and np.any(np.diff(numbers) <= 0)) or np.any(numbers < 0):
        raise KeyskelError("frame numbers must be increasing whole numbers >= 0")
    furthest = max((s.frame_range()[1] for s in annotation_set.stores if s.frame_axis is not None), default=0)
    if furthest <= numbers.size and np.array_equal(numbers, np.arange(numbers.size)):
        return annotation_set
    size = max(furthest, int(numbers[-1]) + 1 if numbers.size else 0, len(annotation_set.frames))
    targets = np.full(size, -1, np.int64)
    targets[numbers] = np.arange(numbers.size)
    frames = annotation_set.frames
    if frames and numbers.size and len(frames) > int(numbers[-1]):
        frames = [dict(frames[int(f)]) for f in numbers]
    else:
        frames = [dict(fr) for fr in frames]
    return move_frames(annotation_set, targets, int(numbers.size), frames)


def fit_to_frames(
    annotation_set: AnnotationSet, frame_numbers: Any, table: list[dict[str, Any]] | None = None
) -> AnnotationSet:
    """Put a file's frames onto a layer showing source frames ``frame_numbers`` of one video.

    Row ``r`` of the file's frame table names source frame ``frames[r]["frame"]`` (a file saved
    from a layer over every 5th frame lists 0, 5, 10, ...); it goes to the layer frame showing
    that source frame. Without a frame table, store frame ``f`` is source frame ``f``. Each layer
    frame keeps the file's entry for it, else takes ``table[j]`` (the media's :func:`frames_table`).
    """
    numbers = np.asarray(frame_numbers, np.int64).reshape(-1)
    if not annotation_set.frames:
        return to_layer_frames(annotation_set, numbers)
    row_source = [int(fr.get("frame", r)) for r, fr in enumerate(annotation_set.frames)]
    if row_source == numbers.tolist():
        return annotation_set
    position = {int(n): j for j, n in enumerate(numbers)}
    targets = np.asarray([position.get(s, -1) for s in row_source], np.int64)
    by_frame = {j: annotation_set.frames[r] for r, j in enumerate(targets.tolist()) if j >= 0}
    frames = [
        dict(by_frame[j])
        if j in by_frame
        else (dict(table[j]) if table and j < len(table) else {"frame": int(n)})
        for j, n in enumerate(numbers.tolist())
    ]
    return move_frames(annotation_set, targets, int(numbers.size), frames)


def move_frames(
    annotation_set: AnnotationSet, targets: Any, n_frames: int, frames: list[dict[str, Any]] | None = None
) -> AnnotationSet:
    """A copy of the set with store frame ``f`` moved to frame ``targets[f]`` (``-1``: not shown).

    Frames beyond ``targets`` are not shown either. Keys on frames not shown are counted in a
    :class:`FormatWarning`; the new frame table is ``frames`` (default: the old one).
    """
    targets = np.asarray(targets, np.int64)
    lost = np.zeros(2, np.int64)
    stores = []
    for s in annotation_set.stores:
        new, keys = _move_store(s, targets, n_frames)
        stores.append(new)
        lost += keys
    if lost[1]:
        warnings.warn(
            FormatWarning(
                f"{lost[0]} keyed instance-frames ({lost[1]} node keys) lie on frames this layer does "
                f"not show (it shows {n_frames} frames: {_numbers_text(np.flatnonzero(targets >= 0))}"
                "); they are not opened — open the video with every frame "
                "to keep them",
                annotation_set.source,
            ),
            stacklevel=3,
        )
    table = [dict(fr) for fr in annotation_set.frames] if frames is None else frames
    return AnnotationSet(stores, table, dict(annotation_set.meta), annotation_set.source)


def _numbers_text(numbers: np.ndarray) -> str:
    head = ", ".join(str(int(f)) for f in numbers[:4])
    return head + (", …" if numbers.size > 4 else "")


def _move_store(
    store: AnnotationStore, targets: np.ndarray, n_frames: int
) -> tuple[AnnotationStore, np.ndarray]:
    """A copy of ``store`` with its frames moved, and the keyed (instance-frames, nodes) not shown."""
    out = store.copy()
    lost = np.zeros(2, np.int64)
    if store.frame_axis is None:
        return out, lost
    out.n_frames = max(int(n_frames), 1)
    out.tracks = {}
    for t in store:
        old = np.arange(t.start, t.stop)
        new = np.where(old < targets.size, targets[np.minimum(old, max(targets.size - 1, 0))], -1)
        if targets.size == 0:
            new[:] = -1
        shown = new >= 0
        placed = ~np.isnan(t.coords[..., 0])
        hidden_keys = (t.is_key & placed)[~shown]
        lost += (int(hidden_keys.any(axis=1).sum()), int(hidden_keys.sum()))
        if not shown.any():
            continue
        rows, dest = np.flatnonzero(shown), new[shown]
        start = int(dest.min())
        at = dest - start
        span = int(dest.max()) - start + 1
        k, d = t.coords.shape[1:]
        coords = np.full((span, k, d), np.nan)
        vis = np.zeros((span, k), np.int8)
        key = np.zeros((span, k), bool)
        score = np.full((span, k), np.nan, np.float32)
        coords[at], vis[at], key[at], score[at] = (
            t.coords[rows],
            t.visibility[rows],
            t.is_key[rows],
            t.score[rows],
        )
        alive = np.ones(span, bool)
        alive[at] = t.alive[rows]
        out.tracks[t.track_id] = Track(
            t.track_id, t.name, start, coords, vis, key, alive, dict(t.meta), score
        )
    return out, lost
