"""One rule from every door: an instance made by ``api.set_node`` lives like one stamped with ``T``."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from napari_keyskel import api
from napari_keyskel.core import keyframes as kf
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import StoreError

pytestmark = pytest.mark.viewer

SK = Skeleton(["head", "tail"], [(0, 1)], name="toy")


def _two_layers(viewer):
    image = viewer.add_image(np.zeros((30, 64, 64), np.uint8), name="video")
    by_api = api.add_skeleton_layer(viewer, SK, name="by api", image_layer=image)
    by_key = api.add_skeleton_layer(viewer, SK, name="by key", image_layer=image)
    return by_api, by_key


def _stamp_t(viewer, layer, y: float, x: float) -> None:
    viewer.layers.selection.active = layer
    viewer.cursor.position = (viewer.dims.current_step[0], y, x)
    QTest.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_T)  # napari's keymap


def test_set_node_new_instance_lives_and_holds_like_a_stamp(make_napari_viewer):
    viewer = make_napari_viewer()
    by_api, by_key = _two_layers(viewer)
    viewer.dims.set_current_step(0, 0)
    api.set_node(by_api, 0, 1, "head", [10.0, 20.0])
    api.set_node(by_api, 0, 1, "tail", [14.0, 20.0])
    _stamp_t(viewer, by_key, 12, 20)
    a, k = api.get_store(by_api).tracks[1], api.get_store(by_key).tracks[1]
    assert (a.start, a.stop) == (k.start, k.stop) == (0, 30)  # to the end of the video, both
    # frame 10, after the only key at frame 0: both show the held pose (interpolated, not keys)
    viewer.dims.set_current_step(0, 10)
    for layer, track in ((by_api, a), (by_key, k)):
        assert len(layer.data) == 2, layer.name
        np.testing.assert_allclose(np.asarray(layer.data)[:, 1:], track.coords[0])
        assert not track.is_key[10].any() and np.isfinite(track.coords[10]).all()


def test_set_node_follows_the_layers_set_lifespan(make_napari_viewer):
    viewer = make_napari_viewer()
    by_api, by_key = _two_layers(viewer)
    for layer in (by_api, by_key):
        api.get_controller(layer).set_new_instance_frames(5)
    viewer.dims.set_current_step(0, 3)
    api.set_node(by_api, 3, 7, "head", [10.0, 20.0])
    _stamp_t(viewer, by_key, 12, 20)
    a, k = api.get_store(by_api).tracks[7], api.get_store(by_key).tracks[1]
    assert (a.start, a.stop) == (k.start, k.stop) == (3, 8)


def test_start_instance_rule():
    store = AnnotationStore(SK, coord_ndim=2, frame_axis=0, n_frames=12)
    assert (store_t := kf.start_instance(store, 4)).stop == 12 and store_t.start == 4
    assert kf.start_instance(store, 10, lives=5).stop == 12  # never past the video
    assert kf.start_instance(store, 0, track_id=9, lives=2).track_id == 9
    open_ended = AnnotationStore(SK, coord_ndim=2, frame_axis=0)
    assert kf.start_instance(open_ended, 3).stop == 4  # no known end: one frame
    with pytest.raises(StoreError, match="at least one frame"):
        kf.start_instance(store, 0, lives=0)
    with pytest.raises(StoreError, match="out of range"):
        kf.start_instance(store, 12)
