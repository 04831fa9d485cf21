"""Store -> napari layer data: Points for the nodes, Vectors for the edges.

The Points layer's ``features`` follow a documented schema scripts rely on:

========== ======= =========================================================
column     dtype   meaning
========== ======= =========================================================
instance   int64   track id of the instance
node       str     node name (a category of the skeleton's node names)
visibility int8    2 visible, 1 occluded, 0 unlabelled
keyframe   bool    True for a key, False for an interpolated position
========== ======= =========================================================

``metadata["keyskel"]`` holds the whole store as plain data (:mod:`napari_keyskel.core.plain`), plus
``"state"`` (plugin state: ``color_by``, ``show_names``) and, for layers read from a file,
``"dataset"`` (the frame table and format extras of :class:`~napari_keyskel.AnnotationSet`).
Layer coordinates are the store's coordinates with the frame index inserted at
``store.frame_axis``. A Points layer managed by the plugin holds only the points of the frame in
view; the store in metadata holds every frame.

The edges layer (Vectors, named ``"<points name> edges"``) has a ``features`` column
``instance``; its first rows, with ``instance == -1``, are two invisible zero-length *range
anchors* on the first and last frame, so the frame slider spans every frame even with no image.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.annotation_set import AnnotationSet
from ..core.plain import store_from_plain, store_to_plain, track_to_plain
from ..core.store import OCCLUDED, AnnotationStore, Change, FramePoints

if TYPE_CHECKING:
    from .owner import LayerOwner

__all__ = [
    "FEATURE_COLUMNS",
    "LINK_KEY",
    "MetadataSync",
    "dataset_from_plain",
    "dataset_layer_tuples",
    "edge_rows",
    "edge_vectors",
    "edges_layer_tuple",
    "features_table",
    "frame_points_to_layer",
    "plain_metadata",
    "point_style",
    "points_in_frames",
    "points_layer_tuple",
    "range_anchors",
    "sync_plain",
]

FEATURE_COLUMNS = ("instance", "node", "visibility", "keyframe")
SYMBOL_KEY, SYMBOL_INTERPOLATED, SYMBOL_OCCLUDED = "disc", "ring", "cross"
#: Metadata key linking a Points layer to its edges layer (same random token in both).
LINK_KEY = "keyskel_link"
_PALETTE = np.array(
    [[0.9, 0.6, 0.0, 1], [0.34, 0.7, 0.9, 1], [0.0, 0.62, 0.45, 1],
     [0.94, 0.89, 0.26, 1], [0.8, 0.47, 0.65, 1], [0.84, 0.37, 0.0, 1]]
)  # fmt: skip


def frame_points_to_layer(store: AnnotationStore, fp: FramePoints, frame: int | np.ndarray) -> np.ndarray:
    """``(M, layer_ndim)`` layer coordinates of points (frame(s) inserted at the frame axis)."""
    if store.frame_axis is None:
        return fp.coords.copy()
    return np.insert(fp.coords, store.frame_axis, np.asarray(frame, dtype=float), axis=1)


def empty_frame_points(store: AnnotationStore) -> FramePoints:
    """A :class:`FramePoints` with no point."""
    d = store.coord_ndim
    return FramePoints(
        np.zeros(0, np.int64), np.zeros(0, np.intp), np.zeros((0, d)), np.zeros(0, np.int8), np.zeros(0, bool)
    )


def points_in_frames(store: AnnotationStore, frame: int | None) -> tuple[np.ndarray, FramePoints]:
    """Placed points on one frame, or on every frame when ``frame`` is None, with their frames.

    A frame outside the store's range gives no point (never an error).
    """
    if store.frame_axis is None:
        frame = 0
    if frame is not None:
        if frame < 0 or (store.n_frames is not None and frame >= store.n_frames):
            return np.zeros(0, np.int64), empty_frame_points(store)
        fp = store.frame_points(int(frame))
        return np.full(len(fp), frame, np.int64), fp
    parts = []
    for t in store:
        rows, nodes = np.nonzero(np.isfinite(t.coords[..., 0]))
        parts.append((rows + t.start, np.full(rows.size, t.track_id), nodes, t.coords[rows, nodes],
                      t.visibility[rows, nodes], t.is_key[rows, nodes]))  # fmt: skip
    if not parts:
        return np.zeros(0, np.int64), empty_frame_points(store)
    frames, ids, nodes, xyz, vis, key = (np.concatenate(c) for c in zip(*parts, strict=True))
    return frames.astype(np.int64), FramePoints(ids.astype(np.int64), nodes.astype(np.intp), xyz, vis, key)


def features_table(store: AnnotationStore, fp: FramePoints) -> pd.DataFrame:
    """The features table of frame points (see the module docstring)."""
    names = pd.Categorical.from_codes(
        np.asarray(fp.nodes, np.int64), categories=pd.Index(store.skeleton.nodes)
    )
    return pd.DataFrame(
        {
            "instance": np.asarray(fp.track_ids, np.int64),
            "node": names,
            "visibility": np.asarray(fp.visibility, np.int8),
            "keyframe": np.asarray(fp.is_key, bool),
        }
    )


def point_style(store: AnnotationStore, fp: FramePoints, color_by: str = "node") -> dict[str, Any]:
    """Per-point face colour, border colour and symbol.

    The symbol alone tells the state apart (so a frame step that only changes states updates one
    attribute): a key is a filled disc, an interpolated point a ring, an occluded point a cross.
    Faces are coloured by node (or by instance), borders are white.
    """
    ids, nodes = np.asarray(fp.track_ids), np.asarray(fp.nodes, np.intp)
    key, vis = np.asarray(fp.is_key, bool), np.asarray(fp.visibility)
    if color_by == "instance":
        face = _PALETTE[ids % len(_PALETTE)]
    else:
        face = store.skeleton.color_array()[nodes].astype(float)
    face = np.array(face, dtype=float).reshape(-1, 4)
    symbol = np.where(key, SYMBOL_KEY, SYMBOL_INTERPOLATED).astype(object)
    symbol[vis == OCCLUDED] = SYMBOL_OCCLUDED
    return {"face_color": face, "symbol": symbol, "border_color": np.ones((len(key), 4))}


def plain_metadata(
    store: AnnotationStore,
    state: dict[str, Any] | None = None,
    dataset: AnnotationSet | None = None,
    link: str | None = None,
) -> dict[str, Any]:
    """``layer.metadata`` of a keyskel Points layer (plain data only)."""
    plain = store_to_plain(store)
    plain["state"] = {"color_by": "node", "show_names": False, **(state or {})}
    if dataset is not None:
        plain["dataset"] = {"frames": dataset.frames, "meta": dataset.meta, "source": dataset.source}
    return {"keyskel": plain, LINK_KEY: link or uuid.uuid4().hex}


def sync_plain(metadata: dict[str, Any], store: AnnotationStore, **state: Any) -> None:
    """Point ``metadata["keyskel"]`` at the store's current arrays, keeping its state and dataset."""
    old = metadata.get("keyskel") or {}
    plain = store_to_plain(store)
    plain["state"] = {
        **(old.get("state") or {}),
        **state,
        "bridge_unlabelled": bool(getattr(store, "bridge_unlabelled", False)),
    }
    for key in ("dataset", "media"):  # the frame table, and the media layer it annotates
        if key in old:
            plain[key] = old[key]
    metadata["keyskel"] = plain


