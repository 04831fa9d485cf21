"""Benchmark of the review detectors over 1,000,000 positions, against a plain numpy pass.

    python benchmarks/bench_review.py [--quick]

Data: 4 smooth instances x 20,834 frames x 12 nodes (1,000,032 positions, 2-D), with errors of
every kind planted. The baseline is the least a detector must do over the same arrays: one
``np.diff`` + ``np.linalg.norm`` + ``np.nanmedian`` of the steps per track. Times are process
CPU times, best of several repeats run alternately with the baseline (a busy shared machine
disturbs the ratio less). The goal is <= 2 s for every detector together.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _review_tracks import plant, smooth_store

from napari_keyskel.assist.review import KINDS, detect


def _best(fn, repeat: int) -> tuple[float, float]:
    t_ours, t_base = [], []
    for _ in range(repeat):
        t0 = time.process_time()
        fn[0]()
        t_ours.append(time.process_time() - t0)
        t0 = time.process_time()
        fn[1]()
        t_base.append(time.process_time() - t0)
    return min(t_ours), min(t_base)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100,000 positions, 2 repeats")
    args = ap.parse_args()
    n_frames = 2084 if args.quick else 20834
    store = smooth_store(n_frames, 4, 0, noise=0.5)
    for kind in ("swap", "jump", "bone", "missing"):
        plant(store, kind, 20, 1)
    plant(store, "identity", 4, 2)
    positions = n_frames * 4 * store.n_nodes

    def baseline() -> None:
        for t in store:
            np.nanmedian(np.linalg.norm(np.diff(t.coords, axis=0), axis=-1), axis=0)

    flags = detect(store)
    ours, base = _best((lambda: detect(store), baseline), 2 if args.quick else 3)
    print(f"positions: {positions:,}  flags: {len(flags):,}")
    print(f"{'all six detectors':<28} {ours:8.3f} s")
    print(f"{'plain numpy pass (baseline)':<28} {base:8.3f} s")
    print(f"{'ratio detectors / baseline':<28} {ours / base:8.1f} x")
    for kind in KINDS:  # where the time goes
        t0 = time.process_time()
        detect(store, [kind])
        print(f"  {kind:<26} {time.process_time() - t0:8.3f} s")
    goal = 2.0 * positions / 1_000_000
    print(f"goal <= {goal:.2f} s: {'met' if ours <= goal else 'MISSED'}")


if __name__ == "__main__":
    main()
