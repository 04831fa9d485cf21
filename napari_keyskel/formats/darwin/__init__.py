"""V7 Darwin JSON 2.0: read and write (rules of the format: docs/FORMATS.md §1, §3).

Mapping to the model:

- one :class:`AnnotationStore` per class (annotation ``name``) holding ``skeleton`` annotations;
  a ``keypoint`` class becomes a store whose skeleton has one node named after the class;
- ``AnnotationSet.frames`` has one entry per global frame: ``item``, ``slot``, ``frame`` (index inside
  the slot), ``width``/``height`` when known, ``slot_type`` and ``darwin_file`` (the file the item
  came from). Slots and items (files of a folder) are concatenated in order; an image slot is one
  frame, a video or dicom slot (a volume: slices are frames) as many as it has. A stated
  ``frame_count`` larger than :data:`~napari_keyskel.formats._checks.MAX_FRAMES` (with no frame
  URLs to match) is not believed: the table holds the frames annotated, with a warning;
- one track per annotation. Its id is ours from the ``keyskel`` extra, else ``instance_id.value``
  if no earlier annotation of the class took it, else a new id (V7's value is kept and written
  back); ``ranges`` minus ``hidden_areas`` -> ``alive``; ``occluded`` -> visibility 1, else 2;
- keys: on a frame with ``keyframe: true`` every node written is a key and every node of the
  skeleton missing there (or written without a position) an *unlabelled key* ("not here":
  interpolation ends at it); on other frames nothing is a key. The ``keyskel`` extra gives the
  exact per-node keys where they differ (one keyed node on an interpolated frame), per-node
  model scores, track names and other formats' meta (see :mod:`._extras`);
- V7's own interpolation: an ``"interpolated": true`` video annotation listing only some frames
  (V7 import files, scripts) is filled as V7 shows it and written back as read
  (:mod:`._v7fill`); the interpolation method travels in the document extra (``store.method``);
- Darwin (x, y) measure from the image corner: ``x = col + 0.5`` (see ``_coords.py``);
- everything else (other annotation types, unknown keys at every level) is kept in
  ``meta["darwin"]`` of the dataset, store and tracks, and written back in place.

3D skeletons in volumes (stores with (z, y, x) nodes, ``coord_ndim=3``) are written and read by
:mod:`._volume3d`: one ``keypoint`` annotation per node on its slice of a ``dicom`` slot, tied by
``instance_id``; a time series of volumes ((t, z, y, x)) is one item per time point, since a V7
dicom slot holds one volume (docs/FORMATS.md §4.5).

Edges are not stored in V7 files: a skeleton comes from the ``skeleton`` argument, a
``<class>.skeleton.json`` beside the data, the skeleton in our document extra, a preset matching
the node names, or (last) the node names seen in the file, without edges. :func:`write_darwin`
writes the skeleton into its first document's extra and into side files (unique names per class).

Files our writer made from another format read back as that dataset (:mod:`._made`).
:func:`read_item` / :func:`write_item` handle one item file at a time (atomic write).

Bad input raises :class:`~napari_keyskel.errors.FormatError` naming the file and the place; things
read in a way the author may not expect emit :class:`~napari_keyskel.errors.FormatWarning`.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from ...core.annotation_set import AnnotationSet
from ...core.skeleton import SKELETON_FILE_SUFFIX, Skeleton
from ...errors import FormatError
from .._checks import check_path, load_skeleton_file, regular_file
from .._jsonio import gc_paused, load_json
from ._made import forget_made
from ._parse import ItemRecord, is_darwin_doc, parse_document
from ._tracks import build_dataset
from ._volume3d import is_volume_doc, volume_dataset
from ._write import write_darwin

__all__ = ["looks_like_darwin", "read", "read_darwin", "read_item", "write", "write_darwin", "write_item"]

SkeletonArg = Skeleton | Mapping[str, Skeleton] | str | PathLike | None


def looks_like_darwin(obj: Any) -> bool:
    """True if parsed JSON ``obj`` is a V7 Darwin 2.x document (or a Darwin 1.0 one)."""
    return is_darwin_doc(obj)


# -- files ------------------------------------------------------------------------------------
def _darwin_files(folder: Path) -> list[Path]:
    """The JSON files of a folder to read as Darwin items (``.v7/`` and skeleton files skipped)."""
    out = []
    for p in sorted(folder.rglob("*.json")):
        rel = p.relative_to(folder)
        if ".v7" in rel.parts[:-1] or p.name.endswith(SKELETON_FILE_SUFFIX) or not p.is_file():
            continue
        out.append(p)
    return out


def folder_files(path: Path) -> tuple[list[Path], list[str], list[Path]]:
    """The Darwin files read for ``path`` (a file or folder), their keys, and the folders they are in."""
    if path.is_dir():
        files = _darwin_files(path)
        if not files:
            raise FormatError("the folder holds no Darwin JSON files", path)
        keys = [f.relative_to(path).as_posix() for f in files]
        dirs = [path, *sorted({f.parent for f in files} - {path})]
        return files, keys, dirs
    if path.exists():
        return [regular_file(path)], [path.name], [path.parent]
    raise FormatError("no such file or folder", path)


def parse_files(
    files: list[Path], keys: list[str], tables: dict[str, dict[str, int]]
) -> tuple[list[ItemRecord], list[tuple[Any, Path]]]:
    """Phase 1 of a read, file by file (the part a parallel read splits): items, and 3D volume documents."""
    items, volume = [], []
    for f, key in zip(files, keys):
        doc = load_json(f)
        if is_volume_doc(doc):  # our 3D skeletons in volumes (see ._volume3d)
            volume.append((doc, f))
            continue
        items.append(parse_document(doc, f, key, tables))
    return items, volume


def order_items(items: list[ItemRecord], volume: list[tuple[Any, Path]], path: Path) -> list[ItemRecord]:
    """The items of every file parsed, in the order our writer wrote them when it said so."""
    if volume and items:
        raise FormatError("the folder mixes 3D volume files and other Darwin files; read them apart", path)
    orders = [it.extra.order for it in items if it.extra is not None and it.extra.order is not None]
    if len(items) > 1 and len(orders) == len(items) and len(set(orders)) == len(orders):
        items = [it for _, it in sorted(zip(orders, items), key=lambda p: p[0])]  # the order written
    return items


def _load_items(
    path: Path, tables: dict[str, dict[str, int]]
) -> tuple[list[ItemRecord], list[Path], list[tuple[Any, Path]]]:
    """The items of the file(s), their folders, and our 3D volume documents (read apart)."""
    files, keys, dirs = folder_files(path)
    items, volume = parse_files(files, keys, tables)
    return order_items(items, volume, path), dirs, volume


def read_darwin(path: str | PathLike[str], skeleton: SkeletonArg = None) -> AnnotationSet:
    """Read a V7 Darwin JSON file, or a folder of them (one file per item), as one dataset.

    Parameters
    ----------
    path
        A Darwin JSON file, or a folder of them (read recursively; ``.v7/`` metadata and
        ``*.skeleton.json`` files are skipped, any other JSON must be Darwin).
    skeleton
        The skeleton of every skeleton class, a ``{class name: Skeleton}`` mapping, or a skeleton
        file. Classes it does not cover use a ``<class>.skeleton.json`` beside the data, then a
        preset with the same node names, then the node names found in the file (no edges).

    Returns
    -------
    AnnotationSet
        One store per skeleton / keypoint class; other annotations kept in ``meta["darwin"]``.

    Raises
    ------
    FormatError
        For any problem with the input; the message names the file and the place in it.

    """
    path = check_path(path)
    skeleton = skeleton_arg(skeleton)
    with gc_paused():
        tables: dict[str, dict[str, int]] = {}
        items, dirs, volume = _load_items(path, tables)
        return dataset_of(items, dirs, volume, skeleton, tables, path)


def skeleton_arg(skeleton: SkeletonArg) -> Skeleton | Mapping[str, Skeleton] | None:
    """The ``skeleton`` argument of :func:`read_darwin` with a skeleton file loaded."""
    if isinstance(skeleton, (str, PathLike)):
        return load_skeleton_file(check_path(skeleton))
    return skeleton


def dataset_of(
    items: list[ItemRecord], dirs: list[Path], volume: list[tuple[Any, Path]], skeleton: Any,
    tables: dict[str, dict[str, int]], path: Path,
) -> AnnotationSet:  # fmt: skip
    """Phase 2 of a read: the dataset of the parsed (and ordered) items, or of the volume documents."""
    if volume:
        return volume_dataset(volume, str(path))
    return forget_made(build_dataset(items, dirs, skeleton, tables, path), items)


def read_item(path: str | PathLike[str], skeleton: SkeletonArg = None) -> AnnotationSet:
    """Read one Darwin item file on its own (one item of a V7 export), as :func:`read_darwin` does.

    For tools that go through a folder item by item. Anything under the document's ``keyskel``
    extra that keyskel does not use (a per-item status, say) is kept and written back by
    :func:`write_item`.

    Raises
    ------
    FormatError
        If ``path`` is a folder, or for any problem with the file.

    """
    p = check_path(path)
    if p.is_dir():
        raise FormatError("expected one Darwin item file, got a folder", p)
    return read_darwin(p, skeleton)


def write_item(dataset: AnnotationSet, path: str | PathLike[str], *, skeleton_file: bool = False) -> Path:
    """Write a dataset of one item as one Darwin file, atomically (a temporary file, then a rename).

    The file is replaced only once it is completely written; on any failure the old file stays.

    Raises
    ------
    FormatError
        If ``path`` does not end in ``.json``, the dataset holds several items, or it cannot be
        written (nothing is replaced then).

    """
    p = check_path(path)
    if p.suffix.lower() != ".json":
        raise FormatError("a Darwin item file must end in .json", p)
    return write_darwin(dataset, p, skeleton_file=skeleton_file)[0]


#: The package's face: ``darwin.read`` / ``darwin.write``.
read, write = read_darwin, write_darwin
