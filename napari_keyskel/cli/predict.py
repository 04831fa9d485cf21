"""``keyskel predict MODEL MEDIA --out results.json``: run a pose model, write COCO keypoint results.

``MEDIA`` is a TIFF stack ``(t, y, x[, rgb])``, else whatever
:func:`napari_keyskel.media.open_media` opens (a video, an image folder, one image); one frame is
read at a time. ``MODEL`` is an ONNX file of a
known family (:mod:`napari_keyskel.assist.models`).

The output is a standard COCO keypoint results list (``image_id``, ``category_id``,
``keypoints`` with each keypoint's score as its third value, ``score``). With
``--annotations FILE`` (a keyskel-readable annotation file):

- keypoints are mapped onto its skeleton (the mapping saved in it, else by names, else by
  order) and written in its node order, with its category id;
- ``image_id`` s are its frames' image ids (a COCO file), paired with the media frames by file
  name for an image folder, else by index (frame f of MEDIA is frame f of FILE, as in
  ``keyskel propagate``); so ``keyskel accept results.json FILE OUT`` needs no further argument;
- a top-down model crops the boxes of FILE's instances on each frame (else the previous frame's
  poses, else ``--detector``, else the whole frame).

Without it, keypoints are in the model's order (names from the model, ``--names`` or ``kp0..``),
``image_id`` is the frame's index in MEDIA as read (0, 1, ...) and ``category_id`` 1; opened as
proposals over a layer of that media, image id ``f`` is layer frame ``f``.

``keyskel predict MODEL DATASET --every-item [--status new] [--every K] [--where between_keys]``
runs the model over every item of a dataset (a folder of media, a V7 export, a COCO file, a
``.slp``, a DeepLabCut project) and keeps each item's poses as its pending proposals beside the
dataset (:mod:`napari_keyskel.dataset.pending`; shown as proposals when the item is opened in the
Dataset dock); it prints a summary, naming the items that failed (exit code 1 if any did).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ..errors import FormatError, KeyskelError

__all__ = ["open_media", "register"]


def open_media(path: str | Path) -> tuple[Any, list[str] | None]:
    """``(frames, image file name per frame or None)`` for MEDIA (see the module docstring)."""
    p = Path(path)
    if not p.exists():
        raise FormatError("no such file or folder", p)
    if p.is_file() and p.suffix.lower() in (".tif", ".tiff"):
        from .models import open_video

        return open_video(p), None  # a TIFF stack (one frame per page), with its axes
    from ..media import open_media as media_open

    src = media_open(p)  # a video, an image folder or one image, read lazily
    names = src.describe().get("names")
    return src, (list(names) if names else None)


def _frames_arg(text: str | None, n: int) -> list[int] | None:
    """``--frames``: ``A:B`` (B excluded), ``A:B:S``, or ``1,5,9``."""
    if not text:
        return None
    try:
        if ":" in text:
            parts = [int(x) if x else None for x in text.split(":")]
            return list(range(n))[slice(*parts)]
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise KeyskelError(f"--frames must be A:B, A:B:STEP or a list like 1,5,9; got {text!r}") from None


def _image_ids(frames: list[dict[str, Any]], names: list[str] | None, n: int, where: str) -> list[Any] | None:
    """Image id of each media frame from the annotations' frame table (None: frame numbers)."""
    if not frames or not all("image_id" in fr for fr in frames):
        return None
    if names is not None:
        by_name = {Path(str(fr.get("file_name", ""))).name: fr["image_id"] for fr in frames}
        ids = [by_name.get(nm) for nm in names]
        if all(i is not None for i in ids):
            return ids
    if len(frames) != n:
        raise KeyskelError(
            f"{where}: its {len(frames)} images cannot be paired with the {n} media frames "
            "(neither by file name nor one to one)"
        )
    return [fr["image_id"] for fr in frames]


def _category_id(store: Any) -> Any:
    coco = store.meta.get("coco") if isinstance(store.meta, dict) else None
    cat = coco.get("category") if isinstance(coco, dict) else None
    return cat.get("id", 1) if isinstance(cat, dict) else 1


def _model(args: argparse.Namespace) -> Any:
    """The model of ``keyskel predict``, its card printed."""
    from ..assist.models import PoseModel

    model = PoseModel(
        args.model,
        names_file=args.names,
        device=args.device,
        conf=args.conf,
        iou=args.iou,
        batch_size=args.batch,
    )
    print(model.card.describe())
    return model