class MetadataSync:
    """Keeps a managed layer's ``metadata["keyskel"]`` pointing at its store, per touched track.

    :meth:`write_all` writes the whole store as plain data (opening, a skeleton change);
    :meth:`update` after an edit re-points only the entries of the tracks its changes name (their
    arrays may have been replaced when a block grew) and the store's scalars, so an edit never
    walks the whole store. The list of tracks is rebuilt (references only) only when tracks were
    created or removed.
    """

    def __init__(self, owner: LayerOwner) -> None:
        self.owner = owner
        self._entries: dict[int, dict[str, Any]] = {}
        self._skeleton: Any = None

    def _plain(self) -> dict[str, Any]:
        meta = self.owner.points.metadata
        plain = meta.get("keyskel")
        if not isinstance(plain, dict) or "tracks" not in plain:  # replaced by a script: write it all
            self.write_all()
            plain = meta["keyskel"]
        return plain

    def write_all(self, state: dict[str, Any] | None = None) -> None:
        """Write the whole store (keeping the state and dataset entries, ``state`` merged in)."""
        store = self.owner.store
        sync_plain(self.owner.points.metadata, store, **{**(state or {}), "color_by": self.owner.color_by})
        plain = self.owner.points.metadata["keyskel"]
        self._entries = {e["track_id"]: e for e in plain["tracks"]}
        self._skeleton = store.skeleton

    def set_state(self, **state: Any) -> None:
        """Merge plugin state (``color_by``, ``show_names``, ...) into ``metadata["keyskel"]["state"]``."""
        plain = self._plain()
        plain["state"] = {**(plain.get("state") or {}), **state}

    def update(self, changes: Iterable[Change]) -> None:
        """Re-point the entries of the tracks ``changes`` name, and the store's scalars."""
        store = self.owner.store
        plain = self._plain()
        if store.skeleton is not self._skeleton:
            self.write_all()
            return
        for key in ("name", "n_frames", "method", "frame_axis", "coord_ndim", "bridge_unlabelled"):
            plain[key] = getattr(store, key)
        plain["meta"] = store.meta
        plain.setdefault("state", {})["bridge_unlabelled"] = bool(store.bridge_unlabelled)
        tracks = store.tracks
        structural = False
        for tid in {int(c.track_id) for c in changes}:
            t = tracks.get(tid)
            entry = self._entries.get(tid)
            if t is None:
                structural |= self._entries.pop(tid, None) is not None
            elif entry is None:
                self._entries[tid] = track_to_plain(t)
                structural = True
            else:
                entry.update(track_to_plain(t))
        if structural or len(self._entries) != len(tracks):
            gone = self._entries.keys() - tracks.keys()
            for tid in gone:
                del self._entries[tid]
            for tid in tracks.keys() - self._entries.keys():
                self._entries[tid] = track_to_plain(tracks[tid])
            plain["tracks"] = [self._entries[tid] for tid in tracks]


