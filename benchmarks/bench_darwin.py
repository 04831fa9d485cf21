"""V7 Darwin read/write speed against orjson and json on a V7 export folder, and darwin-py.

A folder of ``n_files`` Darwin video files (default 1,000 items of 30 frames, 17 nodes, one
skeleton track each, every frame written as V7 exports do) is generated in a temporary folder.
Times are the best of 3, wall clock and CPU time of this process (the machine may be shared):

- reading: orjson parsing every file (read + ``orjson.loads``: the baseline; also with the cyclic
  garbage collector paused, as our reader runs), ``json.load`` of every file, ``read_darwin`` of
  the folder and, if the cached darwin-py venv exists (``python tests/_darwinpy_env.py`` makes
  it), darwin-py's ``parse_darwin_json`` timed inside that venv (wall clock);
- writing: ``orjson.dumps`` + a plain write of every document (the baseline), ``json.dumps`` +
  write, and ``write_darwin`` of the folder (build, serialise, atomic all-or-nothing write:
  every file to a temporary file, the batch flushed to the disk at once, ``syncfs`` on Linux,
  then renamed: ``core/_atomic.py``), and the part of it before the disk (``build_documents`` +
  serialise).

Targets (issue 25): read at most 2x orjson parsing the files; write at most 1.5x
``orjson.dumps`` + write.

Run: ``python benchmarks/bench_darwin.py [n_files] [n_frames]``
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from napari_keyskel.core.presets import coco_person
from napari_keyskel.formats._jsonio import dumps_json
from napari_keyskel.formats.darwin import read_darwin, write_darwin
from napari_keyskel.formats.darwin._write import build_documents

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


def best_of(fns: dict[str, Callable[[], object]], repeat: int = 3) -> dict[str, tuple[float, float]]:
    """Minimum (wall, CPU) time of each function, runs interleaved so load changes hit all alike."""
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times[k].append((time.perf_counter() - t0, time.process_time() - c0))
    return {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in times.items()}


def nogc(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` with the cyclic garbage collector paused (as keyskel's readers and writers run)."""

    def run() -> object:
        gc.disable()
        try:
            return fn()
        finally:
            gc.enable()

    return run


def main() -> None:
    n_files = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    n_frames = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    nodes = coco_person().nodes
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        docs = [make_doc(i, n_frames, nodes, rng) for i in range(n_files)]
        for i, d in enumerate(docs):
            (src / f"video_{i:04d}.json").write_bytes(orjson.dumps(d))
        files = sorted(src.glob("*.json"))
        size = sum(p.stat().st_size for p in files) / 1e6
        print(f"{n_files} items x {n_frames} frames x {len(nodes)} nodes ({size:.0f} MB)\n")

        def orjson_files() -> list[object]:
            return [orjson.loads(p.read_bytes()) for p in files]

        def json_files() -> list[object]:
            out = []
            for p in files:
                with open(p, "rb") as fh:
                    out.append(json.load(fh))
            return out

        ds = read_darwin(src)
        n_points = sum(s.counts()["points"] for s in ds.stores)
        assert n_points == n_files * n_frames * len(nodes), n_points
        r = best_of(
            {
                "orjson": orjson_files,
                "orjson_nogc": nogc(orjson_files),
                "json": json_files,
                "ours": lambda: read_darwin(src),
            }
        )
        t_dpy = None
        py = _darwinpy_env.existing_python()
        if py is not None:
            runs = [_darwinpy_env.run_in_venv(_darwinpy_env.TIME_SCRIPT, [str(src)], py) for _ in range(2)]
            t_dpy = min(run["seconds"] for run in runs)

        out_plain, out = Path(tmp) / "plain", Path(tmp) / "out"
        out_plain.mkdir()

        def write_plain(dumps: Callable[[object], bytes]) -> None:
            for p, d in zip(files, docs):
                (out_plain / p.name).write_bytes(dumps(d))

        w = best_of(
            {
                "orjson": lambda: write_plain(orjson.dumps),
                "json": lambda: write_plain(lambda d: json.dumps(d).encode()),
                "ours": lambda: write_darwin(ds, out, skeleton_file=False),
                "ours_cpu": nogc(lambda: [dumps_json(d) for _, d in build_documents(ds, fast=True)]),
            }
        )

        def row(what: str, t: tuple[float, float], base: tuple[float, float]) -> None:
            print(f"{what:<52}{t[0]:>9.3f}{t[1]:>9.3f}{t[0] / base[0]:>12.2f}{t[1] / base[1]:>12.2f}")

        print(f"{'operation':<52}{'wall s':>9}{'cpu s':>9}{'x (wall)':>12}{'x (cpu)':>12}")
        row("read: orjson parsing the files (baseline)", r["orjson"], r["orjson"])
        row("read: orjson, gc paused", r["orjson_nogc"], r["orjson"])
        row("read: json.load of the files", r["json"], r["orjson"])
        row("read: read_darwin (folder)", r["ours"], r["orjson"])
        if t_dpy is not None:
            row("read: darwin-py parse_darwin_json (its venv, wall)", (t_dpy, t_dpy), r["orjson"])
        else:
            print("read: darwin-py (no venv: python tests/_darwinpy_env.py)")
        row("write: orjson.dumps + plain write (baseline)", w["orjson"], w["orjson"])
        row("write: json.dumps + plain write", w["json"], w["orjson"])
        row("write: write_darwin (folder, atomic, one flush)", w["ours"], w["orjson"])
        row("write: write_darwin before the disk (build+dumps)", w["ours_cpu"], w["orjson"])
        print(
            f"\nread_darwin: {r['ours'][1] / r['orjson'][1]:.2f}x orjson parsing the files, "
            f"{r['ours'][1] / r['orjson_nogc'][1]:.2f}x with the collector paused (CPU; target <= 2x)"
        )
        print(
            f"write_darwin: {w['ours'][1] / w['orjson'][1]:.2f}x orjson.dumps + write (CPU; target <= 1.5x); "
            f"wall {w['ours'][0] / w['orjson'][0]:.2f}x (one flush of the batch); before the disk "
            f"{w['ours_cpu'][1] / w['orjson'][1]:.2f}x"
        )


if __name__ == "__main__":
    main()
