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
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ...errors import FormatError

__all__ = ["H5_SUFFIXES", "config_above", "load_dlc", "looks_like_dlc_h5", "need_tables"]

H5_SUFFIXES = (".h5", ".hdf5")
_KEYS = ("df_with_missing", "keypoints")  # DeepLabCut's key, napari-deeplabcut's
_HEADER = ("scorer", "individuals", "bodyparts", "coords")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def looks_like_dlc_h5(head: bytes) -> bool:
    """Whether the first bytes of a file are an HDF5 file written by pandas (a DataFrame store)."""
    return head.startswith(_HDF5_SIGNATURE) and b"pandas_type" in head


def need_tables(path: Path, hint: str) -> None:
    try:
        import tables  # noqa: F401  (pandas.read_hdf / to_hdf use PyTables)
    except ImportError:
        raise FormatError(f"DeepLabCut .h5 files need PyTables ({hint})", path) from None


def _h5_table(path: Path, hint: str) -> Any:
    """The DataFrame of a DeepLabCut ``.h5``, checked to have DeepLabCut's columns."""
    import pandas as pd

    need_tables(path, hint)
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

    The last item says whether a name was written with Windows separators (backslashes). A
    multi-animal file has four header rows (``individuals`` among them), a single-animal three.
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


def config_above(path: Path) -> Path | None:
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


def _remember(labels: Any, path: Path, multi: bool) -> None:
    """Keep in ``provenance`` what sleap-io drops: a multi-animal file, the project's individuals."""
    import yaml

    config = config_above(path)
    cfg = yaml.safe_load(config.read_text(encoding="utf-8")) if config is not None else None
    individuals = cfg.get("individuals") if isinstance(cfg, dict) else None
    labels.provenance["keyskel_dlc"] = {
        "multianimal": bool(multi),
        "individuals": [str(x) for x in individuals] if isinstance(individuals, list) else None,
    }


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
    multi = table.columns.nlevels == 4 if h5 else len(header) == 4
    if not h5 and not windows and len(found) == len(names):
        labels = sio.load_dlc(str(path))  # every image there: sleap-io reads the CSV itself
        _remember(labels, path, multi)
        return labels, order
    if not h5:
        import pandas as pd

        table = pd.read_csv(path, header=header, index_col=index_col)
    flat = table.iloc[found].copy()
    flat.index = [images[i] for i in found]  # absolute: found from the temporary CSV as from here
    config = config_above(path)
    with tempfile.TemporaryDirectory(prefix="keyskel-dlc-") as tmp:
        csv_path = Path(tmp) / f"{path.stem}.csv"
        flat.to_csv(csv_path)
        labels = sio.load_dlc(str(csv_path), config=str(config) if config else False)
    _remember(labels, path, multi)
    if len(found) < len(names):
        missing = next(n for n, img in zip(names, images) if img is None)
        warnings.warn(
            f"{path}: {len(names) - len(found)} of {len(names)} rows name an image that is not on disk "
            f"(first: {missing}); sleap-io reads a DeepLabCut row only with its image: those rows were "
            "not read",
            stacklevel=4,
        )
    return labels, order
