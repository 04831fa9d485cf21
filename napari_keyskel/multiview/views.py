"""Several views of one scene: one 2D annotation store per camera, instances shared by track id.

A :class:`MultiView` holds one store per view (``coord_ndim=2``, nodes in (y, x) pixels, the
same skeleton node names, frames synchronised across views). Track id ``n`` is the same animal
in every view. Views come from:

- :func:`views_from_stores`: several stores (one file or one napari layer per camera);
- :func:`views_from_dataset`: a V7 item with several slots, one slot per camera. V7 binds an
  annotation to one slot, so the same animal is one annotation per slot; they are linked by
  V7's ``instance_id`` (our writer writes the track id there), else by the store's track id.
  :func:`dataset_from_views` makes the views one such item again, to write as V7.

:func:`triangulate_views` triangulates every node seen in >= 2 views into a 3D store
(``coord_ndim=3``, ``frame_axis=0``, nodes in (z, y, x) world order, i.e. world (x, y, z)
reversed like napari's axes), and returns the per-view reprojection errors and the proposals
(reprojections where a view lacks a node). 3D results are written as CSV by
:func:`write_points_csv` and read back by :func:`read_points_csv`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ..core._atomic import atomic_write_text
from ..core.annotation_set import AnnotationSet
from ..core.skeleton import Skeleton
from ..core.store import VISIBLE, AnnotationStore, Track
from ..errors import FormatError, KeyskelError
from .calibration import Calibration
from .triangulate import Triangulation, triangulate

__all__ = [
    "CSV_COLUMNS",
    "V7_INSTANCE_ID",
    "MultiView",
    "ViewResult",
    "dataset_from_views",
    "proposals_table",
    "read_points_csv",
    "store_from_points_csv",
    "triangulate_views",
    "views_from_dataset",
    "views_from_stores",
    "write_points_csv",
]

CSV_COLUMNS = ("frame", "track", "node", "x", "y", "z")


@dataclass
class MultiView:
    """Views of one scene: ``names[v]`` and its 2D ``stores[v]`` (same node names)."""

    names: list[str]
    stores: list[AnnotationStore]
    #: Per view, the frame-table rows of its slot in the item it was read from (None: made here);
    #: with :attr:`source_meta` they let :func:`dataset_from_views` write that item back as it was.
    source_frames: list[list[dict[str, Any]]] | None = None
    source_meta: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if len(self.names) != len(self.stores) or len(self.stores) < 2:
            raise KeyskelError(f"multi-view needs >= 2 views with names, got {len(self.stores)}")
        if len(set(self.names)) != len(self.names):
            raise KeyskelError(f"view names are not unique: {self.names}")
        nodes = self.stores[0].skeleton.nodes
        for name, s in zip(self.names, self.stores):
            if s.coord_ndim != 2:
                raise KeyskelError(f"view {name!r}: a view holds 2D (y, x) nodes, not {s.coord_ndim}D")
            if tuple(s.skeleton.nodes) != tuple(nodes):
                raise KeyskelError(
                    f"view {name!r} has nodes {list(s.skeleton.nodes)}, "
                    f"view {self.names[0]!r} has {list(nodes)}"
                )

    @property
    def skeleton(self) -> Skeleton:
        """The skeleton of the first view (node names agree in all)."""
        return self.stores[0].skeleton

    @property
    def track_ids(self) -> list[int]:
        """Sorted union of the views' track ids."""
        return sorted({t for s in self.stores for t in s.tracks})

    def frame_range(self) -> tuple[int, int]:
        """``(first, stop)`` over every view."""
        spans = [s.frame_range() for s in self.stores if len(s)]
        return (min(a for a, _ in spans), max(b for _, b in spans)) if spans else (0, 0)

    def order_for(self, cal: Calibration) -> list[int]:
        """Camera index of each view: by name when every view names a camera, else by order."""
        if all(n in cal.names for n in self.names):
            return [cal.names.index(n) for n in self.names]
        if len(cal) != len(self.names):
            raise KeyskelError(
                f"{len(self.names)} views ({self.names}) but the calibration has {len(cal)} cameras "
                f"({cal.names}); name the views after the cameras"
            )
        return list(range(len(self.names)))

    def observations(self, keys_only: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(xy[V, F, I, K, 2], frames[F], track_ids[I])`` in OpenCV (x, y) pixels, NaN = not seen.

        A node counts as seen when it has a position (visible or occluded); with ``keys_only``,
        only when it is a key (interpolated positions are skipped).
        """
        lo, hi = self.frame_range()
        ids = self.track_ids
        col = {t: i for i, t in enumerate(ids)}
        k = self.skeleton.n_nodes
        xy = np.full((len(self.stores), hi - lo, len(ids), k, 2), np.nan)
        for v, s in enumerate(self.stores):
            for t in s:
                yx = t.coords if not keys_only else np.where(t.is_key[..., None], t.coords, np.nan)
                xy[v, t.start - lo : t.stop - lo, col[t.track_id]] = yx[..., ::-1]
        return xy, np.arange(lo, hi), np.asarray(ids, np.int64)


def views_from_stores(names: Sequence[str], stores: Sequence[AnnotationStore]) -> MultiView:
    """A :class:`MultiView` of stores, one per view (the stores are used, not copied)."""
    return MultiView([str(n) for n in names], list(stores))


def _v7_instance_id(t: Track) -> int | None:
    extra = (t.meta.get("darwin") or {}).get("extra") or {}
    value = (extra.get("instance_id") or {}).get("value") if isinstance(extra, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def views_from_dataset(ds: AnnotationSet, store_name: str | None = None) -> MultiView:
    """Split a dataset whose frame table spans several slots (a multi-slot V7 item) into views.

    Each distinct ``(item, slot)`` of the frame table is a view named after the slot (after
    ``item/slot`` when several items share a slot name); its frames are the slot's own frame
    indices. Track ids become V7's ``instance_id`` where each view has it once per instance.
    """
    if not ds.stores:
        raise KeyskelError(f"{ds.source or 'dataset'}: no annotation set to split into views")
    if store_name is None and len(ds.stores) > 1:
        raise KeyskelError(f"several annotation sets {[s.name for s in ds.stores]}: choose one")
    store = ds.store(store_name) if store_name else ds.stores[0]
    keys = [(str(fr.get("item")), str(fr.get("slot", "0"))) for fr in ds.frames]
    views = list(dict.fromkeys(keys))
    if len(views) < 2:
        raise KeyskelError(
            f"{ds.source or 'dataset'}: one slot only; give one file per view or an item with several slots"
        )
    slot_names = [s for _, s in views]
    unique_slots = len(set(slot_names)) == len(slot_names)
    key_arr = np.array([views.index(k) for k in keys])
    local = np.array([int(fr.get("frame", 0)) for fr in ds.frames])
    names, stores, frames_v = [], [], []
    for v, (item, slot) in enumerate(views):
        rows = np.flatnonzero(key_arr == v)
        n_frames = int(local[rows].max()) + 1
        out = AnnotationStore(store.skeleton, 2, 0, n_frames=n_frames, name=store.name)
        pending = []
        for t in store:
            r = rows[(rows >= t.start) & (rows < t.stop)]
            if not r.size:
                continue
            if not (np.isfinite(t.coords[r - t.start, :, 0]).any() or t.is_key[r - t.start].any()):
                continue
            pending.append((t, r))
        iids = [_v7_instance_id(t) for t, _ in pending]
        use_iid = None not in iids and len(set(iids)) == len(iids)
        for (t, r), iid in zip(pending, iids):
            lf = local[r]
            tid = iid if use_iid else t.track_id
            nt = out.add_track(tid, t.name, start=int(lf.min()), stop=int(lf.max()) + 1, meta=dict(t.meta))
            nt.alive[:] = False
            rr, src = lf - nt.start, r - t.start
            nt.coords[rr], nt.visibility[rr], nt.is_key[rr] = t.coords[src], t.visibility[src], t.is_key[src]
            nt.alive[rr], nt.score[rr] = t.alive[src], t.score[src]
        names.append(slot if unique_slots else f"{item}/{slot}")
        stores.append(out)
        read_rows = [dict(ds.frames[r]) for r in rows[np.argsort(local[rows], kind="stable")]]
        by_frame = {int(fr.get("frame", 0)): fr for fr in read_rows}
        frames_v.append([by_frame.get(f, {"item": item, "slot": slot, "frame": f}) for f in range(n_frames)])
    return MultiView(names, stores, frames_v, ds.meta or None)


#: Track meta key: the V7 ``instance_id`` a track is written with (the tracks of one animal in the
#: slots of a multi-slot item share it; the Darwin writer honours it for new annotations).
V7_INSTANCE_ID = "v7_instance_id"


def dataset_from_views(mv: MultiView, item: str = "scene", slot_type: str = "video") -> AnnotationSet:
    """One multi-slot V7 item of the views: a slot per view, the animals linked by ``instance_id``.

    The inverse of :func:`views_from_dataset`. Views read from an item go back to its slots (its
    frame table and kept metadata, so a V7 write updates the file in place); others become slots
    named after the views of a new ``item`` (``slot_type`` frames). Each view's track ``n`` is
    its own track in the one store (V7 binds an annotation to one slot) written with V7
    ``instance_id`` ``n`` (``meta["v7_instance_id"]``, unless it was read with that id).
    """
    sk = mv.skeleton
    frames: list[dict[str, Any]] = []
    offsets = []
    for v, (name, s) in enumerate(zip(mv.names, mv.stores)):
        n = max(s.n_frames or 0, s.frame_range()[1], 1)
        kept = mv.source_frames[v] if mv.source_frames is not None else None
        if kept is not None and len(kept) >= n:
            rows = [dict(fr) for fr in kept]
        else:
            rows = [{"item": item, "slot": name, "frame": f, "slot_type": slot_type} for f in range(n)]
            if kept:
                rows[: len(kept)] = [dict(fr) for fr in kept]
        offsets.append(len(frames))
        frames += rows
    first = mv.stores[0]
    out = AnnotationStore(sk, 2, 0, n_frames=len(frames), name=first.name)
    out.meta, out.method, out.bridge_unlabelled = dict(first.meta), first.method, first.bridge_unlabelled
    tid = 0
    for v, s in enumerate(mv.stores):
        for t in sorted(s, key=lambda tr: tr.track_id):
            tid += 1
            nt = t.copy()
            nt.track_id, nt.start = tid, t.start + offsets[v]
            nt.meta = {k: v for k, v in t.meta.items() if k != V7_INSTANCE_ID}
            if _v7_instance_id(t) != t.track_id:  # (a track read from the item keeps its own)
                nt.meta[V7_INSTANCE_ID] = int(t.track_id)
            out.tracks[tid] = nt
    return AnnotationSet(stores=[out], frames=frames, meta=dict(mv.source_meta or {}))


@dataclass
class ViewResult:
    """What :func:`triangulate_views` found: the 3D store and everything per view.

    Attributes
    ----------
    store
        The 3D store: ``coord_ndim=3``, ``frame_axis=0``, nodes in (z, y, x) world order; a node
        is a key there when it was triangulated from >= 2 views.
    triangulation
        The raw :class:`~napari_keyskel.multiview.triangulate.Triangulation` over ``(frames, tracks, nodes)``
        with views in the :class:`MultiView` order.
    frames, track_ids
        The axes of the triangulation's batch shape (nodes are the skeleton's).

    """

    store: AnnotationStore
    triangulation: Triangulation
    frames: np.ndarray
    track_ids: np.ndarray


def triangulate_views(
    mv: MultiView, cal: Calibration, keys_only: bool = False, min_views: int = 2, refine: bool = True
) -> ViewResult:
    """Triangulate every node seen in >= ``min_views`` views of ``mv`` with the cameras of ``cal``."""
    order = mv.order_for(cal)
    sub = Calibration([cal.cameras[i] for i in order], cal.metadata, cal.source)
    xy, frames, ids = mv.observations(keys_only)
    tri = triangulate(sub, xy, min_views=min_views, refine=refine)
    n = int(frames[-1]) + 1 if len(frames) else 1
    store = AnnotationStore(mv.skeleton, coord_ndim=3, frame_axis=0, n_frames=n, name=mv.skeleton.name)
    for i, tid in enumerate(ids.tolist()):
        pts = tri.points[:, i]  # (F, K, 3) world (x, y, z)
        ok = np.isfinite(pts[..., 0])
        rows = np.flatnonzero(ok.any(axis=1))
        if not rows.size:
            continue
        t = store.add_track(int(tid), start=int(frames[rows[0]]), stop=int(frames[rows[-1]]) + 1)
        r = frames[rows[0] : rows[-1] + 1] - t.start
        block = pts[rows[0] : rows[-1] + 1]
        t.coords[r] = np.where(ok[rows[0] : rows[-1] + 1, :, None], block[..., ::-1], np.nan)
        good = ok[rows[0] : rows[-1] + 1]
        t.visibility[r] = np.where(good, VISIBLE, 0)
        t.is_key[r] = good
    return ViewResult(store, tri, frames, ids)


def proposals_table(res: ViewResult, view: int) -> dict[str, np.ndarray]:
    """Proposals for one view: ``frame``, ``track``, ``node`` (index), ``yx`` (N, 2) and ``error``.

    ``error`` is the mean reprojection error (px) of the triangulated point in the views that saw
    it: how far a person may trust the proposal.
    """
    tri = res.triangulation
    f, i, k = np.nonzero(tri.proposals[view])
    return {
        "frame": res.frames[f],
        "track": res.track_ids[i],
        "node": k.astype(np.intp),
        "yx": tri.reprojected[view, f, i, k][:, ::-1],
        "error": tri.mean_error[f, i, k],
    }


# -- CSV of 3D points ---------------------------------------------------------------------------
def write_points_csv(
    path: str | PathLike[str],
    store: AnnotationStore,
    errors: np.ndarray | None = None,
    frames: np.ndarray | None = None,
    track_ids: np.ndarray | None = None,
) -> Path:
    """Write a 3D store as CSV rows ``frame, track, node, x, y, z`` (world x, y, z), atomically.

    One row per placed node, sorted by frame, track and node order. With ``errors[F, I, K]`` over
    ``frames`` and ``track_ids`` (a :class:`ViewResult`'s), a seventh column ``error`` holds
    each node's mean reprojection error in pixels.
    """
    if store.coord_ndim != 3:
        raise KeyskelError(f"a 3D store is needed (coord_ndim=3), got coord_ndim={store.coord_ndim}")
    nodes = store.skeleton.nodes
    cols = list(CSV_COLUMNS) + (["error"] if errors is not None else [])
    rows: list[tuple[Any, ...]] = []
    f_idx = {int(f): j for j, f in enumerate(frames)} if frames is not None else {}
    t_idx = {int(t): j for j, t in enumerate(track_ids)} if track_ids is not None else {}
    for t in sorted(store, key=lambda t: t.track_id):
        r, k = np.nonzero(np.isfinite(t.coords[..., 0]))
        for rr, kk in zip(r.tolist(), k.tolist()):
            z, y, x = t.coords[rr, kk].tolist()
            row: tuple[Any, ...] = (t.start + rr, t.track_id, nodes[kk], repr(x), repr(y), repr(z))
            if errors is not None:
                e = errors[f_idx[t.start + rr], t_idx[t.track_id], kk]
                row += ("" if math.isnan(e) else repr(float(e)),)
            rows.append(row)
    rows.sort(key=lambda row: (row[0], row[1], store.skeleton.index(row[2])))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    w.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def read_points_csv(path: str | PathLike[str]) -> dict[str, np.ndarray]:
    """Read a 3D points CSV: ``frame``, ``track`` (int64), ``node`` (str), ``xyz`` (N, 3), extras.

    Raises :class:`FormatError` naming the file and the line for a missing column or a bad value.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise FormatError(f"missing columns {missing} (need {list(CSV_COLUMNS)})", path, "line 1")
        frame, track, node, xyz, error = [], [], [], [], []
        has_err = "error" in (reader.fieldnames or [])
        for line, row in enumerate(reader, start=2):
            try:
                frame.append(int(row["frame"]))
                track.append(int(row["track"]))
                xyz.append([float(row["x"]), float(row["y"]), float(row["z"])])
                if has_err:
                    error.append(float(row["error"]) if row["error"] else math.nan)
            except (TypeError, ValueError):
                raise FormatError(f"bad number in {dict(row)}", path, f"line {line}") from None
            if not math.isfinite(sum(xyz[-1])) or frame[-1] < 0:
                raise FormatError("coordinates must be finite and frames >= 0", path, f"line {line}")
            node.append(row["node"])
    out = {
        "frame": np.asarray(frame, np.int64),
        "track": np.asarray(track, np.int64),
        "node": np.asarray(node, dtype=object),
        "xyz": np.asarray(xyz, float).reshape(-1, 3),
    }
    if has_err:
        out["error"] = np.asarray(error, float)
    return out


def store_from_points_csv(path: str | PathLike[str], skeleton: Skeleton) -> AnnotationStore:
    """A 3D store (``coord_ndim=3``, ``frame_axis=0``, (z, y, x)) from a points CSV; every node a key."""
    data = read_points_csv(path)
    unknown = sorted(set(data["node"].tolist()) - set(skeleton.nodes))
    if unknown:
        raise FormatError(f"nodes {unknown} are not in skeleton {skeleton.name!r}", path)
    n = int(data["frame"].max()) + 1 if len(data["frame"]) else 1
    store = AnnotationStore(skeleton, coord_ndim=3, frame_axis=0, n_frames=n, name=skeleton.name)
    k = np.array([skeleton.index(x) for x in data["node"]], np.intp)
    for tid in np.unique(data["track"]).tolist():
        m = data["track"] == tid
        f = data["frame"][m]
        t = store.add_track(int(tid), start=int(f.min()), stop=int(f.max()) + 1)
        r = f - t.start
        if len(set(zip(r.tolist(), k[m].tolist()))) != int(m.sum()):
            raise FormatError(f"track {tid} names a node twice on one frame", path)
        t.coords[r, k[m]] = data["xyz"][m][:, ::-1]
        t.visibility[r, k[m]] = VISIBLE
        t.is_key[r, k[m]] = True
    return store
