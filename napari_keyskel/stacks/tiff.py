"""TIFF stacks (ImageJ hyperstacks, OME-TIFF, plain TIFF) opened lazily with tifffile.

- Axes come from tifffile's series (``"TZCYX"`` for an ImageJ hyperstack, the OME ``DimensionOrder``
  for OME-TIFF, ``"YX"``/``"QYX"``/``"YXS"`` for plain files).
- Voxel size: ImageJ ``spacing`` (z), ``finterval`` (t), ``unit`` and the X/YResolution tags
  (pixels per unit); OME ``PhysicalSize{X,Y,Z}`` (+ units, default µm) and ``TimeIncrement``.
  Origin: ImageJ ``xorigin``/``yorigin``/``zorigin`` (in pixels). A plain TIFF without ImageJ or
  OME metadata gets scale 1 and no unit (its DPI resolution tags are not a physical voxel size).
- Laziness: an uncompressed, contiguous series is a read-only ``numpy.memmap``; anything else
  (compressed, tiled, scattered strips) is a dask array over tifffile's zarr store when ``zarr`` is
  installed, else over one delayed read per page. The whole array is never read on open.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..errors import FormatError
from ._stack import Stack, normalise_unit

__all__ = ["open_tiff"]


def _fraction(value: Any) -> float | None:
    try:
        if isinstance(value, tuple):
            num, den = value
            return float(num) / float(den) if den else None
        return float(value)
    except (TypeError, ValueError):
        return None


def _positive(value: Any) -> float | None:
    v = _fraction(value)
    return v if v is not None and np.isfinite(v) and v > 0 else None


# -- metadata -------------------------------------------------------------------------------------
def _imagej_geometry(tif: tifffile.TiffFile, axes: str) -> tuple[dict, dict, dict, dict]:
    """Scale, translate, unit per axis letter and extras from ImageJ metadata."""
    ij = tif.imagej_metadata or {}
    page = tif.pages.first
    scale: dict[str, float] = {}
    origin: dict[str, float] = {}
    units: dict[str, str | None] = {}
    unit = normalise_unit(ij.get("unit"))
    for letter, tag in (("X", "XResolution"), ("Y", "YResolution")):
        res = _positive(page.tags[tag].value) if tag in page.tags else None
        if res is not None and unit is not None:
            scale[letter] = 1.0 / res
            units[letter] = unit
    if (dz := _positive(ij.get("spacing"))) is not None:
        scale["Z"] = dz
        units["Z"] = unit
    if (dt := _positive(ij.get("finterval"))) is not None:
        scale["T"] = dt
        units["T"] = normalise_unit(ij.get("tunit")) or "second"
    for letter in "XYZ":
        o = _fraction(ij.get(f"{letter.lower()}origin"))
        if o is not None and np.isfinite(o):
            origin[letter] = -o * scale.get(letter, 1.0)
    extras = {k: ij[k] for k in ("unit", "spacing", "finterval", "tunit") if k in ij}
    return scale, origin, units, {"imagej": _jsonable(extras)}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _ome_geometry(tif: tifffile.TiffFile, series: int, path: Path) -> tuple[dict, dict, dict, list[str]]:
    """Scale, unit per axis letter and channel names from the OME-XML of image ``series``."""
    try:
        root = ET.fromstring(tif.ome_metadata or "")
    except ET.ParseError as exc:
        raise FormatError(f"unreadable OME-XML metadata ({exc})", path, "ImageDescription") from None
    images = [el for el in root if _local(el.tag) == "Image"]
    if series >= len(images):
        return {}, {}, {}, []
    pixels = next((el for el in images[series] if _local(el.tag) == "Pixels"), None)
    if pixels is None:
        return {}, {}, {}, []
    scale: dict[str, float] = {}
    units: dict[str, str | None] = {}
    for letter in "XYZ":
        if (size := _positive(pixels.get(f"PhysicalSize{letter}"))) is not None:
            scale[letter] = size
            units[letter] = normalise_unit(pixels.get(f"PhysicalSize{letter}Unit", "µm"))
    if (dt := _positive(pixels.get("TimeIncrement"))) is not None:
        scale["T"] = dt
        units["T"] = normalise_unit(pixels.get("TimeIncrementUnit", "s"))
    names = [
        ch.get("Name") or f"ch{i}" for i, ch in enumerate(el for el in pixels if _local(el.tag) == "Channel")
    ]
    return scale, {}, units, names


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


# -- lazy data -----------------------------------------------------------------------------------
def _memmap(path: Path, s: tifffile.TiffPageSeries, byteorder: str) -> np.memmap | None:
    offset = s.dataoffset
    if offset is None or s.dtype is None:
        return None
    dtype = np.dtype(s.dtype).newbyteorder(">" if byteorder == ">" else "<" if byteorder == "<" else "=")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(s.shape), order="C")


def _zarr_array(path: Path, series: int, level: int) -> Any | None:
    try:
        import zarr
    except ImportError:
        return None
    import dask.array as da

    store = tifffile.imread(path, aszarr=True, series=series, level=level)
    z = zarr.open(store, mode="r")
    arr = da.from_zarr(z)
    arr._keyskel_store = store  # keep the file handle alive
    return arr


class _PageReader:
    """Reads one page of a TIFF file at a time, thread-safely, with one open file handle."""

    def __init__(self, path: Path, series: int, level: int) -> None:
        self.path = path
        self.series = series
        self.level = level
        self._lock = threading.Lock()
        self._tif: tifffile.TiffFile | None = None

    def page(self, index: int) -> np.ndarray:
        with self._lock:
            if self._tif is None:
                self._tif = tifffile.TiffFile(self.path)
            s = self._tif.series[self.series].levels[self.level]
            page = s.pages[index]
            if page is None:
                raise FormatError(f"page {index} of the series is missing", self.path)
            return page.asarray()


def _page_array(path: Path, s: tifffile.TiffPageSeries, series: int, level: int) -> Any:
    import dask
    import dask.array as da

    pages = s.pages
    if not len(pages) or pages[0] is None:
        raise FormatError("the series has no pages", path)
    page_shape = tuple(pages[0].shape)
    n = len(pages)
    lead = tuple(s.shape[: len(s.shape) - len(page_shape)])
    if int(np.prod(lead, dtype=np.int64)) != n:
        raise FormatError(f"{n} pages do not fill a series of shape {tuple(s.shape)}", path)
    reader = _PageReader(path, series, level)
    load = dask.delayed(reader.page, pure=True)
    blocks = [da.from_delayed(load(i), shape=page_shape, dtype=s.dtype) for i in range(n)]
    return da.stack(blocks).reshape(tuple(s.shape))


# -- public ---------------------------------------------------------------------------------------
def open_tiff(path: str | PathLike[str], series: int = 0, level: int = 0, engine: str | None = None) -> Stack:
    """Open one series of a TIFF file lazily with its axes and voxel size.

    Parameters
    ----------
    path
        The ``.tif``/``.tiff`` file.
    series
        Which tifffile series (OME image) to open.
    level
        Pyramid level (0 = full resolution).
    engine
        ``None`` (automatic: memmap when contiguous, else zarr, else pages), or force one of
        ``"memmap"``, ``"zarr"``, ``"pages"``.

    Raises
    ------
    FormatError
        If the file is missing, not a TIFF, broken, or has no such series; or ``engine`` cannot
        serve this file.

    """
    p = Path(path)
    if not p.is_file():
        raise FormatError("no such file", p)
    if engine not in (None, "memmap", "zarr", "pages"):
        raise FormatError(f"unknown engine {engine!r} (memmap, zarr, pages)", p)
    try:
        tif = tifffile.TiffFile(p)
    except (tifffile.TiffFileError, ValueError, OSError, EOFError) as exc:
        raise FormatError(f"not a readable TIFF file ({exc})", p) from None
    with tif:
        try:
            if not tif.series:
                raise FormatError("no image in the file (broken or empty TIFF)", p)
            if series >= len(tif.series) or series < 0:
                raise FormatError(f"no series {series} (the file has {len(tif.series)})", p)
            s = tif.series[series]
            if level >= len(s.levels) or level < 0:
                raise FormatError(f"series {series} has no pyramid level {level}", p)
            s = s.levels[level]
            axes = s.axes.upper()
            shape = tuple(int(n) for n in s.shape)
            if tif.is_imagej:
                scale_by, origin_by, units_by, extras = _imagej_geometry(tif, axes)
                names: list[str] = []
                fmt = "imagej"
            elif tif.is_ome:
                scale_by, origin_by, units_by, names = _ome_geometry(tif, series, p)
                extras, fmt = {}, "ome"
            else:
                scale_by, origin_by, units_by, names, extras, fmt = {}, {}, {}, [], {}, "tiff"
            data = None
            mode = engine
            if engine in (None, "memmap"):
                data = _memmap(p, s, tif.byteorder)
                mode = "memmap"
                if data is None and engine == "memmap":
                    raise FormatError("the image data is not contiguous and uncompressed", p)
            if data is None and engine in (None, "zarr"):
                data = _zarr_array(p, series, level)
                mode = "zarr"
                if data is None and engine == "zarr":
                    raise FormatError("engine 'zarr' needs the zarr package", p)
            if data is None:
                data = _page_array(p, s, series, level)
                mode = "pages"
        except FormatError:
            raise
        except Exception as exc:  # tifffile raises many types for corrupt files
            raise FormatError(f"broken TIFF file ({type(exc).__name__}: {exc})", p) from None
    if tuple(data.shape) != shape:
        raise FormatError(f"data of shape {tuple(data.shape)} does not match series shape {shape}", p)
    scale = tuple(float(scale_by.get(a, 1.0)) for a in axes)
    translate = tuple(float(origin_by.get(a, 0.0)) for a in axes)
    units = tuple(units_by.get(a) for a in axes)
    c = axes.find("C")
    if c >= 0 and len(names) != shape[c]:
        names = [f"ch{i}" for i in range(shape[c])]
    meta = {"source": str(p), "format": fmt, "lazy": mode, "series": series, "level": level, **extras}
    return Stack(data, axes, scale, translate, units, names if c >= 0 else [], meta)
