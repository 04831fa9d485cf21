"""Node names in a real viewer (under Xvfb): placed so that they never overlap, following the view.

The names are switched on with the dock's checkbox; frames are stepped with the dims slider and
the plugin's keys, a node is dragged through napari's mouse callbacks, the camera zooms. The label
boxes are computed from what the names layer displays: its positions, strings, font size and the
camera zoom (and checked against the pixels napari draws).
"""

from __future__ import annotations

import gc
import time
import weakref

import numpy as np
import pytest
from _events import mouse
from qtpy.QtCore import QPoint, Qt
from qtpy.QtTest import QTest

from napari_keyskel._napari.labels import label_half_sizes
from napari_keyskel._napari.names import DRAG_INTERVAL, GAP, camera_of
from napari_keyskel._napari.registry import owner_of

# napari warns (RuntimeWarning) when it cannot draw a layer's text: that fails these tests
pytestmark = [pytest.mark.viewer, pytest.mark.filterwarnings("error::RuntimeWarning")]


def _settle(qtbot, ms: int = 30) -> None:
    qtbot.wait(ms)


@pytest.fixture
def named(make_napari_viewer, qtbot):
    """The sample in a shown viewer, names switched on with the dock's checkbox, frame 0."""
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-keyskel", "moving_figure")
    _, dock = viewer.window.add_plugin_dock_widget("napari-keyskel", "Keyskel")
    points = viewer.layers["mouse keypoints"]
    viewer.layers.selection.active = points
    viewer.dims.set_current_step(0, 0)
    ctrl = owner_of(points)
    assert ctrl.names.layer is None  # off by default: no layer, nothing computed
    _click_box(qtbot, dock.show_names)
    assert dock.show_names.isChecked() and ctrl.names.layer is not None
    _settle(qtbot)
    return [viewer, points, ctrl, dock]  # (a list: a test can drop its references)


def _click_box(qtbot, box) -> None:
    """Click the check box's indicator (its left end), as a person does."""
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def _boxes(viewer, names):
    """Label boxes in screen pixels ``(lo, hi)`` from the names layer as displayed."""
    zoom = camera_of(viewer).zoom  # (the names layer is 2-D: the displayed axes)
    centre = np.asarray(names.data, float)[:, -2:] * np.asarray(names.scale)[-2:] * zoom
    half = label_half_sizes(np.asarray(names.text.values, str), names.text.size)
    return centre - half, centre + half


def _overlapping_pairs(lo, hi) -> int:
    hit = np.all((lo[:, None] < hi[None]) & (lo[None] < hi[:, None]), axis=2)
    return int(np.triu(hit, 1).sum())


def _old_text_overlaps(viewer, points) -> int:
    """Overlapping pairs of the names as napari's layer text showed them before (one translation)."""
    zoom = camera_of(viewer).zoom
    corner = (np.asarray(points.data)[:, 1:] + [-3, 4]) * zoom  # upper_left anchor, [0, -3, 4]
    half = label_half_sizes(points.features["node"].astype(str), 6)
    return _overlapping_pairs(corner, corner + 2 * half)


def _gaps(viewer, points, ctrl):
    """How far (screen pixels) each name's box centre is beyond its marker and its own half diagonal.

    A box right beside its marker gives at most the gap; each ring further out adds a line.
    """
    names = ctrl.names.layer
    zoom = camera_of(viewer).zoom
    rows = ctrl.names.placed
    off = (np.asarray(names.data)[:, -2:] - np.asarray(points.data)[rows][:, -2:]) * zoom
    half = label_half_sizes(np.asarray(names.text.values, str), names.text.size)
    return np.hypot(*off.T) - np.hypot(*half.T) - 0.5 * np.asarray(points.size)[rows] * zoom


def _label_of(ctrl, row):
    """Position of the name of annotation row ``row``, in the annotation layer's coordinates."""
    (i,) = np.flatnonzero(ctrl.names.placed == row)
    here = np.asarray(ctrl.points.data)[row]
    return np.r_[here[:-2], np.asarray(ctrl.names.layer.data)[i][-2:]]


def test_names_never_overlap_on_any_frame_at_the_default_zoom(named, capsys):
    viewer, points, ctrl, _ = named
    names = ctrl.names.layer
    assert [ly.name for ly in viewer.layers][-1] == "mouse keypoints names"
    assert viewer.layers.selection.active is points  # still the layer the keys act on
    assert not points.text.visible and names.editable is False
    pairs, before, placed, cost = [], [], [], []
    line = 2 * label_half_sizes(["x"], names.text.size)[0, 0]
    for f in range(int(viewer.dims.nsteps[0])):
        viewer.dims.set_current_step(0, f)
        lo, hi = _boxes(viewer, names)
        pairs.append(_overlapping_pairs(lo, hi))
        before.append(_old_text_overlaps(viewer, points))
        placed.append(len(names.data) / len(points.data))
        cost.append(ctrl.names.seconds)
        # every name is its point's, a short way from it, in the frame in view
        rows = ctrl.names.placed
        assert list(names.text.values) == list(points.features["node"].astype(str)[rows])
        assert (np.asarray(points.data)[rows, 0] == f).all()
        assert _gaps(viewer, points, ctrl).max() <= GAP + 4 * line + 1  # leader-less: close by
    with capsys.disabled():
        print(
            f"\nnames at zoom {camera_of(viewer).zoom:.2f}: overlapping pairs per frame {np.mean(pairs):.2f} "
            f"(napari's layer text before: {np.mean(before):.2f}); names shown {np.mean(placed):.1%}; "
            f"placement + layer update {np.median(cost) * 1e3:.1f} ms per frame (median)"
        )
    assert sum(pairs) == 0
    assert np.mean(placed) > 0.99  # at the default zoom (almost) every name finds room


