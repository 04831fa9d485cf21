"""Plain annotations as JSON text made from whole arrays (the COCO writer's fast form; :mod:`._write`).

A plain annotation (no originals kept, no extras, no keyskel record: most rows of most files)
is one template with its values filled in. Each numeric column is serialised by one orjson call
(the keypoints as one ``(N, 3K)`` array, the boxes as one ``(N, 4)`` array, the areas, the ids)
and cut into rows at its brackets (numbers never hold one); the fields that take few values
(image and category, ``num_keypoints``, the track fields) are texts looked up in small tables.
An annotation is thus seven pieces of text (:data:`N_PIECES`) joined in C (one ``bytes.join``
per annotation, mapped over all of them), and the file is written from the texts of all
annotations (:func:`annotations_text`) without joining them into one buffer first. The text is byte for byte
what orjson writes for the annotation dicts (``tests/test_formats_fast_text.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._jsonio import dumps_json, json_items

__all__ = ["N_PIECES", "annotations_text", "column", "field_texts", "row_texts", "table_texts"]

#: Pieces of text per annotation: id, image/category, keypoints, num_keypoints, bbox, area, tail.
N_PIECES = 7


def row_texts(a: np.ndarray, end: bytes) -> list[bytes]:
    """The JSON text of each row of a 2-D number array, without ``[`` and followed by ``end``.

    ``[[1.0,2.0],[3.0,4.5]]`` gives ``[b"1.0,2.0]" + end, b"3.0,4.5]" + end]``: one orjson call
    for the whole array, cut at the ``[`` that opens each row.
    """
    n = a.shape[0]
    if n == 0:
        return []
    if a.shape[1] == 0:
        return [b"]" + end] * n
    text = dumps_json(np.ascontiguousarray(a))
    if end != b",":
        text = text.replace(b"],[", b"]" + end + b"[")
    out = text.split(b"[")[2:]  # (after the list's bracket and the first row's)
    out[-1] = out[-1][:-1] + end  # (the list's closing bracket)
    return out


def field_texts(values: Sequence[Any], key: bytes) -> list[bytes]:
    """``key`` followed by the JSON text of each value (one orjson call for 64-bit integers)."""
    if values and set(map(type, values)) == {int}:
        try:
            items = json_items(np.asarray(values, np.int64))
        except OverflowError:
            items = list(map(dumps_json, values))
    else:
        items = list(map(dumps_json, values))
    return list(map(key.__add__, items))


def table_texts(codes: np.ndarray, text_of: Any) -> list[bytes]:
    """``text_of(c)`` for each code, made once per distinct code and looked up for the others."""
    if codes.size == 0:
        return []
    uniq, inv = np.unique(codes, return_inverse=True)
    table = [text_of(c) for c in uniq.tolist()]
    return list(map(table.__getitem__, inv.ravel().tolist()))


def column(n: int, rows: np.ndarray, texts: list[bytes]) -> list[bytes]:
    """A column of ``n`` pieces: ``texts`` at ``rows``, empty elsewhere."""
    if len(texts) == n:
        return texts
    out = np.full(n, b"", object)
    if rows.size:
        out[rows] = np.array(texts, object) if texts else b""
    return out.tolist()


def annotations_text(rows: list[bytes]) -> list[bytes]:
    """The annotations list as pieces of text, from each annotation's text ending in ``,``."""
    if not rows:
        return [b"[]"]
    out = [b"[", *rows, b"]"]
    out[-2] = out[-2][:-1]  # (the last one's comma)
    return out
