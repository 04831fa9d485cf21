"""DeepLabCut labelled data: the CSV through sleap-io, the ``.h5`` (the same table) through pandas.

A DeepLabCut ``CollectedData_<scorer>.h5`` is a pandas ``HDFStore`` holding one DataFrame (key
``df_with_missing``; napari-deeplabcut writes ``keypoints``), the same table as the CSV beside it:
columns ``scorer/[individuals/]bodyparts/coords``, one row per labelled image (an image path, or
since DeepLabCut 2.2 the tuple ``("labeled-data", <video>, <image>)``). DeepLabCut writes it
with ``DataFrame.to_hdf`` (PyTables "fixed" format, older versions ``format="table"``); both are
read with :func:`pandas.read_hdf`, which needs PyTables (``tables``, in the ``sleap`` extra).

An ``.h5`` is read by writing its table as the CSV DeepLabCut would write (image paths made
absolute, so sleap-io finds the images as it would beside the ``.h5``) to a temporary folder and
reading that with sleap-io, with the ``config.yaml`` found above the ``.h5`` (up to three
folders, as sleap-io looks above a CSV): skeleton, edges and images are read as for the CSV.
Writing ``.h5`` writes what DeepLabCut keeps: the ``.h5`` and the CSV of the same table.
"""

from __future__ import annotations

import csv
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ...core._atomic import atomic_write_bytes, atomic_write_text
from ...errors import FormatError

__all__ = ["H5_SUFFIXES", "load_dlc", "looks_like_dlc_h5", "save_dlc"]

H5_SUFFIXES = (".h5", ".hdf5")
_KEYS = ("df_with_missing", "keypoints")  # DeepLabCut's key, napari-deeplabcut's
_HEADER = ("scorer", "individuals", "bodyparts", "coords")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def looks_like_dlc_h5(head: bytes) -> bool:
    """Whether the first bytes of a file are an HDF5 file written by pandas (a DataFrame store)."""
    return head.startswith(_HDF5_SIGNATURE) and b"pandas_type" in head


def _need_tables(path: Path, hint: str) -> None:
    try:
        import tables  # noqa: F401  (pandas.read_hdf / to_hdf use PyTables)
    except ImportError:
        raise FormatError(f"DeepLabCut .h5 files need PyTables ({hint})", path) from None


def _h5_table(path: Path, hint: str) -> Any:
    """The DataFrame of a DeepLabCut ``.h5``, checked to have DeepLabCut's columns."""
    import pandas as pd

    _need_tables(path, hint)
    try:
        with pd.HDFStore(path, mode="r") as store:
            keys = [k.lstrip("/") for k in store]
            key = keys[0] if len(keys) == 1 else next((k for k in _KEYS if k in keys), None)
            if key is None:
                raise FormatError(f"a DeepLabCut .h5 holds one table; this one holds {keys}", path)
            table = store[key]
    except FormatError:
        raise
    except Exception as exc:  # PyTables / pandas raise many kinds: all mean "not a pandas store"
        last = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][-1:] or [""]  # not HDF5's trace
        raise FormatError(f"not a pandas HDF5 store ({type(exc).__name__}: {last[0]})", path) from None
    cols = getattr(table, "columns", None)
    if (
        not isinstance(table, pd.DataFrame)
        or not isinstance(cols, pd.MultiIndex)
        or cols.nlevels not in (3, 4)
        or not {"x", "y"} <= set(cols.get_level_values(-1))
    ):
        raise FormatError(
            "not a DeepLabCut table (columns scorer/[individuals/]bodyparts/coords with x and y)", path
        )
    names = _HEADER if cols.nlevels == 4 else (_HEADER[0], *_HEADER[2:])
    table.columns = cols.set_names(list(names))
    return table


def _csv_layout(path: Path) -> tuple[list[str], list[str], list[int], list[int] | int, bool]:
    """Body parts in the CSV's order, its rows' image names (``/``), header rows, index columns.

    The last item says whether a name was written with Windows separators (backslashes).
    """
    parts: dict[str, None] = {}
    header: list[int] = []
    names: list[str] = []
    index_col: list[int] | int = 0
    windows = False
    with open(path, newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.reader(fh)):
            if not row:
                continue
            if row[0] in _HEADER and not names:
                header.append(i)
                if row[0] == "bodyparts":
                    parts = dict.fromkeys(c for c in row[1:] if c)
            elif row[0] == "labeled-data" and len(row) > 2:  # DeepLabCut >= 2.2: three index columns
                names.append("/".join(row[:3]))
                index_col = [0, 1, 2]
            else:
                windows = windows or "\\" in row[0]
                names.append(row[0].replace("\\", "/"))
    return list(parts), names, header, index_col, windows


