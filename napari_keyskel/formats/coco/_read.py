"""COCO keypoints -> :class:`~napari_keyskel.dataset.Dataset` (the reading half of :mod:`.coco`).

See :mod:`napari_keyskel.formats.coco` for the mapping and the meta layout. Validation is done
on whole arrays where possible: the keypoints of every annotation of a category become one
``(N, K, 3)`` array, checked and grouped into tracks with numpy; only the unmodelled keys of each
annotation are collected in Python.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from ...dataset import Dataset
from ...errors import FormatError, SkeletonError
from ...presets import match_preset
from ...skeleton import SKELETON_FILE_SUFFIX, Skeleton
from ...store import AnnotationStore
from .._jsonio import loads_json
from ._rules import DEFAULT_ITEM, IMAGE_FIELDS, Ctx, is_id, is_int, is_num, where
from ._tracks import Cat, build_tracks, carried, sort_annotations

__all__ = ["SkeletonArg", "coco_from_obj", "load_coco_json", "looks_like_coco", "resolve_skeleton_arg"]

SkeletonArg = Skeleton | Mapping[str, Skeleton] | str | PathLike[str] | None

#: ``<item>/frame_000123.png``, ``<item>_frame12.jpg``, ``frame_5.png`` -> (item, frame)
FRAME_RE = re.compile(r"^(?P<item>.*?)[/\\_\-. ]?frame[_\-]?(?P<n>\d+)\.[A-Za-z0-9]+$", re.IGNORECASE)
_RESULT_KEYS = ("image_id", "category_id", "keypoints", "score")


def looks_like_coco(obj: Any) -> bool:
    """True for a parsed COCO ground-truth dict or a keypoint results list."""
    if isinstance(obj, dict):
        return all(isinstance(obj.get(k), list) for k in ("images", "annotations", "categories"))
    if isinstance(obj, list) and obj:
        first = obj[0]
        return isinstance(first, dict) and all(k in first for k in _RESULT_KEYS)
    return False


def load_coco_json(path: Path) -> Any:
    """Parse a file with orjson; if that fails, retry with :mod:`json`, which accepts ``NaN``.

    A file with ``NaN`` numbers is thus read, and its bad numbers are reported with their place
    by the validation below instead of as a bare syntax error.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read file ({exc.strerror or exc})", path) from None
    try:
        return loads_json(raw, path)
    except FormatError as first:
        try:
            return json.loads(raw)
        except (ValueError, TypeError, RecursionError):
            raise first from None


# -- skeletons ---------------------------------------------------------------------------------------
def resolve_skeleton_arg(skeleton: SkeletonArg) -> Skeleton | dict[str, Skeleton] | None:
    """Load a skeleton-file path; check a mapping holds skeletons."""
    if skeleton is None or isinstance(skeleton, Skeleton):
        return skeleton
    if isinstance(skeleton, Mapping):
        out: dict[str, Skeleton] = {}
        for k, v in skeleton.items():
            if isinstance(v, (str, PathLike)):
                v = _load_skeleton(Path(v))
            if not isinstance(v, Skeleton):
                raise FormatError(f"skeleton for {k!r} must be a Skeleton, got {type(v).__name__}")
            out[str(k)] = v
        return out
    if isinstance(skeleton, (str, PathLike)):
        return _load_skeleton(Path(skeleton))
    raise FormatError(f"skeleton must be a Skeleton, a mapping or a file path, got {type(skeleton).__name__}")


def _load_skeleton(path: Path) -> Skeleton:
    try:
        return Skeleton.load(path)
    except SkeletonError as exc:
        raise FormatError(str(exc.args[0] if exc.args else exc), path) from None


def _fit(sk: Skeleton, nodes: list[str], name: str) -> Skeleton | None:
    """``sk`` reordered to ``nodes`` and renamed, or None if its node names differ."""
    if sorted(sk.nodes) != sorted(nodes):
        return None
    sk = sk.reorder_nodes(nodes) if list(sk.nodes) != nodes else sk
    return Skeleton(sk.nodes, sk.edges, sk.colors, sk.flip_pairs, name)


