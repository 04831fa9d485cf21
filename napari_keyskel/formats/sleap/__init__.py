"""Pose formats of the rest of the field, read and written through sleap-io (an optional extra).

``pip install "napari-keyskel[sleap]"`` installs `sleap-io <https://io.sleap.ai>`_; without it
every call here raises :class:`~napari_keyskel.errors.FormatError` saying what to install.

Formats (the names ``keyskel convert --to`` takes):

- ``sleap``: SLEAP ``.slp`` (skeletons with edges and symmetries, tracks, user and predicted
  instances with scores, videos, frame indices; our track ids ride in ``provenance``);
- ``dlc``: DeepLabCut CSV (``scorer/[individuals/]bodyparts/coords`` header) or ``.h5`` (the same
  table in a pandas HDF5 store, read and written through pandas and PyTables, see :mod:`._dlc`).
  sleap-io reads a row only with its image beside the file (``labeled-data/<video>/img*.png``;
  rows without one are warned about) and takes edges from a ``config.yaml`` up to three folders
  above. We write the CSV (for ``.h5``: the ``.h5`` and the CSV DeepLabCut keeps beside it), the
  images when the source video can be read, and a ``config.yaml`` (bodyparts, edges,
  individuals; the scorer from a ``CollectedData_<scorer>`` name);
- ``yolo``: an Ultralytics YOLO-pose dataset folder (``data.yaml``, ``<split>/images``,
  ``<split>/labels``); every split it names is read (train, val, test), ours writes ``train``;
  coordinates are normalised to the image, so writing needs the frames' images (``video=`` or
  the dataset's own readable video); tracks are numbered by their order on each image, as
  sleap-io does; every label row is checked (:mod:`._yolo`: a row cut short or with a value
  that is not a number is a ``FormatError`` naming the file and line);
- ``nwb``: NWB with ndx-pose (``PoseTraining`` for user labels, ``PoseEstimation`` for
  predictions); track names and left/right pairs are not kept by sleap-io's NWB writer. Files
  sleap-io did not write (DLC2NWB, ndx-pose 0.1 and 0.2+) are read by
  :mod:`napari_keyskel.formats.nwb` through pynwb and ndx-pose;
- ``labelstudio``: Label Studio JSON tasks (a list of tasks with ``annotations``), read and
  written by :mod:`napari_keyskel.formats.labelstudio` as Label Studio writes them (sleap-io is
  not needed); no edges in the file: give ``skeleton=``, else a preset matching the node names
  is used.

Rules of the conversion (see :mod:`._labels`):

- one annotation store per sleap-io skeleton; node names, edges and symmetries (flip pairs) kept;
- frames: every frame of every video in order (``item`` = video file, ``frame`` = frame index;
  an image-list video gives one frame per image, ``item`` = the image); ``sleap_video`` and
  ``sleap_frame`` in each frame entry give the exact place back on write;
- tracks: a sleap-io track is one instance (its name kept; its id from ``provenance`` when we
  wrote the file, else its position + 1); untracked instances become one track per position on
  the frame; a user instance wins over a prediction of the same track on the same frame (warned);
- visibility: ``visible`` -> 2, NaN -> not placed; a node placed but not visible is occluded (1)
  in ``.slp`` (SLEAP draws it greyed at its place) and not placed in the other formats, whose
  sleap-io readers fill an unread node with ``(0, 0)``, not visible. Writing, 1 is
  ``visible=False`` with its position, so only ``.slp`` keeps occluded nodes;
- scores: a ``PredictedInstance``'s per-node scores go to ``Track.score``, its instance score to
  ``Track.meta["sleap"]["instance_score"]`` (keyed by frame, as a string); nodes with a score
  are written back as predictions;
- coordinates: sleap-io (x, y) with integer positions at pixel centres (:data:`SLEAP_OFFSET`);
- keys: sleap-io has no interpolated flag. Our ``.slp`` files list the interpolated points in
  ``provenance["keyskel"]["interpolated"]`` so they come back as interpolated; from any other
  file every point read is a key;
- what a format cannot hold (:mod:`._losses`) is said in one ``FormatWarning`` after the write.
"""

