"""Keyframe interpolation: pure, vectorised functions over one instance's arrays.

The arrays are those of a :class:`~napari_keyskel.core.store.Track` block: ``coords[L, K, D]``
(NaN = absent), ``visibility[L, K]``, ``is_key[L, K]`` and ``alive[L]``. For every node, the
frames between two consecutive keys ``k1 < k2`` are filled when

- every frame in ``[k1, k2]`` is alive (lifespan gaps are never bridged), and
- both keys are *labelled*: finite coordinates and visibility > 0 (on an alive frame).

A key that is not labelled (an *unlabelled* key, visibility 0) ends a span; with
``bridge_unlabelled=True`` such keys are skipped instead, so spans run between the surrounding
labelled keys. There is no extrapolation before the first key; after a node's last labelled key
its pose is *held* (as interpolated cells) to the end of the block or up to the first frame that
is not alive, as V7 shows an annotation over its range. Filled frames get the visibility of the
span's first key; every other non-key cell is cleared (NaN, 0). Keys are never modified.

Methods: ``"linear"``; ``"cubic"`` (alias ``"pchip"``): monotone piecewise cubic Hermite with
Fritsch–Carlson derivatives (the same derivatives as :class:`scipy.interpolate.PchipInterpolator`)
over each run of consecutive bridgeable keys, every coordinate independently, so the curve never
leaves the range of a span's two keys; ``"hold"``: the previous key's value until the next key.

Everything is vectorised over all nodes and frames of a block, without Python loops over
frames: the keys are listed node-major (one node's frames after another), a span is a pair of
consecutive keys of one node, per-key quantities (value, slope, Hermite coefficients,
visibility) are expanded to every cell with :func:`numpy.repeat`, and the node-major columns are
written back through a transposed view. Nodes are processed a few at a time so temporaries stay
in cache. A cell's value depends only on nearby keys (its span's, plus neighbours for cubic), so
a large enough window of a block gives bitwise the same numbers as the whole block.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

import numpy as np

from ..errors import StoreError

__all__ = [
    "METHODS",
    "Method",
    "Spans",
    "check_method",
    "fill_spans",
    "find_spans",
    "interpolated",
    "labelled_keys",
    "pchip_derivatives",
]


class Method(str, Enum):
    """An interpolation method; its value is the name used in files, the CLI and the docks.

    A ``str`` subclass, so ``Method.CUBIC == "cubic"`` and it serialises as its name.
    """

    LINEAR = "linear"
    CUBIC = "cubic"
    HOLD = "hold"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The accepted names, in menu order (``"linear"``, ``"cubic"``, ``"hold"``)."""
        return tuple(m.value for m in cls)


#: Accepted method names (with the alias ``"pchip"``), mapped to their :class:`Method`.
METHODS: dict[str, Method] = {**{m.value: m for m in Method}, "pchip": Method.CUBIC}


def check_method(method: str | Method) -> Method:
    """The :class:`Method` of a method or its name (any case); :class:`StoreError` if unknown."""
    if isinstance(method, Method):
        return method
    try:
        return METHODS[str(method).lower()] if isinstance(method, str) else METHODS[method]
    except (KeyError, TypeError):
        raise StoreError(
            f"unknown interpolation method {method!r} (choose one of {sorted(METHODS)})"
        ) from None


def labelled_keys(
    coords: np.ndarray, visibility: np.ndarray, is_key: np.ndarray, alive: np.ndarray
) -> np.ndarray:
    """Mask ``(L, K)`` of labelled keys: a key on an alive frame, finite coordinates, visibility > 0."""
    return is_key & (visibility > 0) & np.isfinite(coords).all(axis=-1) & alive[:, None]


class Spans(NamedTuple):
    """The anchor keys of a block listed node-major, and which consecutive pairs may be filled.

    ``rows[M]``, ``nodes[M]``: position of each anchor key; ``values[M, D]``; ``vis[M]``;
    ``valid[M - 1]``: the span from anchor ``j`` to ``j + 1`` is fillable (same node, both
    labelled, no dead frame between). ``odd_rows``, ``odd_nodes``: keys that are not labelled.
    """

    rows: np.ndarray
    nodes: np.ndarray
    values: np.ndarray
    vis: np.ndarray
    valid: np.ndarray
    odd_rows: np.ndarray
    odd_nodes: np.ndarray