def dataset_from_plain(plains: Sequence[dict[str, Any]]) -> AnnotationSet:
    """A :class:`AnnotationSet` of the stores in plain data (frame table from the first that has one)."""
    stores = [store_from_plain(p) for p in plains]
    info: dict[str, Any] = next((p["dataset"] for p in plains if p.get("dataset")), {})
    return AnnotationSet(
        stores=stores,
        frames=list(info.get("frames") or []),
        meta=dict(info.get("meta") or {}),
        source=info.get("source"),
    )


def points_layer_tuple(
    store: AnnotationStore,
    frame: int | None = 0,
    name: str | None = None,
    dataset: AnnotationSet | None = None,
    **kwargs: Any,
) -> tuple[np.ndarray, dict[str, Any], str]:
    """A napari ``LayerDataTuple`` of the points on ``frame`` (None: all frames), store in metadata.

    Added to a viewer connected with :func:`napari_keyskel._napari.registry.connect_viewer`, the
    layer gets an owner (and its edges layer) and then shows the frame in view.
    """
    frames, fp = points_in_frames(store, frame)
    attrs: dict[str, Any] = {
        "name": name or store.name,
        "features": features_table(store, fp),
        "size": 6,
        "border_width": 0.15,
        "text": {"string": "{node}", "visible": False, "size": 8, "color": "white", "anchor": "upper_left"},
        "metadata": plain_metadata(store, dataset=dataset),
        "ndim": store.layer_ndim,
        **(point_style(store, fp) if len(fp) else {}),
    }
    attrs.update(kwargs)
    return frame_points_to_layer(store, fp, frames), attrs, "points"


