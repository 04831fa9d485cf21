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

    dock.show_names.setChecked(True)
    assert points.text.visible

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
