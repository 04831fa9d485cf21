"""A scripted annotation session on the sample video, through the dock and the key bindings.

Keys every 10th frame (and the last) are placed by stamping the skeleton at the cursor (T for a
new instance, Shift-T for the previous pose of an instance) and dragging its nodes onto the
ground truth (one layer data change, as napari's drag makes); the timeline's "Interpolate all"
fills the frames between. The result must equal the pure core's interpolation of the same keys,
and match the ground truth within (measured: linear mean 0.72 px, max 12.7 px; cubic mean 0.49
px, max 11.9 px; the worst node is the tail tip, which wags with a 56-frame period):

- linear: mean < 1.0 px, max < 14 px
- cubic (PCHIP): mean < 0.6 px, max < 13 px

``pytest -s`` prints the table.
"""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from napari_keyskel.samples.synthetic import moving_figure

pytestmark = pytest.mark.viewer

N_FRAMES = 100
KEY_FRAMES = [*range(0, N_FRAMES, 10), N_FRAMES - 1]
BOUNDS = {"linear": (1.0, 14.0), "cubic": (0.6, 13.0)}


def _reference(truth, method: str) -> np.ndarray:
    """The pure core on the same keys: the ground truth keyed on KEY_FRAMES only, interpolated."""
    from napari_keyskel.core import keyframes as kf

    s = truth.copy()
    drop = np.ones(N_FRAMES, bool)
    drop[KEY_FRAMES] = False
    for t in s:
        t.is_key[drop] = False
    kf.interpolate_all(s, method=method)
    return s.to_dense()["coords"]


def test_walkthrough_keys_then_interpolate(make_napari_viewer, qtbot):
    from napari_keyskel._napari.registry import owner_of
    from napari_keyskel._qt.dock import KeyskelDock

    video, truth = moving_figure(n_frames=N_FRAMES)
    gt = truth.to_dense()["coords"]  # (F, I, K, 2)
    viewer = make_napari_viewer()
    viewer.add_image(video, name="video")
    dock = KeyskelDock(viewer)
    qtbot.addWidget(dock)
    dock.preset_combo.setCurrentText("mouse_topview")
    qtbot.mouseClick(dock.new_button, Qt.MouseButton.LeftButton)
    points = viewer.layers["mouse keypoints"]
    ctrl = owner_of(points)
    b = ctrl.bindings
    store = ctrl.store
    assert dock.layer_combo.currentText() == "mouse keypoints" and len(store) == 0
    canvas = viewer.window._qt_viewer.canvas.native
    viewer.layers.selection.active = points

    for f in KEY_FRAMES:
        viewer.dims.set_current_step(0, f)
        for i in range(2):
            tid = i + 1
            viewer.cursor.position = (f, *gt[f, i].mean(axis=0))
            if f == 0:
                QTest.keyClick(canvas, Qt.Key.Key_T)  # a new instance from the template
            else:
                ctrl.current_instance = tid
                QTest.keyClick(canvas, Qt.Key.Key_T, Qt.KeyboardModifier.ShiftModifier)
            assert store.track_ids[-1] == tid or f > 0
            # drag every node of the instance onto the truth
            feats = points.features
            rows = np.flatnonzero(feats["instance"].to_numpy() == tid)
            nodes = np.asarray(feats["node"].cat.codes)[rows]
            data = np.asarray(points.data).copy()
            data[rows, 1:] = gt[f, i, nodes]
            points.data = data
            t = store.tracks[tid]
            np.testing.assert_allclose(t.coords[f - t.start], gt[f, i])
            assert t.is_key[f - t.start].all()
    assert store.track_ids == [1, 2]
    assert all(t.is_key.sum() == len(KEY_FRAMES) * 12 for t in store)

    errors = {}
    for method in ("linear", "cubic"):
        dock.timeline.method_combo.setCurrentText(method)  # re-interpolates with that method
        qtbot.mouseClick(dock.timeline.interpolate_button, Qt.MouseButton.LeftButton)
        if method == "cubic":  # linear: the incremental edits had already filled every span
            assert b.history.undo_label == "interpolate (cubic)"
        est = store.to_dense()["coords"]
        assert est.shape == gt.shape and np.isfinite(est).all()
        np.testing.assert_allclose(est, _reference(truth, method), atol=1e-9)
        err = np.linalg.norm(est - gt, axis=-1)
        errors[method] = (float(err.mean()), float(err.max()))
        # the view follows: frame 45 shows both instances, interpolated, with their edges
        viewer.dims.set_current_step(0, 45)
        np.testing.assert_allclose(np.asarray(points.data)[:, 1:], est[45].reshape(-1, 2)[: len(points.data)])
        assert not points.features["keyframe"].any() and len(points.data) == 24
        assert (ctrl.edge_instances >= 0).sum() == 24
    print("\nwalkthrough interpolation error vs ground truth (px), keys every 10 frames")
    print(f"{'method':<8} {'mean':>6} {'max':>6}")
    for method, (mean, worst) in errors.items():
        print(f"{method:<8} {mean:6.2f} {worst:6.2f}")
    for method, (mean, worst) in errors.items():
        assert mean < BOUNDS[method][0] and worst < BOUNDS[method][1], (method, mean, worst)
    assert errors["cubic"][0] < errors["linear"][0]  # smooth motion: cubic beats linear
    assert "frame 45: 24 points" in dock.status.text()


