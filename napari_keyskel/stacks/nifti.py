"""NIfTI-1/NIfTI-2 volumes (``.nii``, ``.nii.gz``) as lazy (z, y, x) or (t, z, y, x) stacks, via nibabel.

- Axes: NIfTI stores voxels as ``(i, j, k[, t])``; the stack is ``(k, j, i[, ...])`` reversed, so
  frames (slices) run along ``k`` and a slice is ``j`` rows of ``i`` columns. This is the layout of
  a V7 volume item made from a NIfTI file: its ``dicom`` slot has ``width = i``, ``height = j``
  and ``frame_count = k`` (slot ``metadata.shape`` is ``[1, i, j, k]``), so Darwin frame ``f``,
  node ``(x, y)`` lands on slice ``f``, column ``x``, row ``y`` of this stack.
- Voxel size and units from the header (``pixdim`` via ``get_zooms``, ``xyzt_units``; mm when
  the header says nothing); ``translate`` is the first voxel's position in the voxel-aligned frame
  (its world position projected on the unit axis directions), and ``meta["affine"]`` the full
  voxel -> world (RAS+ mm) affine *for the stack's index order* (``(k, j, i)``), with the file's own
  ``(i, j, k)`` affine in ``meta["nifti_affine"]``. Oblique volumes are placed axis-aligned in the
  viewer (napari layers have no rotation here); the affine keeps the truth.
- Values: nibabel's ``scl_slope``/``scl_inter`` scaling applies (as nibabel's array proxy does).
- Lazy: nibabel's array proxy (nothing read on open); a dask array with one chunk per slice
  (and time point) reads only what is shown. ``.nii.gz`` slices decompress from the file start
  unless ``indexed_gzip`` is installed (nibabel uses it when present).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..errors import FormatError
from ._stack import Stack, normalise_unit

__all__ = ["NIFTI_SUFFIXES", "is_nifti", "open_nifti"]

NIFTI_SUFFIXES = (".nii", ".nii.gz")
_MAGICS = (b"n+1\x00", b"ni1\x00", b"n+2\x00", b"ni2\x00")


def is_nifti(path: str | PathLike[str]) -> bool:
    """True if ``path`` is a ``.nii`` / ``.nii.gz`` file with a NIfTI magic (gzip is opened)."""
    p = Path(path)
    name = p.name.lower()
    if not p.is_file() or not name.endswith(NIFTI_SUFFIXES):
        return False
    import gzip

    try:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(p, "rb") as fh:
            head = fh.read(548)
    except OSError:
        return False
    return head[344:348] in _MAGICS or head[4:8] in _MAGICS


def _units(header: Any) -> tuple[str, str | None]:
    try:
        space, time = header.get_xyzt_units()
    except Exception:
        space, time = "unknown", "unknown"
    return normalise_unit(space) or "millimeter", normalise_unit(time)


def open_nifti(path: str | PathLike[str]) -> Stack:
    """Open a NIfTI file lazily as a ``ZYX`` (3-D) or ``TZYX`` (4-D) :class:`Stack`.

    Raises
    ------
    FormatError
        If the file is missing, not NIfTI, broken, or not 2-D to 4-D.

    """
    import dask.array as da
    import nibabel as nib

    p = Path(path)
    if not p.exists():
        raise FormatError("no such file or folder", p)
    if not is_nifti(p):
        raise FormatError("not a NIfTI file (.nii / .nii.gz with a NIfTI header)", p)
    try:
        img = cast("nib.nifti1.Nifti1Image", nib.load(str(p)))
        proxy = img.dataobj
        shape = tuple(int(s) for s in proxy.shape)
        header = img.header
        zooms = tuple(float(z) for z in header.get_zooms())
        affine = np.asarray(img.affine, dtype=np.float64)
        sample = np.asarray(proxy[(0,) * len(shape)])  # the scaled dtype (one voxel read)
    except Exception as exc:
        raise FormatError(f"broken NIfTI file ({type(exc).__name__}: {exc})", p) from None
    if len(shape) > 4 and any(s > 1 for s in shape[4:]):
        raise FormatError(f"a {len(shape)}-D NIfTI image ({shape}) is not supported (2-D to 4-D)", p)
    if len(shape) < 2:
        raise FormatError(f"a {len(shape)}-D NIfTI image is not an image", p)
    if not p.name.lower().endswith(".gz"):  # an uncompressed file cut short: say so on open
        need = int(header.get_data_offset()) + int(np.prod(shape)) * img.get_data_dtype().itemsize
        if p.stat().st_size < need:
            raise FormatError(f"broken NIfTI file: {p.stat().st_size} bytes, its header needs {need}", p)
    chunks = tuple(s if i < 2 else 1 for i, s in enumerate(shape))
    meta_arr = np.empty((0,) * len(shape), sample.dtype)
    source = _Named(proxy, p, sample.dtype)
    data = da.from_array(source, chunks=chunks, lock=True, asarray=True, meta=meta_arr)
    if len(shape) > 4:
        data = data[(slice(None),) * 4 + (0,) * (len(shape) - 4)]
    elif len(shape) == 2:
        data = data[:, :, None]
    shape = tuple(int(s) for s in data.shape)
    ndim = len(shape)
    space, time = _units(header)
    data = data.transpose((3, 2, 1, 0) if ndim == 4 else (2, 1, 0))  # (i, j, k[, t]) -> ([t,] k, j, i)
    di, dj, dk = (list(zooms[:3]) + [1.0] * 3)[:3]
    m = affine.copy()
    stack_affine = np.eye(4)
    stack_affine[:3, 0], stack_affine[:3, 1], stack_affine[:3, 2] = m[:3, 2], m[:3, 1], m[:3, 0]
    stack_affine[:3, 3] = m[:3, 3]
    norms = np.linalg.norm(m[:3, :3], axis=0)
    dirs = m[:3, :3] / np.where(norms > 0, norms, 1.0)
    origin = m[:3, 3]
    translate3 = (float(origin @ dirs[:, 2]), float(origin @ dirs[:, 1]), float(origin @ dirs[:, 0]))
    meta: dict[str, Any] = {
        "source": str(p),
        "format": "nifti",
        "lazy": "nibabel-proxy",
        "nifti_shape": list(shape),
        "affine": stack_affine.tolist(),
        "nifti_affine": affine.tolist(),
        "pixdim": list(zooms),
        "scaled": sample.dtype != img.get_data_dtype(),
        "orientation": "".join(nib.aff2axcodes(affine)),
    }
    if ndim == 4:
        dt = float(zooms[3]) if len(zooms) > 3 and zooms[3] > 0 else 1.0
        return Stack(
            data, "TZYX", (dt, dk, dj, di), (0.0, *translate3), (time, space, space, space), [], meta
        )
    return Stack(data, "ZYX", (dk, dj, di), translate3, (space, space, space), [], meta)


class _Named:
    """nibabel's array proxy, whose read errors become a FormatError naming the file."""

    def __init__(self, proxy: Any, path: Path, dtype: np.dtype) -> None:
        self._proxy, self._path = proxy, path
        self.shape, self.dtype, self.ndim = tuple(proxy.shape), dtype, len(proxy.shape)

    def __getitem__(self, index: Any) -> np.ndarray:
        try:
            return np.asarray(self._proxy[index])
        except Exception as exc:
            raise FormatError(f"broken NIfTI file ({type(exc).__name__}: {exc})", self._path) from None
