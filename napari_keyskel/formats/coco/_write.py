""":class:`~napari_keyskel.AnnotationSet` -> COCO keypoints (the writing half of :mod:`.coco`).

See :mod:`napari_keyskel.formats.coco` for the mapping. Every store's tracks are concatenated
and the rows to write, their keypoint triplets, ``num_keypoints``, ``bbox`` and ``area`` computed
on whole arrays (:mod:`._rows`). The writer (:func:`coco_chunks`) makes no dict for a plain
annotation: its JSON text is cut from whole-array serialisations (:mod:`._write_text`); only
annotations with originals, extras or a keyskel record are dicts, serialised one by one. The
API's :func:`coco_document` gives every annotation as a dict (the same bytes once serialised).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import chain, repeat
from operator import is_not
from typing import Any

import numpy as np
import orjson

from ...core.annotation_set import AnnotationSet
from ...errors import FormatError
from .._checks import decimal_scores
from .._jsonio import dumps_json, json_items
from .._volume import is_volume_dataset
from ._rows import Rows, coco_meta, written_rows
from ._rules import is_id, item_codes
from ._volume3d import volume_coco_document
from ._write_tables import category, foreign_meta, frame_table, image_table, sigmas_for, unique_ids
from ._write_text import annotations_text, column, field_texts, row_texts, table_texts
from ._write_tracks import file_value, track_records

__all__ = ["coco_chunks", "coco_document", "written_rows"]

_DEFAULT_FIELDS = ("track_id", "object_id")


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
            values.append(file_value(t, m))
            self.per_track.append((fields, values[-1], ann_meta if isinstance(ann_meta, dict) else {}))
        self.carry = track_records(rows, values, results, codes)
        fnames = list(map(str, range(max(self.frames) + 1)))
        metas_ann = [pt[2] for pt in self.per_track]
        exts: list[Any] = list(  # each row's kept extras: (C-level maps, no Python step per row)
            map(dict.get, map(metas_ann.__getitem__, self.owners), map(fnames.__getitem__, self.frames))
        )
        if not set(map(type, exts)) <= {dict}:
            exts = [x if isinstance(x, dict) else {} for x in exts]
        self.exts: list[dict[str, Any]] = exts
        self.wanted = list(map(dict.get, exts, repeat("id")))
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

    def dicts(self, ids: list[Any]) -> list[dict[str, Any]]:
        """Every row as an annotation dict (``ids``: the annotation ids, unused for results)."""
        return [self._row(r, aid) for r, aid in zip(range(self.n), ids or [None] * self.n)]

    def texts(self, ids: list[Any]) -> list[bytes]:
        """Every row as the JSON text of its annotation, ending in ``,`` (ground truth).

        Plain rows are made from whole arrays in :data:`.N_PIECES` columns of text
        (:mod:`._write_text`); the others are their :meth:`_row` dicts serialised one by one.
        """
        n = self.n
        if n == 0:
            return []
        plain = self._plain()
        idx = np.flatnonzero(plain)
        every = idx.size == n
        rows = self.rows

        def take(a: np.ndarray) -> np.ndarray:
            return a if every else a[idx]

        cid = dumps_json(self.cid)
        img = self.img_ids
        tails = []
        for fields, value, _ in self.per_track:
            tail: dict[str, Any] = {}
            _track_fields(tail, fields, value, {}, False)
            inner = dumps_json(tail)[1:-1]
            tails.append(b',"iscrowd":0' + (b"," + inner if inner else b"") + b"},")
        k = rows.trip.shape[1]
        nk_table = [b'"num_keypoints":%d,"bbox":[' % c for c in range(k + 1)]
        got = [
            field_texts(ids if every else [ids[r] for r in idx.tolist()], b'{"id":'),
            table_texts(
                take(rows.frame),
                lambda f: b',"image_id":' + dumps_json(img[f]) + b',"category_id":' + cid + b',"keypoints":[',
            ),
            row_texts(take(self.kp), b","),
            list(map(nk_table.__getitem__, take(rows.nk).tolist())),
            row_texts(take(rows.box), b',"area":'),
            json_items(take(rows.area)),
            list(map(tails.__getitem__, take(rows.owner).tolist())),
        ]
        cols = [column(n, idx, g) for g in got]
        for r in np.flatnonzero(~plain).tolist():
            cols[0][r] = dumps_json(self._row(r, ids[r])) + b","
        return list(map(b"".join, zip(*cols)))


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


def _volume(dataset: Any) -> bool:
    """Whether ``dataset`` is written by :mod:`._volume3d` (its annotations are dicts)."""
    return isinstance(dataset, AnnotationSet) and is_volume_dataset(dataset)


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

    ``fast``: the annotations of a ground-truth document as the writer makes them, one JSON text
    (an :class:`orjson.Fragment`: :func:`coco_chunks`); else plain dicts throughout.
    """
    text = fast and not results and not _volume(dataset)
    doc = _document(dataset, results, oks_sigmas, all_frames, path, text)
    if text and isinstance(doc, dict):
        doc["annotations"] = orjson.Fragment(b"".join(annotations_text(doc["annotations"])))
    return doc


def coco_chunks(
    dataset: AnnotationSet,
    *,
    results: bool = False,
    oks_sigmas: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    all_frames: bool = True,
    path: Any = None,
) -> list[bytes]:
    """The COCO file of ``dataset`` as pieces of text to write one after another (compact JSON).

    The bytes of ``dumps_json(coco_document(...))``; a ground-truth file's annotations are their
    texts made from whole arrays (:mod:`._write_text`), never one dict each.
    """
    text = not results and not _volume(dataset)
    doc = _document(dataset, results, oks_sigmas, all_frames, path, text)
    if not text or not isinstance(doc, dict) or "annotations" not in doc:
        return [dumps_json(doc)]
    keys = list(doc)
    at = keys.index("annotations")
    before, after = {k: doc[k] for k in keys[:at]}, {k: doc[k] for k in keys[at + 1 :]}
    head = dumps_json(before)[:-1] + (b"," if before else b"") + b'"annotations":'
    tail = b"," + dumps_json(after)[1:] if after else b"}"
    return [head, *annotations_text(doc["annotations"]), tail]


def _document(
    dataset: AnnotationSet,
    results: bool,
    oks_sigmas: Sequence[float] | Mapping[str, Sequence[float]] | None,
    all_frames: bool,
    path: Any,
    text: bool,
) -> dict[str, Any] | list[dict[str, Any]]:
    """:func:`coco_document`; ``text``: a ground-truth document's annotations as :meth:`_Anns.texts`."""
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
    shuffled = bool((np.diff(order) != 1).any())
    anns: list[Any] = []
    for p, a, b in zip(parts, bounds[:-1], bounds[1:]):
        anns.extend(p.texts(ids[a:b]) if text else p.dicts(ids[a:b]))
    if shuffled:
        anns = list(map(anns.__getitem__, order.tolist()))
    if text:
        anns.extend(dumps_json(a) + b"," for a in other_anns)
    elif keep_extras or not results:
        anns.extend(other_anns)
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
