"""The ``frames`` of a written V7 video annotation: node dicts, or the same as JSON text (fast).

The writer's plain form is a dict per frame holding a dict per node (the API, and what the
reader compares with a file it made, :mod:`._made`). For the files themselves, frames with
nothing but their nodes (no extras kept from a file) are written as one JSON text stitched from
whole-array serialisations (:func:`.._jsonio.json_items`): the same bytes orjson writes for the
dicts, without a Python dict per node.
"""

from __future__ import annotations

from itertools import chain, repeat
from typing import Any

import numpy as np
import orjson

from ...core.store import AnnotationStore, Track
from .._coords import DARWIN_OFFSET, round_decimals, to_file_xy
from .._jsonio import json_items

__all__ = ["frames_text", "node_lists"]


def _placed(
    t: Track, rows: np.ndarray, lab: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row and node of each labelled node of ``rows``, its file (x, y) and its occluded flag."""
    r_idx, k_idx = np.nonzero(lab[rows])
    abs_rows = rows[r_idx]
    xy = to_file_xy(t.coords[abs_rows, k_idx], DARWIN_OFFSET)
    xy = round_decimals(xy)  # (overflows for |x| > ~1e298: those are kept as they are)
    return r_idx, k_idx, xy, t.visibility[abs_rows, k_idx] == 1


def node_lists(
    store: AnnotationStore, t: Track, rows: np.ndarray, lab: np.ndarray
) -> tuple[list[list[dict[str, Any]]], np.ndarray]:
    """Node dicts per written row (labelled nodes only), vectorised over the rows."""
    _, k_idx, xy, occ = _placed(t, rows, lab)
    names = np.asarray(store.skeleton.nodes, dtype=object)[k_idx].tolist()
    flat = [
        {"name": n, "occluded": o, "x": x, "y": y}
        for n, o, x, y in zip(names, occ.tolist(), xy[:, 0].tolist(), xy[:, 1].tolist())
    ]
    counts = lab[rows].sum(axis=1)
    k = store.n_nodes
    if (counts == k).all():
        lists = [flat[i : i + k] for i in range(0, len(flat), k)]
    else:
        ends = np.cumsum(counts).tolist()
        lists = [flat[a:b] for a, b in zip([0, *ends[:-1]], ends)]
    return lists, counts


def frames_text(
    store: AnnotationStore, t: Track, rows: np.ndarray, lab: np.ndarray, fkeys: list[str], keyf: list[bool]
) -> orjson.Fragment:
    """The ``frames`` object of a skeleton annotation as JSON text: what orjson writes for the dicts.

    Every row must have a labelled node and no extras (the caller checks).
    """
    _, k_idx, xy, occ = _placed(t, rows, lab)
    pre = []  # per (node, occluded): the node's text up to its x
    for name in store.skeleton.nodes:
        head = b'{"name":' + orjson.dumps(name) + b',"occluded":'
        pre += [head + b'false,"x":', head + b'true,"x":']
    prefix = list(map(pre.__getitem__, (2 * k_idx + occ).tolist()))
    suffix = [b"},"] * k_idx.size
    ends = np.cumsum(lab[rows].sum(axis=1)).tolist()
    starts = [0, *ends[:-1]]
    for i, (a, b, fk, kf) in enumerate(zip(starts, ends, fkeys, keyf)):
        key = b'"' + fk.encode() + b'":{"keyframe":' + (b"true" if kf else b"false")
        prefix[a] = key + b',"skeleton":{"nodes":[' + prefix[a]
        suffix[b - 1] = b"}]}}," if i < len(fkeys) - 1 else b"}]}}"
    body = zip(prefix, json_items(xy[:, 0]), repeat(b',"y":'), json_items(xy[:, 1]), suffix)
    return orjson.Fragment(b"{" + b"".join(chain.from_iterable(body)) + b"}")
