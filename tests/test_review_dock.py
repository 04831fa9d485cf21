"""The review dock driven through Qt events: find flags, click, F / Shift-F, states, fix, compare."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _review_tracks import plant, smooth_store
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from napari_keyskel import api
from napari_keyskel._qt.review_dock import ReviewDock

LEFT = Qt.MouseButton.LeftButton
SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def env(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    store = smooth_store(120, 2, 0)
    for t in store:  # keep the animals inside a 300 x 500 field of view
        t.coords -= np.nanmin(t.coords, axis=(0, 1)) - 20
    truth = plant(store, "jump", 2, 0) | plant(store, "swap", 1, 1, offset=5)
    image = viewer.add_image(np.zeros((120, 600, 900), np.uint8), name="video")
    points = api.add_skeleton_layer(viewer, store, name="annotator A", image_layer=image)
    viewer.dims.set_current_step(0, 0)
    dock = ReviewDock(viewer)
    qtbot.addWidget(dock)
    dock.show()
    qtbot.waitExposed(dock)
    dock.set_layer("annotator A")
    canvas = viewer.window._qt_viewer.canvas.native
    return SimpleNamespace(
        viewer=viewer, points=points, ctrl=api.get_controller(points), store=store, dock=dock,
        truth=truth, canvas=canvas, image=image,
    )  # fmt: skip


def _click_item(qtbot, tree, item) -> None:
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    qtbot.mouseClick(tree.viewport(), LEFT, pos=rect.center())


def _flag_items(tree) -> list:
    out = []
    for g in range(tree.topLevelItemCount()):
        group = tree.topLevelItem(g)
        out += [group.child(c) for c in range(group.childCount())]
    return out


def _selected(env) -> set[tuple[int, str]]:
    f = env.points.features
    return {(int(f["instance"].iloc[i]), str(f["node"].iloc[i])) for i in env.points.selected_data}


def test_find_click_step_review_and_fix(env, qtbot):
    d, s = env.dock, env.store
    qtbot.mouseClick(d.check_button, LEFT)
    session = d.session()
    flags = session.flags
    assert len(flags) and d.tree.topLevelItemCount() == len(np.unique(flags.frame))
    found = set(zip(flags.frame.tolist(), flags.track_id.tolist(), flags.node.tolist()))
    assert {t for t in env.truth} <= found
    # groups: the frame with the worst flag first; in a group, by score
    worst = [float(d.tree.topLevelItem(g).text(3)) for g in range(d.tree.topLevelItemCount())]
    assert worst == sorted(worst, reverse=True)
    items = _flag_items(d.tree)
    assert len(items) == len(flags)
    # click the third flag: jump to its frame, its instance and node selected
    _click_item(qtbot, d.tree, items[2])
    f, tid, k, kind = session.flag_key(2)
    assert env.viewer.dims.current_step[0] == f and session.current == 2
    name = s.skeleton.nodes[k]
    assert _selected(env) == {(tid, name)}
    assert env.viewer.layers.selection.active is env.points
    scene = getattr(env.viewer, "scene", None)
    camera = scene.camera if scene is not None else env.viewer.camera
    assert np.allclose(camera.center[-2:], s.tracks[tid].coords[f, k])  # centred on the node
    # by frame: the same flags, frame order
    d.order_combo.setCurrentIndex(1)
    assert (np.diff(session.flags.frame) >= 0).all() and len(session.flags) == len(flags)
    assert session.flag_key(session.current) == (f, tid, k, kind)
    d.order_combo.setCurrentIndex(0)
    session.go(2)
    # F / Shift-F on the layer: next and previous flag
    QTest.keyClick(env.canvas, Qt.Key.Key_F)
    assert session.current == 3 and env.viewer.dims.current_step[0] == session.flag_key(3)[0]
    QTest.keyClick(env.canvas, Qt.Key.Key_F, SHIFT)
    QTest.keyClick(env.canvas, Qt.Key.Key_F, SHIFT)
    assert session.current == 1
    qtbot.mouseClick(d.next_button, LEFT)
    assert session.current == 2
    # a review state with a comment on the flag's (frame, instance)
    qtbot.keyClicks(d.comment, "tail tip is right")
    qtbot.mouseClick(d.accept_button, LEFT)
    assert s.tracks[tid].meta["review"][str(f)] == {"state": "accepted", "comment": "tail tip is right"}
    assert env.points.metadata["keyskel"]["tracks"][list(s.tracks).index(tid)]["meta"]["review"]
    p = session.progress()
    assert d.progress_bar.value() == p["reviewed"] >= 1 and d.progress_bar.maximum() == p["flagged"]
    assert f"reviewed {p['reviewed']} / flagged {p['flagged']} / total 240" in d.progress_label.text()
    same = [
        it
        for it in _flag_items(d.tree)
        if session.flag_key(it.data(0, Qt.ItemDataRole.UserRole))[:2] == (f, tid)
    ]
    assert same and all(it.text(4) == "✓ ok" for it in same)
    marks = session.timeline_marks()
    assert set(marks) == set(s.tracks)
    assert set(marks[tid]["flag_frames"].tolist()) == set(flags.frame[flags.track_id == tid].tolist())
    assert marks[tid]["state_frames"].tolist() == [f] and marks[tid]["states"].tolist() == ["accepted"]
    qtbot.mouseClick(d.fix_button, LEFT)
    assert s.tracks[tid].meta["review"][str(f)]["state"] == "needs_fix"
    qtbot.mouseClick(d.clear_button, LEFT)
    assert str(f) not in s.tracks[tid].meta.get("review", {})


def _mouse(layer, kind: str, position) -> None:
    """A mouse event through napari's own layer callbacks (as its canvas sends them)."""
    from napari.utils._proxies import ReadOnlyWrapper
    from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks

    event = ReadOnlyWrapper(
        SimpleNamespace(
            type=kind, handled=False, is_dragging=kind == "mouse_move", modifiers=[],
            position=tuple(position), pos=np.zeros(2), view_direction=None, up_direction=None,
            dims_displayed=[1, 2],
        ),
        exceptions=("handled",),
    )  # fmt: skip
    {"mouse_press": mouse_press_callbacks, "mouse_move": mouse_move_callbacks}.get(
        kind, mouse_release_callbacks
    )(layer, event)


