"""The Skeleton tab as a person finds it: a skeleton from nothing, its class name, several nodes removed.

Driven with clicks and keys on the dock's real widgets; the class name must reach the skeleton
file, V7 and COCO (never the layer's name).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtTest import QTest

from napari_keyskel import api, formats
from napari_keyskel.core.skeleton import Skeleton

pytestmark = pytest.mark.viewer

LEFT = Qt.MouseButton.LeftButton
CTRL = Qt.KeyboardModifier.ControlModifier


def click_nodes(qtbot, w, names: list[str]) -> None:
    """Click the first name, Ctrl-click the others (as a person selects several)."""
    for k, name in enumerate(names):
        (item,) = w.node_list.findItems(name, Qt.MatchFlag.MatchExactly)
        pos = w.node_list.visualItemRect(item).center()
        mods = CTRL if k else Qt.KeyboardModifier.NoModifier
        qtbot.mouseClick(w.node_list.viewport(), LEFT, mods, pos)
    assert sorted(it.text() for it in w.node_list.selectedItems()) == sorted(names)


def type_into(qtbot, line_edit, text: str) -> None:
    line_edit.selectAll()
    qtbot.keyClicks(line_edit, text)


def add_nodes(qtbot, w, names: list[str]) -> None:
    for name in names:
        type_into(qtbot, w.name_edit, name)
        QTest.keyClick(w.name_edit, Qt.Key.Key_Return)


@pytest.fixture
def dock(make_napari_viewer, qtbot):
    from napari_keyskel._qt.dock import KeyskelDock

    viewer = make_napari_viewer()
    d = KeyskelDock(viewer)
    qtbot.addWidget(d)
    d.tabs.setCurrentIndex([d.tabs.tabText(i) for i in range(d.tabs.count())].index("Skeleton"))
    return d


def test_skeleton_from_nothing_then_layer_then_files(dock, qtbot, tmp_path):
    viewer, w = dock.viewer, dock.editor
    assert dock.current_layer() is None and w.skeleton is None
    assert "New skeleton" in w.title.text() and not w.create_button.isEnabled()
    # no class name yet: New skeleton asks for one
    qtbot.mouseClick(w.new_button, LEFT)
    assert "class name first" in w.message.text() and not w.has_draft
    type_into(qtbot, w.class_edit, "gecko")
    qtbot.mouseClick(w.new_button, LEFT)
    assert w.has_draft and w.skeleton is None and "'gecko'" in w.title.text()
    add_nodes(qtbot, w, ["snout", "l_hand", "r_hand", "tail"])
    assert w.skeleton.nodes == ("snout", "l_hand", "r_hand", "tail") and w.skeleton.name == "gecko"
    click_nodes(qtbot, w, ["snout", "tail"])
    qtbot.mouseClick(w.connect_button, LEFT)
    click_nodes(qtbot, w, ["snout", "l_hand"])
    qtbot.mouseClick(w.connect_button, LEFT)
    click_nodes(qtbot, w, ["l_hand", "r_hand"])
    qtbot.mouseClick(w.pair_button, LEFT)
    w.pick_color = lambda initial: QColor("#00ff00")
    qtbot.mouseClick(w.color_button, LEFT)
    sk = w.skeleton
    assert sk.edges == ((0, 3), (0, 1)) and sk.flip_pairs == ((1, 2),)
    assert sk.colors[1] == sk.colors[2] == "#00ff00" and "not on a layer" in w.title.text()

    # an image arrives (File > Open): the draft stays; Create layer puts it over the selected image
    image = viewer.add_image(np.zeros((25, 80, 90), np.uint8), name="video")
    assert w.has_draft and w.skeleton is sk and w.create_button.isEnabled()
    viewer.layers.selection.active = image
    qtbot.mouseClick(w.create_button, LEFT)
    points = dock.current_layer()
    store = api.get_store(points)
    assert points is not None and points.name == "gecko keypoints"
    assert store.skeleton == sk and store.name == "gecko" and (store.n_frames, store.frame_axis) == (25, 0)
    assert not w.has_draft and w.skeleton is store.skeleton and not w.create_button.isEnabled()
    assert "4 nodes, 2 edges, 1 left/right pair" in dock.skeleton_label.text()

    # annotate one instance with T, then save: the class is "gecko", never the layer's name
    viewer.dims.set_current_step(0, 0)
    viewer.cursor.position = (0, 40, 45)
    QTest.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_T)
    assert len(points.data) == 4
    v7, coco = tmp_path / "gecko.json", tmp_path / "gecko_coco.json"
    api.save_layer(points, v7, format="darwin")
    api.save_layer(points, coco, format="coco")
    names = {a["name"] for a in json.loads(v7.read_text())["annotations"]}
    assert names == {"gecko"}
    assert [c["name"] for c in json.loads(coco.read_text())["categories"]] == ["gecko"]

    # the class renamed from the tab: layer store, skeleton file and exports follow (undoable)
    type_into(qtbot, w.class_edit, "tokay")
    qtbot.mouseClick(w.class_button, LEFT)
    assert store.name == "tokay" == store.skeleton.name and points.name == "gecko keypoints"
    w.pick_save_path = lambda: str(tmp_path / "tokay")
    qtbot.mouseClick(w.save_button, LEFT)
    assert Skeleton.load(tmp_path / "tokay.skeleton.json").name == "tokay"
    api.save_layer(points, v7, format="darwin")
    assert formats.read(v7).stores[0].name == "tokay"
    dock.undo()
    assert store.name == "gecko" and w.class_edit.text() == "gecko"


def test_remove_several_nodes_at_once(dock, qtbot):
    viewer, w = dock.viewer, dock.editor
    viewer.add_image(np.zeros((10, 64, 64), np.uint8), name="video")
    dock.preset_combo.setCurrentText("mouse_topview")
    qtbot.mouseClick(dock.new_button, LEFT)
    points = dock.current_layer()
    store = api.get_store(points)
    viewer.dims.set_current_step(0, 0)
    viewer.cursor.position = (0, 32, 32)
    QTest.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_T)
    asked: list[str] = []
    w.confirm = lambda title, text: asked.append(text) or True
    click_nodes(qtbot, w, ["left_ear", "right_ear", "tail_tip"])
    qtbot.mouseClick(w.remove_button, LEFT)
    assert len(asked) == 1 and "3 nodes" in asked[0] and "30 placed points" in asked[0]
    assert store.n_nodes == 9 and len(points.data) == 9
    assert not {"left_ear", "right_ear", "tail_tip"} & set(store.skeleton.nodes)
    assert all(
        {"left_ear", "right_ear"} != {store.skeleton.nodes[i] for i in p} for p in store.skeleton.flip_pairs
    )
    dock.undo()  # one step brings all three back
    assert store.n_nodes == 12 and len(points.data) == 12
    # refusing keeps them all
    w.confirm = lambda title, text: False
    click_nodes(qtbot, w, ["snout", "neck"])
    qtbot.mouseClick(w.remove_button, LEFT)
    assert store.n_nodes == 12 and "kept" in w.message.text()


def test_a_draft_with_a_layer_present_and_discard(dock, qtbot):
    viewer, w = dock.viewer, dock.editor
    viewer.add_image(np.zeros((10, 64, 64), np.uint8), name="video")
    qtbot.mouseClick(dock.new_button, LEFT)  # a preset layer first
    first = dock.current_layer()
    layer_skeleton = api.get_store(first).skeleton
    type_into(qtbot, w.class_edit, "fly")
    qtbot.mouseClick(w.new_button, LEFT)  # a second class, drafted beside the layer
    add_nodes(qtbot, w, ["head", "thorax"])
    assert api.get_store(first).skeleton is layer_skeleton  # the layer is not touched by the draft
    qtbot.mouseClick(w.discard_button, LEFT)
    assert not w.has_draft and w.skeleton is layer_skeleton
    type_into(qtbot, w.class_edit, "fly")
    qtbot.mouseClick(w.new_button, LEFT)
    add_nodes(qtbot, w, ["head", "thorax"])
    qtbot.mouseClick(w.create_button, LEFT)
    second = dock.current_layer()
    assert second is not first and api.get_store(second).name == "fly"
    ds = api.to_dataset([first, second])
    assert [s.name for s in ds.stores] == [layer_skeleton.name, "fly"]
    # a preset brings nodes, edges and pairs; the class stays the layer's
    w.preset_combo.setCurrentText("hand21")
    qtbot.mouseClick(w.preset_button, LEFT)
    assert api.get_store(second).skeleton.n_nodes == 21 and api.get_store(second).name == "fly"
