"""Detectors of suspicious annotations, vectorised over every frame of a store.

Each detector works on whole track arrays (one numpy pass per track, per pair of left/right nodes
or per pair of overlapping tracks; never a Python loop over frames) and returns
:class:`~napari_keyskel.assist.review.flags.Flags`. A flag's ``score`` is the detector's statistic divided
by its threshold (``>= 1``). Distances are in the store's coordinate units; thresholds that need
a length scale use the instance's *size*: the median over its frames of the diagonal of the box
of its placed nodes.

``swap``
    A left/right pair (the skeleton's flip pairs) exchanged: between frames ``t-1`` and ``t`` the
    mirrored assignment fits the previous positions better than the given one (mirrored cost
    ``< swap_ratio`` x given cost, the gain ``>= swap_gain`` x the pair's separation, and the pair
    at least ``swap_min_sep`` x its median separation apart). Two such *exchanges* of a pair at
    most ``swap_max_run`` frames apart flag the frames from the first up to the second (a run of
    swapped frames, flagged whole); an exchange without a partner flags its own frame (where a
    lasting swap begins). The flag names the pair's first node (``other``: the second).
``jump``
    A node's step (distance moved from the previous frame) above its own median step plus
    ``jump_z`` robust deviations (``1.4826 x MAD``, floored at 10 % of the median and 0.5 % of
    the size) and above ``jump_min`` x the size. A spike (out and straight back) flags the frame
    it lands on only.
``bone``
    An edge length more than ``bone_z`` robust deviations from that edge's median over the
    instance (deviation floored at ``bone_floor`` x the median) or over all instances of the
    store (floored at ``bone_pool_floor`` x the median). The flag names the edge's node that
    is in more outlying edges on that frame.
``identity``
    Two instances exchanging identity between frames ``t-1`` and ``t``: the crossed assignment
    fits better (cost ``< identity_ratio`` x given, gain ``>= identity_gain`` x their mean
    distance). Both tracks are flagged on frame ``t``, each naming the other.
``missing``
    On a keyed frame (any node a placed key), a node neither placed nor marked occluded or
    unlabelled.
``low_score``
    A placed node whose model score (``Track.score``) is below ``low_score``; nothing without
    scores.

:func:`detect` runs them and drops ``jump`` flags another flag explains (a swapped node, an
instance exchanging identity).

Default thresholds (:class:`Thresholds`; ``keyskel review --threshold NAME=VALUE``):

=================== ======= ==================================================================
name                default meaning
=================== ======= ==================================================================
``swap_ratio``      0.5     mirrored cost below this fraction of the given cost
``swap_gain``       1.0     cost saved by mirroring, in pair separations
``swap_min_sep``    0.25    the pair this fraction of its median separation apart, at least
``swap_max_run``    50      longest run of swapped frames flagged whole
``jump_z``          8.0     robust deviations above the node's median step
``jump_min``        0.05    smallest jump, in instance sizes
``bone_z``          6.0     robust deviations from the edge's median length
``bone_floor``      0.05    smallest deviation, in median lengths (per instance)
``bone_pool_floor`` 0.25    smallest deviation, in median lengths (over all instances)
``identity_ratio``  0.5     crossed cost below this fraction of the given cost
``identity_gain``   1.0     cost saved by crossing, in the instances' mean distance
``low_score``       0.5     model score below this
=================== ======= ==================================================================
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from ...core.store import OCCLUDED, UNLABELLED, AnnotationStore, Track
from .flags import KINDS, Flags, dedupe

__all__ = [
    "Thresholds",
    "detect",
    "detect_bone",
    "detect_identity",
    "detect_jump",
    "detect_low_score",
    "detect_missing",
    "detect_swap",
]  # fmt: skip

_MAD = 1.4826  # MAD -> standard deviation of a normal distribution


@dataclass(frozen=True)
class Thresholds:
    """Detector thresholds (see the module docstring for what each means)."""

    swap_ratio: float = 0.5
    swap_gain: float = 1.0
    swap_min_sep: float = 0.25
    swap_max_run: float = 50
    jump_z: float = 8.0
    jump_min: float = 0.05
    bone_z: float = 6.0
    bone_floor: float = 0.05
    bone_pool_floor: float = 0.25
    identity_ratio: float = 0.5
    identity_gain: float = 1.0
    low_score: float = 0.5

    @classmethod
    def names(cls) -> list[str]:
        """The parameter names."""
        return [f.name for f in fields(cls)]


def _nanmedian(a: np.ndarray, axis: int = 0) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as wanted
        return np.nanmedian(a, axis=axis)


def _robust(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and ``1.4826 x MAD`` along axis 0, ignoring NaN."""
    med = _nanmedian(a)
    return med, _MAD * _nanmedian(np.abs(a - med))


