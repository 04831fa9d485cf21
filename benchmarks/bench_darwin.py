"""Benchmark the Darwin reader/writer against plain JSON parsing/serialising of the same files.

200 Darwin video files (300 frames, 17 nodes, one skeleton track each, every frame written) are
generated in a temporary folder. Reading is compared with ``json.load`` of every file (the
baseline: the least any reader must do) and, if the cached darwin-py venv exists
(``python tests/_darwinpy_env.py`` creates it), with darwin-py's ``parse_darwin_json`` timed
inside that venv. Writing is compared with ``json.dumps`` of the same documents.

Run: ``python benchmarks/bench_darwin.py [n_files] [n_frames]``
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from napari_keyskel.core.presets import coco_person
from napari_keyskel.formats.darwin import read_darwin, write_darwin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import _darwinpy_env


def make_doc(i: int, n_frames: int, nodes: tuple[str, ...], rng: np.random.Generator) -> dict:
    xy = rng.uniform(0, 1000, size=(n_frames, len(nodes), 2)).round(4).tolist()
    occ = (rng.random((n_frames, len(nodes))) < 0.1).tolist()
    frames = {
        str(f): {
            "keyframe": f % 10 == 0,
            "skeleton": {
                "nodes": [
                    {"name": n, "occluded": o, "x": p[0], "y": p[1]} for n, o, p in zip(nodes, occ[f], xy[f])
                ]
            },
        }
        for f in range(n_frames)
    }
    return {
        "version": "2.0",
        "schema_ref": "https://darwin-public.s3.eu-west-1.amazonaws.com/darwin_json/2.0/schema.json",
        "item": {
            "name": f"video_{i:04d}.mp4",
            "path": "/",
            "slots": [
                {
                    "type": "video",
                    "slot_name": "0",
                    "width": 1920,
                    "height": 1080,
                    "frame_count": n_frames,
                    "frame_urls": [f"frame_{f}" for f in range(n_frames)],
                    "source_files": [{"file_name": f"video_{i:04d}.mp4"}],
                }
            ],
        },
        "annotations": [
            {
                "frames": frames,
                "id": str(uuid.UUID(int=i)),
                "interpolate_algorithm": "linear-1.1",
                "interpolated": True,
                "name": "person",
                "properties": [],
                "ranges": [[0, n_frames]],
                "slot_names": ["0"],
            }
        ],
        "properties": [],
    }


def best_of(fns: dict, repeat: int = 5) -> dict:
    """Minimum time of each function, runs interleaved so load changes hit all alike."""
    times: dict = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def main() -> None:
    n_files = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    n_frames = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    nodes = coco_person().nodes
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        docs = [make_doc(i, n_frames, nodes, rng) for i in range(n_files)]
        for i, d in enumerate(docs):
            (src / f"video_{i:04d}.json").write_text(json.dumps(d))
        files = sorted(src.glob("*.json"))
        size = sum(p.stat().st_size for p in files) / 1e6
        print(f"{n_files} files x {n_frames} frames x {len(nodes)} nodes ({size:.0f} MB)\n")

        def json_load() -> None:
            for p in files:
                with open(p, "rb") as fh:
                    json.load(fh)

        ds = read_darwin(src)
        t = best_of({"json": json_load, "read": lambda: read_darwin(src)})
        t_json, t_read = t["json"], t["read"]
        n_points = sum(s.counts()["points"] for s in ds.stores)
        assert n_points == n_files * n_frames * len(nodes), n_points

        t_dpy = None
        py = _darwinpy_env.existing_python()
        if py is not None:
            runs = [_darwinpy_env.run_in_venv(_darwinpy_env.TIME_SCRIPT, [str(src)], py) for _ in range(2)]
            t_dpy = min(r["seconds"] for r in runs)

        out = Path(tmp) / "out"

        def json_dumps() -> None:
            for d in docs:
                json.dumps(d)

        t = best_of({"dumps": json_dumps, "write": lambda: write_darwin(ds, out, skeleton_file=False)})
        t_dumps, t_write = t["dumps"], t["write"]

        rows = [
            ("read: json.load (baseline)", t_json, 1.0),
            ("read: read_darwin (folder)", t_read, t_read / t_json),
        ]
        if t_dpy is not None:
            rows.append(("read: darwin-py parse_darwin_json", t_dpy, t_dpy / t_json))
        else:
            missing = "read: darwin-py (no venv: python tests/_darwinpy_env.py)"
            rows.append((missing, float("nan"), float("nan")))
        rows += [
            ("write: json.dumps (baseline)", t_dumps, 1.0),
            ("write: write_darwin (folder, incl. disk)", t_write, t_write / t_dumps),
        ]
        print(f"{'operation':<58}{'seconds':>10}{'ratio':>9}")
        for name, t, r in rows:
            print(f"{name:<58}{t:>10.3f}{r:>9.2f}")
        print("\ntargets: read <= ~1.1x json.load, write <= 1.5x json.dumps")


if __name__ == "__main__":
    main()
