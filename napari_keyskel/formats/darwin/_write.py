"""Write a :class:`AnnotationSet` as V7 Darwin JSON 2.0 (the writer half of :mod:`.darwin`).

Items read by :func:`read_darwin` are rebuilt from the kept document, with each modelled
annotation regenerated in its place and every other annotation written back verbatim. Items
the frame table names that were never read (a dataset from COCO, a new store) are created:
a one-frame item is an image slot, a longer one a video slot with ``frame_urls`` (darwin-py
only treats an item as video when slot 0 has them). What V7 cannot hold goes into our
``keyskel`` extras (:mod:`._extras`), written only where needed, so files read from V7 and
written back unchanged stay as they were.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ...core._atomic import AtomicWriteError, atomic_write_many
from ...core.annotation_set import AnnotationSet
from ...core.interpolate import Method
from ...core.presets import match_preset
from ...core.skeleton import Skeleton
from ...core.store import AnnotationStore, Track
from ...errors import FormatError
from .._checks import MAX_FRAMES, decimal_scores, is_int, is_num, kept_data_guard, short
from .._coords import DECIMALS
from .._jsonio import dumps_json, gc_paused
from .._sidefiles import safe_name, side_file_names
from .._volume import is_volume_dataset
from ._frames import frames_text, node_lists
from ._layout import Group, Item, Layout
from ._made import made_keys
from ._parse import SlotInfo, _Ctx, _item_v1, _item_v2
from ._v7fill import plan_rows, v7_interpolates
from ._volume3d import VolumeItem, volume_documents

__all__ = ["SCHEMA_REF", "build_documents", "export_folder_for", "safe_name", "write_darwin"]

SCHEMA_REF = "https://darwin-public.s3.eu-west-1.amazonaws.com/darwin_json/2.0/schema.json"
_DECIMALS = DECIMALS
#: Frame-table keys V7 holds itself (others travel in the document extra).
_FRAME_OWN = frozenset({"item", "slot", "frame", "slot_type", "darwin_file", "width", "height"})


def _dict(v: Any) -> dict[str, Any]:
    """``v`` if it is an object, else an empty one (kept meta may be damaged)."""
    return v if isinstance(v, dict) else {}


def _foreign(meta: Any) -> dict[str, Any]:
    """The parts of a meta dict owned by other formats and tools (all but ``darwin``)."""
    return {k: v for k, v in meta.items() if k != "darwin"} if isinstance(meta, dict) else {}


# -- one track -> annotations -------------------------------------------------------------------
def _is_linear(store: AnnotationStore) -> bool:
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
    carried = {k: v for k, v in _foreign(t.meta).items() if k != "v7_instance_id"}  # (V7 says that)
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
    if not _is_linear(store) or (kept and not v7_interpolates(extra if isinstance(extra, dict) else {})):
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
    if not image and meta is not None and not _is_linear(store):
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
    if not image and meta is not None and not _is_linear(store) and "interpolated" in extra:
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
        linear = _is_linear(store)
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


def _track_annotations(store: AnnotationStore, kind: str, t: Track, lay: Layout) -> None:
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


# -- items -> documents -------------------------------------------------------------------------
def _slot_size(grp: Group) -> int:
    n = int(grp.local.max()) + 1
    if n > max(MAX_FRAMES, grp.local.size):
        raise FormatError(
            f"frame table: item {short(grp.item.name)}, slot {short(grp.slot)} would need {n} frames for the "
            f"{grp.local.size} it lists"
        )
    return n


def _new_template(it: Item, table: list[dict[str, Any]]) -> dict[str, Any]:
    slots = []
    for grp in it.groups.values():
        n = _slot_size(grp)
        frames = [table[g] for g in grp.rows.tolist()]
        typ = grp.slot_type if grp.slot_type != "image" or n == 1 else "video"
        s: dict[str, Any] = {"type": typ, "slot_name": grp.slot}
        for dim in ("width", "height"):
            v = next((fr[dim] for fr in frames if is_num(fr.get(dim))), None)
            if v is not None:
                s[dim] = int(v) if float(v).is_integer() else float(v)
        if typ != "image":
            by_local = dict(zip(grp.local.tolist(), frames))
            urls = []
            for lf in range(n):
                fr = by_local.get(lf, {})
                u = fr.get("url") or fr.get("file_name")
                urls.append(str(u) if isinstance(u, str) and u else f"{safe_name(it.name)}/frame_{lf:06d}")
            s["frame_count"] = n
            s["frame_urls"] = urls
        s["source_files"] = [{"file_name": it.name}]
        slots.append(s)
    item = {"name": it.name, "path": "/", "slots": slots}
    return {"version": "2.0", "schema_ref": SCHEMA_REF, "item": item, "annotations": None, "properties": []}


def _slot_info(it: Item, template: dict[str, Any]) -> dict[str, SlotInfo]:
    """Each slot of a kept item as the reader will see it (frame count, width, height)."""
    if it.meta is None:
        return {}
    try:
        ctx = _Ctx(Path(it.key))
        _, slots = (
            _item_v2(ctx, template) if it.version != 1 else _item_v1(ctx, {**template, "annotations": []})
        )
    except FormatError:
        return {}
    return {s.name: s for s in slots}


def _doc_extra(it: Item, template: dict[str, Any], table: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-slot frame-table keys V7 has no field for, and the frames listed when not all are."""
    info = _slot_info(it, template)
    frames: dict[str, dict[str, Any]] = {}
    present: dict[str, list[int]] = {}
    for grp in it.groups.values():
        si = info.get(grp.slot)
        dims = {"width": si.width, "height": si.height} if si is not None else {}
        if it.meta is None:  # a new slot takes the first frame's size (see _new_template)
            frs = [table[g] for g in grp.rows.tolist()]
            for dim in ("width", "height"):
                dims[dim] = next((fr[dim] for fr in frs if is_num(fr.get(dim))), None)
        rows = {}
        for g, lf in zip(grp.rows.tolist(), grp.local.tolist()):
            fr = table[g]
            more = {k: v for k, v in fr.items() if k not in _FRAME_OWN}
            for dim in ("width", "height"):
                if fr.get(dim) is not None and fr.get(dim) != dims.get(dim):
                    more[dim] = fr[dim]
            if more:
                rows[str(lf)] = more
        if rows:
            frames[grp.slot] = rows
        top = int(grp.local.max()) + 1
        n = max((si.declared or 0) if si is not None else 0, top, 1)
        if grp.local.size != n:  # the reader would make n frames: list the ones the table has
            present[grp.slot] = np.sort(grp.local).tolist()
    out: dict[str, Any] = {}
    if frames:
        out["frames"] = frames
    if present:
        out["present"] = present
    if it.meta is None:  # a document made here: what a reader may forget (see ._made)
        out["made"] = {
            grp.slot: made_keys([table[g] for g in grp.rows.tolist()]) for grp in it.groups.values()
        }
    return out


