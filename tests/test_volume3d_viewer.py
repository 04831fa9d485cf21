"""napari File > Save of a 3D keyskel layer over a volume writes V7 / COCO; File > Open reads it back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from npe2 import PluginManager
from test_volume3d import assert_same_stores, volume

from napari_keyskel import api

pytestmark = pytest.mark.viewer


def test_save_3d_layer_over_volume_and_reopen(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((12, 32, 40), np.uint8), name="scan")
    store = volume().stores[0]
    original = store.copy()
    points = api.add_skeleton_layer(viewer, store, image_layer=image, name="mouse")
    assert points.ndim == 3
    darwin = tmp_path / "scan_v7.json"
    viewer.layers.selection = {points}
    assert viewer.layers.save(str(darwin), selected=True, plugin="napari-keyskel")
    (slot,) = json.loads(darwin.read_text())["item"]["slots"]
    assert (slot["type"], slot["frame_count"], slot["width"], slot["height"]) == ("dicom", 12, 40, 32)
    writers = PluginManager.instance().get_manifest("napari-keyskel").contributions.writers
    coco = tmp_path / "scan_coco.json"
    assert str(coco) in writers[1].exec(args=(str(coco), [points.as_layer_data_tuple()]))
    assert len(json.loads(coco.read_text())["images"]) == 12  # one image per slice of the volume
    for path in (darwin, coco):
        (layer,) = viewer.open(path, plugin="napari-keyskel")
        assert "keyskel" in layer.metadata and layer.ndim == 3
        assert_same_stores(original, api.get_store(layer))
        np.testing.assert_array_equal(np.sort(layer.data, axis=0), np.sort(points.data, axis=0))
