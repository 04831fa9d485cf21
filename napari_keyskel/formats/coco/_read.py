"""COCO keypoints -> :class:`~napari_keyskel.AnnotationSet` (the reading half of :mod:`.coco`).

See :mod:`napari_keyskel.formats.coco` for the mapping and the meta layout. Validation is done
on whole arrays where possible: the keypoints of every annotation of a category become one
``(N, K, 3)`` array, checked and grouped into tracks with numpy; only the unmodelled keys of each
annotation are collected in Python.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from ...core.annotation_set import AnnotationSet
from ...core.interpolate import Method
from ...core.presets import match_preset
from ...core.skeleton import Skeleton
from ...core.store import AnnotationStore
from ...errors import FormatError, SkeletonError
from .._carried import check_carried
from .._checks import check_path, load_skeleton_file, short, skeleton_problem
from .._jsonio import loads_json, read_bytes
from .._sidefiles import SideFiles
from ._columns import sort_annotations
from ._images import forget_made, read_images, set_frame_extras
from ._rules import Ctx, is_id, is_int, is_num, where
from ._tracks import Cat, build_tracks, carried
from ._volume3d import is_volume_coco, volume_coco_dataset

__all__ = ["SkeletonArg", "coco_from_obj", "load_coco_json", "looks_like_coco", "resolve_skeleton_arg"]

SkeletonArg = Skeleton | Mapping[str, Skeleton] | str | PathLike[str] | None

_RESULT_KEYS = ("image_id", "category_id", "keypoints", "score")


def looks_like_coco(obj: Any) -> bool:
    """True for a parsed COCO ground-truth dict or a keypoint results list."""
    if isinstance(obj, dict):
        return all(isinstance(obj.get(k), list) for k in ("images", "annotations", "categories"))
    if isinstance(obj, list) and obj:
        first = obj[0]
        return isinstance(first, dict) and all(k in first for k in _RESULT_KEYS)
    return False


def load_coco_json(path: Path) -> tuple[Any, bool]:
    """Parse a file with orjson; if that fails, retry with :mod:`json`, which accepts ``NaN``.

    A file with ``NaN`` numbers is thus read, and its bad numbers are reported with their place
    by the validation below instead of as a bare syntax error. Also returns whether the file may
    hold ``true``/``false`` at all (a byte search), so the keypoint checks look for booleans
    among the numbers only when there can be some.
    """
    raw = read_bytes(path)
    bools = b"true" in raw or b"false" in raw
    try:
        return loads_json(raw, path), bools
    except FormatError as first:
        try:
            return json.loads(raw), bools
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
    return load_skeleton_file(check_path(path))


def _fit(sk: Skeleton, nodes: list[str], name: str) -> Skeleton | None:
    """``sk`` reordered to ``nodes`` and renamed, or None if its node names differ."""
    if sorted(sk.nodes) != sorted(nodes):
        return None
    sk = sk.reorder_nodes(nodes) if list(sk.nodes) != nodes else sk
    return Skeleton(sk.nodes, sk.edges, sk.colors, sk.flip_pairs, name, descriptions=sk.descriptions)


def _category_skeleton(
    ctx: Ctx,
    name: str,
    nodes: list[str],
    edges: list[tuple[int, int]] | None,
    arg: Any,
    used: set[int],
    extra: Any,
) -> tuple[Skeleton, str]:
    """A category's skeleton: argument, side file, our ``keyskel.skeleton`` extra, preset, category."""
    where = f"category {short(name)}"
    if isinstance(arg, Skeleton):
        sk = _fit(arg, nodes, name)
        if sk is not None:
            used.add(0)
            return sk, "argument"
    elif isinstance(arg, dict) and name in arg:
        sk = _fit(arg[name], nodes, name)
        if sk is None:
            raise ctx.fail(
                f"the skeleton given for it has nodes {short(list(arg[name].nodes))}, the file "
                f"{short(nodes)}",
                where,
            )
        return sk, "argument"
    found = SideFiles([ctx.path.parent]).find(name)
    if found is not None:
        loaded, beside = found
        sk = _fit(loaded, nodes, name)
        if sk is None:
            raise ctx.fail(
                f"{beside.name} has nodes {short(list(loaded.nodes))}, the file {short(nodes)}", where
            )
        return sk, str(beside.name)
    ours = _skeleton_extra(ctx, extra, nodes, name, where)
    if ours is not None:  # colours and flip pairs we wrote; edges from the file
        kept = Skeleton(
            nodes, edges or (), ours.colors, ours.flip_pairs, name, descriptions=ours.descriptions
        )
        return kept, "keyskel"
    preset = match_preset(nodes)
    if preset is not None:  # colours and flip pairs from the preset; edges from the file if it has them
        e = preset.edges if edges is None else edges
        return Skeleton(nodes, e, preset.colors, preset.flip_pairs, name), f"preset {preset.name}"
    return Skeleton(nodes, edges or (), None, None, name), "category"


