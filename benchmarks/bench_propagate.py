"""Benchmark of image-guided in-betweens (Lucas–Kanade) against linear interpolation, same run.

    python benchmarks/bench_propagate.py [--quick]

Data: the synthetic textured video (:mod:`napari_keyskel.samples.texture`), 512 x 512, a
random-texture disc per node on curved paths, keys every 10th frame. Prints the mean in-between
error of tracked and linear in-betweens (and the worst per-node ratio), and throughput in
node-frames per second (in-between cells filled per wall-clock second, best of a few repeats)
for tracking from a numpy array and from a lazy dask array, with the linear (numpy) fill as the
baseline of the same run.
"""

from __future__ import annotations

import argparse
import time

import dask.array as da
import numpy as np

from napari_keyskel.assist.propagate import FrameSource, interpolate_with_image
from napari_keyskel.core import keyframes as kf
from napari_keyskel.samples.texture import keyed_store, textured_video


def best_wall(func, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def errors(store, truth) -> tuple[np.ndarray, np.ndarray]:
    t = store.tracks[1]
    return np.hypot(*(t.coords - truth).transpose(2, 0, 1)), ~t.is_key


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer frames and repeats")
    args = ap.parse_args()
    n_frames, repeat = (61, 2) if args.quick else (201, 3)
    print(f"rendering a 512 x 512 textured video, {n_frames} frames, 9 nodes ...")
    video = textured_video(n_frames=n_frames, shape=(512, 512), n_nodes=9, seed=0)
    lazy = da.from_array(video.frames, chunks=(1, 512, 512))

    linear = keyed_store(video, every=10)
    kf.interpolate_all(linear, "linear")
    tracked = keyed_store(video, every=10)
    interpolate_with_image(tracked, FrameSource(video.frames))
    e_lin, inb = errors(linear, video.truth)
    e_trk, _ = errors(tracked, video.truth)
    node_ratio = [e_trk[inb[:, k], k].mean() / e_lin[inb[:, k], k].mean() for k in range(e_lin.shape[1])]
    cells = int(inb.sum())

    t_lin = best_wall(lambda: kf.interpolate_all(keyed_store(video, every=10), "linear"), repeat)
    t_build = best_wall(lambda: keyed_store(video, every=10), repeat)
    t_trk = best_wall(
        lambda: interpolate_with_image(keyed_store(video, every=10), FrameSource(video.frames)), repeat
    )
    t_dask = best_wall(
        lambda: interpolate_with_image(keyed_store(video, every=10), FrameSource(lazy)), repeat
    )
    t_lin, t_trk, t_dask = (max(t - t_build, 1e-9) for t in (t_lin, t_trk, t_dask))

    hard = textured_video(n_frames=n_frames, shape=(512, 512), n_nodes=9, seed=0, rotation=5.0, flicker=0.15)
    hard_trk = keyed_store(hard, every=10)
    interpolate_with_image(hard_trk, FrameSource(hard.frames))
    e_hard, _ = errors(hard_trk, hard.truth)  # same paths as `video`: the same linear errors
    one = textured_video(n_frames=n_frames, shape=(512, 512), n_nodes=1, seed=0)
    one_cells = int((~keyed_store(one, every=10).tracks[1].is_key).sum())
    t_one = best_wall(
        lambda: interpolate_with_image(keyed_store(one, every=10), FrameSource(one.frames)), repeat
    )
    t_one = max(t_one - t_build / 9, 1e-9)

    def row(name: str, err: np.ndarray) -> None:
        print(f"{name:34}{err[inb].mean():12.3f}{err[inb].mean() / e_lin[inb].mean():8.3f}")

    print(f"in-between node-frames: {cells}")
    print(f"{'':34}{'mean err px':>12}{'ratio':>8}")
    row("linear interpolation", e_lin)
    row("tracked (LK from both keys)", e_trk)
    row("tracked, 5 deg/frame spin, 15 % flicker", e_hard)
    print(f"worst per-node tracked/linear error ratio: {max(node_ratio):.3f} (limit 1.10)")
    print(f"{'':34}{'seconds':>12}{'node-frames/s':>15}{'vs linear':>11}")
    for name, t, n in (
        ("linear (numpy)", t_lin, cells),
        ("tracked, numpy frames", t_trk, cells),
        ("tracked, dask frames", t_dask, cells),
        ("tracked, 1 node, numpy frames", t_one, one_cells),
    ):
        print(f"{name:34}{t:12.4f}{n / t:15.0f}{(t / n) / (t_lin / cells):10.0f}x")
    ok = e_trk[inb].mean() <= 0.5 * e_lin[inb].mean() and max(node_ratio) <= 1.1
    ok = ok and min(cells / t_dask, one_cells / t_one) >= 200
    print(
        "targets (mean <= 0.5x linear, every node <= 1.1x, >= 200 node-frames/s):", "met" if ok else "NOT met"
    )


if __name__ == "__main__":
    main()
