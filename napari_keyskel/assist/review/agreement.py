"""Agreement between two annotation sets of the same frames (two annotators, or a model and a person).

Set ``a`` is the reference. On each frame, instances are paired by track id (``match="id"``), by
the largest total OKS (``match="oks"``, :func:`~napari_keyskel.assist.matching.match_by_oks`, i.e.
``scipy.optimize.linear_sum_assignment``), or by id first and OKS for the rest (``"auto"``, the
default). Over the pairs, per node and overall:

- ``oks``: COCO's object keypoint similarity (2-D only) with the reference's box area and
  per-node sigmas (:func:`~napari_keyskel.assist.matching.default_sigmas`: the skeleton's ``sigmas``,
  COCO's for the COCO-17 person, else 0.05); per node, the mean keypoint similarity;
- ``pck``: the fraction of the reference's labelled nodes within 0.05 and 0.1 of the diagonal of
  the reference instance's box (a node the other set lacks is a miss);
- ``mean_error``: the mean distance over nodes placed in both.

``worst`` lists the frames with the lowest mean OKS (mean error without OKS), a reference
instance left unpaired counting as OKS 0 there; frames where both sets agree exactly are left
out. Nodes are paired by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.store import AnnotationStore
from ...errors import KeyskelError
from ..matching import box_area, default_sigmas, match_by_oks
from .flags import DISAGREE, Flags

__all__ = ["Agreement", "Pairs", "compare_stores", "disagreement_flags", "pair_instances"]

PCK_LEVELS: tuple[float, ...] = (0.05, 0.1)
_WIDTH = np.int64(1) << 32


def _instances(store: AnnotationStore, order: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Every (frame, instance) with a placed node: ``frames, track_ids, poses (N, K, D)``."""
    fr, ids, poses = [], [], []
    for t in store:
        placed = np.isfinite(t.coords).all(axis=-1)
        rows = np.flatnonzero(placed.any(axis=1) & t.alive)
        fr.append(rows + t.start)
        ids.append(np.full(rows.size, t.track_id, np.int64))
        c = t.coords[rows]
        poses.append(c if order is None else _reorder(c, order))
    k = store.n_nodes if order is None else len(order)
    if not fr:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, k, store.coord_ndim))
    return np.concatenate(fr).astype(np.int64), np.concatenate(ids), np.concatenate(poses)


