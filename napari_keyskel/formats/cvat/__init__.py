"""CVAT XML 1.1 with skeletons: ``CVAT for video 1.1`` (tracks) and ``CVAT for images 1.1``.

What CVAT users export (``annotations.xml``, alone or in CVAT's zip), read and written as
CVAT's own exporter (``cvat/apps/dataset_manager/formats/cvat.py``) lays it out; see
:mod:`._xml` for the elements and :mod:`._view` for what CVAT shows on each frame.

Rules of the conversion:

- one annotation store per skeleton label; nodes in the order of the label's elements
  (the ``points`` labels whose ``parent`` is the skeleton), edges from the label's ``svg``;
- video: the frame table is every frame of the task (``item`` = the task's ``source`` video,
  ``frame`` = the video's frame number: ``start_frame + i * step``); each ``<track>`` is one
  instance (track id = CVAT id + 1). Each frame holds what CVAT shows there: per element, the
  line between that element's keyframes (``keyframe="1"``; in-betweens are recomputed, as CVAT
  does on import), nothing from an ``outside`` keyframe on, the last keyframe held to the task's
  ``stop_frame`` when never marked outside. Keyframes are keys; an ``outside`` keyframe is an
  unlabelled key ("not here"); in-betweens and held frames are interpolated points; frames
  where no element shows are outside the instance's lifespan;
- images: one frame per ``<image>`` (``item`` = its name); the j-th skeleton of a label on an
  image is instance j (CVAT for images keeps no identity across images); an ``outside``
  element is an unlabelled key;
- ``occluded="1"`` is occluded (visibility 1); attributes, ``z_order``, ``source`` and
  ``group_id`` are kept per frame in the instance's ``meta["cvat"]``; the file's ``<meta>``
  (task, labels, segments) and every shape that is not a skeleton (boxes, polygons, tags,
  tracks of other labels) are kept as they are and written back;
- coordinates: CVAT (x, y) with integer positions at pixel centres (:data:`CVAT_OFFSET`).

Writing picks video when every frame comes from one video (or the file read was a video
export), else images (``mode=`` chooses). Video writes a ``<skeleton>`` on every frame from an
instance's first shown frame to its last, ``keyframe="0"`` on in-betweens, and makes a frame a
keyframe wherever CVAT's linear interpolation would show another position than ours (cubic
interpolation, a hold). What CVAT cannot hold (scores, instance names, left/right pairs, other
meta; for images, interpolated positions and identity across images) is said in one
:class:`~napari_keyskel.errors.FormatWarning`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from ...core._atomic import atomic_write_text
from ...core.annotation_set import AnnotationSet
from ...core.skeleton import Skeleton
from ...errors import FormatError
from .._checks import warn
from ._read import CVAT_OFFSET, META, document_to_set
from ._write import to_xml
from ._xml import parse

__all__ = ["CVAT_OFFSET", "detect_cvat", "read_cvat", "write_cvat"]

MODES = ("video", "images")


def _bytes(p: Path) -> bytes:
    """The XML of a CVAT file: the ``.xml`` itself, or ``annotations.xml`` inside CVAT's zip."""
    if p.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(p) as z:
                names = [n for n in z.namelist() if Path(n).name == "annotations.xml"]
                if not names:
                    raise FormatError("the zip holds no annotations.xml (not a CVAT export)", p)
                return z.read(min(names, key=len))
        except zipfile.BadZipFile:
            raise FormatError("not a zip file", p) from None
    try:
        return p.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read it ({exc.strerror or type(exc).__name__})", p) from None


def detect_cvat(path: str | PathLike[str]) -> bool:
    """Whether ``path`` is a CVAT XML file (``<annotations>`` with ``<version>``) or CVAT's zip."""
    p = Path(path)
    if not p.is_file():
        return False
    if p.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(p) as z:
                return any(Path(n).name == "annotations.xml" for n in z.namelist())
        except (zipfile.BadZipFile, OSError):
            return False
    if p.suffix.lower() != ".xml":
        return False
    try:
        with open(p, "rb") as fh:
            head = fh.read(2048)
    except OSError:
        return False
    return b"<annotations>" in head and b"<version>" in head


def read_cvat(
    path: str | PathLike[str], skeleton: Skeleton | Mapping[str, Skeleton] | None = None
) -> AnnotationSet:
    """Read a CVAT for video / for images 1.1 XML file (or CVAT's zip) into an :class:`AnnotationSet`.

    Parameters
    ----------
    path
        ``annotations.xml`` or the zip CVAT exports.
    skeleton
        Skeleton(s) to use in place of the file's labels, by label name (one skeleton: for the
        file's only skeleton label).

    """
    p = Path(path)
    doc = parse(p, _bytes(p))
    given: dict[str, Skeleton] | None = None
    if isinstance(skeleton, Skeleton):
        names = {lb.name for lb in doc.labels if lb.type == "skeleton"} | {t.label for t in doc.tracks}
        if len(names) != 1:
            raise FormatError(f"one skeleton given for a file with skeleton labels {sorted(names)}", p)
        given = {names.pop(): skeleton}
    elif skeleton is not None:
        given = dict(skeleton)
    return document_to_set(doc, p, given)


def _mode(ds: AnnotationSet, mode: str | None, p: Path) -> str:
    if mode is not None:
        if mode not in MODES:
            raise FormatError(f"mode must be one of {MODES}, not {mode!r}", p)
        return mode
    own = ds.meta.get(META)
    if isinstance(own, dict) and own.get("mode") in MODES:
        return str(own["mode"])
    items = {str(fr.get("item")) for fr in ds.frames}
    return "video" if len(items) <= 1 and ds.n_frames > 1 else "images"


def write_cvat(dataset: AnnotationSet, path: str | PathLike[str], mode: str | None = None) -> list[Path]:
    """Write ``dataset`` as CVAT XML 1.1 (``mode`` ``"video"`` or ``"images"``; see the module doc).

    Returns the file written. What CVAT cannot hold is said in one warning.
    """
    from ..sleap._losses import losses

    p = Path(path)
    m = _mode(dataset, mode, p)
    if not dataset.stores:
        raise FormatError("nothing to write: the dataset has no annotation set", p)
    for store in dataset.stores:
        if store.coord_ndim != 2 or store.frame_axis not in (0, None):
            raise FormatError(
                f"annotation set {store.name!r} is not 2-D over frames; CVAT holds 2-D points", p
            )
    atomic_write_text(p, to_xml(dataset, m))
    lost = losses(dataset, f"cvat_{m}")
    if m == "images":
        spread = sum(
            len({f for f in range(t.start, t.stop) if t.alive[f - t.start]}) > 1
            for s in dataset.stores
            for t in s
        )
        if spread and not _by_position(dataset):
            lost.append(
                _Loss("identity", spread, f"the identity of {spread} instances seen on several images")
            )
    if lost:
        warn(f"CVAT for {m} cannot hold {'; '.join(x.text for x in lost)}: written without them", p)
    return [p]


def _by_position(ds: AnnotationSet) -> bool:
    own = [t.meta.get(META) for s in ds.stores for t in s]
    return all(isinstance(m, dict) and m.get("by_position") for m in own)


def _Loss(fact: str, count: int, text: str) -> Any:
    from ..sleap._losses import Loss

    return Loss(fact, count, text)
