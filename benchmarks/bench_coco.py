"""COCO keypoints read/write speed against orjson, json and pycocotools on a big tracked-video file.

Run: ``python benchmarks/bench_coco.py [--instances 150000] [--repeat 3] [--no-track-ids] [--profile]``.

Generates (in a temporary folder) a COCO ground-truth file of ``--instances`` annotations x 17
nodes (about 72 MB for 150,000): a video of ``--tracks`` tracked animals, one annotation per
animal per frame, written the way common tools write it (``track_id``, ``bbox``, ``area``, etc.;
visibility 0/1/2 mixed). Then times, best of ``--repeat``, wall clock and CPU time of this process
(the machine may be shared: CPU time is the steadier figure):

- reading: ``orjson.loads`` of the file's bytes (the baseline; also with the cyclic garbage
  collector paused, as our reader runs), ``json.load``, ``pycocotools.coco.COCO()``, ``read_coco``;
- writing the same content: ``orjson.dumps`` of the parsed document + a plain write (the
  baseline), ``json.dumps`` + write, ``write_coco`` (build + serialise + atomic write: a
  temporary file, ``fsync``, rename); and without the disk: ``orjson.dumps`` alone against
  ``coco_chunks`` (the text ``write_coco`` writes).

Targets (issue 25): ``read_coco`` at most 1.2x ``orjson.loads``; ``write_coco`` at most 1.5x
``orjson.dumps`` + write. ``--profile`` also prints a cProfile of one ``read_coco`` and one
``write_coco``, sorted by own time.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from napari_keyskel.core.presets import coco_person
from napari_keyskel.formats.coco import read_coco, write_coco
from napari_keyskel.formats.coco._write import coco_chunks


def make_coco(n_instances: int, n_tracks: int, seed: int = 0) -> dict:
    """A synthetic COCO document: ``n_tracks`` animals over ``n_instances / n_tracks`` frames."""
    rng = np.random.default_rng(seed)
    sk = coco_person()
    k = sk.n_nodes
    n_frames = -(-n_instances // n_tracks)
    xy = rng.uniform(10, 1900, (n_instances, k, 2)).round(3)
    v = rng.choice([0, 1, 2], size=(n_instances, k), p=[0.1, 0.2, 0.7])
    xy[v == 0] = 0.0
    kp = np.concatenate([xy, v[..., None]], axis=2).reshape(n_instances, 3 * k)
    lab = v > 0
    x0 = np.where(lab, xy[..., 0], np.inf).min(1)
    x1 = np.where(lab, xy[..., 0], -np.inf).max(1)
    y0 = np.where(lab, xy[..., 1], np.inf).min(1)
    y1 = np.where(lab, xy[..., 1], -np.inf).max(1)
    box = np.stack([x0, y0, x1 - x0, y1 - y0], 1)
    images = [
        {
            "id": f + 1,
            "file_name": f"video/frame_{f:06d}.png",
            "width": 1920,
            "height": 1080,
            "frame_index": f,
        }
        for f in range(n_frames)
    ]
    anns = []
    kp_l, box_l, nk_l, area_l = (
        kp.tolist(),
        box.tolist(),
        lab.sum(1).tolist(),
        (box[:, 2] * box[:, 3]).tolist(),
    )
    for i in range(n_instances):
        f, t = divmod(i, n_tracks)
        anns.append(
            {
                "id": i + 1,
                "image_id": f + 1,
                "category_id": 1,
                "keypoints": [int(c) if j % 3 == 2 else c for j, c in enumerate(kp_l[i])],
                "num_keypoints": nk_l[i],
                "bbox": box_l[i],
                "area": area_l[i],
                "iscrowd": 0,
                "track_id": t + 1,
            }
        )
    cat = {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(sk.nodes),
        "skeleton": [[i + 1, j + 1] for i, j in sk.edges],
    }
    return {"info": {"description": "synthetic"}, "images": images, "annotations": anns, "categories": [cat]}


#: Best CPU time of each function (filled by :func:`best`): on a machine shared with other jobs,
#: the wall-clock time of a single-threaded reader mostly measures the others.
CPU: dict[str, float] = {}


def best(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each function (and CPU time in :data:`CPU`); they take turns."""
    times: dict[str, float] = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            result = fn()
            times[name] = min(times[name], time.perf_counter() - t0)
            CPU[name] = min(CPU.get(name, float("inf")), time.process_time() - c0)
            del result
    return times