def _image_path(root: Path, name: str) -> str | None:
    """The image of a row, found where sleap-io looks beside a CSV in ``root`` (absolute), or ``None``."""
    rel = Path(name)
    for candidate in (root / rel, root / rel.name, root.parent / rel):
        if candidate.is_file():
            return str(candidate.absolute())
    return None


def _config_above(path: Path) -> Path | None:
    """A DeepLabCut ``config.yaml`` up to three folders above ``path`` (the rule sleap-io applies)."""
    import yaml

    start = path.resolve().parent
    for folder in [start, *start.parents][:4]:
        cfg = folder / "config.yaml"
        if cfg.is_file():
            try:
                obj = yaml.safe_load(cfg.read_text(encoding="utf-8"))
            except Exception:  # an unreadable config is not DeepLabCut's: keep looking
                continue
            keys = ("video_sets", "bodyparts", "scorer", "Task", "skeleton", "individuals")
            if isinstance(obj, dict) and sum(k in obj for k in keys) >= 2:
                return cfg
    return None


def load_dlc(sio: Any, path: Path, hint: str) -> tuple[Any, list[str]]:
    """sleap-io ``Labels`` of a DeepLabCut CSV or ``.h5``, and the body parts in the file's order.

    sleap-io reads a row only with its image, and numbers the images of a folder by the rows'
    order, so one missing image would shift the others: rows whose image is not on disk are
    left out (warned), and a :class:`FormatError` is raised when no image is found.
    """
    h5 = path.suffix.lower() in H5_SUFFIXES
    if h5:
        table = _h5_table(path, hint)
        order = list(dict.fromkeys(str(b) for b in table.columns.get_level_values("bodyparts")))
        names = [
            "/".join(map(str, i)) if isinstance(i, tuple) else str(i).replace("\\", "/") for i in table.index
        ]
    else:
        order, names, header, index_col, windows = _csv_layout(path)
    images = [_image_path(path.parent, n) for n in names]
    found = [i for i, img in enumerate(images) if img is not None]
    if names and not found:
        what = (
            "rows are video frame numbers (DeepLabCut predictions), not labelled images"
            if all(n.isdigit() for n in names)
            else f"none of the {len(names)} rows' images is on disk (first row: {names[0]})"
        )
        raise FormatError(
            f"nothing read: {what}; sleap-io reads a DeepLabCut row only with its image "
            "(labeled-data/<video>/<image>)",
            path,
        )
    if not h5 and not windows and len(found) == len(names):
        return sio.load_dlc(str(path)), order  # every image there: sleap-io reads the CSV itself
    if not h5:
        import pandas as pd

        table = pd.read_csv(path, header=header, index_col=index_col)
    flat = table.iloc[found].copy()
    flat.index = [images[i] for i in found]  # absolute: found from the temporary CSV as from here
    config = _config_above(path)
    with tempfile.TemporaryDirectory(prefix="keyskel-dlc-") as tmp:
        csv_path = Path(tmp) / f"{path.stem}.csv"
        flat.to_csv(csv_path)
        labels = sio.load_dlc(str(csv_path), config=str(config) if config else False)
    if len(found) < len(names):
        missing = next(n for n, img in zip(names, images) if img is None)
        warnings.warn(
            f"{path}: {len(names) - len(found)} of {len(names)} rows name an image that is not on disk "
            f"(first: {missing}); sleap-io reads a DeepLabCut row only with its image: those rows were "
            "not read",
            stacklevel=4,
        )
    return labels, order


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
    """Merge the image-list videos of one folder into one (YOLO and Label Studio make one per image).

    sleap-io's DeepLabCut writer names a row ``labeled-data/<video>/img<frame>.png``: one-image
    videos of one folder would all be ``img0000.png`` of the same video.
    """
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


