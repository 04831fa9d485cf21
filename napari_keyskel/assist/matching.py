"""Object keypoint similarity (OKS) and matching of instances between two sets of poses.

OKS follows COCO's definition (pycocotools ``COCOeval.computeOks``): for a ground-truth pose with
``n`` labelled nodes, area ``s`` and per-node constants ``sigma``,

``OKS = sum_i exp(-d_i^2 / (2 s (2 sigma_i)^2)) / n``

over the labelled nodes ``i`` only, with ``d_i`` the distance to the other pose's node (a node the
other pose lacks counts as infinitely far). The area is that of the box of the labelled nodes
(``w * h``), the rule our COCO writer uses for ``area``. Poses are ``(K, 2)`` arrays of any
coordinate order, NaN where a node is absent. Matching pairs instances by the largest total OKS
(``scipy.optimize.linear_sum_assignment``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "COCO17_SIGMAS",
    "DEFAULT_SIGMA",
    "box_area",
    "default_sigmas",
    "match_by_oks",
    "oks_matrix",
]

#: COCO's per-keypoint constants for the 17 person keypoints (pycocotools' ``kpt_oks_sigmas``).
COCO17_SIGMAS = (
    np.array(
        [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
    )
    / 10.0
)
#: The constant used for a node of any other skeleton (COCO-like, a fairly strict one).
DEFAULT_SIGMA = 0.05

_COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip


def default_sigmas(node_names: Sequence[str], given: Sequence[float] | None = None) -> np.ndarray:
    """Per-node OKS constants: ``given`` if any, COCO's for the COCO-17 person, else 0.05 each."""
    k = len(node_names)
    if given is not None:
        arr = np.asarray(given, dtype=float)
        if arr.shape != (k,) or not (np.isfinite(arr) & (arr > 0)).all():
            raise ValueError(f"expected {k} positive OKS sigmas, got {list(np.ravel(arr))}")
        return arr
    if tuple(n.lower() for n in node_names) == _COCO17_NAMES:
        return COCO17_SIGMAS.copy()
    return np.full(k, DEFAULT_SIGMA)


def box_area(poses: np.ndarray) -> np.ndarray:
    """Area ``w * h`` of the box of each pose's placed nodes; ``(N, K, 2)`` -> ``(N,)``."""
    p = np.asarray(poses, dtype=float)
    placed = np.isfinite(p).all(axis=-1)
    lo = np.where(placed[..., None], p, np.inf).min(axis=1)
    hi = np.where(placed[..., None], p, -np.inf).max(axis=1)
    ext = np.where(placed.any(axis=1)[:, None], hi - lo, 0.0)
    return ext[:, 0] * ext[:, 1]


def oks_matrix(
    gt: np.ndarray,
    dt: np.ndarray,
    sigmas: np.ndarray,
    areas: np.ndarray | None = None,
) -> np.ndarray:
    """OKS of every ground-truth pose against every other pose.

    Parameters
    ----------
    gt, dt
        ``(N, K, 2)`` and ``(M, K, 2)`` poses, NaN where a node is absent (in ``gt``: not
        labelled, so it does not count; in ``dt``: missing, so it scores 0).
    sigmas
        ``(K,)`` per-node constants (see :func:`default_sigmas`).
    areas
        ``(N,)`` object areas; default :func:`box_area` of ``gt``.

    Returns
    -------
    numpy.ndarray
        ``(N, M)`` OKS in [0, 1]; NaN for a ground-truth pose with no labelled node.

    """
    g = np.asarray(gt, dtype=float)
    d = np.asarray(dt, dtype=float)
    if g.ndim != 3 or d.ndim != 3 or g.shape[1:] != d.shape[1:] or g.shape[2] != 2:
        raise ValueError(f"poses must be (N, K, 2) and (M, K, 2), got {g.shape} and {d.shape}")
    area = box_area(g) if areas is None else np.asarray(areas, dtype=float)
    labelled = np.isfinite(g).all(axis=-1)  # (N, K)
    var = (2.0 * np.asarray(sigmas, dtype=float)) ** 2  # (K,)
    d2 = ((g[:, None] - d[None]) ** 2).sum(axis=-1)  # (N, M, K), NaN where either is missing
    e = d2 / var / (area[:, None, None] + np.spacing(1)) / 2.0
    sim = np.where(np.isfinite(e), np.exp(-np.where(np.isfinite(e), e, 0.0)), 0.0)
    sim = np.where(labelled[:, None, :], sim, 0.0)
    n = labelled.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sim.sum(axis=-1) / n[:, None]
    out[n == 0] = np.nan
    return out


def match_by_oks(
    gt: np.ndarray,
    dt: np.ndarray,
    sigmas: np.ndarray,
    min_oks: float = 0.0,
    areas: np.ndarray | None = None,
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, oks)`` of ``gt[i]`` and ``dt[j]`` maximising the total OKS.

    Each pose is used at most once; pairs with OKS at or below ``min_oks`` (or undefined) are left
    out.
    """
    from scipy.optimize import linear_sum_assignment

    sim = oks_matrix(gt, dt, sigmas, areas)
    if sim.size == 0:
        return []
    score = np.nan_to_num(sim, nan=-1.0)
    rows, cols = linear_sum_assignment(score, maximize=True)
    return [(int(i), int(j), float(sim[i, j])) for i, j in zip(rows, cols) if score[i, j] > min_oks]
