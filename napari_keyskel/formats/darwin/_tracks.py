"""Parsed Darwin records -> a :class:`AnnotationSet` (phase 2 of reading; see :mod:`.darwin`).

Resolves each class's skeleton, lays the items' slots out as one frame table, and turns each
skeleton / keypoint annotation into one store track: V7's keyframe rule (on a keyframe every
node written is a key, every node missing an unlabelled key), then our ``keyskel`` extras
(per-node keys, scores, the track's id, name and meta).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...core.presets import match_preset
from ...core.skeleton import Skeleton
from ...core.store import UNLABELLED, AnnotationStore, Track
from ...errors import FormatError
from .._checks import fill_fresh_ids, short, warn
from .._coords import DARWIN_OFFSET, from_file_xy, round_decimals
from .._sidefiles import SideFiles
from ._parse import AnnRecord, ItemRecord, SlotInfo
from ._v7fill import fill_missing, v7_interpolates

__all__ = ["build_dataset"]

#: Frame-table keys the reader makes from the file itself (others come from our extra).
FRAME_KEYS = ("item", "slot", "frame", "width", "height", "slot_type", "darwin_file")


def _locate(r: AnnRecord, j: int) -> str:
    """``annotation …, frame …`` of the ``j``-th node of a record."""
    return f"{r.where}, frame {int(r.frames[np.searchsorted(np.cumsum(r.counts), j, side='right')])}"


def _fit(sk: Skeleton, names: list[str], cls: str) -> Skeleton | None:
    """``sk`` named ``cls`` if it has every node name seen in the files, else None."""
    if not set(names) <= set(sk.nodes):
        return None
    return Skeleton(sk.nodes, sk.edges, sk.colors, sk.flip_pairs, cls, descriptions=sk.descriptions)


def _resolve_skeleton(
    cls: str, kind: str, recs: list[tuple[ItemRecord, AnnRecord]], arg: Any, files: SideFiles,
    table: dict[str, int], ours: Skeleton | None,
) -> tuple[Skeleton, str]:  # fmt: skip
    """Argument, side file, our document extra, a preset with the names, else the names seen.

    Also says which: ``"argument"``, ``"file"``, ``"keyskel"``, ``"keypoint"`` or ``"names"``
    (a preset matched by the names counts as names: reading again finds it again).
    """
    sk, source = None, "argument"
    if isinstance(arg, Skeleton):
        sk = arg if kind == "skeleton" or arg.n_nodes == 1 else None
    elif isinstance(arg, Mapping):
        sk = arg.get(cls)
        if sk is not None and not isinstance(sk, Skeleton):
            raise FormatError(f"skeleton given for class {short(cls)} is not a Skeleton: {short(sk)}")
    if sk is None:
        found = files.find(cls)
        sk, source = (found[0], "file") if found else (None, source)
    names = list(table)
    if sk is None and ours is not None:
        sk, source = _fit(ours, names, cls), "keyskel"
    if sk is None and kind == "keypoint":
        sk, source = Skeleton([cls], name=cls), "keypoint"
    if sk is None:
        source = "names"
        for n, code in table.items():
            if not n.strip():
                it, r = next((it, r) for it, r in recs if (r.codes == code).any())
                where = _locate(r, int(np.argmax(r.codes == code)))
                raise FormatError(f"a node of class {short(cls)} has an empty name {n!r}", it.path, where)
        if not names:
            it, r = recs[0]
            raise FormatError(f"class {short(cls)} has no named nodes; give its skeleton", it.path, r.where)
        sk = match_preset(names) or Skeleton(names, name=cls)
    if kind == "keypoint" and sk.n_nodes != 1:
        it, r = recs[0]
        raise FormatError(
            f"class {short(cls)} holds keypoints but its skeleton has {sk.n_nodes} nodes (needs 1)",
            it.path,
            r.where,
        )
    return sk, source


def _to_global(slot: SlotInfo, local: np.ndarray, it: ItemRecord, where: str) -> np.ndarray:
    """Global frames of a slot's local frames (all must be in the frame table)."""
    if slot.present is None:
        return slot.offset + local
    pos = np.searchsorted(slot.present, local)
    ok = (pos < slot.present.size) & (slot.present[np.minimum(pos, slot.present.size - 1)] == local)
    if not ok.all():
        f = int(local[np.argmin(ok)])
        raise FormatError(f"frame {f} is not among the frames 'keyskel.present' lists", it.path, where)
    return slot.offset + pos