def _category_skeleton(
    ctx: Ctx, name: str, nodes: list[str], edges: list[tuple[int, int]] | None, arg: Any, used: set[int]
) -> tuple[Skeleton, str]:
    """Resolve a category's skeleton: argument, ``<name>.skeleton.json`` beside, preset, category."""
    where = f"category {name!r}"
    if isinstance(arg, Skeleton):
        sk = _fit(arg, nodes, name)
        if sk is not None:
            used.add(0)
            return sk, "argument"
    elif isinstance(arg, dict) and name in arg:
        sk = _fit(arg[name], nodes, name)
        if sk is None:
            raise ctx.fail(
                f"the skeleton given for it has nodes {list(arg[name].nodes)}, the file {nodes}", where
            )
        return sk, "argument"
    beside = ctx.path.parent / f"{name}{SKELETON_FILE_SUFFIX}"
    if beside.is_file():
        loaded = _load_skeleton(beside)
        sk = _fit(loaded, nodes, name)
        if sk is None:
            raise ctx.fail(f"{beside.name} has nodes {list(loaded.nodes)}, the file {nodes}", where)
        return sk, str(beside.name)
    preset = match_preset(nodes)
    if preset is not None:  # colours and flip pairs from the preset; edges from the file if it has them
        e = preset.edges if edges is None else edges
        return Skeleton(nodes, e, preset.colors, preset.flip_pairs, name), f"preset {preset.name}"
    return Skeleton(nodes, edges or (), None, None, name), "category"


def _category_edges(ctx: Ctx, raw: Any, k: int, where: str) -> list[tuple[int, int]] | None:
    if raw is None:
        return None
    where = where + ", field 'skeleton'"
    if not isinstance(raw, list):
        raise ctx.fail("must be a list of [a, b] pairs of 1-based node indices", where)
    out = []
    for e in raw:
        if not (isinstance(e, list) and len(e) == 2 and all(is_int(x) for x in e)):
            raise ctx.fail(f"edge {e!r} is not a pair of integers", where)
        if not all(1 <= x <= k for x in e):
            raise ctx.fail(f"edge {e!r} is out of range: indices are 1-based, 1..{k}", where)
        out.append((e[0] - 1, e[1] - 1))
    return out


# -- images ------------------------------------------------------------------------------------------
#: Image keys not kept in ``frame["coco"]``.
_IMAGE_SKIP = frozenset((*IMAGE_FIELDS, "keyskel"))


def frame_entry(ctx: Ctx, im: Any, j: int) -> dict[str, Any]:
    """One frame-table dict from one COCO image."""
    if not isinstance(im, dict):
        raise ctx.fail("an image must be an object", f"images[{j}]")
    get = im.get
    iid = get("id")
    if not is_id(iid):
        raise ctx.fail(f"image has no integer or string 'id' (got {iid!r})", f"images[{j}]")
    fn, w, h = get("file_name"), get("width"), get("height")
    if fn is not None and not isinstance(fn, str):
        raise ctx.fail(f"'file_name' must be a string, got {fn!r}", f"image id {iid!r}")
    for key, v in (("width", w), ("height", h)):
        if v is not None and not (is_num(v) and v >= 0):
            raise ctx.fail(f"'{key}' must be a non-negative number, got {v!r}", f"image id {iid!r}")
    fi, item, slot = get("frame_index"), get("item"), get("slot")
    if fi is not None and not (is_int(fi) and fi >= 0):
        raise ctx.fail(f"'frame_index' must be a non-negative integer, got {fi!r}", f"image id {iid!r}")
    if item is not None and not isinstance(item, str):
        raise ctx.fail(f"'item' must be a string, got {item!r}", f"image id {iid!r}")
    m = FRAME_RE.match(fn) if fn else None
    if fi is None and m is not None:
        fi = int(m["n"])
    if item is None:
        item = (m["item"] or DEFAULT_ITEM) if m is not None else (fn or f"image_{iid}")
    frame: dict[str, Any] = {"item": item, "frame": fi or 0, "image_id": iid}
    if fn is not None:
        frame["file_name"] = fn
    if w is not None:
        frame["width"] = w
    if h is not None:
        frame["height"] = h
    if slot is not None:
        frame["slot"] = slot
    frame["coco"] = {k: v for k, v in im.items() if k not in _IMAGE_SKIP}
    ks = get("keyskel")
    if isinstance(ks, dict) and isinstance(ks.get("frame"), dict):  # frame-table keys of other formats
        frame.update({k: v for k, v in ks["frame"].items() if k not in frame})
    return frame


