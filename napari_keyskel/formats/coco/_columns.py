"""COCO annotations as columns: references checked and keypoints made one array (part of the reader).

Annotations are checked column by column (ids, image and category references), each column taken
with one C-level ``map`` (no Python loop per annotation); the keypoints of a category become one
``(N, K, 3)`` array (converted in C, :func:`_float_rows`) validated with numpy. Only input that
fails a whole-array check takes the value-by-value path that names the first error.
"""

from __future__ import annotations

from array import array
from collections import deque
from itertools import chain, repeat
from operator import is_
from typing import Any

import numpy as np

from .._checks import short
from ._rules import Ctx, is_id, where

__all__ = ["column", "eq_rows", "has_key", "keypoint_array", "plain_keys", "sort_annotations"]


def column(anns: list[dict[str, Any]], key: str) -> list[Any]:
    """``a.get(key)`` of every annotation (C-level: no Python loop)."""
    return list(map(dict.get, anns, repeat(key)))


def _float_rows(rows: list[list[Any]]) -> np.ndarray:
    """The numbers of ``rows`` (lists of numbers) one after another as float64.

    ``array('d').fromlist`` converts a row in C and refuses (TypeError) a str, None, list or dict,
    so no string slips through as a number (booleans do: the caller checks for them).
    """
    out = array("d")
    deque(map(out.fromlist, rows), maxlen=0)
    return np.frombuffer(out, np.float64)


def has_key(anns: list[dict[str, Any]], key: str) -> np.ndarray:
    """``key in a`` for every annotation."""
    return np.fromiter(map(dict.__contains__, anns, repeat(key)), bool, len(anns))


def plain_keys(sub: list[dict[str, Any]], cols: dict[str, list[Any]]) -> list[bool]:
    """``a.keys() <= set(cols)`` for every annotation, given its ``a.get(key)`` column of each key.

    Cheap when each column is full (no None: every annotation has the key) or empty (all None):
    an annotation with as many keys as there are full columns has just those; if moreover no
    annotation holds a key of an empty column (as null), one with more keys has some other key.
    """
    pk = cols.keys()
    full, nulls = 0, False
    for key, col in cols.items():
        if not any(map(is_, col, repeat(None))):
            full += 1
        elif not all(map(is_, col, repeat(None))):
            return [a.keys() <= pk for a in sub]
        elif not nulls and has_key(sub, key).any():
            nulls = True
    exact = np.fromiter(map(len, sub), np.intp, len(sub)) == full
    if exact.all():
        return [True] * len(sub)
    if not nulls:
        return exact.tolist()
    return [a.keys() <= pk for a in sub]


def _lookup(
    ctx: Ctx, anns: list[Any], values: list[Any], index: dict[Any, int], field: str, what: str
) -> np.ndarray:
    """``index[v]`` for every value; a bad or missing reference names its annotation."""
    if set(map(type, values)) <= {int, str}:
        try:
            return np.fromiter(map(index.__getitem__, values), np.intp, len(values))
        except KeyError:
            pass
    for i, v in enumerate(values):
        if not is_id(v) or v not in index:
            raise ctx.fail(
                f"refers to {what} id {short(v)}, which is not in '{what}s'", where(anns, i, field)
            )
    raise ctx.fail(f"bad '{field}'")  # pragma: no cover - the loop above finds it