def test_readme_loop_t_then_d_ten_times_then_drag(make_napari_viewer):
    """README: on frame 0 press T and drag; press D ten times, drag what moved; the frames between fill in."""
    from types import SimpleNamespace

    from napari.utils._proxies import ReadOnlyWrapper
    from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks

    from napari_keyskel import api

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((60, 128, 128), np.uint8), name="video")
    points = api.add_skeleton_layer(viewer, "mouse_topview", image_layer=viewer.layers["video"])
    ctrl = api.get_controller(points)
    store = ctrl.store
    canvas = viewer.window._qt_viewer.canvas.native
    viewer.layers.selection.active = points
    viewer.dims.set_current_step(0, 0)

    def mouse(kind: str, position) -> None:
        ev = SimpleNamespace(type=kind, handled=False, is_dragging=kind == "mouse_move", modifiers=[],
                             position=tuple(position), pos=np.zeros(2), view_direction=None,
                             up_direction=None, dims_displayed=[1, 2])  # fmt: skip
        fn = {"mouse_press": mouse_press_callbacks, "mouse_move": mouse_move_callbacks}
        fn.get(kind, mouse_release_callbacks)(points, ReadOnlyWrapper(ev, exceptions=("handled",)))

    def drag(node: str, by) -> None:
        names = points.features["node"].astype(str).to_numpy()
        start = np.asarray(points.data)[names == node][0]
        points.mode = "select"
        mouse("mouse_press", start)
        for s in (0.25, 0.5, 1.0):
            mouse("mouse_move", start + np.r_[0.0, by] * s)
        mouse("mouse_release", start + np.r_[0.0, by])

    viewer.cursor.position = (0, 64, 64)
    QTest.keyClick(canvas, Qt.Key.Key_T)
    t = store.tracks[1]
    assert (t.start, t.stop) == (0, 60)  # a new instance lives to the end of the video
    drag("snout", (-5.0, 2.0))
    snout0 = t.coords[0, 0].copy()
    for _ in range(10):
        QTest.keyClick(canvas, Qt.Key.Key_D)
    assert int(viewer.dims.current_step[0]) == 10
    # frame 10 shows the held pose, as interpolated points (rings), with its edges
    assert len(points.data) == 12 and not points.features["keyframe"].any()
    assert (ctrl.edge_instances == 1).sum() == len(store.skeleton.edges)
    np.testing.assert_allclose(t.coords[10, 0], snout0)
    n_steps = len(ctrl.history)
    drag("snout", (10.0, 20.0))  # drag what moved
    assert len(ctrl.history) == n_steps + 1
    assert t.is_key[10, 0] and not t.is_key[10, 1:].any()
    np.testing.assert_allclose(t.coords[10, 0], snout0 + np.array([10.0, 20.0]))
    for f in (1, 5, 9):  # the frames between fill in
        np.testing.assert_allclose(t.coords[f, 0], snout0 + (f / 10) * np.array([10.0, 20.0]))
    np.testing.assert_allclose(t.coords[40, 0], snout0 + np.array([10.0, 20.0]))  # held after the last key
    viewer.dims.set_current_step(0, 5)
    names = points.features["node"].astype(str).to_numpy()
    np.testing.assert_allclose(np.asarray(points.data)[names == "snout"][0, 1:], t.coords[5, 0])
