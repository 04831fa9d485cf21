"""Run a pose model over frames read one at a time: :class:`PoseModel` and :func:`iter_predict`.

Pure core (no Qt, no napari). Frames come from anything indexable over its first axis (a numpy
or dask array, a lazy video ``MediaSource``): each frame is read as ``np.asarray(data[f])`` when
its batch is built, so the whole video is never in memory — only one batch of model inputs.

- **Bottom-up** (YOLO-pose): frames are letterboxed into a batch, run, decoded; every detection
  is a row with track id -1 (linked into tracks later, :func:`~.poses.link_tracks`).
- **Top-down** (SimCC, heatmaps): a :class:`BoxSource` gives the boxes to crop on each frame —
  the instances of the annotations there (the box of their placed nodes, key or interpolated;
  the crop keeps the instance's track id), else the previous frame's poses of this run (so a run
  over a range follows the animals from the first annotated frame), else a YOLO-pose detector
  run first, else the whole frame. Crops of several frames fill one batch.

Batches are sized to the machine (:func:`auto_batch`) unless the graph fixes its batch size. A
failure of onnxruntime on a batch raises :class:`~.session.ModelError` naming the model, the
input shape and onnxruntime's reason; a frame that is not an image names the frame.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ...core.store import AnnotationStore
from ...errors import KeyskelError
from .card import ModelCard, detect_card
from .decode import (
    as_rgb8,
    center_scale,
    crop_into,
    crop_to_image,
    decode_heatmaps,
    decode_simcc,
    decode_yolo,
    letterbox_into,
)
from .mapping import read_names
from .poses import Poses
from .session import ModelError, _reason, describe_graph, open_session

__all__ = [
    "BoxSource",
    "PoseModel",
    "auto_batch",
    "check_frames",
    "iter_predict",
    "n_frames",
    "predict",
    "read_frame",
]

_GPU = "CUDAExecutionProvider"


def auto_batch(card: ModelCard, available_bytes: int | None = None) -> int:
    """A batch size for this machine: the graph's own when fixed, else what memory allows.

    A batch holds inputs of ``4 * C * H * W`` bytes; about 16 times that is budgeted per item for
    the graph's activations, within an eighth of the available memory (at most 256 MB on the
    CPU, 2 GB on a GPU). At most 8 frames (CPU) or 32 (GPU); top-down crops twice as many.
    """
    if card.batch is not None:
        return int(card.batch)
    if available_bytes is None:
        try:
            import psutil

            available_bytes = int(psutil.virtual_memory().available)
        except Exception:  # psutil missing or unsupported: assume a small machine
            available_bytes = 2 << 30
    gpu = _GPU in card.providers[:1]
    budget = min(available_bytes // 8, (2 << 30) if gpu else (256 << 20))
    per_item = 16 * 4 * card.channels * card.input_size[0] * card.input_size[1]
    cap = (32 if gpu else 8) * (2 if card.top_down else 1)
    return int(max(1, min(cap, budget // max(per_item, 1))))


def n_frames(data: Any) -> int:
    """Frames in ``data``: its first axis (``shape[0]``), else ``len``."""
    shape = getattr(data, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(data)


def read_frame(data: Any, f: int) -> np.ndarray:
    """Frame ``f`` of ``data`` as an ``(y, x, 3)`` uint8 RGB image (one frame read)."""
    try:
        frame = np.asarray(data[f])
    except KeyskelError:
        raise
    except Exception as exc:  # a broken lazy source: say which frame
        raise KeyskelError(f"cannot read frame {f}: {exc}") from None
    try:
        return as_rgb8(frame)
    except ValueError as exc:
        raise KeyskelError(f"frame {f}: {exc}") from None


class PoseModel:
    """An ONNX pose model ready to run (see the module docstring).

    Parameters
    ----------
    path
        The ``.onnx`` file.
    names, names_file
        The keypoint names (a list, or a file: one name per line, or a skeleton file) when the
        model carries none in its metadata.
    device
        ``"auto"`` (CUDA when onnxruntime-gpu and a GPU are there, else the CPU), ``"cpu"``, ``"cuda"``.
    conf, iou, max_det
        YOLO-pose: detection threshold (Ultralytics' 0.25), NMS IoU (0.7) and most detections per frame.
    batch_size
        Frames (bottom-up) or crops (top-down) per run; default :func:`auto_batch`.

    """

    def __init__(
        self,
        path: str | Path,
        *,
        names: Sequence[str] | None = None,
        names_file: str | Path | None = None,
        device: str = "auto",
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        batch_size: int | None = None,
        threads: int | None = None,
    ) -> None:
        source = "names given"
        if names_file is not None:
            names, source = read_names(names_file)
        self.path = str(path)
        self.session, providers = open_session(path, device, threads)
        self.card = detect_card(describe_graph(self.session), self.path, providers, names, source)
        self.conf, self.iou, self.max_det = float(conf), float(iou), int(max_det)
        if batch_size is not None and batch_size < 1:
            raise KeyskelError(f"batch size must be at least 1, got {batch_size}")
        self.batch_size = int(batch_size or auto_batch(self.card))
        if self.card.batch is not None:
            self.batch_size = int(self.card.batch)

    def __repr__(self) -> str:
        return f"PoseModel({self.path!r}, family={self.card.family!r}, keypoints={self.card.n_keypoints})"

    # -- running ----------------------------------------------------------------------------------
    def new_batch(self, n: int) -> np.ndarray:
        """An input batch buffer for ``n`` items."""
        c, (h, w) = self.card.channels, self.card.input_size
        return np.empty((n, c, h, w), np.float32)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """``session.run`` on a prepared batch (a fixed-batch graph is fed in chunks); outputs per item."""
        fixed = self.card.batch
        if fixed is None or len(x) == fixed:
            return self._run_once(x)
        parts: list[list[np.ndarray]] = []
        for i in range(0, len(x), fixed):
            chunk = x[i : i + fixed]
            n = len(chunk)
            if n < fixed:  # pad the last chunk to the graph's batch
                chunk = np.concatenate([chunk, np.zeros((fixed - n, *x.shape[1:]), x.dtype)])
            parts.append([o[:n] for o in self._run_once(chunk)])
        return [np.concatenate(p) for p in zip(*parts)]

    def _run_once(self, x: np.ndarray) -> list[np.ndarray]:
        try:
            outs = self.session.run(list(self.card.output_names), {self.card.input_name: x})
        except Exception as exc:  # onnxruntime's own exception types
            c = self.card
            note = (
                ""
                if c.size_source == "graph"
                else f" (the graph leaves its input size open; {c.size_source})"
            )
            raise ModelError(
                self.path, f"onnxruntime failed on an input of shape {list(x.shape)}{note}: {_reason(exc)}"
            ) from None
        for name, o in zip(self.card.output_names, outs):
            if o.shape[:1] != x.shape[:1]:
                raise ModelError(
                    self.path, f"output {name!r} has shape {list(o.shape)} for a batch of {len(x)} inputs"
                )
        return [np.asarray(o) for o in outs]

    def detect(self, frames: Sequence[np.ndarray], numbers: Sequence[int]) -> Poses:
        """Bottom-up: poses in RGB ``frames`` (numbered ``numbers``), one batch."""
        x = self.new_batch(len(frames))
        return self.detect_prepared(x, self.prepare(frames, x), numbers)

    def prepare(self, frames: Sequence[np.ndarray], x: np.ndarray) -> list[tuple[float, int, int, int, int]]:
        """Letterbox RGB ``frames`` into the batch ``x``; ``(gain, top, left, height, width)`` of each."""
        if self.card.top_down:
            raise KeyskelError(f"{self.path}: a top-down model needs boxes (it is not a detector)")
        return [(*letterbox_into(x[i], rgb), *rgb.shape[:2]) for i, rgb in enumerate(frames)]

    def detect_prepared(
        self, x: np.ndarray, geo: list[tuple[float, int, int, int, int]], numbers: Sequence[int]
    ) -> Poses:
        """Run a prepared batch (:meth:`prepare`) and decode its poses."""
        (out,) = self.run(x[: len(geo)])[:1]
        c = self.card
        parts = []
        for i, (gain, top, left, h, w) in enumerate(geo):
            boxes, score, xy, ks = decode_yolo(
                out[i],
                k=c.n_keypoints,
                dims=c.kpt_dims,
                nc=c.n_classes,
                nms_layout=c.family == "yolo-pose-nms",
                conf=self.conf,
                iou=self.iou,
                max_det=self.max_det,
                gain=gain,
                top=top,
                left=left,
                shape=(h, w),
            )
            m = len(score)
            parts.append(
                Poses(
                    np.full(m, numbers[i], np.int64),
                    xy[..., ::-1].copy(),
                    ks,
                    score,
                    boxes,
                    np.full(m, -1, np.int64),
                    c.names,
                )
            )
        return Poses.concat(parts, c.names)

    def estimate(
        self, x: np.ndarray, crops: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray, float]]
    ) -> Poses:
        """Top-down: decode a run over crops ``(frame, track id, centre, scale, box, box score)``."""
        c = self.card
        outs = self.run(x[: len(crops)])
        if c.family == "simcc":
            xy, score = decode_simcc(outs[0], outs[1], c.simcc_ratio)
        else:
            xy, score = decode_heatmaps(outs[0], c.input_size)
        center = np.array([cr[2] for cr in crops])
        scale = np.array([cr[3] for cr in crops])
        img = crop_to_image(xy, center, scale, c.input_size)
        box_score = np.array([cr[5] for cr in crops], np.float32)
        return Poses(
            np.array([cr[0] for cr in crops], np.int64),
            img[..., ::-1].copy(),
            score,
            (score.mean(axis=1) * box_score).astype(np.float32),
            np.array([cr[4] for cr in crops], np.float64).reshape(-1, 4),
            np.array([cr[1] for cr in crops], np.int64),
            c.names,
        )


class BoxSource:
    """The instance boxes a top-down model crops on a frame (see the module docstring).

    ``store``: annotations whose instances give boxes (the box of their placed nodes on the frame,
    store ``(y, x)``); ``detector``: a bottom-up :class:`PoseModel` run when nothing else gives a
    box; ``whole_frame``: the last resort. ``min_size``: the smallest box side in pixels.
    """

    def __init__(
        self,
        store: AnnotationStore | None = None,
        detector: PoseModel | None = None,
        whole_frame: bool = True,
        min_size: float = 16.0,
    ) -> None:
        if detector is not None and detector.card.top_down:
            raise KeyskelError(
                f"{detector.path}: the detector must be a YOLO-pose model, not {detector.card.title}"
            )
        self.store, self.detector, self.whole_frame, self.min_size = (
            store,
            detector,
            whole_frame,
            float(min_size),
        )
        self.last_how = ""

    def _box(self, yx: np.ndarray) -> np.ndarray:
        lo, hi = yx.min(axis=0)[::-1], yx.max(axis=0)[::-1]
        pad = np.maximum(self.min_size - (hi - lo), 0) / 2
        return np.concatenate([lo - pad, hi + pad])

    def from_store(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        """``(track ids, boxes)`` of the annotations' instances with placed nodes on frame ``f``."""
        ids, boxes = [], []
        if self.store is not None:
            for t in self.store:
                if t.start <= f < t.stop:
                    yx = t.coords[f - t.start]
                    yx = yx[np.isfinite(yx).all(axis=1)]
                    if len(yx):
                        ids.append(t.track_id)
                        boxes.append(self._box(yx[:, -2:]))
        return np.asarray(ids, np.int64), np.asarray(boxes, np.float64).reshape(-1, 4)

    def boxes(
        self, f: int, rgb: np.ndarray, previous: Poses | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(track ids, boxes (M, 4) xyxy, box scores)`` to crop on frame ``f``."""
        ids, boxes = self.from_store(f)
        if len(ids):
            self.last_how = "annotations"
            return ids, boxes, np.ones(len(ids), np.float32)
        if previous is not None and len(previous):
            self.last_how = "previous frame"
            good = previous.scores > 0
            out = []
            for r in range(len(previous)):
                yx = previous.coords[r][good[r] & np.isfinite(previous.coords[r]).all(axis=1)]
                out.append(self._box(yx) if len(yx) else previous.boxes[r])
            return (
                previous.track_id.copy(),
                np.asarray(out).reshape(-1, 4),
                np.ones(len(previous), np.float32),
            )
        if self.detector is not None:
            self.last_how = "detector"
            det = self.detector.detect([rgb], [f])
            return det.track_id, det.boxes, det.instance_score
        if self.whole_frame:
            self.last_how = "whole frame"
            h, w = rgb.shape[:2]
            return np.array([-1]), np.array([[0.0, 0.0, w - 1.0, h - 1.0]]), np.ones(1, np.float32)
        return np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, np.float32)


def check_frames(frames: Any, n: int) -> list[int]:
    """Frame numbers (None: all ``n``; an int; an iterable), each checked to be in ``0..n-1``."""
    if frames is None:
        out = list(range(n))
    elif isinstance(frames, (int, np.integer)):
        out = [int(frames)]
    else:
        out = [int(f) for f in frames]
    bad = [f for f in out if not 0 <= f < n]
    if bad:
        raise KeyskelError(f"frame {bad[0]} is outside the media (frames 0..{n - 1})")
    return out


def _bottom_up(
    model: PoseModel, data: Any, todo: list[int], parts: list[Poses]
) -> Generator[int, None, None]:
    """Batches of frames; the next batch is read and letterboxed in a thread while one runs."""
    b = model.batch_size
    chunks = [todo[i : i + b] for i in range(0, len(todo), b)]
    buffers = [model.new_batch(b), model.new_batch(b)]  # reused: no fresh pages per batch

    def load(i: int) -> tuple[np.ndarray, list[tuple[float, int, int, int, int]]]:
        x = buffers[i % 2]
        return x, model.prepare([read_frame(data, f) for f in chunks[i]], x)

    done = 0
    with ThreadPoolExecutor(1, thread_name_prefix="keyskel-frames") as pool:
        ahead = pool.submit(load, 0) if chunks else None
        for i, chunk in enumerate(chunks):
            assert ahead is not None
            x, geo = ahead.result()
            ahead = pool.submit(load, i + 1) if i + 1 < len(chunks) else None
            parts.append(model.detect_prepared(x, geo, chunk))
            done += len(chunk)
            yield done


def _poses_of(parts: list[Poses], f: int, names: Sequence[str]) -> Poses:
    """The rows of frame ``f`` among the last parts (a frame's crops may span several runs)."""
    tail = []
    for p in reversed(parts):
        if not len(p) or p.frame[-1] != f:
            break
        tail.append(p.on(f))
        if p.frame[0] != f:
            break
    return Poses.concat(reversed(tail), names)


def iter_predict(
    model: PoseModel,
    data: Any,
    frames: Any = None,
    boxes: BoxSource | None = None,
) -> Generator[int, None, Poses]:
    """Predict poses on ``frames`` of ``data`` (default all); yields frames done, returns :class:`Poses`.

    A generator, so a worker can show progress and stop between batches (closing it stops the
    work). ``boxes``: where a top-down model crops (default: the whole frame).
    """
    todo = check_frames(frames, n_frames(data))
    names = model.card.names
    parts: list[Poses] = []
    b = model.batch_size
    if not model.card.top_down:
        yield from _bottom_up(model, data, todo, parts)
        return Poses.concat(parts, names)
    src = boxes or BoxSource()
    x = model.new_batch(b)
    crops: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray, float]] = []
    last_frame = None

    def flush() -> None:
        if crops:
            parts.append(model.estimate(x, crops))
            crops.clear()

    for done, f in enumerate(todo, 1):
        rgb = read_frame(data, f)
        ids, bx = src.from_store(f)
        if not len(ids):  # boxes from the previous frame's poses need them decoded first
            flush()
            prev = _poses_of(parts, f - 1, names) if last_frame == f - 1 else None
            ids, bx, bs = src.boxes(f, rgb, prev)
        else:
            bs = np.ones(len(ids), np.float32)
        centers, scales = center_scale(bx, model.card.input_size)
        for j in range(len(ids)):
            crop_into(x[len(crops)], rgb, centers[j], scales[j], model.card.mean, model.card.std)
            crops.append((f, int(ids[j]), centers[j], scales[j], bx[j], float(bs[j])))
            if len(crops) == b:
                flush()
        last_frame = f
        yield done
    flush()
    return Poses.concat(parts, names)


def predict(model: PoseModel, data: Any, frames: Any = None, boxes: BoxSource | None = None) -> Poses:
    """:func:`iter_predict` run to the end."""
    gen = iter_predict(model, data, frames, boxes)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