def sort_annotations(
    ctx: Ctx, anns: list[Any], cats: dict[Any, Any], img_index: dict[Any, int]
) -> tuple[list[Any], np.ndarray, dict[Any, np.ndarray], dict[str, list[Any]]]:
    """Check ids and references.

    Returns the unmodelled annotations, the frame of each annotation, the rows of each keypoint
    category and the ``id`` and ``keypoints`` columns (``a.get(key)``, for :func:`build_tracks`).
    """
    if not set(map(type, anns)) <= {dict}:
        i = next(i for i, a in enumerate(anns) if not isinstance(a, dict))
        raise ctx.fail("an annotation must be an object", f"annotations[{i}]")
    ids = column(anns, "id")
    if set(map(type, ids)) <= {int}:
        present = ids
    else:
        for i, x in enumerate(ids):
            if x is not None and not is_id(x):
                raise ctx.fail(f"'id' must be an integer or a string, got {short(x)}", f"annotations[{i}]")
        present = [x for x in ids if x is not None]
    if len(set(present)) != len(present):
        seen: set[Any] = set()
        for x in present:
            if x in seen:
                raise ctx.fail("duplicate annotation id", f"annotation id {short(x)}")
            seen.add(x)
    n = len(anns)
    iids, cids = column(anns, "image_id"), column(anns, "category_id")
    frame = _lookup(ctx, anns, iids, img_index, "image_id", "image")
    cpos = {cid: j for j, cid in enumerate(cats)}
    cp = _lookup(ctx, anns, cids, cpos, "category_id", "category")
    kcol = column(anns, "keypoints")
    has_kp = has_key(anns, "keypoints") if any(map(is_, kcol, repeat(None))) else np.ones(n, bool)
    is_kp_cat = np.asarray([c is not None for c in cats.values()], bool)
    modelled = is_kp_cat[cp] & has_kp if n else np.zeros(0, bool)
    other = [anns[i] for i in np.flatnonzero(~modelled).tolist()] if not modelled.all() else []
    kp_cats = [(j, cid) for j, (cid, c) in enumerate(cats.items()) if c is not None]
    if len(kp_cats) == 1 and len(cats) == 1 and modelled.all():
        rows = {kp_cats[0][1]: np.arange(n)}
    else:
        rows = {cid: np.flatnonzero(modelled & (cp == j)) for j, cid in kp_cats}
    return (
        other,
        frame.astype(np.int64, copy=False),
        rows,
        {"id": ids, "image_id": iids, "category_id": cids, "keypoints": kcol},
    )


#: Magnitude below which every number converts alike through numpy and ``float()``.
_SAFE = float(2**63)


def is_visibility(v: np.ndarray) -> bool:
    """Whether third values are COCO visibility flags (0, 1, 2 only)."""
    return bool(((v == 0) | (v == 1) | (v == 2)).all())


def in_unit(v: np.ndarray) -> bool:
    """Whether every value is in [0, 1] (NaN is not)."""
    return bool(((v >= 0) & (v <= 1)).all())


def is_confidence(v: np.ndarray) -> bool:
    """Whether ground-truth third values are confidences: all in [0, 1], some neither 0 nor 1.

    Predictions exported in a ground-truth file (pseudo-labels) put a model's confidence there.
    """
    return bool(v.size and ((v >= 0) & (v <= 1)).all() and ((v > 0) & (v < 1)).any())


def keypoint_array(
    ctx: Ctx, anns: list[Any], rows: list[int], kps: list[Any], k: int, results: bool, bools: bool
) -> np.ndarray:
    """``(N, K, 3)`` float array of the annotations' keypoints, every value checked.

    Fast path: cheap whole-list checks (types, lengths), one :func:`numpy.fromiter` over all the
    numbers (:func:`_float_rows` refuses strings, None and nested junk), vectorised value checks. Any
    doubt (bad type, NaN, a third value not 0/1/2 in ground truth, huge numbers, or a boolean when
    the file holds ``true``/``false`` at all) falls back to :func:`_keypoint_array_checked`, which
    converts exactly as before or names the first error. The third values of a category are
    visibility (0, 1, 2) or, for every node, confidences in [0, 1]: in a results file any such
    values (a model's scores; 2000000.0 is neither and is refused), in ground truth some strictly
    between 0 and 1 (:func:`is_confidence`).
    """
    n, n3 = len(kps), 3 * k
    if (
        n
        and n3
        and set(map(type, kps)) == {list}
        and set(map(len, kps)) == {n3}
        and type(kps[0][0]) is not bool
        and not (bools and not set(map(type, chain.from_iterable(kps))) <= {int, float})
    ):
        try:
            arr = _float_rows(kps).reshape(n, k, 3)
        except (TypeError, ValueError, OverflowError):
            pass
        else:
            v = arr[..., 2]
            if (np.abs(arr[..., :2]) < _SAFE).all() and (
                is_visibility(v) or (in_unit(v) if results else is_confidence(v))
            ):
                return arr
    return _keypoint_array_checked(ctx, anns, rows, kps, k, results)