def nogc(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` with the cyclic garbage collector paused (as keyskel's readers and writers run)."""

    def run() -> object:
        gc.disable()
        try:
            return fn()
        finally:
            gc.enable()

    return run


def table(rows: list[tuple[str, str, str, str]]) -> None:
    """Print ``(operation, what, key, baseline key)`` rows: wall and CPU seconds and ratios."""
    print(f"{'':6} {'what':36} {'wall s':>8} {'cpu s':>8} {'x base (wall)':>14} {'x base (cpu)':>13}")
    for op, what, key, base in rows:
        w, c = WALL[key], CPU[key]
        print(f"{op:6} {what:36} {w:8.3f} {c:8.3f} {w / WALL[base]:14.2f} {c / CPU[base]:13.2f}")


WALL: dict[str, float] = {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=150_000)
    ap.add_argument("--tracks", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--no-track-ids", action="store_true", help="drop track_id: every annotation its own track"
    )
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of a read and a write")
    args = ap.parse_args()

    import orjson
    from pycocotools.coco import COCO

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.json"
        doc = make_coco(args.instances, args.tracks)
        if args.no_track_ids:
            for a in doc["annotations"]:
                del a["track_id"]
        path.write_bytes(orjson.dumps(doc))
        del doc
        size = path.stat().st_size / 1e6
        tracks = "no track ids" if args.no_track_ids else f"{args.tracks} tracks"
        print(f"file: {args.instances} instances x 17 nodes, {tracks}, {size:.1f} MB\n")

        def load_json() -> object:
            with open(path, "rb") as fh:
                return json.load(fh)

        def pycoco() -> object:
            with contextlib.redirect_stdout(io.StringIO()):
                return COCO(str(path))

        def load_orjson() -> object:
            return orjson.loads(path.read_bytes())

        WALL.update(
            best(
                {
                    "orjson": load_orjson,
                    "orjson_nogc": nogc(load_orjson),
                    "json": load_json,
                    "pycoco": pycoco,
                    "ours": lambda: read_coco(path),
                },
                args.repeat,
            )
        )
        ds = read_coco(path)
        doc = orjson.loads(path.read_bytes())  # the document as read: what the baselines write
        out = Path(tmp) / "out.json"
        w = best(
            {
                "w_orjson": lambda: out.write_bytes(orjson.dumps(doc)),
                "w_orjson_dumps": lambda: orjson.dumps(doc),
                "w_json": lambda: out.write_text(json.dumps(doc)),
                "w_ours": lambda: write_coco(ds, out),
                "w_ours_text": nogc(lambda: coco_chunks(ds)),
            },
            args.repeat,
        )
        WALL.update(w)
        table(
            [
                ("read", "orjson.loads (baseline)", "orjson", "orjson"),
                ("read", "orjson.loads, gc paused", "orjson_nogc", "orjson"),
                ("read", "json.load", "json", "orjson"),
                ("read", "pycocotools COCO()", "pycoco", "orjson"),
                ("read", "read_coco", "ours", "orjson"),
                ("write", "orjson.dumps + write (baseline)", "w_orjson", "w_orjson"),
                ("write", "json.dumps + write", "w_json", "w_orjson"),
                ("write", "write_coco (atomic: fsync, rename)", "w_ours", "w_orjson"),
                ("write", "orjson.dumps only (no disk)", "w_orjson_dumps", "w_orjson_dumps"),
                ("write", "write_coco's text only (no disk)", "w_ours_text", "w_orjson_dumps"),
            ]
        )
        print(
            f"\nread_coco: {CPU['ours'] / CPU['orjson']:.2f}x orjson.loads, "
            f"{CPU['ours'] / CPU['orjson_nogc']:.2f}x orjson.loads with the collector paused, "
            f"{CPU['ours'] / CPU['pycoco']:.2f}x pycocotools (CPU time; target <= 1.2x orjson.loads)"
        )
        print(
            f"write_coco: {CPU['w_ours'] / CPU['w_orjson']:.2f}x orjson.dumps + write "
            f"(CPU time; target <= 1.5x); before the disk {CPU['w_ours_text'] / CPU['w_orjson_dumps']:.2f}x "
            "orjson.dumps"
        )
        if args.profile:
            for fn, a in ((read_coco, (path,)), (write_coco, (ds, out))):
                prof = cProfile.Profile()
                prof.runcall(fn, *a)
                pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
