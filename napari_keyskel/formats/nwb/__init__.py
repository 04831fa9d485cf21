"""NWB pose files from the rest of the field, read through pynwb and ndx-pose (not sleap-io's layout).

sleap-io reads the NWB files it writes itself (``PoseTraining`` in ``behavior``, or one
``SLEAP_VIDEO_*`` module per video); :func:`is_sleap_io_layout` tells them apart. Everything
else with ``PoseEstimation`` objects is read here with pynwb and ndx-pose (>= 0.2, which also
reads files written with ndx-pose 0.1):

- ndx-pose 0.2+: a ``Skeleton`` (nodes, edges, optional subject) linked from each
  ``PoseEstimation``; ``Skeletons`` beside them;
- ndx-pose 0.1: ``nodes`` and ``edges`` on the ``PoseEstimation`` itself (ndx-pose turns them
  into a skeleton on read);
- DeepLabCut's DLC2NWB (ndx-pose 0.1): one file per individual, series named
  ``<individual>_<bodypart>`` and described ``Keypoint <bodypart> from individual
  <individual>.``; the individual becomes the instance's name and the body parts the nodes.

Rules of the conversion: one annotation store per skeleton (same nodes and edges), one
instance per ``PoseEstimation`` (named by DLC's individual, else the skeleton's subject, else
the object's name); each ``PoseEstimationSeries`` is one node over time: ``data`` (x, y[, z])
NaN where not found, ``confidence`` as the node's score. Frames: one frame table per video
(``original_videos[0]``, else ``"video"``); timestamps that are whole numbers are the video's
frame numbers (DLC2NWB without its video), other timestamps are ordered in time (their seconds
kept as ``"time"`` in each frame). Every position read is a key (an estimate is placed, not
interpolated). Coordinates are pixels with integer positions at pixel centres (:data:`NWB_OFFSET`).
"""

from __future__ import annotations

import os
import re
import warnings
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...core.presets import match_preset
from ...core.skeleton import Skeleton
from ...core.store import VISIBLE, AnnotationStore
from ...errors import FormatError, KeyskelError

__all__ = ["NWB_OFFSET", "is_sleap_io_layout", "read_nwb_pose"]

#: Added to (col, row) to get the file's (x, y): 0, as sleap-io writes and reads NWB.
NWB_OFFSET = 0.0
META = "nwb"


def is_sleap_io_layout(path: str | PathLike[str]) -> bool:
    """Whether an NWB file is laid out as sleap-io writes it (then sleap-io reads it)."""
    import h5py

    try:
        with h5py.File(os.fspath(path), "r") as f:
            processing = f.get("processing")
            if processing is None:
                return False
            if "behavior" in processing and "PoseTraining" in processing["behavior"]:
                return True
            return any(str(name).startswith("SLEAP_VIDEO") for name in processing)
    except OSError:
        return False


def _reason(exc: BaseException) -> str:
    """The reason pynwb gives, on one line (hdmf's construct errors hold the whole builder before it)."""
    text = " ".join(str(exc).split())
    m = re.search(r"^\(?(root/\S+) .*Could not construct (\w+) object due to: (.*?)['\"]?\)?$", text)
    if m:
        return f"{m.group(1)}: {m.group(3)}"[:240]
    return f"{type(exc).__name__}: {text}"[:240]


def _estimates(nwb: Any) -> list[Any]:
    """Every ``PoseEstimation`` of the file (inside a ``MultiCameraPoseEstimation`` too), in module order."""
    out = []
    for module in nwb.processing.values():
        for obj in module.data_interfaces.values():
            kind = type(obj).__name__
            if kind == "PoseEstimation":
                out.append(obj)
            elif kind == "MultiCameraPoseEstimation":
                out += [x for x in getattr(obj, "pose_estimations", {}).values()]
    return out


def _times(series: Any) -> np.ndarray:
    if series.timestamps is not None:
        return np.asarray(series.timestamps[:], float)
    n = series.data.shape[0]
    return float(series.starting_time or 0.0) + np.arange(n) / float(series.rate)


_DLC_SERIES = re.compile(r"Keypoint (?P<part>.+) from individual (?P<individual>.+)\.")


def _dlc_individual(series: list[Any], nodes: list[str]) -> tuple[str, list[str]] | None:
    """DLC2NWB's individual and body parts (its series say "Keypoint <part> from individual <name>.")."""
    found = [_DLC_SERIES.fullmatch(str(s.description or "")) for s in series]
    if not found or not all(found):
        return None
    names = {m.group("individual") for m in found if m}
    parts = [m.group("part") for m in found if m]
    if len(names) != 1 or [f"{next(iter(names))}_{p}" for p in parts] != nodes:
        return None
    return next(iter(names)), parts


