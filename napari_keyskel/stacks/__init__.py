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

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from ..errors import FormatError

__all__ = ["FOLDER_PROBE", "Stack", "is_dicom", "is_nifti", "is_tiff", "normalise_unit", "open_stack"]

#: How many files of a folder :func:`is_dicom` looks at before deciding it holds no DICOM.
FOLDER_PROBE = 256

_UNITS = {
    "micron": "micrometer",
    "microns": "micrometer",
    "um": "micrometer",
    "µm": "micrometer",
    "μm": "micrometer",
    "\\u00b5m": "micrometer",
    "micrometer": "micrometer",
    "nm": "nanometer",
    "nanometer": "nanometer",
    "mm": "millimeter",
    "millimeter": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "s": "second",
    "sec": "second",
    "second": "second",
    "ms": "millisecond",
    "msec": "millisecond",
    "usec": "microsecond",
    "min": "minute",
    "h": "hour",
}


def normalise_unit(unit: Any) -> str | None:
    """A pint-style unit name for a unit string found in a file (``"micron"`` -> ``"micrometer"``).

    Returns ``None`` for a missing, pixel or unknown unit.
    """
    if not isinstance(unit, str):
        return None
    return _UNITS.get(unit.strip().lower())


@dataclass
class Stack:
    """A lazily opened image stack and where its voxels sit in physical space.

    Parameters
    ----------
    data
        The array (``numpy.memmap`` or ``dask.array``), in the file's axis order.
    axes
        One upper-case letter per dimension of ``data`` (``T``, ``Z``, ``C``, ``Y``, ``X``, ``S``...).
    scale
        Voxel size per dimension (1.0 where unknown).
    translate
        Position of voxel 0 per dimension, in the same units.
    units
        Unit per dimension (pint name such as ``"micrometer"``), ``None`` where unknown.
    channel_names
        One name per channel when ``"C"`` is in ``axes``.
    meta
        JSON-able extras: ``source``, ``format``, ``lazy`` (``"memmap"``, ``"zarr"``, ``"pages"``,
        ``"slices"``) and format-specific entries (e.g. DICOM rescale, positions, affine).

    """

    data: Any
    axes: str
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    units: tuple[str | None, ...]
    channel_names: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.data.shape)
        for name in ("axes", "scale", "translate", "units"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for a {n}-D array")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the data."""
        return tuple(int(s) for s in self.data.shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions of the data."""
        return len(self.axes)

    @property
    def axis_labels(self) -> tuple[str, ...]:
        """Lower-case axis names (``"t"``, ``"z"``, ``"c"``, ``"y"``, ``"x"``, ``"rgb"`` for ``S``)."""
        return tuple("rgb" if a == "S" else a.lower() for a in self.axes)

    @property
    def channel_axis(self) -> int | None:
        """Index of the channel axis ``C``, if any."""
        i = self.axes.find("C")
        return None if i < 0 else i

    @property
    def rgb(self) -> bool:
        """True if the last axis holds RGB(A) samples."""
        return self.axes.endswith("S") and self.shape[-1] in (3, 4)

    def axis(self, letter: str) -> int:
        """Index of the axis ``letter`` (e.g. ``"Z"``); :class:`KeyError` if absent."""
        i = self.axes.find(letter.upper())
        if i < 0:
            raise KeyError(f"no axis {letter!r} in {self.axes!r}")
        return i


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
    return p.is_file() and _has_dicm(p)


def _has_dicm(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


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
