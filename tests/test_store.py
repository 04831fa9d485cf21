"""The annotation store: edits, validation, reads and memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import OCCLUDED, UNLABELLED, VISIBLE, AnnotationStore, Change
from napari_keyskel.errors import StoreError

SK = Skeleton(["head", "left", "right"], edges=[(0, 1), (0, 2)], flip_pairs=[(1, 2)], name="bug")


def make_store(**kw) -> AnnotationStore:
    kw.setdefault("n_frames", 50)
    return AnnotationStore(SK, **kw)


def snapshot(store: AnnotationStore):
    return [
        (t.track_id, t.name, t.start, t.coords.copy(), t.visibility.copy(), t.is_key.copy(), t.alive.copy())
        for t in store
    ]


def assert_snapshot(store: AnnotationStore, snap) -> None:
    now = snapshot(store)
    assert len(now) == len(snap)
    for a, b in zip(now, snap):
        assert a[:3] == b[:3]
        for x, y in zip(a[3:], b[3:]):
            np.testing.assert_array_equal(x, y)


def test_memory_of_a_long_video_with_short_tracks():
    """200,000 frames, 500 tracks of 200 frames, 20 nodes: memory follows lifespans, not frames."""
    sk = Skeleton([f"n{i}" for i in range(20)])
    tracemalloc.start()
    try:
        store = AnnotationStore(sk, n_frames=200_000)
        rng = np.random.default_rng(0)
        for i, start in enumerate(rng.integers(0, 200_000 - 200, 500)):
            t = store.add_track(i + 1, start=int(start), stop=int(start) + 200)
            t.coords[::10] = rng.uniform(0, 500, (20, 20, 2))
            t.is_key[::10] = True
            t.visibility[::10] = VISIBLE
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_track = 200 * 20 * (2 * 8 + 1 + 1 + 4) + 200  # coords, visibility, is_key, score; alive
    assert store.nbytes() == 500 * per_track  # about 44 MB
    assert store.nbytes() < 50 * 2**20
    assert peak < 100 * 2**20, f"peak traced memory {peak / 2**20:.0f} MiB"
    pts = store.frame_points(int(store.tracks[1].start))
    assert len(pts) >= 20


def test_constructor_validation():
    with pytest.raises(StoreError, match="Skeleton"):
        AnnotationStore(["a"])
    with pytest.raises(StoreError, match="coord_ndim"):
        AnnotationStore(SK, coord_ndim=0)
    with pytest.raises(StoreError, match="does not exist"):
        AnnotationStore(SK, coord_ndim=2, frame_axis=3)
    with pytest.raises(StoreError, match="does not exist"):
        AnnotationStore(SK, coord_ndim=2, frame_axis=-1)
    with pytest.raises(StoreError, match="n_frames"):
        AnnotationStore(SK, n_frames=0)
    s = AnnotationStore(SK, coord_ndim=3, frame_axis=1)
    assert s.layer_ndim == 4 and s.method == "linear" and s.bridge_unlabelled is False
    assert AnnotationStore(SK, coord_ndim=3, frame_axis=None).n_frames == 1


def test_track_validation_and_growth():
    s = make_store()
    t = s.add_track(start=5, stop=10)
    assert t.track_id == 1 and (t.start, t.stop) == (5, 10) and t.name == "instance 1"
    assert s.new_track_id() == 2
    for kwargs, match in [
        ({"track_id": 1}, "already exists"),
        ({"track_id": "x"}, "integer"),
        ({"track_id": True}, "integer"),
        ({"start": 60}, "out of range"),
        ({"start": 5, "stop": 5}, "empty"),
        ({"start": 5, "stop": 51}, "out of range"),
        ({"start": 5, "stop": 7.5}, "integer"),
    ]:
        snap = snapshot(s)
        with pytest.raises(StoreError, match=match):
            s.add_track(**kwargs)
        assert_snapshot(s, snap)
    ch = s.set_points(20, 1, [[1.0, 2.0]], nodes="left")
    assert ch == Change(1, 20, 21, (1,))
    assert (t.start, t.stop) == (5, 21) and t.alive.all()
    s.set_points(2, 1, [3.0, 4.0], nodes=0)
    assert t.start == 2 and t.is_key[0, 0] and np.isnan(t.coords[1]).all()
    assert s.remove_track(1) == Change(1, 2, 21, (0, 1, 2))
    assert len(s) == 0
    with pytest.raises(StoreError, match="no instance"):
        s.track(1)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: s.set_points(3, 1, [[1, 2]] * 2), "shape"),
        (lambda s: s.set_points(3, 1, [[1, np.nan]], nodes=0), "NaN"),
        (lambda s: s.set_points(3, 1, [["a", "b"]], nodes=0), "numbers"),
        (lambda s: s.set_points(3, 1, [[1, 2]], nodes="tail"), "tail"),
        (lambda s: s.set_points(3, 1, [[1, 2]], nodes=0, visibility=3), "visibility"),
        (lambda s: s.set_points(3, 1, [[1, 2]], nodes=0, visibility=True), "visibility"),
        (lambda s: s.set_points(3, 9, [[1, 2]], nodes=0), "no instance"),
        (lambda s: s.set_points(50, 1, [[1, 2]], nodes=0), "out of range"),
        (lambda s: s.set_points(2.0, 1, [[1, 2]], nodes=0), "integer"),
        (lambda s: s.set_visibility(30, 1, 1), "has no frame"),
        (lambda s: s.set_key(3, 1, True, nodes=[5]), "out of range"),
        (lambda s: s.delete_points(40, 1), "has no frame"),
        (lambda s: s.set_alive(1, 5, 5, False), "empty"),
        (lambda s: s.set_alive(1, 5, 51, False), "out of range"),
        (lambda s: s.set_alive(1, 5, "9", False), "integer"),
        (lambda s: s.mark_unlabelled(60, 1), "out of range"),
    ],
)
def test_edit_validation_leaves_store_unchanged(call, match):
    s = make_store()
    s.add_track(1, start=0, stop=10)
    s.set_points(3, 1, np.ones((3, 2)))
    snap = snapshot(s)
    with pytest.raises(StoreError, match=match):
        call(s)
    assert_snapshot(s, snap)


def test_visibility_key_delete_and_unlabelled():
    s = make_store()
    s.add_track(1, start=0, stop=10)
    s.set_points(3, 1, np.arange(6.0).reshape(3, 2), visibility=[2, 1, 2])
    c, v, k = s.get(3, 1)
    np.testing.assert_array_equal(v, [VISIBLE, OCCLUDED, VISIBLE])
    assert k.all()
    s.set_visibility(3, 1, 0, nodes="right")
    c, v, k = s.get(3, 1)
    assert v[2] == UNLABELLED and np.isnan(c[2]).all()
    s.set_key(3, 1, False, nodes=[0])
    assert not s.get(3, 1)[2][0]
    s.delete_points(3, 1, nodes="left")
    c, v, k = s.get(3, 1)
    assert np.isnan(c[1]).all() and v[1] == 0 and not k[1]
    ch = s.mark_unlabelled(12, 1, nodes=["head"])
    assert ch == Change(1, 12, 13, (0,))
    c, v, k = s.get(12, 1)
    assert k[0] and v[0] == 0 and np.isnan(c[0]).all() and s.tracks[1].stop == 13
    c, v, k = s.get(40, 1)  # outside the block: empty copies
    assert np.isnan(c).all() and not v.any() and not k.any()


def test_set_alive_clears_and_grows():
    s = make_store()
    s.add_track(1, start=10, stop=20)
    s.set_points(12, 1, np.ones((3, 2)))
    ch = s.set_alive(1, 11, 14, False)
    assert ch == Change(1, 11, 14, (0, 1, 2))
    t = s.tracks[1]
    np.testing.assert_array_equal(t.alive[:5], [True, False, False, False, True])
    assert np.isnan(t.coords[2]).all() and not t.is_key[2].any()
    s.set_alive(1, 25, 30, False)
    assert t.stop == 30 and t.alive[10:15].all() and not t.alive[15:].any()
    s.set_alive(1, 11, 14, True)
    assert t.alive[1:4].all()


def test_frame_points_and_to_dense():
    s = make_store()
    s.add_track(1, start=0, stop=5)
    s.add_track(7, start=3, stop=8)
    s.set_points(4, 1, [[1.0, 2.0], [3.0, 4.0]], nodes=[0, 2], visibility=[2, 1])
    s.set_points(4, 7, [[5.0, 6.0]], nodes="left", key=False)
    fp = s.frame_points(4)
    np.testing.assert_array_equal(fp.track_ids, [1, 1, 7])
    np.testing.assert_array_equal(fp.nodes, [0, 2, 1])
    np.testing.assert_array_equal(fp.coords, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(fp.visibility, [2, 1, 2])
    np.testing.assert_array_equal(fp.is_key, [True, True, False])
    assert len(s.frame_points(4, track_ids=[7])) == 1
    assert len(s.frame_points(20)) == 0 and s.frame_points(20).coords.shape == (0, 2)
    with pytest.raises(StoreError):
        s.frame_points(4, track_ids=[3])
    dense = s.to_dense()
    assert dense["coords"].shape == (8, 2, 3, 2)
    np.testing.assert_array_equal(dense["frames"], np.arange(8))
    np.testing.assert_array_equal(dense["track_ids"], [1, 7])
    np.testing.assert_array_equal(dense["coords"][4, 1, 1], [5, 6])
    np.testing.assert_array_equal(dense["alive"][:, 1], [False] * 3 + [True] * 5)
    assert s.counts() == {"instances": 2, "frames": 1, "points": 3, "keys": 2, "interpolated": 1}


def test_copy_is_deep_and_keeps_settings():
    s = make_store()
    s.add_track(1, start=0, stop=5, meta={"tags": ["a"]})
    s.meta["x"] = {"y": 1}
    s.method, s.bridge_unlabelled = "cubic", True
    c = s.copy()
    assert (c.method, c.bridge_unlabelled) == ("cubic", True)
    c.tracks[1].coords[0, 0] = 5.0
    c.tracks[1].meta["tags"].append("b")
    c.meta["x"]["y"] = 2
    assert np.isnan(s.tracks[1].coords[0, 0]).all()
    assert s.tracks[1].meta == {"tags": ["a"]} and s.meta == {"x": {"y": 1}}


def test_static_store_has_one_frame():
    s = AnnotationStore(SK, coord_ndim=3, frame_axis=None)
    s.add_track(1)
    s.set_points(0, 1, np.ones((3, 3)))
    with pytest.raises(StoreError, match="no frame axis"):
        s.set_points(1, 1, np.ones((3, 3)))
    assert s.frame_range() == (0, 1) and len(s.frame_points(0)) == 3


def test_check_helpers():
    s = make_store()
    np.testing.assert_array_equal(s.check_coords([1, 2], 1), [[1.0, 2.0]])
    np.testing.assert_array_equal(s.check_visibility(1, 3), [1, 1, 1])
    with pytest.raises(StoreError):
        s.check_visibility([0, 1], 3)
    with pytest.raises(StoreError):
        s.check_coords([[1, np.inf]], 1)
