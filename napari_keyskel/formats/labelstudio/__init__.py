"""Label Studio JSON exports with keypoints, as Label Studio writes them (no sleap-io needed).

A Label Studio export is a JSON list of tasks. Each task names its image in ``data`` (``data.image``,
or the one string of ``data``; files written by sleap-io name a video frame in
``meta.video``) and holds ``annotations`` whose ``result`` lists regions: ``keypointlabels``
(``value.x``, ``value.y`` in percent of ``original_width`` / ``original_height``, the node in
``value.keypointlabels[0]``), ``rectanglelabels`` and ``relation`` items
(https://labelstud.io/tags/keypointlabels, https://labelstud.io/guide/task_format).

Rules of the conversion:

- one frame per task (``item`` = the image; for sleap-io's ``meta.video``: the video and its
  frame index); one annotation store (the given skeleton, else a preset matching the node
  names, else the nodes in the order the file first names them, without edges);
- instances: the keypoints of one parent rectangle (the keypoint's ``parentID``, or a
  ``relation`` between the keypoint and the rectangle, as sleap-io writes) are one instance;
  the rectangle's label names it, and the k-th rectangle of a label on each image is the same
  instance across images; keypoints without a rectangle are one instance (a node named twice
  starts another);
- the first annotation of a task that was not cancelled is read (others are counted in a
  warning); a task with no such annotation reads its first ``predictions`` entry instead (a
  model's pre-annotations): its keypoints are keys with scores (the region's ``score``, else the
  prediction's), as SLEAP's predicted instances are, and the ``model_version`` is kept in the
  set's meta; the predictions of a task that has an annotation are counted in a warning; a task
  with neither is an empty frame; a region's ``score`` is read in annotations too;
- positions: ``x / 100 * original_width`` (integer positions at pixel centres, as sleap-io
  reads them); every keypoint read is a visible key;
- a problem is a :class:`~napari_keyskel.errors.FormatError` of one line naming the file, the
  task and the result.

Writing gives tasks as Label Studio exports them, each instance a rectangle (its label = the
instance's name) with its keypoints (``parentID`` and a ``relation``, so that Label Studio and
sleap-io both group them), and ``meta.video`` for sleap-io. Every frame is its task's annotation,
scored nodes (a model's poses, SLEAP predictions) with their ``score`` on the keypoint region
(and the rectangle, their mean, when all are scored), read back as such: tasks are not written as
``predictions``, because sleap-io's reader takes a task's first annotation and fails on a task
without one. Label Studio has no occlusion and no interpolation: occluded nodes are left out, see
:mod:`napari_keyskel.formats.sleap._losses`.
"""

from __future__ import annotations

import uuid
import warnings
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ...core._atomic import atomic_write_text
from ...core.annotation_set import AnnotationSet
from ...core.presets import match_preset
from ...core.skeleton import Skeleton
from ...core.store import VISIBLE, AnnotationStore
from ...core.wording import plural
from ...errors import FormatError, KeyskelError

__all__ = ["LABELSTUDIO_OFFSET", "read_labelstudio", "write_labelstudio"]

#: Added to (col, row) to get Label Studio pixel (x, y) (percent x width / 100): 0, as sleap-io reads it.
LABELSTUDIO_OFFSET = 0.0
META = "labelstudio"


