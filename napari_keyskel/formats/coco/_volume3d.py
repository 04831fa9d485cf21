"""3D skeletons in volumes as COCO: one image per slice, the nodes of that slice as keypoints.

A store with (z, y, x) nodes (``coord_ndim=3``) becomes one COCO image per slice of each volume
(per time point for (t, z, y, x)): ``file_name`` ``<item>/slice_0003.png`` and an image extra
``keyskel: {"t", "z"}``. Each instance with nodes on a slice has one annotation there whose
``keypoints`` hold those nodes (x = col, y = row, v 2 visible / 1 occluded; other nodes 0, 0, 0),
with ``bbox``/``area`` of them, so pycocotools loads and evaluates the file per slice. Its
``keyskel`` extra holds ``track`` (the instance), ``xyz`` (the full (x, y, z) of every node of the
instance, null where absent) and, where they differ from the default, ``key`` and ``score`` lists.
The reader takes each node from the slice annotation that shows it (z from ``xyz``). The top
level ``keyskel.volume3d`` holds the class tables (:mod:`.._volume`) and the volumes' items.
Results files (``results=True``) are not written for 3-D stores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...errors import FormatError
from .._checks import is_num, warn
from .._coords import COCO_OFFSET
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

__all__ = ["is_volume_coco", "volume_coco_dataset", "volume_coco_document"]


def is_volume_coco(obj: Any) -> bool:
    """Whether a parsed COCO document is one of our volume files."""
    return isinstance(obj, dict) and isinstance(obj.get("keyskel"), dict) and VOLUME_KEY in obj["keyskel"]


def _num(v: float) -> float | int:
    v = float(v)
    return int(v) if v.is_integer() else v


def volume_coco_document(ds: AnnotationSet, results: bool, path: Any) -> dict[str, Any]:
    """The COCO document of a volume dataset (see the module docstring)."""
    if results:
        raise FormatError(
            "COCO results files hold 2-D keypoints only; write 3-D stores as ground truth", path
        )
    fa = check_volume_dataset(ds, path)
    rows = labelled_rows(ds, path)
    times = time_entries(ds, fa, rows, "volume")
    z = slice_of(rows.zyx[:, 0])
    t_of = rows.frame if fa is not None else np.zeros(rows.frame.size, np.int64)
    images: list[dict[str, Any]] = []
    image_id: dict[tuple[int, int], Any] = {}
    for ti, te in enumerate(times):
        for k in range(te["slices"]):
            image_id[ti, k] = len(images) + 1
            file_name = f"{safe_name(te['item'])}/slice_{k:04d}.png"
            im: dict[str, Any] = {"id": len(images) + 1, "file_name": file_name}
            im.update({d: te[d] for d in ("width", "height") if d in te})
            im["keyskel"] = {"t": ti, "z": k}
            images.append(im)
    cats = []
    for ci, s in enumerate(ds.stores):
        cats.append(
            {
                "id": ci + 1,
                "name": s.name,
                "supercategory": s.skeleton.name,
                "keypoints": list(s.skeleton.nodes),
                "skeleton": [[i + 1, j + 1] for i, j in s.skeleton.edges],
            }
        )
    anns: list[dict[str, Any]] = []
    # one instance at one time point = rows with equal (time, class, track): contiguous (sorted)
    inst = np.stack([t_of, rows.cls, rows.track], axis=1) if rows.frame.size else np.zeros((0, 3), np.int64)
    bounds = np.flatnonzero(np.any(np.diff(inst, axis=0) != 0, axis=1)) + 1
    for g in np.split(np.arange(rows.frame.size), bounds) if rows.frame.size else []:
        ti, ci, tid = (int(v) for v in inst[g[0]])
        k = ds.stores[ci].n_nodes
        xyz: list[Any] = [None] * k
        key: list[bool] = [True] * k
        score: list[Any] = [None] * k
        for i in g.tolist():
            n = int(rows.node[i])
            y, x = rows.zyx[i, 1:] + COCO_OFFSET
            xyz[n] = [_num(x), _num(y), _num(rows.zyx[i, 0])]
            key[n] = bool(rows.key[i])
            score[n] = float(rows.score[i]) if np.isfinite(rows.score[i]) else None
        extra: dict[str, Any] = {"track": tid, "xyz": xyz}
        if not all(key):
            extra["key"] = key
        if any(v is not None for v in score):
            extra["score"] = score
        for zi in dict.fromkeys(z[g].tolist()):
            on = g[z[g] == zi]
            kps = [0] * (3 * k)
            for i in on.tolist():
                n = int(rows.node[i])
                kps[3 * n : 3 * n + 3] = [xyz[n][0], xyz[n][1], int(rows.vis[i])]
            xs, ys = rows.zyx[on, 2] + COCO_OFFSET, rows.zyx[on, 1] + COCO_OFFSET
            w, h = float(xs.max() - xs.min()), float(ys.max() - ys.min())
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id[ti, zi],
                    "category_id": ci + 1,
                    "keypoints": kps,
                    "num_keypoints": int(on.size),
                    "bbox": [_num(xs.min()), _num(ys.min()), _num(w), _num(h)],
                    "area": _num(w * h),
                    "iscrowd": 0,
                    "keyskel": extra,
                }
            )
    vol = {"frame_axis": fa, "items": times, "classes": [class_table(s, path) for s in ds.stores]}
    return {
        "info": {"description": "3D skeletons in volumes, one image per slice (napari-keyskel)"},
        "images": images,
        "annotations": anns,
        "categories": cats,
        "keyskel": {VOLUME_KEY: vol},
    }


def volume_coco_dataset(obj: dict[str, Any], path: Any) -> AnnotationSet:
    """Read our volume COCO document back into 3-D stores."""
    vol = obj["keyskel"][VOLUME_KEY]
    if not isinstance(vol, dict) or not isinstance(vol.get("items"), list):
        raise FormatError(f"keyskel.{VOLUME_KEY}: expected an object with 'items' and 'classes'", path)
    stores = stores_from_tables(vol.get("classes"), path)
    for key in ("images", "annotations", "categories"):
        if not isinstance(obj.get(key), list):
            raise FormatError(f"a COCO file needs an '{key}' list", path)
    where_t: dict[Any, tuple[int, int]] = {}
    for i, im in enumerate(obj["images"]):
        ks = im.get("keyskel") if isinstance(im, dict) else None
        if not (isinstance(ks, dict) and type(ks.get("t")) is int and type(ks.get("z")) is int):
            raise FormatError(f"images[{i}]: a volume slice needs keyskel {{'t', 'z'}}", path)
        where_t[im.get("id")] = (ks["t"], ks["z"])
    cat_store = {}
    for i, c in enumerate(obj["categories"]):
        s = next((s for s in stores if isinstance(c, dict) and s.name == c.get("name")), None)
        if s is None:
            raise FormatError(f"categories[{i}]: not a class of the volume tables", path)
        cat_store[c.get("id")] = s
    for ai, a in enumerate(obj["annotations"]):
        where = f"annotations[{ai}]"
        known = isinstance(a, dict) and a.get("category_id") in cat_store and a.get("image_id") in where_t
        if not known:
            warn("not a slice annotation of a 3D skeleton (unknown image or category): skipped", path, where)
            continue
        s, (t, zi) = cat_store[a["category_id"]], where_t[a["image_id"]]
        ks, kps, k = a.get("keyskel"), a.get("keypoints"), s.n_nodes
        if not (isinstance(ks, dict) and type(ks.get("track")) is int and isinstance(ks.get("xyz"), list)):
            raise FormatError(f"{where}.keyskel: expected 'track' and 'xyz'", path)
        if not (isinstance(kps, list) and len(kps) == 3 * k and all(is_num(v) for v in kps)):
            raise FormatError(f"{where}.keypoints: expected {3 * k} numbers", path)
        xyz, key, score = ks["xyz"], ks.get("key", [True] * k), ks.get("score", [None] * k)
        if not (len(xyz) == len(key) == len(score) == k):
            raise FormatError(f"{where}.keyskel: 'xyz', 'key' and 'score' need {k} entries", path)
        for n in range(k):
            v = kps[3 * n + 2]
            if v == 0:
                continue
            p = xyz[n]
            node = s.skeleton.nodes[n]
            if v not in (1, 2) or not (isinstance(p, list) and len(p) == 3 and is_num(p[2])):
                raise FormatError(f"{where}: node {node!r} needs v 1 or 2 and a z in 'xyz'", path)
            if int(slice_of(np.array([p[2]]))[0]) != zi:
                raise FormatError(f"{where}: node {node!r} has z={p[2]}, not on slice {zi}", path)
            zyx = (float(p[2]), float(kps[3 * n + 1]) - COCO_OFFSET, float(kps[3 * n]) - COCO_OFFSET)
            sc = score[n] if is_num(score[n]) else None
            put_rows(s, ks["track"], t, n, zyx, int(v), key[n] is not False, sc, path, where)
    fa = stores[0].frame_axis if stores else None
    frames = []
    for ti, e in enumerate(vol["items"]):
        e = e if isinstance(e, dict) else {}
        fr = {"item": str(e.get("item", "")), "frame": ti, "slices": e.get("slices")}
        fr.update({d: e[d] for d in ("width", "height") if d in e})
        frames.append(fr)
    return AnnotationSet(stores=stores, frames=frames if fa is not None else frames[:1], source=str(path))
