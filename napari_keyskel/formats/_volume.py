"""3D skeletons in volumes, shared by the V7 and COCO volume writers (docs/FORMATS.md §4.5).

A *volume dataset* holds stores whose nodes are (z, y, x): ``coord_ndim=3`` with
``frame_axis=None`` (one volume) or ``frame_axis=0`` (one volume per time point, (t, z, y, x)).
Both formats write what a slice viewer shows: nodes on their slice (``round(z)``). What a slice
cannot say goes into a *class table* (JSON, in the file's ``keyskel`` extra):

- per class: ``name``, ``skeleton`` (``Skeleton.to_dict``), ``frame_axis``, ``n_frames``, and when
  set: ``meta`` (the store's, JSON), ``method`` (interpolation, when not linear),
  ``bridge_unlabelled``;
- per track: ``id``, ``name``, block ``start``/``stop``, ``dead`` (runs of frames that are not
  alive), ``unlabelled`` (``[frame, node]`` of the keys with no position: "not here") and
  ``meta`` (the track's, JSON: review states among them) when set.

Per node the files hold position (x, y and z), visibility (2 visible, 1 occluded), key and score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.annotation_set import AnnotationSet
from ..core.interpolate import Method
from ..core.skeleton import Skeleton
from ..core.store import AnnotationStore
from ..errors import FormatError, SkeletonError, StoreError

__all__ = [
    "VOLUME_KEY",
    "NodeRows",
    "check_volume_dataset",
    "class_table",
    "is_volume_dataset",
    "labelled_rows",
    "put_rows",
    "slice_of",
    "stores_from_tables",
    "time_entries",
    "volume_frame_table",
]

#: The key of the ``keyskel`` extra that marks a volume file.
VOLUME_KEY = "volume3d"


def is_volume_dataset(ds: AnnotationSet) -> bool:
    """Whether any store of ``ds`` has (z, y, x) nodes (then the volume writers take it)."""
    return any(s.coord_ndim == 3 for s in ds.stores)


def check_volume_dataset(ds: AnnotationSet, path: Any) -> int | None:
    """The stores' common frame axis (None or 0); FormatError for what a volume file cannot hold."""
    axes = set()
    for s in ds.stores:
        if s.coord_ndim != 3:
            raise FormatError(
                f"store {s.name!r} has {s.coord_ndim}-D nodes but others are 3-D (z, y, x): a volume "
                "file holds 3-D skeletons only; write the 2-D ones to another file",
                path,
            )
        if s.frame_axis not in (None, 0):
            raise FormatError(
                f"store {s.name!r}: frame axis {s.frame_axis} is not supported for 3-D nodes "
                "(a volume has frame_axis=None, a time series of volumes (t, z, y, x) frame_axis=0)",
                path,
            )
        axes.add(s.frame_axis)
    if len(axes) > 1:
        raise FormatError("the 3-D stores mix a single volume and a time series; write them apart", path)
    return axes.pop() if axes else None


@dataclass
class NodeRows:
    """Labelled nodes as flat arrays: class index, track id, frame, node, (z, y, x), v, key, score."""

    cls: np.ndarray
    track: np.ndarray
    frame: np.ndarray
    node: np.ndarray
    zyx: np.ndarray
    vis: np.ndarray
    key: np.ndarray
    score: np.ndarray


def labelled_rows(ds: AnnotationSet, path: Any) -> NodeRows:
    """Every labelled node of every store, sorted by (frame, class, track, node)."""
    parts: list[list[np.ndarray]] = [[] for _ in range(8)]
    for ci, s in enumerate(ds.stores):
        for t in sorted(s, key=lambda tr: tr.track_id):
            placed = t.visibility > 0
            bad = placed & ~np.isfinite(t.coords).all(axis=-1)
            if bad.any():
                r, k = np.argwhere(bad)[0]
                raise FormatError(
                    f"store {s.name!r}, track {t.track_id}, frame {t.start + int(r)}, node "
                    f"{s.skeleton.nodes[k]!r}: position is not finite ({t.coords[r, k].tolist()})",
                    path,
                )
            rows, nodes = np.nonzero(placed)
            zyx = t.coords[rows, nodes]
            if zyx.size and zyx[:, 0].min() < -0.5:
                i = int(np.argmin(zyx[:, 0]))
                raise FormatError(
                    f"store {s.name!r}, track {t.track_id}, node {s.skeleton.nodes[nodes[i]]!r}: slice "
                    f"z={zyx[i, 0]} is before the first slice of the volume",
                    path,
                )
            n = rows.size
            for lst, arr in zip(
                parts,
                (
                    np.full(n, ci),
                    np.full(n, t.track_id, np.int64),
                    rows + t.start,
                    nodes,
                    zyx,
                    t.visibility[rows, nodes],
                    t.is_key[rows, nodes],
                    t.score[rows, nodes],
                ),
            ):
                lst.append(arr)
    if not parts[0]:
        z = np.zeros(0, np.int64)
        return NodeRows(
            z, z, z, z, np.zeros((0, 3)), np.zeros(0, np.int8), np.zeros(0, bool), np.zeros(0, np.float32)
        )
    cat = [np.concatenate(p) for p in parts]
    order = np.lexsort((cat[3], cat[1], cat[0], cat[2]))
    cls, track, frame, node, zyx, vis, key, score = (a[order] for a in cat)
    return NodeRows(cls, track, frame, node, zyx, vis, key, score)


