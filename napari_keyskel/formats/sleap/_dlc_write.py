"""DeepLabCut labelled data written as DeepLabCut keeps it: ``CollectedData_<scorer>`` table, images, config.

The table is DeepLabCut's (>= 2.2): columns ``scorer/[individuals/]bodyparts/coords`` (``x``,
``y``, and ``likelihood`` for predictions), rows ``("labeled-data", <video>, <image>)``; the CSV
(three index columns) and for ``.h5`` the same table in a pandas HDF5 store (key
``df_with_missing``) beside it. A file read from a multi-animal project stays multi-animal
(``individuals`` row, the individuals' names) even with one labelled individual; so does data
with several instances or instances on one frame. Images: an image of an image list is copied
as it is (its own name and format), a video frame is written as ``img<frame:04d>.png``
(DeepLabCut's frame extraction names). ``config.yaml`` (bodyparts, skeleton, individuals,
``multianimalproject``) is written where none is.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...core._atomic import atomic_write_bytes, atomic_write_text
from ...errors import FormatError
from ._dlc import H5_SUFFIXES, need_tables

__all__ = ["save_dlc"]

_KEY = "df_with_missing"


def _scorer(path: Path) -> str:
    m = re.fullmatch(r"CollectedData_(.+)", path.stem)
    return m.group(1) if m else "sleap-io"


def _reader(v: Any) -> Any:
    """The backend reading a sleap-io video's frames, or ``None`` when they cannot be read."""
    try:
        if not v.exists():
            return None
        if v.backend is None:
            v.open()
        return v.backend
    except Exception:  # an unreadable file: no images, warned by the caller
        return None


def _tmp_files(p: Path) -> tuple[Path, Path]:
    csv_path = p.with_suffix(".csv") if p.suffix.lower() in H5_SUFFIXES else p
    return p.with_name(f".{csv_path.name}.keyskel-tmp.csv"), p.with_name(f".{p.name}.keyskel-tmp")


def _one_video_per_folder(sio: Any, labels: Any) -> None:
    """Merge the image-list videos of one folder into one (YOLO and Label Studio make one per image)."""
    groups: dict[Path, list[Any]] = {}
    for v in labels.videos:
        if isinstance(v.filename, list) and v.filename:
            groups.setdefault(Path(str(v.filename[0])).parent, []).append(v)
    for vs in groups.values():
        if len(vs) < 2:
            continue
        files: list[str] = []
        where: dict[tuple[int, int], int] = {}
        for v in vs:
            for i, f in enumerate(v.filename):
                where[(id(v), i)] = len(files)
                files.append(str(f))
        ok = all(Path(f).is_file() for f in files)
        merged = sio.Video.from_filename(files) if ok else sio.Video(filename=files, open_backend=False)
        ids = {id(v) for v in vs}
        for lf in labels.labeled_frames:
            if id(lf.video) in ids:
                lf.frame_idx = where[(id(lf.video), int(lf.frame_idx))]
                lf.video = merged
        labels.videos = [v for v in labels.videos if id(v) not in ids] + [merged]


def _row_image(v: Any, frame: int) -> tuple[str, Path | None]:
    """A labelled frame's image name in ``labeled-data/<video>/`` and the file to copy (image lists)."""
    if isinstance(v.filename, list) and 0 <= frame < len(v.filename):
        src = Path(str(v.filename[frame]))
        return src.name, src if src.is_file() else None
    return f"img{frame:04d}.png", None


def save_dlc(sio: Any, labels: Any, p: Path, hint: str) -> list[Path]:
    """The table (CSV, and for ``.h5`` the HDF5 store), the images and ``config.yaml``.

    The scorer is ``<scorer>`` of a ``CollectedData_<scorer>`` file name, else ``sleap-io``. A
    file written in a DeepLabCut project's ``<project>/labeled-data/<video>/`` (where DeepLabCut
    keeps it) holds that one video: its images go beside it and ``config.yaml`` goes to
    ``<project>``; elsewhere the images go to ``labeled-data/<video>/`` beside the file (the
    image list's own folder name, else the video's stem) and ``config.yaml`` beside the file.
    """
    if p.suffix.lower() in H5_SUFFIXES:
        need_tables(p, hint)
    _one_video_per_folder(sio, labels)
    in_project = p.parent.parent.name == "labeled-data"
    root = p.parent.parent.parent if in_project else p.parent
    used = [v for v in labels.videos if any(lf.video is v for lf in labels)]
    if in_project and len(used) > 1:
        raise FormatError(
            f"a DeepLabCut file in labeled-data/{p.parent.name}/ holds that one video's frames; "
            f"the data has {len(used)} videos (write it outside labeled-data/, or one file per video)",
            p,
        )
    folders = {}
    for v in used:
        if in_project:
            folders[id(v)] = p.parent.name
        elif isinstance(v.filename, list):
            folders[id(v)] = Path(str(v.filename[0])).parent.name or "images"
        else:
            folders[id(v)] = Path(str(v.filename)).stem
    names = list(folders.values())
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise FormatError(
            f"DeepLabCut names rows after their video: several videos are named {twice[0]!r}", p
        )
    try:
        return _write_files(sio, labels, p, root, folders, _scorer(p))
    finally:  # nothing half-written left behind
        for tmp in _tmp_files(p):
            tmp.unlink(missing_ok=True)


