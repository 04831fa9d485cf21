"""Benchmark of keyframe interpolation; prints a table with ratios against baselines of the same run.

    python benchmarks/bench_interpolate.py [--quick]

Data: 10,000 frames x 10 instances x 30 nodes, 2-D, a key every 10th frame (smooth random motion).
Full-recompute timings are process CPU times (``time.process_time``; everything here is
single-threaded), best of several repeats run alternately with their baseline, so a busy shared
machine disturbs the ratios less. Drag latencies are wall-clock times.
"""

from __future__ import annotations

import argparse
import bisect
import time

import numpy as np
from scipy.interpolate import PchipInterpolator

from napari_keyskel.core import keyframes as kf
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.samples.synthetic import moving_figure


def best_of(func, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        func()
        times.append(time.process_time() - t0)
    return min(times)


def paired(ours, base, repeat: int = 7) -> tuple[float, float]:
    """Best times of two functions run alternately, so both see the same machine load."""
    t_ours, t_base = [], []
    for _ in range(repeat):
        t_ours.append(best_of(ours, 1))
        t_base.append(best_of(base, 1))
    return min(t_ours), min(t_base)


def smooth_motion(n_frames: int, n_tracks: int, n_nodes: int, seed: int = 0) -> np.ndarray:
    """Smooth synthetic trajectories ``(T, I, K, 2)``: sums of a few sinusoids per coordinate."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames, dtype=float)[:, None, None, None]
    out = np.full((n_frames, n_tracks, n_nodes, 2), 256.0)
    for _ in range(3):
        period = rng.uniform(40, 160, (1, n_tracks, n_nodes, 2))
        amp = rng.uniform(5, 40, (1, n_tracks, n_nodes, 2))
        phase = rng.uniform(0, 2 * np.pi, (1, n_tracks, n_nodes, 2))
        out += amp * np.sin(2 * np.pi * t / period + phase)
    return out


def keyed_store(truth: np.ndarray, every: int) -> AnnotationStore:
    n_frames, n_tracks, n_nodes, _ = truth.shape
    sk = Skeleton([f"n{i}" for i in range(n_nodes)])
    store = AnnotationStore(sk, n_frames=n_frames)
    for i in range(n_tracks):
        t = store.add_track(i + 1, start=0, stop=n_frames)
        t.coords[::every] = truth[::every, i]
        t.visibility[::every] = 2
        t.is_key[::every] = True
    return store


def python_loop(store: AnnotationStore, frames: range) -> None:
    """Per-frame pure-Python interpolation (the naive baseline)."""
    keys = {
        (t.track_id, n): [int(r) for r in np.flatnonzero(t.is_key[:, n])]
        for t in store
        for n in range(store.n_nodes)
    }
    coords = {t.track_id: t.coords.tolist() for t in store}
    for f in frames:
        for t in store:
            c = coords[t.track_id]
            r = f - t.start
            for n in range(store.n_nodes):
                ks = keys[t.track_id, n]
                i = bisect.bisect_right(ks, r)
                if i == 0 or i == len(ks) or ks[i - 1] == r:
                    continue
                a, b = ks[i - 1], ks[i]
                w = (r - a) / (b - a)
                c[r][n] = [p + w * (q - p) for p, q in zip(c[a][n], c[b][n])]


def mean_error(store: AnnotationStore, truth: np.ndarray) -> float:
    errs = []
    for i, t in enumerate(store):
        m = ~t.is_key & np.isfinite(t.coords[..., 0])
        errs.append(np.linalg.norm(t.coords - truth[:, i], axis=-1)[m])
    return float(np.concatenate(errs).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeat = 2 if args.quick else 9
    n_frames, n_tracks, n_nodes, every = 10_000, 10, 30, 10
    truth = smooth_motion(n_frames, n_tracks, n_nodes)
    store = keyed_store(truth, every)
    rows = []

    # 1. full linear vs numpy.interp over the same points
    frames = np.arange(n_frames)

    def numpy_interp():
        for t in store:
            kr = np.flatnonzero(t.is_key[:, 0])
            for n in range(n_nodes):
                for d in range(2):
                    np.interp(frames, kr, t.coords[kr, n, d])

    def numpy_interp_stored():
        for t in store:
            kr = np.flatnonzero(t.is_key[:, 0])
            for n in range(n_nodes):
                for d in range(2):
                    t.coords[:, n, d] = np.interp(frames, kr, t.coords[kr, n, d])

    t_lin, t_np = paired(lambda: kf.interpolate_all(store, "linear"), numpy_interp, repeat)
    rows.append(("full linear, interpolate_all", t_lin, "numpy.interp per track/node/coord", t_np, 2.0))
    t_lin2, t_np2 = paired(lambda: kf.interpolate_all(store, "linear"), numpy_interp_stored, repeat)
    rows.append(
        ("full linear, interpolate_all", t_lin2, "  same, results written into the store", t_np2, None)
    )

    # 2. vs a per-frame pure-Python loop (measured on 1,000 frames, scaled to all)
    sub = range(0, 1000)
    t_py = best_of(lambda: python_loop(store, sub), 1) * n_frames / len(sub)
    rows.append(
        ("full linear, interpolate_all", t_lin, "per-frame pure-Python loop (1k fr. x10)", t_py, 1 / 50)
    )

    # 3. cubic vs scipy PchipInterpolator per track/node
    def scipy_pchip():
        for t in store:
            kr = np.flatnonzero(t.is_key[:, 0])
            span = np.arange(kr[0], kr[-1] + 1)
            for n in range(n_nodes):
                PchipInterpolator(kr, t.coords[kr, n], axis=0)(span)

    t_cub, t_sp = paired(lambda: kf.interpolate_all(store, "cubic"), scipy_pchip, repeat)
    rows.append(("full cubic, interpolate_all", t_cub, "scipy PchipInterpolator per track/node", t_sp, 1.0))
    t_hold, _ = paired(lambda: kf.interpolate_all(store, "hold"), numpy_interp, repeat)
    rows.append(("full hold, interpolate_all", t_hold, "numpy.interp per track/node/coord", t_np, None))

    # 4. one drag: move_node on an interpolated frame (incremental)
    rng = np.random.default_rng(1)
    for method in ("linear", "cubic"):
        kf.interpolate_all(store, method)
        wall, cpu = [], []
        for _ in range(500):
            f = int(rng.integers(0, n_frames // every - 1)) * every + int(rng.integers(1, every))
            tid, node = int(rng.integers(1, n_tracks + 1)), int(rng.integers(0, n_nodes))
            xy = rng.uniform(0, 512, 2)
            t0, c0 = time.perf_counter(), time.process_time()
            kf.move_node(store, f, tid, node, xy)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
        base = ("full linear recompute of one track", t_lin / n_tracks, None)
        rows.append((f"one drag ({method}), median wall", float(np.median(wall)), *base))
        rows.append(
            (f"one drag ({method}), p99 wall", float(np.percentile(wall, 99)), "the 5 ms budget", 5e-3, 1.0)
        )
        rows.append(
            (f"one drag ({method}), p99 CPU", float(np.percentile(cpu, 99)), "the 5 ms budget", 5e-3, 1.0)
        )
        store = keyed_store(truth, every)

    print(f"{'operation':38s} {'time':>10s}  {'baseline':42s} {'time':>11s} {'ours/base':>9s}  target")
    for name, t, base, tb, target in rows:
        goal = "-" if target is None else f"<= {target:g} " + ("met" if t / tb <= target else "NOT met")
        print(f"{name:38s} {t * 1e3:8.2f}ms  {base:42s} {tb * 1e3:9.2f}ms {t / tb:9.3f}  {goal}")

    # 5. accuracy: keys every 10th frame, error of interpolated frames against the truth
    print()
    head = "mean error, px (keys every 10th frame)"
    print(f"{head:44s} {'linear':>8s} {'cubic':>8s} {'hold':>8s}  cubic vs linear")
    _, gt = moving_figure(n_frames=300, shape=(256, 256), n_instances=2, seed=0, render=False)
    fig = np.stack([t.coords for t in gt], axis=1)
    names = gt.skeleton.nodes
    body = [i for i, n in enumerate(names) if "paw" not in n and n not in ("tail_mid", "tail_tip")]
    limbs = [i for i in range(len(names)) if i not in body]
    for label, truth_arr in (
        ("smooth sinusoids (10k frames, 300 series)", truth),
        ("synthetic.moving_figure, all nodes", fig),
        ("  body nodes (path + heading only)", fig[:, :, body]),
        ("  paws + tail (gait 40 fr, wag 56 fr)", fig[:, :, limbs]),
    ):
        err = {}
        for method in ("linear", "cubic", "hold"):
            s = keyed_store(truth_arr, every)
            kf.interpolate_all(s, method)
            err[method] = mean_error(s, truth_arr)
        gain = 1 - err["cubic"] / err["linear"]
        print(f"{label:44s} {err['linear']:8.3f} {err['cubic']:8.3f} {err['hold']:8.3f}  {gain:6.1%} lower")
    print("(goal: cubic >= 30% lower than linear on smooth motion)")


if __name__ == "__main__":
    main()
