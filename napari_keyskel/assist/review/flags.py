"""A table of review flags: ``(frame, track id, node or None, kind, score)`` as parallel arrays.

Flags are many (one per suspicious node and frame) and are sorted, filtered and grouped as a whole,
so they are held as arrays, not as one object each. ``node`` is ``-1`` for a flag about a whole
instance (``identity``); ``other`` is the partner track of an ``identity`` flag, the partner node
of a ``swap`` flag, ``-1`` otherwise.
``score`` is a severity: the detector's statistic divided by its threshold, so every flag has
``score >= 1`` and scores of different kinds compare (see :mod:`napari_keyskel.assist.review.detectors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.skeleton import Skeleton

__all__ = ["KINDS", "Flags"]

#: Every flag kind, in the order the detectors run.
KINDS: tuple[str, ...] = ("swap", "jump", "bone", "identity", "missing", "low_score")
#: Kind of the flags comparing two annotation sets (:func:`~.agreement.disagreement_flags`).
DISAGREE = "disagree"


@dataclass(frozen=True)
class Flags:
    """Review flags as parallel arrays of length ``N``."""

    frame: np.ndarray  # (N,) int64, the store's 0-based frame index
    track_id: np.ndarray  # (N,) int64
    node: np.ndarray  # (N,) int64, -1 = the whole instance
    kind: np.ndarray  # (N,) str
    score: np.ndarray  # (N,) float64, >= 1
    other: np.ndarray  # (N,) int64, identity: partner track; swap: partner node; else -1

    @classmethod
    def empty(cls) -> Flags:
        """No flag."""
        z = np.zeros(0, np.int64)
        return cls(z, z, z, np.zeros(0, "<U9"), np.zeros(0), z)

    @classmethod
    def make(
        cls,
        kind: str,
        frame: Any,
        track_id: Any,
        node: Any,
        score: Any,
        other: Any = -1,
    ) -> Flags:
        """Flags of one kind; scalars broadcast against ``frame``."""
        f = np.asarray(frame, np.int64).ravel()
        n = f.size

        def col(v: Any, dtype: Any) -> np.ndarray:
            return np.broadcast_to(np.asarray(v, dtype), (n,)).copy()

        return cls(
            f,
            col(track_id, np.int64),
            col(node, np.int64),
            np.full(n, kind, "<U9"),
            col(score, float),
            col(other, np.int64),
        )

    @classmethod
    def concat(cls, parts: Iterable[Flags]) -> Flags:
        """All flags of ``parts``, in order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, c) for p in parts]) for c in _COLUMNS))

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    def take(self, index: np.ndarray) -> Flags:
        """The flags at ``index`` (an integer or boolean array)."""
        return Flags(*(getattr(self, c)[index] for c in _COLUMNS))

    def of_kinds(self, kinds: Sequence[str] | None) -> Flags:
        """Only the flags of these kinds (``None``: all)."""
        return self if kinds is None else self.take(np.isin(self.kind, list(kinds)))

    def sorted(self) -> Flags:
        """By frame, then score (highest first), then track and node."""
        return self.take(np.lexsort((self.node, self.track_id, -self.score, self.frame)))

    def by_severity(self) -> Flags:
        """Highest score first (ties: by frame, track, node)."""
        return self.take(np.lexsort((self.node, self.track_id, self.frame, -self.score)))

    def touching(self, track_ids: Iterable[int]) -> np.ndarray:
        """Mask of the flags about any of ``track_ids`` (as the track or the partner)."""
        ids = np.asarray(list(track_ids), np.int64)
        return np.isin(self.track_id, ids) | ((self.kind == "identity") & np.isin(self.other, ids))

    def frame_instances(self) -> np.ndarray:
        """The distinct ``(frame, track id)`` pairs flagged, as an ``(M, 2)`` array."""
        if not len(self):
            return np.zeros((0, 2), np.int64)
        return np.unique(np.stack([self.frame, self.track_id], axis=1), axis=0)

    def records(self, skeleton: Skeleton) -> list[dict[str, Any]]:
        """JSON-able dicts with keys ``frame``, ``track_id``, ``node`` (name or None), ``kind``, ``score``."""
        names = skeleton.nodes
        return [
            {
                "frame": f,
                "track_id": t,
                "node": names[k] if k >= 0 else None,
                "kind": kd,
                "score": round(s, 4),
            }
            for f, t, k, kd, s in zip(
                self.frame.tolist(),
                self.track_id.tolist(),
                self.node.tolist(),
                self.kind.tolist(),
                self.score.tolist(),
            )
        ]


_COLUMNS = ("frame", "track_id", "node", "kind", "score", "other")


def dedupe(flags: Flags) -> Flags:
    """One flag per ``(frame, track, node, kind)``: the highest score."""
    if not len(flags):
        return flags
    order = np.lexsort((-flags.score, flags.kind, flags.node, flags.track_id, flags.frame))
    f = flags.take(order)
    keep = np.ones(len(f), bool)
    keep[1:] = (
        (f.frame[1:] != f.frame[:-1])
        | (f.track_id[1:] != f.track_id[:-1])
        | (f.node[1:] != f.node[:-1])
        | (f.kind[1:] != f.kind[:-1])
    )
    return f.take(keep)
