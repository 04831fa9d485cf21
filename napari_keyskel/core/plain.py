"""A store as plain data (dicts, lists, numpy arrays) and back, with no copy of the arrays.

This is the form kept in ``layer.metadata["keyskel"]``, so napari's writers and scripts reach
every frame of every instance without any custom class:

.. code-block:: python

    {
        "version": 1,
        "name": "mouse",                       # annotation set (class / category) name
        "skeleton": {...},                     # Skeleton.to_dict()
        "coord_ndim": 2, "frame_axis": 0, "n_frames": 100,
        "method": "linear",                    # interpolation method
        "bridge_unlabelled": False,            # interpolate across unlabelled keys
        "meta": {...},                         # format extras kept for lossless writes
        "tracks": [{"track_id": 1, "name": "mouse 1", "start": 0,
                    "coords": (L, K, D) float array, "visibility": (L, K) int8,
                    "is_key": (L, K) bool, "alive": (L,) bool,
                    "score": (L, K) float32 (NaN: none), "meta": {...}}, ...],
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import StoreError
from .skeleton import Skeleton
from .store import AnnotationStore, Track

__all__ = ["PLAIN_VERSION", "store_from_plain", "store_to_plain", "track_to_plain"]

PLAIN_VERSION = 1


def store_to_plain(store: AnnotationStore) -> dict[str, Any]:
    """The store as plain data; the track arrays are shared, not copied."""
    return {
        "version": PLAIN_VERSION,
        "name": store.name,
        "skeleton": store.skeleton.to_dict(),
        "coord_ndim": store.coord_ndim,
        "frame_axis": store.frame_axis,
        "n_frames": store.n_frames,
        "method": store.method,
        "bridge_unlabelled": store.bridge_unlabelled,
        "meta": store.meta,
        "tracks": [track_to_plain(t) for t in store],
    }


def track_to_plain(t: Track) -> dict[str, Any]:
    """One track as plain data (its arrays shared, not copied)."""
    return {
        "track_id": t.track_id,
        "name": t.name,
        "start": t.start,
        "coords": t.coords,
        "visibility": t.visibility,
        "is_key": t.is_key,
        "alive": t.alive,
        "score": t.score,
        "meta": t.meta,
    }


def store_from_plain(data: Mapping[str, Any]) -> AnnotationStore:
    """Rebuild a store from :func:`store_to_plain` output (arrays shared when dtypes match)."""
    if not isinstance(data, Mapping) or "skeleton" not in data or "tracks" not in data:
        raise StoreError("not keyskel plain data: expected a dict with 'skeleton' and 'tracks'")
    skeleton = Skeleton.from_dict(data["skeleton"])
    store = AnnotationStore(
        skeleton,
        coord_ndim=int(data.get("coord_ndim", 2)),
        frame_axis=data.get("frame_axis", 0),
        n_frames=data.get("n_frames"),
        name=data.get("name"),
    )
    store.method = str(data.get("method", "linear"))
    store.bridge_unlabelled = bool(data.get("bridge_unlabelled", False))
    store.meta = dict(data.get("meta") or {})
    k, d = store.n_nodes, store.coord_ndim
    for i, raw in enumerate(data["tracks"]):
        coords = np.asarray(raw["coords"], dtype=float)
        n = coords.shape[0] if coords.ndim == 3 else -1
        vis = np.asarray(raw["visibility"], dtype=np.int8)
        key = np.asarray(raw["is_key"], dtype=bool)
        alive = np.asarray(raw.get("alive", np.ones(max(n, 0), bool)), dtype=bool)
        raw_score = raw.get("score")
        score = None if raw_score is None else np.asarray(raw_score, dtype=np.float32)
        if (
            coords.shape != (n, k, d)
            or vis.shape != (n, k)
            or key.shape != (n, k)
            or alive.shape != (n,)
            or (score is not None and score.shape != (n, k))
        ):
            raise StoreError(
                f"track {i} (id {raw.get('track_id')!r}) has arrays of inconsistent shapes: coords "
                f"{coords.shape}, visibility {vis.shape}, is_key {key.shape}, alive {alive.shape}, "
                f"score {None if score is None else score.shape} "
                f"for {k} nodes in {d}-D"
            )
        tid = int(raw["track_id"])
        if tid in store.tracks:
            raise StoreError(f"track id {tid} appears twice")
        store.tracks[tid] = Track(
            tid, str(raw.get("name", f"instance {tid}")), int(raw["start"]), coords, vis, key, alive,
            dict(raw.get("meta") or {}), np.full(vis.shape, np.nan, np.float32) if score is None else score,
        )  # fmt: skip
    return store
