"""Write a :class:`Dataset` as V7 Darwin JSON 2.0 (the writer half of :mod:`.darwin`).

Items read by :func:`read_darwin` are rebuilt from the kept document, with each modelled
annotation regenerated in its place and every other annotation written back verbatim. Items
the frame table names that were never read (a dataset from COCO, a new store) are created:
a one-frame item is an image slot, a longer one a video slot with ``frame_urls`` (darwin-py
only treats an item as video when slot 0 has them).
"""

from __future__ import annotations

import uuid
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ..._atomic import atomic_write_bytes
from ...dataset import Dataset
from ...errors import FormatError
from ...skeleton import SKELETON_FILE_SUFFIX
from ...store import AnnotationStore, Track
from .._coords import DARWIN_OFFSET, to_file_xy
from .._jsonio import dumps_json, gc_paused

__all__ = ["SCHEMA_REF", "build_documents", "safe_name", "write_darwin"]

SCHEMA_REF = "https://darwin-public.s3.eu-west-1.amazonaws.com/darwin_json/2.0/schema.json"
#: Decimals kept on write (removes the float noise of the +-0.5 pixel shift, far below a pixel).
_DECIMALS = 10


def safe_name(name: str) -> str:
    """A name usable as a file name (path separators and reserved characters replaced)."""
    out = "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in str(name)).strip(". ")
    return out or "item"


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


class _Group:
    """The frames of one slot of one output item: global ``rows`` and their ``local`` indices."""

    def __init__(self, item: _Item, slot: str, slot_type: str | None) -> None:
        self.item, self.slot, self.slot_type = item, slot, slot_type
        self.rows = np.zeros(0, np.intp)
        self.local = np.zeros(0, np.int64)


class _Item:
    def __init__(self, key: str, meta: dict[str, Any] | None, name: str) -> None:
        self.key, self.meta, self.name = key, meta, name
        self.version = int(meta.get("version", 2)) if meta else 2
        self.groups: dict[str, _Group] = {}
        self.home: dict[str, dict[str, Any]] = {}  # ref -> regenerated annotation
        self.new: list[dict[str, Any]] = []


class _Layout:
    """Global frame -> (group, local frame), from ``Dataset.frames`` (vectorised over frames)."""

    def __init__(self, ds: Dataset, default_name: str) -> None:
        meta = ds.meta.get("darwin") if isinstance(ds.meta, dict) else None
        kept = meta.get("items", []) if isinstance(meta, dict) else []
        self.items: dict[str, _Item] = {}
        for m in kept:
            if isinstance(m, dict) and isinstance(m.get("key"), str) and isinstance(m.get("template"), dict):
                self.items[m["key"]] = _Item(m["key"], m, str(m.get("name", default_name)))
        table = ds.frames or [{"item": default_name, "frame": f} for f in range(max(ds.n_frames, 1))]
        self.table = [fr if isinstance(fr, dict) else {} for fr in table]
        self.n = len(table)
        # distinct (file, item, slot, slot type) tuples -> groups; frames of one slot share a tuple
        codes: dict[tuple, int] = {}
        per_frame = [
            codes.setdefault(
                (fr.get("darwin_file"), fr.get("item"), fr.get("slot"), fr.get("slot_type")), len(codes)
            )
            for fr in self.table
        ]
        self.groups: list[_Group] = []
        index: dict[tuple[str, str], int] = {}
        to_group = []
        for file, name, slot, slot_type in codes:
            if not (isinstance(file, str) and file in self.items):
                name = str(name) if name is not None else default_name
                file = "new:" + name
                self.items.setdefault(file, _Item(file, None, name))
            it = self.items[file]
            slots = it.meta.get("slots", []) if it.meta else []
            slot = str(slot if slot is not None else slots[0] if slots else "0")
            if (file, slot) not in index:
                index[file, slot] = len(self.groups)
                grp = _Group(it, slot, str(slot_type) if slot_type else None)
                it.groups[slot] = grp
                self.groups.append(grp)
            to_group.append(index[file, slot])
        self.gid = np.asarray(to_group, np.intp)[np.asarray(per_frame, np.intp)]
        self.local = self._locals()
        for g, grp in enumerate(self.groups):
            grp.rows = np.flatnonzero(self.gid == g)
            grp.local = self.local[grp.rows]
            if grp.slot_type is None:
                grp.slot_type = "image" if grp.local.max() == 0 else "video"

    def _locals(self) -> np.ndarray:
        """Each frame's index inside its slot (``frame``, or its position there if missing)."""
        raw = [fr.get("frame") for fr in self.table]
        if set(map(type, raw)) <= {int} and (not raw or min(raw) >= 0):
            local = np.asarray(raw, np.int64)
        else:
            local = np.zeros(self.n, np.int64)
            seen = [0] * len(self.groups)
            for g, (lf, grp) in enumerate(zip(raw, self.gid.tolist())):
                local[g] = int(lf) if _is_int(lf) and lf >= 0 else seen[grp]
                seen[grp] += 1
        pairs = self.gid.astype(np.int64) * (int(local.max(initial=0)) + 1) + local
        uniq, first, counts = np.unique(pairs, return_index=True, return_counts=True)
        if uniq.size != self.n:
            g = int(first[np.argmax(counts > 1)])
            grp = self.groups[self.gid[g]]
            raise FormatError(
                f"frame table: frame {int(local[g])} of item {grp.item.name!r}, slot {grp.slot!r} "
                "is listed twice"
            )
        return local