def _classes_extra(ds: AnnotationSet) -> list[dict[str, Any]] | None:
    """Every annotation set in order, when a reader could not rebuild one from the annotations alone."""
    entries, needed = [], False
    for s in ds.stores:
        e: dict[str, Any] = {"name": s.name}
        sk = s.skeleton
        names = list(sk.nodes)
        plain = match_preset(names) or Skeleton(names, name=sk.name)
        dm = _dict(s.meta.get("darwin"))
        derived = dm.get("skeleton") in (
            "names",
            "keypoint",
        )  # read from V7 with no skeleton but the names seen
        if (
            not derived
            or plain.nodes != sk.nodes
            or set(plain.edges) != set(sk.edges)
            or plain.colors != sk.colors
            or set(plain.flip_pairs) != set(sk.flip_pairs)
            or not len(s)
        ):
            e["skeleton"] = Skeleton(sk.nodes, sk.edges, sk.colors, sk.flip_pairs, s.name).to_dict()
            needed = True
        if _foreign(s.meta):
            e["meta"] = _foreign(s.meta)
            needed = True
        if str(s.method) != Method.LINEAR.value:  # reopens with the method it was saved with
            e["method"] = str(s.method)
            needed = True
        if s.bridge_unlabelled:
            e["bridge_unlabelled"] = True
            needed = True
        entries.append(e)
    return entries if needed else None


def build_documents(
    ds: AnnotationSet, default_name: str = "item", fast: bool = False
) -> list[tuple[Item, dict[str, Any]]]:
    """Every output item with its Darwin document, in order (kept items first).

    ``fast``: the frames of plain skeleton annotations as JSON text (:func:`._frames.frames_text`,
    the same bytes once serialised), as the writer writes them; else plain dicts throughout.
    """
    lay = Layout(ds, default_name)
    lay.fast = fast
    for store in ds.stores:
        sk_meta = _dict(store.meta.get("darwin"))
        kind = sk_meta.get("kind", "skeleton")
        kind = "keypoint" if kind == "keypoint" and store.n_nodes == 1 else "skeleton"
        if store.coord_ndim != 2:
            raise FormatError(
                f"class {store.name!r} has {store.coord_ndim}-D nodes; Darwin holds 2-D (x, y) only"
            )
        for t in sorted(store, key=lambda t: t.track_id):  # (as readers order them: stable files)
            _track_annotations(store, kind, t, lay)
    classes, dmeta = _classes_extra(ds), _foreign(ds.meta)
    out: list[tuple[Item, dict[str, Any]]] = []
    for it in lay.items.values():
        if not it.groups and it.meta is None:
            continue
        if it.meta is None:
            template = _new_template(it, lay.table)
            entries: list[dict[str, Any]] = []
        else:
            template, entries = it.meta["template"], it.meta.get("entries", [])
        anns = []
        for e in entries:
            if "raw" in e:
                anns.append(e["raw"])
            elif e.get("ref") in it.home:
                anns.append(it.home.pop(e["ref"]))
        anns.extend(it.home.values())
        anns.extend(it.new)
        ks = dict(it.meta.get("keyskel_rest") or {}) if it.meta else {}
        if not out:  # the first document carries the dataset's and the classes' extras
            if dmeta:
                ks["meta"] = dmeta
            if classes:
                ks["classes"] = classes
        ks.update(_doc_extra(it, template, lay.table))
        doc: dict[str, Any] = {}
        for k, v in template.items():
            if k == "annotations":
                doc[k] = anns
            elif k == "keyskel":
                if ks:
                    doc[k] = ks
            else:
                doc[k] = v
        doc.setdefault("annotations", anns)
        if ks:
            doc.setdefault("keyskel", ks)
        out.append((it, doc))
    return out


