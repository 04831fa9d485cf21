"""A volume item of a dataset (a TIFF stack, a NIfTI file) opens with its image, below its
annotations, through the stack readers: lazily, with its voxel size; its slices are the frames."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _media_samples import make_video
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.dataset import open_dataset

pytestmark = pytest.mark.viewer

MOUSE = Skeleton(["nose", "tail"], [(0, 1)], name="mouse")


def folder_with_a_stack(root: Path) -> Path:
    import tifffile

    root.mkdir(parents=True)
    planes = np.zeros((6, 40, 56), np.uint16)
    for z in range(6):
        planes[z, 5 + 4 * z : 15 + 4 * z, 10:30] = 1000 + 500 * z  # a blob moving down, slice by slice
    tifffile.imwrite(
        root / "cells.tif",
        planes,
        imagej=True,
        resolution=(1 / 0.5, 1 / 0.5),
        metadata={"spacing": 2.0, "unit": "um", "axes": "ZYX"},
    )
    make_video(root / "clip.mp4", 20, size=(96, 64), gop=10)
    MOUSE.save(root / "mouse.skeleton.json")
    return root


@pytest.fixture
def env(make_napari_viewer):
    from napari_keyskel._qt.dataset_dock import DatasetDock

    viewer = make_napari_viewer(show=True)
    dock = DatasetDock(viewer)
    viewer.window.add_dock_widget(dock, name="Keyskel dataset", area="right")
    return SimpleNamespace(viewer=viewer, dock=dock, canvas=viewer.window._qt_viewer.canvas.native)


def posed(store) -> list[int]:
    return sorted({t.start + int(r) for t in store for r in np.flatnonzero(t.is_key.any(axis=1))})


def test_a_tiff_stack_item_opens_with_its_image_below_the_annotations(env, tmp_path):
    root = folder_with_a_stack(tmp_path / "cells")
    dock, viewer = env.dock, env.viewer
    dock.open_dataset(root)
    ds = dock.dataset
    assert [it.name for it in ds] == ["cells.tif", "clip.mp4"]
    session = dock.session
    assert [ly.name for ly in viewer.layers] == ["cells.tif", "mouse", "mouse edges"]
    image = viewer.layers["cells.tif"]
    assert image is session.media_layer and image.data.shape == (6, 40, 56)
    assert np.allclose(image.scale, (2.0, 0.5, 0.5))  # the voxel size, from the file
    assert image.metadata["keyskel_stack"]["format"] == "imagej"  # (the stack reader's own layer)
    assert ds.items[0].kind == "volume" and ds.items[0].n_frames == 6
    points = session.points_layers[0]
    assert np.allclose(points.scale, image.scale) and viewer.dims.nsteps[0] == 6
    store = session.stores()[0]
    assert store.n_frames == 6 and store.frame_axis == 0
    viewer.layers.selection.active = points
    viewer.dims.set_current_step(0, 3)
    viewer.cursor.position = (3 * 2.0, 20 * 0.5, 28 * 0.5)  # world coordinates: the voxel size
    QTest.keyClick(env.canvas, Qt.Key.Key_T)  # the skeleton stamped on slice 3
    assert posed(session.stores()[0]) == [3]

    QTest.keyClick(env.canvas, Qt.Key.Key_PageDown)  # the volume saved, the video shown
    assert [ly.name for ly in viewer.layers] == ["clip.mp4", "mouse", "mouse edges"]
    assert np.allclose(viewer.layers["clip.mp4"].scale, 1) and np.allclose(session.points_layers[0].scale, 1)
    QTest.keyClick(env.canvas, Qt.Key.Key_PageUp)  # and back: the volume again, with its key
    assert [ly.name for ly in viewer.layers] == ["cells.tif", "mouse", "mouse edges"]
    assert posed(session.stores()[0]) == [3] and np.allclose(session.points_layers[0].scale, (2.0, 0.5, 0.5))
    session.close()
    again = open_dataset(root)
    assert posed(again.annotations(0).stores[0]) == [3]
    frames = again.annotations(0).frames
    assert len(frames) == 6 and frames[0]["width"] == 56 and frames[0]["height"] == 40


def test_a_nifti_volume_item_opens_with_its_image(env, tmp_path):
    nib = pytest.importorskip("nibabel")
    root = tmp_path / "scans"
    root.mkdir()
    vol = np.zeros((24, 28, 5), np.int16)  # NIfTI's (x, y, z)
    vol[8:16, 10:20, :] = 300
    nib.save(nib.Nifti1Image(vol, np.diag([0.8, 0.8, 3.0, 1.0])), root / "head.nii.gz")
    MOUSE.save(root / "mouse.skeleton.json")
    dock, viewer = env.dock, env.viewer
    dock.open_dataset(root)
    assert dock.dataset.items[0].kind == "volume"
    image = dock.session.media_layer
    assert image is not None and image.name == "head.nii.gz" and image.data.ndim == 3
    names = [ly.name for ly in viewer.layers]
    assert names.index("head.nii.gz") < names.index("mouse")
    assert dock.session.stores()[0].n_frames == image.data.shape[0]