def _read_images(ctx: Ctx, images: list[Any]) -> tuple[list[dict[str, Any]], dict[Any, int]]:
    frames = [frame_entry(ctx, im, j) for j, im in enumerate(images)]
    index: dict[Any, int] = {}
    for f, fr in enumerate(frames):
        if fr["image_id"] in index:
            raise ctx.fail("duplicate image id", f"image id {fr['image_id']!r} (images[{f}])")
        index[fr["image_id"]] = f
    return frames, index


# -- categories --------------------------------------------------------------------------------------
def _read_categories(
    ctx: Ctx, cats: list[Any], arg: Any, n_frames: int | None
) -> tuple[dict[Any, Cat | None], list[Any]]:
    """Keypoint categories become stores; others are kept verbatim (value None in the map)."""
    out: dict[Any, Cat | None] = {}
    other: list[Any] = []
    names: set[str] = set()
    used: set[int] = set()
    for j, c in enumerate(cats):
        if not isinstance(c, dict):
            raise ctx.fail("a category must be an object", f"categories[{j}]")
        cid = c.get("id")
        if not is_id(cid):
            raise ctx.fail(f"category has no integer or string 'id' (got {cid!r})", f"categories[{j}]")
        where = f"category id {cid!r}"
        if cid in out:
            raise ctx.fail("duplicate category id", where)
        kp = c.get("keypoints")
        if not kp:
            out[cid] = None
            other.append(c)
            continue
        if not isinstance(kp, list) or not all(isinstance(n, str) for n in kp):
            raise ctx.fail("'keypoints' must be a list of node names", where + ", field 'keypoints'")
        name = c.get("name", f"category_{cid}")
        if not isinstance(name, str) or not name:
            raise ctx.fail(f"'name' must be a non-empty string, got {name!r}", where)
        if name in names:
            raise ctx.fail(f"two keypoint categories are named {name!r}", where)
        names.add(name)
        try:
            Skeleton(kp)
        except SkeletonError as exc:
            raise ctx.fail(str(exc), where + ", field 'keypoints'") from None
        edges = _category_edges(ctx, c.get("skeleton"), len(kp), where)
        try:
            sk, source = _category_skeleton(ctx, name, kp, edges, arg, used)
        except SkeletonError as exc:  # e.g. the file's edges repeat or loop
            raise ctx.fail(str(exc), where + ", field 'skeleton'") from None
        store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=n_frames, name=name)
        store.meta.update(carried(c.get("keyskel")))
        store.meta["coco"] = {
            "category": {k: v for k, v in c.items() if k not in ("name", "keypoints", "keyskel")},
            "skeleton_source": source,
        }
        out[cid] = Cat(cid, store)
    if isinstance(arg, Skeleton) and not used and any(v is not None for v in out.values()):
        raise ctx.fail(f"the skeleton given ({list(arg.nodes)}) matches no category's keypoints")
    return out, other


def coco_from_obj(
    obj: Any, path: Path, skeleton: SkeletonArg = None, images: str | PathLike[str] | dict | None = None
) -> Dataset:
    """Build a :class:`Dataset` from a parsed COCO document (see :func:`.coco.read_coco`)."""
    ctx = Ctx(path)
    arg = resolve_skeleton_arg(skeleton)
    if isinstance(obj, list):
        return _from_results(ctx, obj, arg, images)
    if not isinstance(obj, dict):
        raise ctx.fail("not a COCO keypoints file: expected an object or a results list")
    for key in ("images", "annotations", "categories"):
        if not isinstance(obj.get(key), list):
            raise ctx.fail(f"a COCO file needs an '{key}' list", "top level")
    frames, img_index = _read_images(ctx, obj["images"])
    cats, other_cats = _read_categories(ctx, obj["categories"], arg, len(frames) or None)
    other_anns, frame_of, rows, cols = sort_annotations(ctx, obj["annotations"], cats, img_index)
    stores = []
    for cid, cat in cats.items():
        if cat is not None:
            build_tracks(ctx, obj["annotations"], cat, rows[cid], frame_of, False, cols)
            stores.append(cat.store)
    top = {k: v for k, v in obj.items() if k not in ("images", "annotations", "categories", "keyskel")}
    meta = carried(obj.get("keyskel"))
    meta["coco"] = {"kind": "ground_truth", "top": top, "categories": other_cats, "annotations": other_anns}
    return Dataset(stores=stores, frames=frames, meta=meta, source=str(path))


