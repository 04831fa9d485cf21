"""DICOM series (a folder of slices, or one file of it) as a lazy (z, y, x) volume.

Reading uses imageio's built-in DICOM parser (``imageio.plugins._dicom``: uncompressed and
deflated transfer syntaxes; no pydicom needed). The headers of all files are read first (pixel
data is skipped); each slice's pixels are read only when a viewer asks for them (a dask array
with one chunk per slice).

- Series: files are grouped by ``SeriesInstanceUID``; a file path opens the series it belongs
  to (from its folder, recursively); a folder opens its largest series (the others are listed in
  ``meta["other_series"]``).
- Order: by the slice position along the slice normal (``ImagePositionPatient`` projected on
  ``row x column`` of ``ImageOrientationPatient``, ascending), else ``InstanceNumber``, else file
  name. Two slices at one position raise :class:`FormatError` (a 4-D series is not a volume).
- Values: ``RescaleSlope``/``RescaleIntercept`` of each slice are applied; the result is an
  integer type when slope and intercept are integers and the range fits, else ``float32``.
- Scale (mm): ``(slice spacing, PixelSpacing row, PixelSpacing column)``; the slice spacing is the
  median step between positions, else ``SliceThickness``, else ``SpacingBetweenSlices``, else 1.
  Translate: the first slice's position in the slice-aligned frame ``(normal, column, row)``; the
  full voxel -> patient affine (for ``(z, y, x)`` indices) is in ``meta["affine"]``.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections import Counter
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from imageio.plugins import _dicom

from ..errors import FormatError
from . import Stack, _has_dicm

__all__ = ["DicomSlice", "find_dicom_files", "open_dicom", "read_headers"]

#: Tags read beyond imageio's own list (SliceThickness is not in it).
_TAGS = {**_dicom.MINIDICT, (0x0018, 0x0050): ("SliceThickness", "DS")}


class _Header(_dicom.SimpleDicomReader):
    """imageio's DICOM reader, also reading ``SliceThickness``."""

    def _read_data_elements(self) -> None:
        info = self._info
        try:
            while True:
                group, element, value = self._readDataElement()
                name, vr = _TAGS.get((group, element), (None, None))
                if name:
                    info[name] = self._converters.get(vr, lambda x: x)(value)
        except (EOFError, struct.error):
            pass


class DicomSlice:
    """The header fields of one DICOM file that build a volume."""

    def __init__(self, path: Path) -> None:
        try:
            hdr = _Header(str(path))
        except _dicom.NotADicomFile:
            raise FormatError("not a DICOM file (no 'DICM' marker at byte 128)", path) from None
        except _dicom.CompressedDicom as exc:
            raise FormatError(f"compressed pixel data is not supported: {exc}", path) from None
        except Exception as exc:
            raise FormatError(f"broken DICOM header ({type(exc).__name__}: {exc})", path) from None
        info = hdr.info
        self.path = path
        self.series_uid = str(info.get("SeriesInstanceUID", ""))
        self.rows = info.get("Rows")
        self.columns = info.get("Columns")
        self.has_pixels = "PixelData" in info
        self.frames = int(info.get("NumberOfFrames", 1) or 1)
        self.samples = int(info.get("SamplesPerPixel", 1) or 1)
        self.instance = _number(info.get("InstanceNumber"))
        self.position = _vector(info.get("ImagePositionPatient"), 3)
        self.orientation = _vector(info.get("ImageOrientationPatient"), 6)
        self.pixel_spacing = _vector(info.get("PixelSpacing"), 2)
        self.thickness = _number(info.get("SliceThickness"))
        self.spacing_between = _number(info.get("SliceSpacing"))
        slope, intercept = _number(info.get("RescaleSlope")), _number(info.get("RescaleIntercept"))
        self.slope = 1.0 if slope is None else slope
        self.intercept = 0.0 if intercept is None else intercept
        bits = int(info.get("BitsAllocated", 16) or 16)
        stored = int(info.get("BitsStored", bits) or bits)
        signed = bool(info.get("PixelRepresentation", 0))
        self.raw_dtype = np.dtype(f"{'int' if signed else 'uint'}{bits}")
        self.raw_range = (-(2 ** (stored - 1)), 2 ** (stored - 1) - 1) if signed else (0, 2**stored - 1)
        self.extra = {
            k: info[k]
            for k in ("Modality", "SeriesDescription", "PatientID", "StudyInstanceUID")
            if isinstance(info.get(k), str)
        }


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _vector(value: Any, n: int) -> np.ndarray | None:
    try:
        v = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError):
        return None
    return v if v.shape == (n,) and np.isfinite(v).all() else None


def find_dicom_files(
    folder: str | PathLike[str], limit: int | None = None, max_checked: int | None = None
) -> list[Path]:
    """DICOM Part-10 files under ``folder`` (recursively, sorted; ``DICOMDIR`` skipped).

    Stops after ``limit`` DICOM files are found or ``max_checked`` files have been looked at.
    """
    out: list[Path] = []
    checked = 0
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if max_checked is not None and checked >= max_checked:
                return out
            checked += 1
            p = Path(root, name)
            if "DICOMDIR" in name.upper() or not _has_dicm(p):
                continue
            out.append(p)
            if limit is not None and len(out) >= limit:
                return out
    return out


