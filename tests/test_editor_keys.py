"""No keyboard traps: napari's own keys work on a keyskel layer as on any other layer.

Found by hand with xdotool under a bare Xvfb (no window manager; ``scripts/xdotool_keys.sh``):
after a dialog closes nothing activates napari's window again, Qt then fires no menu shortcut
(Ctrl+O did nothing) and typed text reached the layer as single-key commands. The same happens
on a plain napari Points layer; :mod:`napari_keyskel._qt.window_keys` runs the menu shortcut.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt, QTimer
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QApplication, QDialog, QFileDialog

from napari_keyskel import api
from napari_keyskel._napari.bindings import KEYS, layer_key
from napari_keyskel._napari.label_next import LABEL_NEXT_KEYS

pytestmark = pytest.mark.viewer

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
#: napari layer keys that keyskel replaces on purpose (each is in KEYS, its help says what it does).
REPLACED = {"A"}  # napari: select all in the slice (Ctrl+A still does) -> keyskel: previous frame
# napari: select every point of the layer -> keyskel: the previous frame still to label (datasets)
REPLACED |= {"Shift+A"}


@pytest.fixture
def env(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    image = viewer.add_image(np.zeros((12, 64, 64), np.uint8), name="video")
    plain = viewer.add_points(np.zeros((0, 3)), ndim=3, name="plain points")
    points = api.add_skeleton_layer(viewer, "mouse_topview", image_layer=image)
    viewer.layers.selection.active = points
    return viewer, plain, points


def _keymap(viewer, layer) -> dict:
    """What napari's own keymap dispatch (the canvas's KeymapHandler) runs for each key."""
    viewer.layers.selection.active = layer
    handler = viewer.window._qt_viewer.canvas._key_map_handler
    return {str(k): getattr(f, "__func__", f) for k, f in handler.active_keymap.items()}


def test_napari_keymap_is_intact_on_a_keyskel_layer(env):
    viewer, plain, points = env
    napari_keys, ours = _keymap(viewer, plain), _keymap(viewer, points)
    changed = {k for k, f in napari_keys.items() if ours.get(k) is not f}
    assert changed == REPLACED
    bound = {k for k, _, _ in KEYS} | {k for k, _, _ in LABEL_NEXT_KEYS}
    assert bound >= {k.replace("+", "-") for k in REPLACED}
    # the menu shortcuts are not in the canvas keymap at all (Qt runs them), nor in ours
    for key in ("Ctrl+O", "Ctrl+Shift+O", "Ctrl+W", "Ctrl+Q", "Ctrl+Shift+S"):
        assert key not in ours and key not in napari_keys
    # pressed through napari's dispatch with the keyskel layer selected: napari's key acts
    handler = viewer.window._qt_viewer.canvas._key_map_handler
    viewer.layers.selection.active = points
    assert handler.press_key("S") and str(points.mode) == "select"
    assert handler.press_key("Z") and str(points.mode) == "pan_zoom"
    assert not handler.press_key("Control-O")  # not the layer's: left to Qt's menu shortcut
    assert layer_key("Control-Z") in {int(k) for k in points.keymap}  # ours, as napari has none


def _close_a_dialog_then_no_window_is_active(qtbot) -> None:
    """A modal dialog opened and closed as File > Open does; with no window manager nothing
    activates napari's window again (as a person met it under Xvfb)."""
    dlg = QDialog()
    QTimer.singleShot(50, dlg.reject)
    dlg.exec()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is None, timeout=3000)


def test_ctrl_o_opens_the_dialog_with_no_active_window(env, qtbot, monkeypatch):
    from napari._qt.qt_viewer import QtViewer

    viewer, _, points = env
    asked: list[str] = []
    monkeypatch.setattr(QtViewer, "_open_file_dialog_uni", lambda self, caption: asked.append(caption) or [])
    canvas = viewer.window._qt_viewer.canvas.native
    canvas.setFocus()
    _close_a_dialog_then_no_window_is_active(qtbot)
    store = api.get_store(points)
    n_tracks = len(store.tracks)
    QTest.keyClick(canvas, Qt.Key.Key_O, CTRL)  # through Qt's shortcut check, as xdotool's key
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=3000)
    assert asked == ["Select file(s)..."]
    _close_a_dialog_then_no_window_is_active(qtbot)
    QTest.keyClick(canvas, Qt.Key.Key_O, CTRL | Qt.KeyboardModifier.AltModifier)  # Open Files as Stack
    qtbot.waitUntil(lambda: len(asked) == 2, timeout=3000)
    assert len(store.tracks) == n_tracks  # nothing reached the layer as single-key commands
    qtbot.waitUntil(lambda: QApplication.activeWindow() is viewer.window._qt_window, timeout=3000)


def test_ctrl_s_with_no_active_window_saves_the_layer_not_napari_s_dialog(
    make_napari_viewer, qtbot, monkeypatch, darwin_file
):
    from napari_keyskel._napari.registry import owner_of

    viewer = make_napari_viewer(show=True)
    (points,) = [ly for ly in viewer.open(darwin_file, plugin="napari-keyskel") if "keyskel" in ly.metadata]
    viewer.layers.selection.active = points
    data = np.asarray(points.data).copy()
    data[0, 1:] += 3.0
    points.data = data  # as a drag leaves it
    state = owner_of(points).save
    assert state.dirty
    asked: list = []
    pick = staticmethod(lambda *a, **k: asked.append(a) or ("", ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", pick)
    canvas = viewer.window._qt_viewer.canvas.native
    canvas.setFocus()
    _close_a_dialog_then_no_window_is_active(qtbot)
    QTest.keyClick(canvas, Qt.Key.Key_S, CTRL)
    qtbot.wait(300)
    assert not state.dirty and asked == []  # the layer's Ctrl-S saved it; no dialog


def test_menu_shortcuts_are_found_for_the_window(env):
    from qtpy.QtGui import QKeyEvent

    from napari_keyskel._qt.window_keys import shortcut_for_key

    viewer, _, _ = env
    main = viewer.window._qt_window

    def found(key, mods=Qt.KeyboardModifier.NoModifier):
        action = shortcut_for_key(main, QKeyEvent(QKeyEvent.Type.ShortcutOverride, key, mods))
        return None if action is None else action.text().replace("&", "")

    assert found(Qt.Key.Key_O, CTRL).startswith("Open File")
    assert found(Qt.Key.Key_W, CTRL).startswith("Close Window")
    assert found(Qt.Key.Key_Q, CTRL).startswith("Exit")
    assert found(Qt.Key.Key_T) is None  # a single key is the layer's, never a menu's


@pytest.mark.skipif(  # scripts/setup.sh installs both: in CI (CI=true) their absence fails the test
    not (shutil.which("xdotool") and shutil.which("Xvfb")) and not os.environ.get("CI"),
    reason="needs xdotool and Xvfb (apt-get install)",
)
def test_xdotool_on_a_bare_x_server(tmp_path):
    """The person's way: real X key events on a napari window with no window manager."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "xdotool_keys.py"
    cmd = [sys.executable, str(script), str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "opened the dialog: True; instances stamped by typing: 0" in out.stdout