def _size(t: Track) -> float:
    """Median diagonal of the box of the placed nodes over the track's frames (NaN if none)."""
    c = t.coords
    placed = np.isfinite(c).all(axis=-1)
    lo = np.where(placed[..., None], c, np.inf).min(axis=1)
    hi = np.where(placed[..., None], c, -np.inf).max(axis=1)
    ok = placed.any(axis=1)
    if not ok.any():
        return float("nan")
    return float(np.median(np.linalg.norm(hi[ok] - lo[ok], axis=-1)))


def _steps(t: Track) -> np.ndarray:
    """``(L-1, K)`` distance each node moved from the previous frame (NaN across dead frames)."""
    d = np.linalg.norm(t.coords[1:] - t.coords[:-1], axis=-1)
    d[~(t.alive[1:] & t.alive[:-1])] = np.nan
    return d


def detect_jump(t: Track, th: Thresholds = Thresholds()) -> Flags:
    """``jump`` flags of one track."""
    if len(t) < 3:
        return Flags.empty()
    step = _steps(t)
    med, dev = _robust(step)
    size = _size(t)
    scale = np.fmax(np.fmax(dev, 0.1 * med), 0.005 * size)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (step - med) / scale
        out = (z > th.jump_z) & (step > th.jump_min * size)
    first = out.copy()
    first[1:] &= ~out[:-1]  # a spike out and back: the landing frame, not the return
    r, k = np.nonzero(first)
    return Flags.make("jump", r + 1 + t.start, t.track_id, k, z[r, k] / th.jump_z)