def _skeleton_extra(ctx: Ctx, extra: Any, nodes: list[str], name: str, where: str) -> Skeleton | None:
    """The skeleton in our category extra ``"keyskel": {"skeleton": {...}}``, fitted to ``nodes``."""
    rec = extra.get("skeleton") if isinstance(extra, dict) else None
    if rec is None:
        return None
    try:
        sk = Skeleton.from_dict(rec)
    except (SkeletonError, TypeError, ValueError, RecursionError) as exc:
        raise ctx.fail(
            f"'keyskel.skeleton' is not a valid skeleton: {skeleton_problem(exc)}", where
        ) from None
    fit = _fit(sk, nodes, name)
    if fit is None:
        ctx.warn(f"'keyskel.skeleton' names nodes {short(list(sk.nodes))}, not the keypoints: ignored", where)
    return fit


def _interpolation_extra(ctx: Ctx, extra: Any, where: str) -> tuple[str, bool]:
    """The interpolation method and bridging our category extra keeps (linear, no bridging)."""
    if not isinstance(extra, dict):
        return Method.LINEAR.value, False
    method, bridge = extra.get("method", Method.LINEAR.value), extra.get("bridge_unlabelled", False)
    if method not in Method.names():
        raise ctx.fail(f"'keyskel.method' must be one of {list(Method.names())}, got {short(method)}", where)
    if not isinstance(bridge, bool):
        raise ctx.fail(f"'keyskel.bridge_unlabelled' must be true or false, got {short(bridge)}", where)
    return method, bridge


def _category_edges(ctx: Ctx, raw: Any, k: int, where: str) -> list[tuple[int, int]] | None:
    """The category's edges as 0-based pairs; bad edges are dropped with a warning each.

    COCO numbers nodes from 1. A skeleton is read as 0-based when its numbering proves it (an
    index 0 present and none equal to K); edges that still point outside the nodes, self-loops,
    repeats and entries that are not two integers are dropped, each with a
    :class:`~napari_keyskel.errors.FormatWarning`.
    """
    if raw is None:
        return None
    where = where + ", field 'skeleton'"
    if not isinstance(raw, list):
        ctx.warn(f"not a list of [a, b] node pairs ({short(raw)}): no edges read", where)
        return []
    pairs = [e for e in raw if isinstance(e, list) and len(e) == 2 and all(is_int(x) for x in e)]
    flat = {x for e in pairs for x in e}
    zero_based = 0 in flat and k not in flat
    if zero_based and pairs:
        ctx.warn(f"edges {short(pairs)} are numbered from 0, not 1 as COCO says: read as 0-based", where)
    lo = 0 if zero_based else 1
    out: list[tuple[int, int]] = []
    seen: set[frozenset[int]] = set()
    for e in raw:
        if not (isinstance(e, list) and len(e) == 2 and all(is_int(x) for x in e)):
            ctx.warn(f"edge {short(e)} is not a pair of node numbers: dropped", where)
            continue
        if not all(lo <= x < lo + k for x in e):
            ctx.warn(
                f"edge {short(e)} points past the {k} nodes (numbered {lo}..{lo + k - 1}): dropped", where
            )
            continue
        a, b = e[0] - lo, e[1] - lo
        if a == b or frozenset((a, b)) in seen:
            ctx.warn(f"edge {short(e)} is {'a self-loop' if a == b else 'repeated'}: dropped", where)
            continue
        seen.add(frozenset((a, b)))
        out.append((a, b))
    return out


