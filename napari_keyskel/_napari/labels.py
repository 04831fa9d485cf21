"""Where node names go: label boxes beside their points, overlapping neither each other nor points.

Pure numpy (no Qt, no napari). Everything is in screen pixels, ``(row, col)`` order: the glue
(:mod:`napari_keyskel._napari.names`) converts layer coordinates with the camera zoom, calls
:func:`place_labels` and converts the label centres back.

Each label gets candidate centres around its point, a short leader-less offset that clears the
point's marker: first radially away from its instance's centre (names then sit outside the
skeleton), then the 8 compass directions (the nearest to that radial direction first), then the
same further out. A greedy assignment, most constrained label first, takes for each label its
first candidate that overlaps no point's marker and no label already placed. It runs in
vectorised rounds: every unplaced label proposes its first free candidate; among the proposals,
in rank order, one is kept unless a kept one overlaps it (exact box tests), and the kept ones
block the rest. A label with no free candidate is not placed (left out, never drawn over another).

The fixed obstacles (the markers, labels placed before, and the skeleton's edges to keep clear
of) are painted once on a :class:`BoxRaster` of about one-pixel cells, so every candidate is
tested against all of them with four look-ups of a summed-area table: the time is bounded by the
candidates and the screen area, not by how crowded the points are (500 names over a 64 x 64 image
at napari's fitted zoom are placed in a few tens of milliseconds). The raster is conservative: a
candidate within a cell of a marker counts as touching it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "EXACT_OBSTACLES",
    "LINE_HEIGHT",
    "NEAR_RINGS",
    "OTHER_WIDTH",
    "POINT_TO_PIXEL",
    "BoxRaster",
    "label_half_sizes",
    "overlapping_pairs",
    "place_labels",
    "text_widths",
]

#: Advance of each printable ASCII glyph (codes 32-126) as a fraction of the font's pixel size,
#: measured once from napari's rendering of its OpenSans text (ink of 12 glyphs less 2, over 10).
_ASCII_WIDTHS = np.array(
    [
        0.42, 0.54, 0.61, 1.11, 0.85, 1.27, 1.04, 0.36, 0.52, 0.52, 0.67, 1.11, 0.42, 0.48, 0.42, 0.45,
        0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.45, 0.45, 1.11, 1.11, 1.11, 0.71,
        1.33, 0.91, 0.92, 0.93, 1.02, 0.84, 0.76, 1.03, 1.00, 0.39, 0.39, 0.88, 0.74, 1.15, 0.99, 1.04,
        0.80, 1.04, 0.93, 0.84, 0.81, 0.97, 0.91, 1.32, 0.91, 0.81, 0.91, 0.52, 0.45, 0.52, 1.11, 0.67,
        0.67, 0.82, 0.84, 0.73, 0.84, 0.82, 0.47, 0.84, 0.84, 0.37, 0.37, 0.77, 0.37, 1.29, 0.84, 0.82,
        0.84, 0.84, 0.54, 0.69, 0.52, 0.84, 0.79, 1.09, 0.79, 0.79, 0.70, 0.85, 0.45, 0.85, 1.11,
    ]
)  # fmt: skip
#: Advance of any other glyph (as wide as the widest ASCII ones: a box never too small).
OTHER_WIDTH = 1.35
#: Height of a label box (ascenders to descenders), as a fraction of the font's pixel size.
LINE_HEIGHT = 1.45
#: napari draws text of size ``s`` (points) at ``s * 96 / 72`` pixels, at any dpi.
POINT_TO_PIXEL = 96 / 72

#: Up to this many fixed obstacles (markers, boxes, edge samples) are tested box by box; more are
#: painted on a :class:`BoxRaster` (a cost bounded by the screen area, not by the crowd).
EXACT_OBSTACLES = 256

#: Rings every label tries first; the labels that find no room there try the rest, in a second pass
#: (most labels are placed in the first rings: the first pass has few candidates to test).
NEAR_RINGS = 2

#: Up to this many box pairs are tested all at once (no grid).
_BRUTE_PAIRS = 16384

#: The 8 compass directions, (row, col) unit vectors: E, NE, N, NW, W, SW, S, SE.
_COMPASS = np.array(
    [[np.sin(a), np.cos(a)] for a in -np.arange(8) * np.pi / 4]
)  # fmt: skip


def text_widths(strings: Sequence[str] | np.ndarray) -> np.ndarray:
    """``(N,)`` width of one-line strings, in font pixel sizes (glyph advances summed)."""
    strings = [str(x) for x in strings]
    lengths = np.fromiter((len(x) for x in strings), np.intp, count=len(strings))
    codes = np.frombuffer("".join(strings).encode("utf-32-le"), np.uint32).astype(np.int64)
    glyph = np.full(len(codes), OTHER_WIDTH)
    ascii_ = (codes >= 32) & (codes < 127)
    glyph[ascii_] = _ASCII_WIDTHS[codes[ascii_] - 32]
    owner = np.repeat(np.arange(len(strings)), lengths)
    return np.bincount(owner, weights=glyph, minlength=len(strings))


def label_half_sizes(strings: Sequence[str] | np.ndarray, font_size: float) -> np.ndarray:
    """``(N, 2)`` half height and half width in pixels of one-line labels of napari text ``font_size``."""
    px = float(font_size) * POINT_TO_PIXEL
    widths = text_widths(strings)
    half = np.empty((len(widths), 2))
    half[:, 0] = 0.5 * LINE_HEIGHT * px
    half[:, 1] = 0.5 * widths * px
    return half


def overlapping_pairs(
    lo: np.ndarray, hi: np.ndarray, lo_b: np.ndarray | None = None, hi_b: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)`` of axis-aligned boxes that overlap (touching edges do not).

    Boxes are given by their ``(N, 2)`` low and high corners. With one set, pairs within it
    (``i < j``); with two, pairs of a box of the first set and one of the second. A uniform grid
    of cells as large as the largest box makes it about linear in the number of boxes.
    """
    lo, hi = np.asarray(lo, float).reshape(-1, 2), np.asarray(hi, float).reshape(-1, 2)
    same = lo_b is None
    lo_b = lo if lo_b is None else np.asarray(lo_b, float).reshape(-1, 2)
    hi_b = hi if hi_b is None else np.asarray(hi_b, float).reshape(-1, 2)
    empty = np.zeros(0, np.intp)
    if not len(lo) or not len(lo_b):
        return empty, empty
    if len(lo) * len(lo_b) <= _BRUTE_PAIRS:  # few boxes: every pair at once beats the grid
        hit = np.all((lo[:, None, :] < hi_b[None, :, :]) & (lo_b[None, :, :] < hi[:, None, :]), axis=2)
        if same:
            hit = np.triu(hit, 1)
        i, j = np.nonzero(hit)
        return i.astype(np.intp), j.astype(np.intp)
    if not same and len(lo_b) < len(lo):  # look up the smaller set in the larger one
        j, i = overlapping_pairs(lo_b, hi_b, lo, hi)
        return i, j
    cell = np.maximum(np.maximum((hi - lo).max(axis=0), (hi_b - lo_b).max(axis=0)), 1e-9)
    origin = np.minimum(lo.min(axis=0), lo_b.min(axis=0))
    ca = np.floor((lo - origin) / cell).astype(np.int64)
    cb = np.floor((lo_b - origin) / cell).astype(np.int64)
    width = int(max(ca[:, 1].max(), cb[:, 1].max())) + 3  # room for the -1/+1 neighbours
    key_b = (cb[:, 0] + 1) * width + (cb[:, 1] + 1)
    order = np.argsort(key_b, kind="stable")
    sorted_b = key_b[order]
    key_a = (ca[:, 0] + 1) * width + (ca[:, 1] + 1)
    # a box spans at most two cells per axis, so overlapping boxes start in neighbouring cells
    shifts = np.array([dr * width + dc for dr in (-1, 0, 1) for dc in (-1, 0, 1)], np.int64)
    want = key_a[:, None] + shifts[None, :]
    start = np.searchsorted(sorted_b, want, side="left").ravel()
    stop = np.searchsorted(sorted_b, want, side="right").ravel()
    counts = stop - start
    total = int(counts.sum())
    if not total:
        return empty, empty
    i = np.repeat(np.repeat(np.arange(len(lo)), len(shifts)), counts)
    first = np.cumsum(counts) - counts
    j = order[np.repeat(start - first, counts) + np.arange(total)]
    hit = np.all((lo[i] < hi_b[j]) & (lo_b[j] < hi[i]), axis=1)
    if same:
        hit &= i < j
    return i[hit].astype(np.intp), j[hit].astype(np.intp)


