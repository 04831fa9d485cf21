"""sleap-io ``Labels`` <-> :class:`~napari_keyskel.AnnotationSet` (the conversion, no file access).

See the package docstring for the rules. sleap-io is imported by the caller and passed in as
``sio`` so this module imports without it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...core.presets import match_preset
from ...core.skeleton import Skeleton
from ...core.store import OCCLUDED, VISIBLE, AnnotationStore
from ...errors import FormatError, KeyskelError
from ._videos import make_video, open_video, video_shape

__all__ = ["SLEAP_OFFSET", "dataset_to_labels", "labels_to_dataset"]

#: Added to (col, row) to get sleap-io (x, y): sleap-io puts integer positions at pixel centres,
#: like COCO (its own COCO reader adds no offset), so the offset is 0.
SLEAP_OFFSET = 0.0

_META = "sleap"  # AnnotationSet.meta key


# -- reading --------------------------------------------------------------------------------------
def _video_name(video: Any, index: int) -> str:
    fn = video.filename
    if isinstance(fn, (list, tuple)):
        return str(fn[0]) if fn else f"video {index}"
    return str(fn)


def _frame_table(
    sio: Any, labels: Any
) -> tuple[list[dict[str, Any]], dict[tuple[int, int], int], list[dict], dict]:
    """AnnotationSet frames: every frame of every video (labelled ones when the length is unknown)."""
    videos: list[Any] = []
    vid_index: dict[int, int] = {}
    by_name: dict[str, int] = {}  # Label Studio makes one Video per task: same file, one video
    for v in [*labels.videos, *(lf.video for lf in labels.labeled_frames)]:
        if id(v) in vid_index:
            continue
        name = None if isinstance(v.filename, (list, tuple)) else str(v.filename)
        if name is not None and name in by_name:
            vid_index[id(v)] = by_name[name]
            continue
        vid_index[id(v)] = len(videos)
        if name is not None:
            by_name[name] = len(videos)
        videos.append(v)
    last: dict[int, int] = {}
    for lf in labels.labeled_frames:
        vi = vid_index[id(lf.video)]
        last[vi] = max(last.get(vi, -1), int(lf.frame_idx))
    frames: list[dict[str, Any]] = []
    frame_of: dict[tuple[int, int], int] = {}
    vmeta: list[dict[str, Any]] = []
    for vi, video in enumerate(videos):
        shape = video_shape(sio, video)
        listed = isinstance(video.filename, (list, tuple))
        if listed:
            n = len(video.filename)
        elif shape is not None and shape[0] > 0:
            n = shape[0]
        else:
            n = last.get(vi, -1) + 1
        n = max(n, last.get(vi, -1) + 1)
        fn = [str(f) for f in video.filename] if listed else str(video.filename)
        vmeta.append({"filename": fn, "shape": list(shape) if shape else None})
        size = {"height": shape[1], "width": shape[2]} if shape and len(shape) >= 3 else {}
        for fi in range(n):
            frame_of[(vi, fi)] = len(frames)
            if listed and fi < len(fn):
                entry = {"item": fn[fi], "frame": 0}
            else:
                entry = {"item": _video_name(video, vi), "frame": fi}
            frames.append({**entry, **size, "sleap_video": vi, "sleap_frame": fi})
    return frames, frame_of, vmeta, vid_index


def _our_skeleton(
    sk: Any, index: int, given: Skeleton | None, path: Path | None, order: list[str] | None = None
) -> Skeleton:
    names = [str(n) for n in sk.node_names]
    if order is not None and sorted(order) == sorted(names):
        names = list(order)  # the file's own node order, where sleap-io's reader loses it
    if given is not None:
        missing = [n for n in names if n not in given.nodes]
        if missing:
            raise FormatError(
                f"nodes {missing} of the file are not in the given skeleton {given.name!r}", path
            )
        return given
    name = str(sk.name) if sk.name else ("skeleton" if index == 0 else f"skeleton {index}")
    try:
        edges = [tuple(map(str, e)) for e in sk.edge_names]
        pairs = [tuple(map(str, e)) for e in sk.symmetry_names]
        ours = Skeleton(names, edges, flip_pairs=pairs, name=name)
    except KeyskelError as exc:
        raise FormatError(f"skeleton {name!r}: {exc}", path) from None
    if not ours.edges:  # formats without edges (Label Studio, NWB without them): a preset by names
        preset = match_preset(names)
        if preset is not None:
            return Skeleton(preset.nodes, preset.edges, preset.colors, preset.flip_pairs, name=name)
    return ours


def labels_to_dataset(
    sio: Any,
    labels: Any,
    path: Path | None = None,
    skeleton: Skeleton | None = None,
    fmt: str = "sleap",
    node_order: list[str] | None = None,
) -> AnnotationSet:
    """A :class:`AnnotationSet` of a sleap-io ``Labels``: one store per skeleton, frames of every video.

    ``skeleton`` replaces the file's skeleton (its node names must cover the file's; useful for
    Label Studio files, which carry no edges and no node order).
    """
    frames, frame_of, vmeta, vid_index = _frame_table(sio, labels)
    skeletons = list(labels.skeletons)
    for lf in labels.labeled_frames:
        for inst in lf.instances:
            if not any(inst.skeleton is s for s in skeletons):
                skeletons.append(inst.skeleton)
    if skeleton is not None and len(skeletons) > 1:
        raise FormatError(f"one skeleton given for a file with {len(skeletons)} skeletons", path)
    keyskel = labels.provenance.get("keyskel") if isinstance(labels.provenance, dict) else None
    saved_ids = {}
    if isinstance(keyskel, dict):
        saved_ids = {(str(s), str(t)): int(i) for s, t, i in keyskel.get("track_ids", [])}
    track_index = {id(t): i for i, t in enumerate(labels.tracks)}
    n_frames = max(len(frames), 1)
    stores = []
    dropped_pred = doubled = 0
    for si, sk in enumerate(skeletons):
        ours = _our_skeleton(sk, si, skeleton, path, node_order)
        store = AnnotationStore(ours, coord_ndim=2, frame_axis=0, n_frames=n_frames, name=ours.name)
        node_map = np.asarray([ours.index(str(n)) for n in sk.node_names], np.intp)
        # one pose per (track, frame): user instances first, predictions where no user instance is
        rows: dict[tuple[str, int], tuple[Any, bool, int]] = {}
        untracked_n: dict[int, int] = {}
        for lf in labels.labeled_frames:
            f = frame_of[(vid_index[id(lf.video)], int(lf.frame_idx))]
            for inst in sorted(lf.instances, key=lambda i: isinstance(i, sio.PredictedInstance)):
                if inst.skeleton is not sk:
                    continue
                pred = isinstance(inst, sio.PredictedInstance)
                key: tuple[str, int]
                if inst.track is not None and id(inst.track) in track_index:
                    key = (f"t{track_index[id(inst.track)]}", f)
                    if key in rows:
                        if pred and not rows[key][1]:
                            dropped_pred += 1
                            continue
                        doubled += 1
                        key = ("", -1)
                else:
                    key = ("", -1)
                if key[0] == "":
                    u = untracked_n.get(f, 0)
                    untracked_n[f] = u + 1
                    key = (f"u{u}", f)
                rows[key] = (inst, pred, f)
        _fill_store(store, sk, labels, rows, node_map, saved_ids, fmt == "sleap")
        if isinstance(keyskel, dict):
            _unkey(store, keyskel.get("interpolated", []))
        stores.append(store)
    if dropped_pred:
        warnings.warn(
            f"{path}: {dropped_pred} predicted instances replaced by a user instance of the same track "
            "on the same frame were not read (the user instance was)",
            stacklevel=3,
        )
    if doubled:
        warnings.warn(
            f"{path}: {doubled} instances shared a track with another on the same frame; "
            "they were read as separate (untracked) instances",
            stacklevel=3,
        )
    meta = {_META: {"format": fmt, "videos": vmeta}}
    return AnnotationSet(stores=stores, frames=frames, meta=meta, source=None if path is None else str(path))


def _unkey(store: AnnotationStore, records: Any) -> None:
    """Mark the points our writer recorded as interpolated (not keys) in ``provenance``."""
    for rec in records if isinstance(records, list) else []:
        if (
            not isinstance(rec, dict)
            or rec.get("store") != store.name
            or rec.get("track") not in store.tracks
        ):
            continue
        t = store.tracks[rec["track"]]
        frames = np.asarray(rec.get("frame", []), np.int64) - t.start
        nodes = np.asarray(rec.get("node", []), np.int64)
        ok = (
            (frames >= 0) & (frames < len(t)) & (nodes >= 0) & (nodes < store.n_nodes)
            if frames.size
            else frames
        )
        if frames.shape == nodes.shape and frames.size:
            t.is_key[frames[ok], nodes[ok]] = False


def _fill_store(
    store: AnnotationStore,
    sk: Any,
    labels: Any,
    rows: Mapping[tuple[str, int], tuple[Any, bool, int]],
    node_map: np.ndarray,
    saved_ids: Mapping[tuple[str, str], int],
    occluded_kept: bool,
) -> None:
    k = store.n_nodes
    groups: dict[str, list[tuple[Any, bool, int]]] = {}
    for (tkey, _f), row in rows.items():
        groups.setdefault(tkey, []).append(row)
    named = [g for g in groups if g.startswith("t")]
    named.sort(key=lambda g: int(g[1:]))
    untracked = sorted((g for g in groups if g.startswith("u")), key=lambda g: int(g[1:]))
    used: set[int] = set()
    ids: dict[str, int] = {}
    for g in named:
        t = labels.tracks[int(g[1:])]
        tid = saved_ids.get((store.name, str(t.name)), int(g[1:]) + 1)
        if tid in used:
            tid = max(used) + 1
        ids[g] = tid
        used.add(tid)
    for g in untracked:
        ids[g] = max(used, default=0) + 1
        used.add(ids[g])
    for g in named + untracked:
        recs = sorted(groups[g], key=lambda r: r[2])
        fs = np.asarray([r[2] for r in recs])
        name = str(labels.tracks[int(g[1:])].name) if g.startswith("t") else None
        track = store.add_track(ids[g], name=name or None, start=int(fs[0]), stop=int(fs[-1]) + 1)
        if name is None:  # written back without a track, as it came
            track.meta[_META] = {"untracked": True}
        pts = np.stack([np.asarray(r[0].points["xy"], float) for r in recs])  # (L', K', 2) x, y
        vis = np.stack([np.asarray(r[0].points["visible"], bool) for r in recs])
        score = np.full((len(recs), len(node_map)), np.nan, np.float32)
        for i, r in enumerate(recs):
            if r[1]:
                score[i] = np.asarray(r[0].points["score"], np.float32)
        placed = np.isfinite(pts).all(axis=2)
        if not occluded_kept:  # elsewhere sleap-io fills a node it did not read with (0, 0), not visible
            placed &= vis
        rr = fs - track.start
        yx = pts[..., ::-1] - SLEAP_OFFSET
        block = np.full((len(recs), k, 2), np.nan)
        block[:, node_map] = np.where(placed[..., None], yx, np.nan)
        v = np.zeros((len(recs), k), np.int8)
        v[:, node_map] = np.where(placed, np.where(vis, VISIBLE, OCCLUDED), 0)
        s = np.full((len(recs), k), np.nan, np.float32)
        s[:, node_map] = np.where(placed, score, np.nan)
        track.coords[rr] = block
        track.visibility[rr] = v
        track.is_key[rr] = np.isfinite(block[..., 0])
        track.score[rr] = s
        # keyed by frame as a string: track meta is written to JSON (Darwin, COCO), whose keys are strings
        inst_scores = {str(int(f)): float(r[0].score) for f, r in zip(fs, recs) if r[1]}
        if inst_scores:
            track.meta.setdefault(_META, {})["instance_score"] = inst_scores


# -- writing --------------------------------------------------------------------------------------
def _videos_for(sio: Any, ds: AnnotationSet, video: Any) -> tuple[list[Any], list[tuple[int, int]]]:
    """sleap-io videos, and per dataset frame its (video index, frame index)."""
    n = ds.n_frames
    if video is not None:
        if isinstance(video, sio.Video):
            v = video
        elif isinstance(video, (list, tuple)):  # image files, one frame each
            v = sio.Video.from_filename([str(f) for f in video])
        else:
            v = open_video(sio, str(video))
        return [v], [(0, f) for f in range(n)]
    saved = ds.meta.get(_META, {}).get("videos") if isinstance(ds.meta.get(_META), dict) else None
    if saved and ds.frames and all("sleap_video" in fr for fr in ds.frames):
        videos = []
        for vm in saved:
            fn = vm["filename"]
            md = {"shape": tuple(vm["shape"])} if vm.get("shape") else {}
            videos.append(make_video(sio, fn, md))
        return videos, [(int(fr["sleap_video"]), int(fr["sleap_frame"])) for fr in ds.frames]
    if not ds.frames:
        name = Path(ds.source).stem if ds.source else "video"
        return [make_video(sio, name, {})], [(0, f) for f in range(n)]
    items: dict[str, int] = {}
    where = []
    size: dict[int, tuple[int, int, int]] = {}
    for fr in ds.frames:
        item = str(fr.get("item"))
        vi = items.setdefault(item, len(items))
        fi = int(fr.get("frame") or 0)
        where.append((vi, fi))
        h, w = fr.get("height"), fr.get("width")
        last = max(size.get(vi, (0, 0, 0))[0], fi + 1)
        size[vi] = (last, int(h or 0), int(w or 0))
    videos = []
    for item, vi in items.items():
        last, h, w = size[vi]
        md = {"shape": (last, h, w, 1)} if h and w else {}
        videos.append(make_video(sio, item, md))
    return videos, where


def _sio_skeleton(sio: Any, sk: Skeleton) -> Any:
    return sio.Skeleton(
        list(sk.nodes),
        edges=[tuple(e) for e in sk.edges],
        symmetries=[tuple(p) for p in sk.flip_pairs],
        name=sk.name,
    )


def dataset_to_labels(sio: Any, ds: AnnotationSet, video: Any = None) -> Any:
    """A sleap-io ``Labels`` of a dataset: every placed node of every instance on every frame.

    Nodes with a score become ``PredictedInstance`` s (per-node scores; the instance score read
    from a file, else the mean node score); the others ``Instance`` s. Occluded nodes are written
    with ``visible=False``, unlabelled ones as NaN.
    """
    videos, where = _videos_for(sio, ds, video)
    skeletons: list[Any] = []
    tracks: list[Any] = []
    frames_out: dict[tuple[int, int], list[Any]] = {}
    track_ids: list[list[Any]] = []
    interpolated: list[dict[str, Any]] = []
    for store in ds.stores:
        if store.coord_ndim != 2:
            raise FormatError(
                f"annotation set {store.name!r} has {store.coord_ndim}-D nodes; sleap-io holds 2-D only"
            )
        sk = _sio_skeleton(sio, store.skeleton)
        skeletons.append(sk)
        for t in store:
            own = t.meta.get(_META)
            ours: dict[str, Any] = own if isinstance(own, dict) else {}
            st = None if ours.get("untracked") else sio.Track(name=t.name)
            if st is not None:
                tracks.append(st)
                track_ids.append([store.name, t.name, t.track_id])
            rows, nodes = np.nonzero(np.isfinite(t.coords[..., 0]) & ~t.is_key)
            if rows.size:  # sleap-io has no interpolated flag: our .slp keeps it in provenance
                interpolated.append(
                    {
                        "store": store.name,
                        "track": t.track_id,
                        "frame": (rows + t.start).tolist(),
                        "node": nodes.tolist(),
                    }
                )
            inst_scores = ours.get("instance_score", {})
            placed = np.isfinite(t.coords[..., 0])
            for r in np.flatnonzero(placed.any(axis=1)):
                f = t.start + int(r)
                if f >= len(where):
                    raise FormatError(
                        f"frame {f} of instance {t.track_id} is past the frame table ({len(where)} frames)"
                    )
                xy = np.where(placed[r, :, None], t.coords[r, :, ::-1] + SLEAP_OFFSET, np.nan)
                sc = t.score[r]
                if np.isfinite(sc).any():
                    score = inst_scores.get(str(f), inst_scores.get(f, float(np.nanmean(sc))))
                    inst = sio.PredictedInstance.from_numpy(
                        xy, skeleton=sk, point_scores=np.nan_to_num(sc.astype(float)), score=score, track=st
                    )
                else:
                    inst = sio.Instance.from_numpy(xy, skeleton=sk, track=st)
                inst.points["visible"] = placed[r] & (t.visibility[r] == VISIBLE)
                frames_out.setdefault(where[f], []).append(inst)
    lfs = [
        sio.LabeledFrame(video=videos[vi], frame_idx=fi, instances=insts)
        for (vi, fi), insts in sorted(frames_out.items())
    ]
    provenance: dict[str, Any] = {"keyskel": {"track_ids": track_ids, "interpolated": interpolated}}
    own = ds.meta.get(_META)
    if isinstance(own, dict) and isinstance(own.get("dlc"), dict):
        provenance["keyskel_dlc"] = own["dlc"]  # a DeepLabCut file read: multi-animal or not
    return sio.Labels(
        labeled_frames=lfs, videos=videos, skeletons=skeletons, tracks=tracks, provenance=provenance
    )