def _number(value: Any, what: str, path: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise FormatError(f"{what} is {str(value)[:40]!r}, not a finite number", path, where)
    return float(value)


def _image(task: dict[str, Any], index: int) -> tuple[str, int, int | None]:
    """The task's item, frame and the video's length if known.

    sleap-io's ``meta.video`` (a video file, its frame index and shape) first, else
    ``data.image`` or the one string of ``data``.
    """
    video = task.get("meta", {}).get("video") if isinstance(task.get("meta"), dict) else None
    if isinstance(video, dict) and video.get("filename") is not None:
        fn, fi = video["filename"], int(video.get("frame_idx") or 0)
        if isinstance(fn, list):  # an image list: the image itself
            return (str(fn[fi]) if 0 <= fi < len(fn) else f"task {task.get('id', index)}"), 0, None
        shape = video.get("shape")
        n = int(shape[0]) if isinstance(shape, list) and shape and isinstance(shape[0], int) else None
        return str(fn), fi, n
    raw = task.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if isinstance(data.get("image"), str):
        return data["image"], 0, None
    strings = [v for v in data.values() if isinstance(v, str)]
    return (strings[0] if len(strings) == 1 else f"task {task.get('id', index)}"), 0, None


def _frame_table(places: list[tuple[str, int, int | None]]) -> tuple[list[dict[str, Any]], list[int]]:
    """Frames, and each task's frame: every frame of the videos sleap-io names, else one per task."""
    if not places or any(n is None for _, _, n in places):
        return [{"item": item, "frame": fi} for item, fi, _ in places], list(range(len(places)))
    length: dict[str, int] = {}
    for item, fi, n in places:
        length[item] = max(length.get(item, 0), int(n or 0), fi + 1)
    start: dict[str, int] = {}
    frames: list[dict[str, Any]] = []
    for item, n in length.items():
        start[item] = len(frames)
        frames += [{"item": item, "frame": i} for i in range(n)]
    return frames, [start[item] + fi for item, fi, _ in places]


def _annotation(task: dict[str, Any], where: str, path: Path) -> tuple[list[Any] | None, int]:
    """The results of the task's first annotation not cancelled (None: none), and how many others it has."""
    anns = task.get("annotations")
    if anns is None:
        anns = task.get("completions") or []  # Label Studio before 1.0
    if not isinstance(anns, list):
        raise FormatError("'annotations' is not a list", path, where)
    kept = [a for a in anns if isinstance(a, dict) and not a.get("was_cancelled")]
    if not kept:
        return None, 0
    result = kept[0].get("result")
    if not isinstance(result, list):
        raise FormatError("an annotation's 'result' is not a list", path, where)
    return result, len(kept) - 1


def _predictions(task: dict[str, Any], where: str, path: Path) -> list[dict[str, Any]]:
    """The task's ``predictions`` (objects with a ``result`` list); [] when it has none."""
    preds = task.get("predictions") or []
    if not isinstance(preds, list):
        raise FormatError("'predictions' is not a list", path, where)
    out = [p for p in preds if isinstance(p, dict)]
    for p in out:
        if not isinstance(p.get("result"), list):
            raise FormatError("a prediction's 'result' is not a list", path, where)
    return out


def _score(value: Any, path: Path, where: str) -> float:
    """A prediction's or region's score: NaN when absent."""
    return np.nan if value is None else _number(value, "score", path, where)


#: One keypoint read: (node, x, y, score); the score is NaN for a person's annotation.
Keypoint = tuple[str, float, float, float]


def _groups(
    results: list[Any], path: Path, where: str, score: float = np.nan
) -> list[tuple[str | None, list[Keypoint]]]:
    """The instances of one annotation or prediction: (rectangle label or None, keypoints) in order.

    ``score`` is a prediction's own score, given to its regions that have none.
    """
    rects: dict[str, str] = {}
    points: list[tuple[str | None, str, float, float, float]] = []  # (id, node, x, y, score)
    parent: dict[str, str] = {}
    relations: list[tuple[str, str]] = []
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            raise FormatError(f"result {i} is not an object", path, where)
        kind, rid = r.get("type"), r.get("id")
        here = f"{where}, result {rid if rid is not None else i!r}"
        raw = r.get("value")
        value: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if kind == "rectanglelabels":
            labels = value.get("rectanglelabels") or [""]
            rects[str(rid)] = str(labels[0])
        elif kind == "keypointlabels":
            labels = value.get("keypointlabels")
            if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
                raise FormatError(f"keypointlabels is {str(labels)[:40]!r}, not one node name", path, here)
            w = _number(r.get("original_width"), "original_width", path, here)
            h = _number(r.get("original_height"), "original_height", path, here)
            x = _number(value.get("x"), "x", path, here) * w / 100
            y = _number(value.get("y"), "y", path, here) * h / 100
            sc = _score(r.get("score"), path, here) if "score" in r else score
            points.append((None if rid is None else str(rid), labels[0], x, y, sc))
            if r.get("parentID") is not None:
                parent[str(rid)] = str(r["parentID"])
        elif kind == "relation":
            relations.append((str(r.get("from_id")), str(r.get("to_id"))))
    for a, b in relations:  # sleap-io relates each keypoint to its rectangle
        if a in rects and b not in rects:
            a, b = b, a
        if b in rects and a not in parent:
            parent[a] = b
    out: dict[str, list[Keypoint]] = {rid: [] for rid in rects}
    loose: list[list[Keypoint]] = []
    for pid, node, x, y, sc in points:
        owner = parent.get(pid) if pid is not None else None
        if owner in out:
            out[owner].append((node, x, y, sc))
            continue
        bucket = next((b for b in loose if node not in {n for n, *_ in b}), None)
        if bucket is None:
            bucket = []
            loose.append(bucket)
        bucket.append((node, x, y, sc))
    grouped: list[tuple[str | None, list[Keypoint]]] = [(rects[k], v) for k, v in out.items() if v]
    return grouped + [(None, b) for b in loose]


def _skeleton(names: list[str], given: Skeleton | None, path: Path) -> Skeleton:
    if given is not None:
        missing = [n for n in names if n not in given.nodes]
        if missing:
            raise FormatError(
                f"nodes {missing} of the file are not in the given skeleton {given.name!r}", path
            )
        return given
    preset = match_preset(names)
    if preset is not None:
        return preset
    try:
        return Skeleton(names, name="skeleton")
    except KeyskelError as exc:
        raise FormatError(f"the node names: {exc}", path) from None


def read_labelstudio(path: str | PathLike[str], skeleton: Skeleton | None = None) -> AnnotationSet:
    """Read a Label Studio JSON export (a list of tasks) with keypoints; see the module doc."""
    from .._jsonio import load_json

    p = Path(path)
    tasks = load_json(p)
    if isinstance(tasks, dict) and "annotations" in tasks:
        tasks = [tasks]  # one task saved on its own
    if not isinstance(tasks, list):
        raise FormatError("not a Label Studio export (a JSON list of tasks)", p)
    places: list[tuple[str, int, int | None]] = []
    sizes: list[tuple[int, int] | None] = []
    per_task: list[list[tuple[str | None, list[Keypoint]]]] = []
    extra = unread_predictions = 0
    unread_in: list[str] = []  # the tasks whose predictions were not read
    versions: list[str] = []
    for i, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise FormatError(f"task {i} is not an object", p)
        where = f"task {task.get('id', i)}"
        results, more = _annotation(task, where, p)
        preds = _predictions(task, where, p)
        extra += more
        places.append(_image(task, i))
        if results is not None or not preds:  # a person's annotation wins over predictions
            if results is not None and preds:
                unread_predictions += len(preds)
                unread_in.append(str(task.get("id", i)))
            results, score, here = results or [], np.nan, where
        else:
            pred = preds[0]
            if len(preds) > 1:
                unread_predictions += len(preds) - 1
                unread_in.append(str(task.get("id", i)))
            results, score, here = pred["result"], _score(pred.get("score"), p, where), f"{where}, prediction"
            if pred.get("model_version") is not None:
                versions.append(str(pred["model_version"]))
        per_task.append(_groups(results, p, here, score))
        sized = [
            r for r in results if isinstance(r, dict) and "original_width" in r and "original_height" in r
        ]
        sizes.append((int(sized[0]["original_width"]), int(sized[0]["original_height"])) if sized else None)
    if extra:
        warnings.warn(
            f"{p}: {extra} further annotations of tasks were not read (the first of each task was)",
            stacklevel=2,
        )
    if unread_predictions:
        named = ", ".join(unread_in[:5]) + (", ..." if len(unread_in) > 5 else "")
        word = "task" if len(unread_in) == 1 else "tasks"
        warnings.warn(
            f"{p}: {plural(unread_predictions, 'prediction')} of {word} {named} not read "
            "(a task's annotation, else its first prediction, is read)",
            stacklevel=2,
        )
    frames, at = _frame_table(places)
    for f, size in zip(at, sizes):
        if size is not None:
            frames[f].update(width=size[0], height=size[1])
    per_frame = sorted(zip(at, per_task), key=lambda x: x[0])
    names = list(dict.fromkeys(n for _, groups in per_frame for _, pts in groups for n, *_ in pts))
    if not names:
        raise FormatError("no keypointlabels in any task", p)
    sk = _skeleton(names, skeleton, p)
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=max(len(frames), 1), name=sk.name)
    rows: dict[tuple[str, int], list[tuple[int, list[Keypoint]]]] = {}
    seen_on: dict[int, dict[str, int]] = {}
    for f, groups in per_frame:
        seen = seen_on.setdefault(f, {})  # two tasks of one frame: their instances side by side
        for label, pts in groups:
            key = label if label is not None else ""
            k = seen.get(key, 0)
            seen[key] = k + 1
            rows.setdefault((key, k), []).append((f, pts))
    for tid, ((label, k), recs) in enumerate(sorted(rows.items(), key=lambda r: (r[1][0][0], r[0])), 1):
        name = (label if k == 0 else f"{label} {k + 1}") if label else None
        track = store.add_track(tid, name=name, start=recs[0][0], stop=recs[-1][0] + 1)
        track.alive[:] = False
        for f, pts in recs:
            r = f - track.start
            track.alive[r] = True
            for node, x, y, sc in pts:
                j = sk.index(node)
                track.coords[r, j] = (y - LABELSTUDIO_OFFSET, x - LABELSTUDIO_OFFSET)
                track.visibility[r, j] = VISIBLE
                track.is_key[r, j] = True
                track.score[r, j] = sc
    meta: dict[str, Any] = {"format": "labelstudio"}
    if versions:
        meta["model_version"] = versions[0] if len(set(versions)) == 1 else sorted(set(versions))
    return AnnotationSet(stores=[store], frames=frames, meta={META: meta}, source=str(p))


