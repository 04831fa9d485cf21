"""Camera calibrations in the Anipose / aniposelib TOML layout: read, check and write back.

A calibration file holds one table per camera, ``[cam_0]``, ``[cam_1]``, ... (aniposelib's
``CameraGroup.dump``), and an optional ``[metadata]`` table::

    [cam_0]
    name = "A"
    size = [1280, 1024]                   # (width, height) in pixels
    matrix = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
    distortions = [k1, k2, p1, p2, k3]    # OpenCV's order (4, 5, 8, 12 or 14 values)
    rotation = [rx, ry, rz]               # Rodrigues vector, world -> camera
    translation = [tx, ty, tz]            # world -> camera: x_cam = R @ X + t

Image coordinates follow OpenCV: ``(x, y)`` = (column, row) with integer values at pixel centres,
the same as a store's ``(..., y, x)`` coordinates in reverse order. Keys we do not model (a
camera's ``fisheye`` flag, other per-camera keys, the whole ``metadata`` table) are kept and
written back. Cameras are ordered by the number in their table name (``cam_2`` before
``cam_10``). Bad input raises :class:`~napari_keyskel.errors.FormatError` naming the file and
the table.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ..core._atomic import atomic_write_text
from ..errors import FormatError

if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Calibration", "Camera", "read_calibration", "rodrigues", "write_calibration"]

_CAM_KEY = re.compile(r"^cam_(\d+)$")
_MODELLED = ("name", "size", "matrix", "distortions", "rotation", "translation")
_N_DIST = (4, 5, 8, 12, 14)


def rodrigues(rvec: Sequence[float] | np.ndarray) -> np.ndarray:
    """The 3x3 rotation matrix of a Rodrigues vector (axis times angle in radians)."""
    r = np.asarray(rvec, float).reshape(3)
    theta = float(np.linalg.norm(r))
    if theta < 1e-12:
        return np.eye(3)
    k = r / theta
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(theta) * kx + (1.0 - math.cos(theta)) * (kx @ kx)


@dataclass
class Camera:
    """One calibrated camera (see the module docstring for the conventions).

    Attributes
    ----------
    name
        The camera's name (matched to view names).
    size
        ``(width, height)`` in pixels.
    matrix
        ``(3, 3)`` intrinsic matrix.
    distortions
        OpenCV distortion coefficients ``(k1, k2, p1, p2[, k3, ...])``.
    rotation, translation
        World -> camera Rodrigues vector and translation, ``(3,)`` each.
    extra
        Keys of the camera's table that are not modelled (kept for the write).

    """

    name: str
    size: tuple[int, int]
    matrix: np.ndarray
    distortions: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fisheye(self) -> bool:
        """True for aniposelib's fisheye model (``fisheye = true``)."""
        return bool(self.extra.get("fisheye", False))

    def rotation_matrix(self) -> np.ndarray:
        """World -> camera rotation matrix ``R``."""
        return rodrigues(self.rotation)

    def extrinsics(self) -> np.ndarray:
        """``(3, 4)`` matrix ``[R | t]`` (world -> camera)."""
        return np.hstack([self.rotation_matrix(), self.translation.reshape(3, 1)])

    def projection_matrix(self) -> np.ndarray:
        """``(3, 4)`` pinhole projection ``K [R | t]`` (ignores distortion)."""
        return self.matrix @ self.extrinsics()

    def center(self) -> np.ndarray:
        """The camera centre in world coordinates, ``-R^T t``."""
        return -self.rotation_matrix().T @ self.translation

    def to_dict(self) -> dict[str, Any]:
        """The camera's TOML table (aniposelib's ``Camera.get_dict`` keys plus ``extra``)."""
        return {
            "name": self.name,
            "size": [int(self.size[0]), int(self.size[1])],
            "matrix": self.matrix.tolist(),
            "distortions": self.distortions.tolist(),
            "rotation": self.rotation.tolist(),
            "translation": self.translation.tolist(),
            **self.extra,
        }


@dataclass
class Calibration:
    """Calibrated cameras of one rig, in file order, plus the file's ``metadata`` table."""

    cameras: list[Camera]
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def names(self) -> list[str]:
        """Camera names in order."""
        return [c.name for c in self.cameras]

    def __len__(self) -> int:
        return len(self.cameras)

    def camera(self, name: str) -> Camera:
        """The camera called ``name``; :class:`FormatError` if none is."""
        for c in self.cameras:
            if c.name == name:
                return c
        raise FormatError(f"no camera named {name!r} (cameras: {self.names})", self.source)

    def to_dict(self) -> dict[str, Any]:
        """The whole file as a dict (``cam_N`` tables, then ``metadata`` if any)."""
        out: dict[str, Any] = {f"cam_{i}": c.to_dict() for i, c in enumerate(self.cameras)}
        if self.metadata:
            out["metadata"] = self.metadata
        return out


