""":class:`~napari_keyskel.AnnotationSet` -> COCO keypoints (the writing half of :mod:`.coco`).

See :mod:`napari_keyskel.formats.coco` for the mapping. Every store's tracks are concatenated
and the rows to write, their keypoint triplets, ``num_keypoints``, ``bbox`` and ``area`` computed
on whole arrays (:mod:`._rows`); only the final annotation dicts are built in Python, those of
plain rows in one pass with keypoints and boxes as numpy row views (orjson writes them as it
writes lists of floats: no float-to-Python copy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import chain, repeat
from operator import is_not
from typing import Any

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...core.store import Track
from ...errors import FormatError
from .._checks import decimal_scores
from .._volume import is_volume_dataset
from ._rows import Rows, coco_meta, written_rows
from ._rules import is_id, is_int, item_codes
from ._volume3d import volume_coco_document
from ._write_tables import category, foreign_meta, frame_table, image_table, sigmas_for, unique_ids

__all__ = ["coco_document", "written_rows"]

_DEFAULT_FIELDS = ("track_id", "object_id")


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
    rows: Rows, values: list[Any], results: bool, codes: np.ndarray
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


class _Anns:
    """The annotations of one store's rows, as dicts once their ids are known.

    Everything but the annotation ids (assigned over the whole document, in frame order) is
    settled here. In the writer's fast form, rows that are plain COCO (no originals kept, no
    extras, no keyskel record: most rows of most files) are made in one pass with numpy row
    views; the others one by one. Both give the same bytes once serialised (tested).
    """

    def __init__(
        self, rows: Rows, cid: Any, img_ids: list[Any], results: bool, keep_extras: bool,
        codes: np.ndarray,
    ) -> None:  # fmt: skip
        self.rows, self.cid, self.img_ids = rows, cid, img_ids
        self.results, self.keep_extras = results, keep_extras
        self.n = rows.n
        self.frame = rows.frame if rows.n else np.zeros(0, np.int64)
        if rows.n == 0:
            self.wanted: list[Any] = []
            return
        metas = rows.metas
        # results of a scored store: third values are its scores, if they are confidences in
        # [0, 1] (else visibility, the scores in our extra: a reader takes no other number for one)
        sc = rows.score[np.isfinite(rows.score)] if results else np.zeros(0)
        self.conf = conf = bool(sc.size and ((sc >= 0) & (sc <= 1)).all())
        self.kp = rows.confidences(list(range(rows.n))) if conf else rows.kp
        # every score 0/1/2: a reader would take them for visibility, so our extra says they are scores
        self.conf_flag = bool(conf and np.isin(self.kp[:, 2::3], (0.0, 1.0, 2.0)).all())
        self.partial = set(rows.partial.tolist())
        self.scored = set(rows.scored.tolist())
        self.frames, self.owners = rows.frame.tolist(), rows.owner.tolist()
        # per track: (track fields, id value written, per-frame extras)
        self.per_track: list[tuple[Sequence[Any], Any, dict[str, Any]]] = []
        values = []
        for t, m in zip(rows.tracks, metas):
            got = m.get("fields")
            fields: Sequence[Any] = got if isinstance(got, list) else _DEFAULT_FIELDS
            ann_meta = m.get("ann")
            values.append(_file_value(t, m))
            self.per_track.append((fields, values[-1], ann_meta if isinstance(ann_meta, dict) else {}))
        self.carry = _track_records(rows, values, results, codes)
        fnames = list(map(str, range(max(self.frames) + 1)))
        metas_ann = [pt[2] for pt in self.per_track]
        exts: list[Any] = list(  # each row's kept extras: (C-level maps, no Python step per row)
            map(dict.get, map(metas_ann.__getitem__, self.owners), map(fnames.__getitem__, self.frames))
        )
        if not set(map(type, exts)) <= {dict}:
            exts = [x if isinstance(x, dict) else {} for x in exts]
        self.exts: list[dict[str, Any]] = exts
        self.wanted = [x.get("id") for x in exts]
        # rows whose original keypoints (junk at v=0, file bbox/area) can be written back verbatim
        orig_rows, origs = [], []
        if not conf and any("orig" in m for m in metas):  # (scores written are the values read)
            for r in range(rows.n):
                o = metas[self.owners[r]].get("orig")
                o = o.get(fnames[self.frames[r]]) if isinstance(o, dict) else None
                if isinstance(o, dict):
                    orig_rows.append(r)
                    origs.append(o)
        ok = rows.unchanged(orig_rows, origs) if origs else np.zeros(0, bool)
        self.keep = {r: o for r, o, same in zip(orig_rows, origs, ok) if same}

    def _plain(self) -> np.ndarray:
        """Plain rows (made in one pass): no originals, no extras but the id, no keyskel record."""
        plain = np.zeros(self.n, bool)
        if self.results:
            return plain
        lens = np.fromiter(map(len, self.exts), np.intp, self.n)
        has_id = np.fromiter(map(is_not, self.wanted, repeat(None)), bool, self.n)
        plain[:] = lens == has_id  # the id (or nothing) only
        for rs in (self.keep, self.partial, self.scored, self.carry):
            if rs:
                plain[np.fromiter(rs, np.intp, len(rs))] = False
        return plain

    def _row(self, r: int, aid: Any) -> dict[str, Any]:
        """Row ``r`` as an annotation dict."""
        rows, f = self.rows, self.frames[r]
        fields, value, _ = self.per_track[self.owners[r]]
        ext, o = self.exts[r], self.keep.get(r)
        ks = ext.get("keyskel")
        ks = dict(ks) if isinstance(ks, dict) else {}
        if r in self.partial:
            ks["keyframe"] = rows.key[r].astype(int).tolist()
        if self.conf:
            if (
                r not in self.scored
                or not (rows.vis[r] == 2).all()
                or not np.isfinite(rows.score[r]).all()
                or self.conf_flag
            ):
                ks["visibility"] = rows.vis[r].tolist()
                ks["scored"] = np.isfinite(rows.score[r]).astype(int).tolist()
        elif r in self.scored:
            ks["score"] = [
                None if not math.isfinite(x) else x for x in decimal_scores(rows.score[r]).tolist()
            ]
        if r in self.carry:
            ks["track"] = self.carry[r]
        kp = o["keypoints"] if o else self.kp[r].tolist()
        if self.results:
            a = {"image_id": self.img_ids[f], "category_id": self.cid, "keypoints": kp}
            a["score"] = ext.get("score", 1.0)
            if self.keep_extras:
                a.update({k: v for k, v in ext.items() if k not in ("bbox", "score", "keyskel")})
            _track_fields(a, fields, value, ext, True)
            if ks:
                a["keyskel"] = ks
            return a
        a = {
            "id": aid,
            "image_id": self.img_ids[f],
            "category_id": self.cid,
            "keypoints": kp,
            "num_keypoints": int(rows.nk[r]),
            "bbox": rows.box[r].tolist(),
            "area": float(rows.area[r]),
            "iscrowd": 0,
        }
        if o and not self.keep_extras:  # (a results file had none of these: ground truth needs them)
            for key in ("num_keypoints", "bbox", "area", "iscrowd"):
                if key in o:
                    a[key] = o[key]
                else:
                    del a[key]
        for key, v in ext.items():
            if key not in ("id", "attributes", "keyskel"):
                a[key] = v
        _track_fields(a, fields, value, ext, False)
        if ks:
            a["keyskel"] = ks
        return a

    def dicts(self, ids: list[Any], fast: bool = False) -> list[dict[str, Any]]:
        """Every row as an annotation dict (``ids``: the annotation ids, unused for results).

        ``fast``: plain rows (no originals, extras or keyskel record) are made in one pass, their
        keypoints and box as numpy row views (orjson writes them as it writes lists of floats).
        """
        if not fast or self.n == 0:
            return [self._row(r, aid) for r, aid in zip(range(self.n), ids or [None] * self.n)]
        plain = self._plain()
        out: list[Any] = [None] * self.n
        for r in np.flatnonzero(~plain).tolist():
            out[r] = self._row(r, ids[r] if ids else None)
        idx = np.flatnonzero(plain)
        if idx.size == 0:
            return out
        rows = self.rows
        every = idx.size == self.n
        tails = []
        for fields, value, _ in self.per_track:
            tail: dict[str, Any] = {}
            _track_fields(tail, fields, value, {}, False)
            tails.append(tail)
        cid, img = self.cid, self.img_ids
        kp = list(self.kp if every else self.kp[idx])
        box = list(rows.box if every else rows.box[idx])
        nk = (rows.nk if every else rows.nk[idx]).tolist()
        area = (rows.area if every else rows.area[idx]).tolist()
        frames = (rows.frame if every else rows.frame[idx]).tolist()
        owners = (rows.owner if every else rows.owner[idx]).tolist()
        sub_ids = ids if every else [ids[r] for r in idx.tolist()]
        cols = (sub_ids, frames, kp, nk, box, area)
        if all(list(t) == ["track_id"] for t in tails):  # the usual: literal keys are faster
            tid = [t["track_id"] for t in tails]
            made = [
                {"id": i, "image_id": img[f], "category_id": cid, "keypoints": p, "num_keypoints": c,
                 "bbox": b, "area": a, "iscrowd": 0, "track_id": tid[o]}
                for i, f, p, c, b, a, o in zip(*cols, owners)
            ]  # fmt: skip
        else:
            made = [
                {"id": i, "image_id": img[f], "category_id": cid, "keypoints": p, "num_keypoints": c,
                 "bbox": b, "area": a, "iscrowd": 0, **tails[o]}
                for i, f, p, c, b, a, o in zip(*cols, owners)
            ]  # fmt: skip
        if every:
            return made
        for r, a in zip(idx.tolist(), made):
            out[r] = a
        return out


def _track_fields(
    a: dict[str, Any], fields: Sequence[Any], value: Any, ext: dict[str, Any], results: bool
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
    path: Any = None,
    fast: bool = False,
) -> dict[str, Any] | list[dict[str, Any]]:
    """The COCO document (ground-truth dict or results list) of ``dataset``; see :func:`.coco.write_coco`.

    ``fast``: what the writer serialises: keypoints and boxes of plain annotations as numpy row
    views (written by orjson as the same text), made in one pass; else plain lists throughout.
    """
    if not isinstance(dataset, AnnotationSet):
        raise FormatError(f"expected a AnnotationSet, got {type(dataset).__name__}", path)
    if is_volume_dataset(dataset):  # (z, y, x) nodes: one image per slice (see ._volume3d)
        return volume_coco_document(dataset, results, path)
    dmeta = coco_meta(dataset)
    frames = frame_table(dataset, path)
    img_ids = unique_ids([fr.get("image_id") for fr in frames])
    other_cats = [c for c in dmeta.get("categories", []) if isinstance(c, dict)] if not results else []
    other_anns = [a for a in dmeta.get("annotations", []) if isinstance(a, dict)]
    reserved = {c.get("id") for c in other_cats if is_id(c.get("id"))}
    cids = unique_ids([coco_meta(s).get("category", {}).get("id") for s in dataset.stores], reserved)
    keep_extras = dmeta.get("kind") == "results"
    codes = item_codes(frames)
    parts, cats = [], []
    for s, cid in zip(dataset.stores, cids):
        parts.append(_Anns(Rows(s, path), cid, img_ids, results, keep_extras, codes))
        if not results:
            cats.append(category(s, cid, sigmas_for(s, oks_sigmas, path)))
    frame_of = np.concatenate([p.frame for p in parts]) if parts else np.zeros(0, np.int64)
    order = np.argsort(frame_of, kind="stable")
    ids: list[Any] = []
    if not results:  # annotation ids: the file's where free, in frame order; fresh ones above
        reserved = {a.get("id") for a in other_anns if is_id(a.get("id"))}
        wanted = list(chain.from_iterable(p.wanted for p in parts))
        got = unique_ids(list(map(wanted.__getitem__, order.tolist())), reserved)
        placed = np.empty(len(got), object)
        placed[order] = got
        ids = placed.tolist()
    bounds = np.cumsum([0, *(p.n for p in parts)]).tolist()
    own: list[Any] = []
    for p, a, b in zip(parts, bounds[:-1], bounds[1:]):
        own.extend(p.dicts(ids[a:b], fast))
    if (np.diff(order) != 1).any():
        own = list(map(own.__getitem__, order.tolist()))
    anns = own + (other_anns if keep_extras or not results else [])
    if results:
        return anns
    if all_frames:
        images, moved = image_table(frames, img_ids)
    else:
        used = {img_ids[f] for f in set(frame_of.tolist())}
        used |= {a.get("image_id") for a in other_anns if is_id(a.get("image_id"))}
        keep = [f for f, i in enumerate(img_ids) if i in used]
        images, moved = image_table([frames[f] for f in keep], [img_ids[f] for f in keep])
    doc: dict[str, Any] = {
        k: v for k, v in dmeta.get("top", {}).items() if k not in ("images", "annotations", "categories")
    }
    doc["images"] = images
    doc["annotations"] = anns
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