def _size(ds: AnnotationSet, f: int) -> tuple[float, float]:
    fr = ds.frames[f] if f < len(ds.frames) else {}
    w, h = fr.get("width"), fr.get("height")
    return (float(w), float(h)) if w and h else (100.0, 100.0)


def _instance_regions(
    name: str | None, coords: np.ndarray, shown: np.ndarray, nodes: tuple[str, ...], w: float, h: float
) -> list[dict[str, Any]]:
    """One instance on a frame as Label Studio regions: its rectangle, then (keypoint, relation) per node."""
    yx = coords[shown] + LABELSTUDIO_OFFSET
    (y0, x0), (y1, x1) = yx.min(axis=0), yx.max(axis=0)
    rid = uuid.uuid4().hex[:10]
    out: list[dict[str, Any]] = [{
        "original_width": w, "original_height": h, "image_rotation": 0,
        "value": {"x": x0 / w * 100, "y": y0 / h * 100, "width": (x1 - x0) / w * 100,
                  "height": (y1 - y0) / h * 100, "rotation": 0, "rectanglelabels": [name]},
        "id": rid, "from_name": "individuals", "to_name": "image", "type": "rectanglelabels",
        "origin": "manual",
    }]  # fmt: skip
    for j in np.flatnonzero(shown):
        y, x = coords[j] + LABELSTUDIO_OFFSET
        kid = uuid.uuid4().hex[:10]
        out.append({
            "original_width": w, "original_height": h, "image_rotation": 0,
            "value": {"x": x / w * 100, "y": y / h * 100, "width": 0.5, "keypointlabels": [nodes[j]]},
            "id": kid, "from_name": "keypoints", "to_name": "image", "type": "keypointlabels",
            "origin": "manual", "parentID": rid,
        })  # fmt: skip
        out.append({"from_id": kid, "to_id": rid, "type": "relation", "direction": "right"})
    return out


