""":class:`~napari_keyskel.AnnotationSet` -> COCO keypoints (the writing half of :mod:`.coco`).

See :mod:`napari_keyskel.formats.coco` for the mapping. Every store's tracks are concatenated
into one ``(M, K, 2)`` array; the rows to write, their keypoint triplets, ``num_keypoints``,
``bbox`` and ``area`` are computed on whole arrays, and only the final annotation dicts are built
in Python. With orjson, keypoint rows are handed over as numpy views (no float-to-Python copy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...core.store import AnnotationStore, Track
from ...errors import FormatError
from .. import _jsonio
from .._checks import decimal_scores
from .._coords import COCO_OFFSET, to_file_xy
from .._volume import is_volume_dataset
from ._rules import derived, is_id, is_int, item_codes
from ._volume3d import volume_coco_document
from ._write_tables import category, foreign_meta, frame_table, image_table, sigmas_for, unique_ids

__all__ = ["coco_document", "written_rows"]

_DEFAULT_FIELDS = ("track_id", "object_id")
#: Relative difference below which a point read from the file counts as unchanged (10 decimals
#: of V7, twice, stay far below it; an edit moves a point by far more).
_SAME = 1e-9


# -- annotations -------------------------------------------------------------------------------------
def written_rows(coords: np.ndarray, vis: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labelled nodes ``(N, K)`` and the rows written as annotations ``(N,)``.

    A row (one track on one frame) is written when it has a labelled node or an unlabelled key.
    """
    lab = np.isfinite(coords).all(axis=-1) & (vis > 0)
    return lab, lab.any(axis=1) | (key & ~lab).any(axis=1)


