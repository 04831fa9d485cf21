"""The keyframe timeline: run derivation (numpy) and the dock driven through Qt events."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qtpy.QtCore import QPoint, Qt

from napari_keyskel._qt.timeline import FILLED, GAP, HELD, OUTSIDE, PARTIAL, ROW_H, pixel_runs, row_states
from napari_keyskel.core import keyframes as kf
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore

LEFT = Qt.MouseButton.LeftButton


def _store(n_frames: int = 60) -> AnnotationStore:
    sk = Skeleton(["a", "b", "c"], [(0, 1), (1, 2)], flip_pairs=[(0, 2)])
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=n_frames)
    store.add_track(start=5)
    kf.set_pose(store, 5, 1, [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    kf.set_pose(store, 15, 1, [[11.0, 1.0], [12.0, 2.0], [13.0, 3.0]], [2, 1, 2])
    kf.set_pose(store, 25, 1, [[21.0, 1.0], [22.0, 2.0], [23.0, 3.0]], [2, 2, 0])  # c unlabelled
    kf.set_pose(store, 35, 1, [[31.0, 1.0], [32.0, 2.0], [33.0, 3.0]])
    store.set_alive(1, 40, 42, False)
    return store


def _reference(track, lo, hi, node=None):
    """Per-frame loop: the obvious definition of row_states."""
    state, key = [], []
    for f in range(lo, hi):
        if not track.start <= f < track.stop or not track.alive[f - track.start]:
            state.append(OUTSIDE)
            key.append(0)
            continue
        r = f - track.start
        nodes = range(track.coords.shape[1]) if node is None else [node]
        placed = [bool(np.isfinite(track.coords[r, k, 0])) for k in nodes]
        vis = [int(track.visibility[r, k]) for k in nodes]
        if not any(placed):
            state.append(GAP)
        elif all(placed) and all(v == 2 for v in vis):
            state.append(FILLED)
        else:
            state.append(PARTIAL)
        keys = [bool(track.is_key[r, k]) for k in nodes]
        labelled = any(k and p for k, p in zip(keys, placed, strict=True))
        key.append(1 if labelled else 2 if any(keys) else 0)
    return state, key


@pytest.mark.parametrize("node", [None, 0, 1, 2])
def test_row_states_match_reference(node):
    store = _store()
    t = store.tracks[1]
    for lo, hi in [(0, 60), (10, 30), (38, 44), (50, 60)]:
        state, key = row_states(t, lo, hi, node)
        ref_state, ref_key = _reference(t, lo, hi, node)
        assert state.tolist() == ref_state and key.tolist() == ref_key
    state, key = row_states(t, 0, 60)
    assert state[20] == PARTIAL  # b occluded between 15 and 25 follows key 15's visibility
    assert state[10] == state[6] == FILLED and state[28] == PARTIAL  # c unlabelled from 25 to 35: a gap in c
    assert key[25] == 1 and state[41] == OUTSIDE


def _brute_pixels(state, key, lo, hi, first, width):
    """Per pixel column: the worst state of the frames starting in it (gap > partial > filled)."""
    rank = {GAP: 1, PARTIAL: 2, FILLED: 3, OUTSIDE: 4}
    scale = width / (hi - lo)
    cols: dict[int, int] = {}
    for i, s in enumerate(state):
        c = int(np.floor((first + i - lo) * scale))
        cols[c] = min(cols.get(c, 5), rank[int(s)])
    inv = {v: k for k, v in rank.items()}
    return {c: inv[v] for c, v in cols.items()}


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.sampled_from([OUTSIDE, GAP, PARTIAL, FILLED]), min_size=1, max_size=400),
    st.integers(10, 120),
)
def test_pixel_runs_keep_the_worst_state_per_column(states, width):
    state = np.asarray(states, np.int8)
    key = (np.arange(state.size) % 7 == 0).astype(np.int8)
    x0, x1, run_state, keys = pixel_runs(state, key, 0.0, float(state.size), 0, float(width))
    assert np.all(x1 > x0) and np.allclose(x0[1:], x1[:-1])  # contiguous runs
    assert len(run_state) <= min(width, state.size) + 1
    assert not np.any(run_state[1:] == run_state[:-1])  # maximal runs
    if state.size > width:
        expect = _brute_pixels(state, key, 0.0, float(state.size), 0, float(width))
        for c, s in expect.items():
            i = int(np.searchsorted(x0, c + 0.999, side="right")) - 1  # runs start at frame edges
            assert run_state[i] == s
    else:
        centres = np.arange(state.size) + 0.5
        idx = np.searchsorted(x0 / (width / state.size), centres, side="right") - 1
        assert run_state[idx].tolist() == state.tolist()
    assert keys.shape[0] <= width and set(keys[:, 1].tolist()) <= {1.0}


def test_one_frame_gap_visible_in_10k_frames():
    store = AnnotationStore(Skeleton(["a", "b"]), n_frames=10_000)
    store.add_track(start=0, stop=10_000)
    kf.set_pose(store, 0, 1, [[0.0, 0.0], [1.0, 1.0]])
    kf.set_pose(store, 9_999, 1, [[9.0, 9.0], [1.0, 1.0]])
    kf.set_pose(store, 4_999, 1, [[4.0, 4.0], [1.0, 1.0]])
    kf.set_pose(store, 5_001, 1, [[5.0, 5.0], [1.0, 1.0]])
    kf.set_visibility(store, 5_000, 1, None, 0)  # one unlabelled frame between filled spans
    state, key = row_states(store.tracks[1], 0, 10_000)
    assert (state == FILLED).sum() == 9_999 and state[5_000] == GAP
    x0, _, run_state, keys = pixel_runs(state, key, 0, 10_000, 0, 400)
    assert run_state.tolist() == [FILLED, GAP, FILLED]  # the one-frame gap keeps its pixel column
    assert x0[1] == 200.0
    # keys at 0, 4999, 5000 (unlabelled), 5001 and 9999: one diamond per pixel column
    # (5000 and 5001 share column 200, where the labelled key wins)
    assert keys[:, 0].tolist() == pytest.approx([0.02, 199.98, 200.06, 399.98], abs=0.005)
    assert keys[:, 1].tolist() == [1, 1, 1, 1]
    _, _, _, zoomed = pixel_runs(state[4_990:5_010], key[4_990:5_010], 4_990, 5_010, 4_990, 400)
    assert zoomed[:, 1].tolist() == [1, 2, 1]  # zoomed in: the unlabelled key has its own diamond


# -- the dock over a real viewer -----------------------------------------------------------------
@pytest.fixture
def timeline(make_napari_viewer, qtbot):
    from napari_keyskel._qt.timeline import TimelineWidget

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((60, 32, 32), np.uint8))
    store = _store()
    w = TimelineWidget(viewer)
    qtbot.addWidget(w)
    w.resize(700, 300)
    w.show()
    w.set_layer(image, store)
    qtbot.waitExposed(w)
    return viewer, store, w


def _x(w, frame: int) -> int:
    return round(w.canvas.x_of(frame + 0.5))


@pytest.mark.viewer
def test_click_drag_and_paint(timeline, qtbot):
    viewer, _, w = timeline
    c = w.canvas
    qtbot.mouseClick(c, LEFT, pos=QPoint(_x(w, 20), ROW_H // 2))
    assert viewer.dims.current_step[0] == 20
    qtbot.mousePress(c, LEFT, pos=QPoint(_x(w, 30), 5))
    qtbot.mouseMove(c, QPoint(_x(w, 33), 5))
    qtbot.mouseRelease(c, LEFT, pos=QPoint(_x(w, 33), 5))
    assert viewer.dims.current_step[0] == 33
    c.grab()
    assert c.painted_rows == [(1, None)] and c.current == 33
    # expanding the instance shows one row per node
    qtbot.mouseClick(c, LEFT, pos=QPoint(6, ROW_H // 2))
    assert c.selected == (1, None) and 1 in c.expanded
    c.grab()
    assert c.painted_rows == [(1, None), (1, 0), (1, 1), (1, 2)]
    assert w.axis_combo.currentData() == 0 and w.axis_combo.count() == 1
    # zoom with the wheel keeps the frame under the cursor
    from qtpy.QtCore import QPointF
    from qtpy.QtGui import QWheelEvent

    pos = QPointF(_x(w, 30), 5)
    ev = QWheelEvent(
        pos, c.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    c.wheelEvent(ev)
    assert c.hi - c.lo < 60 and c.lo <= 30 < c.hi
    assert c.frame_at(pos.x()) == 30


@pytest.mark.viewer
def test_buttons_edit_store_and_navigate(timeline, qtbot):
    viewer, store, w = timeline
    t = store.tracks[1]
    viewer.dims.set_current_step(0, 15)
    qtbot.mouseClick(w.next_key_button, LEFT)
    assert viewer.dims.current_step[0] == 25
    qtbot.mouseClick(w.prev_key_button, LEFT)
    assert viewer.dims.current_step[0] == 15
    viewer.dims.set_current_step(0, 16)
    qtbot.mouseClick(w.bisect_button, LEFT)
    assert viewer.dims.current_step[0] == 20
    # cubic, then the suggestion lands between keys where linear and cubic disagree
    w.method_combo.setCurrentText("cubic")
    assert store.method == "cubic"
    qtbot.mouseClick(w.suggest_button, LEFT)
    f = int(viewer.dims.current_step[0])
    assert f == kf.suggest_next_keyframe(store) and not t.is_key[f - t.start].any()
    # delete the key of frame 15: it becomes interpolated between 5 and 25
    recorded = []
    w.edit_hook = lambda label, fn: recorded.append(label) or fn()
    viewer.dims.set_current_step(0, 15)
    qtbot.mouseClick(w.delete_key_button, LEFT)
    assert recorded == ["delete key"] and not t.is_key[10].any()
    assert np.isfinite(t.coords[10, :2]).all() and np.isnan(t.coords[10, 2]).all()  # c: unlabelled at 25
    qtbot.mouseClick(w.delete_key_button, LEFT)  # nothing left to delete there
    assert "no key" in w.status.text()
    w.method_combo.setCurrentText("linear")
    qtbot.mouseClick(w.interpolate_button, LEFT)
    assert recorded[-1] == "interpolate (linear)"
    np.testing.assert_allclose(t.coords[10, 0], [1 + 20 * 10 / 20, 1.0])  # frame 15 on the line 5 -> 25


@pytest.mark.viewer
def test_large_video_paints_visible_range_only(make_napari_viewer, qtbot):
    from napari_keyskel._qt.timeline import TimelineWidget

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((10_000, 4, 4), np.uint8))
    store = AnnotationStore(Skeleton(["a", "b"]), n_frames=10_000)
    for tid in range(1, 21):
        store.add_track(start=0, stop=10_000)
        for f in range(0, 10_000, 97):
            kf.set_pose(store, f, tid, [[f, tid], [f, tid + 1.0]], 2)
    w = TimelineWidget(viewer)
    qtbot.addWidget(w)
    w.resize(600, 200)
    w.show()
    w.set_layer(image, store)
    w.canvas.grab()
    assert w.canvas.painted_frames == (0, 10_000)
    w.canvas.set_view(4_000, 4_100)
    viewer.dims.set_current_step(0, 4_050)
    w.canvas.grab()
    assert w.canvas.painted_frames == (4_000, 4_100)
    # the scroll area only exposes the first rows: later rows are not painted
    w.canvas.repaint()
    assert 0 < len(w.canvas.painted_rows) <= 20


@pytest.mark.viewer
def test_bottom_timeline_of_the_dock_edits_the_layer(make_napari_viewer, qtbot):
    from qtpy.QtTest import QTest

    from napari_keyskel._napari.registry import owner_of
    from napari_keyskel._qt.dock import KeyskelDock
    from napari_keyskel._qt.timeline_dock import DOCK_NAME, TimelineDock

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((30, 64, 64), np.uint8), name="video")
    dock = KeyskelDock(viewer)
    qtbot.addWidget(dock)
    dock.resize(500, 700)
    dock.show()
    assert dock.preset_combo.currentText() == "mouse_topview"  # the sample's skeleton by default
    tabs = [dock.tabs.tabText(i) for i in range(dock.tabs.count())]
    assert tabs[:2] == ["Annotate", "Skeleton"] and "Timeline" not in tabs
    # the timeline is its own dock, across the bottom of the window
    assert isinstance(dock.timeline, TimelineDock)
    assert viewer.window.dock_widgets[DOCK_NAME] is dock.timeline
    main = viewer.window._qt_window
    assert main.dockWidgetArea(dock.timeline.parent()) == Qt.DockWidgetArea.BottomDockWidgetArea
    qtbot.mouseClick(dock.new_button, LEFT)
    points = viewer.layers["mouse keypoints"]
    ctrl = owner_of(points)
    t_canvas = viewer.window._qt_viewer.canvas.native
    for f, x in ((0, 20.0), (20, 40.0)):
        viewer.dims.set_current_step(0, f)
        viewer.cursor.position = (f, 30, x)
        ctrl.current_instance = 1 if f else None
        mods = Qt.KeyboardModifier.ShiftModifier if f else Qt.KeyboardModifier.NoModifier
        QTest.keyClick(t_canvas, Qt.Key.Key_T, mods)
    t = ctrl.store.tracks[1]
    assert t.is_key[[0, 20]].all() and not t.is_key[10].any()
    tl = dock.timeline
    tl.resize(900, 200)
    tl.show()
    qtbot.waitExposed(tl)
    assert tl.layer is points
    assert tl.canvas.rows() == [(1, None)]
    qtbot.mouseClick(tl.canvas, LEFT, pos=QPoint(_x(tl, 10), 8))
    assert viewer.dims.current_step[0] == 10
    assert len(points.data) == 12 and not points.features["keyframe"].any()
    np.testing.assert_allclose(np.asarray(points.data)[:, 2].mean(), 30.0)  # halfway in x
    state, key = row_states(t, 0, 30)
    assert key.nonzero()[0].tolist() == [0, 20] and (state[1:20] == FILLED).all()
    # delete the key at 20 from the timeline: frame 0 is held after it; one undo step
    viewer.dims.set_current_step(0, 20)
    qtbot.mouseClick(tl.delete_key_button, LEFT)
    assert not t.is_key[20 - t.start].any() and not points.features["keyframe"].any()
    assert dock.bindings().history.undo_label == "delete key"
    qtbot.mouseClick(dock.undo_button, LEFT)
    assert t.is_key[20].all() and len(points.data) == 12
    tl.method_combo.setCurrentText("hold")
    viewer.dims.set_current_step(0, 19)
    np.testing.assert_allclose(np.asarray(points.data)[:, 1:], t.coords[0])  # hold: the key at 0
    assert dock.bindings().history.undo_label == "interpolate (hold)"


def test_held_pose_after_the_last_key_and_hold_method():
    sk = Skeleton(["a", "b"])
    store = AnnotationStore(sk, n_frames=30)
    t = store.add_track(start=0, stop=30)
    kf.set_pose(store, 0, 1, [[0.0, 0.0], [1.0, 1.0]])
    kf.set_pose(store, 10, 1, [[10.0, 0.0], [11.0, 1.0]])
    # what a held pose is in the store: the last keyed pose, not a key, to the end of the lifespan
    t.coords[11:] = t.coords[10]
    t.visibility[11:] = 2
    state, key = row_states(t, 0, 30)
    assert (state[1:10] == FILLED).all() and (state[11:] == HELD).all() and state[10] == FILLED
    assert key.nonzero()[0].tolist() == [0, 10]
    # one node keyed later: only frames where every placed node is past its last key are held
    kf.move_node(store, 20, 1, "a", [20.0, 0.0])
    t.coords[21:, 0], t.visibility[21:, 0] = t.coords[20, 0], 2  # a held after its new last key
    state, _ = row_states(t, 0, 30)
    assert (state[11:21] == FILLED).all() and (state[21:] == HELD).all()
    node_a, _ = row_states(t, 0, 30, node=0)
    node_b, _ = row_states(t, 0, 30, node=1)
    assert (node_a[21:] == HELD).all() and (node_b[11:] == HELD).all()
    # the "hold" method: every frame between keys shows a held pose
    state, _ = row_states(t, 0, 30, hold=True)
    assert (state[1:10] == HELD).all() and state[0] == state[10] == FILLED


@pytest.mark.viewer
def test_zoom_and_scroll_controls_at_10k_frames(make_napari_viewer, qtbot):
    from napari_keyskel._qt.timeline import TimelineWidget

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((10_000, 4, 4), np.uint8))
    store = AnnotationStore(Skeleton(["a", "b"]), n_frames=10_000)
    store.add_track(start=0, stop=10_000)
    for f in range(0, 10_000, 10):
        kf.set_pose(store, f, 1, [[f, 1.0], [f, 2.0]], 2)
    w = TimelineWidget(viewer)
    qtbot.addWidget(w)
    w.resize(900, 220)
    w.show()
    w.set_layer(image, store)
    qtbot.waitExposed(w)
    c = w.canvas
    assert (c.lo, c.hi) == (0, 10_000) and w.zoom_slider.value() == 0
    assert w.range_label.text() == "frames 0–9999 of 10000"
    viewer.dims.set_current_step(0, 5_000)
    for _ in range(3):
        qtbot.mouseClick(w.zoom_in_button, LEFT)
    assert c.hi - c.lo == pytest.approx(1_250) and c.lo <= 5_000 < c.hi  # around the current frame
    assert 0 < w.zoom_slider.value() < 1000 and w.frame_scroll.pageStep() == 1_250
    # the scroll bar moves the frames in view, the strips follow
    w.frame_scroll.setValue(8_000)
    assert (c.lo, c.hi) == (8_000, 9_250)
    c.grab()
    assert c.painted_frames == (8_000, 9_250)
    # the slider at its right end shows ten frames: one diamond per key, readable
    w.zoom_slider.setValue(1000)
    assert c.hi - c.lo == pytest.approx(10)
    state, key = row_states(store.tracks[1], int(c.lo), int(np.ceil(c.hi)))
    _, _, _, keys = pixel_runs(state, key, c.lo, c.hi, int(c.lo), c.strip_width())
    assert len(keys) == 1 and (state == FILLED).all()
    # the mouse wheel zooms too, and the controls follow it
    qtbot.mouseClick(w.fit_button, LEFT)
    assert (c.lo, c.hi) == (0, 10_000) and w.zoom_slider.value() == 0 and w.frame_scroll.maximum() == 0


@pytest.mark.viewer
def test_marks_are_painted_on_their_rows(timeline, qtbot):
    _, store, w = timeline
    c = w.canvas
    store.add_track(start=0, stop=60)
    c.refresh()
    w.set_marks("review", [12, 12, 30], track_ids=[1, 1, 2])
    w.set_marks("proposal", [40])  # every row
    painted = []
    real = c._paint_marks

    def spy(p, tid, top, width):
        painted.append(tid)
        real(p, tid, top, width)

    c._paint_marks = spy
    img = c.grab().toImage()
    assert sorted(painted) == [1, 2]
    pink = img.pixelColor(round(c.x_of(12.5)), 2)
    assert (pink.red(), pink.green(), pink.blue()) == (255, 80, 160)  # the review mark on row 1
    green = img.pixelColor(round(c.x_of(40.5)), ROW_H + 2)
    assert (green.red(), green.green(), green.blue()) == (90, 220, 120)  # the proposal on row 2
    w.clear_marks("review")
    assert list(c.marks) == ["proposal"]
    w.set_marks("proposal", [])
    assert c.marks == {}


@pytest.mark.viewer
def test_suggested_frames_show_before_any_instance(timeline, qtbot):
    """A new dataset item has no instance yet: its suggested frames still show, on one strip."""
    _, store, w = timeline
    c = w.canvas
    for tid in list(store.tracks):
        store.remove_track(tid)
    c.refresh()
    assert c.rows() == []
    w.set_marks("suggested", [12, 40])
    w.set_marks("review", [20], track_ids=[1])  # a row's mark has no row to go on
    img = c.grab().toImage()
    for f in (12, 40):
        mark = img.pixelColor(round(c.x_of(f + 0.5)), 2)
        assert (mark.red(), mark.green(), mark.blue()) == (255, 255, 255)
    empty = img.pixelColor(round(c.x_of(20.5)), 2)
    assert (empty.red(), empty.green(), empty.blue()) == (38, 40, 46)  # the background


@pytest.mark.viewer
def test_timeline_from_the_plugins_menu_docks_at_the_bottom(make_napari_viewer, qtbot):
    from napari_keyskel._qt.timeline_dock import TimelineDock, open_timeline

    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-keyskel", "moving_figure")
    dock_widget, widget = viewer.window.add_plugin_dock_widget("napari-keyskel", "Keyskel timeline")
    assert isinstance(widget, TimelineDock)
    main = viewer.window._qt_window
    qtbot.waitUntil(lambda: main.dockWidgetArea(dock_widget) == Qt.DockWidgetArea.BottomDockWidgetArea)
    assert open_timeline(viewer) is widget  # one timeline per viewer
    points = viewer.layers["mouse keypoints"]
    assert widget.layer is points and widget.canvas.rows() == [(1, None), (2, None)]
    # it follows the layer's edits (and shows them unsaved)
    viewer.dims.set_current_step(0, 15)
    data = np.asarray(points.data).copy()
    data[0, 1:] += 3.0
    points.data = data
    _, key = row_states(widget.store.tracks[int(points.features["instance"][0])], 0, 100)
    assert key[15] == 1 and "unsaved" in widget.unsaved_label.text()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 80), st.integers(1, 80), st.booleans())
def test_held_state_matches_its_definition(seed, lo, width, hold):
    """HELD: a complete frame whose every node is past its last key (with ``hold``: not a key)."""
    rng = np.random.default_rng(seed)
    store = AnnotationStore(Skeleton(["a", "b", "c"]), n_frames=100)
    t = store.add_track(start=10, stop=90)
    t.coords[:] = np.where(rng.random((80, 3, 1)) < 0.9, 1.0, np.nan)
    t.visibility[:] = np.where(np.isfinite(t.coords[..., 0]), 2, 0)
    t.is_key[:] = (rng.random((80, 3)) < rng.choice([0.0, 0.02, 0.2])) & np.isfinite(t.coords[..., 0])
    hi = min(lo + width, 100)
    state, _ = row_states(t, lo, hi, hold=hold)
    for f in range(lo, hi):
        if not 10 <= f < 90:
            assert state[f - lo] == OUTSIDE
            continue
        r = f - 10
        full = np.isfinite(t.coords[r, :, 0]).all()
        later_keys = t.is_key[r] if hold else t.is_key[r:]  # every node past its last key
        held = full and not later_keys.any()
        assert (state[f - lo] == HELD) == held, (f, state[f - lo])
        if full and not held:
            assert state[f - lo] == FILLED
