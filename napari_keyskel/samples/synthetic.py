"""Synthetic data with known ground truth: top-view mice walking and wagging their tails.

Used by the napari sample data, the tests, the examples and the benchmarks. Poses are smooth
analytic functions of time, so interpolation accuracy can be measured against the truth.
"""

from __future__ import annotations

import numpy as np

from ..core import keyframes as kf
from ..core.presets import MOUSE_BODY, mouse_topview
from ..core.store import AnnotationStore

__all__ = ["figure_poses", "key_every", "moving_figure", "render_frames"]

#: The mouse's body plan, (forward, left) in body lengths (kept under its old name for scripts).
_BODY = MOUSE_BODY


def figure_poses(
    n_frames: int,
    shape: tuple[int, int],
    n_instances: int,
    seed: int = 0,
    body: float = 0.22,
    spread: float = 0.22,
) -> np.ndarray:
    """Ground-truth poses ``(T, I, K, 2)`` in (y, x) pixel-centre coordinates.

    Each animal circles on its own Lissajous path, heading along its velocity, with a gait
    (paws swing fore and aft) and a tail wag; every node stays inside the image. ``body`` is the
    body length and ``spread`` how far apart the animals roam, as fractions of the image size.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    sk = mouse_topview()
    local = np.array([MOUSE_BODY[n] for n in sk.nodes])  # (K, 2) forward, left
    t = np.arange(n_frames, dtype=float)[:, None]  # (T, 1)
    length = body * min(h, w)
    # per-instance path parameters
    fy, fx = (
        rng.uniform(0.6, 1.2, n_instances) * 2 * np.pi / 120,
        rng.uniform(0.6, 1.2, n_instances) * 2 * np.pi / 150,
    )
    py, px = rng.uniform(0, 2 * np.pi, (2, n_instances))
    # each animal roams its own part of the arena: anchors on a circle, small Lissajous loops
    ang = 2 * np.pi * np.arange(n_instances) / max(n_instances, 1) + rng.uniform(0, 2 * np.pi)
    spread = 0.0 if n_instances == 1 else spread
    ay, ax = 0.5 * h + spread * h * np.sin(ang), 0.5 * w + spread * w * np.cos(ang)
    reach = 0.85 * length  # the farthest a node gets from the body centre (tail tip, wagging)
    ry, rx = 0.5 * h - reach - spread * h, 0.5 * w - reach - spread * w
    cy = ay + 0.9 * ry * np.sin(fy * t + py)  # (T, I)
    cx = ax + 0.9 * rx * np.sin(fx * t + px)
    vy = 0.9 * ry * fy * np.cos(fy * t + py)
    vx = 0.9 * rx * fx * np.cos(fx * t + px)
    heading = np.arctan2(vy, vx)  # (T, I)
    gait = np.sin(2 * np.pi * t / 40.0 + py)  # (T, I)
    wag = np.sin(2 * np.pi * t / 56.0 + px)
    fwd = np.broadcast_to(local[:, 0], (n_frames, n_instances, len(sk.nodes))).copy()
    left = np.broadcast_to(local[:, 1], fwd.shape).copy()
    k = {n: i for i, n in enumerate(sk.nodes)}
    for paw, sign in (("left_forepaw", 1), ("right_hindpaw", 1), ("right_forepaw", -1), ("left_hindpaw", -1)):
        fwd[..., k[paw]] += sign * 0.07 * gait
    left[..., k["tail_mid"]] += 0.10 * wag
    left[..., k["tail_tip"]] += 0.25 * wag
    fwd[..., k["tail_tip"]] += 0.04 * np.abs(wag)
    cos, sin = np.cos(heading)[..., None], np.sin(heading)[..., None]
    # forward is along the heading (x = cos, y = sin); left is +90 degrees
    x = cx[..., None] + length * (fwd * cos - left * sin)
    y = cy[..., None] + length * (fwd * sin + left * cos)
    return np.stack([y, x], axis=-1)


def render_frames(poses: np.ndarray, shape: tuple[int, int], edges: np.ndarray, seed: int = 0) -> np.ndarray:
    """Render poses ``(T, I, K, 2)`` as a ``uint8`` video ``(T, H, W)``: bright bones on a textured floor."""
    h, w = shape
    rng = np.random.default_rng(seed + 1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    floor = 30 + 12 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    video = np.empty((poses.shape[0], h, w), np.uint8)
    sigma = 0.012 * min(h, w)
    margin = int(np.ceil(4 * sigma))
    for f in range(poses.shape[0]):
        body = np.zeros((h, w), np.float32)
        starts = poses[f][:, edges[:, 0]].reshape(-1, 2)
        ends = poses[f][:, edges[:, 1]].reshape(-1, 2)
        for a, b in zip(starts, ends, strict=True):  # each bone only inside its bounding box
            y0, x0 = np.maximum(np.floor(np.minimum(a, b)).astype(int) - margin, 0)
            y1, x1 = np.minimum(np.ceil(np.maximum(a, b)).astype(int) + margin + 1, (h, w))
            if y0 >= y1 or x0 >= x1:
                continue
            py, px = yy[y0:y1, x0:x1] - a[0], xx[y0:y1, x0:x1] - a[1]
            ab = b - a
            u = np.clip((py * ab[0] + px * ab[1]) / max(float(ab @ ab), 1e-6), 0, 1)
            d2 = (py - u * ab[0]) ** 2 + (px - u * ab[1]) ** 2
            np.maximum(body[y0:y1, x0:x1], np.exp(-d2 / (2 * sigma**2)), out=body[y0:y1, x0:x1])
        noise = rng.normal(0, 6, (h, w))
        video[f] = np.clip(floor + 200 * body + noise, 0, 255).astype(np.uint8)
    return video


def moving_figure(
    n_frames: int = 100,
    shape: tuple[int, int] = (256, 256),
    n_instances: int = 2,
    seed: int = 0,
    render: bool = True,
    key_step: int | None = None,
    body: float = 0.22,
    spread: float = 0.22,
) -> tuple[np.ndarray | None, AnnotationStore]:
    """A synthetic video of walking top-view mice and its ground-truth annotation store.

    Parameters
    ----------
    n_frames, shape, n_instances, seed
        Video length, frame size (H, W), number of animals, random seed.
    render
        If False, skip rendering and return ``None`` for the video (ground truth only).
    key_step
        If given, keep keys only on every ``key_step``-th frame (and the last) and interpolate the
        frames between (cubic), as a person keying every 10th frame would; see :func:`key_every`.
    body, spread
        Body length and how far apart the animals roam (fractions of the image size).

    Returns
    -------
    video, store
        ``uint8`` array ``(T, H, W)`` (or None) and a store with every node of every instance keyed
        (visible) on every frame (or every ``key_step``-th); track ids are ``1..n_instances``.
        :func:`figure_poses` with the same arguments gives the ground truth.

    """
    sk = mouse_topview()
    poses = figure_poses(n_frames, shape, n_instances, seed, body, spread)
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=n_frames, name="mouse")
    for i in range(n_instances):
        t = store.add_track(i + 1, f"mouse {i + 1}", 0, n_frames)
        t.coords[:] = poses[:, i]
        t.visibility[:] = 2
        t.is_key[:] = True
    if key_step is not None:
        key_every(store, key_step)
    video = render_frames(poses, shape, sk.edge_array(), seed) if render else None
    return video, store


def key_every(store: AnnotationStore, step: int, method: str = "cubic") -> None:
    """Keep the keys on frames ``start, start + step, ...`` and the last of each instance; fill the rest.

    The other frames become interpolated (``method``) from those keys, so they differ from the
    ground truth by the interpolation error.
    """
    if step < 1:
        raise ValueError(f"key_step must be at least 1, got {step}")
    for t in store:
        rows = np.arange(t.coords.shape[0])
        keep = (rows % step == 0) | (rows == rows[-1])
        t.is_key[~keep] = False
    kf.interpolate_all(store, method=method)
