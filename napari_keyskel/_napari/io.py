"""napari reader and writer hooks: V7 Darwin JSON (file or folder) and COCO keypoints.

The reader gives one Points layer per annotation set (class / category); a viewer-side owner
adds its edges layer. The writers rebuild the dataset from ``metadata["keyskel"]`` of each Points
layer (the full store, every frame), or from a plain Points layer's ``features`` (``node``, and
``instance`` if present). Failures show a napari notification with the reason and change nothing;
warnings of the readers (:class:`~napari_keyskel.errors.FormatWarning`: an edge dropped, generic
node names) are shown as warning notifications. Saving a dataset of several items (images,
videos) as V7 to a ``.json`` file writes a V7-style export folder instead (one Darwin file per
item) and says where.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..core.annotation_set import AnnotationSet
from ..core.plain import store_to_plain
from ..core.presets import match_preset
from ..core.skeleton import Skeleton
from ..core.store import VISIBLE, AnnotationStore
from ..core.wording import at_path, plural
from ..errors import FormatWarning, KeyskelError
from .layerdata import dataset_from_plain, dataset_layer_tuples

if TYPE_CHECKING:
    from ..formats import Format

__all__ = [
    "FORMAT_NAMES",
    "dataset_from_layer_data",
    "get_reader",
    "store_from_points_data",
    "write_coco_layers",
    "write_darwin_layers",
]

#: Format keys accepted by the writers and the scripting API, with their display names.
FORMAT_NAMES = {"darwin": "V7 Darwin JSON", "coco": "COCO keypoints"}

LayerTuple = tuple[Any, dict[str, Any], str]


def _notify(message: str) -> None:
    from .owner import notify_error

    notify_error(message)


def _notify_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Each FormatWarning as a napari warning notification (others go back to ``warnings``)."""
    from napari.utils.notifications import show_warning

    for w in caught:
        if issubclass(w.category, FormatWarning):
            show_warning(f"keyskel: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


# -- reading ------------------------------------------------------------------------------------
_SNIFF_BYTES = 1 << 20
#: Keys one of which a Darwin or COCO file names in its first megabyte.
_MARKERS = tuple(
    f'"{k}"'.encode() for k in ("annotations", "images", "categories", "info", "item", "image", "version")
)


def _sniff(p: Path) -> str | None:
    """``"darwin"``/``"coco"`` for a small file (parsed), ``""`` (read and see) or None (not ours)."""
    from ..formats import detect_format

    if p.is_dir():
        try:
            return detect_format(p)
        except KeyskelError:
            return None
    with open(p, "rb") as fh:
        head = fh.read(_SNIFF_BYTES + 1)
    if len(head) > _SNIFF_BYTES:  # large: decide on the head, parse once when reading
        first = head.lstrip()[:1]
        return "" if first == b"[" or (first == b"{" and any(m in head for m in _MARKERS)) else None
    from ..formats._jsonio import loads_json
    from ..formats.coco import looks_like_coco
    from ..formats.darwin import looks_like_darwin

    obj = loads_json(head, p)  # FormatError (file + line) for broken JSON
    if looks_like_coco(obj):
        return "coco"
    return "darwin" if looks_like_darwin(obj) else None


def get_reader(path: str | Sequence[str]) -> Callable[..., list[Any]] | None:
    """npe2 reader hook: a read function for a Darwin/COCO file or Darwin folder, else None.

    JSON that is neither format gets None (napari tries other readers); JSON that does not parse
    gets a read function that shows the reason in a notification and adds no layer.
    """
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(str(path))
    if not (p.is_dir() or (p.suffix.lower() == ".json" and p.is_file())):
        return None
    try:
        fmt = _sniff(p)
    except KeyskelError as exc:
        return partial(_failed_read, message=str(exc))
    except OSError as exc:
        return partial(_failed_read, message=f"{type(exc).__name__}: {exc}")
    if fmt is None:
        return None
    return partial(read_annotation_layers, fmt=fmt or None)


def _failed_read(path: Any, stack: bool = False, *, message: str) -> list[Any]:
    _notify(at_path(path, message, "keyskel: cannot open"))
    return [(None,)]  # napari's "opened, nothing to add" sentinel: no second error, no layer


def read_annotation_layers(path: Any, stack: bool = False, *, fmt: str | None = None) -> list[Any]:
    """Read an annotation file into layer data; on failure notify and add nothing."""
    from ..formats import read

    if isinstance(path, (list, tuple)):
        path = path[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FormatWarning)
        try:
            dataset = read(path, format=cast("Format | None", fmt))
        except KeyskelError as exc:
            dataset, failure = None, str(exc)
        except Exception as exc:  # a reader bug must not take the viewer down either
            dataset, failure = None, f"{type(exc).__name__}: {exc}"
    _notify_warnings(caught)
    if dataset is None:
        return _failed_read(path, message=failure)
    if not dataset.stores:
        return _failed_read(path, message="the file holds no keypoints or skeletons")
    from .sample import connect_current_viewer

    connect_current_viewer()
    return _with_media(dataset, path, dataset_layer_tuples(dataset))


def _with_media(dataset: AnnotationSet, path: Any, tuples: list[LayerTuple]) -> list[LayerTuple]:
    """The images or video the file names, as a layer under its points (a notification if missing)."""
    from .media_link import with_media

    return with_media(dataset, path, tuples)


# -- writing ------------------------------------------------------------------------------------
def store_from_points_data(data: Any, attributes: dict[str, Any]) -> AnnotationStore:
    """A store from a plain Points layer's data and features (every point a visible key).

    Needs a ``node`` feature (node names); ``instance`` (track ids) is optional (one instance per
    frame otherwise). The frame axis is axis 0 of 3-D and 4-D data; 2-D data is one image.
    """
    name = attributes.get("name") or "points"
    feats = attributes.get("features")
    if feats is None or "node" not in getattr(feats, "columns", ()):
        raise KeyskelError(
            f"layer {name!r} is not a keyskel layer and has no 'node' feature (node names), so its points "
            "cannot be written as keypoints; add features 'node' (and 'instance') or use the Keyskel dock"
        )
    data = np.asarray(data, dtype=float)
    ndim = data.shape[1] if data.ndim == 2 else int(attributes.get("ndim", 2))
    if ndim not in (2, 3, 4):
        raise KeyskelError(f"layer {name!r}: {ndim}-D points cannot be written (2-D, 3-D or 4-D only)")
    node_col = feats["node"]
    categories = getattr(getattr(node_col, "cat", None), "categories", None)
    names = [str(n) for n in (categories if categories is not None else dict.fromkeys(node_col.astype(str)))]
    skeleton = match_preset(names) or Skeleton(names, [], name=name)
    node_idx = np.asarray([skeleton.index(str(n)) for n in node_col], np.intp)
    frame_axis = None if ndim == 2 else 0
    store = AnnotationStore(
        skeleton, coord_ndim=ndim - (frame_axis is not None), frame_axis=frame_axis, name=name
    )
    frames = np.zeros(len(data), np.int64) if frame_axis is None else np.round(data[:, 0]).astype(np.int64)
    if np.any(frames < 0):
        raise KeyskelError(f"layer {name!r} has points on negative frames")
    ids = (
        np.asarray(feats["instance"], dtype=np.int64)
        if "instance" in feats.columns
        else np.ones(len(data), np.int64)
    )
    coords = data if frame_axis is None else data[:, 1:]
    vis = np.asarray(feats["visibility"], np.int8) if "visibility" in feats.columns else None
    key = np.asarray(feats["keyframe"], bool) if "keyframe" in feats.columns else np.ones(len(data), bool)
    for tid in np.unique(ids):
        m = ids == tid
        f0, f1 = int(frames[m].min()), int(frames[m].max()) + 1
        t = store.add_track(int(tid), start=f0, stop=f1)
        rows, nodes = frames[m] - f0, node_idx[m]
        if np.unique(rows * skeleton.n_nodes + nodes).size != rows.size:
            raise KeyskelError(f"layer {name!r}: instance {tid} has a node twice on one frame")
        t.coords[rows, nodes] = coords[m]
        t.visibility[rows, nodes] = VISIBLE if vis is None else vis[m]
        t.is_key[rows, nodes] = key[m]
    return store


def dataset_from_layer_data(layer_data: Sequence[LayerTuple]) -> AnnotationSet:
    """A dataset of the Points layers in ``(data, attributes, type)`` tuples (other types ignored)."""
    plains = []
    for data, attrs, ltype in layer_data:
        if ltype != "points":
            continue
        meta = attrs.get("metadata") or {}
        if "keyskel" in meta:
            plains.append(meta["keyskel"])
        else:
            plains.append(store_to_plain(store_from_points_data(data, attrs)))
    if not plains:
        raise KeyskelError("no Points layer to save")
    return dataset_from_plain(plains)


def _write_layers(path: str, layer_data: list[LayerTuple], fmt: str) -> list[str]:
    from ..formats import write

    try:
        dataset = dataset_from_layer_data(layer_data)
        if fmt == "darwin":
            written = write(dataset, path, "darwin", export_folder=True)
        else:
            written = write(dataset, path, cast("Format", fmt))
    except (KeyskelError, OSError) as exc:
        _notify(at_path(path, str(exc), f"keyskel: nothing saved as {FORMAT_NAMES[fmt]} to"))
        return []
    from .saving import saved_by_writer

    saved_by_writer(layer_data, path, fmt)  # the layers' unsaved marks clear; Ctrl-S writes here now
    from napari.utils.notifications import show_info

    if fmt == "darwin" and Path(path).suffix.lower() == ".json" and written and written[0] != Path(path):
        n = sum(1 for p in written if not p.name.endswith(".skeleton.json"))
        show_info(
            f"keyskel: the layers hold {plural(n, 'item')} (images or videos), so they were saved as a V7 "
            f"export folder, one Darwin file per item: {written[0].parent}"
        )
    elif written:
        names = ", ".join(repr(attrs.get("name", "")) for _, attrs, ltype in layer_data if ltype == "points")
        show_info(f"keyskel: saved {names} (every frame) as {FORMAT_NAMES[fmt]} to {written[0]}")
    return [str(p) for p in written]


def write_darwin_layers(path: str, layer_data: list[LayerTuple]) -> list[str]:
    """npe2 writer: the Points layers as V7 Darwin JSON 2.0."""
    return _write_layers(path, layer_data, "darwin")


def write_coco_layers(path: str, layer_data: list[LayerTuple]) -> list[str]:
    """npe2 writer: the Points layers as COCO keypoints."""
    return _write_layers(path, layer_data, "coco")
