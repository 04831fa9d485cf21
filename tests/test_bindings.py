"""Key bindings of a keyskel layer, pressed on a real napari canvas (under Xvfb)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from napari_keyskel import api
from napari_keyskel._napari.bindings import KEYS, shortcuts_text
from napari_keyskel.core.skeleton import Skeleton

pytestmark = pytest.mark.viewer

SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL = Qt.KeyboardModifier.ControlModifier
NODES = ["head", "l_ear", "r_ear", "body", "tail"]


@pytest.fixture
def env(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((40, 96, 96), np.uint8), name="video")
    sk = Skeleton(NODES, [(0, 1), (0, 2), (0, 3), (3, 4)], flip_pairs=[(1, 2)], name="toy")
    points = api.add_skeleton_layer(viewer, sk, image_layer=image)
    ctrl = api.get_controller(points)
    b = ctrl.bindings
    viewer.layers.selection.active = points
    viewer.dims.set_current_step(0, 0)  # napari starts in the middle of the stack
    canvas = viewer.window._qt_viewer.canvas.native
    return SimpleNamespace(viewer=viewer, points=points, ctrl=ctrl, b=b, store=ctrl.store, canvas=canvas)


def press(env, key, mods=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(env.canvas, key, mods)


def cursor(env, y: float, x: float) -> None:
    env.viewer.cursor.position = (env.viewer.dims.current_step[0], y, x)


def frame(env) -> int:
    return int(env.viewer.dims.current_step[0])


def rows_of(env, tid: int) -> np.ndarray:
    return np.flatnonzero(env.points.features["instance"].to_numpy() == tid)


def edges_of(env, tid: int) -> int:
    return int((env.ctrl.edge_instances == tid).sum())


def test_every_key_is_bound_on_the_layer_only(env):
    bound = {str(k) for k in env.points.keymap}
    for _key, method, _ in KEYS:
        assert callable(getattr(env.b, method))
    assert len(bound) >= len({k for k, _, _ in KEYS})
    assert not any("keyskel" in getattr(f, "__name__", "") for f in env.viewer.keymap.values())
    text = shortcuts_text()
    assert text.count("\n") == len(KEYS) + 3 and "`Control-Z` | undo" in text


def test_stamp_template_previous_and_mirrored(env):
    cursor(env, 40, 50)
    press(env, Qt.Key.Key_T)
    s = env.store
    assert s.track_ids == [1]
    t1 = s.tracks[1]
    pose = t1.coords[0]
    assert t1.is_key[0].all() and (t1.visibility[0] == 2).all()
    np.testing.assert_allclose(pose.mean(axis=0), [40, 50])  # centred at the cursor
    assert len(rows_of(env, 1)) == 5 and edges_of(env, 1) == 4
    np.testing.assert_allclose(np.asarray(env.points.data)[rows_of(env, 1)][:, 1:], pose)
    # the next template is the most complete pose so far, moved to the new cursor: a new instance
    cursor(env, 60, 20)
    press(env, Qt.Key.Key_T)
    assert s.track_ids == [1, 2]
    np.testing.assert_allclose(s.tracks[2].coords[0] - [60, 20], pose - [40, 50])
    # mirrored: the left/right pairs swap places
    cursor(env, 30, 30)
    press(env, Qt.Key.Key_Y)
    m = s.tracks[3].coords[0] - [30, 30]
    np.testing.assert_allclose(m[[1, 2]], (pose - [40, 50])[[2, 1]])
    np.testing.assert_allclose(m[[0, 3, 4]], (pose - [40, 50])[[0, 3, 4]])
    # next frame, previous pose of the current instance (3) at the cursor, onto instance 3
    press(env, Qt.Key.Key_D)
    assert frame(env) == 1
    cursor(env, 35, 30)
    press(env, Qt.Key.Key_T, SHIFT)
    assert s.track_ids == [1, 2, 3]
    np.testing.assert_allclose(s.tracks[3].coords[1] - s.tracks[3].coords[0], np.tile([5.0, 0.0], (5, 1)))
    # instances 1 and 2 hold their frame-0 pose on frame 1 (interpolated); 3 has its new key
    feats = env.points.features
    assert len(env.points.data) == 15 and set(feats["instance"]) == {1, 2, 3}
    assert (feats["keyframe"].to_numpy() == (feats["instance"].to_numpy() == 3)).all()
    # Shift-Y: previous pose mirrored (here, frame 1 of instance 3 -> frame 2)
    press(env, Qt.Key.Key_D)
    cursor(env, 35, 30)
    press(env, Qt.Key.Key_Y, SHIFT)
    np.testing.assert_allclose(s.tracks[3].coords[2][[1, 2]], s.tracks[3].coords[1][[2, 1]])
    # M on frame 2 swaps back
    press(env, Qt.Key.Key_M)
    np.testing.assert_allclose(s.tracks[3].coords[2], s.tracks[3].coords[1])


def test_click_to_place_with_auto_advance(env, qtbot):
    from napari_keyskel._qt.dock import KeyskelDock

    dock = KeyskelDock(env.viewer)
    qtbot.addWidget(dock)
    label = dock.next_node_label
    assert label.text() == "next: head (new instance)"
    env.points.mode = "add"
    env.points.add([0, 10, 10])  # what a click in add mode does
    s = env.store
    assert s.track_ids == [1] and s.tracks[1].is_key[0, 0]
    assert label.text() == "next: l_ear (instance 1)"
    press(env, Qt.Key.Key_N)  # skip to r_ear
    assert label.text() == "next: r_ear (instance 1)"
    env.points.add([0, 12, 14])
    np.testing.assert_allclose(s.tracks[1].coords[0, 2], [12, 14])
    assert label.text() == "next: l_ear (instance 1)"  # back to the first free node
    press(env, Qt.Key.Key_U)  # l_ear is not visible here: unlabelled key, advance
    assert s.tracks[1].is_key[0, 1] and s.tracks[1].visibility[0, 1] == 0
    assert label.text() == "next: body (instance 1)"
    press(env, Qt.Key.Key_N, SHIFT)
    press(env, Qt.Key.Key_N)
    assert label.text() == "next: body (instance 1)"
    env.points.add([0, 20, 10])
    env.points.add([0, 30, 10])
    assert label.text() == "instance 1: all nodes placed"
    assert edges_of(env, 1) == 3  # head-r_ear, head-body, body-tail (l_ear is unlabelled)
    # I: a new instance starts at the first node
    press(env, Qt.Key.Key_I)
    assert label.text() == "next: head (new instance)"
    env.points.add([0, 50, 50])
    assert s.track_ids == [1, 2] and np.isfinite(s.tracks[2].coords[0, 0]).all()
    # ] and [ cycle the instances on the frame and select their points
    press(env, Qt.Key.Key_BracketRight)
    assert env.ctrl.current_instance == 1
    assert env.points.selected_data == set(rows_of(env, 1).tolist())
    press(env, Qt.Key.Key_BracketLeft)
    assert env.ctrl.current_instance == 2


def _edges_touching(env, point) -> int:
    """How many edge vectors start or end at ``point`` (layer coordinates)."""
    vec = np.asarray(env.ctrl.edges.data)
    ends = np.concatenate([vec[:, 0], vec[:, 0] + vec[:, 1]])
    return int(np.isclose(ends, point).all(axis=1).sum())


def _two_keys(env):
    """Instance 1 keyed on frames 0 and 20 (moved by 20 px in x), interpolated between."""
    cursor(env, 40, 30)
    press(env, Qt.Key.Key_T)
    env.viewer.dims.set_current_step(0, 20)
    cursor(env, 40, 50)
    press(env, Qt.Key.Key_T, SHIFT)
    return env.store.tracks[1]


def test_drag_on_interpolated_frame_keys_only_that_node(env):
    t = _two_keys(env)
    assert not t.is_key[10].any() and np.isfinite(t.coords[10]).all()
    before = t.coords.copy()
    env.viewer.dims.set_current_step(0, 10)
    rows = rows_of(env, 1)
    feats = env.points.features
    row = rows[np.asarray(feats["node"].cat.codes)[rows] == 3][0]
    b = env.b
    env.points.mode = "select"
    y, x = np.asarray(env.points.data)[row, 1:]
    _mouse(env.points, "mouse_press", (10, y, x))
    for dx in (3.0, 6.0):  # two moves of one drag, through napari's select mode
        _mouse(env.points, "mouse_move", (10, y, x + dx))
        # the dragged instance's edges follow every move (before any store edit)
        assert t.coords[10, 3, 1] == pytest.approx(before[10, 3, 1])
        # body (node 3) has two edges, to head and tail: both end where the mouse is
        assert _edges_touching(env, np.asarray(env.points.data)[row]) == 2
        assert np.asarray(env.points.data)[row, 2] == pytest.approx(x + dx)
    _mouse(env.points, "mouse_release", (10, y, x + 6.0))
    assert t.is_key[10].tolist() == [False, False, False, True, False]
    assert t.coords[10, 3, 1] == pytest.approx(before[10, 3, 1] + 6)
    changed = ~np.isclose(t.coords, before).all(axis=-1)
    assert set(np.flatnonzero(changed.any(axis=0))) == {3}  # only that node
    assert set(np.flatnonzero(changed[:, 3])) == set(range(1, 20)) - {10} | {10}  # only its spans
    assert env.points.features["keyframe"].to_numpy()[row]
    # the whole drag is one undo step
    assert b.history.undo_label == "move points"
    press(env, Qt.Key.Key_Z, CTRL)
    np.testing.assert_allclose(t.coords, before)
    assert not t.is_key[10].any()
    np.testing.assert_allclose(np.asarray(env.points.data)[row, 1:], before[10, 3])
    press(env, Qt.Key.Key_Z, CTRL | SHIFT)
    assert t.is_key[10, 3] and t.coords[10, 3, 1] == pytest.approx(before[10, 3, 1] + 6)


def test_occluded_unlabelled_and_key_toggles(env):
    t = _two_keys(env)
    env.viewer.dims.set_current_step(0, 10)
    rows = rows_of(env, 1)
    codes = np.asarray(env.points.features["node"].cat.codes)
    tail = int(rows[codes[rows] == 4][0])
    env.points.selected_data = {tail}
    press(env, Qt.Key.Key_O)
    assert t.visibility[10, 4] == 1 and t.is_key[10, 4]
    assert env.points.features["visibility"].to_numpy()[tail] == 1
    assert t.visibility[15, 4] == 1  # interpolated frames follow the previous key's visibility
    env.points.selected_data = {tail}
    press(env, Qt.Key.Key_O)
    assert t.visibility[10, 4] == 2
    # K on a selected key unkeys it (it is re-interpolated); K again keys it
    env.points.selected_data = {tail}
    press(env, Qt.Key.Key_K)
    assert not t.is_key[10, 4] and np.isfinite(t.coords[10, 4]).all()
    head = int(rows[codes[rows] == 0][0])
    env.points.selected_data = {head}
    press(env, Qt.Key.Key_K)
    assert t.is_key[10, 0] and env.points.features["keyframe"].to_numpy()[head]
    # U: the selected point becomes an unlabelled key: gone from the layer, spans end there
    env.points.selected_data = {head}
    press(env, Qt.Key.Key_U)
    assert t.visibility[10, 0] == 0 and t.is_key[10, 0] and np.isnan(t.coords[10, 0]).all()
    assert np.isnan(t.coords[5, 0]).all() and np.isnan(t.coords[15, 0]).all()
    assert 0 not in set(np.asarray(env.points.features["node"].cat.codes)[rows_of(env, 1)])
    # K with nothing selected: key the whole instance here
    env.points.selected_data = set()
    env.ctrl.current_instance = 1
    env.viewer.dims.set_current_step(0, 12)
    press(env, Qt.Key.Key_K)
    placed = np.isfinite(t.coords[12, :, 0])
    assert (t.is_key[12] == placed).all() and placed.sum() == 4


def test_delete_instance_frame_and_track(env):
    t = _two_keys(env)
    cursor(env, 60, 60)
    press(env, Qt.Key.Key_T)  # instance 2 on frame 20
    env.viewer.dims.set_current_step(0, 10)
    env.ctrl.current_instance = 1
    press(env, Qt.Key.Key_X)
    assert not t.alive[10] and np.isnan(t.coords[10]).all()
    assert np.isnan(t.coords[5]).all()  # no bridging over the lifespan gap
    assert len(rows_of(env, 1)) == 0 and edges_of(env, 1) == 0
    press(env, Qt.Key.Key_Z, CTRL)
    assert t.alive[10] and np.isfinite(t.coords[5]).all() and len(rows_of(env, 1)) == 5
    env.viewer.dims.set_current_step(0, 20)
    env.points.selected_data = set(rows_of(env, 2).tolist())
    press(env, Qt.Key.Key_X, Qt.KeyboardModifier.AltModifier)  # delete it on every frame
    assert env.store.track_ids == [1] and len(rows_of(env, 2)) == 0 and edges_of(env, 2) == 0
    press(env, Qt.Key.Key_Z, CTRL)
    assert env.store.track_ids == [1, 2] and len(rows_of(env, 2)) == 5 and edges_of(env, 2) == 4
    # Shift-X ends an instance from this frame on: its lifespan (V7 ranges) stops there
    t2 = env.store.tracks[2]
    assert t2.stop == 40 and np.isfinite(t2.coords[30 - t2.start]).all()  # held to the video's end
    env.viewer.dims.set_current_step(0, 30)
    env.ctrl.current_instance = 2
    press(env, Qt.Key.Key_X, SHIFT)
    assert not t2.alive[30 - t2.start :].any() and t2.alive[: 30 - t2.start].all()
    assert np.isnan(t2.coords[30 - t2.start :]).all() and len(rows_of(env, 2)) == 0
    env.viewer.dims.set_current_step(0, 25)
    assert len(rows_of(env, 2)) == 5  # still held before the end
    out = Path(tempfile.mkdtemp()) / "ended.json"
    api.save_layer(env.points, out, format="darwin")  # V7 writes the lifespan as ranges
    anns = json.loads(out.read_text())["annotations"]
    ranges = {a["instance_id"]["value"]: a["ranges"] for a in anns if "instance_id" in a}
    assert ranges[2] == [[20, 30]]
    press(env, Qt.Key.Key_Z, CTRL)
    assert t2.alive.all() and np.isfinite(t2.coords[30 - t2.start]).all()


def test_frame_and_keyframe_navigation(env):
    _two_keys(env)
    env.viewer.dims.set_current_step(0, 5)
    press(env, Qt.Key.Key_D)
    press(env, Qt.Key.Key_D)
    assert frame(env) == 7
    press(env, Qt.Key.Key_A)
    assert frame(env) == 6
    press(env, Qt.Key.Key_E)
    assert frame(env) == 20
    press(env, Qt.Key.Key_E)  # no later key: stays
    assert frame(env) == 20 and "no such frame" in env.b._last_message
    press(env, Qt.Key.Key_Q)
    assert frame(env) == 0
    press(env, Qt.Key.Key_A)
    assert frame(env) == 0
    press(env, Qt.Key.Key_H)
    assert frame(env) == 10
    env.viewer.dims.set_current_step(0, 15)
    press(env, Qt.Key.Key_H)  # between the keys 0 and 20 again
    assert frame(env) == 10


def test_interpolate_method_and_undo_redo_stack(env):
    t = _two_keys(env)
    env.viewer.dims.set_current_step(0, 40 - 1)
    cursor(env, 70, 50)
    env.ctrl.current_instance = 1
    press(env, Qt.Key.Key_T, SHIFT)  # a third key at 39: cubic now differs from linear
    linear = t.coords.copy()
    env.store.method = "cubic"
    press(env, Qt.Key.Key_I, SHIFT)
    assert not np.allclose(t.coords, linear, equal_nan=True)
    assert env.b.history.undo_label == "interpolate (cubic)"
    press(env, Qt.Key.Key_Z, CTRL)
    np.testing.assert_allclose(t.coords, linear)
    # undo everything: the layer ends empty; redo everything: back where we were
    while env.b.history.can_undo:
        press(env, Qt.Key.Key_Z, CTRL)
    assert env.store.track_ids == [] and len(env.points.data) == 0
    press(env, Qt.Key.Key_Z, CTRL)
    assert env.b._last_message == "nothing to undo"
    n = 0
    while env.b.history.can_redo:
        press(env, Qt.Key.Key_Z, CTRL | SHIFT)
        n += 1
    assert n == 4 and env.viewer.dims.ndisplay == 2
    assert env.store.method == "cubic"
    assert not np.allclose(t.coords, linear, equal_nan=True) or env.store.tracks[1] is not t


def _mouse(layer, kind: str, position, pos=(0.0, 0.0)) -> None:
    """A mouse event through napari's own layer callbacks (as its canvas sends them)."""
    from napari.utils._proxies import ReadOnlyWrapper
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    event = ReadOnlyWrapper(
        SimpleNamespace(
            type=kind,
            handled=False,
            is_dragging=kind == "mouse_move",
            modifiers=[],
            position=tuple(position),
            pos=np.asarray(pos, float),
            view_direction=None,
            up_direction=None,
            dims_displayed=[1, 2],
        ),
        exceptions=("handled",),
    )
    {"mouse_press": mouse_press_callbacks, "mouse_move": mouse_move_callbacks}.get(
        kind, mouse_release_callbacks
    )(layer, event)


