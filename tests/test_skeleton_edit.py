"""Skeleton changes applied to a store (napari_keyskel.core.skeleton_edit)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_keyskel.core import keyframes as kf
from napari_keyskel.core import skeleton_edit as se
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import SkeletonError


def _store() -> AnnotationStore:
    sk = Skeleton(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "d")], flip_pairs=[("b", "c")])
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=50)
    for tid in (1, 2):
        store.add_track(track_id=tid, start=tid)
        pose = np.arange(8.0).reshape(4, 2) + 10 * tid
        kf.set_pose(store, tid, tid, pose, [2, 1, 2, 0])
        kf.set_pose(store, tid + 10, tid, pose + 5, 2)
    return store


def _column(store: AnnotationStore, tid: int, node: str) -> tuple:
    t = store.tracks[tid]
    k = store.skeleton.index(node)
    return (
        np.nan_to_num(t.coords[:, k], nan=-1).tolist(),
        t.visibility[:, k].tolist(),
        t.is_key[:, k].tolist(),
    )


def test_rename_keeps_arrays():
    store = _store()
    arrays = store.tracks[1].coords
    before = _column(store, 1, "b")
    assert se.rename_node(store, "b", "left_arm") == []
    assert store.skeleton.nodes == ("a", "left_arm", "c", "d")
    assert store.tracks[1].coords is arrays
    assert _column(store, 1, "left_arm") == before
    assert store.skeleton.flip_pairs == ((1, 2),) and (0, 1) in store.skeleton.edges


def test_reorder_permutes_node_axis():
    store = _store()
    cols = {n: _column(store, 2, n) for n in "abcd"}
    changes = se.reorder_nodes(store, ["d", "c", "b", "a"])
    assert store.skeleton.nodes == ("d", "c", "b", "a")
    assert {c.track_id for c in changes} == {1, 2} and changes[0].nodes == (0, 1, 2, 3)
    for n in "abcd":
        assert _column(store, 2, n) == cols[n]
    # edges follow the names
    named = {frozenset(store.skeleton.nodes[i] for i in e) for e in store.skeleton.edges}
    assert named == {frozenset("ab"), frozenset("bc"), frozenset("cd")}


def test_remove_drops_column_and_add_appends_empty():
    store = _store()
    assert se.placed_count(store, "c") > 0
    keep = {n: _column(store, 1, n) for n in "abd"}
    se.remove_node(store, "c")
    assert store.skeleton.nodes == ("a", "b", "d")
    assert store.tracks[1].coords.shape[1:] == (3, 2) and store.tracks[1].visibility.shape[1] == 3
    assert {n: _column(store, 1, n) for n in "abd"} == keep
    assert store.skeleton.flip_pairs == ()
    se.add_node(store, "tail", "#123456")
    assert store.skeleton.nodes[-1] == "tail" and store.skeleton.colors[-1] == "#123456"
    assert se.placed_count(store, "tail") == 0
    t = store.tracks[2]
    assert np.isnan(t.coords[:, 3]).all() and not t.is_key[:, 3].any() and (t.visibility[:, 3] == 0).all()
    # interpolation works on the new column after keys are placed
    kf.move_node(store, 2, 2, "tail", (1.0, 1.0))
    kf.move_node(store, 12, 2, "tail", (11.0, 1.0))
    assert t.coords[5, 3].tolist() == [6.0, 1.0]


def test_bad_mapping_leaves_store_unchanged():
    store = _store()
    before = store.copy()
    new = store.skeleton.add_node("e")
    with pytest.raises(SkeletonError, match="twice"):
        se.apply_skeleton(store, new, [0, 1, 2, 3, 3])
    with pytest.raises(SkeletonError, match="5 nodes"):
        se.apply_skeleton(store, new, [0, 1, 2])
    with pytest.raises(SkeletonError, match="outside"):
        se.apply_skeleton(store, new, [0, 1, 2, 3, 9])
    assert store.skeleton == before.skeleton
    for tid in (1, 2):
        np.testing.assert_array_equal(store.tracks[tid].coords, before.tracks[tid].coords)


@settings(max_examples=60, deadline=None)
@given(st.permutations(range(4)), st.integers(0, 3))
def test_mapping_by_name_matches_any_edit(order, drop):
    store = _store()
    names = [store.skeleton.nodes[i] for i in order]
    cols = {n: _column(store, 1, n) for n in names}
    target = store.skeleton.reorder_nodes(names).remove_node(drop).add_node("new")
    se.apply_skeleton(store, target)  # mapping by name
    for n in target.nodes[:-1]:
        assert _column(store, 1, n) == cols[n]
    assert np.isnan(store.tracks[1].coords[:, -1]).all()