def slice_of(z: np.ndarray) -> np.ndarray:
    """The slice index a node at ``z`` is drawn on (nearest; halves go up)."""
    return np.floor(np.asarray(z, float) + 0.5).astype(np.int64)


def _runs(mask: np.ndarray, start: int) -> list[list[int]]:
    """``[[a, b), ...]`` absolute runs where ``mask`` is True."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return [[int(a) + start, int(b) + start] for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1))]


def class_table(store: AnnotationStore, path: Any = None) -> dict[str, Any]:
    """What the slices of ``store`` cannot say (see the module docstring)."""
    sk = store.skeleton
    tracks = []
    for t in sorted(store, key=lambda tr: tr.track_id):
        rec: dict[str, Any] = {"id": int(t.track_id), "name": t.name, "start": t.start, "stop": t.stop}
        dead = _runs(~t.alive, t.start)
        if dead:
            rec["dead"] = dead
        r, k = np.nonzero(t.is_key & (t.visibility == 0))
        if r.size:
            rec["unlabelled"] = [[int(f), int(n)] for f, n in zip(r + t.start, k)]
        if t.meta:
            rec["meta"] = _json_meta(t.meta, path, f"store {store.name!r}, track {t.track_id}")
        tracks.append(rec)
    out: dict[str, Any] = {
        "name": store.name,
        "skeleton": Skeleton(
            sk.nodes, sk.edges, sk.colors, sk.flip_pairs, sk.name, descriptions=sk.descriptions
        ).to_dict(),
        "frame_axis": store.frame_axis,
        "n_frames": store.n_frames if store.frame_axis is not None else None,
        "tracks": tracks,
    }
    if store.meta:
        out["meta"] = _json_meta(store.meta, path, f"store {store.name!r}")
    if str(store.method) != Method.LINEAR.value:
        out["method"] = str(store.method)
    if store.bridge_unlabelled:
        out["bridge_unlabelled"] = True
    return out


def _json_meta(meta: dict[str, Any], path: Any, where: str) -> dict[str, Any]:
    """``meta`` as it reads back from JSON; a FormatError naming ``where`` if JSON cannot hold it."""
    try:
        return json.loads(json.dumps(meta, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise FormatError(f"{where}: meta cannot be written as JSON ({exc})", path) from None


def _fail(path: Any, where: str, message: str) -> FormatError:
    return FormatError(f"{where}: {message}", path)


def _int(v: Any, path: Any, where: str, low: int = 0) -> int:
    if type(v) is not int or v < low:
        raise _fail(path, where, f"expected an integer >= {low}, got {str(v)[:40]}")
    return v


def _meta(rec: dict[str, Any], path: Any, where: str) -> dict[str, Any]:
    meta = rec.get("meta", {})
    if not isinstance(meta, dict):
        raise _fail(path, where + ".meta", f"expected an object, got {type(meta).__name__}")
    return meta


def stores_from_tables(tables: Any, path: Any) -> list[AnnotationStore]:
    """Empty stores (tracks, alive runs, unlabelled keys set) from the class tables of a file."""
    if not isinstance(tables, list):
        raise _fail(path, f"keyskel.{VOLUME_KEY}.classes", "expected a list")
    stores = []
    for ci, c in enumerate(tables):
        where = f"keyskel.{VOLUME_KEY}.classes[{ci}]"
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise _fail(path, where, "expected an object with a 'name'")
        raw = c.get("skeleton")
        try:
            if not isinstance(raw, dict):
                raise TypeError(f"expected a skeleton object, got {type(raw).__name__}")
            sk = Skeleton.from_dict(raw)
        except (SkeletonError, TypeError, ValueError) as exc:
            raise _fail(path, where + ".skeleton", str(exc)) from None
        fa = c.get("frame_axis")
        n = c.get("n_frames")
        if fa not in (None, 0) or type(fa) is bool or not (n is None or (type(n) is int and n > 0)):
            raise _fail(path, where, "frame_axis must be null or 0 and n_frames null or a positive integer")
        store = AnnotationStore(sk, coord_ndim=3, frame_axis=fa, n_frames=n, name=c["name"])
        store.meta = _meta(c, path, where)
        method, bridge = c.get("method", Method.LINEAR.value), c.get("bridge_unlabelled", False)
        if method not in {m.value for m in Method} or type(bridge) is not bool:
            raise _fail(
                path, where, f"method must be one of {[m.value for m in Method]}, bridge_unlabelled a boolean"
            )
        store.method, store.bridge_unlabelled = method, bridge
        tracks = c.get("tracks", [])
        if not isinstance(tracks, list):
            raise _fail(path, where + ".tracks", "expected a list")
        for ti, rec in enumerate(tracks):
            tw = f"{where}.tracks[{ti}]"
            if not isinstance(rec, dict):
                raise _fail(path, tw, "expected an object")
            try:
                t = store.add_track(
                    _int(rec.get("id"), path, tw + ".id", -(2**62)),
                    rec.get("name") if isinstance(rec.get("name"), str) else None,
                    _int(rec.get("start"), path, tw + ".start"),
                    _int(rec.get("stop"), path, tw + ".stop", 1),
                )
                t.meta = _meta(rec, path, tw)
                for pair in rec.get("dead", []):
                    a, b = (_int(v, path, tw + ".dead", t.start) for v in pair)
                    t.alive[a - t.start : b - t.start] = False
                for pair in rec.get("unlabelled", []):
                    f, k = (_int(v, path, tw + ".unlabelled") for v in pair)
                    if not (t.start <= f < t.stop and k < sk.n_nodes):
                        raise _fail(path, tw + ".unlabelled", f"[{f}, {k}] is outside the track")
                    t.is_key[f - t.start, k] = True
            except (StoreError, TypeError, ValueError) as exc:
                raise _fail(path, tw, str(exc)) from None
        stores.append(store)
    return stores


def put_rows(store: AnnotationStore, track_id: int, frame: int, node: int, zyx: Any, vis: int,
             key: bool, score: float | None, path: Any, where: str) -> None:  # fmt: skip
    """Place one node read from a file (the track grows to cover ``frame`` if needed)."""
    if track_id not in store.tracks:
        store.add_track(track_id, start=frame if store.frame_axis is not None else 0)
    t = store.tracks[track_id]
    if store.frame_axis is None:
        frame = 0
    try:
        store._ensure_span(t, frame)
    except StoreError as exc:
        raise _fail(path, where, str(exc)) from None
    r = frame - t.start
    if t.visibility[r, node] > 0:
        raise _fail(path, where, f"node {store.skeleton.nodes[node]!r} of track {track_id} is given twice")
    t.coords[r, node] = zyx
    t.visibility[r, node] = vis
    t.is_key[r, node] = key
    t.score[r, node] = np.nan if score is None else score


def time_entries(
    ds: AnnotationSet, frame_axis: int | None, rows: NodeRows, default: str
) -> list[dict[str, Any]]:
    """One entry per time point: ``item`` name, ``slices`` (count), ``width``/``height`` if known."""
    n_t = 1
    if frame_axis is not None:
        n_t = max([len(ds.frames), int(rows.frame.max(initial=-1)) + 1]
                  + [max(s.n_frames or 0, s.frame_range()[1]) for s in ds.stores] + [1])  # fmt: skip
    out = []
    for t in range(n_t):
        fr = ds.frames[t] if t < len(ds.frames) and isinstance(ds.frames[t], dict) else {}
        name = fr.get("item") if isinstance(fr.get("item"), str) and fr.get("item") else None
        if name is None:
            name = default if frame_axis is None else f"{default}_t{t:04d}"
        here = rows.frame == t if frame_axis is not None else np.ones(rows.frame.size, bool)
        need = int(slice_of(rows.zyx[here, 0]).max(initial=-1)) + 1
        slices = fr.get("slices")
        e: dict[str, Any] = {"item": name, "slices": max(need, slices if type(slices) is int else 0, 1)}
        for dim in ("width", "height"):
            if type(fr.get(dim)) is int and fr[dim] > 0:
                e[dim] = fr[dim]
        out.append(e)
    return out


def volume_frame_table(store: AnnotationStore, shape: tuple[int, ...], item: str) -> list[dict[str, Any]]:
    """The frame table of a 3-D store over an image of ``shape`` ((z, y, x) or (t, z, y, x))."""
    size = {"slices": int(shape[-3]), "width": int(shape[-1]), "height": int(shape[-2])}
    if store.frame_axis is None:
        return [{"item": item, "frame": 0, **size}]
    n_t = store.n_frames or (int(shape[0]) if len(shape) > 3 else 1)
    return [{"item": f"{item}_t{t:04d}", "frame": t, **size} for t in range(n_t)]