def test_dragging_a_jumped_node_back_clears_its_flag(env, qtbot):
    d, s = env.dock, env.store
    qtbot.mouseClick(d.check_button, LEFT)
    session = d.session()
    fl = session.flags.of_kinds(["jump"])
    jumps = set(zip(fl.frame.tolist(), fl.track_id.tolist(), fl.node.tolist()))
    f, tid, k = next(x for x in sorted(env.truth) if x in jumps)
    i = next(j for j in range(len(session.flags)) if session.flag_key(j) == (f, tid, k, "jump"))
    _click_item(qtbot, d.tree, _flag_items(d.tree)[i])
    assert env.viewer.dims.current_step[0] == f
    t = s.tracks[tid]
    here = t.coords[f, k].copy()
    fixed = (t.coords[f - 1, k] + t.coords[f + 1, k]) / 2
    env.points.mode = "select"
    _mouse(env.points, "mouse_press", (f, *here))
    for a in np.linspace(0.3, 1.0, 3):
        _mouse(env.points, "mouse_move", (f, *(here + a * (fixed - here))))
    _mouse(env.points, "mouse_release", (f, *fixed))
    assert np.allclose(t.coords[f, k], fixed)
    left = session.flags
    assert (f, tid, k, "jump") not in {session.flag_key(j) for j in range(len(left))}
    assert len(_flag_items(d.tree)) == len(left)


def test_compare_two_layers_adds_disagreements(env, qtbot, tmp_path: Path):
    d = env.dock
    other = env.store.copy()
    other.tracks[2].coords[30, 4] += 40.0
    api.add_skeleton_layer(env.viewer, other, name="annotator B", image_layer=env.image)
    d.set_layer("annotator A")
    d.compare_combo.setCurrentText("annotator B")
    qtbot.mouseClick(d.compare_button, LEFT)
    flags = d.session().flags.of_kinds(["disagree"])
    assert set(zip(flags.frame.tolist(), flags.track_id.tolist(), flags.node.tolist())) == {(30, 2, 4)}
    assert "1 disagreement with" in d.progress_label.text()
    assert any(it.text(0) == "disagree" for it in _flag_items(d.tree))
    # the states a reviewer sets are saved with the layer
    session = d.session()
    session.go(0)
    qtbot.mouseClick(d.reject_button, LEFT)
    path = api.save_layer(env.points, tmp_path / "a.json", format="coco")
    ann = json.loads(Path(path[0] if isinstance(path, list) else path).read_text())
    assert "rejected" in json.dumps(ann)


def test_main_dock_has_a_review_tab(make_napari_viewer, qtbot):
    from napari_keyskel._qt.dock import KeyskelDock

    viewer = make_napari_viewer()
    dock = KeyskelDock(viewer)
    qtbot.addWidget(dock)
    tabs = [dock.tabs.tabText(i) for i in range(dock.tabs.count())]
    assert "Review" in tabs
    assert isinstance(dock.tabs.widget(tabs.index("Review")), ReviewDock)


