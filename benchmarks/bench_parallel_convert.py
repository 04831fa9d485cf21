"""Benchmark ``keyskel convert`` of a folder of Darwin files: Dask worker processes against serial.

2,000 Darwin video files (default 40 frames, 17 nodes, one skeleton track each, every frame
written) are generated in a temporary folder; ``convert --to coco`` runs serially (``--jobs 1``,
the baseline, in the same run) and on Dask local processes (``--jobs N``), and both files are
checked to be the same bytes; ``validate`` likewise. Each repeat first measures how many cores
the machine gives at that moment (N processes parsing Darwin JSON at once against one alone):
the cores are shared with other jobs, so read the ratio beside it, not the seconds.

Run: ``python benchmarks/bench_parallel_convert.py [n_files] [n_frames] [jobs] [repeats]``
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from napari_keyskel.cli.main import main
from napari_keyskel.core.presets import coco_person


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
    slot = {"type": "video", "slot_name": "0", "width": 1920, "height": 1080, "frame_count": n_frames}
    slot["frame_urls"] = [f"frame_{f}" for f in range(n_frames)]
    return {
        "version": "2.0",
        "item": {"name": f"video_{i:04d}.mp4", "path": "/", "slots": [slot]},
        "annotations": [
            {
                "id": str(uuid.UUID(int=i)),
                "name": "person",
                "frames": frames,
                "ranges": [[0, n_frames]],
                "slot_names": ["0"],
                "interpolated": True,
                "interpolate_algorithm": "linear-1.1",
            }
        ],
    }


def _timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    return time.perf_counter() - t0


def _probe(_: object = None) -> float:
    """Seconds to parse one of the benchmark's Darwin documents 500 times (memory-heavy, like the work)."""
    text = json.dumps(make_doc(0, 40, coco_person().nodes, np.random.default_rng(1)))
    t0 = time.perf_counter()
    for _ in range(500):
        json.loads(text)
    return time.perf_counter() - t0


def free_cores(jobs: int) -> float:
    """How many cores the machine gives right now: ``jobs`` probes at once against one alone."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    alone = _probe()
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as ex:
        ex.submit(int).result()
        t0 = time.perf_counter()
        list(ex.map(_probe, range(jobs)))
        together = time.perf_counter() - t0
    return jobs * alone / together


def run(n_files: int = 2000, n_frames: int = 40, jobs: int | None = None, repeats: int = 3) -> list[dict]:
    jobs = jobs or os.cpu_count() or 1
    nodes = coco_person().nodes
    rng = np.random.default_rng(0)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "export"
        folder.mkdir()
        for i in range(n_files):
            (folder / f"video_{i:04d}.json").write_text(json.dumps(make_doc(i, n_frames, nodes, rng)))
        print(f"convert {n_files} Darwin files x {n_frames} frames x {len(nodes)} nodes -> one COCO file")
        print(
            f"(cores on this machine: {os.cpu_count()}, shared with other jobs; each line: one same-run pair)"
        )
        serial_out, par_out = Path(tmp) / "serial.json", Path(tmp) / "par.json"
        common = ["convert", str(folder)]
        for r in range(repeats):
            cores = free_cores(jobs)
            t_serial = _timed([*common, str(serial_out), "--to", "coco", "--jobs", "1"])
            t_par = _timed([*common, str(par_out), "--to", "coco", "--jobs", str(jobs)])
            same = serial_out.read_bytes() == par_out.read_bytes()
            v_serial = _timed(["validate", str(folder), "--jobs", "1"])
            v_par = _timed(["validate", str(folder), "--jobs", str(jobs)])
            print(
                f"  run {r + 1}: convert serial {t_serial:5.2f} s, Dask --jobs {jobs} {t_par:5.2f} s: "
                f"x{t_serial / t_par:.2f}   validate {v_serial:4.2f} s / {v_par:4.2f} s: "
                f"x{v_serial / v_par:.2f}   (free cores {cores:.1f}; same bytes: {same})"
            )
            if not same:
                raise SystemExit("the parallel output differs from the serial output")
            out.append({"serial": t_serial, "parallel": t_par, "speedup": t_serial / t_par, "cores": cores})
    return out


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    run(*args)