def test_the_boxes_hold_the_text_napari_draws(named, qtbot):
    viewer, _, ctrl, _ = named
    for layer in viewer.layers:
        layer.visible = layer is ctrl.names.layer
    ctrl.names.layer.visible = True
    _settle(qtbot, 100)
    img = viewer.screenshot(canvas_only=True)[..., :3].max(axis=-1)
    lo, hi = _boxes(viewer, ctrl.names.layer)
    zoom = camera_of(viewer).zoom
    centre = np.asarray(camera_of(viewer).center)[-2:] * zoom
    shift = np.array(img.shape[:2]) / 2 - centre  # screen pixels of the canvas
    inside = np.zeros(img.shape, bool)
    for a, b in zip(np.floor(lo + shift - 1).astype(int), np.ceil(hi + shift + 1).astype(int), strict=True):
        inside[max(a[0], 0) : b[0], max(a[1], 0) : b[1]] = True
    lit = img > 60
    assert lit.sum() > 100 * len(lo)  # the names are drawn
    assert (lit & ~inside).sum() <= 0.005 * lit.sum()  # and drawn inside their boxes


def test_names_follow_frames_stepped_with_the_slider_and_keys(named, qtbot):
    viewer, points, ctrl, _ = named
    names = ctrl.names.layer
    slider = viewer.window._qt_viewer.dims.slider_widgets[0].slider
    slider.setValue(37)  # the dims slider, as a person drags it
    assert viewer.dims.current_step[0] == 37
    assert (np.asarray(points.data)[ctrl.names.placed, 0] == 37).all() and len(names.data) == len(points.data)
    first = np.asarray(names.data).copy()
    canvas = viewer.window._qt_viewer.canvas.native
    for _ in range(3):
        QTest.keyClick(canvas, Qt.Key.Key_D)  # the plugin's next-frame key
    assert viewer.dims.current_step[0] == 40
    assert (np.asarray(points.data)[ctrl.names.placed, 0] == 40).all()
    assert not np.allclose(np.asarray(names.data), first)  # the mice moved: so did names
    assert _overlapping_pairs(*_boxes(viewer, names)) == 0


def test_a_dragged_nodes_name_follows_it(named, qtbot):
    viewer, points, ctrl, _ = named
    points.mode = "select"
    data = np.asarray(points.data)
    row = int(np.flatnonzero(points.features["node"] == "tail_tip")[0])
    start = data[row].copy()
    before = _label_of(ctrl, row) - start
    target = start + np.array([0, 30, -25])
    mouse(points, "mouse_press", start)
    time.sleep(DRAG_INTERVAL)
    mouse(points, "mouse_move", start + np.array([0, 15, -12]))
    mid = np.asarray(points.data)[row]
    assert np.allclose(mid, start + np.array([0, 15, -12]))
    # while dragged (throttled), the name moves with the node: beside it where it is now
    line = 2 * label_half_sizes(["x"], 8)[0, 0]
    i = int(np.flatnonzero(ctrl.names.placed == row)[0])
    assert _gaps(viewer, points, ctrl)[i] < 2 * line
    assert np.hypot(*((_label_of(ctrl, row) - (start + before))[1:])) > 1  # not left where it was
    mouse(points, "mouse_move", target)
    mouse(points, "mouse_release", target)
    track = ctrl.store.tracks[int(points.features["instance"][row])]
    node = ctrl.store.skeleton.index("tail_tip")
    assert np.allclose(track.coords[0 - track.start, node], target[1:])  # a key where it was dropped
    label = _label_of(ctrl, row)  # at release: placed again beside the node where it now is
    i = int(np.flatnonzero(ctrl.names.placed == row)[0])
    assert _gaps(viewer, points, ctrl)[i] < 2 * 2 * label_half_sizes(["x"], 8)[0, 0]
    assert np.hypot(*((label - (start + before))[1:])) > 10  # not left where it was
    assert _overlapping_pairs(*_boxes(viewer, ctrl.names.layer)) == 0
    canvas = viewer.window._qt_viewer.canvas.native
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo: the name goes back too
    assert np.allclose(np.asarray(points.data)[row], start)
    np.testing.assert_allclose(_label_of(ctrl, row) - start, before)  # the same place as at first


