"""JSON reading and atomic writing shared by the format modules (orjson when available)."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import Any

from ..core._atomic import atomic_write_bytes
from ..errors import FormatError
from ._checks import check_path, regular_file

try:  # orjson parses ~2x faster than json and is a declared dependency; json is the fallback
    import orjson
except ImportError:  # pragma: no cover - exercised only without orjson
    orjson = None  # type: ignore[assignment]

__all__ = ["dump_json", "dumps_json", "gc_paused", "load_json", "loads_json", "read_bytes"]


def loads_json(data: bytes | str, path: str | PathLike[str] | None = None) -> Any:
    """Parse JSON text; a syntax error becomes a :class:`FormatError` naming ``path`` and line."""
    try:
        if orjson is not None:
            return orjson.loads(data)
        return json.loads(data)
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
    """Serialise to UTF-8 JSON bytes (NaN is rejected: formats must write finite numbers)."""
    if orjson is not None:
        opts = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
        try:
            return orjson.dumps(obj, option=opts)
        except TypeError as exc:  # (orjson.JSONEncodeError: also a value nested over 254 deep)
            raise FormatError(f"cannot serialise to JSON: {exc}") from None
    try:
        text = json.dumps(obj, indent=2 if indent else None, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise FormatError(f"cannot serialise to JSON: {exc}") from None
    return text.encode("utf-8")


def dump_json(path: str | PathLike[str], obj: Any, indent: bool = False) -> Path:
    """Serialise ``obj`` and replace ``path`` atomically (the old file survives any failure)."""
    data = dumps_json(obj, indent)  # serialise fully before touching the disk
    try:
        return atomic_write_bytes(path, data)
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
