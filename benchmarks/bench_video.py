"""Video footage: open, random access, stepping in napari and memory, against floors measured here.

Run: ``xvfb-run -a python benchmarks/bench_video.py [--hours 1] [--gop 50] [--access 200] [--steps 500]``

Makes once (and caches in ``$XDG_CACHE_HOME/napari-keyskel-bench`` or the temp folder, never in
git) a 10 s 1080p H.264 clip (B-frames, a keyframe every ``--gop`` frames), and a ``--hours``
long file made by remuxing that clip end to end with shifted timestamps (encoding an hour on two
cores would take hours; the packets are real H.264). Then, in one run:

1. open time of the long file (the frame index from packet timestamps; goal <= 1 s, no decoding);
2. random access to ``--access`` frames, p50 / p95, against PyAV decoding from the previous
   keyframe (``container.seek`` + decode to the frame; goal <= 1.2x);
3. stepping forward ``--steps`` frames in a napari viewer (each step sliced and drawn) against
   the same stepping over frames already in memory (goal <= 1.5x). The in-memory floor cycles
   over 100 decoded frames (3 GB for 500 would not fit beside the others' work; napari copies
   nothing, so a step costs the same whichever frame it shows);
4. peak memory of the reader (random access + 2,000 frames stepped, in a fresh process) against
   the cache budget + 100 MB;
5. napari's own reader on the short clip, for comparison (time, memory of its data).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

W, H, RATE = 1920, 1080, 25


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or tempfile.gettempdir()
    d = Path(base) / "napari-keyskel-bench"
    d.mkdir(parents=True, exist_ok=True)
    return d


def make_clip(path: Path, seconds: int, gop: int) -> Path:
    """A 1080p H.264 clip with B-frames: a moving textured scene (so frames differ)."""
    if path.exists():
        return path
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        s = out.add_stream("libx264", rate=RATE)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {
            "preset": "veryfast",
            "crf": "30",
            "x264-params": f"keyint={gop}:min-keyint={gop}:bframes=3",
        }
        for i in range(seconds * RATE):
            img = np.empty((H, W, 3), np.uint8)  # smooth moving waves and a bar: frames differ
            img[..., 0] = 127 + 120 * np.sin((x + 7 * i) / 90.0)
            img[..., 1] = 127 + 120 * np.sin((y - 5 * i) / 70.0 + x / 300.0)
            img[..., 2] = 127 + 120 * np.cos((x + y) / 150.0 + i / 10.0)
            img[:, (20 * i) % W : (20 * i) % W + 40] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    tmp.rename(path)
    return path


def make_long(clip: Path, path: Path, hours: float) -> Path:
    """The clip's packets remuxed end to end with shifted timestamps, ``hours`` long."""
    if path.exists():
        return path
    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        tb = s.time_base
        packets = [(p.pts, p.dts, p.is_keyframe, bytes(p)) for p in c.demux(s) if p.size]
        n = len(packets)
        span = round(n / RATE / tb)  # the clip's duration in its time base
        tmp = path.with_suffix(".part.mp4")
        with av.open(str(tmp), "w") as out:
            o = out.add_stream_from_template(s)
            o.time_base = tb
            for k in range(int(np.ceil(hours * 3600 * RATE / n))):
                for pts, dts, key, data in packets:
                    p = av.Packet(data)
                    p.pts, p.dts = pts + k * span, dts + k * span
                    p.is_keyframe = key
                    p.time_base = tb
                    p.stream = o
                    out.mux(p)
    tmp.rename(path)
    return path


