"""COCO keypoints read/write speed against json, orjson and pycocotools on a big file.

Run: ``python benchmarks/bench_coco.py [--instances 150000] [--repeat 3] [--no-track-ids] [--profile]``.

Generates (in a temporary folder) a COCO ground-truth file of ``--instances`` annotations x 17
nodes (about 77 MB for 150,000): a video of ``--tracks`` tracked animals, one annotation per
animal per frame, written the way common tools write it (``track_id``, ``bbox``, ``area``, etc.;
visibility 0/1/2 mixed). Then times, best of ``--repeat``:

- reading: ``json.load`` (baseline), ``orjson.loads``, ``pycocotools.coco.COCO()``, ``read_coco``;
- writing the same content: ``json.dumps`` (baseline) vs ``write_coco`` (build + serialise + atomic
  write).

Targets: ``read_coco`` faster than pycocotools and within ~1.1x of ``json.load``; ``write_coco``
within 1.5x of ``json.dumps``. ``--profile`` also prints a cProfile of one ``read_coco`` (the
parse, then the conversion to a AnnotationSet), sorted by own time.
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=150_000)
    ap.add_argument("--tracks", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--no-track-ids", action="store_true", help="drop track_id: every annotation its own track"
    )
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of one read_coco")
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
        size = path.stat().st_size / 1e6
        tracks = "no track ids" if args.no_track_ids else f"{args.tracks} tracks"
        print(f"file: {args.instances} instances x 17 nodes, {tracks}, {size:.1f} MB")

        def load_json() -> object:
            with open(path, "rb") as fh:
                return json.load(fh)

        def pycoco() -> object:
            with contextlib.redirect_stdout(io.StringIO()):
                return COCO(str(path))

        def load_json_nogc() -> object:
            gc.disable()
            try:
                return load_json()
            finally:
                gc.enable()

        r = best(
            {
                "json": load_json,
                "json_nogc": load_json_nogc,
                "orjson": lambda: orjson.loads(path.read_bytes()),
                "pycoco": pycoco,
                "ours": lambda: read_coco(path),
            },
            args.repeat,
        )
        r_json, r_json_nogc, r_orjson, r_pycoco, r_ours = r.values()
        cpu_ratio = CPU["ours"] / CPU["pycoco"]

        ds = read_coco(path)
        out = Path(tmp) / "out.json"
        # baseline: json.dumps of the same document, written to disk
        w = best(
            {
                "json": lambda: out.write_text(json.dumps(doc)),
                "orjson": lambda: out.write_bytes(orjson.dumps(doc)),
                "ours": lambda: write_coco(ds, out),
            },
            args.repeat,
        )
        w_json, w_orjson, w_ours = w.values()

        rows = [
            ("read", "json.load (baseline)", r_json, r_json),
            ("read", "json.load, gc paused", r_json_nogc, r_json),
            ("read", "orjson.loads", r_orjson, r_json),
            ("read", "pycocotools COCO()", r_pycoco, r_json),
            ("read", "read_coco", r_ours, r_json),
            ("write", "json.dumps + write (baseline)", w_json, w_json),
            ("write", "orjson.dumps + write", w_orjson, w_json),
            ("write", "write_coco", w_ours, w_json),
        ]
        print(f"{'':6} {'what':32} {'seconds':>8} {'x baseline':>11}")
        for op, what, t, base in rows:
            print(f"{op:6} {what:32} {t:8.3f} {t / base:11.2f}")
        print(f"read_coco vs pycocotools: {r_ours / r_pycoco:.2f}x the time")
        print(f"read_coco vs pycocotools, CPU time: {cpu_ratio:.2f}x")
        print("(read_coco pauses the cyclic GC while it parses and converts; see formats/_jsonio.py)")
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(read_coco, path)
            pstats.Stats(prof).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