def write_labelstudio(dataset: AnnotationSet, path: str | PathLike[str]) -> list[Path]:
    """Write ``dataset`` as a Label Studio JSON export (see the module doc); returns the file."""
    import json

    p = Path(path)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    tasks: list[dict[str, Any]] = []
    items = [str(fr.get("item", "image")) for fr in dataset.frames]
    length: dict[str, int] = {}
    for fr in dataset.frames:
        item = str(fr.get("item", "image"))
        length[item] = max(length.get(item, 0), int(fr.get("frame") or 0) + 1)
    images = len(set(items)) == len(items)  # one frame per image: every image is a task
    for f in range(dataset.n_frames):
        w, h = _size(dataset, f)
        result: list[dict[str, Any]] = []
        for store in dataset.stores:
            for t in store:
                if not t.start <= f < t.stop or not t.alive[f - t.start]:
                    continue
                r = f - t.start
                shown = np.isfinite(t.coords[r, :, 0]) & (t.visibility[r] == VISIBLE)
                if not shown.any():
                    continue
                regions = _instance_regions(t.name, t.coords[r], shown, store.skeleton.nodes, w, h)
                sc = t.score[r, shown]
                for region, value in zip(regions[1::2], sc):  # the rectangle, then (keypoint, relation)s
                    if np.isfinite(value):
                        region["score"] = float(value)
                if np.isfinite(sc).all():
                    regions[0]["score"] = float(sc.mean())
                result += regions
        if not result and not (images and dataset.frames):
            continue
        fr = dataset.frames[f] if f < len(dataset.frames) else {"item": "video", "frame": f}
        n = length.get(str(fr.get("item")), dataset.n_frames)
        tid = len(tasks) + 1
        tasks.append({
            "id": tid,
            "annotations": [{
                "id": tid, "result": result, "was_cancelled": False, "ground_truth": False,
                "created_at": now, "updated_at": now, "lead_time": 0, "result_count": 0, "task": tid,
            }],
            "predictions": [],
            "data": {"image": str(fr.get("item", "image"))},
            "meta": {"video": {"filename": str(fr.get("item", "image")),
                               "frame_idx": int(fr.get("frame") or 0), "shape": [n, int(h), int(w), 1]}},
        })  # fmt: skip
    atomic_write_text(p, json.dumps(tasks, indent=2))
    return [p]