from __future__ import annotations

import os
import warnings
from os import PathLike
from pathlib import Path
from typing import Any

from ...core.annotation_set import AnnotationSet
from ...core.skeleton import Skeleton
from ...errors import FormatError
from .._checks import warn
from ._dlc import H5_SUFFIXES, load_dlc, looks_like_dlc_h5
from ._dlc_write import save_dlc
from ._labels import SLEAP_OFFSET, dataset_to_labels, labels_to_dataset
from ._losses import losses
from ._yolo import load_yolo

# sleap-io reads and writes videos through imageio-ffmpeg, which starts ffmpeg with
# ``preexec_fn=os.setpgrp``: Python code in the forked child, which deadlocks when another thread
# (napari's, a video read-ahead) held a lock at the fork (imageio-ffmpeg issue 58). Without it,
# Ctrl-C in a terminal also reaches ffmpeg; a person's own setting wins.
os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")

__all__ = [
    "INSTALL_HINT",
    "SLEAP_FORMATS",
    "SLEAP_OFFSET",
    "detect_sleap_format",
    "import_sleap_io",
    "read_sleap",
    "write_sleap",
]

#: Format names of this bridge, with what they are.
SLEAP_FORMATS: dict[str, str] = {
    "sleap": "SLEAP .slp",
    "dlc": "DeepLabCut CSV / .h5",
    "yolo": "Ultralytics YOLO-pose dataset",
    "nwb": "NWB (ndx-pose)",
    "labelstudio": "Label Studio JSON",
}
INSTALL_HINT = 'install the sleap-io bridge: pip install "napari-keyskel[sleap]"'


def import_sleap_io(path: Any = None) -> Any:
    """The ``sleap_io`` module, or :class:`FormatError` saying what to install."""
    try:
        import sleap_io
    except ImportError:
        raise FormatError(
            f"SLEAP, DeepLabCut, YOLO, NWB and Label Studio files need sleap-io ({INSTALL_HINT})",
            path,
        ) from None
    return sleap_io


