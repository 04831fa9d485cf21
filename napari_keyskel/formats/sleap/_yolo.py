"""Ultralytics YOLO-pose datasets read row by row, every row checked (no row dropped silently).

A YOLO-pose dataset is a folder with ``data.yaml`` (``kpt_shape: [K, D]``, the splits'
image folders, optional ``flip_idx``) and, beside each split's ``images/`` folder, ``labels/``
with one ``<image stem>.txt`` per image: one row per instance, ``class cx cy w h`` then ``K``
keypoints of ``D`` numbers (``x y`` or ``x y v``), all normalised to the image's size.

sleap-io's reader guesses each row's kind from its length and skips what it cannot parse with
a warning: a row cut short is read as a polygon, and a visibility written as ``2.000000`` (as
Ultralytics' own datasets write it) drops the row. Here every row must have exactly
``5 + K * D`` numbers, else :class:`~napari_keyskel.errors.FormatError` names the file and the
line. The result is the sleap-io ``Labels`` sleap-io's reader builds (its skeleton from
``data.yaml``, one video per image, tracks ``track_<i>`` by the row's order on its image), so the
rest of the bridge is the same for every format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import FormatError

__all__ = ["load_yolo", "parse_rows"]

#: Image suffixes sleap-io's reader takes.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tiff", ".bmp")


def _kpt_shape(config: dict[str, Any], path: Path) -> tuple[int, int]:
    shape = config.get("kpt_shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in shape)
        or shape[0] < 1
        or shape[1] not in (2, 3)
    ):
        raise FormatError(
            f"kpt_shape must be [number of keypoints, 2 or 3], not {shape!r} (is this a YOLO-pose dataset?)",
            path,
        )
    return int(shape[0]), int(shape[1])


def parse_rows(path: Path, k: int, d: int) -> np.ndarray:
    """The rows of a label file as ``(N, 5 + k * d)`` floats, every row checked.

    Raises
    ------
    FormatError
        Naming the file and the (1-based) line of a row with another count of values, a value
        that is not a finite number, or a class that is not a whole number.

    """
    want = 5 + k * d
    rows = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"cannot read the label file ({type(exc).__name__})", path) from None
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != want:
            raise FormatError(
                f"line {n}: {len(parts)} values; a YOLO-pose row of kpt_shape [{k}, {d}] has {want} "
                f"(class, box centre and size, {k} keypoints of {d})",
                path,
            )
        try:
            values = [float(v) for v in parts]
        except ValueError:
            bad = next(v for v in parts if not _is_float(v))
            raise FormatError(f"line {n}: {bad!r} is not a number", path) from None
        if not np.isfinite(values).all():
            bad = next(v for v, x in zip(parts, values) if not np.isfinite(x))
            raise FormatError(f"line {n}: {bad!r} is not a finite number", path)
        if not float(values[0]).is_integer() or values[0] < 0:
            raise FormatError(f"line {n}: class {parts[0]!r} is not a class number", path)
        rows.append(values)
    return np.asarray(rows, float).reshape(-1, want)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _split_folders(root: Path, config: dict[str, Any], split: str) -> tuple[Path, Path]:
    images = root / str(config.get(split, f"{split}/images"))
    labels = root / str(config.get(split, f"{split}/images")).replace("/images", "/labels")
    return images, labels


def load_yolo(sio: Any, p: Path) -> Any:
    """sleap-io ``Labels`` of every split of a YOLO-pose dataset (train, val, test it names and has)."""
    import yaml
    from sleap_io.io.ultralytics import create_skeleton_from_config

    root = p.parent if p.name == "data.yaml" else p
    cfg_path = root / "data.yaml"
    try:
        config = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise FormatError(f"cannot read data.yaml ({type(exc).__name__})", cfg_path) from None
    if not isinstance(config, dict):
        raise FormatError("data.yaml is not a mapping", cfg_path)
    k, d = _kpt_shape(config, cfg_path)
    splits = [
        s for s in ("train", "val", "test") if s in config and _split_folders(root, config, s)[0].is_dir()
    ]
    if not splits:
        raise FormatError("data.yaml names no train/val/test image folder that exists", cfg_path)
    skeleton = create_skeleton_from_config(config)
    frames: list[Any] = []
    videos: list[Any] = []
    tracks: dict[str, Any] = {}
    for split in splits:
        images, labels = _split_folders(root, config, split)
        for image in sorted(images.glob("*")):
            if image.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            video = sio.Video.from_filename(str(image))
            videos.append(video)
            label = labels / f"{image.stem}.txt"
            rows = parse_rows(label, k, d) if label.is_file() else np.zeros((0, 5 + k * d))
            instances = []
            if len(rows):
                shape = video.shape
                h, w = (shape[1], shape[2]) if shape is not None else np.asarray(video[0]).shape[:2]
                kp = rows[:, 5:].reshape(len(rows), k, d)
                xy = kp[..., :2] * np.array([w, h], float)
                if d == 3:
                    xy[kp[..., 2] <= 0] = np.nan  # v = 0: not labelled
                for i, pts in enumerate(xy):
                    name = f"track_{i}"
                    track = tracks.setdefault(name, sio.Track(name=name))
                    instances.append(sio.Instance.from_numpy(pts, skeleton=skeleton, track=track))
            frames.append(sio.LabeledFrame(video=video, frame_idx=0, instances=instances))
    return sio.Labels(
        labeled_frames=frames, videos=videos, skeletons=[skeleton], tracks=list(tracks.values())
    )