# -- one track -> annotations -------------------------------------------------------------------
def _is_linear(store: AnnotationStore) -> bool:
    """Whether the store interpolates linearly (V7's ``linear-1.1``); else frames say it all."""
    return (getattr(store, "method", None) or "linear") == "linear"


def _spans_to_alive(spans: Any, hidden: Any, frames_read: list[int]) -> np.ndarray:
    """Local frames alive by the kept ranges/hidden_areas (as the reader computed them)."""
    if spans is None:
        spans = [[min(frames_read), max(frames_read) + 1]] if frames_read else []
    alive: set[int] = set()
    for a, b in spans:
        alive.update(range(a, b))
    for a, b in hidden or ():
        alive.difference_update(range(a, b))
    return np.array(sorted(alive), np.int64)


def _runs(frames: np.ndarray) -> list[list[int]]:
    if frames.size == 0:
        return []
    cut = np.flatnonzero(np.diff(frames) != 1) + 1
    starts = np.concatenate(([0], cut))
    stops = np.concatenate((cut, [frames.size]))
    return [[int(frames[a]), int(frames[b - 1]) + 1] for a, b in zip(starts, stops)]


def _node_lists(
    store: AnnotationStore, t: Track, rows: np.ndarray, lab: np.ndarray
) -> tuple[list[list[dict[str, Any]]], np.ndarray]:
    """Node dicts per written row (labelled nodes only), vectorised over the rows."""
    sub = lab[rows]
    r_idx, k_idx = np.nonzero(sub)
    abs_rows = rows[r_idx]
    xy = to_file_xy(t.coords[abs_rows, k_idx], DARWIN_OFFSET)
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = np.round(xy, _DECIMALS)  # overflows for |x| > ~1e298: keep those as they are
    xy = np.where(np.isfinite(rounded), rounded, xy)
    xs, ys = xy[:, 0].tolist(), xy[:, 1].tolist()
    occ = (t.visibility[abs_rows, k_idx] == 1).tolist()
    names = np.asarray(store.skeleton.nodes, dtype=object)[k_idx].tolist()
    flat = [{"name": n, "occluded": o, "x": x, "y": y} for n, o, x, y in zip(names, occ, xs, ys)]
    counts = sub.sum(axis=1)
    k = store.n_nodes
    if (counts == k).all():
        lists = [flat[i : i + k] for i in range(0, len(flat), k)]
    else:
        ends = np.cumsum(counts).tolist()
        lists = [flat[a:b] for a, b in zip([0, *ends[:-1]], ends)]
    return lists, counts


