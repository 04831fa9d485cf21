"""CVAT XML records -> :class:`~napari_keyskel.core.annotation_set.AnnotationSet` (see the package doc)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...core.skeleton import Skeleton
from ...core.store import OCCLUDED, UNLABELLED, VISIBLE, AnnotationStore
from ...errors import FormatError, KeyskelError
from ._view import ElementKeys, element_view
from ._xml import Document, Element, Label
from ._xml import Skeleton as Shape

__all__ = ["CVAT_OFFSET", "META", "document_to_set", "runs"]

#: Added to (col, row) to get CVAT (x, y): CVAT's points are pixel positions that datumaro and
#: CVAT's own COCO exporter pass to COCO unchanged, so integer positions are pixel centres.
CVAT_OFFSET = 0.0
#: Key of keyskel's CVAT extras in the set's, frames' and tracks' meta.
META = "cvat"
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def runs(values: Mapping[int, Any]) -> dict[str, Any]:
    """Only the changes of a per-frame value (``{frame: value}`` -> ``{"frame": value}`` where it changes)."""
    out: dict[str, Any] = {}
    last: Any = object()
    for f in sorted(values):
        if values[f] != last:
            out[str(f)] = values[f]
            last = values[f]
    return out


def _skeletons(doc: Document, path: Path, given: Mapping[str, Skeleton] | None) -> dict[str, Skeleton]:
    """One skeleton per skeleton label (the file's, else the given ones), in the labels' order."""
    colors = {lb.name: lb.color for lb in doc.labels}
    labels: dict[str, Label] = {lb.name: lb for lb in doc.labels if lb.type == "skeleton"}
    used = [t.label for t in doc.tracks] + [s.label or "" for im in doc.images for s in im.skeletons]
    for name in dict.fromkeys(used):
        if name not in labels:  # a file without meta labels: the nodes in the order first seen
            seen = [e.label for t in doc.tracks if t.label == name for s in t.shapes for e in s.elements]
            seen += [
                e.label for im in doc.images for s in im.skeletons if s.label == name for e in s.elements
            ]
            labels[name] = Label(name, "skeleton", nodes=list(dict.fromkeys(seen)))
    out = {}
    for name, lb in labels.items():
        if given and name in given:
            out[name] = given[name]
            continue
        node_colors = [colors.get(n) or "" for n in lb.nodes]
        try:
            out[name] = Skeleton(
                lb.nodes,
                lb.edges,
                node_colors if all(_HEX.match(c) for c in node_colors) else None,
                name=name,
            )
        except KeyskelError as exc:
            raise FormatError(f"skeleton label {name!r}: {exc}", path) from None
    return out


def _frames(doc: Document, path: Path) -> tuple[list[dict[str, Any]], int]:
    """The frame table (video: every frame of the task; images: one per image) and its length."""
    if doc.images:
        ids = [im.id for im in doc.images]
        if len(set(ids)) != len(ids):
            twice = next(i for i in ids if ids.count(i) > 1)
            raise FormatError(f"two images have id {twice}", path)
        frames = []
        for im in sorted(doc.images, key=lambda i: i.id):
            entry: dict[str, Any] = {"item": im.name, "frame": 0}
            if im.width is not None and im.height is not None:
                entry.update(width=im.width, height=im.height)
            entry[META] = {"id": im.id, **({"attributes": im.extra} if im.extra else {})}
            if im.others:
                entry[META]["others"] = [[i, xml] for i, xml in im.others]
            frames.append(entry)
        return frames, len(frames)
    if doc.size is not None:
        n = doc.size
    elif doc.stop_frame is not None:
        n = (doc.stop_frame - doc.start_frame) // doc.step + 1
    else:
        last = max((s.frame for t in doc.tracks for s in t.shapes), default=doc.start_frame)
        n = (last - doc.start_frame) // doc.step + 1
    if n < 1:
        raise FormatError(f"the task has {n} frames", path, "meta")
    item = doc.source or "video"
    size = {"width": doc.width, "height": doc.height} if doc.width and doc.height else {}
    return [{"item": item, "frame": doc.start_frame + i * doc.step, **size} for i in range(n)], n


def _rel(doc: Document, frame: int, n: int, path: Path, where: str) -> int:
    r, m = divmod(frame - doc.start_frame, doc.step)
    if m or not 0 <= r < n:
        raise FormatError(
            f"frame {frame} is not a frame of the task "
            f"(start {doc.start_frame}, step {doc.step}, {n} frames)",
            path,
            where,
        )
    return r


def _by_node(shapes: list[tuple[int, Shape]]) -> dict[str, list[tuple[int, Element]]]:
    """Each element label's (frame, element) of a track, in the file's order (one pass)."""
    out: dict[str, list[tuple[int, Element]]] = {}
    for r, s in shapes:
        for e in s.elements:
            out.setdefault(e.label, []).append((r, e))
    return out


def _keys(rows: list[tuple[int, Element]], node: str, path: Path, where: str) -> ElementKeys:
    """An element's keyframes (CVAT reads only ``keyframe="1"`` elements), sorted by frame."""
    rows = [(r, e) for r, e in rows if e.keyframe]
    frames = np.asarray([r for r, _ in rows], np.intp)
    if np.unique(frames).size != frames.size:
        raise FormatError(f"element {node!r} has two keyframes on one frame", path, where)
    xy = np.asarray([(e.x, e.y) for _, e in rows], float).reshape(-1, 2)
    keys = ElementKeys(
        frames,
        xy,
        np.asarray([e.outside for _, e in rows], bool),
        np.asarray([e.occluded for _, e in rows], bool),
    )
    order = np.argsort(keys.frames, kind="stable")
    return ElementKeys(*(a[order] for a in keys))


def _track_meta(
    shapes: list[tuple[int, Shape]], nodes: tuple[str, ...], extra: dict[str, Any]
) -> dict[str, Any]:
    """What CVAT says of a track beyond positions: source, group, z order and attributes per frame."""
    meta = {k: v for k, v in extra.items() if v is not None}
    z = runs({r: s.z_order for r, s in shapes if s.z_order is not None})
    if z:
        meta["z_order"] = z
    attrs = runs({r: s.attributes for r, s in shapes})
    if any(attrs.values()):
        meta["attributes"] = attrs
    per_node = {}
    grouped = _by_node(shapes)
    for node in nodes:
        a = runs({r: e.attributes for r, e in grouped.get(node, [])})
        if any(a.values()):
            per_node[node] = a
    if per_node:
        meta["element_attributes"] = per_node
    outside: dict[str, dict[str, list[float]]] = {}
    for node, rows in grouped.items():
        for r, e in rows:
            if e.outside and e.keyframe:
                outside.setdefault(node, {})[str(r)] = [e.x, e.y]
    if outside:  # where CVAT left a hidden element (written back as it was)
        meta["outside_xy"] = outside
    return meta


def _fill_video_track(
    store: AnnotationStore, tid: int, shapes: list[tuple[int, Shape]], n: int, path: Path, where: str
) -> bool:
    """Add one video track to ``store`` as CVAT shows it; ``False`` when it shows nothing."""
    nodes = store.skeleton.nodes
    unknown = sorted({e.label for _, s in shapes for e in s.elements} - set(nodes))
    if unknown:
        raise FormatError(f"elements {unknown} are not nodes of skeleton {store.name!r}", path, where)
    k = len(nodes)
    xy = np.full((n, k, 2), np.nan)
    occluded = np.zeros((n, k), bool)
    key = np.zeros((n, k), bool)
    outside_key = np.zeros((n, k), bool)
    grouped = _by_node(shapes)
    for i, node in enumerate(nodes):
        keys = _keys(grouped.get(node, []), node, path, where)
        keys = ElementKeys(*(a[keys.frames < n] for a in keys))
        view = element_view(keys, n)
        xy[:, i], occluded[:, i] = view.xy, view.occluded
        key[keys.frames[~keys.outside], i] = True
        outside_key[keys.frames[keys.outside], i] = True
    present = np.isfinite(xy[..., 0])
    shown = np.flatnonzero(present.any(axis=1))
    if not shown.size:
        return False
    first = min(min(r for r, _ in shapes), int(shown[0]))
    stop = int(shown[-1]) + 1
    track = store.add_track(tid, start=first, stop=stop)
    rows = slice(first, stop)
    alive = present[rows].any(axis=1)
    track.coords[:] = np.where(present[rows, :, None], xy[rows, :, ::-1] - CVAT_OFFSET, np.nan)
    track.visibility[:] = np.where(present[rows], np.where(occluded[rows], OCCLUDED, VISIBLE), UNLABELLED)
    track.is_key[:] = (key[rows] & present[rows]) | (outside_key[rows] & ~present[rows] & alive[:, None])
    track.alive[:] = alive
    return True


def _read_video(doc: Document, stores: dict[str, AnnotationStore], n: int, path: Path) -> None:
    ids = [t.id for t in doc.tracks]
    if len(set(ids)) != len(ids):
        raise FormatError("two tracks share an id", path)
    empty = 0
    for t in doc.tracks:
        where = f"track {t.id}"
        shapes = [(_rel(doc, s.frame, n, path, f"{where}, frame {s.frame}"), s) for s in t.shapes]
        store = stores[t.label]
        if not _fill_video_track(store, t.id + 1, shapes, n, path, where):
            empty += 1
            continue
        store.tracks[t.id + 1].meta[META] = _track_meta(
            shapes, store.skeleton.nodes, {"id": t.id, "source": t.source, "group_id": t.group_id}
        )
    if empty:
        warnings.warn(
            f"{path}: {empty} tracks show no element on any frame of the task: not read", stacklevel=4
        )


def _read_images(doc: Document, stores: dict[str, AnnotationStore], path: Path) -> None:
    """Images: the j-th skeleton of a label on each image is instance j (CVAT keeps no identity)."""
    order = {im.id: f for f, im in enumerate(sorted(doc.images, key=lambda i: i.id))}
    names = {order[im.id]: im.name for im in doc.images}
    groups: dict[tuple[str, int], list[tuple[int, Shape]]] = {}
    for im in doc.images:
        counts: dict[str, int] = {}
        for s in im.skeletons:
            label = s.label or ""
            j = counts.get(label, 0)
            counts[label] = j + 1
            groups.setdefault((label, j), []).append((order[im.id], s))
    for (label, j), shapes in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1])):
        store = stores[label]
        nodes = store.skeleton.nodes
        frames = np.asarray(sorted(f for f, _ in shapes))
        track = store.add_track(j + 1, start=int(frames[0]), stop=int(frames[-1]) + 1)
        track.alive[:] = False
        for f, s in shapes:
            r = f - track.start
            track.alive[r] = True
            for e in s.elements:
                if e.label not in nodes:
                    raise FormatError(
                        f"element {e.label!r} is not a node of skeleton {label!r}",
                        path,
                        f"image {names[f]!r}",
                    )
                i = nodes.index(e.label)
                track.is_key[r, i] = True
                if not e.outside:
                    track.coords[r, i] = (e.y - CVAT_OFFSET, e.x - CVAT_OFFSET)
                    track.visibility[r, i] = OCCLUDED if e.occluded else VISIBLE
        meta: dict[str, Any] = {"by_position": True, **_track_meta(shapes, nodes, {})}
        for what in ("source", "group_id"):
            changes = runs({f: getattr(s, what) for f, s in shapes if getattr(s, what) is not None})
            if changes:
                meta[what] = changes
        track.meta[META] = meta


def document_to_set(doc: Document, path: Path, given: Mapping[str, Skeleton] | None = None) -> AnnotationSet:
    """The :class:`AnnotationSet` of a parsed CVAT file (one store per skeleton label)."""
    skeletons = _skeletons(doc, path, given)
    frames, n = _frames(doc, path)
    stores = {
        name: AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=n, name=name)
        for name, sk in skeletons.items()
    }
    if doc.images:
        _read_images(doc, stores, path)
    else:
        _read_video(doc, stores, n, path)
    meta = {
        "mode": "images" if doc.images else "video",
        "meta": doc.meta_xml,
        **({"other_tracks": doc.other_tracks} if doc.other_tracks else {}),
    }
    used = {t.label for t in doc.tracks} | {s.label for im in doc.images for s in im.skeletons}
    kept = [s for name, s in stores.items() if len(s) or name in used or not used]
    return AnnotationSet(stores=kept, frames=frames, meta={META: meta}, source=str(path))
