"""Small things a person sees: the Save dialog's defaults, "no flags", 17 node rows, plurals, paths.

Each drives the real widgets or napari's menu, as a person would.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from napari.utils.notifications import notification_manager
from qtpy.QtCore import QPoint, Qt
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QApplication, QFileDialog

from napari_keyskel import api, formats
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.wording import at_path, plural
from napari_keyskel.errors import FormatError, SkeletonError
from napari_keyskel.samples.synthetic import moving_figure

pytestmark = pytest.mark.viewer

LEFT = Qt.MouseButton.LeftButton


def _messages_since(n: int) -> list[str]:
    return [str(r.message) for r in notification_manager.records[n:] if "keyskel" in str(r.message)]


# -- File > Save Selected Layers --------------------------------------------------------------------
def _menu_save(viewer, monkeypatch, answer=None):
    """File > Save Selected Layers...; the dialog's arguments are recorded, ``answer(filters)`` picks."""
    seen = {}

    def dialog(parent, caption, directory, filter="", initialFilter="", **kw):
        seen.update(caption=caption, directory=directory, filters=filter.split(";;"), initial=initialFilter)
        return answer(seen) if answer else ("", "")

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(dialog))
    viewer.window.file_menu.findAction("napari.window.file.save_layers_dialog.selected").trigger()
    return seen


@pytest.mark.parametrize("fmt", ["darwin", "coco"])
def test_save_selected_offers_our_writer_in_the_files_folder(make_napari_viewer, tmp_path, monkeypatch, fmt):
    _, store = moving_figure(n_frames=10, shape=(64, 64), render=False, key_step=5)
    source = tmp_path / "data" / f"mice_{fmt}.json"
    source.parent.mkdir()
    formats.write(AnnotationSet(stores=[store]), source, fmt)
    viewer = make_napari_viewer()
    (points,) = [ly for ly in viewer.open(source, plugin="napari-keyskel") if "keyskel" in ly.metadata]
    viewer.layers.selection = {points}
    target = tmp_path / "out" / "saved.json"
    target.parent.mkdir()
    seen = _menu_save(viewer, monkeypatch, lambda s: (str(target), s["initial"]))
    name = {"darwin": "V7 Darwin JSON", "coco": "COCO keypoints"}[fmt]
    assert seen["directory"] == str(source)  # the folder and name of the file it came from
    assert name in seen["initial"] and seen["filters"][0] == seen["initial"]
    assert any("V7 Darwin JSON" in f for f in seen["filters"][:2])
    assert any("COCO keypoints" in f for f in seen["filters"][:2])
    assert len(seen["filters"]) > 2  # napari's own writers stay on the list, after ours
    assert formats.detect_format(target) == fmt and formats.read(target).stores[0].counts() == store.counts()