def save_dlc(sio: Any, labels: Any, p: Path, hint: str) -> list[Path]:
    """The CSV (and for ``.h5`` the HDF5 table) through sleap-io, images where readable, a config.

    The scorer is ``<scorer>`` of a ``CollectedData_<scorer>`` file name, else ``sleap-io``. A
    file written in a DeepLabCut project's ``<project>/labeled-data/<video>/`` (where DeepLabCut
    keeps it) holds that one video: its images go beside it, its rows are
    ``labeled-data/<video>/img*.png`` and ``config.yaml`` goes to ``<project>``; elsewhere the
    images go to ``labeled-data/<video stem>/`` and ``config.yaml`` beside the file.
    """
    if p.suffix.lower() in H5_SUFFIXES:
        _need_tables(p, hint)
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
    pixels = {}
    for v in labels.videos:
        pixels[id(v)] = _reader(v)
        if in_project and v is used[0]:
            folder = p.parent.name
        elif isinstance(v.filename, list):  # sleap-io's DLC writer names rows after one video file
            folder = Path(v.filename[0]).parent.name or "images"
        else:
            continue
        shape = v.shape  # kept: sleap-io's writer names a video without a length "video"
        if shape is not None:
            v.backend_metadata["shape"] = tuple(int(n) for n in shape)
        v.filename, v.backend = f"{folder}.png", None  # rows: labeled-data/<folder>/img*.png
    stems = [Path(str(v.filename)).stem for v in used]
    twice = sorted({n for n in stems if stems.count(n) > 1})
    if twice:
        raise FormatError(
            f"DeepLabCut names rows after their video: several videos are named {twice[0]!r}", p
        )
    blind = [v for v in used if pixels[id(v)] is None]
    if blind:
        warnings.warn(
            f"{p}: no images written for {len(blind)} video(s) (cannot read {blind[0].filename!s}); "
            "sleap-io and DeepLabCut read a row only with its image: pass video= (--video)",
            stacklevel=4,
        )
    try:
        return _write_dlc_files(sio, labels, p, root, pixels, _scorer(p))
    finally:  # nothing half-written left behind
        for tmp in _tmp_files(p):
            tmp.unlink(missing_ok=True)


def _write_dlc_files(
    sio: Any, labels: Any, p: Path, root: Path, pixels: dict[int, Any], scorer: str
) -> list[Path]:
    import numpy as np
    import yaml

    h5 = p.suffix.lower() in H5_SUFFIXES
    csv_path = p.with_suffix(".csv") if h5 else p
    tmp, tmp_h5 = _tmp_files(p)
    scores = any(type(i).__name__ == "PredictedInstance" for lf in labels for i in lf.instances)
    sio.save_csv(labels, str(tmp), format="dlc", include_score=scores, scorer=scorer)
    written = [p, csv_path] if h5 else [p]
    if h5:
        import pandas as pd

        multi = len(labels.tracks) > 1  # sleap-io's rule for the individuals row
        table = pd.read_csv(tmp, header=[0, 1, 2, 3] if multi else [0, 1, 2], index_col=0)
        # DeepLabCut >= 2.2 rows: ("labeled-data", <video>, <image>); the CSV beside is the same table
        table.index = pd.MultiIndex.from_tuples([tuple(str(i).split("/")) for i in table.index])
        table.to_hdf(tmp_h5, key=_KEYS[0], mode="w")
        table.to_csv(tmp)
    for lf in labels:
        v, reader = lf.video, pixels.get(id(lf.video))
        if reader is None:
            continue
        img = root / "labeled-data" / Path(str(v.filename)).stem / f"img{lf.frame_idx:04d}.png"
        img.parent.mkdir(parents=True, exist_ok=True)
        frame = np.asarray(reader[lf.frame_idx])
        if frame.ndim == 3 and frame.shape[-1] == 1:
            frame = frame[..., 0]
        import imageio.v3 as iio

        atomic_write_bytes(img, iio.imwrite("<bytes>", frame, extension=".png"))
        written.append(img)
    sk = labels.skeletons[0]
    cfg = {
        "Task": sk.name or "keyskel",
        "scorer": scorer,
        "bodyparts": list(sk.node_names),
        "skeleton": [list(e) for e in sk.edge_names],
        "multianimalproject": len(labels.tracks) > 1,
        "individuals": [t.name for t in labels.tracks] if len(labels.tracks) > 1 else None,
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
