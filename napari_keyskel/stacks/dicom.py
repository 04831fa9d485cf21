"""DICOM series (a folder of slices, or one file of it) as a lazy (z, y, x) volume, through pydicom.

Headers are read first (``stop_before_pixels``); each slice's pixels only when a viewer asks
(a dask array, one chunk per slice). Compressed transfer syntaxes (JPEG, JPEG-LS, JPEG 2000,
RLE) are decoded by pydicom's pixel backends when a decoder is installed (pydicom itself for RLE,
Pillow or ``pip install "napari-keyskel[dicom-codecs]"`` (pylibjpeg) for the JPEG family), and
refused with the missing package named otherwise.

- Usable files: a Part-10 file (``DICM`` at byte 128) with pixel data that can be decoded and is
  not cut short (the declared pixel bytes are in the file), monochrome or RGB/YBR (palette colour
  is refused). Other files in a folder (RT plans, structured reports, DICOMDIR, another producer's
  compressed files, broken files) are listed in ``meta["skipped"]`` with the reason; opening such
  a file itself raises :class:`FormatError` naming it.
- Series: files are grouped by ``SeriesInstanceUID``, image geometry (rows, columns, samples,
  single- or multi-frame) and transfer syntax (test and export folders hold one image in several
  encodings); copies of one image (same ``SOPInstanceUID``) count once. A file opens its own
  group; a folder opens its largest group that forms a volume. Other groups are listed in
  ``meta["other_series"]`` (uid -> number of files).
- Order: by the slice position along the slice normal (``ImagePositionPatient`` projected on
  ``row x column`` of ``ImageOrientationPatient``, ascending), else ``InstanceNumber``, else file
  name. Two slices at one position in a folder's series raise :class:`FormatError` (a 4-D series
  is not a volume); opening one file of such a series opens that file alone, with a warning.
- Values: ``RescaleSlope``/``RescaleIntercept`` of each slice are applied; the result is an
  integer type when slope and intercept are integers and the range fits, else ``float32``.
- Scale (mm): ``(slice spacing, PixelSpacing row, PixelSpacing column)``; the slice spacing is the
  median step between positions, else ``SliceThickness``, else ``SpacingBetweenSlices``, else 1.
  Translate: the first slice's position in the slice-aligned frame ``(normal, column, row)``; the
  full voxel -> patient affine (for ``(z, y, x)`` indices) is in ``meta["affine"]``.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import FormatError
from ._dicom_order import order_slices, out_dtype
from ._stack import Stack, has_dicm

__all__ = ["CODECS_HINT", "DicomSlice", "find_dicom_files", "open_dicom", "read_headers"]

CODECS_HINT = 'pip install "napari-keyskel[dicom-codecs]"'
_PIXEL_TAG = 0x7FE00010


def _decoder_problem(tsyntax: Any) -> str | None:
    """Why pixels in ``tsyntax`` cannot be decoded here, or ``None`` if they can."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    uid = UID(str(tsyntax))
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        return f"its transfer syntax {uid.name} ({uid}) has no pixel decoder in pydicom"
    if decoder.is_available:
        return None
    missing = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
    return f"its pixel data is compressed ({uid.name}) and no decoder is installed ({missing}): {CODECS_HINT}"


class DicomSlice:
    """The header fields of one DICOM file that build a volume.

    ``problem`` is ``None`` for a file whose pixels can be shown, else the reason it cannot.
    """

    def __init__(self, path: Path) -> None:
        import pydicom
        from pydicom.errors import InvalidDicomError

        self.path = path
        self.problem: str | None = None
        try:
            with open(path, "rb") as fh:
                ds = pydicom.dcmread(fh, stop_before_pixels=True)
                pixel_at = fh.tell()
        except InvalidDicomError:
            raise FormatError("not a DICOM file (no 'DICM' marker at byte 128)", path) from None
        except Exception as exc:
            raise FormatError(f"broken DICOM header ({type(exc).__name__}: {exc})", path) from None
        self.series_uid = str(ds.get("SeriesInstanceUID", ""))
        self.sop_uid = str(ds.get("SOPInstanceUID", "")) or str(path)
        self.rows, self.columns = _int(ds.get("Rows")), _int(ds.get("Columns"))
        self.frames = _int(ds.get("NumberOfFrames")) or 1
        self.samples = _int(ds.get("SamplesPerPixel")) or 1
        self.photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
        self.instance = _number(ds.get("InstanceNumber"))
        self.position = _vector(ds.get("ImagePositionPatient"), 3)
        self.orientation = _vector(ds.get("ImageOrientationPatient"), 6)
        self.pixel_spacing = _vector(ds.get("PixelSpacing"), 2)
        self.thickness = _number(ds.get("SliceThickness"))
        self.spacing_between = _number(ds.get("SpacingBetweenSlices"))
        slope, intercept = _number(ds.get("RescaleSlope")), _number(ds.get("RescaleIntercept"))
        self.slope = 1.0 if slope is None else slope
        self.intercept = 0.0 if intercept is None else intercept
        self.bits = _int(ds.get("BitsAllocated")) or 16
        stored = _int(ds.get("BitsStored")) or self.bits
        signed = bool(ds.get("PixelRepresentation", 0))
        self.raw_dtype = _raw_dtype(self.bits, signed)
        self.raw_range = (-(2 ** (stored - 1)), 2 ** (stored - 1) - 1) if signed else (0, 2**stored - 1)
        self.extra = {
            k: str(ds.get(k))
            for k in ("Modality", "SeriesDescription", "PatientID", "StudyInstanceUID")
            if ds.get(k) not in (None, "")
        }
        self.tsyntax = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
        self.problem = self._check(path, pixel_at, ds)

    @property
    def has_pixels(self) -> bool:
        """True if the file can be shown."""
        return self.problem is None

    def _check(self, path: Path, pixel_at: int, ds: Any) -> str | None:
        kind = self.extra.get("Modality", "")
        if not _pixel_element_at(path, pixel_at):
            return f"it holds no pixel data (a {kind or 'non-image'} object)"
        if not self.rows or not self.columns:
            return "it has pixel data but no Rows/Columns"
        if self.photometric == "PALETTE COLOR":
            return "palette-colour images are not supported"
        if self.samples not in (1, 3):
            return f"{self.samples} samples per pixel are not supported (1 or 3)"
        if not self.tsyntax:
            return "its file meta has no TransferSyntaxUID, so its pixels cannot be decoded"
        problem = _decoder_problem(self.tsyntax)
        if problem:
            return problem
        from pydicom.uid import UID

        if not UID(self.tsyntax).is_compressed:
            need = (self.rows * self.columns * self.frames * self.samples * self.bits + 7) // 8
            have = _pixel_bytes(path, pixel_at, ds)
            if have is not None and have < need:
                return f"its pixel data is cut short ({have} of {need} bytes)"
        return None


