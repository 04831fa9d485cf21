"""The skeleton editor widget, driven through its Qt controls."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor

from napari_keyskel.core.presets import get_preset
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.wording import plural

pytestmark = pytest.mark.viewer

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def editor(qtbot):
    from napari_keyskel._qt.skeleton_editor import SkeletonEditor

    sk = Skeleton(["head", "l_ear", "r_ear", "tail"], [("head", "tail")], name="toy")
    w = SkeletonEditor(sk)
    qtbot.addWidget(w)
    w.emitted = []
    w.skeleton_changed.connect(lambda s, m: w.emitted.append((s, m.tolist())))
    return w


def _names(w) -> list[str]:
    return [w.node_list.item(i).text() for i in range(w.node_list.count())]


def test_add_rename_reorder(editor, qtbot):
    w = editor
    w.name_edit.setText("neck")
    qtbot.mouseClick(w.add_button, LEFT)
    assert _names(w)[-1] == "neck"
    sk, mapping = w.emitted[-1]
    assert sk.nodes[-1] == "neck" and mapping == [0, 1, 2, 3, -1]

    w.select_nodes(["l_ear"])
    w.name_edit.setText("left_ear")
    qtbot.mouseClick(w.rename_button, LEFT)
    sk, mapping = w.emitted[-1]
    assert sk.nodes[1] == "left_ear" and mapping == [0, 1, 2, 3, 4]

    w.select_nodes(["tail"])
    qtbot.mouseClick(w.up_button, LEFT)
    sk, mapping = w.emitted[-1]
    assert sk.nodes == ("head", "left_ear", "tail", "r_ear", "neck") and mapping == [0, 1, 3, 2, 4]
    assert w.selected_nodes() == [2]  # the moved node stays selected
    assert (0, 2) in sk.edges  # the edge head-tail follows the node

    # a duplicate name is refused with a message, nothing emitted
    n = len(w.emitted)
    w.name_edit.setText("head")
    qtbot.mouseClick(w.add_button, LEFT)
    assert len(w.emitted) == n and "used twice" in w.message.text()


def test_edges_pairs_and_colour(editor, qtbot):
    w = editor
    w.select_nodes(["head", "l_ear"])
    qtbot.mouseClick(w.connect_button, LEFT)
    assert w.skeleton.edges[-1] == (0, 1) and w.edge_list.count() == 2
    qtbot.mouseClick(w.disconnect_button, LEFT)
    assert w.skeleton.edges == ((0, 3),)
    w.select_nodes(["l_ear", "r_ear"])
    qtbot.mouseClick(w.pair_button, LEFT)
    assert w.skeleton.flip_pairs == ((1, 2),) and w.pair_list.item(0).text() == "l_ear ↔ r_ear"
    w.pick_color = lambda initial: QColor("#00ff00")
    qtbot.mouseClick(w.color_button, LEFT)
    assert w.skeleton.colors[1] == w.skeleton.colors[2] == "#00ff00"
    qtbot.mouseClick(w.unpair_button, LEFT)
    assert w.skeleton.flip_pairs == ()
    # connecting needs exactly two nodes
    w.select_nodes(["head"])
    qtbot.mouseClick(w.connect_button, LEFT)
    assert "exactly two" in w.message.text()


def test_remove_asks_before_dropping_points(editor, qtbot):
    w = editor
    asked = []
    w.placed_count = lambda k: 7 if k == 1 else 0
    w.confirm = lambda title, text: asked.append(text) or False
    w.select_nodes(["l_ear"])
    qtbot.mouseClick(w.remove_button, LEFT)
    assert asked and "7 placed points" in asked[0]
    assert "l_ear" in w.skeleton.nodes and not w.emitted  # refused: unchanged
    w.confirm = lambda title, text: True
    qtbot.mouseClick(w.remove_button, LEFT)
    sk, mapping = w.emitted[-1]
    assert sk.nodes == ("head", "r_ear", "tail") and mapping == [0, 2, 3]
    # a node without points goes without asking
    w.placed_count = lambda k: 0
    w.confirm = lambda title, text: pytest.fail("should not ask")
    w.select_nodes(["r_ear"])
    qtbot.mouseClick(w.remove_button, LEFT)
    assert w.skeleton.nodes == ("head", "tail")


def test_presets_and_files(editor, qtbot, tmp_path):
    w = editor
    w.placed_count = lambda k: 0
    w.preset_combo.setCurrentText("mouse_topview")
    qtbot.mouseClick(w.preset_button, LEFT)
    sk, mapping = w.emitted[-1]
    assert sk == get_preset("mouse_topview").renamed("toy") and mapping == [-1] * 12  # the class stays
    path = tmp_path / "mine.skeleton.json"
    w.pick_save_path = lambda: str(tmp_path / "mine")
    qtbot.mouseClick(w.save_button, LEFT)
    assert Skeleton.load(path) == sk
    w.set_skeleton(Skeleton(["snout", "x"]))
    w.placed_count = lambda k: 3  # node "x" is dropped by the file's skeleton: ask
    w.confirm = lambda title, text: "'x'" in text
    w.pick_open_path = lambda: str(path)
    qtbot.mouseClick(w.load_button, LEFT)
    sk, mapping = w.emitted[-1]
    assert sk.nodes == get_preset("mouse_topview").nodes
    assert np.asarray(mapping)[0] == 0 and (np.asarray(mapping)[1:] == -1).all()
    bad = tmp_path / "bad.skeleton.json"
    bad.write_text("{ nope")
    w.pick_open_path = lambda: str(bad)
    qtbot.mouseClick(w.load_button, LEFT)
    assert "bad.skeleton.json" in w.message.text()


# -- the editor tab of the dock, applied live to a real layer ------------------------------------
def test_editor_tab_changes_the_layer_live(make_napari_viewer, qtbot):
    from qtpy.QtTest import QTest

    from napari_keyskel._napari.registry import owner_of
    from napari_keyskel._qt.dock import KeyskelDock

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((20, 128, 128), np.uint8), name="video")
    dock = KeyskelDock(viewer)
    qtbot.addWidget(dock)
    dock.preset_combo.setCurrentText("mouse_topview")
    qtbot.mouseClick(dock.new_button, LEFT)
    points = viewer.layers["mouse keypoints"]
    ctrl = owner_of(points)
    store = ctrl.store
    viewer.dims.set_current_step(0, 0)
    viewer.cursor.position = (0, 64, 64)
    QTest.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_T)
    assert len(points.data) == 12 and (ctrl.edge_instances == 1).sum() == 12
    w = dock.editor
    assert w.skeleton is store.skeleton

    def position(node: str) -> list[float]:
        names = points.features["node"].astype(str).to_numpy()
        return np.asarray(points.data)[names == node][0].tolist()

    snout = position("snout")
    w.select_nodes(["snout"])
    w.name_edit.setText("nose")
    qtbot.mouseClick(w.rename_button, LEFT)
    assert store.skeleton.nodes[0] == "nose" and dock.node_list.item(0).text() == "nose"
    assert position("nose") == snout and "snout" not in set(points.features["node"].astype(str))

    tip = position("tail_tip")
    w.select_nodes(["tail_tip"])
    qtbot.mouseClick(w.up_button, LEFT)
    assert store.skeleton.nodes[10:] == ("tail_tip", "tail_mid")
    assert position("tail_tip") == tip and (ctrl.edge_instances == 1).sum() == 12

    w.pick_color = lambda initial: QColor("#ff00ff")
    w.select_nodes(["nose"])
    qtbot.mouseClick(w.color_button, LEFT)
    names = points.features["node"].astype(str).to_numpy()
    np.testing.assert_allclose(np.asarray(points.face_color)[names == "nose"][0], [1, 0, 1, 1])

    asked = []
    w.confirm = lambda title, text: asked.append(text) or True
    w.select_nodes(["tail_mid"])
    qtbot.mouseClick(w.remove_button, LEFT)
    assert asked and "20 placed points" in asked[0]  # (frame 0's key, held to the end of the video)
    assert store.n_nodes == 11 and len(points.data) == 11
    assert (ctrl.edge_instances == 1).sum() == 10  # its two edges went with it
    # one undo step: the node comes back with its point and edges
    dock.undo()
    assert store.n_nodes == 12 and len(points.data) == 12 and (ctrl.edge_instances == 1).sum() == 12
    assert w.skeleton.nodes == store.skeleton.nodes and dock.node_list.count() == 12
    dock.redo()
    assert store.n_nodes == 11 and len(points.data) == 11

    w.name_edit.setText("whisker")
    qtbot.mouseClick(w.add_button, LEFT)
    assert store.skeleton.nodes[-1] == "whisker" and len(points.data) == 11
    assert store.tracks[1].coords.shape[1] == 12 and np.isnan(store.tracks[1].coords[:, -1]).all()
    w.select_nodes(["nose", "whisker"])
    qtbot.mouseClick(w.connect_button, LEFT)
    assert (ctrl.edge_instances == 1).sum() == 10  # whisker has no point: no vector yet
    viewer.cursor.position = (0, 20, 20)
    points.mode = "add"
    ctrl.current_instance, ctrl.next_node = 1, store.skeleton.index("whisker")
    points.add([0, 20, 20])
    assert (ctrl.edge_instances == 1).sum() == 11 and store.tracks[1].is_key[0, -1]


def test_dock_stays_true_after_key_undo_drags_and_open(make_napari_viewer, qtbot, tmp_path):
    from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks
    from qtpy.QtTest import QTest

    from napari_keyskel import api
    from napari_keyskel._qt.dock import KeyskelDock

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((20, 128, 128), np.uint8), name="video")
    dock = KeyskelDock(viewer)
    qtbot.addWidget(dock)
    dock.preset_combo.setCurrentText("mouse_topview")
    qtbot.mouseClick(dock.new_button, LEFT)
    points = viewer.layers["mouse keypoints"]
    store = api.get_store(points)
    canvas = viewer.window._qt_viewer.canvas.native
    viewer.dims.set_current_step(0, 0)
    viewer.cursor.position = (0, 64, 64)
    QTest.keyClick(canvas, Qt.Key.Key_T)
    assert dock.undo_button.isEnabled() and not dock.redo_button.isEnabled()

    w = dock.editor
    w.select_nodes(["snout"])
    assert w.name_edit.text() == "snout" and w.name_edit.selectedText() == "snout"  # typing replaces
    QTest.keyClicks(w.name_edit, "nose")
    qtbot.mouseClick(w.rename_button, LEFT)
    assert store.skeleton.nodes[0] == "nose"
    viewer.layers.selection.active = points
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo on the layer
    assert store.skeleton.nodes[0] == "snout"
    assert w.skeleton is store.skeleton and w.node_list.item(0).text() == "snout"
    w.select_nodes(["snout"])
    w.name_edit.setText("muzzle")
    qtbot.mouseClick(w.rename_button, LEFT)  # the next rename works on the current skeleton
    assert store.skeleton.nodes[0] == "muzzle"

    # a drag through napari's mouse callbacks: the Undo button follows it
    while dock.bindings().history.can_undo:
        dock.undo()
    QTest.keyClick(canvas, Qt.Key.Key_T)
    dock.undo()
    dock.redo()
    assert dock.redo_button.isEnabled() is False
    dock.undo()
    assert dock.redo_button.isEnabled() and not dock.undo_button.isEnabled()
    dock.redo()
    points.mode = "select"
    yx = np.asarray(points.data)[0, 1:]

    def mouse(kind, yx):
        from types import SimpleNamespace

        from napari.utils._proxies import ReadOnlyWrapper

        ev = SimpleNamespace(type=kind, handled=False, is_dragging=kind == "mouse_move", modifiers=[],
                             position=(0, *yx), pos=np.zeros(2), view_direction=None, up_direction=None,
                             dims_displayed=[1, 2])  # fmt: skip
        fn = {"mouse_press": mouse_press_callbacks, "mouse_move": mouse_move_callbacks}
        fn.get(kind, mouse_release_callbacks)(points, ReadOnlyWrapper(ev, exceptions=("handled",)))

    dock.undo()
    dock.redo()
    n = len(dock.bindings().history)
    mouse("mouse_press", yx)
    mouse("mouse_move", yx + 4)
    mouse("mouse_release", yx + 4)
    assert len(dock.bindings().history) == n + 1 and dock.undo_button.isEnabled()
    assert not dock.redo_button.isEnabled()
    c = store.counts()  # the status line's counts follow the edits (recounted per touched track)
    assert (
        f"{plural(c['instances'], 'instance')} · {plural(c['keys'], 'key')} · "
        f"{c['interpolated']} interpolated" in dock.status.text()
    )

    # File > Open (or a script) adds an annotation layer: the dock works on it
    path = tmp_path / "mice.json"
    api.save_layer(points, path, format="darwin")
    (opened,) = api.open_annotations(viewer, path, image_layer=image)
    assert dock.layer_combo.currentText() == opened.name and dock.current_layer() is opened