class _Rows:
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
        self.metas = [_coco_meta(t) for t in tracks]
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
        bad = (vis > 0) & ~np.isnan(coords).all(axis=-1) & ~lab
        if bad.any():
            r, j = np.argwhere(bad)[0]
            t = tracks[owner[r]]
            raise FormatError(
                f"class {store.name!r}, track {t.track_id}, frame {int(frame[r])}, node "
                f"{store.skeleton.nodes[j]!r}: position is not finite",
                path,
            )
        idx = np.flatnonzero(emit)
        lab = lab[idx]
        xy = to_file_xy(coords[idx], COCO_OFFSET)
        xy[~lab] = 0.0
        trip = np.empty((idx.size, k, 3))
        trip[..., :2] = xy
        trip[..., 2] = np.where(lab, vis[idx], 0)
        self.n = idx.size
        self.trip = trip
        self.kp = trip.reshape(idx.size, 3 * k)
        self.lab = lab
        self.vis = np.where(lab, vis[idx], 0).astype(np.int8)
        self.key = key[idx]
        self.score = np.where(lab, score[idx], np.nan)
        self.frame = frame[idx]
        self.owner = owner[idx]
        self.nk, self.box, self.area, _ = derived(trip)
        self.partial = np.flatnonzero(~self.key.all(axis=1))  # rows whose key flags must be written
        # per track: alive on every frame of its block (then its lifespan is first..last row)
        alive = np.concatenate([t.alive for t in tracks])
        self.all_alive = np.logical_and.reduceat(alive, offsets) if alive.size else np.zeros(0, bool)
        self.starts, self.stops = starts, starts + lens
        self.scored = np.flatnonzero(np.isfinite(self.score).any(axis=1))

    def unchanged(self, rows: list[int], origs: list[dict[str, Any]]) -> np.ndarray:
        """Which rows still hold the labelled points of the original keypoint list.

        A point is unchanged within :data:`_SAME` (relative to its size, at least 1 pixel):
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
            close = np.abs(o - t) <= _SAME * np.maximum(np.abs(o), 1.0)
        same_val = np.where(lab[..., None], (o == t) | close, True).all(axis=(1, 2))
        return same_lab & same_val

    def confidences(self, rows: list[int]) -> np.ndarray:
        """Results keypoints whose third values are the scores (0 where none), for a scored store."""
        trip = self.trip[rows].copy()
        trip[..., 2] = np.nan_to_num(decimal_scores(self.score[rows]), nan=0.0)
        return trip.reshape(len(rows), -1)


def _coco_meta(obj: Any) -> dict[str, Any]:
    m = obj.meta.get("coco") if isinstance(obj.meta, dict) else None
    return m if isinstance(m, dict) else {}


def _file_value(t: Track, m: dict[str, Any]) -> Any:
    """The track id to write: the file's id read from COCO (or V7's instance id), else ours."""
    if "key" in m and is_id(m["key"]):
        return m["key"]
    d = t.meta.get("darwin") if isinstance(t.meta, dict) else None
    inst = (
        d.get("extra", {}).get("instance_id")
        if isinstance(d, dict) and isinstance(d.get("extra"), dict)
        else None
    )
    v = inst.get("value") if isinstance(inst, dict) else None
    return v if is_int(v) else t.track_id


def _runs(alive: np.ndarray, start: int) -> list[list[int]]:
    idx = np.flatnonzero(alive)
    if idx.size == 0:
        return []
    cut = np.flatnonzero(np.diff(idx) != 1) + 1
    a, b = np.r_[0, cut], np.r_[cut, idx.size]
    return [[int(idx[i]) + start, int(idx[j - 1]) + start + 1] for i, j in zip(a, b)]


def _track_records(
    rows: _Rows, values: list[Any], results: bool, codes: np.ndarray
) -> dict[int, dict[str, Any]]:
    """Our ``keyskel.track`` record for the first written row of each track that needs one.

    ``codes``: the item (video) of each frame. A track seen in several items always has its
    ``alive`` ranges written: they tell a reader it is one instance there (a track id alone
    names an instance within one video).
    """
    owner = rows.owner
    cut = np.flatnonzero(np.diff(owner)) + 1  # rows are grouped by track, in track order
    firsts, lasts = np.r_[0, cut], np.r_[cut, owner.size] - 1
    tis = owner[firsts]
    item = codes[rows.frame] if codes.size else np.zeros(rows.n, np.intp)
    one_item = np.minimum.reduceat(item, firsts) == np.maximum.reduceat(item, firsts)
    # the default lifespan (first..last written row, all alive, one item) needs no record
    plain = (
        rows.all_alive[tis]
        & (rows.frame[firsts] == rows.starts[tis])
        & (rows.frame[lasts] + 1 == rows.stops[tis])
        & one_item
    )
    frames = rows.frame
    out = {}
    for ti, r, last, is_plain in zip(tis.tolist(), firsts.tolist(), lasts.tolist(), plain.tolist()):
        t, m = rows.tracks[ti], rows.metas[ti]
        rec: dict[str, Any] = {}
        default_name = (
            m.get("key") if isinstance(m.get("key"), str) and m["key"].strip() else f"instance {t.track_id}"
        )
        if t.name != default_name:
            rec["name"] = t.name
        foreign = foreign_meta(t.meta)
        if results:  # a results file goes back as it was: V7's own bookkeeping stays out of it
            foreign.pop("darwin", None)
        if foreign:
            rec["meta"] = foreign
        # our id, unless the file's id maps back to it by itself (a string id; an id renumbered on read)
        if is_int(values[ti]) and values[ti] != t.track_id and m.get("read_id") != t.track_id:
            rec["id"] = int(t.track_id)
        if not is_plain:
            runs = _runs(t.alive, t.start)
            if runs != [[int(frames[r]), int(frames[last]) + 1]] or item[r] != item[last]:
                rec["alive"] = runs
        if rec:
            out[r] = rec
    return out


def _annotations(
    rows: _Rows, cid: Any, img_ids: list[Any], results: bool, keep_extras: bool, as_numpy: bool,
    codes: np.ndarray,
) -> list[dict[str, Any]]:  # fmt: skip
    out: list[dict[str, Any]] = []
    if rows.n == 0:
        return out
    metas = rows.metas
    # results of a scored store: third values are its scores, if they are confidences in [0, 1]
    # (else visibility, the scores in our extra: a reader takes no other number for a confidence)
    sc = rows.score[np.isfinite(rows.score)] if results else np.zeros(0)
    conf = bool(sc.size and ((sc >= 0) & (sc <= 1)).all())
    kp = rows.confidences(list(range(rows.n))) if conf else rows.kp
    # every score 0/1/2: a reader would take them for visibility, so our extra says they are scores
    conf_flag = bool(conf and np.isin(kp[:, 2::3], (0.0, 1.0, 2.0)).all())
    kp = kp if as_numpy else kp.tolist()
    box = rows.box if as_numpy else rows.box.tolist()
    nk, area = rows.nk.tolist(), rows.area.tolist()
    partial = set(rows.partial.tolist())
    scored = set(rows.scored.tolist())
    frames, owners = rows.frame.tolist(), rows.owner.tolist()
    per_track = []  # per track: (track fields, id value written, per-frame extras)
    values = []
    for t, m in zip(rows.tracks, metas):
        fields = m.get("fields") if isinstance(m.get("fields"), list) else _DEFAULT_FIELDS
        ann_meta = m.get("ann")
        values.append(_file_value(t, m))
        per_track.append((fields, values[-1], ann_meta if isinstance(ann_meta, dict) else {}))
    carry = _track_records(rows, values, results, codes)
    # rows whose original keypoints (junk at v=0, file bbox/area) can be written back verbatim
    orig_rows, origs = [], []
    if not conf and any("orig" in m for m in metas):  # (scores written are the values read)
        for r in range(rows.n):
            o = metas[owners[r]].get("orig")
            o = o.get(str(frames[r])) if isinstance(o, dict) else None
            if isinstance(o, dict):
                orig_rows.append(r)
                origs.append(o)
    ok = rows.unchanged(orig_rows, origs) if origs else []
    keep = {r: o for r, o, same in zip(orig_rows, origs, ok) if same}
    for r in range(rows.n):
        f = frames[r]
        fields, value, ann_meta = per_track[owners[r]]
        ext = ann_meta.get(str(f)) if ann_meta else None
        ext = ext if isinstance(ext, dict) else {}
        o = keep.get(r)
        ks = ext.get("keyskel")
        ks = dict(ks) if isinstance(ks, dict) else {}
        if r in partial:
            ks["keyframe"] = rows.key[r].astype(int).tolist()
        if conf:
            if (
                r not in scored
                or not (rows.vis[r] == 2).all()
                or not np.isfinite(rows.score[r]).all()
                or conf_flag
            ):
                ks["visibility"] = rows.vis[r].tolist()
                ks["scored"] = np.isfinite(rows.score[r]).astype(int).tolist()
        elif r in scored:
            ks["score"] = [
                None if not math.isfinite(x) else x for x in decimal_scores(rows.score[r]).tolist()
            ]
        if r in carry:
            ks["track"] = carry[r]
        if results:
            a = {"image_id": img_ids[f], "category_id": cid, "keypoints": o["keypoints"] if o else kp[r]}
            a["score"] = ext.get("score", 1.0)
            if keep_extras:
                a.update({k: v for k, v in ext.items() if k not in ("bbox", "score", "keyskel")})
            _track_fields(a, fields, value, ext, results)
            if ks:
                a["keyskel"] = ks
            out.append(a)
            continue
        a = {
            "id": ext.get("id"),
            "image_id": img_ids[f],
            "category_id": cid,
            "keypoints": o["keypoints"] if o else kp[r],
            "num_keypoints": nk[r],
            "bbox": box[r],
            "area": area[r],
            "iscrowd": 0,
        }
        if o and not keep_extras:  # (a results file had none of these: ground truth needs them)
            for key in ("num_keypoints", "bbox", "area", "iscrowd"):
                if key in o:
                    a[key] = o[key]
                else:
                    del a[key]
        for key, v in ext.items():
            if key not in ("id", "attributes", "keyskel"):
                a[key] = v
        _track_fields(a, fields, value, ext, results)
        if ks:
            a["keyskel"] = ks
        out.append(a)
    return out


def _track_fields(
    a: dict[str, Any], fields: list[Any], value: Any, ext: dict[str, Any], results: bool
) -> None:
    """The track id in each field it was read from (``track_id``, ``instance_id``, ``object_id``)."""
    attrs = ext.get("attributes")
    if results and fields is _DEFAULT_FIELDS:
        fields = ()  # results of a store never read as COCO: no track fields
    if "track_id" in fields:
        a["track_id"] = value
    if "instance_id" in fields:
        a["instance_id"] = value
    if "object_id" in fields:
        attrs = {**attrs, "object_id": value} if isinstance(attrs, dict) else {"object_id": value}
    if attrs is not None:
        a["attributes"] = attrs


def coco_document(
    dataset: AnnotationSet,
    *,
    results: bool = False,
    oks_sigmas: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    all_frames: bool = True,
    as_numpy: bool = False,
    path: Any = None,
) -> dict[str, Any] | list[dict[str, Any]]:
    """The COCO document (ground-truth dict or results list) of ``dataset``; see :func:`.coco.write_coco`."""
    if not isinstance(dataset, AnnotationSet):
        raise FormatError(f"expected a AnnotationSet, got {type(dataset).__name__}", path)
    if is_volume_dataset(dataset):  # (z, y, x) nodes: one image per slice (see ._volume3d)
        return volume_coco_document(dataset, results, path)
    dmeta = _coco_meta(dataset)
    frames = frame_table(dataset, path)
    img_ids = unique_ids([fr.get("image_id") for fr in frames])
    other_cats = [c for c in dmeta.get("categories", []) if isinstance(c, dict)] if not results else []
    other_anns = [a for a in dmeta.get("annotations", []) if isinstance(a, dict)]
    reserved = {c.get("id") for c in other_cats if is_id(c.get("id"))}
    cids = unique_ids([_coco_meta(s).get("category", {}).get("id") for s in dataset.stores], reserved)
    keep_extras = dmeta.get("kind") == "results"
    codes = item_codes(frames)
    anns: list[dict[str, Any]] = []
    frame_of: list[int] = []
    cats = []
    for s, cid in zip(dataset.stores, cids):
        rows = _Rows(s, path)
        part = _annotations(rows, cid, img_ids, results, keep_extras, as_numpy, codes)
        anns.extend(part)
        if rows.n:
            frame_of.extend(rows.frame.tolist())
        if not results:
            cats.append(category(s, cid, sigmas_for(s, oks_sigmas, path)))
    order = np.argsort(np.asarray(frame_of, np.int64), kind="stable").tolist()
    anns = [anns[i] for i in order]
    if results:
        return anns + (other_anns if keep_extras else [])
    reserved = {a.get("id") for a in other_anns if is_id(a.get("id"))}
    for a, aid in zip(anns, unique_ids([a["id"] for a in anns], reserved)):
        a["id"] = aid
    if all_frames:
        images, moved = image_table(frames, img_ids)
    else:
        used_ids = {a["image_id"] for a in anns} | {
            a.get("image_id") for a in other_anns if is_id(a.get("image_id"))
        }
        keep = [f for f, i in enumerate(img_ids) if i in used_ids]
        images, moved = image_table([frames[f] for f in keep], [img_ids[f] for f in keep])
    doc: dict[str, Any] = {
        k: v for k, v in dmeta.get("top", {}).items() if k not in ("images", "annotations", "categories")
    }
    doc["images"] = images
    doc["annotations"] = anns + other_anns
    doc["categories"] = cats + other_cats
    extra: dict[str, Any] = {}
    if moved:
        extra["frames"] = moved
    if foreign_meta(dataset.meta):
        extra["meta"] = foreign_meta(dataset.meta)
    if not dmeta:  # ids, file names and the like made here: see _images.forget_made
        extra["made"] = True
    if extra:
        doc["keyskel"] = extra
    return doc


def numpy_ok() -> bool:
    """True if the JSON writer can take numpy arrays directly (orjson)."""
    return _jsonio.orjson is not None