def _keypoint_array_checked(
    ctx: Ctx, anns: list[Any], rows: list[int], kps: list[Any], k: int, results: bool
) -> np.ndarray:
    """:func:`keypoint_array` value by value: converts what it can, else names the first error."""
    n3 = 3 * k
    if not all(type(kp) is list and len(kp) == n3 for kp in kps):
        for i, kp in zip(rows, kps):
            if type(kp) is not list or len(kp) != n3:
                got = f"{len(kp)} numbers" if isinstance(kp, list) else f"a {type(kp).__name__}"
                raise ctx.fail(
                    f"expected a list of 3*{k} = {n3} numbers, got {got}", where(anns, i, "keypoints")
                )
    if not kps:
        return np.zeros((0, k, 3))
    try:
        arr = np.array(kps)
        ok = arr.dtype.kind in "iuf" and arr.shape == (len(kps), n3)
    except (ValueError, TypeError, OverflowError, RecursionError):
        ok = False
    if ok and not set(map(type, chain.from_iterable(kps))) <= {int, float}:
        ok = False  # booleans (true/false) became numbers: name them below
    if not ok:  # name the first bad value, or convert huge integers to float
        for i, kp in zip(rows, kps):
            for j, v in enumerate(kp):
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    raise ctx.fail(f"value {j} is {short(v)}, not a number", where(anns, i, "keypoints"))
                if isinstance(v, int) and abs(v) >= 2**1023:
                    raise ctx.fail(f"value {j} is too large", where(anns, i, "keypoints"))
        arr = np.array(kps, dtype=np.float64)
    arr = arr.astype(np.float64, copy=False).reshape(len(kps), k, 3)
    bad_xy = ~np.isfinite(arr[..., :2]).all(axis=-1)
    if results and not is_visibility(arr[..., 2]):  # confidences: a model's, in [0, 1]
        bad_v = ~((arr[..., 2] >= 0) & (arr[..., 2] <= 1))
        what_v = "the third value is neither a visibility (0, 1, 2) nor a confidence in [0, 1]"
    elif results or is_confidence(arr[..., 2]):
        bad_v, what_v = np.zeros(arr.shape[:2], bool), ""
    else:
        bad_v = ~np.isin(arr[..., 2], (0.0, 1.0, 2.0))
        what_v = "visibility must be 0, 1 or 2 (or every third value a confidence in [0, 1])"
    for bad, what in ((bad_xy, "coordinate is not a finite number"), (bad_v, what_v)):
        if bad.any():
            r, node = np.argwhere(bad)[0]
            got = arr[r, node, 2] if bad is bad_v else arr[r, node, :2].tolist()
            raise ctx.fail(f"node {node}: {what} (got {got})", where(anns, rows[r], "keypoints"))
    return arr


def eq_rows(values: list[Any], ours: np.ndarray) -> np.ndarray:
    """Row-wise ``values == ours`` (numbers or lists of numbers), for any junk in ``values``."""
    if ours.ndim == 2 and set(map(type, values)) == {list} and set(map(len, values)) == {ours.shape[1]}:
        # lists of numbers (the usual bbox): one fromiter, no dtype discovery; anything odd
        # (strings, None, integers too large for an exact float, NaN) takes the path below
        try:
            v = _float_rows(values).reshape(ours.shape)
        except (TypeError, ValueError, OverflowError):
            pass
        else:
            if (np.abs(v) < 2.0**53).all():
                return (v == ours).all(axis=1)
    try:
        v = np.array(values)
        if v.dtype.kind in "iuf" and v.shape == ours.shape:
            out = v == ours
            return out if out.ndim == 1 else out.all(axis=1)
    except (ValueError, TypeError, OverflowError):
        pass
    return np.asarray([type(x) is not bool and x == y for x, y in zip(values, ours.tolist())], bool)
