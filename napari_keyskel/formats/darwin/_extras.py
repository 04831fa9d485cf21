"""Our ``"keyskel"`` extras in V7 Darwin files: what V7 cannot hold, checked on read.

V7 and darwin-py ignore keys they do not know, at the document and the annotation level.

Annotation level (``annotation["keyskel"]``):

- ``track``: ``{"id": our track id (when V7's instance id differs), "name": ..., "meta": {...}}``;
- ``nodes``: the node names the per-node lists below follow (the skeleton's order);
- ``keys``: ``{frame: [0/1 per node]}`` for frames whose keys differ from V7's rule (on a
  keyframe every node written is a key and every node missing an unlabelled key; on other frames
  nothing is a key);
- ``scores``: ``{frame: [number or null per node]}``, model scores;
- ``fill``: ``false`` when the frames the annotation does not list are empty in keyskel, though
  V7 interpolates them (``"interpolated": true``); see :mod:`._v7fill`.

Document level (``document["keyskel"]``):

- ``meta``: the dataset's meta of other formats (first document only);
- ``classes``: ``[{"name", "skeleton": Skeleton.to_dict(), "meta": {...}}]``, every annotation
  set in order, also those without annotations (first document only);
- ``frames``: ``{slot: {local frame: {frame-table keys V7 has no field for}}}`` (COCO image ids...);
- ``present``: ``{slot: [local frames]}`` when the frame table held only some of a slot's frames;
- ``order``: the item's place in the dataset, when sorting the folder's file names changes it;
- ``made``: ``{slot: [frame-table keys made up]}`` in a document our writer made (not read from
  V7): the frame-table keys it made up for each slot (``"slot"``, ``"slot_type"``); see
  :mod:`._made`.

A class entry of ``classes`` may also hold ``method`` (the interpolation method, when not
``"linear"``) and ``bridge_unlabelled`` (when true): the store's
:attr:`~napari_keyskel.core.store.AnnotationStore.method` and ``bridge_unlabelled``.

Anything else under ``keyskel`` is kept and written back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from ...core.interpolate import Method
from ...core.skeleton import Skeleton
from ...errors import SkeletonError
from .._carried import check_carried
from .._checks import fits_int64, is_int, is_num, short, skeleton_problem

__all__ = ["AnnExtra", "ClassExtra", "DocExtra", "parse_ann_extra", "parse_doc_extra"]

_ANN_KEYS = frozenset({"track", "nodes", "keys", "scores", "fill"})
_DOC_KEYS = frozenset({"version", "meta", "classes", "frames", "present", "order", "made"})


@dataclass
class AnnExtra:
    """The checked annotation extra."""

    track_id: int | None = None
    name: str | None = None
    meta: dict[str, Any] | None = None
    nodes: list[str] = field(default_factory=list)
    keys: dict[int, np.ndarray] = field(default_factory=dict)  # local frame -> (len(nodes),) bool
    scores: dict[int, np.ndarray] = field(default_factory=dict)  # local frame -> float32, NaN = none
    fill: bool = True  # False: frames not listed are empty here (no V7 interpolation on read)
    rest: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClassExtra:
    """One class of the document extra: its skeleton, meta and interpolation settings."""

    name: str
    skeleton: Skeleton | None
    meta: dict[str, Any]
    method: str = "linear"
    bridge_unlabelled: bool = False


@dataclass
class DocExtra:
    """The checked document extra."""

    meta: dict[str, Any] | None = None
    classes: list[ClassExtra] = field(default_factory=list)
    frames: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    present: dict[str, np.ndarray] = field(default_factory=dict)
    order: int | None = None  # the item's place in the dataset (files of a folder are read sorted)
    made: dict[str, list[str]] | None = None  # slot -> frame-table keys our writer made up
    rest: dict[str, Any] = field(default_factory=dict)


def _per_frame(ctx: Any, raw: Any, what: str, n: int, frames: set[int], where: str, check: Any) -> dict:
    if not isinstance(raw, dict):
        raise ctx.fail(f"'keyskel.{what}' must be an object keyed by frame", where)
    out = {}
    for k, v in raw.items():
        if not (isinstance(k, str) and k.isascii() and k.isdigit() and len(k) <= 12 and int(k) in frames):
            raise ctx.fail(f"'keyskel.{what}' names frame {short(k)}, which the annotation has not", where)
        if not (isinstance(v, list) and len(v) == n and all(check(x) for x in v)):
            raise ctx.fail(f"'keyskel.{what}' of frame {k} must be {n} values, got {short(v)}", where)
        out[int(k)] = v
    return out


def parse_ann_extra(ctx: Any, raw: Any, frames_read: list[int], where: str) -> AnnExtra:
    """Check an annotation's ``keyskel`` extra; FormatError naming the annotation for anything bad."""
    where = f"{where}, field 'keyskel'"
    if not isinstance(raw, dict):
        raise ctx.fail(f"must be an object, got {short(raw)}", where)
    out = AnnExtra(rest={k: v for k, v in raw.items() if k not in _ANN_KEYS})
    tr = raw.get("track")
    if tr is not None:
        if not isinstance(tr, dict):
            raise ctx.fail(f"'keyskel.track' must be an object, got {short(tr)}", where)
        tid, name, meta = tr.get("id"), tr.get("name"), tr.get("meta")
        if tid is not None and not (is_int(tid) and fits_int64(tid)):
            raise ctx.fail(f"'keyskel.track.id' must be a 64-bit integer, got {short(tid)}", where)
        if name is not None and not isinstance(name, str):
            raise ctx.fail(f"'keyskel.track.name' must be a string, got {short(name)}", where)
        if meta is not None and not isinstance(meta, dict):
            raise ctx.fail(f"'keyskel.track.meta' must be an object, got {short(meta)}", where)
        check_carried(meta, "track", "darwin", ctx.path, where, "keyskel.track.meta")
        out.track_id, out.name, out.meta = tid, name, meta
    nodes = raw.get("nodes", [])
    if not (
        isinstance(nodes, list) and all(isinstance(n, str) for n in nodes) and len(set(nodes)) == len(nodes)
    ):
        raise ctx.fail(f"'keyskel.nodes' must be a list of distinct node names, got {short(nodes)}", where)
    out.nodes = nodes
    fill = raw.get("fill", True)
    if not isinstance(fill, bool):
        raise ctx.fail(f"'keyskel.fill' must be true or false, got {short(fill)}", where)
    out.fill = fill
    have = set(frames_read)
    if raw.get("keys") is not None:
        keys = _per_frame(
            ctx, raw["keys"], "keys", len(nodes), have, where, lambda x: type(x) is int and x in (0, 1)
        )
        out.keys = {f: np.asarray(v, bool) for f, v in keys.items()}
    if raw.get("scores") is not None:
        sc = _per_frame(
            ctx, raw["scores"], "scores", len(nodes), have, where, lambda x: x is None or is_num(x)
        )
        out.scores = {
            f: np.asarray([np.nan if x is None else float(x) for x in v], np.float32) for f, v in sc.items()
        }
    return out


