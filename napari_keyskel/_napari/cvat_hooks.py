"""npe2 reader and writer hooks for CVAT XML 1.1 (for video and for images) with skeletons.

Thin glue over :mod:`napari_keyskel.formats.cvat`, shaped like :mod:`.io`: the reader is offered
for a CVAT ``annotations.xml`` (or CVAT's zip) and gives one Points layer per skeleton label;
the writer saves the Points layers as CVAT XML (video when their frames come from one video,
else images). Failures show a notification and change nothing; what CVAT cannot hold is shown
as a warning notification.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import FormatWarning, KeyskelError
from ..formats.cvat import detect_cvat

__all__ = ["get_cvat_reader", "write_cvat_layers"]

LayerTuple = tuple[Any, dict[str, Any], str]


def get_cvat_reader(path: str | Sequence[str]) -> Callable[..., list[Any]] | None:
    """npe2 reader hook: a read function for a CVAT XML file or CVAT's zip, else ``None``."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    if not detect_cvat(str(path)):
        return None
    from .io import read_annotation_layers

    return partial(read_annotation_layers, fmt="cvat")


def write_cvat_layers(path: str, layer_data: list[LayerTuple]) -> list[str]:
    """npe2 writer: the Points layers as CVAT XML 1.1 (every frame)."""
    from napari.utils.notifications import show_info

    from ..formats import write
    from .io import _notify, _notify_warnings, dataset_from_layer_data

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FormatWarning)
        try:
            written = write(dataset_from_layer_data(layer_data), path, "cvat")
        except (KeyskelError, OSError) as exc:
            written, failure = [], str(exc)
        else:
            failure = ""
    _notify_warnings(caught)
    if failure:
        _notify(f"keyskel: nothing saved as CVAT XML to {path}: {failure}")
        return []
    from .saving import saved_by_writer

    saved_by_writer(layer_data, path, "cvat")  # Ctrl-S writes here, as CVAT XML, from now on
    names = ", ".join(repr(attrs.get("name", "")) for _, attrs, ltype in layer_data if ltype == "points")
    show_info(f"keyskel: saved {names} (every frame) as CVAT XML to {Path(written[0])}")
    return [str(p) for p in written]
