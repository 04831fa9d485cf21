"""The :class:`Stack` every stack reader returns, and what the readers share (units, the DICOM mark).

Kept apart from the package's ``__init__`` so that the readers (:mod:`.tiff`, :mod:`.dicom`,
:mod:`.nifti`) import it without importing the package that imports them (no import circle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FOLDER_PROBE", "Stack", "has_dicm", "normalise_unit"]

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


def has_dicm(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"
