"""Benchmark: a multi-GB (t, z, y, x) stack opened lazily and stepped in a napari viewer.

A uint16 ImageJ hyperstack of about ``--gb`` GB is written (in a child process, so its pages do
not count against this process) into a temporary folder, opened with the plugin's TIFF reader
(a read-only memmap: nothing is read on open) and stepped through frames (every t at one z, then
every z at one t) in a real viewer (run under ``xvfb-run -a``):

- ``image``: the image alone (the baseline);
- ``image+keyskel``: the image plus a keyskel annotation opened from a V7 file with
  ``api.open_annotations`` (17-node person skeleton, ``--instances`` instances on every z-slice:
  keyed on three slices, interpolated between; a Points layer and its edges Vectors layer, which
  swap in each slice's points as z steps);
- ``image+plain layers``: the image plus napari's own Points and Vectors layers holding the same
  points of every slice at once (what napari costs without the plugin).

The configurations alternate (``--repeats`` viewers each, after one discarded warm-up) and
medians are reported.

Prints per-configuration open time, median step time, and RSS (resident memory, of which the
anonymous part is what the process allocated; the rest is file pages the kernel can drop), with
ratios against the baseline and against the file size. The file is deleted afterwards. The file
is in the page cache after writing, so steps measure the viewer, not the disk.

Run: ``xvfb-run -a python benchmarks/bench_stacks.py [--gb 3] [--dir /tmp] [--rounds 2] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PLANE = (1024, 2048)  # y, x: 4 MiB per uint16 plane


def _shape(gb: float) -> tuple[int, int, int, int]:
    planes = max(int(gb * 2**30 / (PLANE[0] * PLANE[1] * 2)), 8)
    nt = max(planes // 64, 2)
    return (nt, planes // nt, *PLANE)


def write_stack(path: Path, shape: tuple[int, ...]) -> None:
    """Write the hyperstack plane by plane through a memmap (never the whole array in memory)."""
    import tifffile

    out = tifffile.memmap(
        path,
        shape=shape,
        dtype=np.uint16,
        imagej=True,
        resolution=(1 / 0.2, 1 / 0.2),
        metadata={"axes": "TZYX", "spacing": 0.8, "unit": "um", "finterval": 5.0},
    )
    yy, xx = np.indices(shape[2:], dtype=np.uint16)
    base = (yy // 4 + xx // 4).astype(np.uint16)
    for t in range(shape[0]):
        for z in range(shape[1]):
            out[t, z] = base + np.uint16(t * 97 + z * 13)
        out.flush()
    del out


def _rss() -> tuple[float, float]:
    """(RSS, anonymous RSS) of this process in MiB."""
    fields = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", float("nan")), fields.get("RssAnon", float("nan"))


def _process_events() -> None:
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()


def make_annotation(folder: Path, shape: tuple[int, ...], instances: int) -> tuple[Path, np.ndarray]:
    """A V7 file: a 17-node skeleton per z-slice (slices are frames), keyed on 3 slices, interpolated.

    Returns the file and the plain ``(z, y, x)`` points of every slice (for the napari-only baseline).
    """
    from napari_keyskel.core.annotation_set import AnnotationSet
    from napari_keyskel.core.keyframes import interpolate_all, set_pose
    from napari_keyskel.core.presets import coco_person
    from napari_keyskel.core.store import AnnotationStore
    from napari_keyskel.formats import write

    _, nz, h, w = shape
    store = AnnotationStore(coco_person(), coord_ndim=2, frame_axis=0, n_frames=nz, name="person")
    rng = np.random.default_rng(0)
    for i in range(1, instances + 1):
        store.add_track(i, start=0)
        centre = rng.uniform([h * 0.2, w * 0.2], [h * 0.8, w * 0.8])
        for z in (0, nz // 2, nz - 1):
            pose = centre + rng.normal(0, 40, size=(store.n_nodes, 2))
            set_pose(store, z, i, np.clip(pose, 0, [h - 1, w - 1]))
    interpolate_all(store)
    path = write(AnnotationSet(stores=[store]), folder / "annotation.json", "darwin")[0]
    dense = store.to_dense()["coords"]  # (frames, tracks, nodes, 2)
    z = np.broadcast_to(np.arange(dense.shape[0])[:, None, None, None], (*dense.shape[:3], 1))
    pts = np.concatenate([z, dense], axis=-1).reshape(-1, 3)
    return path, pts[np.isfinite(pts).all(axis=1)]


def _add_annotation(viewer, image, config: str, annotation: Path, plain: np.ndarray) -> None:
    if config == "image+keyskel":
        from napari_keyskel import api
        from napari_keyskel.core.presets import coco_person

        api.open_annotations(viewer, annotation, skeleton=coco_person(), image_layer=image)
    elif config == "image+plain layers":  # napari's own Points + Vectors, every slice at once
        kw = {"scale": image.scale[1:], "translate": image.translate[1:]}
        viewer.add_points(plain, size=8, **kw)
        vec = np.stack([plain[:-1], np.diff(plain, axis=0)], axis=1)
        vec[:, 1, 0] = 0
        viewer.add_vectors(vec, edge_width=2, **kw)


def run_config(path: Path, config: str, rounds: int, annotation: Path, plain: np.ndarray) -> dict:
    import napari

    viewer = napari.Viewer(show=True)
    _process_events()
    rss0, anon0 = _rss()
    t0 = time.perf_counter()
    (image,) = viewer.open(path, plugin="napari-keyskel")
    _add_annotation(viewer, image, config, annotation, plain)
    _process_events()
    t_open = time.perf_counter() - t0
    nt, nz = image.data.shape[:2]
    steps = [(0, t) for t in range(nt)] + [(1, z) for z in range(nz)]
    times: dict[int, list[float]] = {0: [], 1: []}
    peak_rss, peak_anon = _rss()
    for r in range(rounds):
        viewer.dims.set_current_step(1, nz // 2)
        viewer.dims.set_current_step(0, 0)
        _process_events()
        for axis, i in steps:
            s = time.perf_counter()
            viewer.dims.set_current_step(axis, i)
            _process_events()
            times[axis].append(time.perf_counter() - s)
            if r == rounds - 1:
                rss, anon = _rss()
                peak_rss, peak_anon = max(peak_rss, rss), max(peak_anon, anon)
    n_layers = len(viewer.layers)
    viewer.close()
    _process_events()
    return {
        "open_s": t_open,
        "step_ms": 1000 * statistics.median(times[0] + times[1]),
        "t_ms": 1000 * statistics.median(times[0]),
        "z_ms": 1000 * statistics.median(times[1]),
        "rss_mb": peak_rss - rss0,
        "anon_mb": peak_anon - anon0,
        "layers": n_layers,
        "type": type(image.data).__name__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gb", type=float, default=3.0, help="approximate file size in GB")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the frames per viewer")
    parser.add_argument("--repeats", type=int, default=3, help="viewers per configuration")
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--shape", type=int, nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write:  # child process: write the file and exit
        write_stack(args.write, tuple(args.shape))
        return 0

    shape = _shape(args.gb)
    size = int(np.prod(shape, dtype=np.int64)) * 2
    free = shutil.disk_usage(args.dir).free
    if free < 2 * size:
        print(f"not enough space in {args.dir}: {free / 2**30:.1f} GiB free, need {2 * size / 2**30:.1f}")
        return 1
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="keyskel-bench-") as tmp:
        path = Path(tmp) / "big_hyperstack.tif"
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--write", str(path), "--shape", *map(str, shape)]
        subprocess.run(cmd, check=True)
        file_mb = path.stat().st_size / 2**20
        print(
            f"wrote {path.name}: shape (t, z, y, x) = {shape} uint16, {file_mb / 1024:.2f} GiB "
            f"in {time.perf_counter() - t0:.1f} s ({free / 2**30:.0f} GiB were free)"
        )
        annotation, plain = make_annotation(Path(tmp), shape, args.instances)
        configs = ("image", "image+keyskel", "image+plain layers")
        run_config(path, "image", 1, annotation, plain)  # warm-up: plugin discovery, GL context, imports
        runs: dict[str, list[dict]] = {c: [] for c in configs}
        for _ in range(args.repeats):  # alternate, so drift hits all alike
            for c in configs:
                runs[c].append(run_config(path, c, args.rounds, annotation, plain))
    print(
        f"(file deleted; annotation: {args.instances} instances x 17 nodes on every z-slice, V7 file; "
        f"{args.repeats} viewers per configuration, "
        f"each {args.rounds} rounds of {shape[0]} t-steps + {shape[1]} z-steps; medians)"
    )
    res = {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0] if key != "type"}
        | {"type": rs[0]["type"]}
        for name, rs in runs.items()
    }
    base = res["image"]
    header = (
        f"{'configuration':<19}{'data':>8}{'open s':>8}{'x base':>8}{'t-step ms':>10}{'z-step ms':>10}"
        f"{'step ms':>9}{'x base':>8}{'RSS+ MiB':>10}{'anon+ MiB':>10}{'RSS/file':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, r in res.items():
        print(
            f"{name:<19}{r['type']:>8}{r['open_s']:>8.2f}{r['open_s'] / base['open_s']:>8.2f}"
            f"{r['t_ms']:>10.1f}{r['z_ms']:>10.1f}{r['step_ms']:>9.1f}{r['step_ms'] / base['step_ms']:>8.2f}"
            f"{r['rss_mb']:>10.0f}{r['anon_mb']:>10.0f}{r['rss_mb'] / file_mb:>9.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
