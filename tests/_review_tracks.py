"""Smooth synthetic tracks for the review tests and benchmark, and planted errors with their truth.

Each animal (the top-view mouse skeleton) walks at a smoothly varying speed along a smoothly
turning heading, with a gait and a tail wag, plus a little annotation noise: clean smooth motion
(unlike ``synthetic.figure_poses``, whose heading follows the velocity and so spins the animal
round in one frame where the path reverses).
"""

from __future__ import annotations

import numpy as np

from napari_keyskel.core.presets import mouse_topview
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.samples.synthetic import _BODY


def smooth_poses(n_frames: int, n_instances: int, seed: int = 0, noise: float = 0.3) -> np.ndarray:
    """``(T, I, K, 2)`` (y, x) poses: body length 60 px, 1-3 px per frame, noise ``noise`` px."""
    rng = np.random.default_rng(seed)
    sk = mouse_topview()
    local = np.array([_BODY[n] for n in sk.nodes])  # (K, 2) forward, left
    t = np.arange(n_frames, dtype=float)[:, None]
    length = 60.0
    w1, w2 = rng.uniform(0.01, 0.03, (2, n_instances))
    p1, p2 = rng.uniform(0, 2 * np.pi, (2, n_instances))
    heading = rng.uniform(0, 2 * np.pi, n_instances) + 1.5 * np.sin(w1 * t + p1) + 0.003 * t  # (T, I)
    speed = 2.0 + 1.0 * np.sin(w2 * t + p2)  # px / frame
    vy, vx = speed * np.sin(heading), speed * np.cos(heading)
    start = 400.0 * np.arange(n_instances)  # far apart: no two animals overlap
    cy = start + np.cumsum(vy, axis=0)
    cx = start + np.cumsum(vx, axis=0)
    gait = np.sin(2 * np.pi * t / 30.0 + p1)
    wag = np.sin(2 * np.pi * t / 45.0 + p2)
    k = {n: i for i, n in enumerate(sk.nodes)}
    fwd = np.broadcast_to(local[:, 0], (n_frames, n_instances, len(sk.nodes))).copy()
    left = np.broadcast_to(local[:, 1], fwd.shape).copy()
    for paw, sign in (("left_forepaw", 1), ("right_hindpaw", 1), ("right_forepaw", -1), ("left_hindpaw", -1)):
        fwd[..., k[paw]] += sign * 0.06 * gait
    left[..., k["tail_mid"]] += 0.08 * wag
    left[..., k["tail_tip"]] += 0.18 * wag
    cos, sin = np.cos(heading)[..., None], np.sin(heading)[..., None]
    x = cx[..., None] + length * (fwd * cos - left * sin)
    y = cy[..., None] + length * (fwd * sin + left * cos)
    poses = np.stack([y, x], axis=-1)
    return poses + rng.normal(0, noise, poses.shape)


def smooth_store(
    n_frames: int = 1000, n_instances: int = 3, seed: int = 0, noise: float = 0.3
) -> AnnotationStore:
    """A store of :func:`smooth_poses`, every node a visible key; track ids ``1..n_instances``."""
    poses = smooth_poses(n_frames, n_instances, seed, noise)
    store = AnnotationStore(mouse_topview(), 2, 0, n_frames, name="mouse")
    for i in range(n_instances):
        t = store.add_track(i + 1, f"mouse {i + 1}", 0, n_frames)
        t.coords[:] = poses[:, i]
        t.visibility[:] = 2
        t.is_key[:] = True
    return store


def _frames(rng: np.random.Generator, n_frames: int, n: int, gap: int = 12, offset: int = 0) -> np.ndarray:
    """``n`` frames, at least ``gap`` apart and away from both ends, ``offset`` past a multiple of ``gap``."""
    cand = np.arange(gap, n_frames - gap, gap) + offset
    return np.sort(rng.choice(cand, n, replace=False))


def plant(
    store: AnnotationStore, kind: str, n: int, seed: int = 0, offset: int = 0
) -> set[tuple[int, int, int]]:
    """Plant ``n`` errors of ``kind`` per track; returns the truth as ``(frame, track, node)``.

    ``node`` is -1 for ``identity``. swap: a left/right pair exchanged on one frame; jump: a node
    thrown 0.4 body lengths away on one frame; bone: a node pushed 0.3 body lengths along its
    bone; identity: two tracks exchanged from a frame on; missing: a node deleted on a keyed frame.
    Frames are ``offset`` past multiples of 12 (40 for identity): kinds planted with different
    offsets do not share frames.
    """
    rng = np.random.default_rng(seed + 100)
    sk = store.skeleton
    truth: set[tuple[int, int, int]] = set()
    n_frames = store.n_frames
    tracks = list(store.tracks.values())
    if kind == "identity":
        frames = _frames(rng, n_frames, n, gap=40, offset=offset)
        a, b = tracks[0], tracks[1]
        for f in frames:  # exchange everything from f on (as a tracker does)
            tmp = a.coords[f:].copy()
            a.coords[f:] = b.coords[f:]
            b.coords[f:] = tmp
            truth |= {(int(f), a.track_id, -1), (int(f), b.track_id, -1)}
        return truth
    edges = sk.edge_array()
    for t in tracks:
        for f in _frames(rng, n_frames, n, offset=offset):
            if kind == "swap":
                i, j = sk.flip_pairs[rng.integers(len(sk.flip_pairs))]
                t.coords[f, [i, j]] = t.coords[f, [j, i]]
                truth.add((int(f), t.track_id, i))
            elif kind == "jump":
                k = int(rng.integers(sk.n_nodes))
                ang = rng.uniform(0, 2 * np.pi)
                t.coords[f, k] += 0.4 * 60.0 * np.array([np.sin(ang), np.cos(ang)])
                truth.add((int(f), t.track_id, k))
            elif kind == "bone":
                e = int(rng.integers(len(edges)))
                i, j = edges[e]
                d = t.coords[f, j] - t.coords[f, i]
                t.coords[f, j] += 0.3 * 60.0 * d / np.linalg.norm(d)
                truth.add((int(f), t.track_id, int(j)))
            elif kind == "missing":
                k = int(rng.integers(sk.n_nodes))
                t.coords[f, k] = np.nan
                t.visibility[f, k] = 0
                t.is_key[f, k] = False
                truth.add((int(f), t.track_id, k))
            else:
                raise ValueError(kind)
    return truth
