"""Node descriptions: edited in the skeleton editor, kept by the skeleton and its file, shown to
annotators beside the next node to place, saved with a dataset's instructions."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from _media_samples import make_video
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore

pytestmark = pytest.mark.viewer

MOUSE = Skeleton(["nose", "ear", "tail"], [(0, 1), (1, 2)], name="mouse")


def test_descriptions_follow_their_nodes_through_edits_and_files(tmp_path):
    sk = MOUSE.set_description("ear", "the left ear's tip")
    assert sk.descriptions == ("", "the left ear's tip", "")
    assert sk == MOUSE  # a description is not a change of skeleton
    moved = sk.reorder_nodes(["ear", "nose", "tail"]).add_node("paw").remove_nodes(["tail"])
    assert moved.nodes == ("ear", "nose", "paw") and moved.description("ear") == "the left ear's tip"
    assert moved.descriptions == ("the left ear's tip", "", "")
    path = moved.save(tmp_path / "mouse.skeleton.json")
    entries = json.loads(path.read_text())["nodes"]
    assert entries[0]["description"] == "the left ear's tip" and "description" not in entries[1]
    assert Skeleton.load(path).descriptions == moved.descriptions
    store = AnnotationStore(moved, n_frames=3)
    from napari_keyskel.core.plain import store_from_plain, store_to_plain

    assert store_from_plain(store_to_plain(store)).skeleton.descriptions == moved.descriptions
    from napari_keyskel.errors import SkeletonError

    with pytest.raises(SkeletonError, match="2 descriptions given for 3 nodes"):
        Skeleton(["a", "b", "c"], descriptions=["x", "y"])
    with pytest.raises(SkeletonError, match="description of node 'b' must be text"):
        Skeleton(["a", "b"], descriptions=["x", 3])  # type: ignore[list-item]


def test_editor_edits_a_description_saves_and_reloads_it(qtbot, tmp_path):
    from napari_keyskel._qt.skeleton_editor import SkeletonEditor

    w = SkeletonEditor(MOUSE)
    qtbot.addWidget(w)
    emitted = []
    w.skeleton_changed.connect(lambda s, m: emitted.append((s, m.tolist())))
    assert not w.description_edit.isEnabled()  # no node selected
    w.select_nodes(["nose"])
    assert w.description_edit.isEnabled() and w.description_edit.text() == ""
    w.description_edit.setFocus()
    qtbot.keyClicks(w.description_edit, "tip of the snout")
    QTest.keyClick(w.description_edit, Qt.Key.Key_Return)
    sk, mapping = emitted[-1]
    assert sk.description("nose") == "tip of the snout" and mapping == [0, 1, 2]
    assert w.node_list.item(0).toolTip() == "tip of the snout"
    w.select_nodes(["ear"])
    assert w.description_edit.text() == ""
    w.select_nodes(["nose"])
    assert w.description_edit.text() == "tip of the snout"

    target = tmp_path / "mouse.skeleton.json"
    w.pick_save_path = lambda: str(target)
    qtbot.mouseClick(w.save_button, Qt.MouseButton.LeftButton)
    w2 = SkeletonEditor(None)
    qtbot.addWidget(w2)
    w2.pick_open_path = lambda: str(target)
    qtbot.mouseClick(w2.load_button, Qt.MouseButton.LeftButton)  # reopened: the description is there
    w2.select_nodes(["nose"])
    assert w2.description_edit.text() == "tip of the snout"


@pytest.fixture
def env(make_napari_viewer):
    from napari_keyskel._qt.dataset_dock import DatasetDock
    from napari_keyskel._qt.dock import KeyskelDock

    viewer = make_napari_viewer(show=True)
    main = KeyskelDock(viewer)
    viewer.window.add_dock_widget(main, name="Keyskel", area="right")
    dock = DatasetDock(viewer)
    viewer.window.add_dock_widget(dock, name="Keyskel dataset", area="right")
    return SimpleNamespace(viewer=viewer, dock=dock, main=main)


def test_description_edited_in_the_dataset_shows_beside_the_next_node_and_is_saved(env, tmp_path, qtbot):
    from napari_keyskel.dataset import open_dataset

    root = tmp_path / "mice"
    root.mkdir()
    for i in range(2):
        make_video(root / f"clip{i}.mp4", 20, size=(96, 64), gop=10)
    MOUSE.set_description("ear", "the left ear").save(root / "mouse.skeleton.json")
    dock, editor = env.dock, env.main.editor
    dock.open_dataset(root)
    store = dock.session.stores()[0]
    assert store.skeleton.description("ear") == "the left ear"  # from the skeleton file beside the items
    env.viewer.layers.selection.active = dock.session.points_layers[0]
    editor.select_nodes(["nose"])
    editor.description_edit.setText("tip of the snout, whiskers excluded")
    qtbot.mouseClick(editor.describe_button, Qt.MouseButton.LeftButton)
    assert dock.session.stores()[0].skeleton.description("nose") == "tip of the snout, whiskers excluded"
    dock.panel._show_next_node()  # (polled a few times a second)
    assert "nose" in dock.node_label.text() and "whiskers excluded" in dock.node_label.text()

    dock.next_item()  # the item left is saved, and the descriptions with the dataset's instructions
    again = open_dataset(root)
    folder = again.instructions.skeleton_folder  # (a folder of media: its annotations/ folder)
    saved = Skeleton.load(folder / "mouse.skeleton.json")
    assert saved.descriptions == ("tip of the snout, whiskers excluded", "the left ear", "")
    assert np.array_equal(saved.edge_array(), MOUSE.edge_array())
    (sk,) = again.skeletons()
    assert sk.description("nose") == "tip of the snout, whiskers excluded"
    assert again.instructions.description("mouse", "nose") == "tip of the snout, whiskers excluded"
    assert dock.session.stores()[0].skeleton.description("nose") == "tip of the snout, whiskers excluded"