def read_headers(files: Sequence[Path]) -> list[DicomSlice]:
    """Headers of ``files`` (:class:`FormatError` naming the first unreadable one)."""
    return [DicomSlice(Path(f)) for f in files]


def _select_series(path: Path) -> tuple[list[DicomSlice], dict[str, int]]:
    if path.is_dir():
        files = find_dicom_files(path)
        if not files:
            raise FormatError("the folder holds no DICOM files", path)
        wanted = None
    else:
        if not _has_dicm(path):
            raise FormatError("not a DICOM file (no 'DICM' marker at byte 128)", path)
        wanted = DicomSlice(path)
        files = find_dicom_files(path.parent)
    groups: dict[str, list[DicomSlice]] = {}
    for h in read_headers(files):
        if h.has_pixels:
            groups.setdefault(h.series_uid, []).append(h)
    if wanted is not None:
        uid = wanted.series_uid
        if not wanted.has_pixels:
            raise FormatError("the DICOM file holds no pixel data", path)
    elif not groups:
        raise FormatError("no DICOM file in the folder holds pixel data", path)
    else:
        uid = max(groups, key=lambda u: (len(groups[u]), u))
    others = {u: len(g) for u, g in groups.items() if u != uid}
    return groups[uid], others


def _order(slices: list[DicomSlice], where: Path) -> tuple[list[DicomSlice], dict[str, Any]]:
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


def _out_dtype(slices: list[DicomSlice]) -> np.dtype:
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


def _load_slice(path: str, slope: float, intercept: float, dtype: np.dtype) -> np.ndarray:
    """Pixels of one file with its rescale applied (imageio's own rescale is switched off)."""
    hdr = _Header(path)
    hdr.info.pop("RescaleSlope", None)
    hdr.info.pop("RescaleIntercept", None)
    raw = hdr.get_numpy_array()
    if slope == 1 and intercept == 0:
        return raw.astype(dtype, copy=False)
    work = np.float64 if dtype.kind == "f" or raw.dtype.itemsize >= 4 else np.float32
    out = raw.astype(work) * slope + intercept
    return np.rint(out).astype(dtype) if dtype.kind != "f" else out.astype(dtype)


def open_dicom(path: str | PathLike[str]) -> Stack:
    """Open a DICOM series lazily as a ``(z, y, x)`` :class:`Stack` in millimetres.

    Parameters
    ----------
    path
        A folder of DICOM files, or one file of the series to open.

    Raises
    ------
    FormatError
        If no DICOM series is found, a header is broken, the pixel data is compressed, the
        slices differ in size, or two slices share a position.

    """
    import dask
    import dask.array as da

    p = Path(path)
    if not p.exists():
        raise FormatError("no such file or folder", p)
    slices, others = _select_series(p)
    sizes = Counter((s.rows, s.columns) for s in slices)
    rows, cols = sizes.most_common(1)[0][0]
    for s in slices:
        if (s.rows, s.columns) != (rows, cols):
            raise FormatError(f"slice of {s.rows}x{s.columns} pixels in a series of {rows}x{cols}", s.path)
        if s.samples != 1:
            raise FormatError("colour (multi-sample) DICOM images are not supported", s.path)
    if len(slices) > 1 and any(s.frames > 1 for s in slices):
        raise FormatError("a series of multi-frame files is not supported", p)
    slices, order = _order(slices, p)
    dtype = _out_dtype(slices)
    rows, cols = int(rows), int(cols)
    load = dask.delayed(_load_slice, pure=True)
    if len(slices) == 1 and slices[0].frames > 1:
        s = slices[0]
        shape3 = (s.frames, rows, cols)
        data = da.from_delayed(load(str(s.path), s.slope, s.intercept, dtype), shape=shape3, dtype=dtype)
    else:
        shape2 = (rows, cols)
        data = da.stack(
            [da.from_delayed(load(str(s.path), s.slope, s.intercept, dtype), shape2, dtype) for s in slices]
        )
    first = slices[0]
    dy, dx = (float(v) for v in first.pixel_spacing) if first.pixel_spacing is not None else (1.0, 1.0)
    dz = float(order["dz"])
    row_dir, col_dir, normal = order.pop("dirs")
    translate = (0.0, 0.0, 0.0)
    affine = None
    if first.position is not None:
        r = row_dir if row_dir is not None else np.array([1.0, 0.0, 0.0])
        c = col_dir if col_dir is not None else np.array([0.0, 1.0, 0.0])
        n = normal if normal is not None else np.array([0.0, 0.0, 1.0])
        translate = (float(first.position @ n), float(first.position @ c), float(first.position @ r))
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = n * dz, c * dy, r * dx, first.position
        affine = m.tolist()
    meta: dict[str, Any] = {
        "source": str(p),
        "format": "dicom",
        "lazy": "slices",
        "files": [str(s.path) for s in slices],
        "series_uid": first.series_uid,
        "rescale": {
            "slope": sorted({s.slope for s in slices}),
            "intercept": sorted({s.intercept for s in slices}),
        },
        "affine": affine,
        **order,
        **first.extra,
    }
    if others:
        meta["other_series"] = others
    mm = "millimeter"
    return Stack(data, "ZYX", (dz, dy, dx), translate, (mm, mm, mm), [], meta)
