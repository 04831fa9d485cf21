"""The track ids and keyskel track records a written COCO file carries (part of :mod:`._write`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.store import Track
from ._rows import Rows
from ._rules import is_id, is_int
from ._write_tables import foreign_meta

__all__ = ["file_value", "track_records"]


def file_value(t: Track, m: dict[str, Any]) -> Any:
    """The track id to write: the file's id read from COCO (or V7's instance id), else ours."""
    if "key" in m and is_id(m["key"]):
        return m["key"]
    d = t.meta.get("darwin") if isinstance(t.meta, dict) else None
    inst = (
        d.get("extra", {}).get("instance_id")
        if isinstance(d, dict) and isinstance(d.get("extra"), dict)
        else None
    )
    v = inst.get("value") if isinstance(inst, dict) else None
    return v if is_int(v) else t.track_id


def _runs(alive: np.ndarray, start: int) -> list[list[int]]:
    idx = np.flatnonzero(alive)
    if idx.size == 0:
        return []
    cut = np.flatnonzero(np.diff(idx) != 1) + 1
    a, b = np.r_[0, cut], np.r_[cut, idx.size]
    return [[int(idx[i]) + start, int(idx[j - 1]) + start + 1] for i, j in zip(a, b)]


def track_records(
    rows: Rows, values: list[Any], results: bool, codes: np.ndarray
) -> dict[int, dict[str, Any]]:
    """Our ``keyskel.track`` record for the first written row of each track that needs one.

    ``codes``: the item (video) of each frame. A track seen in several items always has its
    ``alive`` ranges written: they tell a reader it is one instance there (a track id alone
    names an instance within one video).
    """
    owner = rows.owner
    cut = np.flatnonzero(np.diff(owner)) + 1  # rows are grouped by track, in track order
    firsts, lasts = np.r_[0, cut], np.r_[cut, owner.size] - 1
    tis = owner[firsts]
    item = codes[rows.frame] if codes.size else np.zeros(rows.n, np.intp)
    one_item = np.minimum.reduceat(item, firsts) == np.maximum.reduceat(item, firsts)
    # the default lifespan (first..last written row, all alive, one item) needs no record
    plain = (
        rows.all_alive[tis]
        & (rows.frame[firsts] == rows.starts[tis])
        & (rows.frame[lasts] + 1 == rows.stops[tis])
        & one_item
    )
    frames = rows.frame
    out = {}
    for ti, r, last, is_plain in zip(tis.tolist(), firsts.tolist(), lasts.tolist(), plain.tolist()):
        t, m = rows.tracks[ti], rows.metas[ti]
        rec: dict[str, Any] = {}
        default_name = (
            m.get("key") if isinstance(m.get("key"), str) and m["key"].strip() else f"instance {t.track_id}"
        )
        if t.name != default_name:
            rec["name"] = t.name
        foreign = foreign_meta(t.meta)
        if results:  # a results file goes back as it was: V7's own bookkeeping stays out of it
            foreign.pop("darwin", None)
        if foreign:
            rec["meta"] = foreign
        # our id, unless the file's id maps back to it by itself (a string id; an id renumbered on read)
        if is_int(values[ti]) and values[ti] != t.track_id and m.get("read_id") != t.track_id:
            rec["id"] = int(t.track_id)
        if not is_plain:
            runs = _runs(t.alive, t.start)
            if runs != [[int(frames[r]), int(frames[last]) + 1]] or item[r] != item[last]:
                rec["alive"] = runs
        if rec:
            out[r] = rec
    return out