def _head(p: Path, n: int = 4096) -> bytes:
    try:
        with open(p, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def detect_sleap_format(path: str | PathLike[str]) -> str | None:
    """The bridge format of ``path`` from its name and first bytes, or ``None`` (no sleap-io needed)."""
    p = Path(path)
    if p.is_dir():
        if (p / "data.yaml").is_file():
            return "yolo"
        return None
    if not p.is_file():
        return None
    name = p.name.lower()
    if name.endswith(".slp"):
        return "sleap"
    if name.endswith(".nwb"):
        return "nwb"
    if name == "data.yaml":
        return "yolo"
    if name.endswith(H5_SUFFIXES):
        return "dlc" if looks_like_dlc_h5(_head(p, 1 << 16)) else None
    if name.endswith(".csv"):
        head = _head(p).lower()
        return "dlc" if head.startswith(b"scorer") and b"coords" in head else None
    if name.endswith(".json"):
        head = _head(p, 1 << 16).lstrip()  # a task's "data" may come before its "annotations"
        if (
            head[:1] == b"["
            and b'"annotations"' in head
            and b'"result"' in head
            and b'"image_id"' not in head
        ):
            return "labelstudio"
    return None


def _check(fmt: str | None, path: Path) -> str:
    if fmt not in SLEAP_FORMATS:
        raise FormatError(f"not a sleap-io format: {fmt!r} (choose from {', '.join(SLEAP_FORMATS)})", path)
    return fmt


def read_sleap(
    path: str | PathLike[str],
    skeleton: Skeleton | str | PathLike[str] | None = None,
    format: str | None = None,
) -> AnnotationSet:
    """Read a SLEAP / DeepLabCut / YOLO-pose / NWB / Label Studio file into a :class:`AnnotationSet`.

    Parameters
    ----------
    path
        The file (for YOLO: the dataset folder or its ``data.yaml``).
    skeleton
        Optional skeleton whose node names cover the file's (sets node order and edges).
    format
        One of :data:`SLEAP_FORMATS`; detected when ``None``.

    """
    p = Path(path)
    if not p.exists():
        raise FormatError("no such file or folder", p)
    fmt = _check(format or detect_sleap_format(p), p)
    given = Skeleton.load(skeleton) if isinstance(skeleton, (str, PathLike)) else skeleton
    if given is not None and not isinstance(given, Skeleton):
        raise FormatError("a sleap-io file takes one Skeleton (or a skeleton file), not a mapping", p)
    if fmt == "labelstudio":  # read as Label Studio writes it (sleap-io needs its own meta.video)
        from ..labelstudio import read_labelstudio

        return read_labelstudio(p, given)
    if fmt == "nwb":
        from ..nwb import is_sleap_io_layout, read_nwb_pose

        if not is_sleap_io_layout(p):  # DLC2NWB, ndx-pose 0.1 and 0.2+: through pynwb and ndx-pose
            return read_nwb_pose(p, given)
    sio = import_sleap_io(p)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            labels, order = _load(sio, p, fmt, given)
    except FormatError:
        raise
    except Exception as exc:  # sleap-io and h5py raise many kinds; all mean "cannot read this file"
        raise FormatError(
            f"sleap-io cannot read it as {SLEAP_FORMATS[fmt]} ({type(exc).__name__}: {_one_line(exc)})", p
        ) from None
    if not labels.skeletons and not labels.labeled_frames:
        raise FormatError(f"no skeleton and no labelled frame in this {SLEAP_FORMATS[fmt]} file", p)
    ds = labels_to_dataset(sio, labels, p, given, fmt, order if given is None else None)
    dlc = labels.provenance.get("keyskel_dlc") if isinstance(labels.provenance, dict) else None
    if isinstance(dlc, dict):  # a multi-animal file and the project's individuals, for the write
        ds.meta["sleap"]["dlc"] = dlc
    return ds


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's message on one short line (sleap-io's may hold a whole task, or a traceback)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _load(sio: Any, p: Path, fmt: str, skeleton: Skeleton | None) -> tuple[Any, list[str] | None]:
    """sleap-io's ``Labels`` of the file, and its node order where sleap-io's reader loses it."""
    if fmt == "sleap":
        return sio.load_slp(str(p), open_videos=False), None
    if fmt == "nwb":
        return sio.load_nwb(str(p)), None
    if fmt == "dlc":
        return load_dlc(sio, p, INSTALL_HINT)
    return load_yolo(sio, p), None


