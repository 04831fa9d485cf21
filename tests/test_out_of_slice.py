"""A 3D skeleton on a 2D slice: its other slices faded by distance; napari's 3D view and drag."""

from __future__ import annotations

import numpy as np
import pytest
from _events import mouse as _mouse

from napari_keyskel import api
from napari_keyskel._napari.registry import owner_of
from napari_keyskel._qt.multiview_dock import MultiViewPanel
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore

pytestmark = pytest.mark.viewer


def _volume(viewer, store):
    image = viewer.add_image(np.zeros((30, 64, 64), np.uint8), name="volume")
    points = api.add_skeleton_layer(viewer, store, image_layer=image)
    viewer.layers.selection.active = points
    return points, owner_of(points)


def test_other_slices_fade_by_distance_and_3d_view_drags(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    sk = Skeleton(["head", "mid", "tail"], [(0, 1), (1, 2)], name="worm")
    store = AnnotationStore(sk, coord_ndim=3, frame_axis=None)  # a skeleton living in the volume
    store.add_track(1)
    store.set_points(0, 1, [[5.0, 20, 20], [10, 30, 30], [15, 40, 40]])
    points, ctrl = _volume(viewer, store)
    viewer.dims.set_point(0, 10)
    assert len(points._view_size) == 1  # napari's thin slice: only the node on z = 10
    panel = MultiViewPanel(viewer)
    qtbot.addWidget(panel)
    panel.out_of_slice.setChecked(True)
    assert "10 slices" in panel.status.text()
    assert viewer.dims.margin_left[0] == viewer.dims.margin_right[0] == 10.0
    assert points.projection_mode == "rescale_linear" and ctrl.edges.projection_mode == "fade"
    sizes = np.sort(points._view_size)
    np.testing.assert_allclose(sizes, [3.0, 3.0, 6.0])  # 5 slices away of 10: half size
    alphas = np.sort(ctrl.edges._view_alphas)
    np.testing.assert_allclose(alphas, [0.5, 1.0])  # the edge from z=5 fades, from z=10 not
    viewer.dims.set_point(0, 14)
    np.testing.assert_allclose(np.sort(points._view_size), [0.6, 3.6, 5.4])  # follows the slice
    # napari's 3D view draws nodes and edges in 3D, and a select-mode drag moves a node
    viewer.dims.ndisplay = 3
    assert points._view_data.shape == (3, 3) and ctrl.edges._view_data.shape[-1] == 3
    points.mode = "select"
    look = (1.0, 0.0, 0.0)
    _mouse(points, "mouse_press", (10, 30, 30), (0, 1, 2), look)
    for y in (32, 34, 36):
        _mouse(points, "mouse_move", (10, y, 30), (0, 1, 2), look)
    _mouse(points, "mouse_release", (10, 36, 30), (0, 1, 2), look)
    np.testing.assert_allclose(store.tracks[1].coords[0, 1], [10, 36, 30])
    assert store.tracks[1].is_key[0, 1]
    viewer.dims.ndisplay = 2
    panel.out_of_slice.setChecked(False)
    assert viewer.dims.margin_left[0] == 0.0 and points.projection_mode == "all"


def test_per_time_point_volume_and_2d_refusal(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    sk = Skeleton(["a", "b"], [(0, 1)], name="pair")
    store = AnnotationStore(sk, coord_ndim=3, frame_axis=0, n_frames=3)  # (t, z, y, x)
    store.add_track(1)
    store.set_points(0, 1, [[2.0, 10, 10], [8, 20, 20]])
    image = viewer.add_image(np.zeros((3, 12, 32, 32), np.uint8), name="tzyx")
    points = api.add_skeleton_layer(viewer, store, image_layer=image)
    viewer.layers.selection.active = points
    viewer.dims.set_current_step(0, 0)
    viewer.dims.set_current_step(1, 2)
    panel = MultiViewPanel(viewer)
    qtbot.addWidget(panel)
    panel.out_of_slice.setChecked(True)
    assert viewer.dims.margin_left[:2] == (0.0, 6.0)  # z only, not time
    np.testing.assert_allclose(np.sort(points._view_size), [0.0, 6.0])
    flat_store = AnnotationStore(Skeleton(["x"], [], name="flat"), coord_ndim=2, frame_axis=0, n_frames=3)
    flat = api.add_skeleton_layer(viewer, flat_store)
    viewer.layers.selection.active = flat
    panel.out_of_slice.setChecked(False)
    panel.out_of_slice.setChecked(True)
    assert "2D nodes" in panel.status.text() and not panel.out_of_slice.isChecked()
