"""One track -> its V7 annotations in each slot it lives in (part of the writer, :mod:`._write`).

A track read from V7 is rebuilt in place of the annotation it came from, with every key it had;
others become new annotations (id derived from item, slot, class and track). V7's own
interpolation decides which frames are written (:mod:`._v7fill`); frames with nothing but
their nodes are written as JSON text when the writer asks for it (:mod:`._frames`); what V7
cannot hold goes into our ``keyskel`` extra (:mod:`._extras`).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from typing import Any

import numpy as np

from ...core.store import AnnotationStore, Track
from ...errors import FormatError
from .._checks import MAX_FRAMES, decimal_scores, is_int
from ._frames import frames_text, node_lists
from ._layout import Group, Layout
from ._v7fill import plan_rows, v7_interpolates

__all__ = ["foreign", "is_linear", "object_or_empty", "track_annotations"]


def object_or_empty(v: Any) -> dict[str, Any]:
    """``v`` if it is an object, else an empty one (kept meta may be damaged)."""
    return v if isinstance(v, dict) else {}


def foreign(meta: Any) -> dict[str, Any]:
    """The parts of a meta dict owned by other formats and tools (all but ``darwin``)."""
    return {k: v for k, v in meta.items() if k != "darwin"} if isinstance(meta, dict) else {}


# -- one track -> annotations -------------------------------------------------------------------
def is_linear(store: AnnotationStore) -> bool:
    """Whether the store interpolates linearly (V7's ``linear-1.1``); else frames say it all."""
    return (getattr(store, "method", None) or "linear") == "linear"


def _valid_spans(spans: Any) -> bool:
    """``[[a, b], ...]`` of integers with ``0 <= a <= b <= MAX_FRAMES`` (kept meta may be damaged)."""
    return isinstance(spans, list) and all(
        isinstance(x, list) and len(x) == 2 and all(is_int(v) for v in x) and 0 <= x[0] <= x[1] <= MAX_FRAMES
        for x in spans
    )


def _spans_to_alive(spans: Any, hidden: Any, frames_read: Any) -> np.ndarray | None:
    """Local frames alive by the kept ranges/hidden_areas (as the reader computed them).

    None when the kept values are not what a reader accepts (then fresh ranges are written);
    sizes are bounded by :data:`MAX_FRAMES`, never by a number in the meta.
    """
    if spans is None:
        ok = isinstance(frames_read, list) and frames_read and all(is_int(f) for f in frames_read)
        spans = [[min(frames_read), max(frames_read) + 1]] if ok else []
    if not _valid_spans(spans) or (hidden is not None and not _valid_spans(hidden)):
        return None
    alive = np.zeros(max([b for _, b in spans], default=0) + 1, bool)
    for a, b in spans:
        alive[a:b] = True
    for a, b in hidden or ():
        alive[a:b] = False
    return np.flatnonzero(alive).astype(np.int64)


def _runs(frames: np.ndarray) -> list[list[int]]:
    if frames.size == 0:
        return []
    cut = np.flatnonzero(np.diff(frames) != 1) + 1
    starts = np.concatenate(([0], cut))
    stops = np.concatenate((cut, [frames.size]))
    return [[int(frames[a]), int(frames[b - 1]) + 1] for a, b in zip(starts, stops)]


def _instance_value(t: Track, meta: dict[str, Any] | None) -> int | None:
    """V7's instance id to write: the one read (kept), else the track's ``v7_instance_id``.

    (``v7_instance_id``: one animal in several slots of an item), else the COCO track id, else ours.
    """
    if meta is not None:
        inst = (meta.get("extra") or {}).get("instance_id")
        v = inst.get("value") if isinstance(inst, dict) else None
        return v if is_int(v) else None
    shared = t.meta.get("v7_instance_id") if isinstance(t.meta, dict) else None
    if is_int(shared) and -(2**63) <= shared < 2**63:
        return int(shared)
    coco = t.meta.get("coco") if isinstance(t.meta, dict) else None
    key = coco.get("key") if isinstance(coco, dict) else None
    return key if is_int(key) and -(2**63) <= key < 2**63 else int(t.track_id)


def _extra(
    store: AnnotationStore, t: Track, wrows: np.ndarray, fkeys: list[str], keyf: list[bool],
    lab: np.ndarray, meta: dict[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    """Our annotation extra: exact per-node keys, scores, the track's id, name and meta."""
    ex: dict[str, Any] = dict((meta or {}).get("keyskel_rest") or {})
    rec: dict[str, Any] = {}
    value = _instance_value(t, meta)
    if value is not None and value != t.track_id:
        rec["id"] = int(t.track_id)
    if t.name != f"instance {t.track_id}":
        rec["name"] = t.name
    carried = {k: v for k, v in foreign(t.meta).items() if k != "v7_instance_id"}  # (V7 says that)
    if carried:
        rec["meta"] = carried
    if rec:
        ex["track"] = rec
    key = t.is_key[wrows]
    partial = np.flatnonzero(np.asarray(keyf, bool) & ~key.all(axis=1))
    sc = np.where(lab[wrows], t.score[wrows], np.nan)
    scored = np.flatnonzero(np.isfinite(sc).any(axis=1))
    if scored.size:  # (as their decimals; only where there are scores: the conversion is slow)
        sc = np.where(np.isfinite(sc), decimal_scores(np.nan_to_num(sc)), np.nan)
    if partial.size or scored.size:
        ex["nodes"] = list(store.skeleton.nodes)
    if partial.size:
        ex["keys"] = {fkeys[i]: key[i].astype(int).tolist() for i in partial.tolist()}
    if scored.size:
        ex["scores"] = {
            fkeys[i]: [x if math.isfinite(x) else None for x in sc[i].tolist()] for i in scored.tolist()
        }
    return ex


def _new_id(grp: Group, cls: str, track_id: int) -> str:
    """A UUID (version-4 form, as V7 makes them) derived from the item, slot, class and track.

    The same dataset written twice gives the same ids (so a V7 file we made reads back as the
    dataset it came from: see :mod:`._made`).
    """
    key = "\0".join((grp.item.key, grp.slot, cls, str(int(track_id)))).encode("utf-8", "surrogatepass")
    return str(uuid.UUID(bytes=hashlib.blake2b(key, digest_size=16).digest(), version=4))


def _v7_rows(
    store: AnnotationStore, t: Track, rows: np.ndarray, grp: Group, lab: np.ndarray,
    meta: dict[str, Any] | None, write: np.ndarray, orig: np.ndarray,
) -> tuple[np.ndarray, bool]:  # fmt: skip
    """The rows to write where V7 interpolates the annotation, and whether to say ``fill: false``.

    In-between frames the reader filled (V7's interpolation of a file holding only keyframes)
    are left out again when that gives them back exactly (:mod:`._v7fill`).
    """
    kept = meta is not None
    extra = meta.get("extra") if meta is not None else None
    if not is_linear(store) or (kept and not v7_interpolates(extra if isinstance(extra, dict) else {})):
        return write, False  # V7 does not interpolate: every frame is as written
    if meta.get("image") if meta is not None else grp.slot_type == "image":
        return write, False
    omit = np.zeros(rows.size, bool)
    if meta is not None and meta.get("filled"):
        omit = write & ~orig & ~t.is_key[rows].any(axis=1)
    return plan_rows(t.coords, t.visibility, t.is_key, lab, t.alive, rows, write, omit)


def _annotation(
    store: AnnotationStore, kind: str, t: Track, rows: np.ndarray, grp: Group, lay: Layout,
    lab: np.ndarray, meta: dict[str, Any] | None,
) -> dict[str, Any] | None:  # fmt: skip
    """The Darwin annotation of track ``t`` on ``rows`` (block rows inside one slot)."""
    glob = t.start + rows
    local = lay.local[glob]
    has = lab[rows].any(axis=1)
    unlabelled_key = (t.is_key[rows] & ~lab[rows]).any(axis=1)
    orig = np.zeros(rows.size, bool)
    if meta and meta.get("frames_read"):
        orig = np.isin(local, np.asarray(meta["frames_read"], np.int64))
    write = (
        has | (orig & t.alive[rows]) if kind == "keypoint" else has | unlabelled_key | (orig & t.alive[rows])
    )
    if kind == "keypoint":
        write &= has
    write, fill_off = _v7_rows(store, t, rows, grp, lab, meta, write, orig)
    wrows, wlocal = rows[write], local[write]
    if wrows.size == 0:  # nothing placed: Darwin has no way to say "alive but empty"
        return None
    keyf = (t.is_key[wrows] & lab[wrows]).any(axis=1) if kind == "keypoint" else t.is_key[wrows].any(axis=1)
    keyf = keyf.tolist()
    fkeys = [str(f) for f in wlocal.tolist()]
    node_extra = (meta or {}).get("node_extra", {})
    body_extra = (meta or {}).get("body_extra", {})
    frame_extra = (meta or {}).get("frame_extra", {})
    image = (
        (meta.get("image") if meta else grp.slot_type == "image")
        and wrows.size == 1
        and t.alive[rows].sum() <= 1
        and fkeys == ["0"]
    )
    text = (  # the frames as JSON text: nothing but nodes on every frame (see ._frames)
        lay.fast
        and kind == "skeleton"
        and not image
        and not (node_extra or body_extra or frame_extra)
        and bool(lab[wrows].any(axis=1).all())
    )
    bodies: list[dict[str, Any]] = []
    if not text:
        lists, _ = node_lists(store, t, wrows, lab)
        for fk, nodes in zip(fkeys, lists):
            for nd in nodes if fk in node_extra else ():
                nd.update(node_extra[fk].get(nd["name"], {}))
        if kind == "keypoint":
            bodies = [{"x": nodes[0]["x"], "y": nodes[0]["y"]} for nodes in lists]
        else:
            bodies = [{"nodes": nodes} for nodes in lists]
        for fk, body in zip(fkeys, bodies):
            if fk in body_extra:
                body.update(body_extra[fk])

    ks = _extra(store, t, wrows, fkeys, [True] if image else keyf, lab, meta)
    if fill_off and not image:
        ks["fill"] = False
    drop = {"bounding_box"} if kind == "skeleton" else set()
    if not image and meta is not None and not is_linear(store):
        drop.add("interpolate_algorithm")  # the frames hold the non-linear positions; do not re-interpolate
    content: dict[str, Any] = {"name": store.name}
    extra = {k: v for k, v in (meta or {}).get("extra", {}).items() if k not in drop}
    if image:
        content[kind] = bodies[0]
    else:
        if text:
            content["frames"] = frames_text(store, t, wrows, lab, fkeys, keyf)
        else:
            frames = {}
            for fk, kf, body in zip(fkeys, keyf, bodies):
                fd = {"keyframe": kf, kind: body}
                fx = frame_extra.get(fk)
                if fx:
                    fd.update({k: v for k, v in fx.items() if k not in drop})
                    fd = dict(sorted(fd.items()))
                frames[fk] = fd
            content["frames"] = frames
        alive_local = np.unique(local[t.alive[rows]])
        rkey = (meta or {}).get("ranges_key") or ("segments" if grp.item.version == 1 else "ranges")
        kept = (
            _spans_to_alive(
                meta.get("ranges"),
                (meta.get("extra") or {}).get("hidden_areas"),
                meta.get("frames_read") or [],
            )
            if meta is not None
            else None
        )
        if meta is not None and kept is not None and np.array_equal(alive_local, kept):
            if meta.get("ranges") is not None:
                content[rkey] = meta["ranges"]
        else:
            content[rkey] = _runs(alive_local)
            extra.pop("hidden_areas", None)
    if ks:
        content["keyskel"] = ks
    if not image and meta is not None and not is_linear(store) and "interpolated" in extra:
        extra["interpolated"] = False
    if meta is not None:
        keys = [k for k in meta.get("keys", []) if k in content or k in extra]
        out = {k: content[k] if k in content else extra[k] for k in keys}
        out.update((k, v) for k, v in content.items() if k not in out)
        out.update((k, v) for k, v in extra.items() if k not in out)
        return out
    out = {"frames": content["frames"]} if not image else {}
    out["id"] = _new_id(grp, store.name, t.track_id)
    out["instance_id"] = {"value": _instance_value(t, None)}  # keeps the track id through V7 and back
    if not image:
        linear = is_linear(store)
        if linear:
            out["interpolate_algorithm"] = "linear-1.1"
        out["interpolated"] = bool(linear)
    out["name"] = store.name
    out["properties"] = []
    if image:
        out[kind] = content[kind]
    else:
        out[rkey] = content[rkey]
    if grp.item.version != 1:
        out["slot_names"] = [grp.slot]
    if ks:
        out["keyskel"] = ks
    return out


def track_annotations(store: AnnotationStore, kind: str, t: Track, lay: Layout) -> None:
    lab = ~np.isnan(t.coords[..., 0]) & (t.visibility > 0)  # placed (NaN = absent)
    bad = lab & ~np.isfinite(t.coords).all(axis=-1)
    if bad.any():
        r, k = np.argwhere(bad)[0]
        raise FormatError(
            f"class {store.name!r}, track {t.track_id}, frame {t.start + int(r)}, node "
            f"{store.skeleton.nodes[k]!r}: position is not finite ({t.coords[r, k].tolist()})"
        )
    used = lab.any(axis=1) | t.alive | t.is_key.any(axis=1)
    if t.stop > lay.n:
        cut = max(lay.n - t.start, 0)
        bad = np.flatnonzero((lab | t.is_key)[cut:].any(axis=1))
        if bad.size:
            raise FormatError(
                f"class {store.name!r}, track {t.track_id}: frame {t.start + cut + int(bad[0])} is beyond "
                f"the dataset's {lay.n} frames (no entry in the frame table)"
            )
        used[cut:] = False
    rows_all = np.flatnonzero(used)
    if rows_all.size == 0:
        return
    gids = lay.gid[t.start + rows_all]
    meta = t.meta.get("darwin") if isinstance(t.meta.get("darwin"), dict) else None
    for g in dict.fromkeys(gids.tolist()):
        grp = lay.groups[g]
        home = (
            meta is not None
            and grp.item.meta is not None
            and meta.get("file") == grp.item.key
            and meta.get("slot") == grp.slot
            and meta.get("ref") not in grp.item.home
        )
        ann = _annotation(store, kind, t, rows_all[gids == g], grp, lay, lab, meta if home else None)
        if ann is None:
            continue
        if home and meta is not None:
            grp.item.home[meta["ref"]] = ann
        else:
            grp.item.new.append(ann)
