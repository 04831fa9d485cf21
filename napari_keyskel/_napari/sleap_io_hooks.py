"""npe2 reader and writer hooks for the sleap-io bridge (SLEAP, DeepLabCut, YOLO-pose, NWB, Label Studio).

Thin glue over :mod:`napari_keyskel.formats.sleap`. The reader is offered whenever a path looks
like one of these formats (detection needs no sleap-io); without sleap-io installed, opening or
saving shows a notification saying what to install and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from ..core.annotation_set import AnnotationSet
from ..core.wording import at_path
from ..errors import KeyskelError
from ..formats.sleap import SLEAP_FORMATS, detect_sleap_format

__all__ = [
    "get_sleap_reader",
    "image_video",
    "write_dlc_layers",
    "write_labelstudio_layers",
    "write_nwb_layers",
    "write_slp_layers",
    "write_yolo_layers",
]

LayerTuple = tuple[Any, dict[str, Any], str]


def _notify(message: str) -> None:
    from .owner import notify_error

    notify_error(message)


def get_sleap_reader(path: str | Sequence[str]) -> Callable[..., list[Any]] | None:
    """npe2 reader hook: a read function for a sleap-io pose file or YOLO folder, else ``None``."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    fmt = detect_sleap_format(str(path))
    return None if fmt is None else partial(read_sleap_layers, fmt=fmt)


def read_sleap_layers(path: Any, stack: bool = False, *, fmt: str | None = None) -> list[Any]:
    """Points layers of a sleap-io file; on failure (or without sleap-io) notify and add nothing."""
    from ..formats.sleap import read_sleap
    from .layerdata import dataset_layer_tuples

    if isinstance(path, (list, tuple)):
        path = path[0]
    try:
        dataset = read_sleap(path, format=fmt)
        if not dataset.stores:
            raise KeyskelError("the file holds no skeleton")
    except Exception as exc:  # a reader problem must not take the viewer down
        _notify(at_path(path, str(exc), "keyskel: cannot open"))
        return [(None,)]
    from .media_link import with_media
    from .sample import connect_current_viewer

    connect_current_viewer()
    return with_media(dataset, path, dataset_layer_tuples(dataset))


def image_video(viewer: Any, dataset: AnnotationSet) -> str | None:
    """The file of the image a dataset's annotations were made on, when ``viewer`` shows it.

    That is the viewer's image layer opened from a file whose name is the one item the
    dataset's frames name (see ``api.add_skeleton_layer(image_layer=...)``), or, when the
    frames name no item, the viewer's only image layer opened from a file. ``None`` otherwise
    (several items, an image made in memory, no viewer).
    """
    if viewer is None:
        return None
    from napari.layers import Image

    items = {Path(str(fr["item"])).name for fr in dataset.frames if fr.get("item")}
    if len(items) > 1:
        return None
    files = [
        str(ly.source.path)
        for ly in viewer.layers
        if isinstance(ly, Image) and ly.source.path and Path(str(ly.source.path)).is_file()
    ]
    chosen = [f for f in files if Path(f).name in items] if items else files
    return chosen[0] if len(chosen) == 1 else None


def _write(path: str, layer_data: list[LayerTuple], fmt: str) -> list[str]:
    """Write with the bridge; what the format cannot hold is said in a warning notification."""
    import warnings

    from .io import _notify_warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _write_quietly(path, layer_data, fmt)
    _notify_warnings(caught)
    return out


def _write_quietly(path: str, layer_data: list[LayerTuple], fmt: str) -> list[str]:
    from ..formats.sleap import import_sleap_io, write_sleap
    from .io import dataset_from_layer_data

    target = Path(path)
    if fmt == "yolo":  # saved as ".../data.yaml": the dataset is that file's folder
        target = target.parent if target.name == "data.yaml" else target.with_suffix("")
    try:
        import_sleap_io(target)  # first: without the extra, say what to install
        dataset = dataset_from_layer_data(layer_data)
        import napari

        fallback = image_video(napari.current_viewer(), dataset)  # YOLO-pose stores the images
        return [str(p) for p in write_sleap(dataset, target, fmt, fallback_video=fallback)]
    except (KeyskelError, OSError) as exc:
        _notify(at_path(path, str(exc), f"keyskel: nothing saved as {SLEAP_FORMATS[fmt]} to"))
        return []


def write_slp_layers(path: str, layer_data: list[LayerTuple]) -> list[str]:
    """npe2 writer: the Points layers as a SLEAP ``.slp`` file."""
    return _write(path, layer_data, "sleap")


def write_dlc_layers(path: str, layer_data: list[LayerTuple]) -> list[str]:
    """npe2 writer: the Points layers as a DeepLabCut CSV or .h5 (with config.yaml and images)."""
    return _write(path, layer_data, "dlc")


def write_yolo_layers(path: str, layer_data: list[LayerTuple]) -> list[str]:
    """npe2 writer: the Points layers as an Ultralytics YOLO-pose dataset (``data.yaml``)."""
    return _write(path, layer_data, "yolo")


def write_nwb_layers(path: str, layer_data: list[LayerTuple]) -> list[str]:
    """npe2 writer: the Points layers as NWB (ndx-pose)."""
    return _write(path, layer_data, "nwb")


def write_labelstudio_layers(path: str, layer_data: list[LayerTuple]) -> list[str]:
    """npe2 writer: the Points layers as Label Studio JSON tasks."""
    return _write(path, layer_data, "labelstudio")