def _candidates(
    pos: np.ndarray, half: np.ndarray, centres: np.ndarray, clearance: np.ndarray, rings: int, first: int = 0
) -> np.ndarray:
    """``(N, C, 2)`` candidate label centres on rings ``first`` to ``rings - 1``, in the order tried."""
    n = len(pos)
    away = pos - centres
    norm = np.hypot(away[:, 0], away[:, 1])
    radial = np.where(norm[:, None] > 1e-9, away / np.maximum(norm, 1e-9)[:, None], _COMPASS[0])
    # the compass directions, nearest to the radial one first (stable: ties keep E, NE, N ... order)
    closeness = -(radial @ _COMPASS.T)
    compass = _COMPASS[np.argsort(closeness, axis=1, kind="stable")]
    dirs = np.concatenate([radial[:, None, :], compass], axis=1)  # (N, 9, 2)
    # the box's extent towards its point, along the direction: the box just clears the marker
    support = np.abs(dirs[..., 0]) * half[:, None, 0] + np.abs(dirs[..., 1]) * half[:, None, 1]
    step = 2.0 * half[:, 0]  # each ring one line further out
    ring = np.arange(first, rings, dtype=float)
    dist = clearance[:, None, None] + support[:, None, :] + ring[None, :, None] * step[:, None, None]
    cand = pos[:, None, None, :] + dist[..., None] * dirs[:, None, :, :]  # (N, rings, 9, 2)
    return cand.reshape(n, len(ring) * dirs.shape[1], 2)