def _table(labels: Any, folders: dict[int, str], scorer: str) -> Any:
    """DeepLabCut's DataFrame of the labelled frames (see the module docstring)."""
    import pandas as pd

    nodes = [str(n) for n in labels.skeletons[0].node_names]
    own = labels.provenance.get("keyskel_dlc") if isinstance(labels.provenance, dict) else None
    crowded = any(len(lf.instances) > 1 for lf in labels)
    multi = len(labels.tracks) > 1 or crowded or bool(isinstance(own, dict) and own.get("multianimal"))
    scores = any(type(i).__name__ == "PredictedInstance" for lf in labels for i in lf.instances)
    coords = ["x", "y", "likelihood"] if scores else ["x", "y"]
    individuals = [str(t.name) for t in labels.tracks]
    rows, index = [], []
    order = {id(v): i for i, v in enumerate(labels.videos)}
    for lf in sorted(labels, key=lambda lf: (order.get(id(lf.video), 0), int(lf.frame_idx))):
        index.append(("labeled-data", folders[id(lf.video)], _row_image(lf.video, int(lf.frame_idx))[0]))
        values: dict[tuple[str, ...], float] = {}
        for k, inst in enumerate(lf.instances):
            who = inst.track.name if inst.track is not None else f"individual{k + 1}"
            if multi and who not in individuals:
                individuals.append(str(who))
            pts = inst.numpy(scores=True) if type(inst).__name__ == "PredictedInstance" else inst.numpy()
            for j, node in enumerate(nodes):
                head = (scorer, str(who), node) if multi else (scorer, node)
                for c, name in enumerate(coords):
                    value = pts[j, c] if c < pts.shape[1] else np.nan
                    key = (*head, name)
                    values[key] = float(value) if np.isfinite(pts[j, 0]) else np.nan
        rows.append(values)
    if multi:
        cols = pd.MultiIndex.from_tuples(
            [(scorer, i, n, c) for i in individuals for n in nodes for c in coords],
            names=["scorer", "individuals", "bodyparts", "coords"],
        )
    else:
        cols = pd.MultiIndex.from_tuples(
            [(scorer, n, c) for n in nodes for c in coords], names=["scorer", "bodyparts", "coords"]
        )
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index), columns=cols, dtype=float), multi


def _write_images(labels: Any, root: Path, folders: dict[int, str], p: Path) -> list[Path]:
    """Each labelled frame's image in ``labeled-data/<video>/``: copied as it is, or a video frame as PNG."""
    import imageio.v3 as iio

    written, blind = [], []
    readers = {id(v): _reader(v) for v in labels.videos if not isinstance(v.filename, list)}
    for lf in labels:
        name, src = _row_image(lf.video, int(lf.frame_idx))
        img = root / "labeled-data" / folders[id(lf.video)] / name
        img.parent.mkdir(parents=True, exist_ok=True)
        if src is not None:
            if not (img.exists() and img.samefile(src)):
                shutil.copyfile(src, img)  # the image itself: its name and format kept
        elif readers.get(id(lf.video)) is not None:
            frame = np.asarray(readers[id(lf.video)][lf.frame_idx])
            if frame.ndim == 3 and frame.shape[-1] == 1:
                frame = frame[..., 0]
            atomic_write_bytes(img, iio.imwrite("<bytes>", frame, extension=".png"))
        else:
            blind.append(lf.video)
            continue
        written.append(img)
    if blind:
        warnings.warn(
            f"{p}: no images written for {len(blind)} labelled frame(s) (cannot read {blind[0].filename!s}); "
            "sleap-io and DeepLabCut read a row only with its image: pass video= (--video)",
            stacklevel=5,
        )
    return written


def _write_files(
    sio: Any, labels: Any, p: Path, root: Path, folders: dict[int, str], scorer: str
) -> list[Path]:
    import yaml

    h5 = p.suffix.lower() in H5_SUFFIXES
    csv_path = p.with_suffix(".csv") if h5 else p
    tmp, tmp_h5 = _tmp_files(p)
    table, multi = _table(labels, folders, scorer)
    table.to_csv(tmp)
    if h5:
        table.to_hdf(tmp_h5, key=_KEY, mode="w")
    written = [p, csv_path] if h5 else [p]
    written += _write_images(labels, root, folders, p)
    sk = labels.skeletons[0]
    own = labels.provenance.get("keyskel_dlc") if isinstance(labels.provenance, dict) else None
    listed = own.get("individuals") if isinstance(own, dict) else None
    known: list[str] = [str(x) for x in listed] if isinstance(listed, list) else []
    individuals = list(dict.fromkeys([*known, *table.columns.get_level_values(1)])) if multi else None
    cfg = {
        "Task": sk.name or "keyskel",
        "scorer": scorer,
        "bodyparts": list(sk.node_names),
        "skeleton": [list(e) for e in sk.edge_names],
        "multianimalproject": bool(multi),
        "individuals": individuals,
    }
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yaml"
    if config.exists():
        warnings.warn(f"{config} exists and was left as it is (its skeleton edges apply)", stacklevel=5)
    else:
        atomic_write_text(config, yaml.safe_dump(cfg, sort_keys=False))
        written.append(config)
    tmp.replace(csv_path)
    if h5:
        tmp_h5.replace(p)
    return written
