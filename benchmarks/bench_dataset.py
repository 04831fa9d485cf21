"""Benchmark of datasets: open a 2,000-item V7 export, switch items, suggest frames of a long video.

    xvfb-run -a python benchmarks/bench_dataset.py [--quick]

1. **Open** a V7 export folder of 2,000 Darwin files (video items of 1,000 frames, 2 instances keyed
   every 50th frame; the first item's video beside it) in the Dataset dock, until the first item
   is shown (media and annotation layers added and painted). Goal <= 3 s. Baselines in the same
   run: reading the whole folder at once with ``read_darwin`` (what opening every item would
   cost), and plain napari showing the same video and an empty Points layer.
2. **Switch** between two 1,000-frame video items (the item left saved if changed, the next
   one's video indexed and its layers added). Goal <= 0.5 s. Baseline: plain napari removing
   the layers and adding the same video (``open_media``) and an empty Points layer.
3. **Suggest** 20 frames of a 10,000-frame 640x360 video, in a fresh process each: time and
   peak memory over the process's own after imports, against decoding the video once with PyAV
   at thumbnail size (``to_ndarray(width=32, height=32)``, every frame kept: the least any
   appearance-based choice must do).

Videos are a short clip remuxed end to end with shifted timestamps (encoding thousands of
frames takes too long on two cores); they are made once in a temporary folder.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from _media_samples import make_video  # noqa: E402


def long_video(path: Path, n_frames: int, size: tuple[int, int], clip: int = 100) -> Path:
    """``n_frames`` frames: a ``clip``-frame clip remuxed end to end (timestamps shifted)."""
    short = path.with_name(f"clip_{path.name}")
    make_video(short, clip, size=size, rate=25, gop=50, bframes=2)
    with av.open(str(short)) as src, av.open(str(path), "w") as out:
        ist = src.streams.video[0]
        ost = out.add_stream_from_template(ist)
        packets = [p for p in src.demux(ist) if p.size]
        step = min(b.pts - a.pts for a, b in itertools.pairwise(packets) if b.pts > a.pts)
        span = max(p.pts for p in packets) - min(p.pts for p in packets) + step
        for k in range(-(-n_frames // clip)):
            for p in packets:
                q = av.Packet(bytes(p))
                q.pts, q.dts = p.pts + k * span, (p.dts if p.dts is not None else p.pts) + k * span
                q.time_base, q.is_keyframe, q.stream = p.time_base, p.is_keyframe, ost
                out.mux(q)
    short.unlink()
    return path


def v7_folder(folder: Path, n_items: int, n_frames: int, video: Path) -> Path:
    """``n_items`` Darwin files of video items (our writer's file, renamed per item)."""
    from napari_keyskel.core.annotation_set import AnnotationSet
    from napari_keyskel.formats import write
    from napari_keyskel.formats._jsonio import dumps_json, load_json
    from napari_keyskel.samples.synthetic import moving_figure

    folder.mkdir(parents=True, exist_ok=True)
    _, store = moving_figure(n_frames=n_frames, n_instances=2, shape=(360, 640), render=False, key_step=50)
    frames = [{"item": "item.mp4", "frame": f, "width": 640, "height": 360} for f in range(n_frames)]
    one = folder / "template.json"
    write(AnnotationSet([store], frames), one, "darwin")
    doc = load_json(one)
    one.unlink()
    for i in range(n_items):
        name = f"item{i:04d}.mp4"
        doc["item"]["name"] = name
        doc["item"]["slots"][0]["source_files"] = [{"file_name": name}]
        (folder / f"item{i:04d}.json").write_bytes(dumps_json(doc))
    for i in (0, 1):
        os.link(video, folder / f"item{i:04d}.mp4")
    return folder


def settle(app, n: int = 3) -> None:
    for _ in range(n):
        app.processEvents()


def bench_open_and_switch(tmp: Path, n_items: int, n_frames: int) -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_keyskel._qt.dataset_dock import DatasetDock
    from napari_keyskel.formats.darwin import read_darwin
    from napari_keyskel.media import open_media

    video = long_video(tmp / "video.mp4", n_frames, (640, 360))
    folder = v7_folder(tmp / "export", n_items, n_frames, video)
    app = QApplication.instance() or QApplication([])
    viewer = napari.Viewer(show=True)
    dock = DatasetDock(viewer)
    viewer.window.add_dock_widget(dock, name="Keyskel dataset", area="right")
    warm = viewer.add_image(np.zeros((2, 8, 8), np.uint8))  # napari's one-time costs (imports,
    viewer.layers.remove(viewer.add_points(np.zeros((0, 3)), ndim=3))  # units) paid before timing
    viewer.layers.remove(warm)
    settle(app)

    t0 = time.perf_counter()
    dock.open_dataset(folder)
    app.processEvents()  # the first paint
    t_open = time.perf_counter() - t0
    shown = [layer.name for layer in viewer.layers]
    t0 = time.perf_counter()
    while dock._timer.isActive():
        app.processEvents()
    t_rows = time.perf_counter() - t0

    t0 = time.perf_counter()
    read_darwin(folder)
    t_read_all = time.perf_counter() - t0
    session = dock.session

    def plain() -> None:
        for layer in list(viewer.layers):
            viewer.layers.remove(layer)
        src = open_media(video)
        viewer.add_image(src, name="plain")
        viewer.add_points(np.zeros((0, 3)), ndim=3, name="points")
        settle(app)

    switches, plains = [], []
    for k in range(6):
        t0 = time.perf_counter()
        session.open(1 - k % 2)
        settle(app)
        switches.append(time.perf_counter() - t0)
    session.close()
    for _ in range(6):
        t0 = time.perf_counter()
        plain()
        plains.append(time.perf_counter() - t0)
    viewer.close()
    t_plain = statistics.median(plains)
    print(f"1. open a {n_items:,}-item V7 export ({n_frames}-frame video items), first item shown")
    print(f"   layers shown: {shown}")
    met = "met" if t_open <= 3 else "MISSED"
    print(f"   {'dock: first item shown':<44} {t_open:8.3f} s   goal <= 3 s: {met}")
    print(f"   {'dock: every row counted (in the background)':<44} {t_rows:8.3f} s")
    ratio = t_open / t_read_all
    print(f"   {'baseline: read_darwin of the whole folder':<44} {t_read_all:8.3f} s   ({ratio:.2f}x)")
    print(f"   {'baseline: plain napari, video + points':<44} {t_plain:8.3f} s   ({t_open / t_plain:.1f}x)")
    t_switch = statistics.median(switches[1:])
    print(f"2. switch between two {n_frames}-frame video items (median of {len(switches) - 1})")
    met = "met" if t_switch <= 0.5 else "MISSED"
    print(f"   {'dock: save, open the next item':<44} {t_switch:8.3f} s   goal <= 0.5 s: {met}")
    print(f"   {'baseline: plain napari, video + points':<44} {t_plain:8.3f} s   ({t_switch / t_plain:.1f}x)")


CHILD = r"""
import json, sys, time
def vm(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
import numpy as np, av
from napari_keyskel.media import open_media
from napari_keyskel.dataset.suggest import suggest_frames
base = vm("VmRSS:")
t = time.perf_counter()
if sys.argv[2] == "suggest":
    with open_media(sys.argv[1], cache_mb=8, grey=True) as src:
        got = suggest_frames(src, 20)
    n = len(got)
else:  # the baseline: every frame decoded once at thumbnail size
    with av.open(sys.argv[1]) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        thumbs = np.stack([f.to_ndarray(format="gray", width=32, height=32) for f in c.decode(s)])
    n = len(thumbs)
print(json.dumps({"n": n, "s": time.perf_counter() - t, "grown": vm("VmHWM:") - base}))
"""


def bench_suggest(tmp: Path, n_frames: int) -> None:
    video = long_video(tmp / "long.mp4", n_frames, (640, 360))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def child(mode: str) -> dict:
        run = subprocess.run(
            [sys.executable, "-c", CHILD, str(video), mode],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        return json.loads(run.stdout.strip().splitlines()[-1])

    ours, base = child("suggest"), child("thumbs")
    frame_mb = 640 * 360 * 3 / 2**20
    print(f"3. suggest 20 frames of a {n_frames:,}-frame 640x360 video (fresh process each)")
    print(
        f"   {'suggest_frames (20 frames)':<44} {ours['s']:8.2f} s   peak +{ours['grown'] / 2**20:6.0f} MiB"
    )
    grown = base["grown"] / 2**20
    print(f"   {'baseline: PyAV decode at 32x32, all kept':<44} {base['s']:8.2f} s   peak +{grown:6.0f} MiB")
    print(
        f"   ratio time {ours['s'] / base['s']:.2f}x; memory of 200 decoded frames: {200 * frame_mb:.0f} MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="200 items, 300-frame items, a 2,000-frame video")
    ap.add_argument("--no-suggest", action="store_true", help="parts 1 and 2 only")
    ap.add_argument("--items", type=int, help="items of the V7 export (default 2,000; 200 with --quick)")
    args = ap.parse_args()
    n_items, n_frames, n_long = (200, 300, 2000) if args.quick else (2000, 1000, 10000)
    n_items = args.items or n_items
    with tempfile.TemporaryDirectory(prefix="keyskel-bench-dataset-") as tmp:
        bench_open_and_switch(Path(tmp), n_items, n_frames)
        if not args.no_suggest:
            bench_suggest(Path(tmp), n_long)


if __name__ == "__main__":
    main()