def _make_track(
    sk: Skeleton, it: ItemRecord, r: AnnRecord, tid: int, lut: np.ndarray, names: list[str]
) -> Track:
    k = sk.n_nodes
    idx = lut[r.codes]
    bad = np.flatnonzero(idx < 0)
    if bad.size:
        name = names[r.codes[bad[0]]]
        raise FormatError(
            f"node {short(name)} is not in the skeleton of class {short(r.cls)} "
            f"(nodes: {short(list(sk.nodes))})",
            it.path,
            f"{_locate(r, int(bad[0]))}, node {short(name)}",
        )
    slot = it.slots[r.slot]
    gf = _to_global(slot, r.frames, it, r.where)
    alive_local = r.start + np.flatnonzero(r.alive)
    if slot.present is not None:
        alive_local = alive_local[np.isin(alive_local, slot.present)]
    ga = _to_global(slot, alive_local, it, r.where)
    start = int(min(gf.min(), ga.min(initial=gf.min())))
    length = int(max(gf.max(), ga.max(initial=gf.max()))) + 1 - start
    rows_f = gf - start
    rows = np.repeat(rows_f, r.counts)
    flat = rows * k + idx
    if not r.unique and np.unique(flat).size != flat.size:
        _, first, cnt = np.unique(flat, return_index=True, return_counts=True)
        j = first[np.argmax(cnt > 1)]
        node = short(sk.nodes[idx[j]])
        frame = int(r.frames[np.searchsorted(rows_f, rows[j])])
        raise FormatError(
            f"node {node} is given twice on one frame", it.path, f"{r.where}, frame {frame}, node {node}"
        )
    coords = np.full((length, k, 2), np.nan)
    vis = np.zeros((length, k), np.int8)
    key = np.zeros((length, k), bool)
    score = np.full((length, k), np.nan, np.float32)
    alive = np.zeros(length, bool)
    alive[ga - start] = True
    key[rows_f[r.keyframe]] = True  # a node missing from a keyframe is an unlabelled key
    lab = np.isfinite(r.x)
    rl, il = rows[lab], idx[lab]
    xy = from_file_xy(np.stack([r.x[lab], r.y[lab]], axis=-1), DARWIN_OFFSET)
    coords[rl, il] = round_decimals(xy)  # (x - 0.5 adds float noise: 16.1 -> 15.600000000000001)
    vis[rl, il] = np.where(r.occluded[lab], 1, 2)
    key[rows, idx] = np.repeat(r.keyframe, r.counts)
    name, meta = f"instance {tid}", {}
    x = r.extra
    if x is not None:
        node_idx = np.asarray([sk._index.get(n, -1) for n in x.nodes], np.intp)
        if (node_idx < 0).any():
            n = x.nodes[int(np.argmin(node_idx))]
            raise FormatError(f"'keyskel.nodes' names {short(n)}, not a node of the class", it.path, r.where)
        row_of = dict(zip(r.frames.tolist(), rows_f.tolist()))
        for f, flags in x.keys.items():
            key[row_of[f], node_idx] = flags
        for f, sc in x.scores.items():
            score[row_of[f], node_idx] = sc
        if x.name:
            name = x.name
        meta = {kk: v for kk, v in (x.meta or {}).items() if kk != "darwin"}
        if x.rest:
            r.meta["keyskel_rest"] = x.rest
    score[vis == UNLABELLED] = np.nan
    extra = r.meta["extra"]
    if not r.meta["image"] and (x is None or x.fill) and v7_interpolates(extra):
        listed = np.zeros(length, bool)
        listed[rows_f] = True
        if fill_missing(coords, vis, key, alive, listed):  # V7 shows the frames between keys
            r.meta["filled"] = True
            algo = extra.get("interpolate_algorithm")
            if algo is not None and not (isinstance(algo, str) and algo.startswith("linear")):
                warn(f"interpolate_algorithm {short(algo)} is not one keyskel knows: read as linear",
                     it.path, r.where)  # fmt: skip
    meta["darwin"] = r.meta
    return Track(tid, name, start, coords, vis, key, alive, meta, score)


def _track_ids(recs: list[tuple[ItemRecord, AnnRecord]]) -> list[int]:
    """Our id from the extra when unique, else V7's instance id when free, else a new id."""
    want = [r.extra.track_id if r.extra is not None else None for _, r in recs]
    count: dict[int, int] = {}
    for w in want:
        if w is not None:
            count[w] = count.get(w, 0) + 1
    out: list[int | None] = [w if w is not None and count[w] == 1 else None for w in want]
    used = {v for v in out if v is not None}
    for i, (_, r) in enumerate(recs):
        if out[i] is None and r.instance_id is not None and r.instance_id not in used:
            out[i] = r.instance_id
            used.add(r.instance_id)
    return fill_fresh_ids(out, used)