def _annotation(
    store: AnnotationStore, kind: str, t: Track, rows: np.ndarray, grp: _Group, lay: _Layout,
    lab: np.ndarray, meta: dict[str, Any] | None,
) -> dict[str, Any] | None:  # fmt: skip
    """The Darwin annotation of track ``t`` on ``rows`` (block rows inside one slot)."""
    glob = t.start + rows
    local = lay.local[glob]
    has = lab[rows].any(axis=1)
    orig = np.zeros(rows.size, bool)
    if meta and meta.get("frames_read"):
        orig = np.isin(local, np.asarray(meta["frames_read"], np.int64))
    write = has | (orig & t.alive[rows])
    wrows, wlocal = rows[write], local[write]
    if kind == "keypoint":
        wrows, wlocal = wrows[has[write]], wlocal[has[write]]
    if wrows.size == 0:  # nothing placed: Darwin has no way to say "alive but empty"
        return None
    lists, counts = _node_lists(store, t, wrows, lab)
    keyf = (t.is_key[wrows] & lab[wrows]).any(axis=1).tolist()
    empty_kf = (meta or {}).get("empty_keyframes", {})
    fkeys = [str(f) for f in wlocal.tolist()]
    for i, c in enumerate(counts.tolist()):
        if c == 0:
            keyf[i] = bool(empty_kf.get(fkeys[i], False))
    node_extra = (meta or {}).get("node_extra", {})
    body_extra = (meta or {}).get("body_extra", {})
    frame_extra = (meta or {}).get("frame_extra", {})
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

    image = (
        (meta.get("image") if meta else grp.slot_type == "image")
        and wrows.size == 1
        and t.alive[rows].sum() <= 1
        and fkeys == ["0"]
    )
    drop = {"bounding_box"} if kind == "skeleton" else set()
    if not image and meta is not None and not _is_linear(store):
        drop.add("interpolate_algorithm")  # the frames hold the non-linear positions; do not re-interpolate
    content: dict[str, Any] = {"name": store.name}
    extra = {k: v for k, v in (meta or {}).get("extra", {}).items() if k not in drop}
    if image:
        if not bodies:
            return None
        content[kind] = bodies[0]
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
        if meta is not None and np.array_equal(
            alive_local,
            _spans_to_alive(
                meta.get("ranges"),
                (meta.get("extra") or {}).get("hidden_areas"),
                meta.get("frames_read") or [],
            ),
        ):
            if meta.get("ranges") is not None:
                content[rkey] = meta["ranges"]
        else:
            content[rkey] = _runs(alive_local)
            extra.pop("hidden_areas", None)
    if not image and meta is not None and not _is_linear(store) and "interpolated" in extra:
        extra["interpolated"] = False
    if meta is not None:
        keys = [k for k in meta.get("keys", []) if k in content or k in extra]
        out = {k: content[k] if k in content else extra[k] for k in keys}
        out.update((k, v) for k, v in content.items() if k not in out)
        out.update((k, v) for k, v in extra.items() if k not in out)
        return out
    out = {"frames": content["frames"]} if not image else {}
    out["id"] = str(uuid.uuid4())
    out["instance_id"] = {"value": int(t.track_id)}  # keeps our track id through V7 and back
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
    return out


def _track_annotations(store: AnnotationStore, kind: str, t: Track, lay: _Layout) -> None:
    lab = ~np.isnan(t.coords[..., 0]) & (t.visibility > 0)  # placed (NaN = absent)
    bad = lab & ~np.isfinite(t.coords).all(axis=-1)
    if bad.any():
        r, k = np.argwhere(bad)[0]
        raise FormatError(
            f"class {store.name!r}, track {t.track_id}, frame {t.start + int(r)}, node "
            f"{store.skeleton.nodes[k]!r}: position is not finite ({t.coords[r, k].tolist()})"
        )
    used = lab.any(axis=1) | t.alive
    if t.stop > lay.n:
        cut = max(lay.n - t.start, 0)
        bad = np.flatnonzero(lab[cut:].any(axis=1))
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
        if home:
            grp.item.home[meta["ref"]] = ann
        else:
            grp.item.new.append(ann)


