"""Pose-model throughput and memory: keyskel's prediction path against bare ``session.run``.

1. **Overhead.** A YOLO-pose-shaped graph (input ``[B, 3, 640, 640]``, a stride-32 conv
   backbone of about 1 GMAC per frame, output ``[B, 56, 8400]`` = 4 + 1 + 3 x 17 rows over
   80² + 40² + 20² anchors, a dozen candidates above 0.25 per frame) runs on 480 x 640 RGB frames.
   The baseline times ``session.run`` alone on the very batches keyskel builds (letterboxed
   beforehand, outside the timing); keyskel's time covers reading each frame from a lazy
   array, the letterbox, ``session.run``, NMS and decoding. Goal: keyskel / baseline ≤ 1.2.
2. **Memory.** A light graph of the same shapes predicts over a 10,000-frame lazy video (an
   array-like that makes each 480 x 640 RGB frame on demand; the footage reader is not merged in
   this branch, so no real decoder is involved). The resident memory is sampled every 1,000
   frames: it stays flat, where the whole video would be 8.6 GiB.

3. **Over items.** A folder dataset of a few small H.264 videos (320 x 240): the light graph run
   over every item with :func:`~napari_keyskel.assist.models.over_items.predict_items` (each item's
   media opened, its annotations read, the skeleton mapped, the pending file written) against
   :func:`~napari_keyskel.assist.models.iter_predict` over the same videos opened beforehand,
   outside the timing. The ratio is the cost of going item by item.

Run: ``python benchmarks/bench_predict.py [--frames 48] [--long 10000] [--items 4 --item-frames 60]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import psutil
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from napari_keyskel.assist import models
from napari_keyskel.assist.models.decode import as_rgb8, letterbox_into

K, SIZE = 17, 640


def _const(name, value):
    return numpy_helper.from_array(np.asarray(value, np.float32), name)


def yolo_shaped(path: Path, heavy: bool = True) -> Path:
    """A YOLO-pose-shaped graph: convs (heavy) or a ReduceMax (light) -> ``[B, 56, 8400]``."""
    rng = np.random.default_rng(0)
    c_out = 5 + 3 * K
    nodes, inits = [], []
    score = np.zeros((1, c_out, 8400), np.float32)
    cand = rng.choice(8400, 12, replace=False)
    score[0, 4, cand] = rng.uniform(0.3, 0.95, 12)  # a dozen candidates above 0.25
    scale = np.ones((1, c_out, 1), np.float32)
    scale[0, :4, 0] = [SIZE, SIZE, 120, 200]
    scale[0, 5::3], scale[0, 6::3] = SIZE, SIZE
    scale[0, 4] = 0.0
    inits += [_const("score_add", score), _const("scale", scale)]
    if heavy:
        chans = [(3, 32), (32, 64), (64, 64), (64, 128), (128, 128)]
        x = "images"
        taps = []
        for i, (ci, co) in enumerate(chans):
            w = rng.normal(0, (2 / (9 * ci)) ** 0.5, (co, ci, 3, 3)).astype(np.float32)
            inits.append(numpy_helper.from_array(w, f"w{i}"))
            nodes += [
                helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], strides=[2, 2], pads=[1, 1, 1, 1]),
                helper.make_node("Relu", [f"c{i}"], [f"r{i}"]),
            ]
            x = f"r{i}"
            if i >= 2:
                taps.append((x, co))
        flats = []
        for j, (t, co) in enumerate(taps):
            w = rng.normal(0, 0.05, (c_out, co, 1, 1)).astype(np.float32)
            inits += [
                numpy_helper.from_array(w, f"hw{j}"),
                numpy_helper.from_array(np.array([0, c_out, -1], np.int64), f"s{j}"),
            ]
            nodes += [
                helper.make_node("Conv", [t, f"hw{j}"], [f"h{j}"]),
                helper.make_node("Reshape", [f"h{j}", f"s{j}"], [f"f{j}"]),
            ]
            flats.append(f"f{j}")
        nodes.append(helper.make_node("Concat", flats, ["raw"], axis=2))
    else:
        inits.append(_const("zeros", np.zeros((1, c_out, 8400), np.float32)))
        inits.append(numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "s3"))
        nodes += [
            helper.make_node("ReduceMax", ["images"], ["m4"], axes=[1, 2, 3], keepdims=1),
            helper.make_node("Reshape", ["m4", "s3"], ["m"]),
            helper.make_node("Add", ["zeros", "m"], ["raw"]),
        ]
    nodes += [
        helper.make_node("Sigmoid", ["raw"], ["sig"]),
        helper.make_node("Mul", ["sig", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "score_add"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "yolo_shaped",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", c_out, 8400])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in {"kpt_shape": [K, 3], "names": {0: "person"}, "imgsz": [SIZE, SIZE]}.items():
        e = model.metadata_props.add()
        e.key, e.value = k, str(v)
    onnx.save(model, str(path))
    return path


class LazyVideo:
    """``n`` frames of 480 x 640 RGB made on demand (a few textures, shifted per frame)."""

    def __init__(self, n: int, shape=(480, 640)):
        rng = np.random.default_rng(1)
        self.pool = [rng.integers(0, 255, (*shape, 3), np.uint8) for _ in range(4)]
        self.shape, self.dtype = (n, *shape, 3), np.uint8

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, i):
        return np.roll(self.pool[int(i) % 4], int(i) % 7, axis=1)


def overhead(path: Path, n_frames: int, repeats: int = 3) -> None:
    model = models.PoseModel(path, device="cpu")
    video = LazyVideo(n_frames)
    b = model.batch_size
    batches = []
    for i in range(0, n_frames, b):
        x = model.new_batch(min(b, n_frames - i))
        for j in range(len(x)):
            letterbox_into(x[j], as_rgb8(video[i + j]))
        batches.append(x)
    sess, name = model.session, model.card.input_name
    sess.run(None, {name: batches[0]})  # warm up
    base, ours = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for x in batches:
            sess.run(["output0"], {name: x})
        base.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        poses = models.predict(model, video)
        ours.append(time.perf_counter() - t0)
    tb, to = min(base), min(ours)
    print(f"graph: YOLO-pose shaped, [B, 3, 640, 640] -> [B, 56, 8400]; frames 480 x 640 RGB; batch {b}; CPU")
    print(f"  session.run on prepared batches: {n_frames / tb:7.1f} frames/s")
    print(f"  keyskel predict (read, letterbox, run, NMS, decode): {n_frames / to:7.1f} frames/s")
    print(f"  overhead: {to / tb:.2f}x (goal <= 1.2x); {len(poses)} poses")


def memory(path: Path, n_frames: int) -> None:
    model = models.PoseModel(path, device="cpu")
    video = LazyVideo(n_frames)
    proc = psutil.Process(os.getpid())
    before = proc.memory_info().rss
    gen = models.iter_predict(model, video)
    marks, t0 = [], time.perf_counter()
    next_mark = 1000
    try:
        while True:
            done = next(gen)
            if done >= next_mark:
                marks.append((done, proc.memory_info().rss))
                next_mark += 1000
    except StopIteration as stop:
        poses = stop.value
    dt = time.perf_counter() - t0
    whole = n_frames * 480 * 640 * 3
    rate = n_frames / dt
    print(f"memory over a {n_frames}-frame lazy video (light graph, batch {model.batch_size}): {rate:.0f}/s")
    print(f"  RSS before: {before / 2**20:.0f} MB; the whole video would be {whole / 2**30:.1f} GiB")
    for done, rss in marks:
        print(f"  after {done:>6} frames: RSS {rss / 2**20:7.0f} MB (+{(rss - before) / 2**20:.0f} MB)")
    growth = (marks[-1][1] - marks[0][1]) / 2**20
    print(f"  growth from frame {marks[0][0]} to {marks[-1][0]}: {growth:+.1f} MB; {len(poses)} poses kept")


def _encode(path: Path, n: int, w: int = 320, h: int = 240) -> None:
    import av

    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"preset": "veryfast"}
        for i in range(n):
            rgb = np.zeros((h, w, 3), np.uint8)
            rgb[(i * 3) % h :, (i * 5) % w :] = 200
            for packet in st.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)


def over_items(path: Path, root: Path, n_items: int, n_frames: int, repeats: int = 2) -> None:
    from napari_keyskel.assist.models.over_items import predict_items
    from napari_keyskel.core.skeleton import Skeleton
    from napari_keyskel.dataset import open_dataset
    from napari_keyskel.media import open_media

    root.mkdir()
    for i in range(n_items):
        _encode(root / f"clip{i}.mp4", n_frames)
    Skeleton([f"kp{k}" for k in range(K)], name="body").save(root / "body.skeleton.json")
    model = models.PoseModel(path, device="cpu")
    base, ours = [], []
    for _ in range(repeats):
        sources = [open_media(root / f"clip{i}.mp4") for i in range(n_items)]
        t0 = time.perf_counter()
        for src in sources:
            models.predict(model, src)
        base.append(time.perf_counter() - t0)
        for src in sources:
            src.close()
        t0 = time.perf_counter()
        summary = predict_items(open_dataset(root), model)
        ours.append(time.perf_counter() - t0)
    total = n_items * n_frames
    tb, to = min(base), min(ours)
    print(f"over items: {n_items} videos x {n_frames} frames (320 x 240 H.264), light graph, CPU")
    print(f"  iter_predict on each video opened beforehand: {total / tb:7.1f} frames/s")
    print(f"  predict_items (open, map, predict, write pending): {total / to:7.1f} frames/s")
    print(f"  ratio: {to / tb:.2f}x; {summary.nodes} proposed nodes, {len(summary.failures)} failures")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=48, help="frames for the overhead comparison")
    ap.add_argument("--long", type=int, default=10_000, help="frames of the lazy video for memory")
    ap.add_argument("--items", type=int, default=4, help="videos of the dataset for the run over items")
    ap.add_argument("--item-frames", type=int, default=60, help="frames of each of those videos")
    ap.add_argument("--only-items", action="store_true", help="run only the comparison over items")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        light = yolo_shaped(Path(tmp) / "light.onnx", heavy=False)
        if not args.only_items:
            overhead(yolo_shaped(Path(tmp) / "heavy.onnx"), args.frames)
            memory(light, args.long)
        over_items(light, Path(tmp) / "dataset", args.items, args.item_frames)


if __name__ == "__main__":
    main()