def test_mouse_click_places_and_drag_moves_one_undo_step(env):
    p, s, b = env.points, env.store, env.b
    p.mode = "add"
    _mouse(p, "mouse_press", (0, 30, 30))
    _mouse(p, "mouse_release", (0, 30, 30))
    assert s.track_ids == [1] and s.tracks[1].coords[0, 0].tolist() == [30.0, 30.0]
    assert b.history.undo_label == "add point" and len(b.history) == 1
    _mouse(p, "mouse_press", (0, 50, 40), pos=(10, 10))
    _mouse(p, "mouse_release", (0, 50, 40), pos=(10, 10))
    assert s.tracks[1].coords[0, 1].tolist() == [50.0, 40.0] and len(b.history) == 2
    p.mode = "select"
    _mouse(p, "mouse_press", (0, 30, 30))
    assert p.selected_data == {0}
    for y in (33, 36, 40):
        _mouse(p, "mouse_move", (0, y, 30))
    _mouse(p, "mouse_release", (0, 40, 30))
    assert s.tracks[1].coords[0, 0].tolist() == [40.0, 30.0]
    assert np.asarray(p.data)[0].tolist() == [0.0, 40.0, 30.0]
    assert b.history.undo_label == "move points" and len(b.history) == 3  # one step for the drag
    press(env, Qt.Key.Key_Z, CTRL)
    assert s.tracks[1].coords[0, 0].tolist() == [30.0, 30.0]
    assert np.asarray(p.data)[0].tolist() == [0.0, 30.0, 30.0]
    press(env, Qt.Key.Key_Z, CTRL)
    assert np.isnan(s.tracks[1].coords[0, 1]).all() and len(p.data) == 1
