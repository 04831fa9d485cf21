"""The annotation store: keypoints of many instances over many frames, held as arrays.

Each instance (track) owns a block of arrays over its own lifespan only, so memory grows with
the sum of lifespans, not with ``frames x all instances``:

- ``coords[L, K, D]`` float64, NaN where a node is absent, in layer *data* order (..., y, x) with
  integer positions at pixel centres (see FORMATS.md §3);
- ``visibility[L, K]`` int8: 2 visible, 1 occluded, 0 unlabelled (COCO's v);
- ``is_key[L, K]`` bool: a key (placed by a person or read as a keyframe) vs interpolated;
- ``alive[L]`` bool: the frame is inside the instance's lifespan ranges (V7 ``ranges``);
  interpolation never bridges a frame that is not alive;
- ``score[L, K]`` float32: a model's confidence in a node (a proposal's per-keypoint score,
  COCO results' third value), NaN where none was given (everything a person placed).

``L`` frames start at ``Track.start``. The *frame axis* is the layer dimension that frames
index (time in (t, y, x), z in (z, y, x)); ``None`` means one static frame (an image, or a
skeleton living in 3D). Every edit validates its arguments before touching any array and returns
the :class:`Change` it made so the viewer can update only that.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import StoreError
from .skeleton import Skeleton

__all__ = ["OCCLUDED", "UNLABELLED", "VISIBLE", "AnnotationStore", "Change", "FramePoints", "Track"]

VISIBLE, OCCLUDED, UNLABELLED = 2, 1, 0


@dataclass(frozen=True)
class Change:
    """What an edit changed: one track, frames ``[start, stop)``, and the touched nodes."""

    track_id: int
    start: int
    stop: int
    nodes: tuple[int, ...]

    @property
    def frames(self) -> range:
        """The changed frames."""
        return range(self.start, self.stop)


@dataclass
class Track:
    """One instance over its lifespan (see the module docstring for the arrays)."""

    track_id: int
    name: str
    start: int
    coords: np.ndarray
    visibility: np.ndarray
    is_key: np.ndarray
    alive: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    #: Per-node model scores ``(L, K)`` float32, NaN = none; ``None`` when made means all NaN.
    score: np.ndarray = None  # type: ignore[assignment]  # filled in __post_init__

    def __post_init__(self) -> None:
        if self.score is None:
            self.score = np.full(self.visibility.shape, np.nan, np.float32)

    @property
    def stop(self) -> int:
        """One past the last frame of the block."""
        return self.start + self.coords.shape[0]

    def __len__(self) -> int:
        return self.coords.shape[0]

    def copy(self) -> Track:
        """A deep copy (arrays and meta)."""
        return Track(
            self.track_id,
            self.name,
            self.start,
            self.coords.copy(),
            self.visibility.copy(),
            self.is_key.copy(),
            self.alive.copy(),
            copy.deepcopy(self.meta),
            self.score.copy(),
        )

    def rows(self, frames: np.ndarray | int) -> np.ndarray:
        """Block rows of absolute ``frames`` (no bounds check)."""
        return np.asarray(frames) - self.start


@dataclass(frozen=True)
class FramePoints:
    """Every labelled node of every instance on one frame, as flat arrays of length ``M``."""

    track_ids: np.ndarray  # (M,) int64
    nodes: np.ndarray  # (M,) intp
    coords: np.ndarray  # (M, D) float64
    visibility: np.ndarray  # (M,) int8
    is_key: np.ndarray  # (M,) bool
    score: np.ndarray = None  # type: ignore[assignment]  # (M,) float32, NaN = no score

    def __post_init__(self) -> None:
        if self.score is None:
            object.__setattr__(self, "score", np.full(len(self.track_ids), np.nan, np.float32))

    def __len__(self) -> int:
        return self.track_ids.shape[0]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _empty_block(n: int, k: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.full((n, k, d), np.nan),
        np.zeros((n, k), np.int8),
        np.zeros((n, k), bool),
        np.ones(n, bool),
    )


class AnnotationStore:
    """Keypoint annotations of one skeleton (one class) over frames.

    Parameters
    ----------
    skeleton
        The skeleton every instance follows.
    coord_ndim
        ``D``, the number of coordinates of a node (2 for (y, x), 3 for (z, y, x)).
    frame_axis
        The layer dimension indexed by frames, or ``None`` for one static frame.
    n_frames
        Number of frames of the data, if known; frames must then lie in ``[0, n_frames)``.
    name
        The class name (the V7 class / COCO category name); default: the skeleton's name. It *is*
        the skeleton's name: setting one sets the other, so the skeleton file, the layer's
        dock and every writer name the class alike (the layer's own name is only its label).

    """

    def __init__(
        self,
        skeleton: Skeleton,
        coord_ndim: int = 2,
        frame_axis: int | None = 0,
        n_frames: int | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(skeleton, Skeleton):
            raise StoreError(f"skeleton must be a Skeleton, got {type(skeleton).__name__}")
        if not isinstance(coord_ndim, (int, np.integer)) or coord_ndim < 1:
            raise StoreError(f"coord_ndim must be a positive integer, got {coord_ndim!r}")
        if frame_axis is not None and (
            not isinstance(frame_axis, (int, np.integer)) or not 0 <= frame_axis <= coord_ndim
        ):
            raise StoreError(
                f"frame_axis {frame_axis!r} does not exist in a {coord_ndim + 1}-D layer "
                f"(valid: 0..{coord_ndim} or None)"
            )
        if n_frames is not None and (not isinstance(n_frames, (int, np.integer)) or n_frames < 1):
            raise StoreError(f"n_frames must be a positive integer or None, got {n_frames!r}")
        if frame_axis is None:
            n_frames = 1
        self.skeleton = skeleton if not name or name == skeleton.name else skeleton.renamed(name)
        self.coord_ndim = int(coord_ndim)
        self.frame_axis = None if frame_axis is None else int(frame_axis)
        self.n_frames = None if n_frames is None else int(n_frames)
        self.tracks: dict[int, Track] = {}
        #: JSON-able extras a format reader keeps for a lossless write.
        self.meta: dict[str, Any] = {}
        #: Interpolation method used by incremental edits (``"linear"``, ``"cubic"``, ``"hold"``).
        self.method: str = "linear"
        #: Whether interpolation skips over unlabelled keys instead of ending spans at them.
        self.bridge_unlabelled: bool = False

    # -- shape ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The class name (V7 class, COCO category): the skeleton's name."""
        return self.skeleton.name

    @name.setter
    def name(self, value: str) -> None:
        if value != self.skeleton.name:
            self.skeleton = self.skeleton.renamed(value)

    @property
    def n_nodes(self) -> int:
        """Number of skeleton nodes ``K``."""
        return self.skeleton.n_nodes

    @property
    def layer_ndim(self) -> int:
        """Dimensions of the napari layer: the coordinates plus the frame axis, if any."""
        return self.coord_ndim + (self.frame_axis is not None)

    @property
    def track_ids(self) -> list[int]:
        """Track ids in insertion order."""
        return list(self.tracks)

    def frame_range(self) -> tuple[int, int]:
        """``(first, stop)`` over all tracks' blocks, ``(0, 0)`` if there are none."""
        if not self.tracks:
            return (0, 0)
        return (min(t.start for t in self.tracks.values()), max(t.stop for t in self.tracks.values()))

    def __iter__(self) -> Iterator[Track]:
        return iter(self.tracks.values())

    def __len__(self) -> int:
        return len(self.tracks)

    def __repr__(self) -> str:
        return (
            f"AnnotationStore(name={self.name!r}, nodes={self.n_nodes}, tracks={len(self.tracks)}, "
            f"frames={self.frame_range()}, coord_ndim={self.coord_ndim}, frame_axis={self.frame_axis})"
        )

    # -- validation helpers ---------------------------------------------------------------------
    def track(self, track_id: int) -> Track:
        """The track with this id; :class:`StoreError` if there is none."""
        try:
            return self.tracks[int(track_id)]
        except (KeyError, TypeError, ValueError):
            raise StoreError(f"no instance with track id {track_id!r} (have {self.track_ids})") from None

    def check_frame(self, frame: int) -> int:
        """Validate a frame index and return it as ``int``."""
        if isinstance(frame, (bool, np.bool_)) or not isinstance(frame, (int, np.integer)):
            raise StoreError(f"frame must be an integer, got {frame!r}")
        f = int(frame)
        if self.frame_axis is None and f != 0:
            raise StoreError(f"frame {f} given, but this store has no frame axis (only frame 0)")
        if f < 0 or (self.n_frames is not None and f >= self.n_frames):
            raise StoreError(f"frame {f} is out of range [0, {self.n_frames if self.n_frames else '∞'})")
        return f

    def node_indices(self, nodes: int | str | Iterable[int | str] | None) -> np.ndarray:
        """Node names/indices (``None`` = all) as a sorted-unique-free int array, validated."""
        if nodes is None:
            return np.arange(self.n_nodes)
        if isinstance(nodes, (str, int, np.integer)):
            nodes = [nodes]
        try:
            return np.asarray([self.skeleton.index(n) for n in nodes], dtype=np.intp)
        except Exception as exc:
            raise StoreError(str(exc)) from None

    def _check_coords(self, coords: Any, n: int) -> np.ndarray:
        try:
            arr = np.asarray(coords, dtype=float)
        except (TypeError, ValueError):
            raise StoreError(f"coordinates must be numbers, got {coords!r}") from None
        if arr.shape == (self.coord_ndim,) and n == 1:
            arr = arr[None]
        if arr.shape != (n, self.coord_ndim):
            raise StoreError(f"expected coordinates of shape ({n}, {self.coord_ndim}), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise StoreError("coordinates contain NaN or infinity; use delete_points() to remove nodes")
        return arr

    @staticmethod
    def _check_visibility(vis: Any, n: int) -> np.ndarray:
        try:
            arr = np.broadcast_to(np.asarray(vis), (n,)) if np.ndim(vis) == 0 else np.asarray(vis)
        except (TypeError, ValueError):
            raise StoreError(f"visibility must be 0, 1 or 2, got {vis!r}") from None
        if arr.shape != (n,):
            raise StoreError(f"expected {n} visibility values, got shape {arr.shape}")
        if arr.dtype == bool or not np.isin(arr, (0, 1, 2)).all():
            raise StoreError(f"visibility must be 0, 1 or 2, got {np.unique(arr).tolist()}")
        return arr.astype(np.int8)

    @staticmethod
    def _check_score(score: Any, n: int) -> np.ndarray:
        if score is None:
            return np.full(n, np.nan, np.float32)
        try:
            arr = np.asarray(score, dtype=float)
        except (TypeError, ValueError):
            raise StoreError(f"scores must be numbers or None, got {score!r}") from None
        if arr.ndim == 0:
            arr = np.broadcast_to(arr, (n,))
        if arr.shape != (n,):
            raise StoreError(f"expected {n} scores, got shape {arr.shape}")
        if np.isinf(arr).any():
            raise StoreError("scores must be finite numbers (NaN: no score)")
        return arr.astype(np.float32)

    def check_coords(self, coords: Any, n: int) -> np.ndarray:
        """Validate ``n`` finite node positions and return them as a float ``(n, D)`` array."""
        return self._check_coords(coords, n)

    def check_visibility(self, visibility: Any, n: int) -> np.ndarray:
        """Validate ``n`` visibility values (a scalar broadcasts) and return them as int8."""
        return self._check_visibility(visibility, n)

    # -- tracks ---------------------------------------------------------------------------------
    def new_track_id(self) -> int:
        """The smallest unused positive track id after the current maximum."""
        return max(self.tracks, default=0) + 1

    def add_track(
        self,
        track_id: int | None = None,
        name: str | None = None,
        start: int = 0,
        stop: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Track:
        """Create an empty instance whose block covers frames ``[start, stop)``."""
        tid = self.new_track_id() if track_id is None else track_id
        if isinstance(tid, (bool, np.bool_)) or not isinstance(tid, (int, np.integer)):
            raise StoreError(f"track id must be an integer, got {tid!r}")
        tid = int(tid)
        if tid in self.tracks:
            raise StoreError(f"track id {tid} already exists")
        start = self.check_frame(start)
        if stop is not None and not _is_int(stop):
            raise StoreError(f"stop must be an integer frame, got {stop!r}")
        stop = start + 1 if stop is None else int(stop)
        if stop <= start:
            raise StoreError(f"empty frame span [{start}, {stop})")
        self.check_frame(stop - 1)
        coords, vis, key, alive = _empty_block(stop - start, self.n_nodes, self.coord_ndim)
        track = Track(tid, name or f"instance {tid}", start, coords, vis, key, alive, dict(meta or {}))
        self.tracks[tid] = track
        return track

    def remove_track(self, track_id: int) -> Change:
        """Delete an instance on all its frames."""
        t = self.track(track_id)
        del self.tracks[t.track_id]
        return Change(t.track_id, t.start, t.stop, tuple(range(self.n_nodes)))

    def _ensure_span(self, t: Track, frame: int) -> None:
        """Grow ``t``'s block to include ``frame``; new frames are alive and empty."""
        if t.start <= frame < t.stop:
            return
        new_start, new_stop = min(t.start, frame), max(t.stop, frame + 1)
        coords, vis, key, alive = _empty_block(new_stop - new_start, self.n_nodes, self.coord_ndim)
        score = np.full(vis.shape, np.nan, np.float32)
        r = slice(t.start - new_start, t.stop - new_start)
        coords[r], vis[r], key[r], alive[r], score[r] = t.coords, t.visibility, t.is_key, t.alive, t.score
        t.start, t.coords, t.visibility, t.is_key, t.alive = new_start, coords, vis, key, alive
        t.score = score

    # -- edits ----------------------------------------------------------------------------------
    def set_points(
        self,
        frame: int,
        track_id: int,
        coords: Any,
        nodes: int | str | Iterable[int | str] | None = None,
        visibility: int | Sequence[int] | np.ndarray = VISIBLE,
        key: bool = True,
        score: float | Sequence[float] | None = None,
    ) -> Change:
        """Place ``nodes`` (default: all) of an instance on a frame, as keys by default.

        ``score`` is a model's confidence per node (NaN or ``None``: none, as for a person's
        placement). The instance's block grows to include the frame; frames added between stay
        alive.
        """
        t = self.track(track_id)
        f = self.check_frame(frame)
        idx = self.node_indices(nodes)
        xyz = self._check_coords(coords, len(idx))
        vis = self._check_visibility(visibility, len(idx))
        sc = self._check_score(score, len(idx))
        self._ensure_span(t, f)
        r = f - t.start
        t.coords[r, idx] = xyz
        t.visibility[r, idx] = vis
        t.is_key[r, idx] = bool(key)
        t.score[r, idx] = sc
        t.alive[r] = True
        return Change(t.track_id, f, f + 1, tuple(idx.tolist()))

    def mark_unlabelled(self, frame: int, track_id: int, nodes: Any = None) -> Change:
        """Make nodes unlabelled *keys* on a frame (position NaN, visibility 0): they end spans."""
        t = self.track(track_id)
        f = self.check_frame(frame)
        idx = self.node_indices(nodes)
        self._ensure_span(t, f)
        r = f - t.start
        t.coords[r, idx] = np.nan
        t.visibility[r, idx] = UNLABELLED
        t.is_key[r, idx] = True
        t.score[r, idx] = np.nan
        t.alive[r] = True
        return Change(t.track_id, f, f + 1, tuple(idx.tolist()))

    def set_visibility(
        self, frame: int, track_id: int, visibility: int | Sequence[int], nodes: Any = None
    ) -> Change:
        """Set the visibility of placed nodes (0 also clears their position)."""
        t, f, idx = self._locate(frame, track_id, nodes)
        vis = self._check_visibility(visibility, len(idx))
        r = f - t.start
        t.visibility[r, idx] = vis
        t.coords[r, idx[vis == UNLABELLED]] = np.nan
        return Change(t.track_id, f, f + 1, tuple(idx.tolist()))

    def set_key(self, frame: int, track_id: int, key: bool = True, nodes: Any = None) -> Change:
        """Mark (or unmark) nodes of an instance on a frame as keys."""
        t, f, idx = self._locate(frame, track_id, nodes)
        t.is_key[f - t.start, idx] = bool(key)
        return Change(t.track_id, f, f + 1, tuple(idx.tolist()))

    def delete_points(self, frame: int, track_id: int, nodes: Any = None) -> Change:
        """Remove nodes of an instance on a frame (position NaN, unlabelled, not a key)."""
        t, f, idx = self._locate(frame, track_id, nodes)
        r = f - t.start
        t.coords[r, idx] = np.nan
        t.visibility[r, idx] = UNLABELLED
        t.is_key[r, idx] = False
        t.score[r, idx] = np.nan
        return Change(t.track_id, f, f + 1, tuple(idx.tolist()))

    def set_alive(self, track_id: int, start: int, stop: int, alive: bool) -> Change:
        """Mark frames ``[start, stop)`` as inside (or outside) the instance's lifespan.

        Frames marked outside lose their points; the block grows if needed.
        """
        t = self.track(track_id)
        start = self.check_frame(start)
        if not _is_int(stop):
            raise StoreError(f"stop must be an integer frame, got {stop!r}")
        if stop <= start:
            raise StoreError(f"empty frame span [{start}, {stop})")
        last = self.check_frame(int(stop) - 1)
        self._ensure_span(t, start)
        self._ensure_span(t, last)
        r = slice(start - t.start, last + 1 - t.start)
        t.alive[r] = bool(alive)
        if not alive:
            t.coords[r] = np.nan
            t.visibility[r] = UNLABELLED
            t.is_key[r] = False
            t.score[r] = np.nan
        return Change(t.track_id, start, last + 1, tuple(range(self.n_nodes)))

    def _locate(self, frame: int, track_id: int, nodes: Any) -> tuple[Track, int, np.ndarray]:
        t = self.track(track_id)
        f = self.check_frame(frame)
        idx = self.node_indices(nodes)
        if not t.start <= f < t.stop:
            raise StoreError(f"instance {t.track_id} has no frame {f} (its frames are [{t.start}, {t.stop}))")
        return t, f, idx

    # -- reads ----------------------------------------------------------------------------------
    def get(self, frame: int, track_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(coords[K, D], visibility[K], is_key[K])`` of an instance on a frame (copies)."""
        t = self.track(track_id)
        f = self.check_frame(frame)
        if not t.start <= f < t.stop:
            k, d = self.n_nodes, self.coord_ndim
            return np.full((k, d), np.nan), np.zeros(k, np.int8), np.zeros(k, bool)
        r = f - t.start
        return t.coords[r].copy(), t.visibility[r].copy(), t.is_key[r].copy()

    def frame_points(self, frame: int, track_ids: Iterable[int] | None = None) -> FramePoints:
        """All placed nodes (finite coordinates) on one frame, optionally for some tracks only."""
        f = self.check_frame(frame)
        tracks = self.tracks.values() if track_ids is None else [self.track(i) for i in track_ids]
        parts = [(t, f - t.start) for t in tracks if t.start <= f < t.stop]
        ids, nodes, xyz, vis, key, score = [], [], [], [], [], []
        for t, r in parts:
            m = np.isfinite(t.coords[r, :, 0])
            n = np.flatnonzero(m)
            ids.append(np.full(n.size, t.track_id, np.int64))
            nodes.append(n)
            xyz.append(t.coords[r, n])
            vis.append(t.visibility[r, n])
            key.append(t.is_key[r, n])
            score.append(t.score[r, n])
        if not parts:
            d = self.coord_ndim
            return FramePoints(
                np.zeros(0, np.int64),
                np.zeros(0, np.intp),
                np.zeros((0, d)),
                np.zeros(0, np.int8),
                np.zeros(0, bool),
                np.zeros(0, np.float32),
            )
        return FramePoints(
            np.concatenate(ids),
            np.concatenate(nodes),
            np.concatenate(xyz),
            np.concatenate(vis),
            np.concatenate(key),
            np.concatenate(score),
        )

    def to_dense(self) -> dict[str, np.ndarray]:
        """Dense arrays over ``[first, stop)`` frames and all tracks (for small data and tests).

        Returns a dict with ``coords[F, I, K, D]``, ``visibility[F, I, K]``, ``is_key[F, I, K]``,
        ``alive[F, I]``, ``score[F, I, K]``, ``track_ids[I]`` and ``frames[F]``.
        """
        lo, hi = self.frame_range()
        ids = self.track_ids
        k, d, n = self.n_nodes, self.coord_ndim, hi - lo
        coords = np.full((n, len(ids), k, d), np.nan)
        vis = np.zeros((n, len(ids), k), np.int8)
        key = np.zeros((n, len(ids), k), bool)
        alive = np.zeros((n, len(ids)), bool)
        score = np.full((n, len(ids), k), np.nan, np.float32)
        for i, t in enumerate(self.tracks.values()):
            r = slice(t.start - lo, t.stop - lo)
            coords[r, i], vis[r, i], key[r, i], alive[r, i] = t.coords, t.visibility, t.is_key, t.alive
            score[r, i] = t.score
        return {
            "coords": coords,
            "visibility": vis,
            "is_key": key,
            "alive": alive,
            "score": score,
            "track_ids": np.asarray(ids, np.int64),
            "frames": np.arange(lo, hi),
        }

    def counts(self) -> dict[str, int]:
        """Summary numbers: tracks, frames with any point, placed nodes, keys, interpolated."""
        placed = keys = 0
        frames: set[int] = set()
        for t in self.tracks.values():
            m = np.isfinite(t.coords[..., 0])
            placed += int(m.sum())
            keys += int((t.is_key & m).sum())
            frames.update((np.flatnonzero(m.any(axis=1)) + t.start).tolist())
        return {
            "instances": len(self.tracks),
            "frames": len(frames),
            "points": placed,
            "keys": keys,
            "interpolated": placed - keys,
        }

    def copy(self) -> AnnotationStore:
        """A deep copy (arrays and meta)."""
        new = AnnotationStore(self.skeleton, self.coord_ndim, self.frame_axis, self.n_frames, self.name)
        new.meta = copy.deepcopy(self.meta)
        new.method, new.bridge_unlabelled = self.method, self.bridge_unlabelled
        for t in self.tracks.values():
            new.tracks[t.track_id] = t.copy()
        return new

    def nbytes(self) -> int:
        """Bytes held by the track arrays."""
        return int(
            sum(
                t.coords.nbytes + t.visibility.nbytes + t.is_key.nbytes + t.alive.nbytes + t.score.nbytes
                for t in self
            )
        )