def _file_names(items: list[Item | VolumeItem]) -> list[str]:
    names, seen = [], set()
    for it in items:
        if it.meta is not None and not Path(it.key).is_absolute() and ".." not in Path(it.key).parts:
            name = it.key
        else:
            name = safe_name(Path(it.name).stem or it.name) + ".json"
        base, n = name[: -len(".json")] if name.endswith(".json") else name, 1
        while name.lower() in seen:
            name = f"{base}_{n}.json"
            n += 1
        seen.add(name.lower())
        names.append(name)
    return names


def export_folder_for(path: Path) -> Path:
    """The folder a several-item dataset goes to when a ``.json`` file was asked for."""
    folder = path.with_suffix("")
    return folder if not folder.exists() or folder.is_dir() else path.with_name(path.stem + "_darwin")


def write_darwin(
    dataset: AnnotationSet,
    path: str | PathLike[str],
    *,
    skeleton_file: bool = True,
    export_folder: bool = False,
) -> list[Path]:
    """Write a dataset as V7 Darwin JSON 2.0.

    Parameters
    ----------
    dataset
        The dataset; items read from Darwin are written back with everything they held.
    path
        A ``.json`` file (the dataset must hold one item) or a folder (one ``<item>.json`` per
        item, as a V7 export holds them; kept items keep their file names).
    skeleton_file
        Also write each class's skeleton as ``<class>.skeleton.json`` beside the output (unique
        names per class), so any reader of the folder keeps edges, colours and flip pairs.
    export_folder
        When ``path`` is a ``.json`` file but the dataset holds several items, write a V7-style
        export instead of refusing: one Darwin file per item in the folder ``path`` names
        without its suffix (:func:`export_folder_for`).

    Returns
    -------
    list of Path
        The files written (Darwin files first, then skeleton files).

    Raises
    ------
    FormatError
        If the dataset cannot be written as Darwin. Nothing is replaced then: every file is
        written to a temporary file first and all are renamed together.

    """
    path = Path(path)
    single = path.suffix.lower() == ".json"
    docs: list[tuple[Item, dict[str, Any]]] | list[tuple[VolumeItem, dict[str, Any]]]
    with gc_paused(), kept_data_guard("V7", path):
        if is_volume_dataset(dataset):  # (z, y, x) nodes: one keypoint per node on its slice
            docs = volume_documents(dataset, safe_name(path.stem) if single else "volume", path)
        else:
            docs = build_documents(dataset, safe_name(path.stem) if single else "item", fast=True)
    if single and len(docs) != 1 and export_folder:
        single, path = False, export_folder_for(path)
    if single:
        if len(docs) != 1:
            raise FormatError(f"the dataset holds {len(docs)} items; write them to a folder", path)
        targets = [path]
        folder = path.parent
    else:
        if path.exists() and not path.is_dir():
            raise FormatError("not a folder (give a .json file name to write one item)", path)
        folder = path
        names = _file_names([it for it, _ in docs])
        targets = [path / n for n in names]
        if sorted(targets) != targets:  # a reader lists files sorted: say the dataset's order
            for i, (_, doc) in enumerate(docs):
                doc.setdefault("keyskel", {})["order"] = i
    with gc_paused():
        payloads: list[tuple[str | PathLike[str], bytes]] = [
            (p, dumps_json(doc)) for p, (_, doc) in zip(targets, docs)
        ]
    del docs
    if skeleton_file:
        names = side_file_names([s.name for s in dataset.stores])
        for store, fname in zip(dataset.stores, names):
            sk = store.skeleton
            sk = Skeleton(sk.nodes, sk.edges, sk.colors, sk.flip_pairs, store.name)
            payloads.append((folder / fname, dumps_json(sk.to_dict(), indent=True) + b"\n"))
    try:
        return atomic_write_many(payloads)
    except AtomicWriteError as exc:
        raise FormatError(
            f"cannot write ({exc.strerror or exc}); no file was replaced", exc.filename
        ) from None
