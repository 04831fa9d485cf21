"""The images and categories of a written COCO document (the table half of :mod:`._write`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence, Set
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...core.interpolate import Method
from ...core.presets import match_preset
from ...core.skeleton import Skeleton
from ...core.store import AnnotationStore
from ...errors import FormatError
from .._checks import INT64_MAX, fill_fresh_ids
from ._rules import DEFAULT_ITEM, IMAGE_FIELDS, is_id

__all__ = ["category", "foreign_meta", "frame_table", "image_table", "sigmas_for", "unique_ids"]

_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"}
#: Frame-table keys that map to image fields; other keys travel in ``"keyskel": {"frame": ...}``.
_FRAME_KEYS = frozenset({"item", "frame", "slot", "width", "height", "file_name", "image_id", "coco"})


def foreign_meta(meta: Any) -> dict[str, Any]:
    """The parts of a meta dict owned by other formats (all but ``coco``)."""
    return {k: v for k, v in meta.items() if k != "coco"} if isinstance(meta, dict) else {}


# -- frames / images -------------------------------------------------------------------------------
def frame_table(dataset: AnnotationSet, path: Any) -> list[dict[str, Any]]:
    n = dataset.n_frames
    for s in dataset.stores:
        stop = s.frame_range()[1]
        if stop > n:
            raise FormatError(
                f"store {s.name!r} has frame {stop - 1}, but the frame table has {n} frames", path
            )
    if dataset.frames:
        return dataset.frames
    return [{"item": DEFAULT_ITEM, "frame": f} for f in range(max(n, 1 if dataset.stores else 0))]


def unique_ids(wanted: Sequence[Any], reserved: Set[Any] = frozenset()) -> list[Any]:
    """Keep each valid, unused wanted id; give the others fresh integers above every id seen."""
    plain = bool(wanted) and set(map(type, wanted)) == {int} and len(set(wanted)) == len(wanted)
    if plain and min(wanted) >= -(2**63) and max(wanted) <= INT64_MAX and reserved.isdisjoint(wanted):
        return list(wanted)  # (the common case, without a Python step per id)
    used = set(reserved)
    out: list[Any] = []
    for w in wanted:
        if is_id(w) and w not in used:
            used.add(w)
            out.append(w)
        else:
            out.append(None)
    return fill_fresh_ids(out, used)


def _file_name(item: str, frame: int, slot: Any, single: bool, multislot: bool) -> str:
    p = PurePosixPath(item)
    if single and frame == 0 and p.suffix.lower() in _IMAGE_EXT:
        return item
    stem = item[: -len(p.suffix)] if p.suffix else item
    if multislot and slot is not None:
        stem = f"{stem}/{slot}"
    return f"{stem}/frame_{int(frame):06d}.png"


def image_table(frames: list[dict[str, Any]], ids: list[Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The images, and the frame-table keys COCO has no field for, of images read from COCO.

    Those keys (V7's slot type and file, say) go into the document's ``keyskel.frames`` keyed by
    image id, so an image read from COCO is written back exactly as it was; images made here
    carry them in their own ``keyskel.frame``.
    """
    moved: dict[str, Any] = {}
    per_item = Counter(fr.get("item") for fr in frames)
    slots: dict[Any, set[Any]] = {}
    for fr in frames:
        slots.setdefault(fr.get("item"), set()).add(fr.get("slot"))
    out = []
    for f, (fr, iid) in enumerate(zip(frames, ids)):
        img: dict[str, Any] = {"id": iid}
        if isinstance(fr.get("coco"), dict):  # read from COCO: its keys, with item/frame/slot updated
            for key in IMAGE_FIELDS[1:]:
                if key in fr:
                    img[key] = fr[key]
            img.update({k: v for k, v in fr["coco"].items() if k not in IMAGE_FIELDS})
            for key, src in (("frame_index", "frame"), ("item", "item"), ("slot", "slot")):
                if key in img and src in fr:
                    img[key] = fr[src]
        else:
            item = str(fr.get("item") or DEFAULT_ITEM)
            frame = int(fr.get("frame", f))
            single, multi = per_item[fr.get("item")] == 1, len(slots[fr.get("item")]) > 1
            img["file_name"] = fr.get("file_name") or _file_name(item, frame, fr.get("slot"), single, multi)
            for key in ("width", "height"):
                if fr.get(key) is not None:
                    img[key] = fr[key]
            img["frame_index"] = frame
            img["item"] = item
            if fr.get("slot") is not None:
                img["slot"] = fr["slot"]
        extra = {k: v for k, v in fr.items() if k not in _FRAME_KEYS}
        if extra and isinstance(fr.get("coco"), dict):
            moved[json.dumps(iid)] = extra
        elif extra:
            img["keyskel"] = {"frame": extra}
        out.append(img)
    return out, moved


