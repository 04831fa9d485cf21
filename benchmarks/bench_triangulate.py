"""Benchmark of multi-view triangulation throughput; ratios against a baseline of the same run.

    python benchmarks/bench_triangulate.py [--quick]

Data: the synthetic 3-camera rig (``napari_keyskel.samples.rig``) with 2,000 frames x 5 animals
x 6 nodes = 60,000 points, projected with distortion plus 0.5 px noise.

Baseline: a plain per-point loop of ``cv2.triangulatePoints`` on the first two views (after
``cv2.undistortPoints`` of all points, which is not timed): what one writes without vectorising.
It sees only 2 of the 3 views and has no refinement, so its accuracy is printed too.

Ours: ``triangulate_dlt`` (undistortion included, all 3 views, one batched SVD) and
``triangulate`` (the same plus the least-squares refinement through ``cv2.projectPoints``).
Times are process CPU times, best of several alternating repeats, so a busy shared machine
disturbs the ratios less.
"""

from __future__ import annotations

import os

# One BLAS thread: on a shared 2-core machine OpenBLAS's spinning threads make each small vector
# norm inside scipy's solver ~400x slower (measured); every method runs under the same setting.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import time

import cv2
import numpy as np

from napari_keyskel.multiview.triangulate import project, triangulate, triangulate_dlt, undistort
from napari_keyskel.samples.rig import synthetic_rig, synthetic_trajectories


def best(func, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.process_time()
        out = func()
        times.append(time.process_time() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer frames and repeats")
    args = ap.parse_args()
    n_frames, repeat = (200, 2) if args.quick else (2000, 3)
    cal = synthetic_rig(3)
    truth = synthetic_trajectories(n_frames, 5, seed=1)
    xy = project(cal, truth) + np.random.default_rng(0).normal(0, 0.5, (3, *truth.shape[:-1], 2))
    n = truth[..., 0].size
    flat_truth = truth.reshape(-1, 3)

    # baseline: undistort once (not timed), then one cv2.triangulatePoints call per point
    p0 = undistort(cal.cameras[0], xy[0].reshape(-1, 2))
    p1 = undistort(cal.cameras[1], xy[1].reshape(-1, 2))
    e0, e1 = cal.cameras[0].extrinsics(), cal.cameras[1].extrinsics()

    def baseline() -> np.ndarray:
        out = np.empty((n, 3))
        for i in range(n):
            h = cv2.triangulatePoints(e0, e1, p0[i].reshape(2, 1), p1[i].reshape(2, 1))
            out[i] = h[:3, 0] / h[3, 0]
        return out

    rows = []
    t_base, x_base = best(baseline, repeat)
    t_dlt, x_dlt = best(lambda: triangulate_dlt(cal, xy), repeat)
    t_ref, tri = best(lambda: triangulate(cal, xy), repeat)

    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.sum((x.reshape(-1, 3) - flat_truth) ** 2, axis=1))))

    rows.append(("cv2.triangulatePoints loop (2 views)", t_base, rms(x_base)))
    rows.append(("triangulate_dlt (3 views, batched)", t_dlt, rms(x_dlt)))
    rows.append(("triangulate (DLT + least squares)", t_ref, rms(tri.points)))
    print(f"{n} points, 3 cameras, 0.5 px noise; CPU seconds, best of {repeat}")
    print(f"{'method':40s} {'seconds':>9s} {'points/s':>11s} {'vs loop':>8s} {'RMS mm':>7s}")
    for name, t, err in rows:
        print(f"{name:40s} {t:9.3f} {n / t:11.0f} {t_base / t:7.1f}x {err:7.3f}")
    print(f"mean reprojection error after refinement: {np.nanmean(tri.errors):.3f} px")


if __name__ == "__main__":
    main()
