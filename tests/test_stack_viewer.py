"""Microscopy and DICOM stacks in a real napari viewer (run under xvfb-run).

Open both samples through the plugin's readers, check scale / axis order / values, key a skeleton
on slices 0, 10, 20, see the slices between fill in, save as V7 and COCO and reopen onto the
same voxels.
"""

from __future__ import annotations

import json
from pathlib import Path

import _stack_samples as S
import numpy as np
import pytest
import tifffile

from napari_keyskel import api
from napari_keyskel._napari.stack_readers import get_dicom_reader, get_tiff_reader, tiff_layer_data
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import FormatError

PLUGIN = "napari-keyskel"


def _units(layer) -> list[str]:
    return [str(u) for u in layer.units]


def _key_slices(points, poses: dict[int, np.ndarray], lead: tuple[float, ...] = ()) -> None:
    """Key every node on the key slices through the scripting API (store / voxel coordinates)."""
    for z, pose in poses.items():
        for k, node in enumerate(S.skeleton().nodes):
            api.set_node(points, frame=z, instance=1, node=node, coords=(*lead, *pose[k]))


def _view_slice(viewer, layer, axis: int, index: int) -> None:
    """Move the viewer to voxel ``index`` along ``axis`` of ``layer`` (world = translate + i*scale)."""
    world_axis = viewer.dims.ndim - layer.ndim + axis
    viewer.dims.set_point(world_axis, layer.translate[axis] + index * layer.scale[axis])


def _expected_midway(poses: dict[int, np.ndarray], z: int) -> np.ndarray:
    a, b = (0, 10) if z <= 10 else (10, 20)
    f = (z - a) / (b - a)
    return (1 - f) * poses[a] + f * poses[b]


# -- hooks (no viewer needed) ------------------------------------------------------------------------
def test_hooks_decline_other_paths(tmp_path: Path, data_dir: Path) -> None:
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n")
    assert get_tiff_reader(str(png)) is None
    assert get_tiff_reader(str(tmp_path)) is None
    assert get_dicom_reader(str(png)) is None
    assert get_dicom_reader(str(data_dir)) is None  # a folder of JSON files: not DICOM
    assert get_dicom_reader(str(data_dir / "darwin2_volume_dicom_slot_hippocampus.json")) is None
    assert get_tiff_reader([str(png), str(png)]) is None
    tif, _ = S.write_hyperstack(tmp_path)
    assert callable(get_tiff_reader(str(tif)))
    folder, _ = S.write_dicom_series(tmp_path / "ct", shape=(2, 8, 8))
    assert callable(get_dicom_reader(str(folder)))
    assert callable(get_dicom_reader(str(next(folder.glob("*.dcm")))))


