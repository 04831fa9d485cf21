"""Predicted poses as arrays, and what becomes of them: proposals, tracks, COCO results.

Pure core. :class:`Poses` holds one row per (frame, instance): image coordinates in the store's
``(y, x)`` order, per-keypoint scores, the instance score and box, and a track id (the
annotation instance a top-down crop came from; -1 for bottom-up detections, which have none).

- :func:`link_tracks` gives the detections of consecutive frames one track when their boxes
  overlap (IoU ≥ 0.3, one-to-one by ``linear_sum_assignment``), so a run over a video gives a
  few long proposal instances rather than one per frame; their ids are fresh (above every id
  of the annotations and proposals), so accepting matches them to annotation instances by OKS.
- :func:`poses_to_store` turns them into a proposals store of the annotations' skeleton through
  a :class:`~.mapping.KeypointMapping`.
- :func:`coco_results` writes a standard COCO keypoint results list (``image_id``,
  ``category_id``, ``keypoints`` with the per-keypoint score as each third value, ``score``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.store import AnnotationStore
from .mapping import KeypointMapping

__all__ = ["Poses", "coco_results", "link_boxes", "link_tracks", "poses_to_store"]


@dataclass
class Poses:
    """Predicted instances, one row per (frame, instance).

    ``frame (M,)``, ``coords (M, K, 2)`` (y, x), ``scores (M, K)``, ``instance_score (M,)``,
    ``boxes (M, 4)`` (x1, y1, x2, y2), ``track_id (M,)`` (-1: none) and the keypoint ``names``.
    """

    frame: np.ndarray
    coords: np.ndarray
    scores: np.ndarray
    instance_score: np.ndarray
    boxes: np.ndarray
    track_id: np.ndarray
    names: tuple[str, ...]

    @classmethod
    def empty(cls, names: Sequence[str]) -> Poses:
        """No pose."""
        k = len(names)
        return cls(
            np.zeros(0, np.int64),
            np.zeros((0, k, 2)),
            np.zeros((0, k), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, 4)),
            np.zeros(0, np.int64),
            tuple(names),
        )

    @classmethod
    def concat(cls, parts: Iterable[Poses], names: Sequence[str]) -> Poses:
        """One :class:`Poses` of several (rows in order)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty(names)
        return cls(
            np.concatenate([p.frame for p in parts]),
            np.concatenate([p.coords for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.instance_score for p in parts]),
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.track_id for p in parts]),
            tuple(names),
        )

    def __len__(self) -> int:
        return len(self.frame)

    def on(self, frame: int) -> Poses:
        """The rows of one frame."""
        m = self.frame == frame
        return Poses(
            self.frame[m],
            self.coords[m],
            self.scores[m],
            self.instance_score[m],
            self.boxes[m],
            self.track_id[m],
            self.names,
        )


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def link_boxes(frame: np.ndarray, boxes: np.ndarray, first_id: int, min_iou: float = 0.3) -> np.ndarray:
    """Track ids from ``first_id`` for rows ``(frame, box)``.

    Boxes of consecutive frames overlapping by ``min_iou`` or more share an id (one-to-one, the
    best total overlap); the others start new ids.
    """
    from scipy.optimize import linear_sum_assignment

    ids = np.full(len(frame), -1, np.int64)
    next_id = int(first_id)
    prev_rows, prev_frame = np.zeros(0, np.int64), None
    order = np.argsort(frame, kind="stable")
    bounds = np.flatnonzero(np.diff(frame[order])) + 1
    for rows in np.split(order, bounds) if len(order) else []:
        f = int(frame[rows[0]])
        taken = np.zeros(len(rows), bool)
        if prev_frame == f - 1 and prev_rows.size:
            iou = _iou(boxes[prev_rows], boxes[rows])
            r, c = linear_sum_assignment(-iou)
            ok = iou[r, c] >= min_iou
            ids[rows[c[ok]]] = ids[prev_rows[r[ok]]]
            taken[c[ok]] = True
        n_new = int((~taken).sum())
        ids[rows[~taken]] = np.arange(next_id, next_id + n_new)
        next_id += n_new
        prev_rows, prev_frame = rows, f
    return ids


def link_tracks(poses: Poses, first_id: int, min_iou: float = 0.3) -> Poses:
    """Give rows with track id -1 fresh ids from ``first_id``, linking consecutive frames by box IoU."""
    ids = poses.track_id.copy()
    free = np.flatnonzero(ids < 0)
    if free.size:
        ids[free] = link_boxes(poses.frame[free], poses.boxes[free], first_id, min_iou)
    return Poses(poses.frame, poses.coords, poses.scores, poses.instance_score, poses.boxes, ids, poses.names)


def poses_to_store(
    poses: Poses, annotations: AnnotationStore, mapping: KeypointMapping, name: str | None = None
) -> AnnotationStore:
    """A proposals store (the annotations' skeleton and frames) of ``poses``; rows need track ids ≥ 0."""
    out = AnnotationStore(
        annotations.skeleton,
        annotations.coord_ndim,
        annotations.frame_axis,
        annotations.n_frames,
        name or annotations.name,
    )
    if not len(poses):
        return out
    coords = mapping.apply(poses.coords, axis=-2)
    scores = mapping.apply(poses.scores, axis=-1)
    placed = np.isfinite(coords).all(axis=-1)
    order = np.lexsort((poses.frame, poses.track_id))
    names = {t.track_id: t.name for t in annotations}
    for tid in np.unique(poses.track_id).tolist():
        rows = order[poses.track_id[order] == tid]
        t = out.add_track(int(tid), names.get(int(tid)), start=int(poses.frame[rows].min()))
        for r in rows.tolist():
            m = placed[r]
            if m.any():
                out.set_points(
                    int(poses.frame[r]),
                    t.track_id,
                    coords[r, m],
                    np.flatnonzero(m),
                    key=True,
                    score=scores[r, m],
                )
    return out


def coco_results(
    poses: Poses,
    image_ids: Sequence[Any] | None = None,
    category_id: Any = 1,
    mapping: KeypointMapping | None = None,
    decimals: int = 3,
) -> list[dict[str, Any]]:
    """A COCO keypoint results list: third values are the per-keypoint scores.

    ``image_ids[f]`` is the image id of frame ``f`` (default: ``f``). With ``mapping``, keypoints
    are in the mapped skeleton's node order (a node no keypoint maps to is ``0, 0, 0``).
    """
    coords = poses.coords if mapping is None else mapping.apply(poses.coords, axis=-2)
    scores = poses.scores if mapping is None else mapping.apply(poses.scores, axis=-1)
    xy = np.round(coords[..., ::-1], decimals)
    sc = np.round(np.nan_to_num(scores.astype(np.float64)), 4)
    trip = np.concatenate([np.nan_to_num(xy), sc[..., None]], axis=-1).reshape(len(poses), -1)
    out = []
    for i, f in enumerate(poses.frame.tolist()):
        iid = f if image_ids is None else image_ids[f]
        out.append(
            {
                "image_id": iid,
                "category_id": category_id,
                "keypoints": trip[i].tolist(),
                "score": round(float(poses.instance_score[i]), 4),
            }
        )
    return out