def _one(pe: Any, path: Path) -> dict[str, Any]:
    """What one PoseEstimation holds: nodes, edges, name, video, per node (times, data, confidence)."""
    where = f"PoseEstimation {pe.name!r}"
    sk = pe.skeleton
    series = pe.pose_estimation_series
    nodes = [str(n) for n in sk.nodes[:]] if sk is not None else list(series)
    edges = [(int(a), int(b)) for a, b in np.asarray(sk.edges[:]).reshape(-1, 2)] if sk is not None else []
    missing = [n for n in nodes if n not in series]
    if missing:
        raise FormatError(f"nodes {missing} have no PoseEstimationSeries", path, where)
    columns = []
    for n in nodes:
        s = series[n]
        data = np.asarray(s.data[:], float)
        if data.ndim != 2 or data.shape[1] not in (2, 3):
            raise FormatError(f"series {n!r} data has shape {data.shape}, not (frames, 2 or 3)", path, where)
        t = _times(s)
        if t.shape[0] != data.shape[0]:
            raise FormatError(
                f"series {n!r} has {data.shape[0]} positions and {t.shape[0]} timestamps", path, where
            )
        conf = np.asarray(s.confidence[:], float) if s.confidence is not None else np.full(len(t), np.nan)
        columns.append((t, data, conf))
    dlc = _dlc_individual([series[n] for n in nodes], nodes)
    individual = None
    if dlc is not None:
        individual, nodes = dlc
    subject = getattr(sk, "subject", None) if sk is not None else None
    name = individual or (
        str(subject.subject_id) if subject is not None and subject.subject_id else str(pe.name)
    )
    videos = [str(v) for v in pe.original_videos[:]] if pe.original_videos is not None else []
    return {
        "nodes": nodes, "edges": edges, "name": name, "video": videos[0] if videos else "video",
        "skeleton": str(sk.name) if sk is not None and sk.name != "subject" else "skeleton",
        "columns": columns, "software": str(pe.source_software or ""), "scorer": str(pe.scorer or ""),
    }  # fmt: skip


def _frames(
    found: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, tuple[int, np.ndarray, bool]]]:
    """The frame table; per video its first row, its times and whether times are frame numbers."""
    frames: list[dict[str, Any]] = []
    table: dict[str, tuple[int, np.ndarray, bool]] = {}
    for video in dict.fromkeys(x["video"] for x in found):
        times = np.unique(
            np.concatenate([t for x in found if x["video"] == video for t, _, _ in x["columns"]])
        )
        whole = bool(times.size) and bool(np.all(times == np.round(times))) and times.min() >= 0
        table[video] = (len(frames), times, whole)
        if whole:
            frames += [{"item": video, "frame": f} for f in range(int(times.max()) + 1)]
        else:
            frames += [{"item": video, "frame": i, "time": float(t)} for i, t in enumerate(times)]
    return frames, table


def _skeleton(x: dict[str, Any], given: Skeleton | None, path: Path) -> Skeleton:
    if given is not None:
        missing = [n for n in x["nodes"] if n not in given.nodes]
        if missing:
            raise FormatError(
                f"nodes {missing} of the file are not in the given skeleton {given.name!r}", path
            )
        return given
    try:
        sk = Skeleton(x["nodes"], x["edges"], name=x["skeleton"])
    except KeyskelError as exc:
        raise FormatError(f"skeleton {x['skeleton']!r}: {exc}", path) from None
    if not sk.edges:
        preset = match_preset(list(sk.nodes))
        if preset is not None:
            return Skeleton(preset.nodes, preset.edges, preset.colors, preset.flip_pairs, name=sk.name)
    return sk


def read_nwb_pose(path: str | PathLike[str], skeleton: Skeleton | None = None) -> AnnotationSet:
    """Read the ``PoseEstimation`` objects of an NWB file (ndx-pose 0.1, 0.2+, DLC2NWB; see the module)."""
    p = Path(path)
    try:
        import ndx_pose  # noqa: F401  (registers the ndx-pose types with pynwb)
        from pynwb import NWBHDF5IO
    except ImportError:
        raise FormatError(
            'NWB pose files need pynwb and ndx-pose (pip install "napari-keyskel[sleap]")', p
        ) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # cached namespaces older than the installed ndx-pose, deprecations
            with NWBHDF5IO(os.fspath(p), mode="r") as io:
                found = [_one(pe, p) for pe in _estimates(io.read())]
    except FormatError:
        raise
    except Exception as exc:  # pynwb, hdmf and h5py raise many kinds: all mean "cannot read it"
        raise FormatError(f"pynwb cannot read it ({_reason(exc)})", p) from None
    if not found:
        raise FormatError("no PoseEstimation in any processing module", p)
    frames, table = _frames(found)
    stores: dict[tuple[Any, ...], AnnotationStore] = {}
    for x in found:
        sk = _skeleton(x, skeleton, p)
        key = (sk.nodes, sk.edges)
        if key not in stores:
            stores[key] = AnnotationStore(sk, coord_ndim=x["columns"][0][1].shape[1], frame_axis=0,
                                          n_frames=max(len(frames), 1), name=sk.name)  # fmt: skip
        store = stores[key]
        first, times, whole = table[x["video"]]
        rows = []
        for t, _, _ in x["columns"]:
            rows.append(first + (t.astype(int) if whole else np.searchsorted(times, t)))
        placed = [np.isfinite(d).all(axis=1) for _, d, _ in x["columns"]]
        used = np.concatenate([r[m] for r, m in zip(rows, placed)])
        if not used.size:
            continue
        track = store.add_track(
            len(store) + 1, name=x["name"], start=int(used.min()), stop=int(used.max()) + 1
        )
        track.meta[META] = {k: x[k] for k in ("software", "scorer") if x[k]}
        for node, (r, m, (_, data, conf)) in enumerate(zip(rows, placed, x["columns"])):
            j = store.skeleton.index(x["nodes"][node])
            rr = r[m] - track.start
            track.coords[rr, j] = data[m][:, ::-1] - NWB_OFFSET
            track.visibility[rr, j] = VISIBLE
            track.is_key[rr, j] = True
            track.score[rr, j] = conf[m]
    return AnnotationSet(
        stores=list(stores.values()), frames=frames, meta={META: {"layout": "ndx-pose"}}, source=str(p)
    )