def _swap_spans(
    event: np.ndarray, valid: np.ndarray, gain: np.ndarray, max_run: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, pair columns and scores of the frames between paired exchanges.

    An exchange at row ``r`` and the pair's next one at ``r2`` (linked by valid steps, at most
    ``max_run`` rows later) flag rows ``[r, r2)``; an exchange with no such partner flags row
    ``r`` only. The loop runs over exchanges (rare), not over frames.
    """
    start = ~valid
    start[0] = True
    run = np.cumsum(start, axis=0)
    er, ec = np.nonzero(event)
    order = np.lexsort((er, ec))
    er, ec = er[order].tolist(), ec[order].tolist()
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    i = 0
    while i < len(er):
        r, c = er[i], ec[i]
        nxt = i + 1 < len(er) and ec[i + 1] == c and er[i + 1] - r <= max_run
        if nxt and run[er[i + 1], c] == run[r, c]:
            span = np.arange(r, er[i + 1])
            sc = max(gain[r, c], gain[er[i + 1], c])
            i += 2
        else:
            span, sc = np.array([r]), gain[r, c]
            i += 1
        rows.append(span)
        cols.append(np.full(span.size, c))
        scores.append(np.full(span.size, sc))
    if not rows:
        z = np.zeros(0, np.intp)
        return z, z, np.zeros(0)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(scores)


def detect_swap(t: Track, pairs: np.ndarray, th: Thresholds = Thresholds()) -> Flags:
    """``swap`` flags of one track for the ``(P, 2)`` left/right node pairs."""
    if len(t) < 2 or not len(pairs):
        return Flags.empty()
    a, b = t.coords[:, pairs[:, 0]], t.coords[:, pairs[:, 1]]  # (L, P, D)

    def dist(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.linalg.norm(u - v, axis=-1)

    given = dist(a[1:], a[:-1]) + dist(b[1:], b[:-1])
    mirrored = dist(a[1:], b[:-1]) + dist(b[1:], a[:-1])
    sep = dist(a, b)
    med_sep = _nanmedian(sep)
    sep_prev = sep[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = (given - mirrored) / sep_prev
        ev = (
            (mirrored < th.swap_ratio * given)
            & (gain >= th.swap_gain)
            & (sep_prev >= th.swap_min_sep * med_sep)
        )
    valid = np.zeros(sep.shape, bool)
    valid[1:] = np.isfinite(given) & np.isfinite(mirrored) & t.alive[1:, None] & t.alive[:-1, None]
    event = np.zeros(sep.shape, bool)
    event[1:] = ev & valid[1:]
    full_gain = np.zeros(sep.shape)
    full_gain[1:] = np.where(event[1:], gain, 0.0)
    rows, cols, score = _swap_spans(event, valid, full_gain, th.swap_max_run)
    s = np.maximum(score / th.swap_gain, 1.0)
    return Flags.make("swap", rows + t.start, t.track_id, pairs[cols, 0], s, pairs[cols, 1])


def _edge_lengths(t: Track, edges: np.ndarray) -> np.ndarray:
    return np.linalg.norm(t.coords[:, edges[:, 0]] - t.coords[:, edges[:, 1]], axis=-1)


def detect_bone(
    t: Track,
    edges: np.ndarray,
    pooled: tuple[np.ndarray, np.ndarray] | None = None,
    th: Thresholds = Thresholds(),
    n_nodes: int | None = None,
) -> Flags:
    """``bone`` flags of one track; ``pooled`` is (median, deviation) per edge over all tracks."""
    if not len(edges):
        return Flags.empty()
    length = _edge_lengths(t, edges)  # (L, E)
    med, dev = _robust(length)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.abs(length - med) / np.fmax(dev, th.bone_floor * med)
        if pooled is not None:
            pmed, pdev = pooled
            z = np.fmax(z, np.abs(length - pmed) / np.fmax(pdev, th.bone_pool_floor * pmed))
        out = z > th.bone_z
    rows, e = np.nonzero(out)
    if not rows.size:
        return Flags.empty()
    k = n_nodes or t.coords.shape[1]
    # per (row, node): how many outlying edges touch it; name the edge's node in more of them
    hits = np.zeros((len(t), k), np.int64)
    np.add.at(hits, (rows, edges[e, 0]), 1)
    np.add.at(hits, (rows, edges[e, 1]), 1)
    i, j = edges[e, 0], edges[e, 1]
    node = np.where(hits[rows, i] > hits[rows, j], i, j)
    return dedupe(Flags.make("bone", rows + t.start, t.track_id, node, z[rows, e] / th.bone_z))


def pooled_bone_stats(tracks: Iterable[Track], edges: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Median and robust deviation of each edge's length over every frame of ``tracks``."""
    parts = [_edge_lengths(t, edges) for t in tracks]
    if not parts or not len(edges):
        return None
    return _robust(np.concatenate(parts))


