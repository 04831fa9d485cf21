"""Apply skeleton changes to an :class:`~napari_keyskel.core.store.AnnotationStore` in place.

A skeleton change is a new :class:`~napari_keyskel.core.skeleton.Skeleton` plus a *node mapping*:
``mapping[k]`` is the old index of new node ``k``, or ``-1`` for a node that did not exist.
Renaming (nodes or the class), recolouring, edges and flip pairs leave the arrays unchanged;
reordering permutes the node axis; removing a node drops its column (its points are lost: the UI
asks first); adding a node appends an empty (NaN, unlabelled) column. Every track is rebuilt
before any is replaced, so a failed call leaves the store unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import SkeletonError
from .skeleton import Skeleton
from .store import AnnotationStore, Change

__all__ = [
    "add_node",
    "apply_skeleton",
    "mapping_by_name",
    "placed_count",
    "remove_node",
    "remove_nodes",
    "rename_class",
    "rename_node",
    "reorder_nodes",
]


def mapping_by_name(old: Skeleton, new: Skeleton) -> np.ndarray:
    """Node mapping from ``old`` to ``new`` by name (``-1`` for names ``old`` does not have)."""
    return np.asarray([old.nodes.index(n) if n in old.nodes else -1 for n in new.nodes], np.intp)


def _check_mapping(mapping: Sequence[int] | np.ndarray, k_old: int, k_new: int) -> np.ndarray:
    try:
        m = np.asarray(mapping, dtype=np.intp).reshape(-1)
    except (TypeError, ValueError):
        raise SkeletonError(f"node mapping must be integers, got {mapping!r}") from None
    if m.size != k_new:
        raise SkeletonError(f"node mapping has {m.size} entries for a skeleton of {k_new} nodes")
    if ((m < -1) | (m >= k_old)).any():
        raise SkeletonError(f"node mapping {m.tolist()} refers to nodes outside 0..{k_old - 1}")
    used = m[m >= 0]
    if np.unique(used).size != used.size:
        raise SkeletonError(f"node mapping {m.tolist()} uses an old node twice")
    return m


def apply_skeleton(
    store: AnnotationStore, skeleton: Skeleton, mapping: Sequence[int] | np.ndarray | None = None
) -> list[Change]:
    """Give ``store`` a new skeleton, moving node columns by ``mapping`` (default: by name).

    Returns one :class:`Change` per track (its whole block, every node) when the node axis
    changed, else an empty list (only names, colours, edges or pairs changed).
    """
    if not isinstance(skeleton, Skeleton):
        raise SkeletonError(f"expected a Skeleton, got {type(skeleton).__name__}")
    old = store.skeleton
    m = mapping_by_name(old, skeleton) if mapping is None else mapping
    m = _check_mapping(m, old.n_nodes, skeleton.n_nodes)
    if m.size == old.n_nodes and np.array_equal(m, np.arange(old.n_nodes)):
        store.skeleton = skeleton
        return []
    src = np.where(m >= 0, m, 0)
    new_col = m < 0
    rebuilt = []
    for t in store:
        coords = t.coords[:, src].copy()
        vis = t.visibility[:, src].copy()
        key = t.is_key[:, src].copy()
        coords[:, new_col] = np.nan
        vis[:, new_col] = 0
        key[:, new_col] = False
        rebuilt.append((t, coords, vis, key))
    for t, coords, vis, key in rebuilt:
        t.coords, t.visibility, t.is_key = coords, vis, key
    store.skeleton = skeleton
    return [Change(t.track_id, t.start, t.stop, tuple(range(skeleton.n_nodes))) for t in store]


def rename_node(store: AnnotationStore, node: int | str, new_name: str) -> list[Change]:
    """Rename a node (the arrays are unchanged)."""
    return apply_skeleton(store, store.skeleton.rename_node(node, new_name), np.arange(store.n_nodes))


def rename_class(store: AnnotationStore, name: str) -> list[Change]:
    """Rename the class (the skeleton's name: the V7 class / COCO category written to files)."""
    return apply_skeleton(store, store.skeleton.renamed(name), np.arange(store.n_nodes))


def add_node(store: AnnotationStore, name: str, color: str | None = None) -> list[Change]:
    """Append a node with no points (an empty column)."""
    k = store.n_nodes
    return apply_skeleton(store, store.skeleton.add_node(name, color), [*range(k), -1])


def remove_node(store: AnnotationStore, node: int | str) -> list[Change]:
    """Remove a node and drop its points on every frame (see :func:`placed_count` to warn first)."""
    i = store.skeleton.index(node)
    keep = [k for k in range(store.n_nodes) if k != i]
    return apply_skeleton(store, store.skeleton.remove_node(i), keep)


def remove_nodes(store: AnnotationStore, nodes: Sequence[int | str]) -> list[Change]:
    """Remove several nodes at once, dropping their points on every frame."""
    gone = {store.skeleton.index(n) for n in nodes}
    keep = [k for k in range(store.n_nodes) if k not in gone]
    return apply_skeleton(store, store.skeleton.remove_nodes(sorted(gone)), keep)


def reorder_nodes(store: AnnotationStore, order: Sequence[int | str]) -> list[Change]:
    """Reorder nodes: new node ``k`` is old node ``order[k]`` (the node axis is permuted)."""
    new = store.skeleton.reorder_nodes(order)
    return apply_skeleton(store, new, [store.skeleton.index(o) for o in order])


def placed_count(store: AnnotationStore, node: int | str) -> int:
    """How many points of ``node`` are placed (keys or interpolated) over all tracks and frames."""
    i = store.skeleton.index(node)
    return int(sum(np.isfinite(t.coords[:, i, 0]).sum() for t in store))