def _raw_dtype(bits: int, signed: bool) -> np.dtype:
    if bits <= 8:
        bits = 8
    elif bits > 16:
        bits = 32 if bits <= 32 else 64
    else:
        bits = 16
    return np.dtype(f"{'int' if signed else 'uint'}{bits}")


def _pixel_element_at(path: Path, at: int) -> bool:
    """True if a pixel data element (7FE0,0010) starts at byte ``at``, either byte order."""
    with open(path, "rb") as fh:
        fh.seek(at)
        head = fh.read(4)
    return head in (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")


def _pixel_bytes(path: Path, at: int, ds: Any) -> int | None:
    """Bytes of pixel data really in the file (the declared length, cut at the file's end)."""
    implicit, little = getattr(ds, "original_encoding", (False, True))
    order: Literal["little", "big"] = "little" if little is not False else "big"
    with open(path, "rb") as fh:
        fh.seek(at)
        head = fh.read(12)
    if implicit:
        length, start = int.from_bytes(head[4:8], order), at + 8
    else:
        length, start = int.from_bytes(head[8:12], order), at + 12
    if length == 0xFFFFFFFF:
        return None
    return max(0, min(length, os.path.getsize(path) - start))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _vector(value: Any, n: int) -> np.ndarray | None:
    try:
        v = np.asarray([float(x) for x in value], dtype=float).ravel()
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
            if "DICOMDIR" in name.upper() or not has_dicm(p):
                continue
            out.append(p)
            if limit is not None and len(out) >= limit:
                return out
    return out


def read_headers(files: Sequence[Path]) -> list[DicomSlice]:
    """Headers of ``files`` (:class:`FormatError` naming the first unreadable one)."""
    return [DicomSlice(Path(f)) for f in files]


def _group_key(s: DicomSlice) -> tuple[Any, ...]:
    return (s.series_uid, s.rows, s.columns, s.samples, s.frames > 1, s.tsyntax)


def _select_series(path: Path) -> tuple[list[DicomSlice], dict[str, int], dict[str, str], DicomSlice | None]:
    """The slices to open, other series (uid -> files), skipped files (name -> why), the given file."""
    wanted = None
    if path.is_dir():
        files = find_dicom_files(path)
        if not files:
            raise FormatError("the folder holds no DICOM files", path)
    else:
        if not has_dicm(path):
            raise FormatError("not a DICOM file (no 'DICM' marker at byte 128)", path)
        wanted = DicomSlice(path)
        if wanted.problem:
            raise FormatError(f"cannot be shown: {wanted.problem}", path)
        files = find_dicom_files(path.parent)
    skipped: dict[str, str] = {}
    groups: dict[tuple[Any, ...], dict[str, DicomSlice]] = {}
    for f in files:
        if wanted is not None and f.resolve() == path.resolve():
            h = wanted
        else:
            try:
                h = DicomSlice(f)
            except FormatError as exc:
                skipped[str(f)] = exc.reason
                continue
        if h.problem:
            skipped[str(f)] = h.problem
            continue
        group = groups.setdefault(_group_key(h), {})
        if h.sop_uid not in group or h is wanted:
            group[h.sop_uid] = h  # one image in several transfer syntaxes counts once
    if wanted is not None:
        key = _group_key(wanted)
    elif not groups:
        first = next(iter(skipped.items()))
        raise FormatError(
            f"no DICOM file in the folder can be shown (e.g. {Path(first[0]).name}: {first[1]})", path
        )
    else:
        key = _first_volume(groups, path)
    slices = sorted(groups[key].values(), key=lambda s: s.path.name)
    others: dict[str, int] = {}
    for k, g in groups.items():
        if k != key:
            name = k[0] if k[0] != key[0] else f"{k[0]} ({k[1]}x{k[2]}, {_syntax_name(k[5])})"
            others[name] = others.get(name, 0) + len(g)
    return slices, others, skipped, wanted


def _syntax_name(uid: str) -> str:
    from pydicom.uid import UID

    return UID(uid).name


def _first_volume(groups: dict[tuple[Any, ...], dict[str, DicomSlice]], path: Path) -> tuple[Any, ...]:
    """The largest group that orders into a volume (the first error if none does)."""
    error = None
    for key in sorted(groups, key=lambda k: (-len(groups[k]), str(k))):
        g = list(groups[key].values())
        if len(g) > 1 and g[0].frames > 1:
            error = error or FormatError(
                "a series of multi-frame files is not supported (open one of them)", path
            )
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                order_slices(g, path)
        except FormatError as exc:
            error = error or exc
            continue
        return key
    assert error is not None
    raise error


def _load_slice(path: str, slope: float, intercept: float, dtype: np.dtype) -> np.ndarray:
    """Pixels of one file with its rescale applied (a broken file raises FormatError naming it)."""
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*excess padding.*")
            raw = pydicom.dcmread(path).pixel_array
    except Exception as exc:
        raise FormatError(f"cannot decode the pixel data ({type(exc).__name__}: {exc})", path) from None
    if slope == 1 and intercept == 0:
        return raw.astype(dtype, copy=False)
    work = np.float64 if dtype.kind == "f" or raw.dtype.itemsize >= 4 else np.float32
    out = raw.astype(work) * slope + intercept
    return np.rint(out).astype(dtype) if dtype.kind != "f" else out.astype(dtype)


def open_dicom(path: str | PathLike[str]) -> Stack:
    """Open a DICOM series lazily as a ``(z, y, x)`` (RGB: ``(z, y, x, 3)``) :class:`Stack` in mm.

    Parameters
    ----------
    path
        A folder of DICOM files, or one file of the series to open.

    Raises
    ------
    FormatError
        If no DICOM file can be shown, the given file cannot be shown (the reason names it), or a
        folder's series has two slices at one position or a slice of another size.

    """
    import dask
    import dask.array as da

    p = Path(path)
    if not p.exists():
        raise FormatError("no such file or folder", p)
    slices, others, skipped, wanted = _select_series(p)
    if p.is_dir():
        sizes = Counter((s.rows, s.columns) for s in slices)
        if len(sizes) > 1:  # cannot happen with the grouping; kept as a guard for odd headers
            raise FormatError("slices of different sizes in one series", p)
    if len(slices) > 1 and slices[0].frames > 1:
        if wanted is None:
            raise FormatError("a series of multi-frame files is not supported (open one of them)", p)
        others[f"{wanted.series_uid} (other multi-frame files)"] = len(slices) - 1
        slices = [wanted]
    try:
        slices, order = order_slices(slices, p)
    except FormatError:
        if wanted is None:
            raise
        warnings.warn(
            f"{p}: its series has several slices at one position (time points or echoes); "
            "this file is opened alone",
            stacklevel=2,
        )
        slices, order = order_slices([wanted], p)
    if skipped:
        warnings.warn(
            f"{p}: {len(skipped)} DICOM files could not be used and were skipped "
            f"(e.g. {Path(next(iter(skipped))).name}: {next(iter(skipped.values()))}); "
            "see metadata['keyskel_stack']['skipped']",
            stacklevel=2,
        )
    first = slices[0]
    assert first.rows is not None and first.columns is not None  # (checked when it was read)
    dtype = out_dtype(slices) if first.samples == 1 else first.raw_dtype
    rows, cols = int(first.rows), int(first.columns)
    plane = (rows, cols) if first.samples == 1 else (rows, cols, 3)
    load = dask.delayed(_load_slice, pure=True)
    if len(slices) == 1 and first.frames > 1:
        shape = (first.frames, *plane)
        data = da.from_delayed(load(str(first.path), first.slope, first.intercept, dtype), shape, dtype)
    else:
        data = da.stack(
            [da.from_delayed(load(str(s.path), s.slope, s.intercept, dtype), plane, dtype) for s in slices]
        )
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
        "transfer_syntax": sorted({s.tsyntax for s in slices}),
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
    if skipped:
        meta["skipped"] = skipped
    mm = "millimeter"
    if first.samples == 3:
        return Stack(data, "ZYXS", (dz, dy, dx, 1.0), (*translate, 0.0), (mm, mm, mm, None), [], meta)
    return Stack(data, "ZYX", (dz, dy, dx), translate, (mm, mm, mm), [], meta)
