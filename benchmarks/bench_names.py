"""What node names cost per frame on the sample, and how many overlapped before.

Run under a display: ``xvfb-run -a python benchmarks/bench_names.py [--repeat 3]``.

Opens the plugin's sample (2 mice x 12 nodes, 100 frames) at napari's default zoom and times,
best of ``--repeat`` interleaved passes over every frame: a frame step with names off (the baseline: the
session redraws points and edges), a frame step with names on, and the placement alone
(:func:`napari_keyskel._napari.labels.place_labels` on that frame's points). It also counts overlapping
label pairs per frame: napari's layer text as the sample showed it before (one translation for
every point), and the placed names.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _pairs(lo: np.ndarray, hi: np.ndarray) -> int:
    hit = np.all((lo[:, None] < hi[None]) & (lo[None] < hi[:, None]), axis=2)
    return int(np.triu(hit, 1).sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    import napari

    from napari_keyskel._napari.labels import label_half_sizes, place_labels
    from napari_keyskel._napari.names import FONT_SIZE, camera_of
    from napari_keyskel._napari.registry import owner_of

    viewer = napari.Viewer(show=True)
    viewer.open_sample("napari-keyskel", "moving_figure")
    points = viewer.layers["mouse keypoints"]
    ctrl = owner_of(points)
    n = int(viewer.dims.nsteps[0])
    zoom = camera_of(viewer).zoom

    def sweep() -> float:
        t = time.perf_counter()
        for f in range(n):
            viewer.dims.set_current_step(0, f)
        return (time.perf_counter() - t) / n

    off = on = np.inf
    for _ in range(args.repeat):  # interleaved: the machine's load changes alike for both
        ctrl.show_names(False)
        off = min(off, sweep())
        ctrl.show_names(True)
        on = min(on, sweep())
    before, after, place = [], [], np.inf
    for f in range(n):
        viewer.dims.set_current_step(0, f)
        corner = (np.asarray(points.data)[:, 1:] + [-3, 4]) * zoom  # the old text: upper_left + [0, -3, 4]
        half = label_half_sizes(points.features["node"].astype(str), 6)
        before.append(_pairs(corner, corner + 2 * half))
        names = ctrl.names.layer
        centre = np.asarray(names.data)[:, -2:] * zoom
        half = label_half_sizes(np.asarray(names.text.values, str), names.text.size)
        after.append(_pairs(centre - half, centre + half))
    px = np.asarray(points.data)[:, 1:] * zoom
    half = label_half_sizes(points.features["node"].astype(str), FONT_SIZE)
    for _ in range(args.repeat):
        t = time.perf_counter()
        for _ in range(n):
            place_labels(px, half, px.mean(axis=0, keepdims=True).repeat(len(px), 0), 0.5 * 6 * zoom)
        place = min(place, (time.perf_counter() - t) / n)
    viewer.close()
    print(f"zoom {zoom:.2f}, {len(px)} points per frame, {n} frames")
    print(f"overlapping label pairs per frame: text before {np.mean(before):.2f}, names {np.mean(after):.2f}")
    print(f"frame step, names off (baseline): {off * 1e3:.1f} ms")
    print(f"frame step, names on:             {on * 1e3:.1f} ms  (x{on / off:.2f})")
    print(f"placement alone:                  {place * 1e3:.2f} ms  (x{place / off:.3f} of a step)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