def _mean_dist(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mean node distance of poses ``(n, K, D)``, over the nodes placed in both (NaN if none)."""
    d = np.linalg.norm(u - v, axis=-1)
    ok = np.isfinite(d)
    n = ok.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(ok, d, 0.0).sum(axis=-1) / n, np.nan)


def detect_identity(ta: Track, tb: Track, th: Thresholds = Thresholds()) -> Flags:
    """``identity`` flags of two tracks exchanging identity on a frame they share with the previous."""
    lo, hi = max(ta.start, tb.start), min(ta.stop, tb.stop)
    if hi - lo < 2:
        return Flags.empty()
    a, b = ta.coords[lo - ta.start : hi - ta.start], tb.coords[lo - tb.start : hi - tb.start]
    alive = ta.alive[lo - ta.start : hi - ta.start] & tb.alive[lo - tb.start : hi - tb.start]
    given = _mean_dist(a[1:], a[:-1]) + _mean_dist(b[1:], b[:-1])
    crossed = _mean_dist(a[1:], b[:-1]) + _mean_dist(b[1:], a[:-1])
    sep = _mean_dist(a[:-1], b[:-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = (given - crossed) / sep
        ev = (crossed < th.identity_ratio * given) & (gain >= th.identity_gain) & alive[1:] & alive[:-1]
    r = np.flatnonzero(ev)
    f = r + 1 + lo
    s = gain[r] / th.identity_gain
    return Flags.concat(
        [
            Flags.make("identity", f, ta.track_id, -1, s, tb.track_id),
            Flags.make("identity", f, tb.track_id, -1, s, ta.track_id),
        ]
    )


def detect_missing(t: Track) -> Flags:
    """``missing`` flags: nodes neither placed nor marked on a keyed frame of one track."""
    placed = np.isfinite(t.coords).all(axis=-1)
    keyed = t.alive & (t.is_key & placed).any(axis=1)
    marked = (t.is_key & (t.visibility == UNLABELLED)) | (t.visibility == OCCLUDED)
    r, k = np.nonzero(keyed[:, None] & ~placed & ~marked)
    return Flags.make("missing", r + t.start, t.track_id, k, 1.0)


def detect_low_score(t: Track, th: Thresholds = Thresholds()) -> Flags:
    """``low_score`` flags: placed nodes whose model score is below the threshold."""
    s = t.score
    if s is None or not np.isfinite(s).any():
        return Flags.empty()
    placed = np.isfinite(t.coords).all(axis=-1)
    with np.errstate(invalid="ignore"):
        low = placed & (s < th.low_score)
    r, k = np.nonzero(low)
    floor = th.low_score / 100.0
    return Flags.make("low_score", r + t.start, t.track_id, k, th.low_score / np.maximum(s[r, k], floor))


def _explained_jumps(flags: Flags) -> np.ndarray:
    """Mask of ``jump`` flags on a node of a swap flag or an instance with an identity flag."""
    jump = flags.kind == "jump"
    if not jump.any():
        return jump
    key = flags.frame * (1 << 20) + flags.track_id  # (frame, track) as one number
    ident = np.isin(key, key[flags.kind == "identity"])
    swapped = np.zeros(len(flags), bool)
    sw = flags.kind == "swap"
    if sw.any():
        swapped = np.isin(key * 4096 + flags.node, key[sw] * 4096 + flags.node[sw])
        swapped |= np.isin(key * 4096 + flags.node, key[sw] * 4096 + flags.other[sw])
    return jump & (ident | swapped)


def detect(
    store: AnnotationStore,
    kinds: Sequence[str] | None = None,
    thresholds: Thresholds | None = None,
    track_ids: Iterable[int] | None = None,
) -> Flags:
    """Run the detectors over a store and return their flags, sorted (frame, then score).

    Parameters
    ----------
    store
        The annotations.
    kinds
        Which detectors (default: all of :data:`~napari_keyskel.assist.review.flags.KINDS`).
    thresholds
        Detector thresholds (default: :class:`Thresholds`).
    track_ids
        Only flags about these tracks (``identity``: every pair with one of them); the robust
        statistics stay those of whole tracks, so a re-run after an edit gives what a full run
        would for them.

    """
    th = thresholds or Thresholds()
    kinds = KINDS if kinds is None else tuple(kinds)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown flag kinds {unknown} (known: {', '.join(KINDS)})")
    sk = store.skeleton
    every = list(store.tracks.values())
    chosen = every if track_ids is None else [store.tracks[i] for i in track_ids if i in store.tracks]
    pairs = np.asarray(sk.flip_pairs, np.intp).reshape(-1, 2)
    edges = sk.edge_array()
    pooled = pooled_bone_stats(every, edges) if "bone" in kinds and len(every) > 1 else None
    parts: list[Flags] = []
    for t in chosen:
        if "swap" in kinds:
            parts.append(detect_swap(t, pairs, th))
        if "jump" in kinds or "identity" in kinds:  # jumps explained by identity are dropped
            parts.append(detect_jump(t, th))
        if "bone" in kinds:
            parts.append(detect_bone(t, edges, pooled, th, sk.n_nodes))
        if "missing" in kinds:
            parts.append(detect_missing(t))
        if "low_score" in kinds:
            parts.append(detect_low_score(t, th))
    if "identity" in kinds:
        parts += [detect_identity(a, b, th) for a, b in _overlapping_pairs(every, chosen)]
    flags = Flags.concat(parts)
    flags = flags.take(~_explained_jumps(flags))
    if "jump" not in kinds:
        flags = flags.take(flags.kind != "jump")
    return flags.sorted()


def _overlapping_pairs(every: list[Track], chosen: list[Track]) -> list[tuple[Track, Track]]:
    """Pairs of tracks sharing at least two frames, one of them in ``chosen``."""
    ids = {t.track_id for t in chosen}
    out = []
    for i, a in enumerate(every):
        for b in every[i + 1 :]:
            if (a.track_id in ids or b.track_id in ids) and min(a.stop, b.stop) - max(a.start, b.start) > 1:
                out.append((a, b))
    return out