def test_flags_and_states_are_marked_on_the_bottom_timeline(env, qtbot):
    from napari_keyskel._qt.timeline_dock import open_timeline

    timeline = open_timeline(env.viewer)
    timeline.show_layer(env.points)
    d = env.dock
    qtbot.mouseClick(d.check_button, LEFT)
    session = d.session()
    flags = session.flags
    frames, tids, _ = timeline.canvas.marks["review"]
    assert {(int(f), int(t)) for f, t in zip(frames, tids)} == set(
        zip(flags.frame.tolist(), flags.track_id.tolist())
    )
    _click_item(qtbot, d.tree, _flag_items(d.tree)[0])
    f, tid, _, _ = session.flag_key(0)
    qtbot.mouseClick(d.reject_button, LEFT)
    rf, rt, color = timeline.canvas.marks["review:rejected"]
    assert (rf.tolist(), rt.tolist()) == ([f], [tid]) and color.name() == "#e6194b"
    # another layer shown: the marks go; back to this one: they come back from the session
    other_store = smooth_store(120, 1, 3)
    other = api.add_skeleton_layer(env.viewer, other_store, name="annotator B", image_layer=env.image)
    timeline.show_layer(other)
    assert "review" not in timeline.canvas.marks
    timeline.show_layer(env.points)
    assert len(timeline.canvas.marks["review"][0]) == len(frames)


def test_removing_a_reviewed_layer_frees_its_store(env, qtbot):
    import gc
    import weakref

    qtbot.mouseClick(env.dock.check_button, LEFT)
    assert len(env.dock.session().flags)
    store_ref = weakref.ref(env.store)
    env.viewer.layers.remove(env.points)
    env.store = env.ctrl = env.points = None
    gc.collect()
    assert store_ref() is None
    assert env.dock.session() is None  # the dock let go of it too


def test_review_states_are_undoable_edits_and_unsaved_work(env, qtbot):
    from napari_keyskel._napari.registry import owner_of
    from napari_keyskel._qt import save_hooks as save

    save.install(env.viewer)
    state = owner_of(env.points).save
    d, s = env.dock, env.store
    qtbot.mouseClick(d.check_button, LEFT)
    session = d.session()
    session.go(0)
    f, tid, _, _ = session.flag_key(0)
    coords = s.tracks[tid].coords.copy()
    qtbot.mouseClick(d.accept_button, LEFT)
    qtbot.mouseClick(d.fix_button, LEFT)
    assert s.tracks[tid].meta["review"][str(f)]["state"] == "needs_fix"
    assert state.unsaved  # a review state is saved with the annotations
    env.viewer.layers.selection.active = env.points
    undo = (Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(env.canvas, *undo)
    assert s.tracks[tid].meta["review"][str(f)]["state"] == "accepted"
    same = [
        it
        for it in _flag_items(d.tree)
        if session.flag_key(it.data(0, Qt.ItemDataRole.UserRole))[:2] == (f, tid)
    ]
    assert same and all(it.text(4) == "✓ ok" for it in same)  # the dock shows the undone state
    QTest.keyClick(env.canvas, *undo)
    assert str(f) not in s.tracks[tid].meta.get("review", {})
    assert session.progress()["reviewed"] == 0 and d.progress_bar.value() == 0
    QTest.keyClick(
        env.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert s.tracks[tid].meta["review"][str(f)]["state"] == "accepted"
    np.testing.assert_array_equal(s.tracks[tid].coords, coords)  # no node moved


def test_the_docks_follow_the_layer_selected_in_napari(make_napari_viewer, qtbot):
    from napari_keyskel._qt.dock import KeyskelDock

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((120, 600, 900), np.uint8), name="video")
    a = api.add_skeleton_layer(viewer, smooth_store(120, 2, 0), name="annotator A", image_layer=image)
    b = api.add_skeleton_layer(viewer, smooth_store(120, 2, 1), name="annotator B", image_layer=image)
    dock = KeyskelDock(viewer)
    qtbot.addWidget(dock)
    standalone = ReviewDock(viewer)
    qtbot.addWidget(standalone)
    assert not dock.review.layer_combo.isVisibleTo(dock)  # the tab follows the dock's own picker
    viewer.layers.selection.active = a  # a click in napari's layer list
    assert dock.layer_combo.currentText() == "annotator A" == standalone.layer_combo.currentText()
    assert dock.review.compare_combo.currentText() == "annotator B"  # not the layer itself
    assert dock.review.session() is not None and dock.review.session().store is api.get_store(a)
    viewer.layers.selection.active = b
    assert dock.layer_combo.currentText() == "annotator B" == dock.review.layer_combo.currentText()
    assert dock.review.session().store is api.get_store(b)
    assert dock.review.compare_combo.currentText() == "annotator A"
    viewer.layers.selection.active = image  # not an annotation layer: the docks stay where they are
    assert dock.layer_combo.currentText() == "annotator B"
    dock.layer_combo.setCurrentText("annotator A")  # the dock's picker drives its Review tab
    assert dock.review.session().store is api.get_store(a)
