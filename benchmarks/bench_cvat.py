"""CVAT for video 1.1 read/write speed against ElementTree on a big skeleton-track export.

Run: ``python benchmarks/bench_cvat.py [--tracks 10] [--frames 1000] [--repeat 3]``.

Builds ``--tracks`` instances of the COCO person skeleton (17 nodes) keyed every 10th frame over
``--frames`` frames, writes them with :func:`write_cvat` as CVAT's exporter does (a ``<skeleton>``
on every frame, ``keyframe="0"`` in-betweens), then times, best of ``--repeat``:

- reading: ``xml.etree.ElementTree.parse`` of the file (baseline: the parse alone) vs
  :func:`read_cvat` (parse, checks, and CVAT's per-element view on every frame);
- writing: ``ElementTree.tostring`` of the parsed document (baseline: serialising the same
  elements) vs :func:`write_cvat` (keyframe choice, every frame, atomic write).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.keyframes import interpolate_all
from napari_keyskel.core.presets import coco_person
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.formats.cvat import read_cvat, write_cvat


def make_set(n_tracks: int, n_frames: int, seed: int = 0) -> AnnotationSet:
    """``n_tracks`` people keyed every 10th frame (some nodes occluded), interpolated linearly."""
    rng = np.random.default_rng(seed)
    sk = coco_person()
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=n_frames, name="person")
    for tid in range(1, n_tracks + 1):
        store.add_track(tid, start=0, stop=n_frames)
        centre = rng.uniform(100, 900, 2)
        for f in range(0, n_frames, 10):
            yx = centre + rng.normal(0, 30, (sk.n_nodes, 2)) + f * 0.1
            vis = np.where(rng.random(sk.n_nodes) < 0.1, 1, 2)
            store.set_points(f, tid, yx, visibility=vis)
    interpolate_all(store, method="linear")
    frames = [{"item": "people.mp4", "frame": f, "width": 1920, "height": 1080} for f in range(n_frames)]
    return AnnotationSet(stores=[store], frames=frames)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=10)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ds = make_set(args.tracks, args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "annotations.xml"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            write_cvat(ds, path)
        mb = path.stat().st_size / 1e6
        n = sum(1 for _ in ET.parse(path).getroot().iter("points"))
        print(f"{args.tracks} tracks x {args.frames} frames x 17 nodes: {mb:.1f} MB, {n} <points>")
        tree = ET.parse(path)
        t_parse = best(lambda: ET.parse(path), args.repeat)
        t_read = best(lambda: read_cvat(path), args.repeat)
        t_dump = best(lambda: ET.tostring(tree.getroot(), encoding="unicode"), args.repeat)

        def write() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                write_cvat(ds, Path(tmp) / "out.xml")

        t_write = best(write, args.repeat)
    print(f"read : ElementTree.parse {t_parse:.3f} s | read_cvat {t_read:.3f} s ({t_read / t_parse:.2f}x)")
    print(
        f"write: ElementTree.tostring {t_dump:.3f} s | write_cvat {t_write:.3f} s ({t_write / t_dump:.2f}x)"
    )


if __name__ == "__main__":
    main()
