"""Checks shared by every format: numbers, ids, paths, sizes, safe quoting and warnings.

One definition of "an integer", "a finite number", "an id", so the COCO and Darwin readers agree,
and the limits that keep a reader from allocating from a number written in a file rather than
from the content actually present.
"""

from __future__ import annotations

import contextlib
import math
import os
import reprlib
import stat
import warnings
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from ..core.skeleton import Skeleton
from ..errors import FormatError, FormatWarning, SkeletonError

__all__ = [
    "DAMAGE",
    "INT64_MAX",
    "MAX_FRAMES",
    "check_path",
    "decimal_scores",
    "fill_fresh_ids",
    "fits_int64",
    "is_id",
    "is_int",
    "is_num",
    "load_skeleton_file",
    "regular_file",
    "short",
    "skeleton_problem",
    "warn",
]

#: The most frames a reader creates for a slot or frame table from a stated number alone (a
#: ``frame_count``, a frame key, a range end); more needs the frames to be present (frame URLs,
#: images). 200,000 frames is about two hours of video at 30 fps.
MAX_FRAMES = 200_000
INT64_MAX = 2**63 - 1

_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = _repr.maxdict = _repr.maxtuple = 6
_repr.maxlong = 40


def is_int(v: Any) -> TypeGuard[int]:
    """A Python or numpy integer that is not a bool."""
    return type(v) is int or (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)))


def is_num(v: Any) -> TypeGuard[float]:
    """A finite number that is not a bool (an integer too large for a float is not one)."""
    if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, (bool, np.bool_)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def is_id(v: Any) -> TypeGuard[int | str]:
    """A file id (COCO image/category/track id): an integer that fits 64 bits, or a string."""
    return isinstance(v, str) or (is_int(v) and fits_int64(v))


def fits_int64(v: int) -> bool:
    """Whether an integer fits a signed 64-bit integer."""
    return -(2**63) <= v <= INT64_MAX


def fill_fresh_ids(ids: list[Any], used: set[Any]) -> list[Any]:
    """Give each ``None`` in ``ids`` a fresh integer above every integer in ``used`` (in place).

    ``used`` is the set of ids already taken; it gains the new ones.
    """
    nxt = max((u for u in used if is_int(u)), default=0) + 1
    for i, v in enumerate(ids):
        if v is None:
            while nxt in used:
                nxt += 1
            ids[i] = nxt
            used.add(nxt)
    return ids


def decimal_scores(a: np.ndarray) -> np.ndarray:
    """float32 scores as the shortest decimals that read back to them (0.13, not 0.12999999523).

    Scores are held as float32; a file gave them as decimals, so they are written back as such.
    """
    return np.asarray(a, np.float32).astype(str).astype(np.float64)


def short(v: Any) -> str:
    """A short, always-safe ``repr`` for messages (depth and length limited: no RecursionError)."""
    try:
        return _repr.repr(v)
    except Exception:
        return f"<{type(v).__name__}>"


#: What damaged data kept from a read file (templates, extras) can raise while it is written back.
DAMAGE: tuple[type[Exception], ...] = (
    TypeError, KeyError, AttributeError, ValueError, IndexError, OverflowError, RecursionError,
)  # fmt: skip


@contextlib.contextmanager
def kept_data_guard(fmt: str, path: Any) -> Iterator[None]:
    """Turn a failure caused by damaged kept ``fmt`` data into a :class:`FormatError` naming ``path``.

    Data kept from a read file (templates, extras) may come back damaged, e.g. edited in another tool.
    """
    try:
        yield
    except FormatError:
        raise
    except DAMAGE as exc:
        raise FormatError(
            f"cannot write: the {fmt} data kept from the file read is damaged ({type(exc).__name__}: "
            f"{str(exc)[:200]})",
            path,
        ) from None


def warn(message: str, path: Any = None, where: str | None = None) -> None:
    """Emit a :class:`~napari_keyskel.errors.FormatWarning` naming the file and the place."""
    warnings.warn(FormatWarning(message, path, where), stacklevel=3)


def check_path(path: str | PathLike[str]) -> Path:
    """``path`` as a :class:`Path`; FormatError for a path no file can have (a NUL byte)."""
    try:
        text = os.fspath(path)
    except TypeError:
        raise FormatError(f"not a file path: {short(path)}") from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if "\0" in text:
        raise FormatError("the path contains a NUL byte", repr(text))
    return Path(text)


def regular_file(path: Path) -> Path:
    """FormatError unless ``path`` is a regular file (a FIFO or a device would block or never end)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise FormatError(f"cannot read file ({exc.strerror or exc})", path) from None
    if stat.S_ISDIR(st.st_mode):
        raise FormatError("is a folder, not a file", path)
    if not stat.S_ISREG(st.st_mode):
        raise FormatError("not a regular file (a pipe, socket or device cannot be read)", path)
    return path


def skeleton_problem(exc: BaseException) -> str:
    """What is wrong with a skeleton record, from the error ``Skeleton.from_dict`` raised."""
    msg = exc.args[0] if exc.args and isinstance(exc.args[0], str) else type(exc).__name__
    return msg[:300]


def load_skeleton_file(path: Path) -> Skeleton:
    """Read a ``*.skeleton.json`` file; every problem is a FormatError naming the file."""
    from ._jsonio import load_json  # (no cycle at import time)

    data = load_json(path)
    try:
        return Skeleton.from_dict(data)
    except (SkeletonError, TypeError, ValueError, RecursionError) as exc:
        raise FormatError(f"not a valid skeleton file: {skeleton_problem(exc)}", path) from None
