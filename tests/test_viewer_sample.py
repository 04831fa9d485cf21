"""A real napari viewer (under Xvfb) with the plugin's sample data and dock."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

pytestmark = pytest.mark.viewer


def _dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-keyskel", "Keyskel")
    return widget


def test_sample_data_and_dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-keyskel", "moving_figure")
    names = [layer.name for layer in viewer.layers]
    assert names[0] == "moving figure"
    points = next(ly for ly in viewer.layers if "keyskel" in ly.metadata)
    image = viewer.layers["moving figure"]
    assert image.data.shape[0] == viewer.dims.nsteps[0] > 1
    assert set(points.features.columns) >= {"instance", "node", "visibility", "keyframe"}
    assert any(ly.name == f"{points.name} edges" for ly in viewer.layers)

    dock = _dock(viewer)
    assert dock.layer_combo.currentText() == points.name
    assert dock.node_list.count() == 12
    assert "12 nodes" in dock.skeleton_label.text()

    # stepping the frame slider updates the dock's status with that frame's points
    viewer.dims.set_current_step(0, 7)
    assert dock.status.text().startswith("frame 7: 24 points")

    # colour by instance, then by node: the face colours follow the features
    dock.color_by.setCurrentText("instance")
    by_instance = np.asarray(points.face_color)
    ids = points.features["instance"].to_numpy()
    assert len(np.unique(by_instance[ids == ids[0]], axis=0)) == 1
    dock.color_by.setCurrentText("node")
    assert not np.allclose(np.asarray(points.face_color), by_instance)

    dock.show_names.setChecked(True)  # names in their own layer, placed apart (test_names_viewer.py)
    assert not points.text.visible and f"{points.name} names" in viewer.layers
    dock.show_names.setChecked(False)
    assert f"{points.name} names" not in viewer.layers

    # a new annotation layer from a preset, over the sample video
    dock.preset_combo.setCurrentText("coco_person")
    n_before = len(viewer.layers)
    qtbot.mouseClick(dock.new_button, Qt.MouseButton.LeftButton)
    assert len(viewer.layers) == n_before + 2
    assert dock.layer_combo.currentText() == "person keypoints"
    new = viewer.layers["person keypoints"]
    assert new.ndim == 3 and len(new.data) == 0
    assert new.metadata["keyskel"]["n_frames"] == image.data.shape[0]
    assert dock.node_list.count() == 17


def test_sample_is_keyed_every_10th_frame_with_ground_truth(make_napari_viewer):
    from napari_keyskel._napari.registry import owner_of

    viewer = make_napari_viewer()
    viewer.open_sample("napari-keyskel", "moving_figure")
    points = viewer.layers["mouse keypoints"]
    store = owner_of(points).store
    truth = viewer.layers["moving figure"].metadata["keyskel_ground_truth"]
    assert truth.shape == (100, 2, 12, 2)
    for i, t in enumerate(store):
        key_frames = np.flatnonzero(t.is_key.all(axis=1)) + t.start
        assert key_frames.tolist() == [*range(0, 100, 10), 99] and t.is_key.sum() == 11 * 12
        np.testing.assert_allclose(t.coords[key_frames - t.start], truth[key_frames, i])  # keys: the truth
        between = np.setdiff1d(np.arange(100), key_frames)
        err = np.linalg.norm(t.coords[between - t.start] - truth[between, i], axis=-1)
        assert np.isfinite(err).all() and 0 < err.mean() < 3.0  # interpolated: close, not the truth
    viewer.dims.set_current_step(0, 15)
    assert len(points.data) == 24 and not points.features["keyframe"].any()  # in-betweens in view


def test_sample_menu_entries_and_names(make_napari_viewer):

    viewer = make_napari_viewer()
    import npe2

    mf = npe2.PluginManager.instance().get_manifest("napari-keyskel")
    assert [s.display_name for s in mf.contributions.sample_data] == [
        "Moving figure",
        "Moving figure to annotate",
    ]
    # napari's own menu: File > Open Sample > Keyskel > Moving figure
    from napari._app_model import get_app_model
    from napari._app_model.constants import MenuId

    app = get_app_model()
    (sub,) = [
        it for it in app.menus.get_menu(MenuId.FILE_SAMPLES) if getattr(it, "title", "") == mf.display_name
    ]
    assert [it.command.title for it in app.menus.get_menu(sub.submenu)] == [
        "Moving figure",
        "Moving figure to annotate",
    ]
    assert mf.display_name == "Keyskel"
    viewer.open_sample("napari-keyskel", "moving_figure_unannotated")
    points = viewer.layers["mouse keypoints"]
    assert len(points.data) == 0 and viewer.layers["moving figure"].data.shape == (100, 256, 256)