def parse_doc_extra(ctx: Any, raw: Any, slots: list[Any]) -> DocExtra:
    """Check a document's ``keyskel`` extra against its slots."""
    where = "top level, field 'keyskel'"
    if not isinstance(raw, dict):
        raise ctx.fail(f"must be an object, got {short(raw)}", where)
    out = DocExtra(rest={k: v for k, v in raw.items() if k not in _DOC_KEYS})
    meta = raw.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise ctx.fail(f"'keyskel.meta' must be an object, got {short(meta)}", where)
    check_carried(meta, "dataset", "darwin", ctx.path, where)
    out.meta = meta
    order = raw.get("order")
    if order is not None and not (is_int(order) and 0 <= order < 2**31):
        raise ctx.fail(f"'keyskel.order' must be a non-negative integer, got {short(order)}", where)
    out.order = order
    made = raw.get("made")
    if made is not None:
        ok = isinstance(made, dict) and all(
            isinstance(v, list) and set(v) <= {"slot", "slot_type"} and all(isinstance(x, str) for x in v)
            for v in made.values()
        )
        if not ok:
            raise ctx.fail(f"'keyskel.made' must map slots to lists of frame keys, got {short(made)}", where)
        out.made = made
    classes = raw.get("classes", [])
    if not isinstance(classes, list):
        raise ctx.fail(f"'keyskel.classes' must be a list, got {short(classes)}", where)
    for j, c in enumerate(classes):
        cw = f"{where}, classes[{j}]"
        if not (isinstance(c, dict) and isinstance(c.get("name"), str) and c["name"]):
            raise ctx.fail("a class needs a 'name'", cw)
        if c.get("meta") is not None and not isinstance(c["meta"], dict):
            raise ctx.fail(f"'meta' must be an object, got {short(c['meta'])}", cw)
        check_carried(c.get("meta"), "store", "darwin", ctx.path, cw, "meta")
        sk = None
        if c.get("skeleton") is not None:
            try:
                sk = Skeleton.from_dict(c["skeleton"])
            except (SkeletonError, TypeError, ValueError, RecursionError) as exc:
                raise ctx.fail(f"'skeleton' is not a valid skeleton: {skeleton_problem(exc)}", cw) from None
        method, bridge = c.get("method", "linear"), c.get("bridge_unlabelled", False)
        if method not in Method.names():
            raise ctx.fail(f"'method' must be one of {list(Method.names())}, got {short(method)}", cw)
        if not isinstance(bridge, bool):
            raise ctx.fail(f"'bridge_unlabelled' must be true or false, got {short(bridge)}", cw)
        out.classes.append(ClassExtra(c["name"], sk, dict(c.get("meta") or {}), method, bridge))
    by_name = {s.name: s for s in slots}
    frames = raw.get("frames", {})
    if not isinstance(frames, dict):
        raise ctx.fail(f"'keyskel.frames' must be an object, got {short(frames)}", where)
    for slot, table in frames.items():
        if slot not in by_name or not isinstance(table, dict):
            raise ctx.fail(f"'keyskel.frames' names slot {short(slot)}, which the item has not", where)
        rows: dict[int, dict[str, Any]] = {}
        for k, v in table.items():
            if not (
                isinstance(k, str) and k.isascii() and k.isdigit() and len(k) <= 12 and isinstance(v, dict)
            ):
                raise ctx.fail(f"'keyskel.frames' of slot {short(slot)}: bad entry {short(k)}", where)
            if int(k) >= by_name[slot].limit:
                raise ctx.fail(f"'keyskel.frames' of slot {short(slot)}: frame {k} is too large", where)
            rows[int(k)] = v
        out.frames[slot] = rows
    present = raw.get("present", {})
    if not isinstance(present, dict):
        raise ctx.fail(f"'keyskel.present' must be an object, got {short(present)}", where)
    for slot, lst in present.items():
        ok = (
            slot in by_name
            and isinstance(lst, list)
            and bool(lst)
            and all(is_int(v) and 0 <= v < by_name[slot].limit for v in lst)
            and all(a < b for a, b in pairwise(lst))
        )
        if not ok:
            raise ctx.fail(f"'keyskel.present' of slot {short(slot)} must be ascending frame numbers", where)
        out.present[slot] = np.asarray(lst, np.int64)
    return out