def test_names_never_overlap_when_zooming_in_and_out(named):
    viewer, points, ctrl, _ = named
    names = ctrl.names.layer
    zoom0 = camera_of(viewer).zoom
    line = 2 * label_half_sizes(["x"], names.text.size)[0, 0]
    shown = {}
    for factor in (3.0, 1.0, 0.4, 0.2):
        camera_of(viewer).zoom = zoom0 * factor  # napari's camera event re-places the names
        assert _overlapping_pairs(*_boxes(viewer, names)) == 0
        rows = ctrl.names.placed
        assert len(rows) == len(names.data) == len(names.text.values)
        shown[factor] = len(rows)
        # a short offset at any zoom: a box starts within a few lines of its marker's edge
        gap = _gaps(viewer, points, ctrl)
        assert gap.max() <= GAP + 4 * line + 1, factor
        if factor >= 1:  # with room, most names sit right beside their point
            assert np.median(gap) < line, factor
    # zoomed in, every name has room; far out, some give way rather than overlap
    assert shown[3.0] == shown[1.0] == len(points.data)
    assert 0 < shown[0.2] < len(points.data)


def test_names_off_and_on_the_checkbox_the_state_and_removing_layers(named, qtbot):
    viewer, points, ctrl, dock = named
    names = ctrl.names.layer
    assert points.metadata["keyskel"]["state"]["show_names"] is True
    _click_box(qtbot, dock.show_names)  # off: the layer goes
    assert names not in viewer.layers and ctrl.names.layer is None
    assert points.metadata["keyskel"]["state"]["show_names"] is False
    _click_box(qtbot, dock.show_names)
    names = ctrl.names.layer
    assert names in viewer.layers
    viewer.layers.remove(names)  # a person removes the names layer: names are off, the box unticks
    assert ctrl.names.layer is None and not dock.show_names.isChecked()
    assert points.metadata["keyskel"]["state"]["show_names"] is False
    ctrl.show_names(True)
    assert dock.show_names.isChecked()  # the dock follows the session
    names = ctrl.names.layer
    # napari's 3D view: the layer's own text shows the names, the names layer empties
    viewer.dims.ndisplay = 3
    assert points.text.visible and len(names.data) == 0
    viewer.dims.ndisplay = 2
    assert not points.text.visible and len(names.data) == len(points.data)
    # hiding the annotation layer hides its names
    points.visible = False
    assert not names.visible
    points.visible = True
    # removing the annotation layer removes its names layer, and frees the names
    refs = [weakref.ref(x) for x in (ctrl, ctrl.names, ctrl.store)]
    named.clear()
    del ctrl
    viewer.layers.remove(points)
    del points
    assert [ly.name for ly in viewer.layers] == ["moving figure"]  # edges and names went with it
    assert names not in viewer.layers
    qtbot.wait(10)
    gc.collect()
    alive = [type(r()).__name__ for r in refs if r() is not None]
    assert not alive, f"still alive after removing the layer: {alive}"


def test_saved_state_shows_names_when_the_layer_comes_back(make_napari_viewer):
    from napari_keyskel._napari.layerdata import points_layer_tuple
    from napari_keyskel._napari.registry import add_points_layer
    from napari_keyskel.samples.synthetic import moving_figure

    viewer = make_napari_viewer()
    video, store = moving_figure(n_frames=5, shape=(96, 96))
    viewer.add_image(video)
    data, attrs, kind = points_layer_tuple(store, 0, name="mice")
    attrs["metadata"]["keyskel"]["state"]["show_names"] = True  # as saved by a session
    points = add_points_layer(viewer, (data, attrs, kind))
    ctrl = owner_of(points)
    assert ctrl.names_shown and "mice names" in viewer.layers
    assert len(ctrl.names.layer.data) == len(points.data) > 0


def test_a_3d_skeleton_shows_the_names_of_the_slice_in_view(make_napari_viewer):
    from napari_keyskel import api
    from napari_keyskel.core import keyframes as kf
    from napari_keyskel.core.skeleton import Skeleton
    from napari_keyskel.core.store import AnnotationStore

    viewer = make_napari_viewer()
    store = AnnotationStore(Skeleton(["a", "b", "c"], [("a", "b"), ("b", "c")]), coord_ndim=3, frame_axis=0,
                            n_frames=3, name="worm")  # fmt: skip
    track = store.add_track(0, 3)
    kf.set_pose(store, 0, track.track_id, np.array([[2, 10, 10], [2, 20, 20], [5, 30, 30]], float))
    viewer.add_image(np.zeros((3, 10, 64, 64), np.uint8))
    points = api.add_skeleton_layer(viewer, store, name="worm")
    ctrl = owner_of(points)
    viewer.dims.set_current_step(0, 0)
    viewer.dims.set_current_step(1, 2)
    ctrl.show_names(True)
    assert list(ctrl.names.layer.text.values) == ["a", "b"]  # the nodes on slice z = 2
    viewer.dims.set_current_step(1, 5)  # another slice of the same frame
    assert list(ctrl.names.layer.text.values) == ["c"]
    assert (np.asarray(points.data)[ctrl.names.placed, 1] == 5).all()