# -- items -> documents -------------------------------------------------------------------------
def _new_template(it: _Item, table: list[dict[str, Any]]) -> dict[str, Any]:
    slots = []
    for grp in it.groups.values():
        n = int(grp.local.max()) + 1
        frames = [table[g] for g in grp.rows.tolist()]
        typ = grp.slot_type if grp.slot_type != "image" or n == 1 else "video"
        s: dict[str, Any] = {"type": typ, "slot_name": grp.slot}
        for dim in ("width", "height"):
            v = next((fr[dim] for fr in frames if _is_num(fr.get(dim))), None)
            if v is not None:
                s[dim] = int(v) if float(v).is_integer() else float(v)
        if typ != "image":
            by_local = dict(zip(grp.local.tolist(), frames))
            urls = []
            for lf in range(n):
                fr = by_local.get(lf, {})
                u = fr.get("url") or fr.get("file_name")
                urls.append(str(u) if u else f"{safe_name(it.name)}/frame_{lf:06d}")
            s["frame_count"] = n
            s["frame_urls"] = urls
        s["source_files"] = [{"file_name": it.name}]
        slots.append(s)
    item = {"name": it.name, "path": "/", "slots": slots}
    return {"version": "2.0", "schema_ref": SCHEMA_REF, "item": item, "annotations": None, "properties": []}


def build_documents(ds: Dataset, default_name: str = "item") -> list[tuple[_Item, dict[str, Any]]]:
    """Every output item with its Darwin document, in order (kept items first)."""
    lay = _Layout(ds, default_name)
    for store in ds.stores:
        sk_meta = store.meta.get("darwin") if isinstance(store.meta.get("darwin"), dict) else {}
        kind = sk_meta.get("kind", "skeleton")
        kind = "keypoint" if kind == "keypoint" and store.n_nodes == 1 else "skeleton"
        if store.coord_ndim != 2:
            raise FormatError(
                f"class {store.name!r} has {store.coord_ndim}-D nodes; Darwin holds 2-D (x, y) only"
            )
        for t in store:
            _track_annotations(store, kind, t, lay)
    out = []
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
        doc = {k: (anns if k == "annotations" else v) for k, v in template.items()}
        doc.setdefault("annotations", anns)
        out.append((it, doc))
    return out


def _file_names(items: list[_Item]) -> list[str]:
    names, seen = [], set()
    for it in items:
        if it.meta is not None and not Path(it.key).is_absolute() and ".." not in Path(it.key).parts:
            name = it.key
        else:
            name = safe_name(Path(it.name).stem or it.name) + ".json"
        base, n = name[: -len(".json")] if name.endswith(".json") else name, 1
        while name in seen:
            name = f"{base}_{n}.json"
            n += 1
        seen.add(name)
        names.append(name)
    return names


def write_darwin(dataset: Dataset, path: str | PathLike[str], *, skeleton_file: bool = True) -> list[Path]:
    """Write a dataset as V7 Darwin JSON 2.0.

    Parameters
    ----------
    dataset
        The dataset; items read from Darwin are written back with everything they held.
    path
        A ``.json`` file (the dataset must hold one item) or a folder (one ``<item>.json`` per
        item; kept items keep their file names).
    skeleton_file
        Also write each class's skeleton as ``<class>.skeleton.json`` beside the output, so
        reading the output back keeps edges, colours and flip pairs.

    Returns
    -------
    list of Path
        The files written (Darwin files first, then skeleton files).

    Raises
    ------
    FormatError
        If the dataset cannot be written as Darwin (nothing is written then).

    """
    path = Path(path)
    single = path.suffix.lower() == ".json"
    with gc_paused():
        docs = build_documents(dataset, safe_name(path.stem) if single else "item")
    if single:
        if len(docs) != 1:
            raise FormatError(f"the dataset holds {len(docs)} items; write them to a folder", path)
        targets = [path]
        folder = path.parent
    else:
        if path.exists() and not path.is_dir():
            raise FormatError("not a folder (give a .json file name to write one item)", path)
        folder = path
        targets = [path / n for n in _file_names([it for it, _ in docs])]
    with gc_paused():
        payloads = [(p, dumps_json(doc)) for p, (_, doc) in zip(targets, docs)]
    del docs
    skel = []
    if skeleton_file:
        for store in dataset.stores:
            skel.append((folder / (safe_name(store.name) + SKELETON_FILE_SUFFIX), store.skeleton))
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for p, data in payloads:
            p.parent.mkdir(parents=True, exist_ok=True)
            written.append(atomic_write_bytes(p, data))
        for p, sk in skel:
            written.append(sk.save(p))
    except OSError as exc:
        raise FormatError(
            f"cannot write ({exc.strerror or exc})", getattr(exc, "filename", None) or path
        ) from None
    return written