def test_channels_split_or_kept(tmp_path: Path) -> None:
    data = np.random.default_rng(3).integers(0, 1000, (5, 2, 16, 12), dtype=np.uint16)
    path = tmp_path / "zc.ome.tif"
    tifffile.imwrite(
        path,
        data,
        ome=True,
        metadata={"axes": "ZCYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "PhysicalSizeZ": 2.0},
    )
    split = tiff_layer_data(path)
    assert [ly[1]["name"] for ly in split] == ["zc [ch0]", "zc [ch1]"]
    assert all(ly[1]["scale"] == [2.0, 0.5, 0.5] and ly[1]["axis_labels"] == ["z", "y", "x"] for ly in split)
    np.testing.assert_array_equal(np.asarray(split[1][0]), data[:, 1])
    lo, hi = split[0][1]["contrast_limits"]
    assert lo == data[2, 0].min() and hi == data[2, 0].max()  # from the middle plane only
    kept = tiff_layer_data(path, split_channels=False)
    assert len(kept) == 1 and kept[0][1]["axis_labels"] == ["z", "c", "y", "x"]
    assert kept[0][1]["scale"] == [2.0, 1.0, 0.5, 0.5]


# -- real viewer -------------------------------------------------------------------------------------
@pytest.mark.viewer
def test_broken_files_raise_format_error(make_napari_viewer, tmp_path: Path) -> None:
    viewer = make_napari_viewer()
    bad_tif = tmp_path / "bad.tif"
    bad_tif.write_bytes(b"II*\x00" + b"\x00" * 16)
    with pytest.raises(FormatError, match=r"bad\.tif"):
        viewer.open(bad_tif, plugin=PLUGIN)
    bad_dcm = tmp_path / "bad.dcm"
    bad_dcm.write_bytes(b"\x00" * 200)
    with pytest.raises(FormatError, match=r"bad\.dcm.*DICM"):
        viewer.open(bad_dcm, plugin=PLUGIN)
    assert len(viewer.layers) == 0


@pytest.mark.viewer
def test_dicom_series_keys_interpolate_and_round_trip(make_napari_viewer, tmp_path: Path) -> None:
    folder, expected = S.write_dicom_series(tmp_path / "ct")
    viewer = make_napari_viewer()
    (image,) = viewer.open(folder, plugin=PLUGIN)
    n, h, w = S.DICOM_SHAPE
    x0, y0 = S.DICOM_ORIGIN_XY
    np.testing.assert_allclose(image.scale, (S.DICOM_DZ, *S.DICOM_PIXEL))
    np.testing.assert_allclose(image.translate, (S.DICOM_Z0, y0, x0))
    assert tuple(image.axis_labels) == ("z", "y", "x")
    assert _units(image) == ["millimeter"] * 3
    assert type(image.data).__module__.startswith("dask")  # lazy
    assert image.data.shape == (n, h, w)
    np.testing.assert_array_equal(np.asarray(image.data[11]), expected[11])  # order and rescale
    (one,) = viewer.open(next(folder.glob("*.dcm")), plugin=PLUGIN)  # one file opens its series
    assert one.data.shape == (n, h, w)
    viewer.layers.remove(one)

    store = AnnotationStore(S.skeleton(), coord_ndim=2, frame_axis=0, n_frames=n, name="worm")
    points = api.add_skeleton_layer(viewer, store, image_layer=image)
    np.testing.assert_allclose(points.scale, image.scale)
    np.testing.assert_allclose(points.translate, image.translate)
    poses = S.key_poses(h, w)
    _key_slices(points, poses)

    live = api.get_store(points)
    t = live.track(1)
    assert (t.start, t.stop) == (0, n)  # as a stamp's: to the last slice, the last key held after it
    np.testing.assert_allclose(t.coords[21:], np.broadcast_to(t.coords[20], t.coords[21:].shape))
    for z in range(21):
        np.testing.assert_allclose(t.coords[z], _expected_midway(poses, z), atol=1e-9)
        assert t.is_key[z].all() == (z in S.KEY_SLICES)

    # in view: slice 5 shows the interpolated pose, on the image's voxels in world space
    _view_slice(viewer, image, 0, 5)
    shown = np.asarray(points.data)
    assert shown.shape == (3, 3)
    np.testing.assert_allclose(shown[:, 0], 5)
    np.testing.assert_allclose(shown[:, 1:], _expected_midway(poses, 5), atol=1e-9)
    for row in shown:
        np.testing.assert_allclose(points.data_to_world(row), image.data_to_world(row))
    voxel = np.array([5.0, 30.0, 20.0])
    world = image.data_to_world(voxel)
    np.testing.assert_allclose(world, (S.DICOM_Z0 + 5 * S.DICOM_DZ, y0 + 30 * 0.8, x0 + 20 * 0.6))
    np.testing.assert_allclose(points.world_to_data(world), voxel)

    for fmt in ("darwin", "coco"):
        files = api.save_layer(points, tmp_path / f"ct_{fmt}.json", format=fmt)
        doc = json.loads(files[0].read_text())
        if fmt == "darwin":  # the layer knows its image: a V7 volume of every slice, with its size
            (slot,) = doc["item"]["slots"]
            assert (slot["type"], slot["frame_count"], slot["width"], slot["height"]) == ("dicom", n, w, h)
        else:
            assert len(doc["images"]) == n
            assert {(im["width"], im["height"]) for im in doc["images"]} == {(w, h)}
        layers = api.open_annotations(viewer, files[0], skeleton=S.skeleton(), image_layer=image)
        assert len(layers) == 1
        np.testing.assert_allclose(layers[0].scale, image.scale)
        back = api.get_store(layers[0]).track(1)
        assert (back.start, back.stop) == (t.start, t.stop)
        np.testing.assert_allclose(back.coords, t.coords, atol=1e-9)


@pytest.mark.viewer
def test_hyperstack_keys_across_z_and_round_trip(make_napari_viewer, tmp_path: Path) -> None:
    path, data = S.write_hyperstack(tmp_path)
    viewer = make_napari_viewer()
    (image,) = viewer.open(path, plugin=PLUGIN)
    _, nz, h, w = S.HYPER_SHAPE
    np.testing.assert_allclose(
        image.scale, (S.HYPER_FINTERVAL, S.HYPER_SPACING, S.HYPER_PIXEL, S.HYPER_PIXEL)
    )
    assert tuple(image.axis_labels) == ("t", "z", "y", "x")
    assert _units(image) == ["second", "micrometer", "micrometer", "micrometer"]
    assert isinstance(image.data, np.memmap)
    np.testing.assert_array_equal(np.asarray(image.data[3, 17]), data[3, 17])  # t, z order kept
    assert image.metadata["keyskel_stack"]["axes"] == "TZYX"

    # (t, z, y, x) layer, frame axis z: keys on z = 0, 10, 20 of time point 2
    poses = S.key_poses(h, w)
    store4 = AnnotationStore(S.skeleton(), coord_ndim=3, frame_axis=1, n_frames=nz, name="worm 4d")
    points4 = api.add_skeleton_layer(viewer, store4, image_layer=image)
    np.testing.assert_allclose(points4.scale, image.scale)
    _key_slices(points4, poses, lead=(2.0,))
    _view_slice(viewer, image, 0, 2)
    _view_slice(viewer, image, 1, 15)
    shown = np.asarray(points4.data)
    assert shown.shape == (3, 4)
    np.testing.assert_allclose(shown[:, :2], [[2, 15]] * 3)
    np.testing.assert_allclose(shown[:, 2:], _expected_midway(poses, 15), atol=1e-9)

    # a z-stack annotation (2-D nodes, slices are frames) on the same image: files round trip
    store3 = AnnotationStore(S.skeleton(), coord_ndim=2, frame_axis=0, n_frames=nz, name="worm")
    points3 = api.add_skeleton_layer(viewer, store3, image_layer=image)
    np.testing.assert_allclose(points3.scale, image.scale[1:])
    _key_slices(points3, poses)
    t = api.get_store(points3).track(1)
    np.testing.assert_allclose(t.coords[7], _expected_midway(poses, 7), atol=1e-9)
    for fmt in ("darwin", "coco"):
        files = api.save_layer(points3, tmp_path / f"stack_{fmt}.json", format=fmt)
        (layer,) = api.open_annotations(viewer, files[0], skeleton=S.skeleton(), image_layer=image)
        np.testing.assert_allclose(layer.scale, image.scale[1:])
        np.testing.assert_allclose(api.get_store(layer).track(1).coords, t.coords, atol=1e-9)


@pytest.mark.viewer
def test_nifti_volume_opens_scaled_and_saves_a_v7_volume(make_napari_viewer, tmp_path: Path) -> None:
    import nibabel as nib

    from napari_keyskel._napari.stack_readers import get_nifti_reader

    vol = np.arange(30 * 20 * 24, dtype=np.int16).reshape(30, 20, 24)  # i, j, k
    aff = np.diag([0.7, 0.9, 3.0, 1.0])
    aff[:3, 3] = (5.0, -8.0, 12.0)
    path = tmp_path / "brain.nii.gz"
    nib.save(nib.Nifti1Image(vol, aff), path)
    assert callable(get_nifti_reader(str(path))) and get_nifti_reader(str(tmp_path / "a.tif")) is None
    viewer = make_napari_viewer()
    (image,) = viewer.open(path, plugin=PLUGIN)
    assert image.name == "brain" and tuple(image.axis_labels) == ("z", "y", "x")
    np.testing.assert_allclose(image.scale, (3.0, 0.9, 0.7))
    np.testing.assert_allclose(image.translate, (12.0, -8.0, 5.0))
    np.testing.assert_array_equal(np.asarray(image.data[5]), vol[:, :, 5].T)
    store = AnnotationStore(S.skeleton(), coord_ndim=2, frame_axis=0, n_frames=24, name="worm")
    points = api.add_skeleton_layer(viewer, store, image_layer=image)
    _key_slices(points, S.key_poses(20, 30))
    out = api.save_layer(points, tmp_path / "brain.json", format="darwin")[0]  # and its skeleton file
    (slot,) = json.loads(out.read_text())["item"]["slots"]
    assert (slot["type"], slot["frame_count"], slot["width"], slot["height"]) == ("dicom", 24, 30, 20)