def find_spans(
    coords: np.ndarray,
    visibility: np.ndarray,
    is_key: np.ndarray,
    alive: np.ndarray,
    bridge_unlabelled: bool = False,
) -> Spans:
    """List the anchor keys of a block and the fillable spans between them (see the module doc).

    Anchors are all keys, or only the labelled ones with ``bridge_unlabelled``.
    """
    nodes, rows = np.divmod(np.flatnonzero(is_key.T.ravel()), is_key.shape[0])  # node-major order
    vis = visibility[rows, nodes]
    values = coords[rows, nodes]
    lab = vis > 0
    for d in range(values.shape[1]):
        lab &= np.isfinite(values[:, d])
    all_alive = bool(alive.all())
    if not all_alive:
        lab &= alive[rows]
    odd = ~lab
    odd_rows, odd_nodes = rows[odd], nodes[odd]
    if bridge_unlabelled and odd_rows.size:  # unlabelled keys are skipped: labelled keys anchor spans
        nodes, rows, vis, values, lab = nodes[lab], rows[lab], vis[lab], values[lab], lab[lab]
    valid = nodes[1:] == nodes[:-1]
    valid &= lab[1:]
    valid &= lab[:-1]
    if not all_alive:  # no dead frame between the two keys
        dead = np.cumsum(~alive)
        valid &= dead[rows[1:]] == dead[rows[:-1]]
    return Spans(rows, nodes, values, vis, valid, odd_rows, odd_nodes)


def _edge_derivative(h0: np.ndarray, h1: np.ndarray, m0: np.ndarray, m1: np.ndarray) -> np.ndarray:
    """One-sided three-point derivative at the end of a run, limited to preserve shape."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    d = np.where(d * m0 <= 0, 0.0, d)  # sign differs from the end slope (or either is 0)
    too_big = (m0 * m1 <= 0) & (np.abs(d) > 3 * np.abs(m0))
    return np.where(too_big, 3 * m0, d)


def pchip_derivatives(rows: np.ndarray, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Monotone (Fritsch–Carlson) derivatives ``(M, D)`` at anchors, run by run.

    A *run* is a maximal chain of anchors joined by valid spans. Interior anchors take the
    weighted harmonic mean of the neighbouring slopes (0 at a local extremum); the ends of a run
    use the shape-preserving three-point formula, or the slope itself in a two-key run.
    Anchors not on any valid span get 0 (unused). These are the derivatives of
    :class:`scipy.interpolate.PchipInterpolator`.
    """
    m, d = values.shape
    if m < 2 or not valid.any():
        return np.zeros((m, d))
    # spans padded with an invalid one at each end: anchor j has left span j and right span j+1
    h = np.ones(m + 1)
    h[1:-1] = np.where(valid, np.diff(rows), 1)  # invalid pairs may span two nodes
    slope = np.zeros((m + 1, d))
    np.divide(np.diff(values, axis=0), h[1:-1, None], out=slope[1:-1])
    slope[1:-1][~valid] = 0.0
    ok = np.zeros(m + 3, bool)  # ok[k + 1]: padded span k is valid
    ok[2:-2] = valid
    left, right = ok[1:-2], ok[2:-1]
    hl, hr = h[:-1, None], h[1:, None]
    ml, mr = slope[:-1], slope[1:]
    w1, w2 = 2 * hr + hl, hr + 2 * hl
    flat = ml * mr <= 0  # a local extremum (or a flat side): derivative 0
    with np.errstate(divide="ignore", invalid="ignore"):
        deriv = (w1 + w2) / (w1 / ml + w2 / mr)
    deriv[flat | ~(left & right)[:, None]] = 0.0
    # run ends: a three-point estimate when the run has a second span on that side
    start = np.flatnonzero(right & ~left)
    deriv[start] = mr[start]
    s3 = start[ok[start + 3]]
    deriv[s3] = _edge_derivative(hr[s3], h[s3 + 2, None], mr[s3], slope[s3 + 2])
    end = np.flatnonzero(left & ~right)
    deriv[end] = ml[end]
    e3 = end[ok[end]]
    deriv[e3] = _edge_derivative(hl[e3], h[e3 - 1, None], ml[e3], slope[e3 - 1])
    return deriv


