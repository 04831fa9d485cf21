"""Saving from the viewer: Ctrl-S through napari's key events, unsaved state, close prompt, CSV
warning, autosave, and recovery after a napari killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt, QTimer
from qtpy.QtTest import QTest

from napari_keyskel import formats
from napari_keyskel.core import recovery
from napari_keyskel.samples.synthetic import moving_figure

pytestmark = pytest.mark.viewer
ROOT = Path(__file__).resolve().parents[1]


def _messages():
    from napari.utils.notifications import notification_manager

    return [str(n.message) for n in notification_manager.records]


def _ctrl_s(viewer):
    QTest.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)


def _drag_first_node(points, dy=6.0, dx=-4.0):
    data = np.asarray(points.data).copy()
    data[0, 1:] += (dy, dx)
    points.data = data  # one layer data change, as napari's drag makes
    return data[0]


def test_ctrl_s_saves_every_frame_to_the_file_it_came_from(make_napari_viewer, darwin_file):
    from napari_keyskel._napari.registry import owner_of

    viewer = make_napari_viewer()
    (points,) = [ly for ly in viewer.open(darwin_file, plugin="napari-keyskel") if "keyskel" in ly.metadata]
    viewer.layers.selection.active = points
    state = owner_of(points).save
    assert state.path == darwin_file and not state.dirty
    viewer.dims.set_current_step(0, 5)  # an interpolated frame
    moved = _drag_first_node(points)
    assert state.dirty
    _ctrl_s(viewer)  # through napari's keymap (napari's own Ctrl-S "Save Selected Layers" stays out)
    assert not state.dirty
    back = formats.read(darwin_file)
    (store,) = back.stores
    assert formats.detect_format(darwin_file) == "darwin"
    t = store.tracks[int(points.features["instance"][0])]
    k = store.skeleton.index(str(points.features["node"][0]))
    np.testing.assert_allclose(t.coords[5 - t.start, k], moved[1:])
    assert t.is_key[5 - t.start, k] and t.stop - t.start == 20  # every frame, not the one in view
    assert any(str(darwin_file) in m and "saved" in m for m in _messages())


def test_new_layer_asks_once_then_saves_in_the_chosen_format(make_napari_viewer, tmp_path, monkeypatch):
    from napari_keyskel import api
    from napari_keyskel._napari.registry import owner_of
    from napari_keyskel._qt import save_hooks as save

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((12, 64, 64), np.uint8), name="video")
    save.install(viewer)
    points = api.add_skeleton_layer(viewer, "mouse_topview", image_layer=image)
    asked = []
    target = tmp_path / "new mice.json"
    monkeypatch.setattr(save, "ask_save_path", lambda state: asked.append(state) or (target, "coco"))
    viewer.layers.selection.active = points
    api.set_node(points, frame=0, instance=1, node="snout", coords=[10.0, 12.0])
    state = owner_of(points).save
    assert state.dirty and state.path is None
    _ctrl_s(viewer)
    api.set_node(points, frame=4, instance=1, node="snout", coords=[20.0, 22.0])
    _ctrl_s(viewer)
    assert len(asked) == 1 and state.path == target and not state.dirty
    assert formats.detect_format(target) == "coco"
    t = formats.read(target).stores[0].tracks[1]
    np.testing.assert_allclose(t.coords[4 - t.start, 0], [20.0, 22.0])


def test_a_layer_made_from_a_script_gets_ctrl_s_with_no_dock_open(make_napari_viewer, tmp_path, monkeypatch):
    """A console or script layer (``api.add_skeleton_layer``) saves with Ctrl-S like a read one."""
    from napari_keyskel import api
    from napari_keyskel._napari.registry import owner_of
    from napari_keyskel._qt import save_hooks as save

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((6, 48, 48), np.uint8), name="video")
    assert save.hooks_of(viewer) is None  # no dock, no reader: nothing installed yet
    points = api.add_skeleton_layer(viewer, "mouse_topview", image_layer=image)
    assert save.hooks_of(viewer) is not None
    target = tmp_path / "console.json"
    monkeypatch.setattr(save, "ask_save_path", lambda state: (target, "darwin"))
    viewer.layers.selection.active = points
    api.set_node(points, frame=2, instance=1, node="snout", coords=[11.0, 13.0])
    _ctrl_s(viewer)
    assert not owner_of(points).save.dirty and formats.detect_format(target) == "darwin"
    t = formats.read(target).stores[0].tracks[1]
    np.testing.assert_allclose(t.coords[2 - t.start, 0], [11.0, 13.0])


def test_closing_with_unsaved_annotations_asks_first(make_napari_viewer, darwin_file, qtbot):
    from qtpy.QtWidgets import QApplication, QMessageBox

    from napari_keyskel._napari.registry import owner_of

    viewer = make_napari_viewer(show=True)
    (points,) = [ly for ly in viewer.open(darwin_file, plugin="napari-keyskel") if "keyskel" in ly.metadata]
    _drag_first_node(points)
    main = viewer.window._qt_window
    asked = []

    def answer(button):
        def click():
            box = QApplication.activeModalWidget()
            asked.append(box.text())
            box.button(button).click()

        QTimer.singleShot(200, click)

    answer(QMessageBox.StandardButton.Cancel)
    main.close()  # what File > Close Window does
    assert main.isVisible() and asked and "unsaved annotations" in asked[0]
    # "Save" lets the close go on once every layer is saved (the close event itself, as Qt sends it
    # to the window: closing the window for real would leave the fixture nothing to tear down)
    from qtpy.QtGui import QCloseEvent

    from napari_keyskel._qt.save_hooks import hooks_of

    answer(QMessageBox.StandardButton.Save)
    event = QCloseEvent()
    assert hooks_of(viewer).eventFilter(main, event) is False and event.isAccepted()
    assert len(asked) == 2 and not owner_of(points).save.dirty
    assert formats.read(darwin_file).stores[0].n_frames == 20
    # nothing unsaved: no question
    assert hooks_of(viewer).eventFilter(main, QCloseEvent()) is False and len(asked) == 2


def test_csv_writer_warns_it_holds_the_frame_in_view(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-keyskel", "moving_figure")
    points = viewer.layers["mouse keypoints"]
    out = tmp_path / "points.csv"
    points.save(str(out), plugin="napari")
    assert out.exists() and len(out.read_text().splitlines()) == 1 + 24  # one frame's points
    assert any("frame in view" in m and str(out) in m for m in _messages())


def test_autosave_writes_a_recovery_file_and_saving_removes_it(make_napari_viewer, darwin_file, qtbot):
    from napari_keyskel._napari.registry import owner_of
    from napari_keyskel._qt.save_hooks import save_layer, set_autosave_interval

    viewer = make_napari_viewer()
    (points,) = [ly for ly in viewer.open(darwin_file, plugin="napari-keyskel") if "keyskel" in ly.metadata]
    state = owner_of(points).save
    path = recovery.recovery_path(state.identity)
    set_autosave_interval(viewer, 0.1)
    qtbot.wait(300)
    assert not path.exists()  # nothing to autosave before an edit
    _drag_first_node(points)
    qtbot.waitUntil(path.exists, timeout=5000)
    rec = recovery.read_recovery(path)
    assert rec.info["layer"] == points.name and rec.stores[0].track_ids == state.owner.store.track_ids
    assert save_layer(points) and not path.exists()


def test_recovery_offered_after_napari_is_killed(make_napari_viewer, tmp_path, qtbot):
    """kill -9 of a napari annotating the sample; opening the sample again offers the work."""
    from napari.utils.notifications import notification_manager

    from napari_keyskel._napari.registry import owner_of

    folder = Path(os.environ["KEYSKEL_RECOVERY_DIR"])
    env = {**os.environ, "KEYSKEL_RECOVERY_DIR": str(folder)}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "_crash_session.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("EDITED"), line + proc.stderr.read()
        moved = np.array([float(v) for v in line.split()[1:]])
        deadline = time.monotonic() + 60
        while not list(folder.glob(f"*{recovery.RECOVERY_SUFFIX}")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(folder.glob(f"*{recovery.RECOVERY_SUFFIX}")), "no autosave before the kill"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    viewer = make_napari_viewer()
    n_before = len(notification_manager.records)
    viewer.open_sample("napari-keyskel", "moving_figure")
    points = viewer.layers["mouse keypoints"]
    state = owner_of(points).save
    assert state.offer is not None
    (offer,) = [n for n in notification_manager.records[n_before:] if "Recover it?" in str(n.message)]
    assert [name for name, _ in offer.actions] == ["Recover", "Discard"]
    store = state.owner.store
    tid, k = int(points.features["instance"][0]), store.skeleton.index(str(points.features["node"][0]))
    t = store.tracks[tid]
    assert not t.is_key[35 - t.start, k]  # the fresh sample: an interpolated frame
    # the offer also stays in the bottom timeline (the notification fades); its button recovers
    from napari_keyskel._qt.timeline_dock import open_timeline

    timeline = open_timeline(viewer)
    assert timeline.layer is points and not timeline.recover_button.isHidden()
    assert "autosaved" in timeline.recover_button.toolTip()
    qtbot.mouseClick(timeline.recover_button, Qt.MouseButton.LeftButton)
    assert timeline.recover_button.isHidden() and state.offer is None
    assert callable(dict(offer.actions)["Recover"])
    assert t is not store.tracks[tid]
    t = store.tracks[tid]
    assert t.is_key[35 - t.start, k] and state.dirty
    viewer.dims.set_current_step(0, 35)
    np.testing.assert_allclose(np.asarray(points.data)[0], moved)


def test_a_skeleton_edit_alone_is_unsaved_work(make_napari_viewer, darwin_file):
    from napari_keyskel._napari.registry import owner_of
    from napari_keyskel._qt.save_hooks import save_layer
    from napari_keyskel.core import skeleton_edit

    viewer = make_napari_viewer()
    (points,) = [ly for ly in viewer.open(darwin_file, plugin="napari-keyskel") if "keyskel" in ly.metadata]
    state = owner_of(points).save
    assert not state.unsaved
    skeleton_edit.rename_node(state.owner.store, "snout", "nose")  # what the Skeleton tab does
    assert state.unsaved and not state.dirty  # no layer edit, yet the close prompt will ask
    path = state.autosave()
    assert path is not None and recovery.read_recovery(path).stores[0].skeleton.nodes[0] == "nose"
    assert save_layer(points) and not state.unsaved
    assert formats.read(darwin_file).stores[0].skeleton.nodes[0] == "nose"


def test_discarding_the_offer_removes_the_recovery_file(make_napari_viewer, darwin_file):
    from napari.utils.notifications import notification_manager

    from napari_keyskel._napari.registry import owner_of

    _, store = moving_figure(n_frames=20, shape=(64, 64), render=False)
    viewer = make_napari_viewer()
    (points,) = [ly for ly in viewer.open(darwin_file, plugin="napari-keyskel") if "keyskel" in ly.metadata]
    path = recovery.write_recovery(owner_of(points).save.identity, [store], {"layer": points.name})
    viewer.layers.remove(points)
    n_before = len(notification_manager.records)
    (points,) = [ly for ly in viewer.open(darwin_file, plugin="napari-keyskel") if "keyskel" in ly.metadata]
    state = owner_of(points).save
    assert state.offer is not None and state.offer.path == path
    (offer,) = [n for n in notification_manager.records[n_before:] if "Recover it?" in str(n.message)]
    dict(offer.actions)["Discard"]()  # the notification's other button
    assert state.offer is None and not path.exists() and not state.dirty
