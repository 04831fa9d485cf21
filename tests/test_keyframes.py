"""Keyframe edits on a store: incremental re-interpolation, validation, navigation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_keyskel.core import keyframes as kf
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore, Change
from napari_keyskel.errors import StoreError
from napari_keyskel.samples.synthetic import moving_figure

SK = Skeleton(["nose", "left_ear", "right_ear", "tail"], edges=[(0, 1), (0, 2), (0, 3)], flip_pairs=[(1, 2)])


def make_store(n_frames=60, coord_ndim=2, frame_axis=0) -> AnnotationStore:
    return AnnotationStore(SK, coord_ndim=coord_ndim, frame_axis=frame_axis, n_frames=n_frames)


def pose(base, d=2):
    return np.arange(4 * d, dtype=float).reshape(4, d) + base


def assert_same(a: AnnotationStore, b: AnnotationStore) -> None:
    assert a.track_ids == b.track_ids
    for ta, tb in zip(a, b):
        assert (ta.start, len(ta)) == (tb.start, len(tb))
        np.testing.assert_array_equal(ta.coords, tb.coords)
        np.testing.assert_array_equal(ta.visibility, tb.visibility)
        np.testing.assert_array_equal(ta.is_key, tb.is_key)
        np.testing.assert_array_equal(ta.alive, tb.alive)


def full_recompute(store: AnnotationStore) -> AnnotationStore:
    ref = store.copy()
    kf.interpolate_all(ref)
    return ref


# -- incremental == full recompute ------------------------------------------------------------------
def assert_changes_cover(before: AnnotationStore, after: AnnotationStore, changes: list[Change]) -> None:
    for t in after:
        old = before.tracks[t.track_id]
        lo = min(old.start, t.start)
        covered = np.zeros((max(old.stop, t.stop) - lo, after.n_nodes), bool)
        for ch in changes:
            if ch.track_id == t.track_id:
                covered[ch.start - lo : ch.stop - lo, list(ch.nodes)] = True
        for arr, empty in (("coords", np.nan), ("visibility", 0), ("is_key", 0)):
            a = np.full(covered.shape + getattr(t, arr).shape[2:], empty, float)  # outside a block: empty
            b = a.copy()
            a[old.start - lo : old.stop - lo] = getattr(old, arr)
            b[t.start - lo : t.stop - lo] = getattr(t, arr)
            same = (a == b) | (np.isnan(a) & np.isnan(b))
            if same.ndim == 3:
                same = same.all(-1)
            assert (same | covered).all(), f"{arr} changed outside the reported changes"


def random_edit(store: AnnotationStore, rng: np.random.Generator, tid: int) -> list[Change]:
    n = store.n_frames
    f = int(rng.integers(0, n))
    node = int(rng.integers(0, 4))
    op = rng.integers(0, 8)
    xy = rng.uniform(0, 100, store.coord_ndim)
    if op == 0:
        return kf.move_node(store, f, tid, node, xy)
    elif op == 1:
        vis = rng.integers(0, 3, 4)
        return kf.set_pose(store, f, tid, rng.uniform(0, 100, (4, store.coord_ndim)), vis)
    elif op == 2:
        return kf.delete_key(store, f, tid, None if rng.random() < 0.5 else [node])
    elif op == 3:
        return kf.set_visibility(store, f, tid, [node], int(rng.integers(0, 3)))
    elif op == 4:
        return kf.key_all_nodes(store, f, tid)
    elif op == 5:
        return kf.copy_previous_pose(store, f, tid)
    elif op == 6:
        return kf.mirror_pose(store, f, tid)
    else:
        return kf.move_node(store, f, tid, node, xy, visibility=int(rng.integers(1, 3)))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from(["linear", "cubic", "hold"]),
    bridge=st.booleans(),
    n_edits=st.integers(1, 25),
)
def test_incremental_equals_full_recompute(seed, method, bridge, n_edits):
    rng = np.random.default_rng(seed)
    store = make_store(n_frames=int(rng.integers(5, 60)), coord_ndim=int(rng.integers(1, 4)))
    start = int(rng.integers(0, store.n_frames))
    store.add_track(1, start=start, stop=int(rng.integers(start + 1, store.n_frames + 1)))
    if rng.random() < 0.5 and len(store.tracks[1]) > 3:  # a lifespan gap inside the block
        g = int(rng.integers(start + 1, store.tracks[1].stop - 1))
        store.set_alive(1, g, g + int(rng.integers(1, 3)), False)
    store.add_track(2, start=0, stop=store.n_frames)  # a bystander: edits of track 1 never touch it
    kf.set_pose(store, 0, 2, np.zeros((4, store.coord_ndim)))
    kf.set_pose(store, store.n_frames - 1, 2, np.ones((4, store.coord_ndim)))
    kf.interpolate_all(store, method=method, bridge_unlabelled=bridge)
    for _ in range(n_edits):
        before = store.copy()
        try:
            changes = random_edit(store, rng, 1)
        except StoreError:
            assert_same(store, before)  # a refused edit changes nothing
            continue
        assert_same(store, full_recompute(store))
        # every cell that changed lies inside a reported change
        assert_changes_cover(before, store, changes)


def test_changes_cover_only_the_affected_window():
    store = make_store(100)
    store.add_track(1, start=0, stop=100)
    for f in range(0, 100, 10):
        kf.set_pose(store, f, 1, pose(f))
    before = store.copy()
    [ch] = kf.move_node(store, 35, 1, "tail", [1.0, 2.0])
    assert ch == Change(1, 30, 41, (3,))
    diff = ~np.isclose(before.tracks[1].coords, store.tracks[1].coords, equal_nan=True).all(-1)
    rows, nodes = np.nonzero(diff)
    assert set(nodes) == {3} and rows.min() >= 30 and rows.max() <= 40
    store.method = "cubic"
    kf.interpolate_all(store)
    [ch] = kf.move_node(store, 55, 1, "nose", [5.0, 5.0])
    assert ch == Change(1, 40, 71, (0,))


# -- edits -------------------------------------------------------------------------------------------
def test_move_node_on_interpolated_frame_keys_only_that_node():
    store = make_store()
    store.add_track(1, start=0, stop=21)
    kf.set_pose(store, 0, 1, pose(0))
    kf.set_pose(store, 20, 1, pose(20))
    np.testing.assert_allclose(store.get(10, 1)[0], pose(10))
    kf.move_node(store, 10, 1, "tail", [0.0, 0.0])
    coords, _vis, key = store.get(10, 1)
    np.testing.assert_array_equal(key, [False, False, False, True])
    np.testing.assert_allclose(coords[:3], pose(10)[:3])
    np.testing.assert_allclose(store.get(5, 1)[0][3], (pose(0)[3] + 0) / 2)


def test_move_node_grows_track_and_keeps_visibility():
    store = make_store()
    store.add_track(1, start=10, stop=11)
    kf.set_pose(store, 10, 1, pose(0), visibility=1)
    kf.move_node(store, 20, 1, 0, [30.0, 30.0])  # grows; visible by default for a new node
    t = store.tracks[1]
    assert (t.start, t.stop) == (10, 21)
    assert store.get(20, 1)[1][0] == 2
    assert store.get(15, 1)[1][0] == 1  # interpolated frames: previous key's visibility
    kf.move_node(store, 15, 1, 0, [1.0, 1.0])  # default visibility: the current one (1)
    assert store.get(15, 1)[1][0] == 1
    kf.move_node(store, 5, 1, 0, [1.0, 1.0])
    assert store.tracks[1].start == 5
    assert np.isfinite(store.get(7, 1)[0][0]).all() and np.isnan(store.get(7, 1)[0][1]).all()


def test_three_d_interpolates_every_coordinate():
    store = make_store(coord_ndim=3)  # a (t, z, y, x) layer along t
    store.add_track(1, start=0, stop=11)
    kf.set_pose(store, 0, 1, np.zeros((4, 3)))
    kf.set_pose(store, 10, 1, np.full((4, 3), 10.0))
    np.testing.assert_allclose(store.get(4, 1)[0], np.full((4, 3), 4.0))


def test_visibility_zero_ends_spans_and_bridging():
    store = make_store()
    store.add_track(1, start=0, stop=21)
    for f in (0, 10, 20):
        kf.set_pose(store, f, 1, pose(f))
    kf.set_visibility(store, 10, 1, ["nose"], 0)
    c = store.get(5, 1)[0]
    assert np.isnan(c[0]).all() and np.isfinite(c[1:]).all()
    assert np.isnan(store.get(15, 1)[0][0]).all()
    kf.interpolate_all(store, bridge_unlabelled=True)
    assert store.bridge_unlabelled
    np.testing.assert_allclose(store.get(5, 1)[0][0], pose(5)[0])
    coords, vis, key = store.get(10, 1)
    assert np.isnan(coords[0]).all() and vis[0] == 0 and key[0]
    kf.set_visibility(store, 15, 1, "nose", 1)  # occluded key at its interpolated place
    coords, vis, key = store.get(15, 1)
    assert key[0] and vis[0] == 1
    np.testing.assert_allclose(coords[0], pose(15)[0])
    assert store.get(17, 1)[1][0] == 1


def test_set_visibility_needs_a_position():
    store = make_store()
    store.add_track(1, start=0, stop=5)
    before = store.copy()
    with pytest.raises(StoreError, match="no position"):
        kf.set_visibility(store, 2, 1, ["nose"], 2)
    assert_same(store, before)


def test_gaps_are_not_bridged():
    store = make_store()
    store.add_track(1, start=0, stop=21)
    kf.set_pose(store, 0, 1, pose(0))
    kf.set_pose(store, 20, 1, pose(20))
    store.set_alive(1, 8, 12, False)
    kf.interpolate_all(store, method="cubic")
    assert np.isnan(store.tracks[1].coords[1:20]).all()
    store.set_alive(1, 8, 12, True)
    kf.interpolate_all(store)
    np.testing.assert_allclose(store.get(9, 1)[0], pose(9))


def test_set_pose_with_unlabelled_nodes():
    store = make_store()
    store.add_track(1, start=0, stop=11)
    p = pose(0)
    p[2] = np.nan
    kf.set_pose(store, 0, 1, p, visibility=[2, 1, 0, 2])
    coords, vis, key = store.get(0, 1)
    np.testing.assert_array_equal(vis, [2, 1, 0, 2])
    assert key.all() and np.isnan(coords[2]).all()
    with pytest.raises(StoreError, match="NaN"):
        kf.set_pose(store, 1, 1, p)


def test_key_all_nodes_and_delete_key():
    store = make_store()
    store.add_track(1, start=0, stop=21)
    kf.set_pose(store, 0, 1, pose(0))
    kf.set_pose(store, 20, 1, pose(20))
    kf.key_all_nodes(store, 10, 1)
    assert store.get(10, 1)[2].all()
    np.testing.assert_allclose(store.get(10, 1)[0], pose(10))
    kf.delete_key(store, 20, 1, nodes=["nose"])
    np.testing.assert_allclose(store.get(15, 1)[0][0], pose(10)[0])  # after the last key: held
    np.testing.assert_allclose(store.get(20, 1)[0][0], pose(10)[0])
    assert not store.get(20, 1)[2][0]  # (held, not a key)
    kf.delete_key(store, 10, 1)
    assert not store.get(10, 1)[2].any()
    np.testing.assert_allclose(store.get(10, 1)[0][1:], pose(10)[1:])  # interpolated again
    with pytest.raises(StoreError, match="no key on frame 10"):
        kf.delete_key(store, 10, 1)


def test_copy_previous_pose():
    store = make_store()
    store.add_track(1, start=0, stop=5)
    with pytest.raises(StoreError, match="no points before"):
        kf.copy_previous_pose(store, 3, 1)
    kf.set_pose(store, 2, 1, pose(7), visibility=1)
    kf.copy_previous_pose(store, 30, 1)
    coords, vis, key = store.get(30, 1)
    np.testing.assert_array_equal(coords, pose(7))
    assert key.all() and (vis == 1).all()
    np.testing.assert_allclose(store.get(16, 1)[0], pose(7))  # constant in between


def test_mirror_pose_swaps_pairs():
    store = make_store()
    store.add_track(1, start=0, stop=3)
    p = pose(0)
    kf.set_pose(store, 1, 1, p, visibility=[2, 2, 1, 2])
    kf.mirror_pose(store, 1, 1)
    coords, vis, key = store.get(1, 1)
    np.testing.assert_array_equal(coords, p[[0, 2, 1, 3]])
    np.testing.assert_array_equal(vis, [2, 1, 2, 2])
    kf.delete_key(store, 1, 1, ["left_ear"])
    kf.mirror_pose(store, 1, 1)  # right ear moves left; the right one becomes unlabelled
    coords, vis, key = store.get(1, 1)
    np.testing.assert_array_equal(coords[1], p[1])
    assert np.isnan(coords[2]).all() and vis[2] == 0 and key[2]
    flat = AnnotationStore(Skeleton(["a", "b"]), n_frames=5)
    flat.add_track(1)
    kf.set_pose(flat, 0, 1, np.zeros((2, 2)))
    with pytest.raises(StoreError, match="no left/right pairs"):
        kf.mirror_pose(flat, 0, 1)


# -- navigation --------------------------------------------------------------------------------------
def test_navigation():
    store = make_store(100)
    store.add_track(1, start=0, stop=100)
    store.add_track(2, start=0, stop=100)
    for f in (10, 30, 70):
        kf.set_pose(store, f, 1, pose(f))
    kf.move_node(store, 50, 2, "tail", [1.0, 1.0])
    kf.move_node(store, 90, 2, "tail", [9.0, 9.0])
    np.testing.assert_array_equal(kf.key_frames(store, 1), [10, 30, 70])
    np.testing.assert_array_equal(kf.key_frames(store, 2, "nose"), [])
    assert kf.next_key(store, 10) == 30
    assert kf.next_key(store, 30, track_id=2) == 50
    assert kf.next_key(store, 30, node="tail") == 50
    assert kf.next_key(store, 90) is None
    assert kf.previous_key(store, 50) == 30
    assert kf.previous_key(store, 60, track_id=2) == 50
    assert kf.previous_key(store, 10) is None
    assert kf.bisect_frame(store, 12, track_id=1) == 20
    assert kf.bisect_frame(store, 30, track_id=1) == 50
    assert kf.bisect_frame(store, 75, track_id=1) is None
    assert kf.bisect_frame(store, 5) is None


def test_suggest_next_keyframe():
    store = make_store(100)
    store.add_track(1, start=0, stop=100)
    t = np.arange(100.0)
    for f in range(0, 100, 20):
        y = 50 + 40 * np.sin(f / 12.0)
        kf.set_pose(store, f, 1, np.full((4, 2), [y, 10.0]))
    sug = kf.suggest_next_keyframe(store)
    assert sug is not None and not store.get(sug, 1)[2].any()
    # it picks the frame where linear and cubic differ most
    lin = AnnotationStore.copy(store)
    cub = AnnotationStore.copy(store)
    kf.interpolate_all(lin, "linear")
    kf.interpolate_all(cub, "cubic")
    gap = np.abs(lin.tracks[1].coords[:, 0, 0] - cub.tracks[1].coords[:, 0, 0])
    assert sug == int(np.nanargmax(gap))
    del t
    two = make_store(50)
    two.add_track(1, start=0, stop=50)
    assert kf.suggest_next_keyframe(two) is None
    kf.set_pose(two, 0, 1, pose(0))
    kf.set_pose(two, 40, 1, pose(40))  # linear motion: no disagreement, the middle of the gap
    assert kf.suggest_next_keyframe(two) == 20


# -- validation --------------------------------------------------------------------------------------
BAD_CALLS = [
    (kf.move_node, (99, 1, 0, [1.0, 1.0]), "out of range"),
    (kf.move_node, (-1, 1, 0, [1.0, 1.0]), "out of range"),
    (kf.move_node, (1.5, 1, 0, [1.0, 1.0]), "integer"),
    (kf.move_node, (1, 7, 0, [1.0, 1.0]), "no instance"),
    (kf.move_node, (1, 1, "paw", [1.0, 1.0]), "paw"),
    (kf.move_node, (1, 1, 9, [1.0, 1.0]), "out of range"),
    (kf.move_node, (1, 1, 0, [1.0, 1.0, 1.0]), "shape"),
    (kf.move_node, (1, 1, 0, [np.nan, 1.0]), "NaN"),
    (kf.move_node, (1, 1, 0, [1.0, 1.0], 0), "visibility 1 or 2"),
    (kf.move_node, (1, 1, 0, [1.0, 1.0], 5), "visibility"),
    (kf.move_node, (1, 1, [0, 1], [1.0, 1.0]), "one node"),
    (kf.set_pose, (1, 1, np.zeros((3, 2))), "shape"),
    (kf.set_pose, (1, 1, np.zeros((4, 2)), [2, 2]), "visibility"),
    (kf.set_pose, (1, 1, "abc"), "numbers"),
    (kf.delete_key, (25, 1), "has no frame"),
    (kf.delete_key, (3, 1, ["ghost"]), "ghost"),
    (kf.set_visibility, (3, 1, ["nose"], 7), "visibility"),
    (kf.set_visibility, (3, 1, ["nose", "tail"], [1]), "visibility"),
    (kf.key_all_nodes, (25, 1), "has no frame"),
    (kf.mirror_pose, (25, 1), "has no frame"),
    (kf.copy_previous_pose, (0, 1), "no points before"),
    (kf.interpolate_all, ("spline",), "unknown interpolation method"),
    (kf.interpolate_all, (None, None, [1, 5]), "no instance"),
    (kf.next_key, (500,), "out of range"),
    (kf.key_frames, (3,), "no instance"),
]


@pytest.mark.parametrize(
    ("func", "args", "match"), BAD_CALLS, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(BAD_CALLS)]
)
def test_bad_input_raises_and_leaves_store_unchanged(func, args, match):
    store = make_store(30)
    store.add_track(1, start=0, stop=20)
    kf.set_pose(store, 5, 1, pose(5))
    kf.set_pose(store, 15, 1, pose(15))
    before = store.copy()
    with pytest.raises(StoreError, match=match):
        func(store, *args)
    assert_same(store, before)
    assert store.method == before.method and store.bridge_unlabelled == before.bridge_unlabelled


def test_store_without_frame_axis():
    store = AnnotationStore(SK, coord_ndim=3, frame_axis=None)
    store.add_track(1)
    assert kf.interpolate_all(store) == []
    assert kf.move_node(store, 0, 1, "nose", [1.0, 2.0, 3.0]) == [Change(1, 0, 1, (0,))]
    np.testing.assert_array_equal(store.get(0, 1)[0][0], [1, 2, 3])
    assert kf.suggest_next_keyframe(store) is None
    with pytest.raises(StoreError, match="no frame axis"):
        kf.move_node(store, 1, 1, "nose", [1.0, 2.0, 3.0])


def test_interpolate_all_returns_changes_and_remembers_method():
    store = make_store()
    store.add_track(1, start=0, stop=10)
    store.add_track(2, start=5, stop=30)
    changes = kf.interpolate_all(store, method="pchip", tracks=[2])
    assert changes == [Change(2, 5, 30, (0, 1, 2, 3))]
    assert store.method == "cubic"
    assert len(kf.interpolate_all(store)) == 2


def test_synthetic_ground_truth_cubic_beats_linear():
    _, truth = moving_figure(n_frames=61, shape=(128, 128), n_instances=1, render=False)
    errors = {}
    for method in ("linear", "cubic"):
        store = truth.copy()
        for t in store:
            t.is_key[:] = False
            t.is_key[(np.arange(len(t)) + t.start) % 10 == 0] = True
        kf.interpolate_all(store, method=method)
        errs = [np.linalg.norm(a.coords - b.coords, axis=-1)[~a.is_key] for a, b in zip(store, truth)]
        errors[method] = float(np.nanmean(np.concatenate(errs)))
    assert errors["cubic"] < errors["linear"]


def test_keying_a_dead_frame_revives_it_for_every_node():
    store = make_store()
    store.add_track(1, start=0, stop=21)
    kf.set_pose(store, 0, 1, pose(0))
    kf.set_pose(store, 20, 1, pose(20))
    store.set_alive(1, 10, 11, False)
    kf.interpolate_all(store)
    assert np.isnan(store.get(5, 1)[0]).all()
    [ch] = kf.move_node(store, 10, 1, "nose", [10.0, 11.0])  # frame 10 alive again
    assert ch.nodes == (0, 1, 2, 3)
    np.testing.assert_allclose(store.get(5, 1)[0][1:], pose(5)[1:])  # other nodes bridge again
    assert_same(store, full_recompute(store))


def test_unknown_store_method_is_refused_before_writing():
    store = make_store()
    store.add_track(1, start=0, stop=10)
    store.method = "spline"
    before = store.copy()
    with pytest.raises(StoreError, match="unknown interpolation method"):
        kf.move_node(store, 3, 1, "nose", [1.0, 1.0])
    assert_same(store, before)


def test_refresh_after_a_direct_store_edit():
    store = make_store()
    store.add_track(1, start=0, stop=21)
    kf.set_pose(store, 0, 1, pose(0))
    store.set_points(20, 1, pose(20))  # written directly: frame 10 still holds frame 0's pose
    np.testing.assert_allclose(store.get(10, 1)[0], pose(0))
    ch = kf.refresh(store, 1, 20)
    assert ch == Change(1, 0, 21, (0, 1, 2, 3))
    np.testing.assert_allclose(store.get(10, 1)[0], pose(10))


def test_lifespan_hold_extend_and_end():
    store = make_store(60)
    store.add_track(1, start=5, stop=20)
    kf.set_pose(store, 5, 1, pose(0))
    kf.set_pose(store, 10, 1, pose(10))
    t = store.tracks[1]
    np.testing.assert_allclose(t.coords[19 - 5], pose(10))  # held to the end of the lifespan
    assert not t.is_key[19 - 5].any() and (t.visibility[19 - 5] == 2).all()
    changes = kf.extend_track(store, 1, 30)  # V7's "extend by N frames"
    assert (t.start, t.stop) == (5, 50) and changes and changes[0].stop == 50
    np.testing.assert_allclose(t.coords[49 - 5], pose(10))
    kf.extend_track(store, 1, 100)  # clipped at the end of the video
    assert t.stop == 60
    kf.end_track(store, 30, 1)  # ends from frame 30 on
    assert t.alive[: 30 - 5].all() and not t.alive[30 - 5 :].any()
    assert np.isnan(t.coords[30 - 5 :]).all() and np.isfinite(t.coords[29 - 5]).all()
    kf.move_node(store, 20, 1, 0, (1.0, 2.0))  # a key inside the lifespan: held up to its end
    np.testing.assert_allclose(t.coords[29 - 5, 0], (1.0, 2.0))
    assert np.isnan(t.coords[30 - 5 :]).all()
    with pytest.raises(StoreError, match="delete it instead"):
        kf.end_track(store, 5, 1)
    with pytest.raises(StoreError, match="positive"):
        kf.extend_track(store, 1, 0)
