"""Microscopy and medical image stacks: open a file lazily with its axes and voxel size.

Pure core (no napari, no Qt). :func:`open_stack` returns a :class:`Stack`: a lazy array (a
read-only ``numpy.memmap`` or a ``dask`` array; never the whole data in memory) plus what a
viewer needs to place it in physical space:

- ``axes``: one letter per array dimension, tifffile style (``"TZCYX"``; ``S`` = RGB samples);
- ``scale`` / ``translate``: voxel size and origin per axis in ``units``;
- ``axis_labels``: lower-case names (``"t"``, ``"z"``, ``"c"``, ``"y"``, ``"x"``);
- ``channel_axis`` and ``channel_names`` when the data has a channel axis.

Keypoints are stored in the array's data (voxel) coordinates; the physical scale only places
the image (and the annotation layer that shares its ``scale``/``translate``) in the viewer.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

from ..errors import FormatError
from ._stack import FOLDER_PROBE, Stack, has_dicm, normalise_unit

__all__ = ["FOLDER_PROBE", "Stack", "is_dicom", "is_nifti", "is_tiff", "normalise_unit", "open_stack"]


def is_tiff(path: str | PathLike[str]) -> bool:
    """True if ``path`` is a file starting with a TIFF or BigTIFF header."""
    p = Path(path)
    if not p.is_file():
        return False
    with open(p, "rb") as fh:
        head = fh.read(4)
    return head in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_dicom(path: str | PathLike[str]) -> bool:
    """True if ``path`` is a DICOM Part-10 file (``DICM`` at byte 128) or a folder holding one.

    For a folder, only the first :data:`FOLDER_PROBE` files (sorted, recursively) are looked at.
    """
    from .dicom import find_dicom_files

    p = Path(path)
    if p.is_dir():
        return bool(find_dicom_files(p, limit=1, max_checked=FOLDER_PROBE))
    return p.is_file() and has_dicm(p)


def is_nifti(path: str | PathLike[str]) -> bool:
    """True if ``path`` is a ``.nii`` / ``.nii.gz`` file with a NIfTI header."""
    from .nifti import is_nifti as _is_nifti

    return _is_nifti(path)


def open_stack(path: str | PathLike[str], **kwargs: Any) -> Stack:
    """Open a TIFF file, a NIfTI file, or a DICOM file / folder (series), as a lazy :class:`Stack`.

    ``**kwargs`` go to :func:`~napari_keyskel.stacks.tiff.open_tiff`,
    :func:`~napari_keyskel.stacks.nifti.open_nifti` or :func:`~napari_keyskel.stacks.dicom.open_dicom`.

    Raises
    ------
    FormatError
        If the path does not exist, is neither format, or is a broken file of its format.

    """
    p = Path(path)
    if not p.exists():
        raise FormatError("no such file or folder", p)
    if is_tiff(p):
        from .tiff import open_tiff

        return open_tiff(p, **kwargs)
    if is_nifti(p):
        from .nifti import open_nifti

        return open_nifti(p, **kwargs)
    if is_dicom(p):
        from .dicom import open_dicom

        return open_dicom(p, **kwargs)
    raise FormatError("neither a TIFF file, a NIfTI file nor a DICOM file or folder", p)
