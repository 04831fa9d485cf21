"""Layer speed: keyskel's frame-in-view Points layer vs a plain napari Points layer holding everything.

Run under a display (``xvfb-run -a .venv/bin/python benchmarks/bench_layers.py``). With
1,000,000 node positions (10,000 frames x 5 instances x 20 nodes) over a lazy 10,000-frame dask
video, measured in one run:

- image-only frame step (baseline);
- a plain napari Points layer holding all positions: time to add, frame step, reassigning its data
  after one move;
- keyskel: opening a V7 Darwin file of those annotations (read + layers), frame step, a drag
  (napari's own ``events.data`` CHANGED on one row), a key change (visibility) and a key move
  from a script, each until the store, the points and the edges reflect it and the canvas drew.

Targets: opening <= 3 s; frame step <= 1.25x image-only; edits reflected in < 16 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np


def make_store(n_frames: int, n_inst: int, n_nodes: int, size: int):
    from napari_keyskel.skeleton import Skeleton
    from napari_keyskel.store import AnnotationStore

    names = [f"n{i}" for i in range(n_nodes)]
    sk = Skeleton(names, [(i, i + 1) for i in range(n_nodes - 1)], name="chain")
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=n_frames, name="chain")
    rng = np.random.default_rng(0)
    t = np.arange(n_frames)[:, None, None]
    for i in range(n_inst):
        tr = store.add_track(i + 1, f"chain {i + 1}", 0, n_frames)
        base = rng.uniform(0.2 * size, 0.8 * size, 2)
        offs = np.stack([np.arange(n_nodes) * 3.0, np.zeros(n_nodes)], axis=1)
        tr.coords[:] = base + offs[None] + 20 * np.sin(t / 50.0 + i)
        tr.visibility[:] = 2
        tr.is_key[:] = False
        tr.is_key[::10] = True
    return store


def lazy_video(n_frames: int, size: int) -> da.Array:
    def frame(block, block_info=None):
        f = block_info[None]["chunk-location"][0]
        yy, xx = np.mgrid[0:size, 0:size]
        return (((xx + f) % 64) * 2 + (yy % 32)).astype(np.uint8)[None]

    return da.zeros((n_frames, size, size), np.uint8, chunks=(1, size, size)).map_blocks(
        frame, dtype=np.uint8
    )


def settle(app) -> None:
    app.processEvents()


def timed(fn, app, n: int) -> tuple[float, float]:
    """Median seconds of ``fn`` alone (layers updated) and of ``fn`` + the canvas draw."""
    upd, tot = [], []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        t1 = time.perf_counter()
        settle(app)
        t2 = time.perf_counter()
        upd.append(t1 - t0)
        tot.append(t2 - t0)
    return statistics.median(upd), statistics.median(tot)


def paired(step, layers, app, n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Frame steps with ``layers`` shown vs hidden (image only), alternating, so that both see the
    same machine load; returns ((update, +draw) shown, (update, +draw) image only) medians."""
    shown, hidden = [], []
    for i in range(n):
        for visible, out in ((True, shown), (False, hidden)):
            for ly in layers:
                ly.visible = visible
            settle(app)
            t0 = time.perf_counter()
            step(2 * i + (not visible))
            t1 = time.perf_counter()
            settle(app)
            out.append((t1 - t0, time.perf_counter() - t0))
    for ly in layers:
        ly.visible = True
    med = lambda xs: (statistics.median(x[0] for x in xs), statistics.median(x[1] for x in xs))  # noqa: E731
    return med(shown), med(hidden)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--instances", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_keyskel import api, keyframes
    from napari_keyskel._napari.layerdata import features_table, points_in_frames
    from napari_keyskel.dataset import Dataset
    from napari_keyskel.formats import read, write

    store = make_store(args.frames, args.instances, args.nodes, args.size)
    n_pos = args.frames * args.instances * args.nodes
    video = lazy_video(args.frames, args.size)
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    image = viewer.add_image(video, name="video", contrast_limits=(0, 255))
    settle(app)
    steps = args.steps

    def step(i: int) -> None:
        viewer.dims.set_current_step(0, 1000 + 37 * i)

    step(0)
    settle(app)

    # -- plain napari Points with every position --------------------------------------------------
    frames, fp = points_in_frames(store, None)
    data = np.insert(fp.coords, 0, frames, axis=1)
    t0 = time.perf_counter()
    plain = viewer.add_points(data, features=features_table(store, fp), size=6, name="plain")
    settle(app)
    t_plain_add = time.perf_counter() - t0
    t_plain_step, t_image_p = paired(step, [plain], app, steps)

    def plain_move(i: int) -> None:
        d = plain.data.copy()
        d[5, 1:] += 1.0
        plain.data = d

    t_plain_move = timed(plain_move, app, 5)
    viewer.layers.remove(plain)
    settle(app)

    # -- keyskel ----------------------------------------------------------------------------------
    tmp = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    written = write(Dataset(stores=[store]), tmp / "chain.json", "darwin")
    t_write = time.perf_counter() - t0
    size_mb = sum(p.stat().st_size for p in written) / 1e6
    t0 = time.perf_counter()
    read(tmp / "chain.json")
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    (points,) = api.open_annotations(viewer, tmp / "chain.json", image_layer=image)
    settle(app)
    t_open = time.perf_counter() - t0
    write(Dataset(stores=[store]), tmp / "chain_coco.json", "coco")
    coco_mb = (tmp / "chain_coco.json").stat().st_size / 1e6
    t0 = time.perf_counter()
    (coco_layer,) = api.open_annotations(viewer, tmp / "chain_coco.json", image_layer=image)
    settle(app)
    t_open_coco = time.perf_counter() - t0
    viewer.layers.remove(api.get_controller(coco_layer).edges)
    viewer.layers.remove(coco_layer)
    t0 = time.perf_counter()
    extra = api.add_skeleton_layer(viewer, store.copy(), image_layer=image, name="from store")
    settle(app)
    t_layers = time.perf_counter() - t0
    viewer.layers.remove(api.get_controller(extra).edges)
    viewer.layers.remove(extra)
    ctrl = api.get_controller(points)
    step(0)
    settle(app)
    t_ours_step, t_image = paired(step, [points, ctrl.edges], app, steps)

    def drag(i: int) -> None:  # what napari's Points._move does on a mouse drag
        points.data[3, 1:] += 0.5
        points.events.data(value=points.data, action="changed", data_indices=(3,), vertex_indices=((),))

    t_drag = timed(drag, app, 20)
    s = ctrl.store
    tid, node = int(ctrl._ids[3]), int(ctrl._nodes[3])
    assert s.tracks[tid].is_key[ctrl.frame, node]

    def key_change(i: int) -> None:
        ctrl.apply(keyframes.set_visibility(s, ctrl.frame, tid, [node], 1 + (i % 2)))

    t_vis = timed(key_change, app, 20)

    def key_move(i: int) -> None:
        f = ctrl.frame
        xyz = s.tracks[tid].coords[f, node] + 0.25
        ctrl.apply(keyframes.move_node(s, f, tid, node, xyz))

    t_move = timed(key_move, app, 20)

    def interp_all(i: int) -> None:
        ctrl.interpolate("linear" if i % 2 else "cubic")

    t_interp = timed(interp_all, app, 3)

    one = lambda t: (t, t)  # noqa: E731  (single-shot measures: no separate draw figure)
    rows = [
        ("image-only frame step (baseline, keyskel phase)", t_image, True),
        ("image-only frame step (baseline, plain phase)", t_image_p, True),
        ("plain Points: add all positions", one(t_plain_add), False),
        ("plain Points: frame step", t_plain_step, "p"),
        ("plain Points: reassign data after a move", t_plain_move, False),
        (f"keyskel: write Darwin file ({size_mb:.0f} MB)", one(t_write), False),
        ("keyskel: read Darwin file (formats.read)", one(t_read), False),
        ("keyskel: open Darwin file -> layers (read + layers)", one(t_open), False),
        (f"keyskel: open COCO file ({coco_mb:.0f} MB) -> layers", one(t_open_coco), False),
        ("keyskel: store -> layers (no file)", one(t_layers), False),
        ("keyskel: frame step", t_ours_step, True),
        ("keyskel: drag one node (store+points+edges)", t_drag, False),
        ("keyskel: key visibility change", t_vis, False),
        ("keyskel: move a key (re-interpolates its spans)", t_move, False),
        ("keyskel: re-interpolate every track", t_interp, False),
    ]
    print(
        f"{n_pos:,} positions ({args.frames} frames x {args.instances} x {args.nodes}), "
        f"{args.size}x{args.size} lazy dask video; medians; 'update' = layers updated, '+draw' = after the "
        "canvas drew"
    )
    print(f"{'measure':54s} {'update ms':>10s} {'+draw ms':>10s} {'x image (upd/+draw)':>20s}")
    for name, (upd, tot), ratio in rows:
        base = t_image_p if ratio == "p" else t_image
        r = f"{upd / base[0]:8.2f} /{tot / base[1]:6.2f}" if ratio else ""
        print(f"{name:54s} {upd * 1e3:10.2f} {tot * 1e3:10.2f} {r:>20s}")
    step_draw, step_upd = t_ours_step[1] / t_image[1], t_ours_step[0] / t_image[0]
    plain_draw, plain_upd = t_plain_step[1] / t_image_p[1], t_plain_step[0] / t_image_p[0]
    print(
        f"\nopening {t_open:.2f} s Darwin, {t_open_coco:.2f} s COCO (target <= 3 s; of which reading the "
        f"Darwin file {t_read:.2f} s; store -> layers {t_layers * 1e3:.0f} ms)"
    )
    print(
        f"frame step {step_draw:.2f}x image-only with draw, {step_upd:.2f}x without (target <= 1.25x; "
        f"plain Points {plain_draw:.2f}x / {plain_upd:.2f}x)"
    )
    ms = lambda t: f"{t * 1e3:.1f}"  # noqa: E731
    print(
        f"drag {ms(t_drag[0])} ms, key change {ms(t_vis[0])} ms, key move {ms(t_move[0])} ms "
        f"(target < 16 ms; with the draw {ms(t_drag[1])} / {ms(t_vis[1])} / {ms(t_move[1])} ms); "
        f"plain Points reassign after one move {ms(t_plain_move[0])} ms"
    )
    viewer.close()


if __name__ == "__main__":
    main()
