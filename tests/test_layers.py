"""Skeleton-aware layers in a real viewer: frame swaps, live edges, edits through layer events."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_keyskel import api
from napari_keyskel.core import keyframes
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore

pytestmark = pytest.mark.viewer

SK = Skeleton(["head", "neck", "tail"], [(0, 1), (1, 2)], name="worm")


def keyed_store(coord_ndim: int = 2, n_frames: int = 20, frame_axis: int | None = 0) -> AnnotationStore:
    """Two instances keyed on frames 0 and 10 (linear in between), none elsewhere."""
    s = AnnotationStore(SK, coord_ndim=coord_ndim, frame_axis=frame_axis, n_frames=n_frames, name="worms")
    base = np.array([[10.0, 10.0], [20.0, 12.0], [30.0, 14.0]])
    extra = np.full((3, coord_ndim - 2), 4.0)
    for tid in (1, 2):
        s.add_track(tid, start=0, stop=1)
        pose = np.hstack([extra, base + 40 * (tid - 1)])
        keyframes.set_pose(s, 0, tid, pose)
        if frame_axis is not None:
            last = min(10, n_frames - 1)
            keyframes.set_pose(s, last, tid, pose + np.r_[np.zeros(coord_ndim - 2), 10.0, 20.0])
    return s


def edge_segments(points, ctrl) -> np.ndarray:
    """Edges layer rows (without the two range anchors), as (start, end) points."""
    vec = np.asarray(ctrl.edges.data)
    n_anchor = int((ctrl.edge_instances < 0).sum())
    vec = vec[n_anchor:]
    return np.stack([vec[:, 0], vec[:, 0] + vec[:, 1]], axis=1)


def expected_segments(points) -> np.ndarray:
    """Segments joining the points of each instance along the skeleton, from the layer itself."""
    feats = points.features
    segs = []
    for a, b in SK.edge_array():
        for tid in np.unique(feats["instance"]):
            ra = np.flatnonzero((feats["instance"] == tid) & (feats["node"] == SK.nodes[a]))
            rb = np.flatnonzero((feats["instance"] == tid) & (feats["node"] == SK.nodes[b]))
            if ra.size and rb.size:
                segs.append([points.data[ra[0]], points.data[rb[0]]])
    return np.asarray(segs).reshape(-1, 2, points.ndim)


def same_segments(got: np.ndarray, want: np.ndarray) -> bool:
    key = lambda s: np.lexsort(s.reshape(len(s), -1).T[::-1])  # noqa: E731
    if len(got) == 0 or len(want) == 0:
        return len(got) == len(want)
    return got.shape == want.shape and np.allclose(got[key(got)], want[key(want)])


@pytest.fixture
def video_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((20, 64, 96), np.uint8), name="video")
    store = keyed_store()
    points = api.add_skeleton_layer(viewer, store, image_layer=image)
    return viewer, points, api.get_controller(points), store


def test_frame_step_swaps_points_features_and_edges(video_viewer):
    viewer, points, ctrl, store = video_viewer
    assert ctrl.store is store and api.get_store(points) is store
    assert points.metadata["keyskel"]["tracks"][0]["coords"] is store.tracks[1].coords
    assert viewer.layers[-1] is ctrl.edges and ctrl.edges.name == "worms edges"
    for frame in (0, 5, 10, 15):
        viewer.dims.set_current_step(0, frame)
        if frame == 15:  # after the last key: nothing
            assert len(points.data) == 0
            assert len(edge_segments(points, ctrl)) == 0
            continue
        assert np.all(points.data[:, 0] == frame)
        fp = store.frame_points(frame)
        assert len(points.data) == len(fp) == 6
        np.testing.assert_allclose(points.data[:, 1:], fp.coords)
        assert list(points.features.columns[:4]) == ["instance", "node", "visibility", "keyframe"]
        assert points.features["instance"].tolist() == fp.track_ids.tolist()
        assert points.features["node"].tolist() == [SK.nodes[k] for k in fp.nodes]
        assert points.features["keyframe"].tolist() == fp.is_key.tolist()
        symbols = {str(getattr(s, "value", s)) for s in points.symbol}
        assert symbols == ({"disc"} if frame in (0, 10) else {"ring"})
        assert same_segments(edge_segments(points, ctrl), expected_segments(points))
        assert len(edge_segments(points, ctrl)) == 4
    # the range anchors make the frame slider span every frame of the store
    anchors = np.asarray(ctrl.edges.data)[ctrl.edge_instances < 0]
    assert sorted(anchors[:, 0, 0].tolist()) == [0, 19]


def test_drag_makes_a_key_and_reinterpolates(video_viewer):
    viewer, points, ctrl, store = video_viewer
    viewer.dims.set_current_step(0, 5)
    row = int(np.flatnonzero((points.features["instance"] == 2) & (points.features["node"] == "neck"))[0])
    before = store.tracks[2].coords[:, 1].copy()
    assert not store.tracks[2].is_key[5, 1]
    # what napari's Points._move does on a mouse drag: move the row in place, emit 'changed'
    points.data[row, 1:] += (3.0, -4.0)
    points.events.data(value=points.data, action="changed", data_indices=(row,), vertex_indices=((),))
    t = store.tracks[2]
    assert t.is_key[5, 1]
    np.testing.assert_allclose(t.coords[5, 1], before[5] + (3.0, -4.0))
    # frames 1-4 and 6-9 re-interpolated from the new key; keys untouched; other nodes untouched
    for f in (2, 7):
        lo, hi = (0, 5) if f < 5 else (5, 10)
        w = (f - lo) / (hi - lo)
        np.testing.assert_allclose(t.coords[f, 1], (1 - w) * t.coords[lo, 1] + w * t.coords[hi, 1])
    np.testing.assert_allclose(t.coords[[0, 10], 1], before[[0, 10]])
    assert points.features["keyframe"][row]
    assert str(getattr(points.symbol[row], "value", points.symbol[row])) == "disc"
    assert same_segments(edge_segments(points, ctrl), expected_segments(points))
    # the layer metadata is the store (plain data), now with the new key
    assert points.metadata["keyskel"]["tracks"][1]["is_key"][5, 1]
    # a frame step away and back shows the stored position
    viewer.dims.set_current_step(0, 6)
    viewer.dims.set_current_step(0, 5)
    np.testing.assert_allclose(points.data[row, 1:], t.coords[5, 1])


def test_script_sets_layer_data(video_viewer):
    viewer, points, ctrl, store = video_viewer
    viewer.dims.set_current_step(0, 10)
    data = points.data.copy()
    data[[0, 4], 1:] += 1.5  # two nodes of different instances, through the public data setter
    points.data = data
    for r in (0, 4):
        tid = int(points.features["instance"][r])
        k = SK.index(points.features["node"][r])
        np.testing.assert_allclose(store.tracks[tid].coords[10, k], data[r, 1:])
    assert same_segments(edge_segments(points, ctrl), expected_segments(points))
    # frame 9 (interpolated) follows the moved key
    tid0, k0 = int(points.features["instance"][0]), SK.index(points.features["node"][0])
    viewer.dims.set_current_step(0, 9)
    c = store.tracks[tid0].coords[:, k0]
    np.testing.assert_allclose(c[9], c[0] + 0.9 * (data[0, 1:] - c[0]))
    row = int(
        np.flatnonzero((points.features["instance"] == tid0) & (points.features["node"] == SK.nodes[k0]))[0]
    )
    np.testing.assert_allclose(points.data[row], [9, *c[9]])


def test_add_points_labels_next_node_or_new_instance(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(da.zeros((30, 50, 60), np.uint8, chunks=(1, 50, 60)), name="lazy")
    points = api.add_skeleton_layer(viewer, SK, image_layer=image, name="new worms")
    ctrl = api.get_controller(points)
    store = ctrl.store
    assert store.n_frames == 30 and store.frame_axis == 0 and len(points.data) == 0
    viewer.dims.set_current_step(0, 3)
    points.add([3, 10.0, 11.0])
    points.add([3, 20.0, 21.0])
    assert store.track_ids == [1]
    coords, vis, key = store.get(3, 1)
    np.testing.assert_allclose(coords[:2], [[10, 11], [20, 21]])
    assert key[:2].all() and (vis[:2] == 2).all() and np.isnan(coords[2]).all()
    assert points.features["node"].tolist() == ["head", "neck"]
    assert points.features["instance"].tolist() == [1, 1]
    assert len(edge_segments(points, ctrl)) == 1
    # an explicitly chosen node, then a full instance starts a new one
    ctrl.next_node = 2
    points.add([3, 30.0, 31.0])
    points.add([3, 5.0, 5.0])
    assert store.track_ids == [1, 2]
    assert points.features["node"].tolist() == ["head", "neck", "tail", "head"]
    assert points.features["instance"].tolist() == [1, 1, 1, 2]
    assert ctrl.current_instance == 2
    assert same_segments(edge_segments(points, ctrl), expected_segments(points))
    assert len(edge_segments(points, ctrl)) == 2
    # a second key 10 frames later interpolates the frames between
    viewer.dims.set_current_step(0, 13)
    ctrl.current_instance = 1
    points.add([13, 20.0, 31.0])
    assert store.track_ids == [1, 2] and store.get(13, 1)[2][0]  # held nodes are free to place
    viewer.dims.set_current_step(0, 8)
    feats = points.features
    assert len(points.data) == 4 and not feats["keyframe"].any()  # interpolated or held
    head = np.flatnonzero((feats["instance"] == 1) & (feats["node"] == "head"))[0]
    np.testing.assert_allclose(points.data[head], [8, 15.0, 21.0])
    assert (store.tracks[2].start, store.tracks[2].stop) == (3, 30)  # new instances live to the end


def test_remove_points(video_viewer):
    viewer, points, ctrl, store = video_viewer
    viewer.dims.set_current_step(0, 10)
    feats = points.features
    key_row = int(np.flatnonzero((feats["instance"] == 1) & (feats["node"] == "tail"))[0])
    points.selected_data = {key_row}
    points.remove_selected()
    t = store.tracks[1]
    # the last key of 'tail' is gone: the key before it (frame 0) is held over frames 1-10
    assert not t.is_key[10, 2] and np.all(t.coords[1:11, 2] == t.coords[0, 2])
    tail = (points.features["instance"] == 1) & (points.features["node"] == "tail")
    assert len(points.data) == 6 and tail.sum() == 1 and not points.features["keyframe"][tail].any()
    np.testing.assert_allclose(points.data[tail][0, 1:], t.coords[0, 2])
    assert same_segments(edge_segments(points, ctrl), expected_segments(points))
    # removing an interpolated point leaves an unlabelled key (a gap)
    viewer.dims.set_current_step(0, 4)
    row = int(np.flatnonzero((points.features["instance"] == 2) & (points.features["node"] == "head"))[0])
    points.remove([row])
    t2 = store.tracks[2]
    assert t2.is_key[4, 0] and t2.visibility[4, 0] == 0 and np.isnan(t2.coords[4, 0]).all()
    assert np.isnan(t2.coords[1:10, 0]).all()  # an unlabelled key ends spans on both sides
    assert len(points.data) == 5 and len(store.frame_points(4)) == 5  # (instance 1: tail held)


def test_remove_several_nodes_of_one_instance_at_once(video_viewer):
    viewer, points, ctrl, store = video_viewer
    viewer.dims.set_current_step(0, 10)
    feats = points.features
    mine = (feats["instance"] == 1) & feats["node"].isin(["head", "tail"])
    rows = set(np.flatnonzero(mine).tolist())
    assert len(rows) == 2
    points.selected_data = rows
    points.remove_selected()
    t = store.tracks[1]
    # both keys of frame 10 are gone, from the store and the view, and the other node stays
    assert not t.is_key[10, [0, 2]].any()
    mine = points.features[points.features["instance"] == 1]
    held = mine[mine["node"].isin(["head", "tail"])]
    assert len(held) == 2 and not held["keyframe"].any()  # frame 0's keys, held
    assert len(points.data) == len(store.frame_points(10))
    assert same_segments(edge_segments(points, ctrl), expected_segments(points))


def test_interpolate_and_code_edits_follow(video_viewer):
    viewer, points, ctrl, store = video_viewer
    viewer.dims.set_current_step(0, 5)
    seen = []
    ctrl.changed.connect(seen.append)
    api.set_node(points, 5, 1, "head", (0.0, 0.0))
    assert seen and seen[-1][0].track_id == 1
    row = int(np.flatnonzero((points.features["instance"] == 1) & (points.features["node"] == "head"))[0])
    np.testing.assert_allclose(points.data[row], [5, 0, 0])
    assert points.features["keyframe"][row]
    ctrl.apply(keyframes.delete_key(store, 5, 1, ["head"]))
    np.testing.assert_allclose(points.data[row, 1:], store.tracks[1].coords[5, 0])
    assert not points.features["keyframe"][row]
    api.interpolate(points, "hold")
    np.testing.assert_allclose(points.data[row, 1:], store.tracks[1].coords[0, 0])
    assert store.method == "hold" and points.metadata["keyskel"]["method"] == "hold"
    assert same_segments(edge_segments(points, ctrl), expected_segments(points))
    # occluded: a cross
    ctrl.apply(keyframes.set_visibility(store, 5, 2, ["tail"], 1))
    row = int(np.flatnonzero((points.features["instance"] == 2) & (points.features["node"] == "tail"))[0])
    assert str(getattr(points.symbol[row], "value", points.symbol[row])) == "cross"
    assert points.features["visibility"][row] == 1


def test_color_by_and_names(video_viewer):
    viewer, points, ctrl, _ = video_viewer
    by_node = np.asarray(points.face_color).copy()
    ctrl.set_color_by("instance")
    by_inst = np.asarray(points.face_color)
    ids = points.features["instance"].to_numpy()
    assert len(np.unique(by_inst[ids == 1], axis=0)) == 1 and not np.allclose(by_inst, by_node)
    assert points.metadata["keyskel"]["state"]["color_by"] == "instance"
    viewer.dims.set_current_step(0, 3)
    assert len(np.unique(np.asarray(points.face_color)[points.features["instance"] == 2], axis=0)) == 1
    ctrl.show_names(True)  # placed in the session's names layer (tests/test_names_viewer.py)
    names = ctrl.names.layer
    assert names is not None and not points.text.visible and len(ctrl.names.placed)
    assert list(names.text.values) == list(points.features["node"][ctrl.names.placed])


@pytest.mark.parametrize(
    ("shape", "coord_ndim", "frame_axis"),
    [((64, 80), 2, None), ((6, 64, 80), 2, 0), ((5, 6, 64, 80), 3, 0)],
    ids=["yx", "zyx", "tzyx"],
)
def test_images_volumes_and_stacks(make_napari_viewer, shape, coord_ndim, frame_axis):
    viewer = make_napari_viewer()
    computed = []

    def block(b, block_info=None):
        computed.append(1)
        return np.zeros(b.shape, np.uint8)

    chunks = (1,) * (len(shape) - 2) + shape[-2:]
    lazy = da.zeros(shape, np.uint8, chunks=chunks).map_blocks(block, dtype=np.uint8)
    image = viewer.add_image(lazy, name="lazy", scale=(2.0,) * len(shape))
    n_frames = shape[0] if frame_axis is not None else None
    store = keyed_store(coord_ndim, n_frames or 1, frame_axis)
    points = api.add_skeleton_layer(viewer, store, image_layer=image)
    ctrl = api.get_controller(points)
    np.testing.assert_allclose(points.scale, image.scale[-points.ndim :])
    n_blocks = int(np.prod(lazy.numblocks))
    if n_blocks > 1:
        assert len(computed) < n_blocks  # never loaded whole (only the slice in view)
    assert points.ndim == len(shape) - (frame_axis is None and len(shape) == 3)
    if frame_axis is None:
        assert len(points.data) == 6
    else:
        viewer.dims.set_current_step(0, 0)
        assert len(points.data) == 6 and np.all(points.data[:, 0] == 0)
        viewer.dims.set_current_step(0, 3)
        assert np.all(points.data[:, 0] == 3)
        np.testing.assert_allclose(points.data[:, 1:], store.frame_points(3).coords)
    assert same_segments(edge_segments(points, ctrl), expected_segments(points))
    if coord_ndim == 2 and frame_axis == 0:  # a z-stack in 3D shows every slice's points
        viewer.dims.ndisplay = 3
        assert ctrl.frame is None
        fr, _ = np.unique(points.data[:, 0], return_counts=True)
        assert set(fr.tolist()) == set(range(0, 6))
        viewer.dims.ndisplay = 2
        assert ctrl.frame == viewer.dims.current_step[0]


def test_layer_removal_detaches(video_viewer):
    viewer, points, _, store = video_viewer
    viewer.layers.remove(points)
    assert api.get_controller(points) is None
    viewer.dims.set_current_step(0, 7)  # no error from a stale controller
    assert api.get_store(points).counts()["points"] == store.counts()["points"]


def test_duplicated_layer_gets_its_own_store_and_edges(video_viewer):
    from napari.layers import Layer

    viewer, points, ctrl, store = video_viewer
    copy = viewer.add_layer(Layer.create(*points.as_layer_data_tuple()))
    other = api.get_controller(copy)
    assert other is not None and other is not ctrl and other.edges is not ctrl.edges
    viewer.dims.set_current_step(0, 10)
    copy.data[0, 1:] += 5.0
    copy.events.data(value=copy.data, action="changed", data_indices=(0,), vertex_indices=((),))
    assert not np.allclose(other.store.tracks[1].coords[10, 0], store.tracks[1].coords[10, 0])
    np.testing.assert_allclose(points.data[0, 1:], store.tracks[1].coords[10, 0])


def test_two_layers_one_hidden_while_stepping_frames(video_viewer):
    viewer, points, ctrl, store = video_viewer
    other_store = keyed_store()
    other = api.add_skeleton_layer(viewer, other_store, name="second")
    octrl = api.get_controller(other)
    assert octrl is not ctrl and octrl.edges is not ctrl.edges
    other.visible = False
    assert not octrl.edges.visible  # its edges hide with it
    for frame in (3, 12, 4, 0, 7):
        viewer.dims.set_current_step(0, frame)
        assert np.all(points.data[:, 0] == frame) and len(points.data) == len(store.frame_points(frame))
        assert same_segments(edge_segments(points, ctrl), expected_segments(points))
    points.visible = False  # both hidden
    viewer.dims.set_current_step(0, 8)
    other.visible = True  # shown again: it draws the frame in view
    assert np.all(other.data[:, 0] == 8) and len(other.data) == len(other_store.frame_points(8))
    assert same_segments(edge_segments(other, octrl), expected_segments(other))
    points.visible = True
    assert np.all(points.data[:, 0] == 8)
    # an edit on one layer leaves the other alone
    api.set_node(other, frame=8, instance=1, node="head", coords=[1.0, 2.0])
    assert other_store.tracks[1].is_key[8, 0] and not store.tracks[1].is_key[8, 0]


def _refs_of_new_layer(viewer) -> list:
    import weakref

    points = api.add_skeleton_layer(viewer, keyed_store(), name="to remove")
    ctrl = api.get_controller(points)
    ctrl.bindings.stamp_template()  # use it: a history step, bindings, a drag-free edit
    points.data = points.data + np.r_[0.0, 1.0, 1.0]
    assert len(ctrl.history) >= 1
    # (napari itself keeps the removed Points object a while: its canvas overlay callbacks and
    # layer-control buttons hold it; what keyskel owns must not wait for that)
    return [weakref.ref(x) for x in (ctrl.store, ctrl, ctrl.history, ctrl.bindings, ctrl.edges, points)]


def test_removed_layer_frees_its_store_edges_and_history(video_viewer):
    import gc

    viewer = video_viewer[0]
    refs = _refs_of_new_layer(viewer)
    edges = refs[-2]()
    viewer.layers.remove(refs[-1]())
    assert edges not in viewer.layers  # the edges layer goes with it
    del edges
    viewer.dims.set_current_step(0, 7)  # no error from a stale session
    gc.collect()
    assert api.get_controller(refs[-1]()) is None
    alive = [r() for r in refs[:-1] if r() is not None]
    assert not alive, f"still alive: {[type(a).__name__ for a in alive]}"


def test_script_data_edits_apply_or_refuse(video_viewer):
    viewer, points, ctrl, store = video_viewer
    viewer.dims.set_current_step(0, 10)
    n = len(points.data)
    before = store.tracks[1].coords.copy()
    points.data = points.data[:-1]  # which row was meant to go? refused, and the layer redrawn
    assert len(points.data) == n
    np.testing.assert_array_equal(store.tracks[1].coords, before)
    data = np.vstack([points.data, [[10, 50.0, 50.0]]])  # one more row: a new point, a key
    points.data = data
    assert len(points.data) == n + 1 and len(store.frame_points(10)) == n + 1
    assert ctrl.history.undo_label == "add point"


def test_api_on_a_layer_not_in_a_viewer_keeps_edits_and_method():
    from napari.layers import Points

    from napari_keyskel._napari.layerdata import points_layer_tuple

    store = keyed_store()
    store.method = "cubic"
    data, attrs, _ = points_layer_tuple(store, 0)
    layer = Points(data, **attrs)
    api.set_node(layer, frame=5, instance=1, node="head", coords=[3.0, 4.0])
    api.set_node(layer, frame=2, instance=7, node="tail", coords=[5.0, 6.0])  # a new instance
    got = api.get_store(layer)
    assert got.tracks[1].is_key[5, 0] and got.tracks[7].coords[2 - got.tracks[7].start, 2].tolist() == [
        5.0,
        6.0,
    ]
    api.interpolate(layer)
    assert api.get_store(layer).method == "cubic"  # kept, not reset to linear
    api.interpolate(layer, method="hold")
    assert api.get_store(layer).method == "hold"


def test_new_instance_lifespan_setting(video_viewer):
    viewer, points, ctrl, store = video_viewer
    viewer.dims.set_current_step(0, 12)
    ctrl.current_instance = None
    points.add([12, 30.0, 30.0])  # a new instance: to the end of the video by default
    new = store.tracks[store.track_ids[-1]]
    assert (new.start, new.stop) == (12, 20)
    ctrl.set_new_instance_frames(3)
    assert points.metadata["keyskel"]["state"]["new_instance_frames"] == 3
    ctrl.current_instance = None
    points.add([13, 40.0, 40.0])
    assert (store.tracks[store.track_ids[-1]].start, store.tracks[store.track_ids[-1]].stop) == (13, 16)
    with pytest.raises(Exception, match="at least one frame"):
        ctrl.set_new_instance_frames(0)


def test_closing_the_viewer_frees_the_sessions(make_napari_viewer):
    import gc

    from napari_keyskel._napari.registry import owners

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((20, 64, 96), np.uint8), name="video")
    refs = _refs_of_new_layer(viewer)[:-2]  # store, session, history, bindings
    viewer.layers.clear()  # what closing the viewer does to its layers
    gc.collect()
    assert not [r() for r in refs if r() is not None]
    assert not [o for o in owners() if o._viewer() is viewer]


def test_controller_for_a_plugin_proxy_of_the_layer(video_viewer):
    from napari.utils._proxies import PublicOnlyProxy

    viewer, points, ctrl, _ = video_viewer
    proxy = PublicOnlyProxy(viewer).layers[points.name]  # what plugin widgets are handed
    assert api.get_controller(proxy) is ctrl
    assert api.get_controller(PublicOnlyProxy(viewer).layers[ctrl.edges.name]) is ctrl