class _Columns:
    """Dense node-major columns (``K * L`` cells) built segment by segment with :func:`numpy.repeat`.

    Segment ``0`` holds the cells before the first anchor; then, for every anchor ``j``, its own
    cell and the gap up to the next anchor (or the end).
    """

    def __init__(self, pos: np.ndarray, size: int) -> None:
        m = pos.size
        self.lens = np.empty(2 * m + 1, dtype=np.intp)
        self.lens[0] = pos[0]
        self.lens[1::2] = 1
        self.lens[2:-1:2] = np.diff(pos) - 1
        self.lens[-1] = size - pos[-1] - 1
        self.m = m

    def expand(
        self, own: np.ndarray | float, fill: np.ndarray | float, empty: float, dtype: type
    ) -> np.ndarray:
        """``own[j]`` on anchor cells, ``fill[j]`` on the gap after anchor ``j``, ``empty`` before."""
        vals: np.ndarray = np.empty(2 * self.m + 1, dtype=dtype)
        vals[0] = empty
        vals[1::2] = own
        vals[2::2] = fill
        return np.repeat(vals, self.lens)


def _hermite_coefficients(
    rows: np.ndarray, values: np.ndarray, deriv: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per anchor ``j``: span length ``h`` and monomial coefficients ``c1, c2, c3`` ``(M, D)``.

    On the span from anchor ``j`` to ``j + 1`` the cubic Hermite curve is
    ``y_j + ((c3 t + c2) t + c1) t`` with ``t = (frame - row_j) / h``; zero on invalid spans.
    """
    zero = np.zeros((1, values.shape[1]))
    h = np.append(np.where(valid, np.diff(rows), 1), 1).astype(float)
    ok = np.append(valid, False)[:, None]
    hc = h[:-1, None]
    y0, y1, d0, d1 = values[:-1], values[1:], deriv[:-1], deriv[1:]
    c1 = np.where(ok, np.concatenate([hc * d0, zero]), 0.0)
    c2 = np.where(ok, np.concatenate([3 * (y1 - y0) - hc * (2 * d0 + d1), zero]), 0.0)
    c3 = np.where(ok, np.concatenate([2 * (y0 - y1) + hc * (d0 + d1), zero]), 0.0)
    return h, c1, c2, c3


#: Cells per chunk of nodes processed together (keeps temporaries in cache).
_CHUNK_CELLS = 1 << 15


def fill_spans(
    coords: np.ndarray,
    visibility: np.ndarray,
    is_key: np.ndarray,
    alive: np.ndarray,
    method: str | Method = Method.LINEAR,
    bridge_unlabelled: bool = False,
    hold_last: bool = True,
) -> None:
    """Recompute every non-key cell of a block **in place** (see the module docstring).

    The work is done node-major (one node's frames contiguous) on flat columns of a few nodes at
    a time, written back through a transposed view. Linear and hold expand per-anchor values,
    slopes and offsets with :func:`numpy.repeat`; cubic evaluates the Hermite polynomial on the
    cells of the valid spans only.

    Parameters
    ----------
    coords, visibility
        ``(L, K, D)`` float and ``(L, K)`` int8 C-contiguous arrays, overwritten outside keys.
    is_key, alive
        ``(L, K)`` and ``(L,)`` bool arrays (read only).
    method
        ``"linear"``, ``"cubic"``/``"pchip"`` or ``"hold"``.
    bridge_unlabelled
        Skip over unlabelled keys instead of ending spans at them.
    hold_last
        Hold each node's last labelled key to the end of the block, or to the first frame that
        is not alive after it (V7's "the last keyframe lasts until the end of the range").

    """
    method = check_method(method)
    n_rows, n_nodes, _ = coords.shape
    spans = find_spans(coords, visibility, is_key, alive, bridge_unlabelled)
    restore = (spans.odd_rows, spans.odd_nodes)  # keys the columns below may not reproduce
    saved = coords[restore], visibility[restore]
    if spans.rows.size == 0:
        coords.fill(np.nan)
        visibility.fill(0)
        coords[restore], visibility[restore] = saved
        return
    valid = np.append(spans.valid, False)  # the gap after a node's last anchor: only held
    values = spans.values
    tail = np.zeros(valid.size, bool)
    if hold_last:  # a node's last anchor, if labelled, is held over the gap after it
        tail[:-1] = spans.nodes[1:] != spans.nodes[:-1]
        tail[-1] = True
        tail &= (spans.vis > 0) & np.isfinite(values).all(axis=1) & alive[spans.rows]
    fillable = valid | tail
    if method is Method.LINEAR:
        slope = np.zeros_like(values)
        if values.shape[0] > 1:
            step = np.where(spans.valid, np.diff(spans.rows), 1)  # other pairs span two nodes
            slope[:-1] = np.diff(values, axis=0) / step[:, None]
        slope[~valid] = 0.0
    elif method is Method.CUBIC:
        deriv = pchip_derivatives(spans.rows, values, spans.valid)
        h, c1, c2, c3 = _hermite_coefficients(spans.rows, values, deriv, spans.valid)
    n_dim = values.shape[1]
    out_c = np.empty((n_dim, n_nodes * n_rows))  # node-major columns, written back at the end
    out_v = np.empty(n_nodes * n_rows, np.int8)
    per_chunk = max(1, _CHUNK_CELLS // max(n_rows, 1))
    starts = np.arange(0, n_nodes, per_chunk)
    bounds = np.searchsorted(spans.nodes, np.append(starts, n_nodes))
    for n0, a0, a1 in zip(starts.tolist(), bounds[:-1].tolist(), bounds[1:].tolist()):
        n1 = min(n0 + per_chunk, n_nodes)
        c0, size = n0 * n_rows, (n1 - n0) * n_rows
        if a0 == a1:
            out_c[:, c0 : c0 + size] = np.nan
            out_v[c0 : c0 + size] = 0
            continue
        pos = (spans.nodes[a0:a1] - n0) * n_rows + spans.rows[a0:a1]
        ok = fillable[a0:a1]
        cols = _Columns(pos, size)
        vis = spans.vis[a0:a1]
        out_v[c0 : c0 + size] = cols.expand(vis, np.where(ok, vis, 0), 0, np.int8)
        y = values[a0:a1]
        fill = np.where(ok[:, None], y, np.nan)
        if method is not Method.HOLD:
            lens = cols.lens[::2].copy()
            lens[1:] += 1  # an anchor's own cell and its gap
            offset = np.arange(size, dtype=float) - np.repeat(np.append(0, pos).astype(float), lens)
        if method is Method.CUBIC:
            t = offset / cols.expand(1.0, h[a0:a1], 1.0, float)
        for d in range(n_dim):
            col = out_c[d, c0 : c0 + size]
            base = cols.expand(y[:, d], fill[:, d], np.nan, float)
            if method is Method.LINEAR:
                rise = cols.expand(0.0, slope[a0:a1, d], 0.0, float)
                rise *= offset
                np.add(base, rise, out=col)
            elif method is Method.CUBIC:
                poly = cols.expand(0.0, c3[a0:a1, d], 0.0, float)
                poly *= t
                poly += cols.expand(0.0, c2[a0:a1, d], 0.0, float)
                poly *= t
                poly += cols.expand(0.0, c1[a0:a1, d], 0.0, float)
                poly *= t
                np.add(base, poly, out=col)
            else:
                col[...] = base
    for d in range(n_dim):
        coords[:, :, d] = out_c[d].reshape(n_nodes, n_rows).T
    visibility[...] = out_v.reshape(n_nodes, n_rows).T
    if tail.any():  # a held gap runs on into the next node's column: clear before first anchors
        first = np.full(n_nodes, n_rows)
        first[spans.nodes[::-1]] = spans.rows[::-1]
        before = np.arange(n_rows)[:, None] < first[None, :]
        coords[before] = np.nan
        visibility[before] = 0
    if tail.any() and not alive.all():  # a held pose stops at the first frame that is not alive
        dead = np.flatnonzero(~alive)
        i = np.searchsorted(dead, spans.rows[tail], side="right")
        stops = i < dead.size
        for node, end in zip(spans.nodes[tail][stops].tolist(), dead[i[stops]].tolist()):
            coords[end:, node] = np.nan
            visibility[end:, node] = 0
    if restore[0].size:
        coords[restore], visibility[restore] = saved


def interpolated(
    coords: np.ndarray,
    visibility: np.ndarray,
    is_key: np.ndarray,
    alive: np.ndarray,
    method: str | Method = Method.LINEAR,
    bridge_unlabelled: bool = False,
    hold_last: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`fill_spans` but returns new ``(coords, visibility)`` arrays, inputs untouched."""
    out_c = np.array(coords, dtype=float, order="C")
    out_v = np.array(visibility, dtype=np.int8, order="C")
    is_key, alive = np.asarray(is_key, bool), np.asarray(alive, bool)
    fill_spans(out_c, out_v, is_key, alive, method, bridge_unlabelled, hold_last)
    return out_c, out_v
