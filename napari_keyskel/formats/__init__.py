"""File formats: V7 Darwin JSON 2.0 and COCO keypoints, with a content-based dispatcher.

Both formats are ``.json``, so :func:`detect_format` looks inside: a dict with ``images``,
``annotations`` and ``categories`` lists (or a list of keypoint results) is COCO; a Darwin
document (``version`` 2.x with an ``item``, or 1.0 with an ``image``) is Darwin; a folder is
Darwin if it holds Darwin files (one per item).
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from ..core.annotation_set import AnnotationSet
from ..core.skeleton import SKELETON_FILE_SUFFIX, Skeleton
from ..errors import FormatError
from ._jsonio import gc_paused, load_json
from .coco import looks_like_coco, read_coco, write_coco
from .coco._read import coco_from_obj, load_coco_json

__all__ = ["FORMATS", "detect_format", "read", "read_detected", "write"]

Format = Literal["darwin", "coco", "cvat"]
#: Format names accepted by :func:`read` and :func:`write`.
FORMATS: tuple[str, ...] = ("darwin", "coco")


def _looks_like_darwin(obj: Any) -> bool:
    try:
        from .darwin import looks_like_darwin  # imported lazily: the Darwin module is optional here
    except ImportError:  # pragma: no cover - only while the Darwin module is missing
        return False
    return bool(looks_like_darwin(obj))


def _folder_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*.json")
        if p.is_file()
        and not p.name.endswith(SKELETON_FILE_SUFFIX)
        and ".v7" not in p.relative_to(folder).parts
    )


def _detect_obj(obj: Any, path: Path) -> str:
    if looks_like_coco(obj):
        return "coco"
    if _looks_like_darwin(obj):
        return "darwin"
    raise FormatError("neither a COCO keypoints file nor a V7 Darwin JSON file", path)


def detect_format(path: str | PathLike[str]) -> Format:
    """``"darwin"`` or ``"coco"``, from the content of a file (or the files of a folder).

    Raises
    ------
    FormatError
        If the path does not exist, or holds neither format.

    """
    p = Path(path)
    if p.is_dir():
        files = _folder_files(p)
        for f in files:
            try:
                obj = load_json(f)
            except FormatError:
                continue
            if _looks_like_darwin(obj):
                return "darwin"
        raise FormatError("the folder holds no V7 Darwin JSON file", p)
    if not p.exists():
        raise FormatError("no such file or folder", p)
    with gc_paused():
        return _detect_obj(load_json(p), p)  # type: ignore[return-value]


def _check_format(format: str | None, path: Path) -> None:
    if format is not None and format not in FORMATS:
        raise FormatError(f"unknown format {format!r} (choose from {', '.join(FORMATS)})", path)


def read(
    path: str | PathLike[str],
    skeleton: Skeleton | Mapping[str, Skeleton] | str | PathLike[str] | None = None,
    format: Format | None = None,
    **kwargs: Any,
) -> AnnotationSet:
    """Read a Darwin file/folder or a COCO file into a :class:`AnnotationSet`.

    Parameters
    ----------
    path
        A ``.json`` file, or a folder of Darwin files.
    skeleton
        Skeleton(s) for the classes / categories (see the format modules).
    format
        ``"darwin"`` or ``"coco"``; detected from the content when ``None``.
    **kwargs
        Passed to the format's reader (e.g. ``images=`` for a COCO results file).

    """
    return read_detected(path, skeleton, format, **kwargs)[0]


def read_detected(
    path: str | PathLike[str], skeleton: Any = None, format: Format | None = None, **kwargs: Any
) -> tuple[AnnotationSet, Format]:
    """Like :func:`read`, also returning the format; a file is parsed only once."""
    p = Path(path)
    from .cvat import detect_cvat, read_cvat

    if format == "cvat" or (format is None and detect_cvat(p)):
        return read_cvat(p, skeleton), "cvat"
    from .sleap import SLEAP_FORMATS, detect_sleap_format, read_sleap  # sleap-io bridge (optional extra)

    bridged = format if format in SLEAP_FORMATS else (detect_sleap_format(p) if format is None else None)
    if bridged:
        return read_sleap(p, skeleton, bridged), bridged  # type: ignore[return-value]
    _check_format(format, p)
    if format is None:
        if p.is_dir():
            format = detect_format(p)
        else:
            with gc_paused():
                obj, bools = load_coco_json(p)  # parse once: detect, then build from the same object
                format = _detect_obj(obj, p)  # type: ignore[assignment]
                ds = (
                    coco_from_obj(obj, p, skeleton, kwargs.get("images"), bools) if format == "coco" else None
                )
                del obj  # freed while the collector is paused: else its first run walks the document
            if ds is not None:
                return ds, "coco"
    if format == "coco":
        return read_coco(p, skeleton, **kwargs), "coco"
    if kwargs.get("images") is not None:
        raise FormatError("'images' (a COCO ground truth) applies to COCO results files only", p)
    kwargs.pop("images", None)
    from .darwin import read_darwin

    return read_darwin(p, skeleton, **kwargs), "darwin"


def write(dataset: AnnotationSet, path: str | PathLike[str], format: Format, **kwargs: Any) -> list[Path]:
    """Write ``dataset`` as ``format`` (``"darwin"`` or ``"coco"``); returns the files written.

    ``**kwargs`` go to :func:`~napari_keyskel.formats.darwin.write_darwin` or
    :func:`~napari_keyskel.formats.coco.write_coco`.
    """
    p = Path(path)
    if format == "cvat":
        from .cvat import write_cvat

        return write_cvat(dataset, p, **kwargs)
    from .sleap import SLEAP_FORMATS, write_sleap  # sleap-io bridge (optional extra)

    if format in SLEAP_FORMATS:
        return write_sleap(dataset, p, format, **kwargs)
    if format not in FORMATS:
        raise FormatError(f"unknown format {format!r} (choose from {', '.join(FORMATS)})", p)
    if format == "coco":
        return write_coco(dataset, p, **kwargs)
    from .darwin import write_darwin

    return write_darwin(dataset, p, **kwargs)
