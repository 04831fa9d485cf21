"""A synthetic calibrated camera rig and known 3D skeleton trajectories (tests, demos, benchmarks).

Cameras stand on a circle around the origin, look at it, and have mild radial distortion; the
skeleton walks a smooth loop near the origin, so every projection is known exactly.
"""

from __future__ import annotations

import numpy as np

from ..core.skeleton import Skeleton
from ..multiview.calibration import Calibration, Camera

__all__ = [
    "look_at",
    "render_views",
    "rig_skeleton",
    "rotation_vector",
    "synthetic_rig",
    "synthetic_trajectories",
]

# Node offsets (mm) in the animal's frame: forward, left, up.
_BODY = {
    "snout": (40.0, 0.0, 10.0),
    "left_ear": (25.0, 10.0, 18.0),
    "right_ear": (25.0, -10.0, 18.0),
    "body": (0.0, 0.0, 12.0),
    "tail_base": (-35.0, 0.0, 6.0),
    "tail_tip": (-80.0, 0.0, 2.0),
}


def rig_skeleton() -> Skeleton:
    """The six-node skeleton of :func:`synthetic_trajectories`."""
    nodes = list(_BODY)
    edges = [("snout", "left_ear"), ("snout", "right_ear"), ("snout", "body"), ("body", "tail_base"),
             ("tail_base", "tail_tip")]  # fmt: skip
    return Skeleton(nodes, edges, flip_pairs=[("left_ear", "right_ear")], name="rig_animal")


def rotation_vector(r: np.ndarray) -> np.ndarray:
    """The Rodrigues vector of a rotation matrix (the inverse of ``calibration.rodrigues``)."""
    r = np.asarray(r, float)
    cos = np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)
    theta = float(np.arccos(cos))
    if theta < 1e-12:
        return np.zeros(3)
    if np.pi - theta < 1e-6:  # near 180 degrees: the axis from the symmetric part
        w, v = np.linalg.eigh((r + r.T) / 2.0)
        return v[:, np.argmax(w)] * theta
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / (2.0 * np.sin(theta))
    return axis * theta


def look_at(
    center: np.ndarray, target: np.ndarray, up: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 1.0)
) -> np.ndarray:
    """World -> camera rotation of a camera at ``center`` looking at ``target`` (OpenCV axes)."""
    z = np.asarray(target, float) - np.asarray(center, float)
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


def synthetic_rig(
    n_cameras: int = 3,
    radius: float = 600.0,
    height: float = 250.0,
    size: tuple[int, int] = (640, 480),
    focal: float = 700.0,
    k1: float = -0.08,
) -> Calibration:
    """``n_cameras`` cameras on a circle of ``radius`` mm at ``height`` mm, looking at the origin."""
    w, h = size
    cams = []
    for i in range(n_cameras):
        a = 2 * np.pi * i / n_cameras + 0.3
        center = np.array([radius * np.cos(a), radius * np.sin(a), height])
        r = look_at(center, np.zeros(3))
        t = -r @ center
        k = np.array(
            [[focal, 0.0, (w - 1) / 2 + 3.0 * i], [0.0, focal * 1.01, (h - 1) / 2 - 2.0 * i], [0, 0, 1]]
        )
        dist = np.array([k1, 0.02, 0.001, -0.0005, 0.0])
        cams.append(Camera(f"cam{chr(65 + i)}", (w, h), k, dist, rotation_vector(r), t))
    return Calibration(cams, {"adjusted": False, "error": 0.0})


def synthetic_trajectories(n_frames: int = 40, n_instances: int = 2, seed: int = 0) -> np.ndarray:
    """Known 3D poses ``(T, I, K, 3)`` in mm (world x, y, z) of :func:`rig_skeleton` animals."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames, dtype=float)
    body = np.array(list(_BODY.values()))  # (K, 3)
    out = np.empty((n_frames, n_instances, len(body), 3))
    for i in range(n_instances):
        phase = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(0.05, 0.1)
        r = 60.0 + 30.0 * i
        cx, cy = r * np.cos(speed * t + phase), r * np.sin(speed * t + phase)
        heading = speed * t + phase + np.pi / 2
        c, s = np.cos(heading), np.sin(heading)
        fx, fy = body[:, 0][None], body[:, 1][None]
        out[:, i, :, 0] = cx[:, None] + c[:, None] * fx - s[:, None] * fy
        out[:, i, :, 1] = cy[:, None] + s[:, None] * fx + c[:, None] * fy
        out[:, i, :, 2] = body[:, 2][None] + 5.0 * np.sin(0.3 * t + i)[:, None]
    return out


def render_views(cal: Calibration, points: np.ndarray, radius: int = 4) -> list[np.ndarray]:
    """One ``(T, height, width)`` uint8 video per camera with a bright blob on every node.

    ``points`` are world poses ``(T, I, K, 3)``; blobs sit at their exact projections.
    """
    from ..multiview.triangulate import project

    xy = project(cal, points)  # (V, T, I, K, 2)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disc = np.exp(-(yy**2 + xx**2) / (0.5 * radius**2))
    out = []
    for v, cam in enumerate(cal.cameras):
        w, h = cam.size
        video = np.full((points.shape[0], h, w), 20.0)
        for f in range(points.shape[0]):
            for x, y in xy[v, f].reshape(-1, 2):
                r, c = round(y), round(x)
                if radius <= r < h - radius and radius <= c < w - radius:
                    patch = video[f, r - radius : r + radius + 1, c - radius : c + radius + 1]
                    np.maximum(patch, 20.0 + 220.0 * disc, out=patch)
        out.append(video.astype(np.uint8))
    return out
