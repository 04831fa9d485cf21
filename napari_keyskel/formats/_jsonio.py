"""JSON reading and atomic writing shared by the format modules, with orjson.

orjson (a dependency, with wheels for every platform napari runs on) parses and writes JSON
several times faster than the standard library. The standard library's :mod:`json` stays only
where orjson cannot do the job: reading a COCO file that holds ``NaN`` or ``Infinity`` (not
JSON; orjson refuses the whole file, :mod:`json` reads it, so the reader can name the annotation
and node holding the bad number: ``coco/_read.py``), and a line/column for a syntax error,
which orjson's error carries as well.

Big documents are written as pieces of text (:func:`dump_chunks`: the COCO writer's annotations,
each made from whole-array serialisations) joined a megabyte at a time, never as one buffer
the size of the file.

Text written here differs from :func:`json.dumps` only in whitespace (none, or two-space indent)
and escaping (orjson writes non-ASCII characters as UTF-8, never a ``u`` escape, and escapes only
what JSON requires); the JSON values are the same. Numbers are written as the shortest text that
reads back to the same float. NaN and infinities are never written by the formats (their
writers check positions first); a value orjson cannot write is a :class:`FormatError`.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from ..core._atomic import atomic_write, atomic_write_bytes
from ..errors import FormatError
from ._checks import check_path, regular_file

__all__ = [
    "dump_chunks",
    "dump_json",
    "dumps_json",
    "gc_paused",
    "json_items",
    "load_json",
    "loads_json",
    "read_bytes",
]


def loads_json(data: bytes | str, path: str | PathLike[str] | None = None) -> Any:
    """Parse JSON text; a syntax error becomes a :class:`FormatError` naming ``path`` and line."""
    try:
        return orjson.loads(data)
    except RecursionError:
        raise FormatError("not valid JSON (nested too deeply)", path) from None
    except (ValueError, TypeError) as exc:
        # orjson.JSONDecodeError subclasses json.JSONDecodeError (lineno/colno available)
        where = None
        if isinstance(exc, json.JSONDecodeError):
            where = f"line {exc.lineno}, column {exc.colno}"
        raise FormatError(f"not valid JSON ({exc})", path, where) from None


def load_json(path: str | PathLike[str]) -> Any:
    """Read and parse a JSON file; errors name the file."""
    return loads_json(read_bytes(path), path)


def read_bytes(path: str | PathLike[str]) -> bytes:
    """The bytes of a regular file (never blocks on a FIFO); errors name the file."""
    p = regular_file(check_path(path))
    try:
        return p.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read file ({exc.strerror or exc})", p) from None
    except MemoryError:
        raise FormatError("the file is too large to read into memory", p) from None


def dumps_json(obj: Any, indent: bool = False) -> bytes:
    """Serialise to UTF-8 JSON bytes (numpy arrays and :class:`orjson.Fragment` text included)."""
    opts = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(obj, option=opts)
    except TypeError as exc:  # (orjson.JSONEncodeError: also a value nested over 254 deep)
        raise FormatError(f"cannot serialise to JSON: {exc}") from None


def dump_json(path: str | PathLike[str], obj: Any, indent: bool = False) -> Path:
    """Serialise ``obj`` and replace ``path`` atomically (the old file survives any failure)."""
    data = dumps_json(obj, indent)  # serialise fully before touching the disk
    try:
        return atomic_write_bytes(path, data)
    except OSError as exc:
        raise FormatError(f"cannot write file ({exc.strerror or exc})", path) from None


#: Pieces of text joined per write by :func:`dump_chunks` (about a megabyte of annotations):
#: no buffer as large as the file, and few system calls.
_BATCH = 2048


def dump_chunks(path: str | PathLike[str], chunks: list[bytes]) -> Path:
    """Write the pieces of text ``chunks`` one after another to ``path``, atomically."""

    def write(fh: IO[bytes]) -> None:
        for i in range(0, len(chunks), _BATCH):
            fh.write(b"".join(chunks[i : i + _BATCH]))

    try:
        return atomic_write(path, write)
    except OSError as exc:
        raise FormatError(f"cannot write file ({exc.strerror or exc})", path) from None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while parsing or building big documents.

    Parsing creates millions of short-lived, acyclic containers; each allocation burst would
    otherwise trigger collections that walk the whole growing document again (2-3x slower).
    Reference counting still frees them; the previous state is restored on exit.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def json_items(a: np.ndarray) -> list[bytes]:
    """The JSON text of each value of a 1-D number or bool array (one orjson call)."""
    if a.size == 0:
        return []
    return orjson.dumps(np.ascontiguousarray(a), option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