# -- categories --------------------------------------------------------------------------------------
def _nameless_sizes(cats: list[Any], anns: list[Any]) -> dict[Any, int]:
    """K of each category that names no keypoints but whose annotations hold some (first found)."""
    want = {
        c.get("id") for c in cats if isinstance(c, dict) and not c.get("keypoints") and is_id(c.get("id"))
    }
    sizes: dict[Any, int] = {}
    if not want:
        return sizes
    for a in anns:
        if not isinstance(a, dict):
            continue
        cid, kp = a.get("category_id"), a.get("keypoints")
        if (
            is_id(cid)
            and cid in want
            and cid not in sizes
            and isinstance(kp, list)
            and kp
            and len(kp) % 3 == 0
        ):
            sizes[cid] = len(kp) // 3
            if len(sizes) == len(want):
                break
    return sizes


def _read_categories(
    ctx: Ctx, cats: list[Any], arg: Any, n_frames: int | None, anns: list[Any]
) -> tuple[dict[Any, Cat | None], list[Any]]:
    """Keypoint categories become stores; others are kept verbatim (value None in the map).

    A category whose ``keypoints`` list is missing or empty, but whose annotations hold keypoints
    (face-landmark and whole-body datasets), gets nodes ``kp0 .. kp{K-1}``.
    """
    out: dict[Any, Cat | None] = {}
    other: list[Any] = []
    names: set[str] = set()
    used: set[int] = set()
    sizes = _nameless_sizes(cats, anns)
    for j, c in enumerate(cats):
        if not isinstance(c, dict):
            raise ctx.fail("a category must be an object", f"categories[{j}]")
        cid = c.get("id")
        if not is_id(cid):
            raise ctx.fail(f"category has no integer or string 'id' (got {short(cid)})", f"categories[{j}]")
        where = f"category id {short(cid)}"
        if cid in out:
            raise ctx.fail("duplicate category id", where)
        kp = c.get("keypoints")
        nameless = None
        if not kp:
            if cid not in sizes:
                out[cid] = None
                other.append(c)
                continue
            nameless = "missing" if "keypoints" not in c else "empty"
            kp = [f"kp{i}" for i in range(sizes[cid])]
            ctx.warn(f"names no keypoints: nodes kp0..kp{len(kp) - 1} from the keypoints' length", where)
        if not isinstance(kp, list) or not all(isinstance(n, str) for n in kp):
            raise ctx.fail("'keypoints' must be a list of node names", where + ", field 'keypoints'")
        name = c.get("name", f"category_{cid}")
        if not isinstance(name, str) or not name:
            raise ctx.fail(f"'name' must be a non-empty string, got {short(name)}", where)
        if name in names:
            raise ctx.fail(f"two keypoint categories are named {short(name)}", where)
        names.add(name)
        try:
            Skeleton(kp)
        except SkeletonError as exc:
            raise ctx.fail(str(exc)[:300], where + ", field 'keypoints'") from None
        extra = c.get("keyskel")
        if extra is not None and not isinstance(extra, dict):
            raise ctx.fail("'keyskel' must be an object", where)
        edges = _category_edges(ctx, c.get("skeleton"), len(kp), where)
        try:
            sk, source = _category_skeleton(ctx, name, kp, edges, arg, used, extra)
        except SkeletonError as exc:  # e.g. a preset's pairs on renamed nodes
            raise ctx.fail(str(exc)[:300], where + ", field 'skeleton'") from None
        store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=n_frames, name=name)
        store.method, store.bridge_unlabelled = _interpolation_extra(ctx, extra, where)
        check_carried(carried(extra), "store", "coco", ctx.path, where + ", field 'keyskel'")
        store.meta.update(carried(extra))
        store.meta["coco"] = {
            "category": {k: v for k, v in c.items() if k not in ("name", "keypoints", "keyskel")},
            "skeleton_source": source,
        }
        if nameless:
            store.meta["coco"]["nameless"] = nameless
        out[cid] = Cat(cid, store)
    if isinstance(arg, Skeleton) and not used and any(v is not None for v in out.values()):
        raise ctx.fail(f"the skeleton given ({short(list(arg.nodes))}) matches no category's keypoints")
    return out, other