def _from_results(ctx: Ctx, res: list[Any], arg: Any, images: Any) -> Dataset:
    """A results list: images/categories from ``images`` (a ground-truth file), else generic."""
    if not res:
        raise ctx.fail("the results list is empty")
    for i, a in enumerate(res):
        if not isinstance(a, dict):
            raise ctx.fail("a result must be an object", f"results[{i}]")
        for key in _RESULT_KEYS:
            if key not in a:
                raise ctx.fail(f"a keypoint result needs '{key}'", f"results[{i}]")
        if not is_num(a["score"]):
            raise ctx.fail(f"'score' must be a number, got {a['score']!r}", f"results[{i}], field 'score'")
    if images is not None:
        gpath = Path(images) if not isinstance(images, dict) else ctx.path
        gt = load_coco_json(gpath) if not isinstance(images, dict) else images
        gctx = Ctx(gpath)
        if not (isinstance(gt, dict) and looks_like_coco(gt)):
            raise gctx.fail("the reference given for a results file must be COCO ground truth")
        frames, img_index = _read_images(gctx, gt["images"])
        cats, _ = _read_categories(gctx, gt["categories"], arg, len(frames) or None)
    else:
        frames, img_index = [], {}
        for a in res:
            iid = a["image_id"]
            if is_id(iid) and iid not in img_index:
                img_index[iid] = len(frames)
                frames.append({"item": f"image_{iid}", "frame": 0, "image_id": iid})
        cats = {}
        for i, a in enumerate(res):
            cid, kp = a["category_id"], a["keypoints"]
            if not (isinstance(kp, list) and kp and len(kp) % 3 == 0):
                raise ctx.fail("must be a non-empty list of 3*K numbers", where(res, i, "keypoints"))
            if is_id(cid) and cid not in cats:
                cats[cid] = Cat(cid, _generic_store(ctx, cid, len(kp) // 3, arg, len(frames), len(cats)))
    other, frame_of, rows, cols = sort_annotations(ctx, res, cats, img_index)
    stores = []
    for cid, cat in cats.items():
        if cat is not None:
            build_tracks(ctx, res, cat, rows[cid], frame_of, True, cols)
            stores.append(cat.store)
    return Dataset(
        stores=stores,
        frames=frames,
        meta={"coco": {"kind": "results", "annotations": other}},
        source=str(ctx.path),
    )


def _generic_store(ctx: Ctx, cid: Any, k: int, arg: Any, n_frames: int, index: int) -> AnnotationStore:
    """A store for a results category with no reference file: skeleton argument or ``kp0..``."""
    name = f"category_{cid}"
    sk, note = None, None
    if isinstance(arg, dict):
        sk = arg.get(str(cid))
        name = sk.name if sk is not None else name
    elif isinstance(arg, Skeleton) and arg.n_nodes == k:
        sk, name = arg, (arg.name if index == 0 else f"{arg.name}_{cid}")
    if sk is None:
        sk = Skeleton([f"kp{j}" for j in range(k)], name=name)
        note = (
            "generic node names: a results file has no categories; pass skeleton= or images= (ground truth)"
        )
    elif sk.n_nodes != k:
        raise ctx.fail(f"skeleton has {sk.n_nodes} nodes but results of category {cid!r} have {k}")
    sk = Skeleton(sk.nodes, sk.edges, sk.colors, sk.flip_pairs, name)
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=n_frames or None, name=name)
    store.meta["coco"] = {
        "category": {"id": cid},
        "skeleton_source": "argument" if note is None else "generic",
    }
    if note:
        store.meta["coco"]["note"] = note
    return store
