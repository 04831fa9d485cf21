"""The annotation rows of one store, as whole arrays (part of the COCO writer, :mod:`._write`).

A row is one track on one frame with a labelled node or an unlabelled key: its keypoint
triplets (x = col, v 2/1, zeros where not labelled), keys, scores and our rule's
``num_keypoints``, ``bbox`` and ``area``, all computed on the concatenated tracks at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.store import AnnotationStore
from ...errors import FormatError
from .._checks import decimal_scores
from .._coords import COCO_OFFSET
from ._rules import derived

__all__ = ["SAME", "Rows", "coco_meta", "written_rows"]

#: Relative difference below which a point read from the file counts as unchanged (10 decimals
#: of V7, twice, stay far below it; an edit moves a point by far more).
SAME = 1e-9


# -- annotations -------------------------------------------------------------------------------------
def written_rows(coords: np.ndarray, vis: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labelled nodes ``(N, K)`` and the rows written as annotations ``(N,)``.

    A row (one track on one frame) is written when it has a labelled node or an unlabelled key.
    """
    lab = np.isfinite(coords[..., 0]) & np.isfinite(coords[..., 1]) & (vis > 0)  # (no short-axis reduce)
    return lab, lab.any(axis=1) | (key & ~lab).any(axis=1)


class Rows:
    """The annotation rows of one store: which (track, frame) and their derived fields.

    A row is written for every (track, frame) with a labelled node or an unlabelled key.
    """

    def __init__(self, store: AnnotationStore, path: Any) -> None:
        if store.coord_ndim != 2:
            raise FormatError(
                f"COCO keypoints are 2-D; store {store.name!r} has {store.coord_ndim}-D points", path
            )
        tracks = sorted(store, key=lambda t: t.track_id)  # as the reader orders them: stable bytes
        k = store.n_nodes
        self.tracks = tracks
        self.metas = [coco_meta(t) for t in tracks]
        if not tracks:
            self.n = 0
            return
        coords = np.concatenate([t.coords for t in tracks])
        vis = np.concatenate([t.visibility for t in tracks])
        key = np.concatenate([t.is_key for t in tracks])
        score = np.concatenate([t.score for t in tracks])
        lens = np.asarray([t.coords.shape[0] for t in tracks], np.int64)
        offsets = np.r_[0, np.cumsum(lens)[:-1]]
        starts = np.asarray([t.start for t in tracks], np.int64)
        frame = np.repeat(starts - offsets, lens) + np.arange(int(lens.sum()))
        owner = np.repeat(np.arange(len(tracks)), lens)
        lab, emit = written_rows(coords, vis, key)
        unlabelled = (vis > 0) & ~lab  # (the usual: none, and no NaN test of every position)
        if unlabelled.any():
            bad = unlabelled & ~(np.isnan(coords[..., 0]) & np.isnan(coords[..., 1]))
            if bad.any():
                r, j = np.argwhere(bad)[0]
                t = tracks[owner[r]]
                raise FormatError(
                    f"class {store.name!r}, track {t.track_id}, frame {int(frame[r])}, node "
                    f"{store.skeleton.nodes[j]!r}: position is not finite",
                    path,
                )
        idx = np.flatnonzero(emit)
        whole = idx.size == emit.size  # every row written: no copies

        def take(a: np.ndarray) -> np.ndarray:
            return a if whole else a[idx]

        lab = take(lab)
        c = take(coords)
        trip = np.empty((idx.size, k, 3))
        off = ~lab
        for d in (0, 1):  # file (x, y) = store (col, row) + offset; 0 where not labelled
            np.add(c[..., 1 - d], COCO_OFFSET, out=trip[..., d])
            np.copyto(trip[..., d], 0.0, where=off)
        v = take(vis).astype(np.int8)
        np.copyto(v, 0, where=off)
        trip[..., 2] = v
        self.n = idx.size
        self.trip = trip
        self.kp = trip.reshape(idx.size, 3 * k)
        self.lab = lab
        self.vis = v
        self.key = take(key)
        self.score = take(score).astype(np.float32)
        np.copyto(self.score, np.nan, where=off)
        self.frame = take(frame)
        self.owner = take(owner)
        self.nk, self.box, self.area, _ = derived(trip)
        self.partial = np.flatnonzero(~self.key.all(axis=1))  # rows whose key flags must be written
        # per track: alive on every frame of its block (then its lifespan is first..last row)
        alive = np.concatenate([t.alive for t in tracks])
        self.all_alive = np.logical_and.reduceat(alive, offsets) if alive.size else np.zeros(0, bool)
        self.starts, self.stops = starts, starts + lens
        self.scored = np.flatnonzero(np.isfinite(self.score).any(axis=1))

    def unchanged(self, rows: list[int], origs: list[dict[str, Any]]) -> np.ndarray:
        """Which rows still hold the labelled points of the original keypoint list.

        A point is unchanged within :data:`SAME` (relative to its size, at least 1 pixel):
        V7 keeps 10 decimals, so COCO -> V7 -> COCO moves points of more decimals by < 1e-10.
        """
        try:
            o = np.array([x.get("keypoints") for x in origs], dtype=float).reshape(
                len(rows), *self.trip.shape[1:]
            )
        except (ValueError, TypeError, AttributeError, OverflowError, RecursionError):
            return np.zeros(len(rows), bool)
        t, lab = self.trip[rows], self.lab[rows]
        same_lab = ((o[..., 2] > 0) == lab).all(axis=1)
        with np.errstate(invalid="ignore", over="ignore"):
            close = np.abs(o - t) <= SAME * np.maximum(np.abs(o), 1.0)
        same_val = np.where(lab[..., None], (o == t) | close, True).all(axis=(1, 2))
        return same_lab & same_val

    def confidences(self, rows: list[int]) -> np.ndarray:
        """Results keypoints whose third values are the scores (0 where none), for a scored store."""
        trip = self.trip[rows].copy()
        trip[..., 2] = np.nan_to_num(decimal_scores(self.score[rows]), nan=0.0)
        return trip.reshape(len(rows), -1)


def coco_meta(obj: Any) -> dict[str, Any]:
    m = obj.meta.get("coco") if isinstance(obj.meta, dict) else None
    return m if isinstance(m, dict) else {}
