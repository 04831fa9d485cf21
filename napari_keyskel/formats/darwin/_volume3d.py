"""3D skeletons in volumes as V7 Darwin: one ``keypoint`` per node on its slice of a ``dicom`` slot.

A store with (z, y, x) nodes (``coord_ndim=3``) is written as V7 shows a volume: one item with a
``dicom`` slot ``"0"`` whose frames are the slices (``frame_count`` = slices: the furthest node's
slice + 1, or the count read). Each labelled node is one ``keypoint`` annotation of the class on
the frame of its slice (``round(z)``), ``instance_id.value`` = the track id (ties the nodes of one
instance), and a ``keyskel`` extra ``{"node", "skeleton"}`` (+ ``z`` when not on a slice centre,
``v: 1`` when occluded, ``key: false`` for an interpolated node, ``score``). Keypoints measure
from the pixel corner (x = col + 0.5). The document's ``keyskel.volume3d`` holds the class tables
(:mod:`.._volume`) in the first item and the time point in every item.

A time series of volumes, (t, z, y, x) (``frame_axis=0``): a V7 dicom slot holds one volume, so
each time point is **one Darwin item** (file ``<item>_t0003.json`` in a folder); the items read
back in time order.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...errors import FormatError
from .._checks import is_num, warn
from .._coords import DARWIN_OFFSET, DECIMALS
from .._sidefiles import safe_name
from .._volume import (
    VOLUME_KEY,
    check_volume_dataset,
    class_table,
    labelled_rows,
    put_rows,
    slice_of,
    stores_from_tables,
    time_entries,
)

__all__ = ["VolumeItem", "is_volume_doc", "volume_dataset", "volume_documents"]

_SCHEMA_REF = "https://darwin-public.s3.eu-west-1.amazonaws.com/darwin_json/2.0/schema.json"
_NS = uuid.UUID("7d0c2b1e-5a57-4c1b-9e33-6b6579736b65")


class VolumeItem:
    """An output item as :func:`._write._file_names` sees one (new: no kept meta)."""

    def __init__(self, name: str) -> None:
        self.key, self.meta, self.name = "new:" + name, None, name


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def is_volume_doc(obj: Any) -> bool:
    """Whether a parsed Darwin document is one of our volume files."""
    return isinstance(obj, dict) and isinstance(obj.get("keyskel"), dict) and VOLUME_KEY in obj["keyskel"]


def _num(v: float) -> float | int:
    v = round(float(v), DECIMALS)
    return int(v) if v.is_integer() else v


def volume_documents(
    ds: AnnotationSet, default_name: str, path: Any
) -> list[tuple[VolumeItem, dict[str, Any]]]:
    """One Darwin document per time point (one for a single volume)."""
    fa = check_volume_dataset(ds, path)
    rows = labelled_rows(ds, path)
    times = time_entries(ds, fa, rows, default_name)
    tables = [class_table(s, path) for s in ds.stores]
    xy = np.round(rows.zyx[:, :0:-1] + DARWIN_OFFSET, DECIMALS)
    z = slice_of(rows.zyx[:, 0])
    out = []
    for ti, te in enumerate(times):
        here = np.flatnonzero(rows.frame == ti) if fa is not None else np.arange(rows.frame.size)
        anns = []
        for i in here.tolist():
            s = ds.stores[rows.cls[i]]
            node = s.skeleton.nodes[rows.node[i]]
            zi = int(z[i])
            ks: dict[str, Any] = {"node": node, "skeleton": s.skeleton.name}
            if rows.zyx[i, 0] != zi:
                ks["z"] = float(rows.zyx[i, 0])
            if rows.vis[i] == 1:
                ks["v"] = 1
            if not rows.key[i]:
                ks["key"] = False
            if np.isfinite(rows.score[i]):
                ks["score"] = float(rows.score[i])
            tid = int(rows.track[i])
            ident = f"{s.name}\x00{tid}\x00{node}\x00{ti}"
            anns.append(
                {
                    "frames": {
                        str(zi): {
                            "keyframe": bool(rows.key[i]),
                            "keypoint": {"x": _num(xy[i, 0]), "y": _num(xy[i, 1])},
                        }
                    },
                    "id": str(uuid.uuid5(_NS, ident)),
                    "instance_id": {"value": tid},
                    "interpolated": False,
                    "name": s.name,
                    "properties": [],
                    "ranges": [[zi, zi + 1]],
                    "slot_names": ["0"],
                    "keyskel": ks,
                }
            )
        n = te["slices"]
        slot: dict[str, Any] = {"type": "dicom", "slot_name": "0"}
        slot.update({d: te[d] for d in ("width", "height") if d in te})
        slot["frame_count"] = n
        slot["frame_urls"] = [f"{safe_name(te['item'])}/slice_{k:06d}" for k in range(n)]
        slot["source_files"] = [{"file_name": te["item"]}]
        vol: dict[str, Any] = {"time": ti if fa is not None else None, "slices": n}
        if ti == 0:
            vol["classes"] = tables
        doc = {
            "version": "2.0",
            "schema_ref": _SCHEMA_REF,
            "item": {"name": te["item"], "path": "/", "slots": [slot]},
            "annotations": anns,
            "properties": [],
            "keyskel": {VOLUME_KEY: vol},
        }
        out.append((VolumeItem(te["item"]), doc))
    return out


def _time_of(doc: dict[str, Any], path: Any) -> int:
    t = doc["keyskel"][VOLUME_KEY].get("time") if isinstance(doc["keyskel"][VOLUME_KEY], dict) else "?"
    if t is None:
        return 0
    if type(t) is not int or t < 0:
        raise FormatError(f"keyskel.{VOLUME_KEY}.time: expected null or an integer >= 0, got {t!r}", path)
    return t


def volume_dataset(docs: list[tuple[dict[str, Any], Any]], source: str) -> AnnotationSet:
    """Read our volume documents (each with the path it came from) back into 3-D stores."""
    docs = sorted(docs, key=lambda dp: _time_of(*dp))
    heads = [d["keyskel"][VOLUME_KEY] for d, _ in docs if "classes" in d["keyskel"][VOLUME_KEY]]
    if len(heads) != 1:
        raise FormatError(
            f"a volume file set needs exactly one document with the class tables, found {len(heads)}",
            docs[0][1],
        )
    stores = stores_from_tables(heads[0]["classes"], docs[0][1])
    by_name = {s.name: s for s in stores}
    frames = []
    for doc, p in docs:
        t = _time_of(doc, p)
        item = _dict(doc.get("item"))
        slots = item.get("slots") if isinstance(item.get("slots"), list) else []
        slot = slots[0] if slots and isinstance(slots[0], dict) else {}
        fr: dict[str, Any] = {"item": str(item.get("name", "")), "frame": t}
        fr.update(slot="0", slot_type="dicom")
        if type(slot.get("frame_count")) is int:
            fr["slices"] = slot["frame_count"]
        fr.update({d: slot[d] for d in ("width", "height") if type(slot.get(d)) is int})
        frames.append(fr)
        anns = doc.get("annotations")
        if not isinstance(anns, list):
            raise FormatError("'annotations' must be a list", p)
        for ai, a in enumerate(anns):
            _read_annotation(a, by_name, t, p, f"annotations[{ai}]")
    fa = stores[0].frame_axis if stores else None
    return AnnotationSet(stores=stores, frames=frames if fa is not None else frames[:1], source=source)


def _read_annotation(a: Any, by_name: dict, t: int, p: Any, where: str) -> None:
    ks = a.get("keyskel") if isinstance(a, dict) else None
    store = by_name.get(a.get("name")) if isinstance(a, dict) else None
    if not isinstance(ks, dict) or store is None or ks.get("node") not in store.skeleton.nodes:
        warn("not a node of a 3D skeleton written by keyskel (no keyskel node extra): skipped", p, where)
        return
    frames = a.get("frames")
    inst = a.get("instance_id")
    tid = inst.get("value") if isinstance(inst, dict) else None
    if not isinstance(frames, dict) or len(frames) != 1 or type(tid) is not int:
        raise FormatError(f"{where}: a node needs one frame and an integer instance_id.value", p)
    (fk, fd), = frames.items()  # fmt: skip
    kp = fd.get("keypoint") if isinstance(fd, dict) else None
    if not (fk.isdigit() and isinstance(kp, dict) and is_num(kp.get("x")) and is_num(kp.get("y"))):
        raise FormatError(f"{where}.frames: expected {{slice: {{'keypoint': {{'x', 'y'}}}}}}", p)
    z = ks.get("z", int(fk))
    score = ks.get("score")
    if not is_num(z) or not (score is None or is_num(score)) or ks.get("v", 2) not in (1, 2):
        raise FormatError(f"{where}.keyskel: 'z' and 'score' must be numbers, 'v' 1 or 2", p)
    x, y = float(kp["x"]) - DARWIN_OFFSET, float(kp["y"]) - DARWIN_OFFSET
    zyx = (float(z), round(y, DECIMALS), round(x, DECIMALS))
    key = ks.get("key", True) is not False
    put_rows(store, tid, t, store.skeleton.index(ks["node"]), zyx, ks.get("v", 2), key, score, p, where)
