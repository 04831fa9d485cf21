"""The media of a dataset item in the viewer: a lazy video or image set, or a volume (no Qt).

A video, an image or a folder of images shows as one Image layer over a lazy
:class:`~napari_keyskel.media.MediaSource` (:func:`media_layer`, which gives the layer of the item
left the new data when it can: napari adds a layer far more slowly than it swaps one's data). A
volume (a DICOM series, a NIfTI file, or a TIFF holding more than one plane) opens through the
stack readers (:mod:`napari_keyskel._napari.stack_readers`): one Image layer per channel, lazy,
with its voxel size as ``scale`` (:func:`stack_layers`); its slices are the frames annotated.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..dataset import Item

if TYPE_CHECKING:
    import napari

__all__ = ["media_layer", "stack_frames", "stack_layers"]

LayerTuple = tuple[Any, dict[str, Any], str]
_TIFF = (".tif", ".tiff")


def _planes(data: Any, rgb: bool) -> int:
    """Dimensions of a layer's data that are not the picture's own (y, x and colour)."""
    return len(data.shape) - (3 if rgb else 2)


def stack_layers(item: Item) -> list[LayerTuple] | None:
    """The Image layer tuples of a volume item (None: not a volume, a picture is shown as media).

    Raises :class:`~napari_keyskel.errors.KeyskelError` (naming the file) for a broken volume.
    """
    from .stack_readers import dicom_layer_data, nifti_layer_data, tiff_layer_data

    path = item.media
    if path is None:
        return None
    name = Path(path).name.lower()
    if name.endswith(_TIFF) and Path(path).is_file():
        tuples = tiff_layer_data(path)
        data, attrs, _ = tuples[0]
        if _planes(data, bool(attrs.get("rgb"))) < 1 or data.shape[0] < 2:
            return None  # one plane: an image, shown as media
    elif item.kind != "volume":
        return None
    elif name.endswith((".nii", ".nii.gz")):
        tuples = nifti_layer_data(path)
    else:
        tuples = dicom_layer_data(path)
    for _, attrs, _ in tuples:
        attrs["name"] = item.name if len(tuples) == 1 else f"{item.name} {attrs['name']}"
    return tuples


def stack_frames(item: Item, tuples: list[LayerTuple]) -> list[dict[str, Any]]:
    """A frame table for a volume's slices: the item's name, each slice's size, a ``dicom`` slot."""
    data, attrs, _ = tuples[0]
    shape = tuple(int(s) for s in data.shape)
    if attrs.get("rgb"):
        shape = shape[:-1]
    fmt = (attrs.get("metadata") or {}).get("keyskel_stack", {}).get("format")
    kind = "dicom" if fmt in ("dicom", "nifti") else "image"
    h, w = shape[-2], shape[-1]
    return [
        {"item": item.name, "frame": f, "slot": "0", "slot_type": kind, "width": w, "height": h}
        for f in range(shape[0])
    ]


def media_layer(viewer: napari.Viewer, source: Any, name: str, spare: Any) -> Any:
    """The Image layer showing ``source``: ``spare`` (the last item's), given the new data, if it can.

    Else ``spare`` is removed and a layer added.
    """
    from .media_link import MEDIA_KEY, media_layer_tuple

    rgb = bool(getattr(source, "rgb", False))
    dtype = np.dtype(source.dtype)
    # a uint8 range is known: napari would otherwise decode frames to guess one
    limits = (0, 255) if dtype == np.uint8 else None
    if spare is not None and spare in viewer.layers:
        if spare.rgb == rgb and spare.ndim == source.ndim - rgb and limits is not None:
            spare.metadata = {MEDIA_KEY: source.describe()}
            spare.data = source
            spare.name = name
            spare.contrast_limits_range = limits
            spare.contrast_limits = limits
            return spare
        viewer.layers.remove(spare)
    data, attrs, _ = media_layer_tuple(source, name, **({"contrast_limits": limits} if limits else {}))
    return viewer.add_image(data, **attrs)