def _frame_table(items: list[ItemRecord]) -> list[dict[str, Any]]:
    """One entry per global frame: every slot of every item, in order (our extras merged in)."""
    frames: list[dict[str, Any]] = []
    for it in items:
        need: dict[int, int] = {}
        for r in it.records:
            need[r.slot] = max(need.get(r.slot, 0), r.stop)
        ex = it.extra
        for k, s in enumerate(it.slots):
            s.present = ex.present.get(s.name) if ex is not None else None
            local = (
                s.present
                if s.present is not None
                else np.arange(max(s.declared or 0, need.get(k, 0), 1), dtype=np.int64)
            )
            s.n_frames = int(local.size)
            s.offset = len(frames)
            base = {"item": it.name, "slot": s.name, "frame": 0}
            if s.width is not None:
                base["width"] = s.width
            if s.height is not None:
                base["height"] = s.height
            base.update(slot_type=s.type, darwin_file=it.key)
            more = ex.frames.get(s.name, {}) if ex is not None else {}
            for f in local.tolist():
                d = base.copy()
                d["frame"] = f
                if f in more:
                    d.update({kk: v for kk, v in more[f].items() if kk not in ("item", "slot", "frame")})
                frames.append(d)
    return frames


def build_dataset(
    items: list[ItemRecord], dirs: list[Path], skeleton: Any, tables: dict, path: Path
) -> AnnotationSet:
    """The dataset of parsed items (see :func:`.darwin.read_darwin`)."""
    files = SideFiles(dirs)
    frames = _frame_table(items)
    classes: dict[str, list[tuple[ItemRecord, AnnRecord]]] = {}
    for it in items:
        for r in it.records:
            recs = classes.setdefault(r.cls, [])
            if recs and recs[0][1].kind != r.kind:
                raise FormatError(
                    f"class {short(r.cls)} holds both {recs[0][1].kind} and {r.kind} annotations",
                    it.path,
                    r.where,
                )
            recs.append((it, r))
    declared = next((it.extra.classes for it in items if it.extra is not None and it.extra.classes), [])
    ours = {c.name: c for c in declared}
    order = list(dict.fromkeys([*(c.name for c in declared), *classes]))
    stores = []
    n_frames = max(len(frames), 1)
    for cls in order:
        recs = classes.get(cls, [])
        c = ours.get(cls)
        sk_ours, smeta = (c.skeleton, c.meta) if c is not None else (None, {})
        kind = recs[0][1].kind if recs else "skeleton"
        if not recs:  # an annotation set with no annotations, kept in our extra
            found = files.find(cls)
            sk = found[0] if found else sk_ours
            if sk is None:
                continue
            sk = Skeleton(sk.nodes, sk.edges, sk.colors, sk.flip_pairs, cls, descriptions=sk.descriptions)
            source = "keyskel"
        else:
            sk, source = _resolve_skeleton(cls, kind, recs, skeleton, files, tables.get(cls, {}), sk_ours)
        names = list(tables.get(cls, {}))
        lut = np.array([sk._index.get(n, -1) for n in names] if kind == "skeleton" else [0], np.intp)
        store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=n_frames, name=cls)
        store.meta.update({k: v for k, v in smeta.items() if k != "darwin"})
        if c is not None:  # the interpolation settings our writer kept
            store.method, store.bridge_unlabelled = c.method, c.bridge_unlabelled
        store.meta["darwin"] = {"kind": kind, "skeleton": source}
        for (it, r), tid in zip(recs, _track_ids(recs)):
            store.tracks[tid] = _make_track(sk, it, r, tid, lut, names)
        stores.append(store)
    meta_items = [
        {
            "key": it.key,
            "version": it.version,
            "name": it.name,
            "slots": [s.name for s in it.slots],
            "template": it.template,
            "entries": it.entries,
            **({"keyskel_rest": it.extra.rest} if it.extra is not None and it.extra.rest else {}),
        }
        for it in items
    ]
    dmeta = next((it.extra.meta for it in items if it.extra is not None and it.extra.meta), None) or {}
    meta = {k: v for k, v in dmeta.items() if k != "darwin"}
    meta["darwin"] = {"items": meta_items}
    return AnnotationSet(stores=stores, frames=frames, meta=meta, source=str(path))
