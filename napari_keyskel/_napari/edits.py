"""Store edits the layers make, through :mod:`napari_keyskel.keyframes`.

Thin adapters over the keyframe functions (which re-interpolate incrementally with the store's
``method``): a moved or added point becomes a key and its spans re-fill; a removed key is deleted
(its frame re-fills from the neighbouring keys, so the node may come back as an interpolated
point); a removed interpolated point becomes an unlabelled key (a gap interpolation does not
bridge).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import keyframes as kf
from ..store import UNLABELLED, AnnotationStore, Change

__all__ = ["delete_nodes", "interpolate_all", "move_nodes"]


def move_nodes(
    store: AnnotationStore, frame: int, track_id: int, nodes: Sequence[int] | np.ndarray, coords: Any
) -> list[Change]:
    """Place ``nodes`` of an instance on ``frame`` at ``coords[N, D]`` as keys, re-interpolating."""
    nodes = np.asarray(nodes, np.intp).ravel()
    coords = np.asarray(coords, dtype=float).reshape(nodes.size, -1)
    changes: list[Change] = []
    for node, xyz in zip(nodes.tolist(), coords, strict=True):
        changes += kf.move_node(store, frame, track_id, node, xyz)
    return changes


def delete_nodes(store: AnnotationStore, frame: int, track_id: int, nodes: Sequence[int]) -> list[Change]:
    """Remove nodes of an instance on a frame (see the module docstring)."""
    t = store.track(track_id)
    if not t.start <= frame < t.stop:
        return []
    idx = np.asarray(nodes, np.intp)
    keys = idx[t.is_key[frame - t.start, idx]]
    others = np.setdiff1d(idx, keys)
    changes: list[Change] = []
    if keys.size:
        changes += kf.delete_key(store, frame, track_id, keys.tolist())
    if others.size:
        changes += kf.set_visibility(store, frame, track_id, others.tolist(), UNLABELLED)
    return changes


def interpolate_all(store: AnnotationStore, method: str | None = None) -> list[Change]:
    """Re-interpolate every instance of the store (``method`` is remembered by the store)."""
    return kf.interpolate_all(store, method=method)