# -- reading ------------------------------------------------------------------------------------
def _array(path: Path, table: str, d: dict[str, Any], key: str, shape: tuple[int, ...] | None) -> np.ndarray:
    if key not in d:
        raise FormatError(f"missing '{key}'", path, f"[{table}]")
    try:
        arr = np.asarray(d[key], dtype=float)
    except (TypeError, ValueError):
        raise FormatError(f"'{key}' must be numbers, got {d[key]!r}", path, f"[{table}]") from None
    if shape is not None and arr.shape != shape:
        raise FormatError(f"'{key}' must have shape {shape}, got {arr.shape}", path, f"[{table}]")
    if not np.isfinite(arr).all():
        raise FormatError(f"'{key}' holds NaN or infinity", path, f"[{table}]")
    return arr


def _camera(path: Path, table: str, d: Any) -> Camera:
    if not isinstance(d, dict):
        raise FormatError("a camera must be a table", path, f"[{table}]")
    name = d.get("name", table)
    if not isinstance(name, (str, int)) or isinstance(name, bool):
        raise FormatError(f"'name' must be a string, got {name!r}", path, f"[{table}]")
    size = d.get("size")
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise FormatError(f"'size' must be [width, height] in pixels, got {size!r}", path, f"[{table}]")
    matrix = _array(path, table, d, "matrix", (3, 3))
    dist = _array(path, table, d, "distortions", None).ravel()
    if dist.size not in _N_DIST:
        raise FormatError(
            f"'distortions' must hold 4, 5, 8, 12 or 14 numbers (OpenCV), got {dist.size}", path, f"[{table}]"
        )
    rot = _array(path, table, d, "rotation", None).ravel()
    trans = _array(path, table, d, "translation", None).ravel()
    for key, arr in (("rotation", rot), ("translation", trans)):
        if arr.size != 3:
            raise FormatError(f"'{key}' must hold 3 numbers, got {arr.size}", path, f"[{table}]")
    extra = {k: v for k, v in d.items() if k not in _MODELLED}
    return Camera(str(name), (int(size[0]), int(size[1])), matrix, dist, rot, trans, extra)


def read_calibration(path: str | PathLike[str]) -> Calibration:
    """Read an Anipose / aniposelib calibration TOML file.

    Raises :class:`FormatError` (naming the file and the ``[cam_N]`` table) for a file that is not
    TOML, has no camera, or whose camera lacks a key or has the wrong shape.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(f"not a TOML file: {exc}", path) from None
    except UnicodeDecodeError:
        raise FormatError("not a TOML file (not UTF-8 text)", path) from None
    cams = sorted((int(m.group(1)), k) for k in doc if (m := _CAM_KEY.match(k)))
    others = [k for k in doc if not _CAM_KEY.match(k) and k != "metadata"]
    if others:
        raise FormatError(f"unexpected tables {others} (expected cam_0, cam_1, ... and metadata)", path)
    if not cams:
        raise FormatError("no camera table ([cam_0], [cam_1], ...)", path)
    cameras = [_camera(path, k, doc[k]) for _, k in cams]
    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        raise FormatError(f"camera names are not unique: {names}", path)
    meta = doc.get("metadata", {})
    if not isinstance(meta, dict):
        raise FormatError("'metadata' must be a table", path)
    return Calibration(cameras, dict(meta), str(path))


# -- writing ------------------------------------------------------------------------------------
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _string(k)


def _string(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    out = "".join(c if " " <= c != "\x7f" else f"\\u{ord(c):04x}" for c in out)
    return f'"{out}"'


def _value(v: Any, where: str) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x, where) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(str(k))} = {_value(x, where)}" for k, x in v.items()) + "}"
    raise FormatError(f"cannot write a {type(v).__name__} to TOML", None, where)


def _table(name: str, d: dict[str, Any], lines: list[str]) -> None:
    plain = {k: v for k, v in d.items() if not isinstance(v, dict)}
    subs = {k: v for k, v in d.items() if isinstance(v, dict)}
    lines.append(f"[{name}]")
    lines += [f"{_key(str(k))} = {_value(v, f'[{name}] {k}')}" for k, v in plain.items()]
    lines.append("")
    for k, v in subs.items():
        _table(f"{name}.{_key(str(k))}", v, lines)


def calibration_toml(cal: Calibration) -> str:
    """The TOML text of a calibration (what :func:`write_calibration` writes)."""
    lines: list[str] = []
    for name, d in cal.to_dict().items():
        _table(name, d, lines)
    return "\n".join(lines)


def write_calibration(cal: Calibration, path: str | PathLike[str]) -> Path:
    """Write ``cal`` as an aniposelib calibration TOML file (atomically); returns the path."""
    names = cal.names
    if len(set(names)) != len(names):
        raise FormatError(f"camera names are not unique: {names}", path)
    return atomic_write_text(path, calibration_toml(cal))