def coco_from_obj(
    obj: Any,
    path: Path,
    skeleton: SkeletonArg = None,
    images: str | PathLike[str] | dict | None = None,
    bools: bool = True,
) -> AnnotationSet:
    """Build a :class:`AnnotationSet` from a parsed COCO document (see :func:`.coco.read_coco`).

    ``bools``: whether the document may hold booleans (False only when the file's bytes hold no
    ``true``/``false``), which decides whether keypoint values are checked for them one by one.
    """
    ctx = Ctx(path)
    arg = resolve_skeleton_arg(skeleton)
    if isinstance(obj, list):
        return _from_results(ctx, obj, arg, images, bools)
    if is_volume_coco(obj):  # our 3D skeletons in volumes, one image per slice
        return volume_coco_dataset(obj, path)
    if not isinstance(obj, dict):
        raise ctx.fail("not a COCO keypoints file: expected an object or a results list")
    for key in ("images", "annotations", "categories"):
        if not isinstance(obj.get(key), list):
            raise ctx.fail(f"a COCO file needs an '{key}' list", "top level")
    frames, img_index = read_images(ctx, obj["images"])
    if "keyskel" in obj and not isinstance(obj["keyskel"], dict):
        raise ctx.fail("'keyskel' must be an object", "top level")
    set_frame_extras(ctx, frames, img_index, (obj.get("keyskel") or {}).get("frames"))
    cats, other_cats = _read_categories(ctx, obj["categories"], arg, len(frames) or None, obj["annotations"])
    other_anns, frame_of, rows, cols = sort_annotations(ctx, obj["annotations"], cats, img_index)
    stores = []
    for cid, cat in cats.items():
        if cat is not None:
            build_tracks(ctx, obj["annotations"], cat, rows[cid], frame_of, False, cols, frames, bools)
            stores.append(cat.store)
    top = {k: v for k, v in obj.items() if k not in ("images", "annotations", "categories", "keyskel")}
    if "keyskel" in obj and not isinstance(obj["keyskel"], dict):
        raise ctx.fail("'keyskel' must be an object", "top level")
    meta = carried(obj.get("keyskel"))
    check_carried(meta, "dataset", "coco", path, "top level, field 'keyskel'")
    meta["coco"] = {"kind": "ground_truth", "top": top, "categories": other_cats, "annotations": other_anns}
    ds = AnnotationSet(stores=stores, frames=frames, meta=meta, source=str(path))
    forget_made(ds, isinstance(obj.get("keyskel"), dict) and obj["keyskel"].get("made") is True)
    return ds


def _from_results(ctx: Ctx, res: list[Any], arg: Any, images: Any, bools: bool) -> AnnotationSet:
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
            raise ctx.fail(
                f"'score' must be a number, got {short(a['score'])}", f"results[{i}], field 'score'"
            )
    if images is not None:
        gpath = check_path(images) if not isinstance(images, dict) else ctx.path
        gt = load_coco_json(gpath)[0] if not isinstance(images, dict) else images
        gctx = Ctx(gpath)
        if not (isinstance(gt, dict) and looks_like_coco(gt)):
            raise gctx.fail("the reference given for a results file must be COCO ground truth")
        frames, img_index = read_images(gctx, gt["images"])
        cats, _ = _read_categories(gctx, gt["categories"], arg, len(frames) or None, res)
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
            build_tracks(ctx, res, cat, rows[cid], frame_of, True, cols, frames, bools)
            stores.append(cat.store)
    return AnnotationSet(
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
        raise ctx.fail(f"skeleton has {sk.n_nodes} nodes but results of category {short(cid)} have {k}")
    sk = Skeleton(sk.nodes, sk.edges, sk.colors, sk.flip_pairs, name, descriptions=sk.descriptions)
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=n_frames or None, name=name)
    store.meta["coco"] = {
        "category": {"id": cid},
        "skeleton_source": "argument" if note is None else "generic",
    }
    if note:
        store.meta["coco"]["note"] = note
    return store