def random_access(path: Path, targets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per frame: ours, and the floor (PyAV seeking to the keyframe before each target and
    decoding to it, its pts known), interleaved target by target (alternating which goes first) so
    both see the same machine load."""
    from napari_keyskel.media import open_media

    src = open_media(path)
    pts = src.index.pts
    ours, floor = [], []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"

        def floor_one(t: int) -> float:
            t0 = time.perf_counter()
            c.seek(int(pts[t]), stream=s, backward=True)
            for f in c.decode(s):
                if f.pts is not None and f.pts >= pts[t]:
                    f.to_ndarray(format="rgb24")
                    break
            return time.perf_counter() - t0

        def ours_one(t: int) -> float:
            t0 = time.perf_counter()
            src.frame(t)
            return time.perf_counter() - t0

        for k, t in enumerate(targets):  # which goes first alternates, against order effects
            if k % 2:
                ours.append(ours_one(t))
                floor.append(floor_one(t))
            else:
                floor.append(floor_one(t))
                ours.append(ours_one(t))
    src.close()
    return np.asarray(ours), np.asarray(floor)


def stepping(path: Path, steps: int, start: int) -> dict[str, float]:
    """Seconds per step in napari: our layer vs frames already in memory."""
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_keyskel.media import open_media

    src = open_media(path)
    viewer = napari.Viewer(show=True)
    out = {}
    app = QApplication.instance()
    mem = np.stack([src.frame(start + i) for i in range(100)])
    for label, data, index in (("memory", mem, lambda i: i % 100), ("ours", src, lambda i: start + i)):
        layer = viewer.add_image(data, rgb=True, name=label)
        viewer.dims.set_current_step(0, index(0))
        app.processEvents()
        t0 = time.perf_counter()
        for i in range(1, steps + 1):
            viewer.dims.set_current_step(0, index(i))
            viewer.window._qt_viewer.canvas._scene_canvas.render()  # draw every step, as a person sees it
            app.processEvents()
        out[label] = (time.perf_counter() - t0) / steps
        viewer.layers.remove(layer)
    viewer.close()
    return out


def memory_child(path: str, cache_mb: float) -> None:
    """In a fresh process: peak RSS growth while reading (random access + stepping)."""
    from napari_keyskel.media import open_media

    def rss(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
        return 0

    src = open_media(path, cache_mb=cache_mb)
    src.frame(0)
    base = rss("VmRSS:")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM)
    rng = np.random.default_rng(1)
    for t in rng.integers(0, len(src), 100):
        src.frame(int(t))
    for i in range(min(1000, len(src) // 4), min(len(src), 3000)):
        src.frame(i)
    print(json.dumps({"base": base, "peak": rss("VmHWM:"), "cached": src.cached_bytes, "n": len(src)}))


def napari_reader(clip: Path) -> dict[str, float]:
    """napari's own reader on the short clip, in a fresh process (its reader forks, which must not
    happen beside decoding threads); then ours there too."""
    child = subprocess.run(
        [sys.executable, __file__, "--napari-child", str(clip)], capture_output=True, text=True, timeout=600
    )
    lines = child.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {"error": child.stderr.strip()[-300:]}


def napari_child(clip: Path) -> None:
    import napari

    viewer = napari.Viewer(show=False)
    t0 = time.perf_counter()
    try:
        layers = viewer.open(str(clip), plugin="napari")
        dt = time.perf_counter() - t0
        nbytes = sum(int(np.asarray(ly.data).nbytes) for ly in layers)
    except Exception as exc:  # napari may have no video plugin installed
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:200]}))
        return
    viewer.close()
    from napari_keyskel.media import open_media

    t0 = time.perf_counter()
    src = open_media(clip)
    src.frame(0)
    ours = time.perf_counter() - t0
    print(
        json.dumps(
            {"napari_s": dt, "napari_mb": nbytes / 2**20, "ours_s": ours, "ours_mb": src.cached_bytes / 2**20}
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--gop", type=int, default=50)
    ap.add_argument("--access", type=int, default=200)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--napari-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.napari_child:
        napari_child(Path(args.napari_child))
        return
    if args.memory_child:
        memory_child(args.memory_child[0], float(args.memory_child[1]))
        return
    d = cache_dir()
    t0 = time.perf_counter()
    clip = make_clip(d / f"clip_1080p_gop{args.gop}.mp4", 10, args.gop)
    long = make_long(clip, d / f"long_{args.hours:g}h_gop{args.gop}.mp4", args.hours)
    print(
        f"files: {clip.name} {clip.stat().st_size / 2**20:.1f} MB, {long.name} "
        f"{long.stat().st_size / 2**20:.0f} MB (ready in {time.perf_counter() - t0:.1f} s, cached in {d})"
    )

    from napari_keyskel.media import open_media

    long.read_bytes()  # warm the page cache so the first open is not a disk benchmark
    t0 = time.perf_counter()
    src = open_media(long)
    open_s = time.perf_counter() - t0
    n = len(src)
    print(
        f"1. open {n} frames ({n / RATE / 3600:.2f} h of 1080p H.264): {open_s:.3f} s "
        f"(goal <= 1 s); frames decoded on open: {src.stats['decoded']}"
    )
    src.close()

    rng = np.random.default_rng(0)
    targets = [int(t) for t in rng.integers(0, n, args.access)]
    mine, floor = random_access(long, targets)
    for q in (50, 95):
        a, b = np.percentile(mine, q), np.percentile(floor, q)
        print(
            f"2. random access p{q}: ours {a * 1e3:.1f} ms, PyAV from the keyframe {b * 1e3:.1f} ms: "
            f"{a / b:.2f}x (goal <= 1.2x)"
        )

    step = stepping(long, args.steps, start=int(n // 2))
    print(
        f"3. stepping {args.steps} frames in napari: ours {step['ours'] * 1e3:.1f} ms/step, in memory "
        f"{step['memory'] * 1e3:.1f} ms/step: {step['ours'] / step['memory']:.2f}x (goal <= 1.5x)"
    )

    budget = 512.0
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(long), str(budget)], capture_output=True, text=True
    )
    mem = json.loads(child.stdout.strip().splitlines()[-1])
    grow = (mem["peak"] - mem["base"]) / 2**20
    print(
        f"4. peak memory while reading (100 random + 2000 stepped frames): +{grow:.0f} MB over the open "
        f"reader; cache held {mem['cached'] / 2**20:.0f} MB; budget {budget:.0f} + 100 MB"
    )

    nap = napari_reader(clip)
    if "error" in nap:
        print(f"5. napari's own reader on the 10 s clip: {nap['error']}")
    else:
        print(
            f"5. napari's own reader on the 10 s clip: {nap['napari_s']:.2f} s, {nap['napari_mb']:.0f} MB "
            f"in memory; ours: {nap['ours_s']:.3f} s to the first frame, {nap['ours_mb']:.0f} MB cached"
        )


if __name__ == "__main__":
    main()
