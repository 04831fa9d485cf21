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

from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ...core._atomic import AtomicWriteError, atomic_write_many
from ...core.annotation_set import AnnotationSet
from ...core.interpolate import Method
from ...core.presets import match_preset
from ...core.skeleton import Skeleton
from ...errors import FormatError
from .._checks import MAX_FRAMES, is_num, kept_data_guard, short
from .._jsonio import dumps_json, gc_paused
from .._sidefiles import safe_name, side_file_names
from .._volume import is_volume_dataset
from ._annotations import foreign, object_or_empty, track_annotations
from ._layout import Group, Item, Layout
from ._parse import SlotInfo, _Ctx, _item_v1, _item_v2
from ._volume3d import VolumeItem, volume_documents

__all__ = ["SCHEMA_REF", "build_documents", "export_folder_for", "safe_name", "write_darwin"]

SCHEMA_REF = "https://darwin-public.s3.eu-west-1.amazonaws.com/darwin_json/2.0/schema.json"
#: Frame-table keys V7 holds itself (others travel in the document extra).
_FRAME_OWN = frozenset(
    {"item", "slot", "frame", "slot_type", "darwin_file", "width", "height", "fps", "frame_count"}
)


# -- items -> documents -------------------------------------------------------------------------
def made_keys(frames: list[dict[str, Any]]) -> list[str]:
    """The frame-table keys the writer makes up for one slot's frames (none of them has it)."""
    return [k for k in ("slot", "slot_type") if all(fr.get(k) is None for fr in frames)]


def _slot_size(grp: Group) -> int:
    n = int(grp.local.max()) + 1
    if n > max(MAX_FRAMES, grp.local.size):
        raise FormatError(
            f"frame table: item {short(grp.item.name)}, slot {short(grp.slot)} would need {n} frames for the "
            f"{grp.local.size} it lists"
        )
    return n


def _media_slot(slot: dict[str, Any], frames: list[dict[str, Any]], n: int) -> int:
    """A video's own ``fps`` and frame count, when its frame table carries them (a media layer)."""
    fps = next((fr["fps"] for fr in frames if is_num(fr.get("fps"))), None)
    if fps is not None:
        slot["fps"] = int(fps) if float(fps).is_integer() else float(fps)
    count = next((fr["frame_count"] for fr in frames if is_num(fr.get("frame_count"))), None)
    return max(n, int(count)) if count is not None else n


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
            n = _media_slot(s, frames, n)
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
        dm = object_or_empty(s.meta.get("darwin"))
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
            or any(sk.descriptions)
            or not len(s)
        ):
            e["skeleton"] = Skeleton(
                sk.nodes, sk.edges, sk.colors, sk.flip_pairs, s.name, descriptions=sk.descriptions
            ).to_dict()
            needed = True
        if foreign(s.meta):
            e["meta"] = foreign(s.meta)
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
        sk_meta = object_or_empty(store.meta.get("darwin"))
        kind = sk_meta.get("kind", "skeleton")
        kind = "keypoint" if kind == "keypoint" and store.n_nodes == 1 else "skeleton"
        if store.coord_ndim != 2:
            raise FormatError(
                f"class {store.name!r} has {store.coord_ndim}-D nodes; Darwin holds 2-D (x, y) only"
            )
        for t in sorted(store, key=lambda t: t.track_id):  # (as readers order them: stable files)
            track_annotations(store, kind, t, lay)
    classes, dmeta = _classes_extra(ds), foreign(ds.meta)
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
            sk = Skeleton(
                sk.nodes, sk.edges, sk.colors, sk.flip_pairs, store.name, descriptions=sk.descriptions
            )
            payloads.append((folder / fname, dumps_json(sk.to_dict(), indent=True) + b"\n"))
    try:
        return atomic_write_many(payloads)
    except AtomicWriteError as exc:
        raise FormatError(
            f"cannot write ({exc.strerror or exc}); no file was replaced", exc.filename
        ) from None