def _reorder(c: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Nodes of ``c`` in the reference order (``order[k] = -1``: the node is not in this set)."""
    out = np.full((c.shape[0], len(order), c.shape[2]), np.nan)
    have = order >= 0
    out[:, have] = c[:, order[have]]
    return out


@dataclass
class Pairs:
    """Paired instances: reference frame and ids, the other set's ids, both poses ``(P, K, D)``."""

    frame: np.ndarray
    id_a: np.ndarray
    id_b: np.ndarray
    pose_a: np.ndarray
    pose_b: np.ndarray
    unmatched_a: np.ndarray  # (U, 2) reference (frame, track id) left unpaired
    unmatched_b: int


def pair_instances(
    a: AnnotationStore,
    b: AnnotationStore,
    frame_map: np.ndarray | None = None,
    match: str = "auto",
    sigmas: np.ndarray | None = None,
) -> Pairs:
    """Pair the instances of ``b`` with those of ``a`` frame by frame.

    ``frame_map[f]`` is ``b``'s frame for ``a``'s frame ``f`` (-1: none); default the same index.
    """
    if match not in ("auto", "id", "oks"):
        raise KeyskelError(f"match must be 'auto', 'id' or 'oks', got {match!r}")
    if a.coord_ndim != b.coord_ndim:
        raise KeyskelError(f"cannot compare {a.coord_ndim}-D with {b.coord_ndim}-D annotations")
    names_b = {n: i for i, n in enumerate(b.skeleton.nodes)}
    order = np.asarray([names_b.get(n, -1) for n in a.skeleton.nodes], np.intp)
    if not (order >= 0).any():
        raise KeyskelError(f"the two annotation sets share no node name ({a.name!r} vs {b.name!r})")
    fa, ia, pa = _instances(a)
    fb, ib, pb = _instances(b, order)
    if frame_map is not None:  # b's frames -> a's frame numbers
        fm = np.asarray(frame_map, np.int64)
        inv = np.full(max(int(fm.max(initial=-1)), int(fb.max(initial=-1))) + 1, -1, np.int64)
        ok = fm >= 0
        inv[fm[ok]] = np.flatnonzero(ok)
        keep = (fb < len(inv)) & (inv[np.minimum(fb, len(inv) - 1)] >= 0)
        fb, ib, pb = inv[fb[keep]], ib[keep], pb[keep]
    ka, kb = fa * _WIDTH + ia, fb * _WIDTH + ib
    used_a, used_b = np.zeros(len(fa), bool), np.zeros(len(fb), bool)
    sel_a, sel_b = [np.zeros(0, np.intp)], [np.zeros(0, np.intp)]
    if match in ("auto", "id"):
        _, xa, xb = np.intersect1d(ka, kb, assume_unique=True, return_indices=True)
        sel_a.append(xa)
        sel_b.append(xb)
        used_a[xa], used_b[xb] = True, True
    if match in ("auto", "oks"):
        if a.coord_ndim != 2:
            raise KeyskelError("pairing by OKS needs 2-D annotations; use match='id'")
        sig = default_sigmas(a.skeleton.nodes, a.skeleton.sigmas) if sigmas is None else sigmas
        ra, rb = np.flatnonzero(~used_a), np.flatnonzero(~used_b)
        common = np.intersect1d(fa[ra], fb[rb])
        ra, rb = ra[np.isin(fa[ra], common)], rb[np.isin(fb[rb], common)]
        ra, rb = ra[np.argsort(fa[ra], kind="stable")], rb[np.argsort(fb[rb], kind="stable")]
        cut_a = np.searchsorted(fa[ra], common)
        cut_b = np.searchsorted(fb[rb], common)
        for ga_, gb_ in zip(np.split(ra, cut_a[1:]), np.split(rb, cut_b[1:])):  # frames with leftovers
            for i, j, _ in match_by_oks(pa[ga_], pb[gb_], sig):
                sel_a.append(ga_[i : i + 1])
                sel_b.append(gb_[j : j + 1])
                used_a[ga_[i]], used_b[gb_[j]] = True, True
    xa, xb = np.concatenate(sel_a), np.concatenate(sel_b)
    order_p = np.lexsort((ia[xa], fa[xa]))
    xa, xb = xa[order_p], xb[order_p]
    return Pairs(
        fa[xa], ia[xa], ib[xb], pa[xa], pb[xb],
        np.stack([fa[~used_a], ia[~used_a]], axis=1), int((~used_b).sum()),
    )  # fmt: skip


def _box_diag(p: np.ndarray) -> np.ndarray:
    placed = np.isfinite(p).all(axis=-1)
    lo = np.where(placed[..., None], p, np.inf).min(axis=1)
    hi = np.where(placed[..., None], p, -np.inf).max(axis=1)
    return np.where(placed.any(axis=1), np.linalg.norm(hi - lo, axis=-1), np.nan)


def keypoint_similarity(pose_a: np.ndarray, pose_b: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """``(P, K)`` COCO keypoint similarity of paired 2-D poses; NaN where ``a`` is not labelled.

    The per-pair mean over ``a``'s labelled nodes is the pair's OKS (as
    :func:`~napari_keyskel.assist.matching.oks_matrix` computes it).
    """
    area = box_area(pose_a)
    d2 = ((pose_a - pose_b) ** 2).sum(axis=-1)
    var = (2.0 * np.asarray(sigmas, float)) ** 2
    e = d2 / var / (area[:, None] + np.spacing(1)) / 2.0
    ks = np.where(np.isfinite(e), np.exp(-np.where(np.isfinite(e), e, 0.0)), 0.0)
    return np.where(np.isfinite(pose_a).all(axis=-1), ks, np.nan)


def _nanmean(a: np.ndarray, axis: int | None = None) -> Any:
    ok = np.isfinite(a)
    n = ok.sum(axis=axis)
    s = np.where(ok, a, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s / n
    return m


def _num(x: Any) -> float | None:
    x = float(x)
    return round(x, 6) if np.isfinite(x) else None


@dataclass
class Agreement:
    """The figures of :func:`compare_stores` (``None`` where undefined)."""

    oks: float | None
    pck: dict[str, float | None]
    mean_error: float | None
    per_node: dict[str, dict[str, Any]]
    worst: list[dict[str, Any]]
    pairs: int
    unmatched: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``oks``, ``pck``, ``mean_error``, ``per_node``, ``worst``, ``pairs``, ``unmatched``."""
        return {
            "oks": self.oks,
            "pck": self.pck,
            "mean_error": self.mean_error,
            "per_node": self.per_node,
            "worst": self.worst,
            "pairs": self.pairs,
            "unmatched": self.unmatched,
        }


def compare_stores(
    a: AnnotationStore,
    b: AnnotationStore,
    sigmas: Sequence[float] | None = None,
    frame_map: np.ndarray | None = None,
    match: str = "auto",
    n_worst: int = 10,
) -> Agreement:
    """Agreement of ``b`` with the reference ``a`` (see the module docstring)."""
    sig = default_sigmas(a.skeleton.nodes, a.skeleton.sigmas if sigmas is None else sigmas)
    p = pair_instances(a, b, frame_map, match, sig)
    two_d = a.coord_ndim == 2
    lab = np.isfinite(p.pose_a).all(axis=-1)  # (P, K)
    d = np.linalg.norm(p.pose_a - p.pose_b, axis=-1)  # NaN where either is missing
    diag = _box_diag(p.pose_a)[:, None]
    ks = keypoint_similarity(p.pose_a, p.pose_b, sig) if two_d else np.full(lab.shape, np.nan)
    with np.errstate(invalid="ignore"):
        pck = {f"{lv:g}": np.where(lab, np.isfinite(d) & (d <= lv * diag), np.nan) for lv in PCK_LEVELS}
    pair_oks = _nanmean(ks, axis=1) if len(ks) else np.zeros(0)
    per_node = {
        name: {
            "oks": _num(_nanmean(ks[:, k])) if two_d else None,
            "pck": {lv: _num(_nanmean(v[:, k])) for lv, v in pck.items()},
            "mean_error": _num(_nanmean(d[:, k])),
        }
        for k, name in enumerate(a.skeleton.nodes)
    }
    return Agreement(
        oks=_num(_nanmean(pair_oks)) if two_d else None,
        pck={lv: _num(_nanmean(v)) for lv, v in pck.items()},
        mean_error=_num(_nanmean(d)),
        per_node=per_node,
        worst=_worst(p, pair_oks if two_d else None, _nanmean(d, axis=1), n_worst),
        pairs=len(p.frame),
        unmatched={"a": len(p.unmatched_a), "b": p.unmatched_b},
    )


def _worst(p: Pairs, pair_oks: np.ndarray | None, pair_err: np.ndarray, n: int) -> list[dict[str, Any]]:
    """The ``n`` frames of lowest mean OKS (highest mean error without OKS), exact ones left out."""
    frames = np.concatenate([p.frame, p.unmatched_a[:, 0]])
    if not len(frames):
        return []
    uniq, inv = np.unique(frames, return_inverse=True)
    npair = len(p.frame)
    count = np.bincount(inv, minlength=len(uniq))
    unpaired = np.bincount(inv[npair:], minlength=len(uniq))
    err_ok = np.isfinite(pair_err)
    err_sum = np.bincount(inv[:npair][err_ok], weights=pair_err[err_ok], minlength=len(uniq))
    err_n = np.bincount(inv[:npair][err_ok], minlength=len(uniq))
    with np.errstate(invalid="ignore", divide="ignore"):
        err = err_sum / err_n
        if pair_oks is not None:
            ok = np.isfinite(pair_oks)
            osum = np.bincount(inv[:npair][ok], weights=pair_oks[ok], minlength=len(uniq))
            on = np.bincount(inv[:npair][ok], minlength=len(uniq)) + unpaired
            frame_oks = osum / on
            order = np.lexsort((-np.nan_to_num(err, nan=np.inf), np.nan_to_num(frame_oks, nan=-1)))
        else:
            frame_oks = np.full(len(uniq), np.nan)
            order = np.argsort(-np.nan_to_num(err, nan=np.inf), kind="stable")
    # a frame where the two sets agree exactly is not among the worst, however few frames differ
    exact = (unpaired == 0) & (np.nan_to_num(err, nan=np.inf) <= 1e-9)
    order = order[~exact[order]]
    return [
        {
            "frame": int(uniq[i]),
            "oks": _num(frame_oks[i]),
            "mean_error": _num(err[i]),
            "instances": int(count[i]),
            "unmatched": int(unpaired[i]),
        }
        for i in order[:n]
    ]


def disagreement_flags(
    a: AnnotationStore,
    b: AnnotationStore,
    level: float = 0.1,
    frame_map: np.ndarray | None = None,
    match: str = "auto",
) -> Flags:
    """``disagree`` flags on ``a``'s frames and tracks where ``b`` differs.

    A node farther than ``level`` x the reference box diagonal (score: that distance over the
    limit), or placed in one set only (score 2); a reference instance ``b`` lacks (node -1, score 2).
    """
    sig = default_sigmas(a.skeleton.nodes, a.skeleton.sigmas)
    p = pair_instances(a, b, frame_map, match, sig if a.coord_ndim == 2 else None)
    in_a = np.isfinite(p.pose_a).all(axis=-1)
    in_b = np.isfinite(p.pose_b).all(axis=-1)
    d = np.linalg.norm(p.pose_a - p.pose_b, axis=-1)
    limit = level * _box_diag(p.pose_a)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        far = in_a & in_b & (d > limit)
        score = np.where(far, d / limit, 2.0)
    bad = far | (in_a != in_b)
    r, k = np.nonzero(bad)
    um = p.unmatched_a
    return Flags.concat(
        [
            Flags.make(DISAGREE, p.frame[r], p.id_a[r], k, score[r, k]),
            Flags.make(DISAGREE, um[:, 0], um[:, 1], -1, 2.0),
        ]
    ).sorted()
