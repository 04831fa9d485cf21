"""Multi-view and 3D in a real viewer (Xvfb), driven through napari's own mouse callbacks and Qt."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from _events import click as _click
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from napari_keyskel._napari.multiview import grid_of, open_views
from napari_keyskel._napari.registry import owner_of
from napari_keyskel._qt.multiview_dock import MultiViewPanel
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.multiview.calibration import write_calibration
from napari_keyskel.multiview.triangulate import project
from napari_keyskel.multiview.views import read_points_csv
from napari_keyskel.samples.rig import render_views, rig_skeleton, synthetic_rig, synthetic_trajectories

pytestmark = pytest.mark.viewer
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def rig(make_napari_viewer, qtbot, tmp_path):
    cal = synthetic_rig(3)
    truth = synthetic_trajectories(4, 1, seed=3)
    clean = project(cal, truth)  # (V, T, 1, K, 2)
    viewer = make_napari_viewer(show=True)
    images = [viewer.add_image(v, name=n) for v, n in zip(render_views(cal, truth), cal.names)]
    viewer.dims.set_current_step(0, 0)
    panel = MultiViewPanel(viewer)
    qtbot.addWidget(panel)
    panel.set_checked(cal.names)
    panel.skeleton_combo.setEditText(str(rig_skeleton().save(tmp_path / "rig.skeleton.json")))
    panel.calib_edit.setText(str(write_calibration(cal, tmp_path / "calibration.toml")))
    return SimpleNamespace(cal=cal, truth=truth, clean=clean, viewer=viewer, images=images, panel=panel)


def test_views_side_by_side_shared_instances_triangulate_and_accept(rig, qtbot, tmp_path):
    viewer, panel, clean = rig.viewer, rig.panel, rig.clean
    qtbot.mouseClick(panel.make_button, LEFT)
    s = panel.session
    assert all(owner_of(o.points).views is s for o in s.owners) and s.names == rig.cal.names
    # napari's grid: one cell per view holding its image, annotations, edges and reprojections
    grid = grid_of(viewer)
    assert grid.enabled and grid.stride == 4
    cells = []
    for v in range(3):
        pos = {grid.position(viewer.layers.index(ly), viewer.layers) for ly in s.view_layers(v)}
        assert len(pos) == 1
        cells.append(pos.pop())
    assert len(set(cells)) == 3
    # label frame 0 by clicking (add mode) in each view; view camC misses the tail tip
    rng = np.random.default_rng(0)
    k = rig_skeleton().n_nodes
    for v, ctrl in enumerate(s.owners):
        ctrl.points.mode = "add"
        for node in range(k - (v == 2)):
            x, y = clean[v, 0, 0, node] + rng.normal(0, 0.3, 2)
            _click(ctrl.points, (0, y, x))
    stores = [c.store for c in s.owners]
    assert [st.track_ids for st in stores] == [[1], [1], [1]]  # the same instance in every view
    assert np.isfinite(stores[1].tracks[1].coords[0]).all()
    assert np.isnan(stores[2].tracks[1].coords[0, k - 1]).all()

    s.good = 0.0  # list every observation, worst first
    qtbot.mouseClick(panel.triangulate_button, LEFT)
    assert "1 proposal" in panel.summary.text() and "1 proposals" not in panel.summary.text()
    assert panel.flag_table.rowCount() == 3 * k - 1
    errs = [float(panel.flag_table.item(r, 4).text()) for r in range(panel.flag_table.rowCount())]
    assert errs == sorted(errs, reverse=True)
    viewer.dims.set_current_step(0, 3)
    row = [panel.flag_table.item(r, 0).text() for r in range(3 * k - 1)].index("camB")
    panel.flag_table.cellDoubleClicked.emit(row, 0)  # go to the flagged frame and view
    assert viewer.dims.current_step[0] == 0 and viewer.layers.selection.active is s.owners[1].points
    rep = s.reprojection_layers[2]
    feats = rep.features
    prop = np.flatnonzero(feats["proposal"].to_numpy())
    assert len(prop) == 1 and feats["node"].iloc[prop[0]] == "tail_tip"
    yx = np.asarray(rep.data)[prop[0], 1:]
    assert np.linalg.norm(yx[::-1] - clean[2, 0, 0, k - 1]) <= 2.0
    # the reprojection error of every other node is shown next to it, in pixels
    err = feats["error"].to_numpy()
    observed = ~feats["proposal"].to_numpy()
    assert observed.sum() == k - 1 and (err[observed] < 1.5).all()
    assert feats["label"].iloc[np.flatnonzero(observed)[0]] == f"{err[observed][0]:.1f}"

    qtbot.wait(100)  # let the canvas draw
    out = tmp_path / "screenshot.png"
    viewer.screenshot(str(out), canvas_only=True)
    from imageio.v3 import imread

    img = imread(out)[..., :3].astype(int)
    magenta = (img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] > 200)
    assert magenta.sum() > 10  # the proposal ring is drawn

    panel.view_combo.setCurrentIndex(2)
    qtbot.mouseClick(panel.accept_button, LEFT)
    assert panel.status.text() == "1 proposal placed as keys in camC"
    t = stores[2].tracks[1]
    assert t.is_key[0, k - 1] and np.linalg.norm(t.coords[0, k - 1] - yx) < 1e-9
    assert not s.reprojection_layers[2].features["proposal"].any()
    path = tmp_path / "points.csv"
    panel.save_csv(str(path))
    data = read_points_csv(path)
    assert len(data["frame"]) == k
    order = [rig_skeleton().index(n) for n in data["node"]]
    np.testing.assert_allclose(data["xyz"], rig.truth[0, 0, order], atol=3.0)


def test_a_new_instance_in_one_view_is_current_in_the_others(rig, qtbot):
    qtbot.mouseClick(rig.panel.make_button, LEFT)
    s = rig.panel.session
    a, b = s.owners[0], s.owners[1]
    a.points.mode = b.points.mode = "add"
    _click(a.points, (0, 100, 100))
    _click(a.points, (0, 300, 300))  # a second node of the same instance
    rig.viewer.layers.selection.active = a.points
    QTest.keyClick(rig.viewer.window._qt_viewer.canvas.native, Qt.Key.Key_I)  # start a new instance
    _click(a.points, (0, 200, 200))  # its first node: track 2
    assert a.store.track_ids == [1, 2] and b.store.track_ids == [1, 2]
    _click(b.points, (0, 210, 205))
    assert np.isfinite(b.store.tracks[2].coords[0, 0]).all() and np.isnan(b.store.tracks[1].coords[0]).all()


def test_triangulate_without_calibration_says_so(rig, qtbot):
    rig.panel.calib_edit.setText("")
    qtbot.mouseClick(rig.panel.make_button, LEFT)
    qtbot.mouseClick(rig.panel.triangulate_button, LEFT)
    assert "calibration" in rig.panel.status.text()
    rig.panel.set_checked(rig.cal.names[:1])
    qtbot.mouseClick(rig.panel.make_button, LEFT)
    assert ">= 2 image layers" in rig.panel.status.text()


def test_the_keyskel_dock_has_the_3d_tab(make_napari_viewer):
    from napari_keyskel._qt.dock import KeyskelDock

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2, 16, 16), np.uint8), name="left")
    dock = KeyskelDock(viewer)
    names = [dock.tabs.tabText(i) for i in range(dock.tabs.count())]
    panel = dock.tabs.widget(names.index("3D / views"))
    assert isinstance(panel, MultiViewPanel)
    viewer.add_image(np.zeros((2, 16, 16), np.uint8), name="right")
    assert [panel.image_list.item(i).text() for i in range(panel.image_list.count())] == ["left", "right"]


def test_a_multi_slot_v7_item_opens_as_views(rig, tmp_path):
    import json

    from napari_keyskel import formats
    from napari_keyskel.core.annotation_set import AnnotationSet

    cal, clean, k = rig.cal, rig.clean, rig_skeleton().n_nodes
    store = AnnotationStore(rig_skeleton(), 2, 0, n_frames=3 * 4)
    frames = []
    for v in range(3):
        frames += [
            {"item": "scene", "slot": cal.names[v], "frame": f, "width": 640, "height": 480} for f in range(4)
        ]
        t = store.add_track(v + 1, start=4 * v, stop=4 * v + 4)
        t.coords[:] = clean[v, :, 0, :, ::-1]
        t.visibility[:], t.is_key[:] = 2, True
    t.coords[1, k - 1] = np.nan  # camC lacks the tail tip on frame 1
    t.visibility[1, k - 1] = 0
    path = tmp_path / "scene.json"
    formats.write(AnnotationSet([store], frames), path, "darwin")
    doc = json.loads(path.read_text())
    for ann in doc["annotations"]:
        ann["instance_id"] = {"value": 7}  # one animal, one V7 instance across the slots
    path.write_text(json.dumps(doc))
    s = open_views(
        rig.viewer, str(path), rig.images, skeleton=str(tmp_path / "rig.skeleton.json"), calibration=cal
    )
    assert s.names == cal.names and [c.store.track_ids for c in s.owners] == [[7]] * 3
    assert grid_of(rig.viewer).enabled
    res = s.triangulate()
    prop = s.proposals(2)
    assert (prop["frame"].tolist(), prop["track"].tolist(), prop["node"].tolist()) == ([1], [7], [k - 1])
    assert np.linalg.norm(prop["yx"][0][::-1] - clean[2, 1, 0, k - 1]) < 1e-3
    assert np.nanmax(res.triangulation.errors) < 1e-3
    # an edit in camB, saved back into the same item: every annotation updated in place
    s.owners[1].store.tracks[7].coords[2, 0] += (2.0, 1.0)
    saved = s.save_views(str(tmp_path / "scene_back.json"))[0]
    out, original = json.loads(saved.read_text()), json.loads(path.read_text())
    assert out["item"] == original["item"] and [a["id"] for a in out["annotations"]] == [
        a["id"] for a in original["annotations"]
    ]
    again = open_views(rig.viewer, str(saved), rig.images, skeleton=str(tmp_path / "rig.skeleton.json"))
    np.testing.assert_allclose(
        again.owners[1].store.tracks[7].coords[2, 0], s.owners[1].store.tracks[7].coords[2, 0]
    )


@pytest.mark.parametrize("name", ["multiview_triangulation", "volume_skeleton_3d"])
def test_the_examples_run(name, tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    shot = tmp_path / "shot.png"
    viewer = mod.main(show=True, screenshot=str(shot))
    try:
        assert shot.stat().st_size > 10_000
        out = capsys.readouterr().out
        assert ("21 proposals" in out) if name == "multiview_triangulation" else ("30 slices" in out)
    finally:
        viewer.close()
        # the closed window is garbage in reference cycles (its save hooks among them) that only a
        # full collection frees; napari's leak check after this test collects generation 1 only
        import gc

        gc.collect()


def test_labelled_views_are_saved_from_the_dock_as_one_v7_item(rig, qtbot, tmp_path, monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    from napari_keyskel import formats
    from napari_keyskel.multiview.views import views_from_dataset

    panel, clean = rig.panel, rig.clean
    assert not panel.save_views_button.isEnabled()  # nothing to save before the views exist
    qtbot.mouseClick(panel.make_button, LEFT)
    s = panel.session
    for v, ctrl in enumerate(s.owners):  # click the snout and the body in every view
        ctrl.points.mode = "add"
        for node in range(2):
            x, y = clean[v, 0, 0, node]
            _click(ctrl.points, (0, y, x))
    target = tmp_path / "views.json"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "V7 Darwin JSON (*.json)")
    )
    qtbot.mouseClick(panel.save_views_button, LEFT)
    assert "saved 3 views as one V7 item" in panel.status.text()
    back = views_from_dataset(formats.read(target))
    assert back.names == rig.cal.names and [b.track_ids for b in back.stores] == [[1]] * 3
    for v, b in enumerate(back.stores):
        np.testing.assert_allclose(b.tracks[1].coords[0, :2, ::-1], clean[v, 0, 0, :2], atol=1e-6)
