"""Triangulation of points seen in several calibrated views, vectorised over any batch shape.

Image points are OpenCV ``(x, y)`` pixels (column, row; integers at pixel centres), one array
per view stacked as ``xy[V, *S, 2]`` with NaN where a view did not see a point; ``S`` is any
batch shape, typically (frames, instances, nodes). Steps:

1. **Undistort** each view's points with ``cv2.undistortPoints`` to normalised camera
   coordinates (``cv2.fisheye.undistortPoints`` for aniposelib's fisheye cameras,
   ``fisheye = true``, whose four coefficients are OpenCV's k1..k4).
2. **Linear DLT** over every view that saw the point (``>= min_views``): the stacked
   ``x P_3 - P_1``, ``y P_3 - P_2`` rows solved for ``[X, 1]`` in the least-squares sense, all
   points in one batched solve of their 3x3 normal equations.
3. **Refinement**: ``scipy.optimize.least_squares`` minimises the pixel reprojection error of all
   points at once through the full distortion model (``cv2.projectPoints`` or
   ``cv2.fisheye.projectPoints``, whose Jacobian gives
   the analytic derivative), with the block-diagonal sparsity of independent points.
4. **Reprojection** into every view: the error per observed node, and *proposals* where a view
   did not see a node that others triangulated.

OpenCV is imported when a function needs it (``pip install opencv-python-headless``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Literal, overload

import numpy as np

from ..errors import KeyskelError
from .calibration import Calibration, Camera

__all__ = [
    "Triangulation",
    "project",
    "project_camera",
    "reprojection_flags",
    "triangulate",
    "triangulate_dlt",
    "undistort",
]


def _cv2() -> ModuleType:
    try:
        import cv2
    except ImportError:  # pragma: no cover - the test extra installs it
        raise KeyskelError("triangulation needs OpenCV: pip install opencv-python-headless") from None
    return cv2


def _check(cal: Calibration, xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, float)
    if xy.ndim < 2 or xy.shape[-1] != 2 or xy.shape[0] != len(cal):
        raise KeyskelError(f"expected image points of shape ({len(cal)} views, ..., 2), got {xy.shape}")
    for c in cal.cameras:
        if c.fisheye:
            _fisheye_coefficients(c)  # four, or a clear error before any work
    return xy


def _fisheye_coefficients(camera: Camera) -> np.ndarray:
    """The four ``(k1, k2, k3, k4)`` of a fisheye camera (aniposelib's ``fisheye = true``)."""
    d = np.asarray(camera.distortions, float).ravel()
    if d.size != 4:
        raise KeyskelError(
            f"camera {camera.name!r} is a fisheye camera, whose model has 4 distortion coefficients "
            f"(k1..k4), but it has {d.size}"
        )
    return d


def undistort(camera: Camera, xy: np.ndarray) -> np.ndarray:
    """Pixel points ``(N, 2)`` -> normalised, undistorted camera coordinates ``(N, 2)`` (NaN kept)."""
    cv2 = _cv2()
    xy = np.asarray(xy, float).reshape(-1, 2)
    out = np.full(xy.shape, np.nan)
    ok = np.isfinite(xy).all(axis=1)
    if ok.any():
        pts = np.ascontiguousarray(xy[ok].reshape(-1, 1, 2))
        if camera.fisheye:
            und = cv2.fisheye.undistortPoints(pts, camera.matrix, _fisheye_coefficients(camera))
        else:
            und = cv2.undistortPoints(pts, camera.matrix, camera.distortions)
        out[ok] = und.reshape(-1, 2)
    return out


@overload
def project_camera(camera: Camera, xyz: np.ndarray, jacobian: Literal[False] = False) -> np.ndarray: ...


@overload
def project_camera(
    camera: Camera, xyz: np.ndarray, jacobian: Literal[True]
) -> tuple[np.ndarray, np.ndarray]: ...


def project_camera(
    camera: Camera, xyz: np.ndarray, jacobian: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """World points ``(N, 3)`` -> pixels ``(N, 2)`` with ``cv2.projectPoints`` (NaN kept).

    With ``jacobian``, also ``d pixel / d world`` as ``(N, 2, 3)``.
    """
    cv2 = _cv2()
    xyz = np.asarray(xyz, float).reshape(-1, 3)
    out = np.full((len(xyz), 2), np.nan)
    jac = np.full((len(xyz), 2, 3), np.nan) if jacobian else None
    ok = np.isfinite(xyz).all(axis=1)
    if ok.any():
        world = np.ascontiguousarray(xyz[ok].reshape(-1, 1, 3))
        rvec, tvec = camera.rotation.reshape(3, 1), camera.translation.reshape(3, 1)
        if camera.fisheye:
            # jacobian columns: f (2), c (2), k (4), rotation (3), translation (3), skew (1)
            pts, j = cv2.fisheye.projectPoints(
                world, rvec, tvec, camera.matrix, _fisheye_coefficients(camera)
            )
            t_cols = slice(11, 14)
        else:
            # jacobian columns: rotation (3), translation (3), f, c, distortions
            pts, j = cv2.projectPoints(world, rvec, tvec, camera.matrix, camera.distortions)
            t_cols = slice(3, 6)
        out[ok] = pts.reshape(-1, 2)
        if jac is not None:
            # d pixel / d t = d pixel / d X_cam, and X_cam = R X + t
            dt = j[:, t_cols].reshape(-1, 2, 3)
            jac[ok] = dt @ camera.rotation_matrix()
    if jac is not None:
        return out, jac
    return out


def project(cal: Calibration, xyz: np.ndarray) -> np.ndarray:
    """World points ``(*S, 3)`` -> pixels in every view ``(V, *S, 2)`` (NaN where a point is NaN)."""
    xyz = np.asarray(xyz, float)
    flat = xyz.reshape(-1, 3)
    out = np.stack([project_camera(c, flat) for c in cal.cameras])
    return out.reshape((len(cal), *xyz.shape[:-1], 2))


def _dlt_normalised(norm: np.ndarray, ext: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Batched DLT: ``norm[V, N, 2]`` normalised points, ``ext[V, 3, 4]``, ``seen[V, N]``.

    The rows ``x P_3 - P_1``, ``y P_3 - P_2`` of the views that saw a point form ``A[2V, 4]``;
    the point solves ``A [X, 1] = 0`` in the least-squares sense: the 3x3 normal equations of
    ``A^T A``, one batched ``solve`` for all points. Where those are singular (the rays are
    parallel: no baseline between the views) the point stays NaN.
    """
    x, y = norm[..., 0:1], norm[..., 1:2]  # (V, N, 1)
    r1 = x * ext[:, None, 2, :] - ext[:, None, 0, :]  # (V, N, 4)
    r2 = y * ext[:, None, 2, :] - ext[:, None, 1, :]
    w = seen[..., None].astype(float)
    a = np.concatenate([np.nan_to_num(r1) * w, np.nan_to_num(r2) * w])  # (2V, N, 4)
    ata = np.einsum("vni,vnj->nij", a, a)  # (N, 4, 4)
    m, rhs = ata[:, :3, :3], -ata[:, :3, 3]
    scale = np.abs(m).max(axis=(1, 2))
    ok = np.abs(np.linalg.det(m)) > 1e-9 * np.maximum(scale, 1e-300) ** 3
    out = np.full((norm.shape[1], 3), np.nan)
    if ok.any():
        out[ok] = np.linalg.solve(m[ok], rhs[ok][..., None])[..., 0]
    return out


def triangulate_dlt(cal: Calibration, xy: np.ndarray, min_views: int = 2) -> np.ndarray:
    """Linear (DLT) triangulation of ``xy[V, *S, 2]`` -> ``(*S, 3)``; NaN with < ``min_views`` views."""
    xy = _check(cal, xy)
    shape = xy.shape[1:-1]
    flat = xy.reshape(len(cal), -1, 2)
    seen = np.isfinite(flat).all(axis=-1)
    norm = np.stack([undistort(c, flat[v]) for v, c in enumerate(cal.cameras)])
    ext = np.stack([c.extrinsics() for c in cal.cameras])
    out = np.full((flat.shape[1], 3), np.nan)
    ok = seen.sum(axis=0) >= max(int(min_views), 2)
    if ok.any():
        out[ok] = _dlt_normalised(norm[:, ok], ext, seen[:, ok])
    out[~np.isfinite(out).all(axis=1)] = np.nan
    return out.reshape((*shape, 3))


def _refine(cal: Calibration, flat: np.ndarray, seen: np.ndarray, x0: np.ndarray, loss: str) -> np.ndarray:
    """Least-squares refinement of ``x0[N, 3]`` against ``flat[V, N, 2]`` seen in ``seen[V, N]``."""
    from scipy.optimize import least_squares
    from scipy.sparse import csr_matrix

    n = len(x0)
    vs, ps = np.nonzero(seen)  # one residual pair per observation
    obs = flat[vs, ps]
    m = len(vs)
    rows = np.repeat(np.arange(2 * m), 3)
    cols = (3 * np.repeat(ps, 2)[:, None] + np.arange(3)).ravel()

    def residuals(x: np.ndarray) -> np.ndarray:
        xyz = x.reshape(n, 3)
        pred = np.empty((m, 2))
        for v, cam in enumerate(cal.cameras):
            sel = vs == v
            pred[sel] = project_camera(cam, xyz[ps[sel]])
        return np.nan_to_num((pred - obs).ravel(), nan=1e6)

    def jac(x: np.ndarray) -> csr_matrix:
        xyz = x.reshape(n, 3)
        vals = np.empty((m, 2, 3))
        for v, cam in enumerate(cal.cameras):
            sel = vs == v
            vals[sel] = project_camera(cam, xyz[ps[sel]], jacobian=True)[1]
        return csr_matrix((np.nan_to_num(vals).ravel(), (rows, cols)), shape=(2 * m, 3 * n))

    res = least_squares(residuals, x0.ravel(), jac=jac, method="trf", loss=loss, tr_solver="lsmr", xtol=1e-10)
    return res.x.reshape(n, 3)


@dataclass
class Triangulation:
    """The result of :func:`triangulate` for image points ``xy[V, *S, 2]``.

    Attributes
    ----------
    points
        ``(*S, 3)`` world points, NaN where fewer than ``min_views`` views saw the point.
    reprojected
        ``(V, *S, 2)`` pixels of ``points`` in every view.
    errors
        ``(V, *S)`` pixel distance between ``reprojected`` and the observation, NaN where the
        view did not see the point.
    n_views
        ``(*S,)`` how many views saw each point.

    """

    points: np.ndarray
    reprojected: np.ndarray
    errors: np.ndarray
    n_views: np.ndarray

    @property
    def observed(self) -> np.ndarray:
        """``(V, *S)`` True where a view saw the point."""
        return np.isfinite(self.errors)

    @property
    def proposals(self) -> np.ndarray:
        """``(V, *S)`` True where a view did not see a point that was triangulated."""
        return ~self.observed & np.isfinite(self.reprojected).all(axis=-1)

    @property
    def mean_error(self) -> np.ndarray:
        """``(*S,)`` mean reprojection error over the views that saw each point (NaN if none)."""
        cnt = self.observed.sum(axis=0)
        total = np.nansum(self.errors, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(cnt > 0, total / np.maximum(cnt, 1), np.nan)


def triangulate(
    cal: Calibration,
    xy: np.ndarray,
    min_views: int = 2,
    refine: bool = True,
    loss: str = "linear",
    chunk: int = 20000,
) -> Triangulation:
    """Triangulate ``xy[V, *S, 2]`` (OpenCV pixels, NaN = not seen) seen by the cameras of ``cal``.

    ``min_views`` (>= 2) views must see a point; ``refine`` runs the least-squares refinement
    (``loss`` is scipy's: ``"linear"``, ``"soft_l1"``, ``"huber"``...), in chunks of ``chunk``
    points. Returns a :class:`Triangulation`.
    """
    xy = _check(cal, xy)
    v = len(cal)
    shape = xy.shape[1:-1]
    flat = xy.reshape(v, -1, 2)
    seen = np.isfinite(flat).all(axis=-1)
    flat = np.where(seen[..., None], flat, np.nan)
    pts = triangulate_dlt(cal, flat, min_views).reshape(-1, 3)
    if refine:
        good = np.flatnonzero(np.isfinite(pts).all(axis=1))
        for lo in range(0, len(good), max(int(chunk), 1)):
            idx = good[lo : lo + chunk]
            pts[idx] = _refine(cal, flat[:, idx], seen[:, idx], pts[idx], loss)
    reproj = np.stack([project_camera(c, pts) for c in cal.cameras])
    err = np.where(seen, np.linalg.norm(reproj - flat, axis=-1), np.nan)
    return Triangulation(
        pts.reshape((*shape, 3)),
        reproj.reshape((v, *shape, 2)),
        err.reshape((v, *shape)),
        seen.sum(axis=0).reshape(shape),
    )


def reprojection_flags(tri: Triangulation, threshold: float) -> list[tuple[int, tuple[int, ...], float]]:
    """``(view, batch index, error)`` of every observation whose reprojection error exceeds ``threshold``.

    Sorted worst first: what a review list shows for a person to check.
    """
    err = np.nan_to_num(tri.errors, nan=-1.0)
    where = np.argwhere(err > float(threshold))
    vals = err[tuple(where.T)]
    order = np.argsort(-vals, kind="stable")
    return [(int(where[i, 0]), tuple(int(j) for j in where[i, 1:]), float(vals[i])) for i in order]
