"""A synthetic textured video with known motion, for testing and benchmarking propagation.

Each node of a chain skeleton is a disc of random texture (blurred noise) that slides over a
faint textured background along its own smooth, curved path: an ellipse-like Lissajous curve
around an anchor on a grid, so the motion is non-linear at every frame and linear interpolation
between keys cuts the corners. The ground-truth positions are exact (the texture is rendered at
sub-pixel positions by bilinear sampling), so tracking and interpolation errors can be measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from ..core.skeleton import Skeleton
from ..core.store import AnnotationStore

__all__ = ["TexturedVideo", "chain_skeleton", "keyed_store", "textured_video"]


@dataclass(frozen=True)
class TexturedVideo:
    """A rendered video and the truth behind it.

    Attributes
    ----------
    frames
        ``(T, H, W)`` uint8 video.
    truth
        ``(T, K, 2)`` float64 node positions in (y, x), pixel centres at integers.
    skeleton
        The chain skeleton of the ``K`` nodes.

    """

    frames: np.ndarray
    truth: np.ndarray
    skeleton: Skeleton


def chain_skeleton(n_nodes: int) -> Skeleton:
    """A skeleton ``p0 - p1 - ... - p{n-1}`` (one edge between consecutive nodes)."""
    names = [f"p{i}" for i in range(n_nodes)]
    return Skeleton(names, [(i, i + 1) for i in range(n_nodes - 1)], name="texture")


def _texture(rng: np.random.Generator, size: int, blur: float, contrast: float) -> np.ndarray:
    tex = gaussian_filter(rng.standard_normal((size, size)), blur)
    tex /= tex.std() + 1e-12
    return tex * contrast


def textured_video(
    n_frames: int = 101,
    shape: tuple[int, int] = (512, 512),
    n_nodes: int = 9,
    radius: int = 18,
    amplitude: float = 28.0,
    period: tuple[float, float] = (36.0, 60.0),
    noise: float = 1.5,
    rotation: float = 0.0,
    flicker: float = 0.0,
    seed: int = 0,
) -> TexturedVideo:
    """Render the video (see the module docstring).

    Parameters
    ----------
    n_frames, shape
        Frames and ``(H, W)`` of the video.
    n_nodes
        Nodes (textured discs), laid out on a grid of anchors with room for their paths.
    radius
        Radius of each disc in pixels.
    amplitude
        Size of each path around its anchor (pixels; each axis draws 0.7-1.0 of it).
    period
        Range of the paths' periods in frames (smaller: more curved between keys).
    noise
        Standard deviation of the per-frame sensor noise (grey levels).
    rotation
        Largest spin of a disc's texture, degrees per frame (each disc draws its own, either way).
    flicker
        Relative amplitude of a slow global brightness change (0.05: +-5 %).
    seed
        Random seed (textures, paths, noise).

    """
    rng = np.random.default_rng(seed)
    h, w = shape
    side = int(np.ceil(np.sqrt(n_nodes)))
    cell = min(h, w) / side
    if cell < 2 * (amplitude + radius) + 4:
        raise ValueError(f"{n_nodes} nodes of radius {radius}, amplitude {amplitude} do not fit in {shape}")
    gy, gx = np.divmod(np.arange(n_nodes), side)
    anchor = np.stack([(gy + 0.5) * cell, (gx + 0.5) * cell], axis=1)  # (K, 2)
    t = np.arange(n_frames, dtype=float)[:, None]
    amp = amplitude * rng.uniform(0.7, 1.0, (2, n_nodes))
    omega = 2 * np.pi / rng.uniform(period[0], period[1], (2, n_nodes))
    phase = rng.uniform(0, 2 * np.pi, (2, n_nodes))
    truth = np.stack(
        [
            anchor[:, 0] + amp[0] * np.sin(omega[0] * t + phase[0]),
            anchor[:, 1] + amp[1] * np.cos(omega[1] * t + phase[1]),
        ],
        axis=-1,
    )  # (T, K, 2)
    background = 110.0 + _texture(rng, max(h, w), 3.0, 12.0)[:h, :w]
    size = 2 * radius + 8
    textures = [_texture(rng, size, 1.6, 45.0) for _ in range(n_nodes)]
    c = size / 2.0 - 0.5  # texture centre (pixel centres at integers)
    spin = np.deg2rad(rng.uniform(-rotation, rotation, n_nodes))
    gain = 1.0 + flicker * np.sin(2 * np.pi * np.arange(n_frames) / 45.0 + rng.uniform(0, 2 * np.pi))
    frames = np.empty((n_frames, h, w), np.uint8)
    for f in range(n_frames):
        img = background.copy()
        for k in range(n_nodes):
            y, x = truth[f, k]
            y0, y1 = max(int(y) - radius - 2, 0), min(int(y) + radius + 3, h)
            x0, x1 = max(int(x) - radius - 2, 0), min(int(x) + radius + 3, w)
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(float)
            dy, dx = yy - y, xx - x
            alpha = np.clip(radius + 0.5 - np.hypot(dy, dx), 0.0, 1.0)  # anti-aliased disc
            cos, sin = np.cos(spin[k] * f), np.sin(spin[k] * f)
            ty, tx = cos * dy - sin * dx, sin * dy + cos * dx  # the texture turns about its centre
            patch = 128.0 + map_coordinates(textures[k], [ty + c, tx + c], order=1, mode="nearest")
            img[y0:y1, x0:x1] = alpha * patch + (1 - alpha) * img[y0:y1, x0:x1]
        img *= gain[f]
        img += rng.normal(0.0, noise, img.shape)
        frames[f] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return TexturedVideo(frames, truth, chain_skeleton(n_nodes))


def keyed_store(video: TexturedVideo, every: int = 10, track_id: int = 1) -> AnnotationStore:
    """A store with one instance keyed from the truth every ``every`` frames (and on the last)."""
    n_frames = video.truth.shape[0]
    store = AnnotationStore(video.skeleton, coord_ndim=2, frame_axis=0, n_frames=n_frames)
    store.add_track(track_id, start=0, stop=n_frames)
    keys = sorted(set(range(0, n_frames, every)) | {n_frames - 1})
    for f in keys:
        store.set_points(f, track_id, video.truth[f])
    return store
