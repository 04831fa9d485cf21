"""npe2 reader hooks for microscopy TIFF stacks, NIfTI volumes and DICOM series (glue over ``stacks``).

Each hook returns ``None`` for paths it does not handle, so napari's own readers apply, and a
read function for its kind; that function raises :class:`~napari_keyskel.errors.FormatError`
(file and reason) for a broken file. The layers carry the file's voxel size as ``scale``, its
origin as ``translate``, its axis names as ``axis_labels`` and its ``units``; the data stays lazy
(memmap / dask). Channels are split into one layer per channel by default (additive blending);
:func:`tiff_layer_data` with ``split_channels=False`` keeps them as an axis instead.
``layer.metadata["keyskel_stack"]`` records the axes, scale, units and the format's extras.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FormatError
from ..stacks import Stack, is_dicom, is_tiff

__all__ = [
    "dicom_layer_data",
    "get_dicom_reader",
    "get_nifti_reader",
    "get_tiff_reader",
    "nifti_layer_data",
    "stack_layer_data",
    "tiff_layer_data",
]

LayerTuple = tuple[Any, dict[str, Any], str]

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
CHANNEL_COLORMAPS = ("green", "magenta", "cyan", "yellow", "red", "blue")


def _single(path: str | Sequence[str]) -> Path | None:
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    return Path(str(path))


def get_tiff_reader(path: str | Sequence[str]) -> Callable[..., list[LayerTuple]] | None:
    """npe2 reader hook: a read function for one TIFF file, else ``None``."""
    p = _single(path)
    if p is None or not p.is_file() or not p.name.lower().endswith(TIFF_SUFFIXES):
        return None
    return partial(_read, opener=tiff_layer_data)


def get_dicom_reader(path: str | Sequence[str]) -> Callable[..., list[LayerTuple]] | None:
    """npe2 reader hook: a read function for a DICOM file or a folder holding DICOM files."""
    p = _single(path)
    if p is None:
        return None
    if p.is_dir():
        return partial(_read, opener=dicom_layer_data) if is_dicom(p) else None
    if p.is_file() and (p.name.lower().endswith(DICOM_SUFFIXES) or is_dicom(p)):
        return partial(_read, opener=dicom_layer_data)
    return None


def get_nifti_reader(path: str | Sequence[str]) -> Callable[..., list[LayerTuple]] | None:
    """npe2 reader hook: a read function for one ``.nii`` / ``.nii.gz`` file, else ``None``."""
    p = _single(path)
    if p is None or not p.is_file() or not p.name.lower().endswith((".nii", ".nii.gz")):
        return None
    return partial(_read, opener=nifti_layer_data)


def _read(path: Any, stack: bool = False, *, opener: Callable[[Path], list[LayerTuple]]) -> list[LayerTuple]:
    p = _single(path)
    if p is None:
        raise FormatError(f"expected one path, got {len(path)}")
    return opener(p)


# -- layer data -------------------------------------------------------------------------------------
def _plane_limits(plane: Any) -> list[float]:
    """Contrast limits from one 2-D plane (reads one plane only, never the whole stack)."""
    arr = np.asarray(plane)
    finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
    if finite.size == 0:
        return [0.0, 1.0]
    lo, hi = float(finite.min()), float(finite.max())
    return [lo, hi if hi > lo else lo + 1.0]


def _middle_plane(data: Any, keep: int) -> Any:
    """The middle plane of every leading axis, keeping the last ``keep`` axes."""
    lead = tuple(int(s) // 2 for s in data.shape[: data.ndim - keep])
    return data[lead]


def _unit(u: str | None) -> str:
    return u or "pixel"


def stack_layer_data(stack: Stack, name: str, split_channels: bool = True) -> list[LayerTuple]:
    """Image ``LayerDataTuple`` s of a :class:`Stack` (one per channel when split)."""
    axes = stack.axes
    keep = [i for i, a in enumerate(axes) if not (a == "S" and stack.rgb)]
    c = stack.channel_axis if split_channels else None
    if c is not None:
        keep = [i for i in keep if i != c]
    info = {
        "axes": axes,
        "axis_labels": list(stack.axis_labels),
        "scale": list(stack.scale),
        "translate": list(stack.translate),
        "units": list(stack.units),
        "channel_names": list(stack.channel_names),
        "split_channels": c is not None,
        **stack.meta,
    }
    common: dict[str, Any] = {
        "scale": [stack.scale[i] for i in keep],
        "translate": [stack.translate[i] for i in keep],
        "axis_labels": [stack.axis_labels[i] for i in keep],
        "units": [_unit(stack.units[i]) for i in keep],
        "rgb": stack.rgb,
    }
    spatial = 3 if stack.rgb else 2
    if c is None:
        attrs = {**common, "name": name, "metadata": {"keyskel_stack": info}}
        if not stack.rgb:
            attrs["contrast_limits"] = _plane_limits(_middle_plane(stack.data, spatial))
        return [(stack.data, attrs, "image")]
    out = []
    for i, ch in enumerate(stack.channel_names):
        index = (slice(None),) * c + (i,)
        data = stack.data[index]
        attrs = {
            **common,
            "name": f"{name} [{ch}]",
            "colormap": CHANNEL_COLORMAPS[i % len(CHANNEL_COLORMAPS)],
            "blending": "additive",
            "contrast_limits": _plane_limits(_middle_plane(data, spatial)),
            "metadata": {"keyskel_stack": {**info, "channel": i}},
        }
        out.append((data, attrs, "image"))
    return out


def tiff_layer_data(path: str | Path, split_channels: bool = True, **kwargs: Any) -> list[LayerTuple]:
    """Layer data of a TIFF file (``**kwargs`` go to :func:`~napari_keyskel.stacks.tiff.open_tiff`)."""
    from ..stacks.tiff import open_tiff

    p = Path(path)
    if p.is_file() and not is_tiff(p):
        raise FormatError("not a TIFF file (no TIFF header)", p)
    stack = open_tiff(p, **kwargs)
    name = p.name.split(".")[0] or p.name
    return stack_layer_data(stack, name, split_channels)


def dicom_layer_data(path: str | Path) -> list[LayerTuple]:
    """Layer data of a DICOM series (a folder, or one file of the series)."""
    from ..stacks.dicom import open_dicom

    p = Path(path)
    stack = open_dicom(p)
    attrs_name = p.name if p.is_dir() else p.parent.name
    layers = stack_layer_data(stack, attrs_name or "dicom", split_channels=False)
    if not stack.rgb:
        layers[0][1]["colormap"] = "gray"
    return layers


def nifti_layer_data(path: str | Path) -> list[LayerTuple]:
    """Layer data of a NIfTI volume (``(z, y, x)`` or ``(t, z, y, x)``, grey)."""
    from ..stacks.nifti import open_nifti

    p = Path(path)
    stack = open_nifti(p)
    name = p.name[: -len(".nii.gz")] if p.name.lower().endswith(".nii.gz") else p.stem
    layers = stack_layer_data(stack, name or "nifti", split_channels=False)
    layers[0][1]["colormap"] = "gray"
    return layers
