"""Open a path as a :class:`~napari_keyskel.dataset.model.Dataset`, its format told from its content.

- a folder holding V7 Darwin files -> a V7 export (:class:`~._darwin.DarwinBackend`);
- a folder holding a DeepLabCut ``config.yaml`` (or the file itself) -> a DeepLabCut project;
- a folder holding media (videos, images, image folders, volumes) -> a folder of media
  (:class:`~._darwin.FolderBackend`; annotations go to ``annotations/``);
- a ``.json`` COCO keypoints file -> its items (:class:`~._coco.CocoBackend`);
- a SLEAP ``.slp`` file -> its videos (:class:`~._sleap.SleapBackend`).

A skeleton file (``*.skeleton.json``) beside the items is never an item.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from ..errors import FormatError
from ._media import media_in
from .model import Backend, Dataset

__all__ = ["DATASET_FORMATS", "backend_for", "open_dataset"]

#: What :func:`open_dataset` opens.
DATASET_FORMATS: dict[str, str] = {
    "darwin": "a V7 export folder (one Darwin file per item)",
    "folder": "a folder of videos, images, image folders and volumes",
    "coco": "a COCO keypoints file with many images or videos",
    "sleap": "a SLEAP .slp file with many videos",
    "dlc": "a DeepLabCut project (config.yaml)",
}


def _has_darwin_files(folder: Path, top_only: bool = False) -> bool:
    """True if the folder (``top_only``: its own files, not its sub-folders) holds a Darwin file."""
    from ..core.skeleton import SKELETON_FILE_SUFFIX
    from ..formats import detect_format
    from ..formats._jsonio import load_json
    from ..formats.darwin import looks_like_darwin

    if not top_only:
        try:
            return detect_format(folder) == "darwin"
        except FormatError:
            return False
    for f in sorted(folder.glob("*.json")):
        if f.name.endswith(SKELETON_FILE_SUFFIX) or not f.is_file():
            continue
        try:
            if looks_like_darwin(load_json(f)):
                return True
        except FormatError:
            continue
    return False


def backend_for(path: str | PathLike[str], format: str | None = None) -> Backend:
    """The backend that reads ``path`` (``format`` forces one of :data:`DATASET_FORMATS`)."""
    p = Path(path)
    if not p.exists():
        raise FormatError("no such file or folder", p)
    if format is not None and format not in DATASET_FORMATS:
        raise FormatError(f"unknown dataset format {format!r} (choose from {', '.join(DATASET_FORMATS)})", p)
    fmt = format or _detect(p)
    if fmt == "darwin":
        from ._darwin import DarwinBackend

        return DarwinBackend(p)
    if fmt == "folder":
        from ._darwin import FolderBackend

        return FolderBackend(p)
    if fmt == "coco":
        from ._coco import CocoBackend

        return CocoBackend(p)
    from ._sleap import DlcBackend, SleapBackend

    return SleapBackend(p) if fmt == "sleap" else DlcBackend(p)


def _detect(p: Path) -> str:
    if p.is_dir():
        if (p / "config.yaml").is_file() and (p / "labeled-data").is_dir():
            return "dlc"
        if _has_darwin_files(p, top_only=True):
            return "darwin"
        if media_in(p):
            return "folder"
        if _has_darwin_files(p):
            return "darwin"
        raise FormatError(
            "the folder holds no media (videos, images, image folders), no V7 Darwin file and no "
            "DeepLabCut config.yaml: not a dataset",
            p,
        )
    name = p.name.lower()
    if name == "config.yaml":
        return "dlc"
    if name.endswith(".slp"):
        return "sleap"
    if name.endswith(".json"):
        from ..formats import detect_format

        fmt = detect_format(p)
        if fmt == "coco":
            return "coco"
        raise FormatError("a single V7 Darwin file is one item: open its folder as a dataset", p)
    raise FormatError(
        "not a dataset: give a folder (V7 export, media, DeepLabCut project), a COCO .json or a SLEAP .slp", p
    )


def open_dataset(path: str | PathLike[str], format: str | None = None) -> Dataset:
    """Open a dataset (see the module docstring); items are listed now, the rest read lazily.

    Raises
    ------
    FormatError
        If the path is not a dataset, naming it and the reason.

    """
    return Dataset(backend_for(path, format))