class BoxRaster:
    """Counts of boxes painted on a grid of square cells; which of many other boxes touch them.

    A box ``(lo, hi)`` (open: touching is not overlapping) covers the cells that meet its
    interior. Two overlapping boxes always share a cell, so :meth:`touches` never misses an
    overlap; it may report one for boxes less than a cell apart.
    """

    def __init__(self, lo: np.ndarray, hi: np.ndarray, cell: float) -> None:
        self.origin = np.asarray(lo, float)
        self.cell = float(cell)
        self.shape = np.maximum(np.ceil((np.asarray(hi, float) - self.origin) / self.cell), 1).astype(np.intp)
        self._diff = np.zeros(tuple(self.shape + 1), np.int32)
        self._table: np.ndarray | None = None

    def cells(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and one-past-last cell ``(row, col)`` of each box, clipped to the raster."""
        r0 = np.floor((np.asarray(lo, float) - self.origin) / self.cell).astype(np.intp)
        r1 = np.ceil((np.asarray(hi, float) - self.origin) / self.cell).astype(np.intp)
        return np.minimum(np.maximum(r0, 0), self.shape), np.minimum(np.maximum(r1, 0), self.shape)

    def paint(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Add ``(N, 2)`` boxes (a difference array: each box costs four writes)."""
        r0, r1 = self.cells(np.reshape(lo, (-1, 2)), np.reshape(hi, (-1, 2)))
        ok = np.all(r1 > r0, axis=1)
        r0, r1 = r0[ok], r1[ok]
        d = self._diff
        np.add.at(d, (r0[:, 0], r0[:, 1]), 1)
        np.add.at(d, (r0[:, 0], r1[:, 1]), -1)
        np.add.at(d, (r1[:, 0], r0[:, 1]), -1)
        np.add.at(d, (r1[:, 0], r1[:, 1]), 1)
        self._table = None

    def counts(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """``(N,)`` the sum over each box's cells of how many painted boxes cover them."""
        if self._table is None:
            cover = self._diff.cumsum(axis=0).cumsum(axis=1)[:-1, :-1]
            table = np.zeros(tuple(self.shape + 1), np.int32)
            table[1:, 1:] = cover.cumsum(axis=0).cumsum(axis=1)
            self._table = table
        t = self._table
        r0, r1 = self.cells(np.reshape(lo, (-1, 2)), np.reshape(hi, (-1, 2)))
        return np.asarray(
            t[r1[:, 0], r1[:, 1]] - t[r0[:, 0], r1[:, 1]] - t[r1[:, 0], r0[:, 1]] + t[r0[:, 0], r0[:, 1]]
        )

    def touches(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """``(N,)`` bool: the box meets a cell covered by a painted box."""
        return self.counts(lo, hi) > 0


def _shared_cells(
    raster: BoxRaster, lo_a: np.ndarray, hi_a: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray
) -> np.ndarray:
    """How many raster cells the boxes ``a`` and ``b`` (row by row) both cover."""
    a0, a1 = raster.cells(lo_a, hi_a)
    b0, b1 = raster.cells(lo_b, hi_b)
    ok_b = np.all(b1 > b0, axis=-1)
    side = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None)
    return np.asarray(side[..., 0] * side[..., 1] * ok_b)


def _keep_greedy(rank: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which proposals to keep: in rank order, each unless a kept one overlaps it (pairs ``a``-``b``).

    The same as going through them one by one in rank order, done in vectorised steps: each step
    keeps every undecided proposal with no undecided or kept one of a better rank overlapping it,
    and drops the undecided ones a kept one overlaps.
    """
    n = len(rank)
    keep = np.ones(n, bool)
    if not len(a):
        return keep
    i = np.concatenate([a, b])
    j = np.concatenate([b, a])
    better = rank[j] < rank[i]  # j is ranked before i
    undecided = np.zeros(n, bool)
    undecided[i] = True
    keep[i] = False
    while undecided.any():
        live = undecided[i] & better & (undecided[j] | keep[j])
        blocked = np.bincount(i[live], minlength=n) > 0
        won = undecided & ~blocked
        keep |= won
        undecided &= ~won
        lost = np.bincount(i[undecided[i] & keep[j]], minlength=n) > 0
        undecided &= ~lost
    return keep


def place_labels(
    pos: np.ndarray,
    half: np.ndarray,
    centres: np.ndarray | None = None,
    marker_radius: float | np.ndarray = 0.0,
    gap: float = 2.0,
    rings: int = 5,
    avoid: np.ndarray | None = None,
    avoid_radius: float = 1.0,
    max_rounds: int | None = None,
    markers: tuple[np.ndarray, np.ndarray] | None = None,
    taken: tuple[np.ndarray, np.ndarray] | None = None,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Centres of non-overlapping label boxes beside points, and which labels were placed.

    Parameters
    ----------
    pos
        ``(N, 2)`` points in screen pixels ``(row, col)``.
    half
        ``(N, 2)`` half height and half width of each label box in pixels (:func:`label_half_sizes`).
    centres
        ``(N, 2)`` centre of each point's instance (labels go away from it first); None: no
        preferred direction (east first).
    marker_radius
        Radius in pixels of the points' markers (scalar or ``(N,)``): no label covers a marker.
    gap
        Pixels between a marker and its label.
    rings
        How many distances to try (each one line further out).
    avoid
        ``(M, 2)`` pixels a label should rather not cover (points sampled along the skeleton's
        edges): a candidate clear of them is taken before one that is not, if it has room.
    avoid_radius
        Radius in pixels of each ``avoid`` point.
    max_rounds
        Stop after this many rounds (None: until every label is placed or has no room left).
    markers
        ``(positions (M, 2), radii (M,))`` of other points' markers, unlabelled here, that no
        label may cover either.
    taken
        ``(lo (M, 2), hi (M, 2))`` boxes already taken (labels placed before) that no label may
        overlap.
    bounds
        ``(lo (2,), hi (2,))`` the part of the plane in view (the canvas): for a point in view, a
        candidate inside it is taken before any that is not (clear of the edges or not); None:
        no bounds.

    Returns
    -------
    label_centres
        ``(N, 2)`` label box centres in pixels (NaN where not placed).
    placed
        ``(N,)`` bool: the label has a place (the placed boxes overlap neither each other nor any
        marker).

    """
    pos = np.asarray(pos, float).reshape(-1, 2)
    half = np.asarray(half, float).reshape(-1, 2)
    n = len(pos)
    centres = pos if centres is None else np.asarray(centres, float).reshape(-1, 2)
    radius = np.broadcast_to(np.asarray(marker_radius, float), (n,)).astype(float)
    rings = max(int(rings), 1)
    near = min(rings, NEAR_RINGS)
    # first the near rings for every label (most find room there), then the far ones for the rest
    out, placed = _place(
        pos, half, centres, radius, gap, (0, near), avoid, avoid_radius, max_rounds, markers, taken, bounds
    )
    rest = np.flatnonzero(~placed)
    if rings > near and len(rest):
        done = np.flatnonzero(placed)
        m_pos = [pos[done]]
        m_rad = [radius[done]]
        if markers is not None and len(markers[0]):
            other = np.asarray(markers[0], float).reshape(-1, 2)
            m_pos.append(other)
            m_rad.append(np.broadcast_to(np.asarray(markers[1], float), (len(other),)))
        t_lo, t_hi = [out[done] - half[done]], [out[done] + half[done]]
        if taken is not None and len(taken[0]):
            t_lo.append(np.asarray(taken[0], float).reshape(-1, 2))
            t_hi.append(np.asarray(taken[1], float).reshape(-1, 2))
        far, ok = _place(  # (the near rings of these are all taken: the far ones only)
            pos[rest],
            half[rest],
            centres[rest],
            radius[rest],
            gap,
            (near, rings),
            avoid,
            avoid_radius,
            max_rounds,
            (np.concatenate(m_pos), np.concatenate(m_rad)),
            (np.concatenate(t_lo), np.concatenate(t_hi)),
            bounds,
        )
        out[rest[ok]] = far[ok]
        placed[rest[ok]] = True
    return out, placed


def _place(
    pos: np.ndarray,
    half: np.ndarray,
    centres: np.ndarray,
    radius: np.ndarray,
    gap: float,
    rings: tuple[int, int],
    avoid: np.ndarray | None,
    avoid_radius: float,
    max_rounds: int | None,
    markers: tuple[np.ndarray, np.ndarray] | None,
    taken: tuple[np.ndarray, np.ndarray] | None,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One pass of :func:`place_labels` over the candidates of rings ``rings[0]`` to ``rings[1] - 1``."""
    n = len(pos)
    out = np.full((n, 2), np.nan)
    placed = np.zeros(n, bool)
    if n == 0:
        return out, placed
    cand = _candidates(pos, half, centres, radius + gap, rings[1], rings[0])
    n_cand = cand.shape[1]
    c_lo3, c_hi3 = cand - half[:, None, :], cand + half[:, None, :]
    c_lo, c_hi = c_lo3.reshape(-1, 2), c_hi3.reshape(-1, 2)
    # the fixed obstacles: every marker (a label's own is cleared by construction), other
    # markers, boxes taken before; few are tested box by box, many on a raster
    m_lo, m_hi = pos - radius[:, None], pos + radius[:, None]
    obs_lo, obs_hi = [m_lo], [m_hi]
    if markers is not None and len(markers[0]):
        other = np.asarray(markers[0], float).reshape(-1, 2)
        r_other = np.broadcast_to(np.asarray(markers[1], float), (len(other),))[:, None]
        obs_lo.append(other - r_other)
        obs_hi.append(other + r_other)
    if taken is not None and len(taken[0]):
        obs_lo.append(np.asarray(taken[0], float).reshape(-1, 2))
        obs_hi.append(np.asarray(taken[1], float).reshape(-1, 2))
    lo_all, hi_all = np.concatenate(obs_lo), np.concatenate(obs_hi)
    lo0, hi0 = c_lo.min(axis=0) - 1.0, c_hi.max(axis=0) + 1.0
    cell = max(1.0, 0.25 * float(half[:, 0].min()), float(np.sqrt(np.prod(hi0 - lo0) / 2**20)))
    if len(lo_all) <= EXACT_OBSTACLES:
        blocked = np.zeros(n * n_cand, bool)
        blocked[overlapping_pairs(c_lo, c_hi, lo_all, hi_all)[0]] = True
        blocked = blocked.reshape(n, n_cand)
    else:  # the own marker tested exactly: the raster would count a box within a cell of it
        obstacles = BoxRaster(lo0, hi0, cell)
        obstacles.paint(lo_all, hi_all)
        hits = obstacles.counts(c_lo, c_hi).reshape(n, n_cand)
        hits -= _shared_cells(obstacles, c_lo3, c_hi3, m_lo[:, None, :], m_hi[:, None, :])
        own = np.all((c_lo3 < m_hi[:, None, :]) & (m_lo[:, None, :] < c_hi3), axis=-1)
        blocked = (hits > 0) | own
    # candidates over an edge come after the clear ones (2: free and clear, 1: free, 0: taken);
    # only the free ones need telling
    clear = np.ones((n, n_cand), bool)
    if avoid is not None and len(avoid):
        av = np.asarray(avoid, float).reshape(-1, 2)
        free = np.flatnonzero(~blocked.reshape(-1))
        if len(av) <= EXACT_OBSTACLES:
            hit = free[overlapping_pairs(c_lo[free], c_hi[free], av - avoid_radius, av + avoid_radius)[0]]
        else:
            edges = BoxRaster(lo0, hi0, cell)
            edges.paint(av - avoid_radius, av + avoid_radius)
            hit = free[edges.touches(c_lo[free], c_hi[free])]
        clear.reshape(-1)[hit] = False
    inside = np.ones((n, n_cand), bool)
    if bounds is not None:  # (a point out of view: its label may go anywhere)
        b_lo, b_hi = (np.asarray(b, float).reshape(2) for b in bounds)
        seen = np.all((pos >= b_lo) & (pos <= b_hi), axis=-1)
        inside = np.all((c_lo3 >= b_lo) & (c_hi3 <= b_hi), axis=-1) | ~seen[:, None]
    # most constrained first (fewest free candidates), then in the order given
    rank = np.empty(n, np.intp)
    rank[np.lexsort((np.arange(n), (~blocked).sum(axis=1)))] = np.arange(n)
    left = np.arange(n)
    rounds = 0
    while len(left) and (max_rounds is None or rounds < max_rounds):
        rounds += 1
        free = ~blocked[left]
        left = left[free.any(axis=1)]  # no room at all: not placed
        if not len(left):
            break
        # inside the view and clear 4, inside 3, outside and clear 2, outside 1, taken 0
        score = (~blocked[left]) * (1 + clear[left] + 2 * inside[left])
        choice = np.argmax(score, axis=1)
        lo, hi = c_lo3[left, choice], c_hi3[left, choice]
        a, b = overlapping_pairs(lo, hi)
        keep = _keep_greedy(rank[left], a, b)
        won = left[keep]
        out[won] = cand[won, choice[keep]]
        placed[won] = True
        left = left[~keep]
        if len(left):  # the new labels block the candidates of the others
            rows = (left[:, None] * n_cand + np.arange(n_cand)[None, :]).ravel()
            ci, _ = overlapping_pairs(c_lo[rows], c_hi[rows], lo[keep], hi[keep])
            blocked.reshape(-1)[rows[ci]] = True
    return out, placed
