"""Fisheye cameras (aniposelib's ``fisheye = true``: OpenCV's fisheye model, k1..k4)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from napari_keyskel.errors import KeyskelError
from napari_keyskel.multiview.calibration import Calibration, read_calibration, write_calibration
from napari_keyskel.multiview.triangulate import project, project_camera, triangulate, undistort
from napari_keyskel.samples.rig import synthetic_rig, synthetic_trajectories

FISHEYE_K = np.array([0.12, -0.03, 0.008, -0.001])  # strong barrel, as a wide lens has


def fisheye_rig(n: int = 3) -> Calibration:
    cal = synthetic_rig(n)
    cams = [
        dataclasses.replace(c, distortions=FISHEYE_K.copy(), extra={"fisheye": True}) for c in cal.cameras
    ]
    return Calibration(cams, cal.metadata)


def test_fisheye_projection_and_undistortion_invert_each_other():
    cal = fisheye_rig()
    xyz = synthetic_trajectories(6, 2, seed=1).reshape(-1, 3)
    for cam in cal.cameras:
        px = project_camera(cam, xyz)
        cam_xyz = xyz @ cam.rotation_matrix().T + cam.translation
        pinhole = cam_xyz[:, :2] / cam_xyz[:, 2:]
        np.testing.assert_allclose(undistort(cam, px), pinhole, atol=1e-9)
        np.testing.assert_allclose(px, _fisheye_model(cam, pinhole), atol=1e-9)  # the fisheye model


def _fisheye_model(cam, pinhole):
    """OpenCV's fisheye model written out: theta_d = theta (1 + k1 theta^2 + ... + k4 theta^8)."""
    r = np.linalg.norm(pinhole, axis=1, keepdims=True)
    theta = np.arctan(r)
    k1, k2, k3, k4 = FISHEYE_K
    theta_d = theta * (1 + k1 * theta**2 + k2 * theta**4 + k3 * theta**6 + k4 * theta**8)
    distorted = pinhole * theta_d / r
    m = cam.matrix
    return np.stack([m[0, 0] * distorted[:, 0] + m[0, 2], m[1, 1] * distorted[:, 1] + m[1, 2]], axis=1)


def test_fisheye_jacobian_matches_finite_differences():
    cam = fisheye_rig().cameras[1]
    xyz = synthetic_trajectories(2, 1, seed=4).reshape(-1, 3)
    _, jac = project_camera(cam, xyz, jacobian=True)
    h = 1e-4
    for a in range(3):
        step = np.zeros(3)
        step[a] = h
        num = (project_camera(cam, xyz + step) - project_camera(cam, xyz - step)) / (2 * h)
        np.testing.assert_allclose(jac[:, :, a], num, rtol=1e-5, atol=1e-6)


def test_fisheye_rig_triangulates_to_the_truth(tmp_path):
    cal = read_calibration(str(write_calibration(fisheye_rig(), tmp_path / "fisheye.toml")))
    assert all(c.fisheye for c in cal.cameras)  # the flag survives the TOML
    truth = synthetic_trajectories(10, 2, seed=2)
    noisy = project(cal, truth) + np.random.default_rng(0).normal(0, 0.5, (3, *truth.shape[:-1], 2))
    tri = triangulate(cal, noisy)
    assert np.nanmean(tri.errors) < 0.6  # px, with 0.5 px noise
    np.testing.assert_allclose(tri.points, truth, atol=3.0)  # mm at ~600 mm


def test_a_fisheye_camera_needs_four_coefficients():
    cal = fisheye_rig()
    cal.cameras[2] = dataclasses.replace(cal.cameras[2], distortions=np.zeros(5))
    with pytest.raises(KeyskelError, match=r"'camC' is a fisheye camera.*4 distortion coefficients.*has 5"):
        triangulate(cal, np.zeros((3, 4, 2)))