def edge_rows(
    edges: np.ndarray, n_nodes: int, frames: np.ndarray, ids: np.ndarray, nodes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs ``(a, b)`` of points joined by a skeleton edge (same frame and instance)."""
    if len(ids) == 0 or edges.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    pairs = np.stack([np.asarray(frames, np.int64), np.asarray(ids, np.int64)], axis=1)
    _, inv = np.unique(pairs, axis=0, return_inverse=True)
    inv = inv.ravel()
    slot = np.full((int(inv.max()) + 1, n_nodes), -1, np.intp)
    slot[inv, nodes] = np.arange(len(ids))
    a, b = slot[:, edges[:, 0]].ravel(), slot[:, edges[:, 1]].ravel()
    ok = (a >= 0) & (b >= 0)
    return a[ok], b[ok]


def edge_vectors(
    store: AnnotationStore, fp: FramePoints, frames: np.ndarray, pos: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges as Vectors data ``(E, 2, ndim)``, RGBA ``(E, 4)`` and instance ids ``(E,)``.

    An edge is drawn where both of its nodes are placed on the same frame; ``pos`` (layer
    coordinates of the points) defaults to the points' stored coordinates.
    """
    ndim = store.layer_ndim
    a, b = edge_rows(store.skeleton.edge_array(), store.n_nodes, frames, fp.track_ids, fp.nodes)
    if a.size == 0:
        return np.zeros((0, 2, ndim)), np.zeros((0, 4)), np.zeros(0, np.int64)
    if pos is None:
        pos = frame_points_to_layer(store, fp, frames)
    vec = np.stack([pos[a], pos[b] - pos[a]], axis=1)
    colors = store.skeleton.color_array()[np.asarray(fp.nodes)[b]]
    return vec, colors, np.asarray(fp.track_ids, np.int64)[a]


def range_anchors(store: AnnotationStore) -> np.ndarray:
    """Two zero-length vectors on the first and last frame (none without a frame axis)."""
    if store.frame_axis is None:
        return np.zeros((0, 2, store.layer_ndim))
    last = (store.n_frames or max(store.frame_range()[1], 1)) - 1
    anchors = np.zeros((2, 2, store.layer_ndim))
    anchors[1, 0, store.frame_axis] = last
    return anchors


def edges_layer_tuple(
    store: AnnotationStore, frame: int | None = 0, name: str | None = None, link: str | None = None
) -> tuple[np.ndarray, dict[str, Any], str]:
    """A napari ``LayerDataTuple`` of the Vectors layer drawing the edges (None: all frames)."""
    frames, fp = points_in_frames(store, frame)
    vec, colors, ids = edge_vectors(store, fp, frames)
    anchors = range_anchors(store)
    clear = np.zeros((len(anchors), 4))
    attrs = {
        "name": f"{name or store.name} edges",
        "edge_color": np.concatenate([clear, colors]) if len(vec) + len(anchors) else "white",
        "edge_width": 1.5,
        "vector_style": "line",
        "ndim": store.layer_ndim,
        "features": {"instance": np.concatenate([np.full(len(anchors), -1, np.int64), ids])},
        "metadata": {"keyskel_edges_of": name or store.name, LINK_KEY: link},
    }
    return np.concatenate([anchors, vec]), attrs, "vectors"


def dataset_layer_tuples(dataset: AnnotationSet) -> list[tuple[Any, dict[str, Any], str]]:
    """One Points ``LayerDataTuple`` per store of a dataset (frame 0 shown until an owner attaches)."""
    out = []
    for store in dataset.stores:
        first = store.frame_range()[0] if store.frame_axis is not None else 0
        out.append(points_layer_tuple(store, first, name=store.name, dataset=dataset))
    return out
