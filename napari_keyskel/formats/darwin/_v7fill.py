"""V7's own interpolation of video annotations (``"interpolated": true``), on read and on write.

V7 shows a video annotation on every frame of its ``ranges``. When the annotation says
``"interpolated": true`` (``"interpolate_algorithm": "linear-1.1"``), each node moves linearly
from one keyframe to the next, and after its last keyframe the pose is held to the end of the
range. Nothing is bridged across ``hidden_areas`` or the gaps between ranges: a span between
two keys with a hidden frame between them is not drawn (keyskel's rule for lifespan gaps; how
V7 draws it is not documented), and the last key is held up to the hidden frame. V7's exports write
those in-between frames out (``"keyframe": false``), but V7 import files and files written by
scripts often hold only the keyframes.

- **Reading** (:func:`fill_missing`): the frames of the lifespan a file does not list are filled
  as V7 shows them, with :func:`~napari_keyskel.core.interpolate.fill_spans` (linear, holding
  the last key): the same numbers keyskel's own *Interpolate all* gives. They are interpolated
  cells (not keys); the track's ``meta["darwin"]["filled"]`` says the reader filled some.
- **Writing** (:func:`plan_rows`): for such a track, in-between frames the file did not list
  are left out again when V7's interpolation of what is written gives them back exactly, so a
  file read and written back holds the same frames. When a track holds alive frames that V7
  would fill differently (frames left empty, or a key changed so the fill would differ), they
  are written out, or, if empty, the annotation says ``"keyskel": {"fill": false}``: keyskel
  then reads those frames as empty (V7 itself still interpolates them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.interpolate import Method, fill_spans
from .._coords import DARWIN_OFFSET, round_decimals

__all__ = ["fill_missing", "plan_rows", "v7_interpolates"]


def v7_interpolates(extra: dict[str, Any]) -> bool:
    """Whether V7 interpolates a video annotation with these kept keys (``"interpolated": true``)."""
    return extra.get("interpolated") is True


def fill_missing(
    coords: np.ndarray, vis: np.ndarray, key: np.ndarray, alive: np.ndarray, listed: np.ndarray
) -> bool:
    """Fill, in place, the alive rows a file does not list, as V7 interpolates them.

    ``coords (L, K, 2)``, ``vis (L, K)``, ``key (L, K)``, ``alive (L,)`` of one annotation's
    block; ``listed (L,)``: the rows the file has. Rows it lists are never changed. Returns
    whether any cell was filled.
    """
    missing = alive & ~listed
    if not missing.any():
        return False
    c = np.ascontiguousarray(coords, dtype=float).copy()
    v = np.ascontiguousarray(vis, dtype=np.int8).copy()
    fill_spans(c, v, np.ascontiguousarray(key, bool), np.ascontiguousarray(alive, bool), Method.LINEAR)
    rows = np.flatnonzero(missing)
    got = np.isfinite(c[rows]).all(axis=-1) & (v[rows] > 0)
    if not got.any():
        return False
    coords[rows] = np.where(got[..., None], c[rows], coords[rows])
    vis[rows] = np.where(got, v[rows], vis[rows])
    return True


def _through_file(yx: np.ndarray) -> np.ndarray:
    """Positions as a reader gets them back from a Darwin file (10 decimals both ways)."""
    return round_decimals(round_decimals(yx + DARWIN_OFFSET) - DARWIN_OFFSET)


def _reproduced(
    coords: np.ndarray, vis: np.ndarray, key: np.ndarray, lab: np.ndarray, alive: np.ndarray,
    listed: np.ndarray,
) -> bool:  # fmt: skip
    """Whether a reader filling the unlisted alive rows gets exactly the store's cells there."""
    missing = alive & ~listed
    if not missing.any():
        return True
    c = np.full(coords.shape, np.nan)
    v = np.zeros(vis.shape, np.int8)
    w = listed[:, None] & lab
    c[w] = _through_file(coords[w])
    v[w] = vis[w]
    fill_missing(c, v, key & listed[:, None], alive, listed)
    rows = np.flatnonzero(missing)
    sim_lab = np.isfinite(c[rows]).all(axis=-1) & (v[rows] > 0)
    if not np.array_equal(sim_lab, lab[rows]):
        return False
    m = lab[rows]
    return bool((c[rows][m] == coords[rows][m]).all() and (v[rows][m] == vis[rows][m]).all())


def plan_rows(
    coords: np.ndarray, vis: np.ndarray, key: np.ndarray, lab: np.ndarray, alive: np.ndarray,
    rows: np.ndarray, write: np.ndarray, omit: np.ndarray,
) -> tuple[np.ndarray, bool]:  # fmt: skip
    """The rows of a V7-interpolated annotation to write, and whether to say ``fill: false``.

    ``coords``...``alive``: the track's whole arrays; ``rows``: its block rows in this slot
    (ascending); ``write``: which of them the writer would write; ``omit``: which of those may
    be left out (in-between frames the file read did not list). Rows are left out only when a
    reader's V7 fill gives them back exactly.
    """
    if rows.size == 0:
        return write, False
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    inside = np.zeros(hi - lo, bool)
    inside[rows - lo] = True
    al = alive[lo:hi] & inside
    sub = (coords[lo:hi], vis[lo:hi], key[lo:hi], lab[lo:hi])

    def listed(w: np.ndarray) -> np.ndarray:
        out = np.zeros(hi - lo, bool)
        out[rows[w] - lo] = True
        return out

    if omit.any():
        fewer = write & ~omit
        if _reproduced(*sub, al, listed(fewer)):
            return fewer, False
    return write, not _reproduced(*sub, al, listed(write))
