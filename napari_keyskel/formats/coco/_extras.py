"""Our ``"keyskel"`` extras in COCO annotations: what COCO cannot hold, checked on read.

An annotation may carry ``"keyskel": {...}`` with any of (pycocotools and other readers ignore it):

- ``keyframe``: K flags 0/1, which nodes are keys (default: every node; written only when some
  node is not, i.e. interpolated or never placed);
- ``score``: K numbers or null, per-node model scores of a ground-truth annotation;
- ``visibility``: K values 0/1/2 and ``scored``: K flags, in a results file whose third values
  are confidences: the visibility the confidences cannot say, and which confidences are real;
- ``track``: on a track's first annotation: ``name``, ``meta`` (JSON-able track meta of other
  formats and tools), ``id`` (our track id when the file's track id differs) and ``alive`` (the
  lifespan as ``[start, stop)`` ranges of global frames, when it is not first..last annotation).

Every other key is kept and written back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import fits_int64, is_int, is_num, short
from ._rules import Ctx

__all__ = ["OWN_KEYS", "AnnExtra", "parse_ann_extra", "parse_ranges"]

#: The keys of the annotation extra we read (all others are kept verbatim).
OWN_KEYS = frozenset({"keyframe", "score", "visibility", "scored", "track"})


class AnnExtra:
    """The checked ``keyskel`` extra of one annotation (``None`` for each part it lacks)."""

    __slots__ = ("keyframe", "rest", "score", "scored", "track", "visibility")

    def __init__(self) -> None:
        self.keyframe: np.ndarray | None = None
        self.score: np.ndarray | None = None
        self.visibility: np.ndarray | None = None
        self.scored: np.ndarray | None = None
        self.track: dict[str, Any] | None = None
        self.rest: dict[str, Any] = {}


def _flags(ctx: Ctx, raw: Any, k: int, what: str, place: str, allowed: tuple[int, ...]) -> np.ndarray:
    if not (isinstance(raw, list) and len(raw) == k and all(type(v) is int and v in allowed for v in raw)):
        raise ctx.fail(
            f"'keyskel.{what}' must be a list of {k} values in {list(allowed)}, got {short(raw)}", place
        )
    return np.asarray(raw, np.int8)


def parse_ranges(ctx: Ctx, raw: Any, n_frames: int, place: str) -> list[tuple[int, int]]:
    """``[[start, stop), ...]`` global-frame ranges inside ``[0, n_frames]``, ascending."""
    ok = isinstance(raw, list) and all(
        isinstance(s, list) and len(s) == 2 and all(is_int(v) for v in s) and 0 <= s[0] < s[1] <= n_frames
        for s in raw
    )
    if not ok:
        raise ctx.fail(
            f"'keyskel.track.alive' must be [start, stop) frame ranges within the {n_frames} images, "
            f"got {short(raw)}",
            place,
        )
    return [(int(a), int(b)) for a, b in raw]


def parse_ann_extra(ctx: Ctx, ks: Any, k: int, place: str) -> AnnExtra:
    """Check an annotation's ``keyskel`` extra; FormatError naming the annotation for anything bad."""
    place = f"{place}, field 'keyskel'"
    if not isinstance(ks, dict):
        raise ctx.fail("must be an object", place)
    out = AnnExtra()
    out.rest = {key: v for key, v in ks.items() if key not in OWN_KEYS}
    if ks.get("keyframe") is not None:
        out.keyframe = _flags(ctx, ks["keyframe"], k, "keyframe", place, (0, 1)).astype(bool)
    if ks.get("visibility") is not None:
        out.visibility = _flags(ctx, ks["visibility"], k, "visibility", place, (0, 1, 2))
    if ks.get("scored") is not None:
        out.scored = _flags(ctx, ks["scored"], k, "scored", place, (0, 1)).astype(bool)
    sc = ks.get("score")
    if sc is not None:
        if not (isinstance(sc, list) and len(sc) == k and all(v is None or is_num(v) for v in sc)):
            raise ctx.fail(f"'keyskel.score' must be {k} numbers or nulls, got {short(sc)}", place)
        out.score = np.asarray([np.nan if v is None else float(v) for v in sc], np.float32)
    tr = ks.get("track")
    if tr is not None:
        if not isinstance(tr, dict):
            raise ctx.fail(f"'keyskel.track' must be an object, got {short(tr)}", place)
        name, meta, tid = tr.get("name"), tr.get("meta"), tr.get("id")
        if name is not None and not isinstance(name, str):
            raise ctx.fail(f"'keyskel.track.name' must be a string, got {short(name)}", place)
        if meta is not None and not isinstance(meta, dict):
            raise ctx.fail(f"'keyskel.track.meta' must be an object, got {short(meta)}", place)
        if tid is not None and not (is_int(tid) and fits_int64(tid)):
            raise ctx.fail(f"'keyskel.track.id' must be a 64-bit integer, got {short(tid)}", place)
        out.track = tr
    return out