def _cmd_predict_items(args: argparse.Namespace) -> int:
    """``--every-item``: the model over a dataset's items, pending proposals written."""
    from ..assist.models import PoseModel
    from ..assist.models.over_items import iter_predict_items
    from ..dataset import open_dataset
    from ..dataset.pending import pending_folder

    if args.out or args.annotations or args.frames:
        raise KeyskelError(
            "--every-item writes each item's pending proposals: no --out, --annotations or --frames"
        )
    model = _model(args)
    detector = PoseModel(args.detector, device=args.device, conf=args.conf) if args.detector else None
    ds = open_dataset(args.media)
    skeleton = args.skeleton
    if skeleton and Path(skeleton).is_file():  # a skeleton file: its name
        from ..core.skeleton import Skeleton

        skeleton = Skeleton.load(skeleton).name
    t0 = time.perf_counter()
    gen = iter_predict_items(
        ds,
        model,
        where=args.where,
        every=args.every,
        status=args.status,
        detector=detector,
        skeleton=skeleton,
    )
    last = None
    try:
        while True:
            p = next(gen)
            if p.name != last:
                print(f"[{p.index + 1}/{p.n_items}] {p.name}", flush=True)
                last = p.name
    except StopIteration as stop:
        summary = stop.value
    dt = time.perf_counter() - t0
    print(summary.describe())
    print(f"in {dt:.1f} s; pending proposals in {pending_folder(ds)}")
    return 1 if summary.failures else 0


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.every_item:
        return _cmd_predict_items(args)
    if not args.out:
        raise KeyskelError("give --out RESULTS (or --every-item to run over a dataset's items)")
    from ..assist.models import BoxSource, PoseModel, iter_predict, map_keypoints, saved_mapping
    from ..assist.models.poses import coco_results
    from ..assist.models.predict import n_frames
    from ..assist.proposals import with_image_ids
    from ..core._atomic import atomic_write_bytes

    model = _model(args)
    data, names = open_media(args.media)
    n = n_frames(data)
    frames = _frames_arg(args.frames, n)
    detector = PoseModel(args.detector, device=args.device, conf=args.conf) if args.detector else None
    store = mapping = image_ids = None
    category: Any = 1
    if args.annotations:
        from ..formats import read_detected

        ds, _ = read_detected(args.annotations, args.skeleton)
        stores = [s for s in ds.stores if s.coord_ndim == 2 and s.frame_axis is not None]
        if not stores:
            raise KeyskelError(f"{args.annotations}: no 2-D annotation set to predict for")
        store = stores[0]
        mapping = map_keypoints(model.card.names, store.skeleton.nodes, saved_mapping(store.meta))
        print(f"keypoints onto {store.name!r}: {mapping.describe()}")
        image_ids = _image_ids(with_image_ids(ds.frames, args.annotations), names, n, args.annotations)
        category = _category_id(store)
    boxes = BoxSource(store, detector) if model.card.top_down else None
    t0 = time.perf_counter()
    gen = iter_predict(model, data, frames, boxes)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        poses = stop.value
    dt = time.perf_counter() - t0
    rows = coco_results(poses, image_ids, category, mapping)
    atomic_write_bytes(args.out, json.dumps(rows).encode())
    done = len(frames) if frames is not None else n
    print(f"{len(rows)} poses on {done} frames in {dt:.1f} s ({done / max(dt, 1e-9):.1f} frames/s)")
    print(f"wrote {args.out}")
    return 0


def register(sub: Any) -> None:
    """Add ``predict`` to the ``keyskel`` sub-command parser."""
    from ..dataset.status import STATUSES

    p = sub.add_parser("predict", help="run an ONNX pose model over media, write COCO keypoint results")
    p.add_argument("model", metavar="MODEL", help="an ONNX file: YOLO-pose, RTMPose/SimCC or heatmaps")
    p.add_argument(
        "media",
        metavar="MEDIA",
        help="a video, a TIFF stack, a folder of frames or an image; a dataset with --every-item",
    )
    p.add_argument("--out", metavar="RESULTS", help="the COCO results .json to write")
    p.add_argument(
        "--every-item",
        action="store_true",
        help="run over every item of the dataset MEDIA: pending proposals",
    )
    p.add_argument("--status", choices=STATUSES, help="--every-item: only the items with this status")
    p.add_argument(
        "--every", type=int, default=1, metavar="K", help="--every-item: every K-th frame (default 1)"
    )
    p.add_argument(
        "--where",
        choices=("all", "between_keys", "suggested"),
        default="all",
        help="--every-item: every frame (default), the frames between keys, or suggested frames",
    )
    p.add_argument("--annotations", metavar="FILE", help="annotations: skeleton, image ids and boxes")
    p.add_argument(
        "--skeleton",
        metavar="FILE",
        help="skeleton file for --annotations; --every-item: the skeleton (file or name) to map onto",
    )
    p.add_argument("--names", metavar="FILE", help="keypoint names: one per line, or a skeleton file")
    p.add_argument("--frames", metavar="A:B", help="frames to run on: A:B, A:B:STEP or 1,5,9 (default all)")
    p.add_argument("--detector", metavar="YOLO", help="a YOLO-pose model giving boxes to a top-down MODEL")
    p.add_argument("--conf", type=float, default=0.25, help="YOLO detection threshold (default 0.25)")
    p.add_argument("--iou", type=float, default=0.7, help="YOLO NMS IoU threshold (default 0.7)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: auto")
    p.add_argument(
        "--batch", type=int, metavar="N", help="frames (or crops) per run (default: sized to the machine)"
    )
    p.set_defaults(func=_cmd_predict)
