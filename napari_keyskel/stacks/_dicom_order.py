"""Slice order, slice spacing and output dtype of a DICOM series (pure numpy over header fields).

See :mod:`napari_keyskel.stacks.dicom` for the rules.
"""

from __future__ import annotations

import warnings
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FormatError

__all__ = ["order_slices", "out_dtype"]


def order_slices(slices: list[Any], where: Path) -> tuple[list[Any], dict[str, Any]]:
    """Slices sorted along the normal (or by instance number) and how the z step was found."""
    first = slices[0]
    row_dir = col_dir = normal = None
    if first.orientation is not None:
        row_dir, col_dir = first.orientation[:3], first.orientation[3:]
        normal = np.cross(row_dir, col_dir)
        if np.linalg.norm(normal) < 1e-6:
            raise FormatError("ImageOrientationPatient has parallel row and column directions", first.path)
        normal = normal / np.linalg.norm(normal)
    info: dict[str, Any] = {}
    if all(s.position is not None for s in slices):
        n = normal if normal is not None else np.array([0.0, 0.0, 1.0])
        depth = np.array([float(s.position @ n) for s in slices])
        inst = np.array([s.instance if s.instance is not None else 0.0 for s in slices])
        idx = np.lexsort((inst, depth))
        depth = depth[idx]
        slices = [slices[i] for i in idx]
        steps = np.diff(depth)
        if len(steps) and np.min(steps) <= 1e-6 * max(1.0, float(np.max(np.abs(depth)))):
            k = int(np.argmin(steps))
            raise FormatError(
                f"two slices at one position ({slices[k].path.name}, {slices[k + 1].path.name}): "
                "a series with several volumes (time, echoes) is not supported",
                where,
            )
        info.update(order="position", positions=depth.tolist())
        if len(steps):
            dz = float(np.median(steps))
            info["uniform"] = bool(np.all(np.abs(steps - dz) <= 1e-3 * dz + 1e-4))
            if not info["uniform"]:
                warnings.warn(
                    f"{where}: uneven slice spacing ({steps.min():g} to {steps.max():g}); "
                    f"using the median {dz:g}",
                    stacklevel=3,
                )
            info.update(dz=dz, dz_source="positions")
    elif all(s.instance is not None for s in slices):
        slices = sorted(slices, key=lambda s: s.instance)
        for a, b in pairwise(slices):
            if a.instance == b.instance:
                raise FormatError(
                    f"two slices with InstanceNumber {a.instance:g} and no positions ({a.path.name}, "
                    f"{b.path.name}): their order is unknown",
                    where,
                )
        info["order"] = "InstanceNumber"
    else:
        info["order"] = "file name"
    if "dz" not in info:
        for attr, name in (("thickness", "SliceThickness"), ("spacing_between", "SpacingBetweenSlices")):
            v = getattr(first, attr)
            if v is not None and v > 0:
                info.update(dz=float(v), dz_source=name)
                break
        else:
            info.update(dz=1.0, dz_source="default")
    info["dirs"] = (row_dir, col_dir, normal)
    return slices, info


def out_dtype(slices: list[Any]) -> np.dtype:
    """The dtype of rescaled values: the raw type, an integer type that holds them, or float32."""
    slopes = np.array([s.slope for s in slices])
    inter = np.array([s.intercept for s in slices])
    raw = slices[0].raw_dtype
    if np.all(slopes == 1) and np.all(inter == 0):
        return raw
    if np.all(slopes == np.round(slopes)) and np.all(inter == np.round(inter)):
        lo, hi = slices[0].raw_range
        ends = np.concatenate([slopes * lo + inter, slopes * hi + inter])
        for dt in (np.int16, np.int32):
            info = np.iinfo(dt)
            if ends.min() >= info.min and ends.max() <= info.max:
                return np.dtype(dt)
    return np.dtype(np.float32)
