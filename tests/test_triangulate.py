"""Triangulation on a synthetic 3-camera rig whose 3D trajectories are known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from napari_keyskel.errors import KeyskelError
from napari_keyskel.multiview.calibration import Calibration
from napari_keyskel.multiview.triangulate import (
    project,
    project_camera,
    reprojection_flags,
    triangulate,
    triangulate_dlt,
    undistort,
)
from napari_keyskel.samples.rig import synthetic_rig, synthetic_trajectories

SIGMA = 0.5


@pytest.fixture(scope="module")
def rig():
    cal = synthetic_rig(3)
    truth = synthetic_trajectories(30, 2, seed=4)  # (T, I, K, 3)
    clean = project(cal, truth)  # (V, T, I, K, 2)
    noisy = clean + np.random.default_rng(7).normal(0.0, SIGMA, clean.shape)
    return cal, truth, clean, noisy


def _predicted_rms(cal: Calibration, truth: np.ndarray) -> float:
    """First-order RMS 3D error of a least-squares estimate under SIGMA pixel noise."""
    flat = truth.reshape(-1, 3)
    jtj = np.zeros((len(flat), 3, 3))
    for cam in cal.cameras:
        _, j = project_camera(cam, flat, jacobian=True)
        jtj += np.einsum("nij,nik->njk", j, j)
    return float(SIGMA * np.sqrt(np.mean(np.trace(np.linalg.inv(jtj), axis1=1, axis2=2))))


def test_projection_agrees_with_opencv_and_stays_in_the_image(rig):
    cal, truth, clean, _ = rig
    cam = cal.cameras[1]
    ref, _ = cv2.projectPoints(
        truth.reshape(-1, 3), cam.rotation, cam.translation, cam.matrix, cam.distortions
    )
    np.testing.assert_allclose(clean[1].reshape(-1, 2), ref.reshape(-1, 2))
    assert (clean[..., 0] > 0).all() and (clean[..., 0] < 640).all()
    assert (clean[..., 1] > 0).all() and (clean[..., 1] < 480).all()


def test_exact_points_triangulate_exactly(rig):
    cal, truth, clean, _ = rig
    tri = triangulate(cal, clean)
    np.testing.assert_allclose(tri.points, truth, atol=1e-6)
    assert np.nanmax(tri.errors) < 1e-6
    # the linear step alone is exact too (undistortion is iterative: close, not bitwise)
    np.testing.assert_allclose(triangulate_dlt(cal, clean), truth, atol=1e-3)


def test_noisy_rig_reprojects_within_a_pixel_and_recovers_what_noise_allows(rig):
    cal, truth, _, noisy = rig
    tri = triangulate(cal, noisy)
    assert tri.points.shape == truth.shape and tri.errors.shape == noisy.shape[:-1]
    assert (tri.n_views == 3).all()
    mean_err = float(np.nanmean(tri.errors))
    assert mean_err <= 1.0
    # 2V residuals - 3 unknowns: each residual component has variance SIGMA^2 (2V - 3) / 2V,
    # so |r| (2 components) has mean sigma_r * sqrt(pi / 2)
    v = 3
    assert mean_err == pytest.approx(SIGMA * np.sqrt((2 * v - 3) / (2 * v)) * np.sqrt(np.pi / 2), rel=0.2)
    rms = float(np.sqrt(np.mean(np.sum((tri.points - truth) ** 2, axis=-1))))
    predicted = _predicted_rms(cal, truth)
    assert rms <= 1.15 * predicted, (rms, predicted)
    # the refinement never does worse than the linear estimate (in reprojection error)
    dlt = triangulate(cal, noisy, refine=False)
    assert np.nanmean(tri.errors**2) <= np.nanmean(dlt.errors**2) + 1e-12


def test_hidden_node_is_proposed_near_its_true_projection(rig):
    cal, truth, clean, noisy = rig
    hidden = noisy.copy()
    hidden[2, 11, 1, 4] = np.nan  # camera C does not see node 4 of animal 1 on frame 11
    hidden[0, 20, 0, :] = np.nan  # camera A misses a whole animal on frame 20
    tri = triangulate(cal, hidden)
    assert tri.proposals[2, 11, 1, 4] and tri.proposals[0, 20, 0].all()
    assert tri.proposals.sum() == 1 + truth.shape[2]
    assert np.linalg.norm(tri.reprojected[2, 11, 1, 4] - clean[2, 11, 1, 4]) <= 2.0
    assert (np.linalg.norm(tri.reprojected[0, 20, 0] - clean[0, 20, 0], axis=-1) <= 2.0).all()
    assert tri.n_views[11, 1, 4] == 2 and np.isnan(tri.errors[2, 11, 1, 4])


def test_one_view_is_not_enough_and_nan_stays_nan(rig):
    cal, _, clean, _ = rig
    xy = clean[:, :3].copy()
    xy[1:, 0, 0, 0] = np.nan  # only view 0
    xy[:, 1, 0, 1] = np.nan  # no view
    tri = triangulate(cal, xy)
    assert np.isnan(tri.points[0, 0, 0]).all() and np.isnan(tri.points[1, 0, 1]).all()
    assert not tri.proposals[:, 0, 0, 0].any()
    assert np.isfinite(tri.points[2]).all()
    assert np.isnan(tri.mean_error[1, 0, 1])
    tri3 = triangulate(cal, clean[:, :3], min_views=3)
    assert np.isfinite(tri3.points).all()


def test_dlt_agrees_with_opencv_for_two_views_without_distortion():
    cal = synthetic_rig(2, k1=0.0)
    for c in cal.cameras:
        c.distortions[:] = 0.0
    pts = np.random.default_rng(0).uniform(-50, 50, (200, 3))
    e0, e1 = (c.extrinsics() for c in cal.cameras)

    def opencv(xy):
        p0, p1 = (undistort(c, xy[i]).T for i, c in enumerate(cal.cameras))
        h = cv2.triangulatePoints(e0, e1, p0, p1)
        return (h[:3] / h[3]).T

    exact = project(cal, pts)
    np.testing.assert_allclose(triangulate_dlt(cal, exact), opencv(exact), atol=1e-6)
    np.testing.assert_allclose(triangulate_dlt(cal, exact), pts, atol=1e-6)
    noisy = exact + np.random.default_rng(1).normal(0, 1.0, exact.shape)
    ours, theirs = triangulate_dlt(cal, noisy), opencv(noisy)
    # both are linear estimates (we fix w = 1, OpenCV takes the unit null vector): close, and ours
    # is as accurate
    assert np.median(np.abs(ours - theirs)) < 0.05
    rms = [np.sqrt(np.mean(np.sum((x - pts) ** 2, axis=1))) for x in (ours, theirs)]
    assert rms[0] <= 1.02 * rms[1], rms


def test_views_without_a_baseline_give_no_point():
    cal = synthetic_rig(2, k1=0.0)
    cal.cameras[1].translation = cal.cameras[0].translation.copy()  # same centre, same rotation
    cal.cameras[1].rotation = cal.cameras[0].rotation.copy()
    cal.cameras[1].distortions[:] = cal.cameras[0].distortions
    xy = project(cal, np.array([[10.0, 20.0, 5.0]]))
    assert np.isnan(triangulate_dlt(cal, xy)).all()
    assert np.isnan(triangulate(cal, xy).points).all()


def test_outliers_are_flagged_worst_first(rig):
    cal, _, _, noisy = rig
    bad = noisy.copy()
    bad[1, 5, 0, 2] += (25.0, -10.0)
    bad[0, 9, 1, 0] += (12.0, 0.0)
    tri = triangulate(cal, bad)
    flags = reprojection_flags(tri, 3.0)
    assert flags[0][:2] == (1, (5, 0, 2))  # the corrupted observation is the worst
    assert (0, (9, 1, 0)) in [f[:2] for f in flags]
    assert {f[1] for f in flags} == {(5, 0, 2), (9, 1, 0)}  # only the two corrupted points
    assert [f[2] for f in flags] == sorted((f[2] for f in flags), reverse=True)


def test_bad_shapes_are_refused(rig):
    cal = rig[0]
    with pytest.raises(KeyskelError, match="3 views"):
        triangulate(cal, np.zeros((2, 4, 2)))
    with pytest.raises(KeyskelError, match="3 views"):
        triangulate(cal, np.zeros((3, 4, 3)))