def test_save_selected_of_other_layers_is_napari_s_dialog(make_napari_viewer, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    plain = viewer.add_points(np.zeros((2, 2)), name="plain")
    viewer.layers.selection = {plain}
    seen = _menu_save(viewer, monkeypatch)
    assert seen["caption"] == "Save selected layers"  # napari's, not ours ("... (every frame)")


# -- the Review bar with no flags -----------------------------------------------------------------
def test_review_bar_says_no_flags(make_napari_viewer, qtbot):
    from napari_keyskel._qt.review_dock import ReviewDock

    viewer = make_napari_viewer()
    sk = Skeleton(["a", "b"], [(0, 1)], name="still")
    points = api.add_skeleton_layer(viewer, sk, name="still keypoints")
    api.set_node(points, 0, 1, "a", [10.0, 10.0])
    api.set_node(points, 0, 1, "b", [14.0, 10.0])
    dock = ReviewDock(viewer)
    qtbot.addWidget(dock)
    dock.set_layer("still keypoints")
    qtbot.mouseClick(dock.check_button, LEFT)
    assert not len(dock.session().flags)
    assert dock.progress_bar.text() == "no flags"
    assert dock.progress_label.text() == "no flags · 1 (frame, instance) pair with points"


# -- the timeline with 17 node rows ----------------------------------------------------------------
def test_timeline_grows_to_show_17_node_rows(make_napari_viewer, qtbot):
    from napari_keyskel._qt.dock import KeyskelDock
    from napari_keyskel._qt.timeline_canvas import HEADER, NODE_H, ROW_H

    viewer = make_napari_viewer(show=True)
    main = viewer.window._qt_window
    main.resize(1400, 900)
    viewer.add_image(np.zeros((30, 128, 128), np.uint8), name="video")
    dock = KeyskelDock(viewer)
    viewer.window.add_dock_widget(dock, area="right")
    dock.preset_combo.setCurrentText("coco_person")
    qtbot.mouseClick(dock.new_button, LEFT)
    viewer.dims.set_current_step(0, 0)
    viewer.cursor.position = (0, 64, 64)
    QTest.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_T)
    tl = dock.timeline
    dock_widget, _ = tl._docked()
    main.resizeDocks([dock_widget], [160], Qt.Orientation.Vertical)  # a short timeline: a few rows
    qtbot.waitUntil(lambda: 0 < tl.scroll_area.viewport().height() < ROW_H + 17 * NODE_H)
    QTest.mouseDClick(tl.canvas, LEFT, pos=QPoint(HEADER // 2, ROW_H // 2))  # open the instance's rows
    assert len(tl.canvas.rows()) == 18
    need = ROW_H + 17 * NODE_H
    qtbot.waitUntil(
        lambda: tl.scroll_area.viewport().height() >= min(need, 0.3 * main.height()), timeout=3000
    )
    QApplication.processEvents()
    bar = tl.scroll_area.verticalScrollBar()
    assert bar.maximum() + tl.scroll_area.viewport().height() >= tl.canvas.height()  # the rest scrolls
    assert tl.canvas.height() >= need  # rows keep their height (never squeezed)
    assert "1 instance" in tl.status.text() and "1 instances" not in tl.status.text()


# -- the Annotate tab's key table -------------------------------------------------------------------
def test_key_table_fits_the_dock_without_sideways_scrolling(make_napari_viewer, qtbot):
    from napari_keyskel._napari.bindings import KEYS
    from napari_keyskel._qt.dock import KeyskelDock

    viewer = make_napari_viewer()
    dock = KeyskelDock(viewer)
    qtbot.addWidget(dock)
    dock.resize(340, 900)
    dock.show()
    qtbot.waitExposed(dock)
    scroll = dock.shortcut_scroll
    assert scroll.horizontalScrollBar().maximum() == 0
    assert dock.shortcut_help.width() <= scroll.viewport().width()
    text = dock.shortcut_help.text()
    assert all(desc.replace("'", "&#x27;") in text for _, _, desc in KEYS)


# -- words: plurals and a path said once -------------------------------------------------------------
def test_plural_and_a_path_said_once(make_napari_viewer, tmp_path):
    assert plural(1, "instance") == "1 instance" and plural(0, "flag") == "0 flags"
    assert plural(2, "category", "categories") == "2 categories"
    assert at_path("a.json", "a.json: broken") == "a.json: broken"
    e = FormatError("not JSON", tmp_path / "x.json")
    assert str(e) == f"{tmp_path / 'x.json'}: not JSON"
    assert str(FormatError(f"cannot read {tmp_path / 'x.json'}", tmp_path / "x.json")).count("x.json") == 1
    with pytest.raises(SkeletonError) as caught:
        Skeleton.load(tmp_path / "missing.skeleton.json")
    assert str(caught.value).count("missing.skeleton.json") == 1
    # napari's File > Open of a broken file, and a save that cannot be written: the path once
    viewer = make_napari_viewer()
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": "2.0", "item": {"name": "x",\n  "slots": [}')
    n = len(notification_manager.records)
    viewer.open(broken, plugin="napari-keyskel")
    (msg,) = _messages_since(n)
    assert msg.count(str(broken)) == 1, msg
    _, store = moving_figure(n_frames=5, shape=(32, 32), render=False)
    points = api.add_skeleton_layer(viewer, store, name="mice")
    viewer.layers.selection = {points}
    (tmp_path / "file").write_text("")
    bad = tmp_path / "file" / "x.json"
    n = len(notification_manager.records)
    with pytest.warns(UserWarning):
        viewer.layers.save(str(bad), selected=True, plugin="napari-keyskel")
    (msg,) = _messages_since(n)
    assert msg.count("x.json") == 1, msg
    assert json.loads(json.dumps(msg))  # plain text