# -- categories --------------------------------------------------------------------------------------
def sigmas_for(store: AnnotationStore, oks_sigmas: Any, path: Any) -> list[float] | None:
    if oks_sigmas is None:
        return None
    sig = oks_sigmas.get(store.name) if isinstance(oks_sigmas, Mapping) else oks_sigmas
    if sig is None:
        return None
    arr = np.asarray(sig, dtype=float).ravel()
    if arr.size != store.n_nodes or not (np.isfinite(arr) & (arr > 0)).all():
        raise FormatError(
            f"oks_sigmas of category {store.name!r} must be {store.n_nodes} positive numbers, got {arr.size}",
            path,
        )
    return arr.tolist()


def _skeleton_extra(store: AnnotationStore) -> dict[str, Any] | None:
    """The skeleton for our category extra, if its colours or flip pairs are not what a reader finds.

    A reader without the extra gets a preset's colours and pairs (by node names), else the
    default palette and no pairs; the extra is written only when the skeleton differs from that,
    or when its nodes have descriptions (kept in the extra's node entries).
    """
    sk = store.skeleton
    preset = match_preset(list(sk.nodes))
    if preset is not None:
        plain = Skeleton(sk.nodes, sk.edges, preset.colors, preset.flip_pairs, sk.name)
    else:
        plain = Skeleton(sk.nodes, sk.edges, None, None, sk.name)
    if plain.colors == sk.colors and set(plain.flip_pairs) == set(sk.flip_pairs) and not any(sk.descriptions):
        return None
    d = sk.to_dict()
    return {"nodes": d["nodes"], "flip_pairs": d["flip_pairs"]}


def category(store: AnnotationStore, cid: Any, sigmas: list[float] | None) -> dict[str, Any]:
    coco = store.meta.get("coco") if isinstance(store.meta.get("coco"), dict) else None
    base = dict(coco.get("category", {})) if coco else {}
    cat: dict[str, Any] = {"id": cid, "name": store.name}
    if coco is None:
        cat["supercategory"] = store.name
    nodes = list(store.skeleton.nodes)
    nameless = coco.get("nameless") if coco else None
    if nameless and nodes == [f"kp{i}" for i in range(len(nodes))]:
        if nameless == "empty":
            cat["keypoints"] = []
    else:
        cat["keypoints"] = nodes
    edges = [[i + 1, j + 1] for i, j in store.skeleton.edges]
    orig = base.get("skeleton")
    try:
        same = (
            isinstance(orig, list)
            and len(orig) == len(edges)
            and {frozenset(e) for e in orig} == {frozenset(e) for e in edges}
        )
    except TypeError:
        same = False
    if same:
        cat["skeleton"] = orig
    elif edges or coco is None or "skeleton" in base:
        cat["skeleton"] = edges
    cat.update({k: v for k, v in base.items() if k not in ("id", "skeleton")})
    if sigmas is not None:
        cat["oks_sigmas"] = sigmas
    extra: dict[str, Any] = {}
    if foreign_meta(store.meta):
        extra["meta"] = foreign_meta(store.meta)
    sk_extra = _skeleton_extra(store)
    if sk_extra is not None:
        extra["skeleton"] = sk_extra
    if str(store.method) != Method.LINEAR.value:  # reopens with the method it was saved with
        extra["method"] = str(store.method)
    if store.bridge_unlabelled:
        extra["bridge_unlabelled"] = True
    if extra:
        cat["keyskel"] = extra
    return cat
