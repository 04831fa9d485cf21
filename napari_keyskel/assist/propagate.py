"""Propagation of keypoints through the image: pyramidal Lucas–Kanade optical flow.

Pure core (no Qt, no napari); needs OpenCV (``pip install napari-keyskel[models]``, the
``opencv-python-headless`` package) for ``cv2.calcOpticalFlowPyrLK``.

- :class:`FrameSource` reads single frames of a ``(t, y, x)`` (or ``(t, y, x, rgb)``) video, which
  may be lazy (a dask array, a memory map, anything with ``shape`` and ``__getitem__``), only
  when a frame is needed; it turns them into 8-bit grey with one fixed contrast map for the
  whole run and keeps the frames of a span in memory for the way back (OpenCV's Python binding
  cannot take prebuilt pyramids, so each LK call builds its own).
- :func:`track_points` follows points frame by frame, forward or backward. After each step the
  points are tracked back to the previous frame: a point whose forward–backward error exceeds
  ``max_fb_error`` pixels (or that LK loses, or that leaves the image) is *lost* and stays lost
  (NaN) from then on.
- :func:`propagate` follows one instance from a frame to the frame before the next key (or for
  ``n_frames``), as proposals with a confidence per node (``1 - fb_error / max_fb_error``).
- :func:`track_between` / :func:`interpolate_with_image` fill the frames between two keys of a
  node by tracking from both keys and blending by distance to each key: at frame ``f`` of a span
  ``[k1, k2]`` the position is ``(1 - w) * forward + w * backward`` with ``w = (f - k1) / (k2 - k1)``,
  so the in-betweens meet both keys exactly. Where only one direction kept the node that one is
  used; where both lost it, the linear in-between stays.

Coordinates are the store's (y, x) with integer positions at pixel centres, as OpenCV's (x, y).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.interpolate import find_spans
from ..core.store import AnnotationStore, Change
from ..errors import KeyskelError, StoreError

__all__ = [
    "FrameSource",
    "LKParams",
    "Proposal",
    "interpolate_with_image",
    "iter_interpolate_with_image",
    "iter_track",
    "make_proposal",
    "plan_propagation",
    "propagate",
    "require_cv2",
    "track_between",
    "track_points",
]

#: ``progress(done, total)``; returning True asks the work to stop (cancel).
Progress = Callable[[int, int], Any]


def require_cv2() -> Any:
    """Import OpenCV, or raise :class:`KeyskelError` saying which package to install."""
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - the testing extra installs it
        raise KeyskelError(
            "propagation needs OpenCV: pip install 'napari-keyskel[models]' (opencv-python-headless)"
        ) from exc
    return cv2


@dataclass(frozen=True)
class LKParams:
    """Lucas–Kanade settings: window, pyramid levels, iterations and the lost-node threshold."""

    win_size: int = 21
    max_level: int = 3
    iterations: int = 30
    epsilon: float = 0.01
    max_fb_error: float = 1.0


class FrameSource:
    """8-bit grey frames of a video, read one frame at a time when needed, and cached.

    Parameters
    ----------
    image
        ``(T, H, W)`` or ``(T, H, W, C)`` array-like (numpy, memmap, dask...).
    params
        The LK settings.
    contrast
        ``(low, high)`` grey values mapped to 0 and 255; default: for 8-bit data none, else the
        0.5th and 99.5th percentiles of the first frame read (kept for the whole run).
    cache_bytes
        Memory for cached frames (at least three are always kept).

    Attributes
    ----------
    reads
        The frame indices read from ``image``, in order (to check what was read).

    """

    def __init__(
        self,
        image: Any,
        params: LKParams | None = None,
        contrast: tuple[float, float] | None = None,
        cache_bytes: int = 256 << 20,
    ) -> None:
        shape = tuple(int(s) for s in getattr(image, "shape", ()))
        if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (3, 4)):
            raise KeyskelError(f"propagation needs a (t, y, x) or (t, y, x, rgb) video, got shape {shape}")
        self.image = image
        self.shape = shape
        self.params = params or LKParams()
        self.contrast = contrast
        self.cache_bytes = int(cache_bytes)
        self.reads: list[int] = []
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    @property
    def n_frames(self) -> int:
        """Number of frames ``T``."""
        return self.shape[0]

    @property
    def frame_shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.shape[1], self.shape[2]

    def grey(self, frame: int) -> np.ndarray:
        """Frame ``frame`` as a contiguous uint8 ``(H, W)`` image (reads it from the source)."""
        if not 0 <= frame < self.n_frames:
            raise KeyskelError(f"frame {frame} is outside the video (0..{self.n_frames - 1})")
        self.reads.append(int(frame))
        arr = self.image[int(frame)]
        if hasattr(arr, "compute"):  # dask: one chunk, no thread pool needed
            arr = arr.compute(scheduler="synchronous")
        arr = np.asarray(arr)
        if arr.ndim == 3:
            arr = arr[..., :3].astype(np.float32).mean(axis=-1)
        if arr.dtype == np.uint8 and self.contrast is None:
            return np.ascontiguousarray(arr)
        if self.contrast is None:
            lo, hi = np.percentile(arr, [0.5, 99.5]).astype(float).tolist()
            self.contrast = (lo, hi if hi > lo else lo + 1.0)
        lo, hi = self.contrast
        out = (arr.astype(np.float32) - lo) * (255.0 / (hi - lo))
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def frame(self, frame: int) -> np.ndarray:
        """The 8-bit grey frame, cached (OpenCV's Python binding cannot take prebuilt pyramids)."""
        img = self._cache.get(frame)
        if img is not None:
            self._cache.move_to_end(frame)
            return img
        img = self.grey(frame)
        self._cache[frame] = img
        keep = max(3, self.cache_bytes // max(img.nbytes, 1))
        while len(self._cache) > keep:
            self._cache.popitem(last=False)
        return img


def _lk(src: FrameSource, a: int, b: int, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flow of ``(P, 2)`` float32 (x, y) points from frame ``a`` to ``b``: ``(new xy, ok)``.

    When the points cover a small part of the frame, both frames are cropped to their box plus
    the reach of the coarsest pyramid level (LK builds its pyramids per call, so this saves most
    of the work for a few nodes; the flow inside the box is the same).
    """
    cv2 = require_cv2()
    p = src.params
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, p.iterations, p.epsilon)
    img_a, img_b = src.frame(a), src.frame(b)
    h, w = img_a.shape
    reach = (p.win_size // 2 + 2) * 2**p.max_level + 16
    lo = np.maximum(np.floor(xy.min(axis=0)).astype(int) - reach, 0)
    hi = np.minimum(np.ceil(xy.max(axis=0)).astype(int) + reach + 1, (w, h))
    if (hi - lo).prod() < 0.5 * h * w:
        (x0, y0), (x1, y1) = lo, hi
        img_a, img_b = img_a[y0:y1, x0:x1], img_b[y0:y1, x0:x1]
        offset = np.array([x0, y0], np.float32)
    else:
        offset = np.zeros(2, np.float32)
    new, status, _ = cv2.calcOpticalFlowPyrLK(
        img_a, img_b, np.ascontiguousarray(xy - offset), None, winSize=(p.win_size, p.win_size),
        maxLevel=p.max_level, criteria=crit,
    )  # fmt: skip
    return new.reshape(-1, 2) + offset, status.reshape(-1).astype(bool)


def iter_track(
    source: FrameSource, frame: int, points: np.ndarray, n_steps: int, direction: int = 1
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Generator form of :func:`track_points`: yields ``(step, coords[P, 2], fb_error[P])`` per frame.

    Stops early once every point is lost. Consumers may stop iterating at any time (cancel).
    """
    if direction not in (1, -1):
        raise KeyskelError(f"direction must be +1 or -1, got {direction!r}")
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    last = source.n_frames - 1 if direction > 0 else 0
    n = max(0, min(int(n_steps), abs(last - frame)))
    alive = np.isfinite(pts).all(axis=1)
    h, w = source.frame_shape
    max_fb = source.params.max_fb_error
    cur = pts[:, ::-1].astype(np.float32)  # (x, y)
    for step in range(1, n + 1):
        if not alive.any():
            return
        a, b = frame + direction * (step - 1), frame + direction * step
        idx = np.flatnonzero(alive)
        fwd, ok = _lk(source, a, b, np.ascontiguousarray(cur[idx]))
        back, ok_back = _lk(source, b, a, fwd)
        fb = np.hypot(*(back - cur[idx]).T)
        inside = (fwd[:, 0] >= -0.5) & (fwd[:, 0] <= w - 0.5) & (fwd[:, 1] >= -0.5) & (fwd[:, 1] <= h - 0.5)
        good = ok & ok_back & inside & np.isfinite(fb) & (fb <= max_fb)
        alive[idx[~good]] = False
        keep = idx[good]
        cur[keep] = fwd[good]
        row = np.full(pts.shape, np.nan)
        err = np.full(pts.shape[0], np.nan)
        row[keep], err[keep] = cur[keep][:, ::-1], fb[good]
        yield step, row, err


def track_points(
    source: FrameSource,
    frame: int,
    points: np.ndarray,
    n_steps: int,
    direction: int = 1,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Follow ``points`` from ``frame`` for ``n_steps`` frames forward (+1) or backward (-1).

    Parameters
    ----------
    source
        The video.
    frame
        The frame the points are on.
    points
        ``(P, 2)`` positions (y, x) on ``frame``; NaN rows are not tracked.
    n_steps
        How many frames to follow (clipped at the video's ends).
    direction
        ``+1`` forward, ``-1`` backward.
    progress
        Called with ``(steps done, n_steps)`` after each step; returning True stops early
        (the frames not reached are NaN).

    Returns
    -------
    coords, fb_error
        ``(n + 1, P, 2)`` positions on ``frame, frame + direction, ...`` (row 0 is ``points``)
        and ``(n + 1, P)`` forward–backward errors (0 on row 0); NaN where a point is lost.

    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    last = source.n_frames - 1 if direction > 0 else 0
    n = max(0, min(int(n_steps), abs(last - frame)))
    out = np.full((n + 1, pts.shape[0], 2), np.nan)
    err = np.full((n + 1, pts.shape[0]), np.nan)
    out[0], err[0] = pts, np.where(np.isfinite(pts).all(axis=1), 0.0, np.nan)
    for step, row, e in iter_track(source, frame, pts, n, direction):
        out[step], err[step] = row, e
        if progress is not None and progress(step, n):
            break
    return out, err


@dataclass(frozen=True)
class Proposal:
    """Positions of one instance's nodes over frames, with a confidence per node.

    ``frames[n]``, ``coords[n, K, 2]`` (NaN where not proposed) and ``score[n, K]`` in [0, 1].
    """

    track_id: int
    frames: np.ndarray
    coords: np.ndarray
    score: np.ndarray


def _check_video_axes(store: AnnotationStore) -> None:
    if store.frame_axis != 0 or store.coord_ndim != 2:
        raise StoreError(
            "propagation follows (y, x) nodes along a frame axis 0 (a (t, y, x) video); this store has "
            f"coord_ndim={store.coord_ndim}, frame_axis={store.frame_axis}"
        )


def _check_video_store(store: AnnotationStore, source: FrameSource) -> None:
    _check_video_axes(store)
    if store.n_frames is not None and store.n_frames > source.n_frames:
        raise KeyskelError(f"the annotations have {store.n_frames} frames, the video {source.n_frames}")


def plan_propagation(
    store: AnnotationStore,
    track_id: int,
    frame: int,
    direction: int = 1,
    n_frames: int | None = None,
    nodes: Any = None,
    video_frames: int | None = None,
) -> tuple[np.ndarray, int]:
    """Start positions ``(K, 2)`` (NaN for nodes not followed) and the number of frames to go.

    See :func:`propagate`; validates everything before any frame is read.
    """
    _check_video_axes(store)
    if direction not in (1, -1):
        raise KeyskelError(f"direction must be +1 or -1, got {direction!r}")
    t = store.track(track_id)
    f = store.check_frame(frame)
    coords = store.get(f, t.track_id)[0]
    placed = np.flatnonzero(np.isfinite(coords).all(axis=1))
    idx = placed if nodes is None and placed.size else store.node_indices(nodes)
    mask = np.zeros(store.n_nodes, bool)
    mask[idx] = True
    start = np.where(mask[:, None], coords, np.nan)
    if not np.isfinite(coords[idx]).all():
        missing = [store.skeleton.nodes[k] for k in idx if not np.isfinite(coords[k]).all()]
        raise StoreError(f"instance {t.track_id} has no position on frame {f} for {missing}")
    limits = [x for x in (store.n_frames, video_frames) if x is not None]
    end = 0 if direction < 0 else (min(limits) - 1 if limits else t.stop - 1)
    if n_frames is None:
        keyed = np.flatnonzero(t.is_key.any(axis=1)) + t.start
        ahead = keyed[keyed > f] if direction > 0 else keyed[keyed < f]
        if ahead.size:
            n_frames = abs(int(ahead.min() if direction > 0 else ahead.max()) - f) - 1
        else:
            n_frames = abs(end - f)
    if int(n_frames) < 0:
        raise KeyskelError(f"n_frames must be at least 0, got {n_frames}")
    return start, max(0, min(int(n_frames), abs(end - f)))


def propagate(
    source: FrameSource,
    store: AnnotationStore,
    track_id: int,
    frame: int,
    direction: int = 1,
    n_frames: int | None = None,
    nodes: Any = None,
    progress: Progress | None = None,
) -> Proposal:
    """Follow an instance's nodes from ``frame`` through the image.

    Goes ``n_frames`` frames, or (``None``) up to the frame before the instance's next key in
    that direction (the end of the video if there is none). The nodes (default: every node
    placed on ``frame``) must be placed there. Returns the frames after ``frame`` only; a node
    is proposed until it is lost, with score ``1 - fb_error / max_fb_error``.
    """
    _check_video_store(store, source)
    start, n = plan_propagation(store, track_id, frame, direction, n_frames, nodes, source.n_frames)
    out, err = track_points(source, frame, start, n, direction, progress)
    return make_proposal(source, int(track_id), frame, direction, out[1:], err[1:])


def make_proposal(
    source: FrameSource, track_id: int, frame: int, direction: int, coords: np.ndarray, err: np.ndarray
) -> Proposal:
    """A :class:`Proposal` from tracked rows after ``frame`` (scores from the FB errors)."""
    frames = frame + direction * np.arange(1, coords.shape[0] + 1)
    score = np.clip(1.0 - err / source.params.max_fb_error, 0.0, 1.0)
    return Proposal(track_id, frames, coords, np.where(np.isfinite(err), score, np.nan))


def track_between(
    source: FrameSource,
    k1: int,
    k2: int,
    start: np.ndarray,
    stop: np.ndarray,
    progress: Progress | None = None,
) -> np.ndarray:
    """Image-guided in-betweens of points keyed at ``start`` on ``k1`` and ``stop`` on ``k2``.

    Tracks forward from ``k1`` and backward from ``k2`` and blends them by distance to each key
    (see the module docstring). Returns ``(k2 - k1 - 1, P, 2)`` positions for frames
    ``k1 + 1 .. k2 - 1``, NaN where neither direction kept a point.
    """
    n = k2 - k1
    fwd, _ = track_points(source, k1, start, n - 1, 1, progress)
    back, _ = track_points(source, k2, stop, n - 1, -1, progress)
    fwd, back = fwd[1:n], back[1:n][::-1]  # frames k1+1 .. k2-1
    if fwd.shape[0] < n - 1 or back.shape[0] < n - 1:  # cancelled: pad what was not reached
        fwd = _pad(fwd, n - 1)
        back = _pad(back, n - 1, front=True)
    w = (np.arange(1, n, dtype=float) / n)[:, None, None]
    both = (1 - w) * fwd + w * back
    return np.where(np.isfinite(both), both, np.where(np.isfinite(fwd), fwd, back))


def _pad(a: np.ndarray, n: int, front: bool = False) -> np.ndarray:
    pad = np.full((n - a.shape[0], *a.shape[1:]), np.nan)
    return np.concatenate([pad, a] if front else [a, pad])


def interpolate_with_image(
    store: AnnotationStore,
    source: FrameSource,
    tracks: int | Iterable[int] | None = None,
    frames: tuple[int, int] | None = None,
    max_span: int | None = None,
    progress: Progress | None = None,
) -> list[Change]:
    """Fill the in-betweens of every span by tracking through the image (in place).

    First every span is filled linearly (:func:`~napari_keyskel.core.keyframes.interpolate_all`, so
    visibility and lifespans follow the usual rules), then each span between two labelled keys
    of a node whose frames lie in ``frames = (first, stop)`` (default: all) and are at most
    ``max_span`` apart is replaced by :func:`track_between` where the image keeps the node. The
    nodes of an instance that share a span are tracked together. Tracked cells stay non-keys
    (a later linear re-interpolation of their span replaces them). ``progress(done, total)``
    counts spans; returning True stops (the spans not reached stay linear).
    """
    it = iter_interpolate_with_image(store, source, tracks, frames, max_span)
    while True:
        try:
            done, total = next(it)
        except StopIteration as stop:
            return stop.value
        if progress is not None and progress(done, total):
            it.close()
            return [
                Change(t.track_id, t.start, t.stop, tuple(range(store.n_nodes)))
                for t in _chosen(store, tracks)
            ]


def _chosen(store: AnnotationStore, tracks: int | Iterable[int] | None) -> list[Any]:
    if tracks is None:
        return list(store)
    ids = [tracks] if isinstance(tracks, (int, np.integer)) else list(tracks)
    return [store.track(i) for i in ids]


def iter_interpolate_with_image(
    store: AnnotationStore,
    source: FrameSource,
    tracks: int | Iterable[int] | None = None,
    frames: tuple[int, int] | None = None,
    max_span: int | None = None,
) -> Generator[tuple[int, int], None, list[Change]]:
    """Generator form of :func:`interpolate_with_image`: yields ``(spans done, total)``.

    Its return value (``StopIteration.value``) is the list of changes.
    """
    from ..core.keyframes import interpolate_all

    _check_video_store(store, source)
    chosen = _chosen(store, tracks)
    changes = interpolate_all(store, method="linear", tracks=[t.track_id for t in chosen])
    lo, hi = frames if frames is not None else (0, source.n_frames)
    work = []
    for t in chosen:
        sp = find_spans(t.coords, t.visibility, t.is_key, t.alive, store.bridge_unlabelled)
        j = np.flatnonzero(sp.valid)
        r1, r2 = sp.rows[j], sp.rows[j + 1]
        keep = (r2 - r1 > 1) & (r1 + t.start >= lo) & (r2 + t.start < hi)
        if max_span is not None:
            keep &= r2 - r1 <= max_span
        j, r1, r2 = j[keep], r1[keep], r2[keep]
        for a, b in sorted({(int(x), int(y)) for x, y in zip(r1, r2)}):
            nodes = sp.nodes[j[(r1 == a) & (r2 == b)]]
            work.append((t, a, b, nodes))
    for i, (t, a, b, nodes) in enumerate(work):
        filled = track_between(source, t.start + a, t.start + b, t.coords[a, nodes], t.coords[b, nodes])
        cells = t.coords[a + 1 : b, nodes]
        t.coords[a + 1 : b, nodes] = np.where(np.isfinite(filled), filled, cells)
        yield i + 1, len(work)
    return changes