def write_sleap(
    dataset: AnnotationSet,
    path: str | PathLike[str],
    format: str,
    video: Any = None,
    fallback_video: Any = None,
) -> list[Path]:
    """Write ``dataset`` in a sleap-io format; returns the files (or folder) written.

    Parameters
    ----------
    dataset
        What to write.
    path
        The file; for ``yolo`` the dataset folder (or its ``data.yaml``).
    format
        One of :data:`SLEAP_FORMATS`.
    video
        The frames' video or image files (a path, a list of image paths or a ``sleap_io.Video``;
        dataset frame ``f`` is its frame ``f``), in place of the videos the dataset names.
        YOLO-pose needs the pixels to write its images, DeepLabCut writes them when it can.
    fallback_video
        Like ``video``, used only when the videos the dataset names cannot be read (e.g. the
        image a viewer shows).

    Nothing is written when the data cannot be held (:class:`FormatError`).

    """
    p = Path(path)
    fmt = _check(format, p)
    if fmt == "yolo" and p.name == "data.yaml":
        p = p.parent  # the dataset is data.yaml's folder
    if not dataset.stores:
        raise FormatError("nothing to write: the dataset has no annotation set", p)
    if fmt == "labelstudio":  # written as Label Studio exports it (and sleap-io reads it)
        from ..labelstudio import write_labelstudio

        written = write_labelstudio(dataset, p)
        _warn_losses(dataset, fmt, p)
        return written
    sio = import_sleap_io(p)
    if fmt in ("dlc", "yolo") and len(dataset.stores) > 1:
        raise FormatError(
            f"{SLEAP_FORMATS[fmt]} holds one skeleton; the dataset has {len(dataset.stores)}", p
        )
    labels = dataset_to_labels(sio, dataset, video)
    if video is None and fallback_video is not None and not all(v.exists() for v in labels.videos):
        labels = dataset_to_labels(sio, dataset, fallback_video)
    if fmt == "yolo":
        missing = [v.filename for v in labels.videos if not v.exists()]
        if missing:
            raise FormatError(
                f"YOLO-pose stores images; the frames' images cannot be read ({missing[0]!s}): pass video=", p
            )
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            written = _save(sio, labels, p, fmt)
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError(
            f"sleap-io cannot write it as {SLEAP_FORMATS[fmt]} ({type(exc).__name__}: {_one_line(exc)})", p
        ) from None
    _warn_losses(dataset, fmt, p)
    return written


def _warn_losses(dataset: AnnotationSet, fmt: str, p: Path) -> None:
    lost = losses(dataset, fmt)
    if lost:
        warn(
            f"{SLEAP_FORMATS[fmt]} cannot hold {'; '.join(x.text for x in lost)}: written without them "
            "(V7 Darwin JSON or COCO keypoints keep everything)",
            p,
        )


def _nwb_references(sio: Any, labels: Any) -> None:
    """Let sleap-io's NWB writer reference every video so that sleap-io reads it back.

    The writer stores a video as an external file reference (its name, frame count and size) but
    takes only sleap-io's media and image-list backends; a TIFF stack or a video not on disk
    (no backend) gets a stand-in image backend that is never read, its shape kept in metadata.
    sleap-io's NWB reader cannot read an image series of several files back (``load_nwb``
    fails): an image-list video is written as one video per image.
    """
    from sleap_io.io.video_reading import ImageVideo, MediaVideo

    for v in [v for v in labels.videos if isinstance(v.filename, list) and len(v.filename) > 1]:
        ones = [
            sio.Video.from_filename([str(f)])
            if Path(str(f)).is_file()
            else sio.Video(filename=[str(f)], open_backend=False)
            for f in v.filename
        ]
        for lf in labels.labeled_frames:
            if lf.video is v:
                lf.video, lf.frame_idx = ones[int(lf.frame_idx)], 0
        i = next(i for i, x in enumerate(labels.videos) if x is v)
        labels.videos = [*labels.videos[:i], *ones, *labels.videos[i + 1 :]]
    for v in labels.videos:
        if isinstance(v.backend, (MediaVideo, ImageVideo)):
            continue
        shape = v.shape
        if shape is not None:
            v.backend_metadata["shape"] = tuple(int(n) for n in shape)
        v.backend = ImageVideo(filename=[f"{Path(str(v.filename)).name}.keyskel-reference"], plugin="imageio")


def _save(sio: Any, labels: Any, p: Path, fmt: str) -> list[Path]:
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.stem}.keyskel-tmp{p.suffix}")  # same suffix: pynwb warns otherwise
    if fmt == "yolo":
        sio.save_ultralytics(labels, str(p), split_ratios={"train": 1.0}, verbose=False)
        return [p / "data.yaml"]
    if fmt == "dlc":
        return save_dlc(sio, labels, p, INSTALL_HINT)
    if fmt == "sleap":
        sio.save_slp(labels, str(tmp), verbose=False)
    else:
        _nwb_references(sio, labels)
        sio.save_nwb(labels, str(tmp))
    tmp.replace(p)  # sleap-io writes in place: write beside, then rename (nothing half-written)
    return [p]
