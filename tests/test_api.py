"""The scripting API (napari_keyskel.api) with a real viewer."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import napari_keyskel
from napari_keyskel import KeyskelError, api
from napari_keyskel.core.presets import get_preset
from napari_keyskel.samples.synthetic import moving_figure

pytestmark = pytest.mark.viewer


def test_api_import_is_light_and_reexported():
    code = (
        "import sys, napari_keyskel, napari_keyskel.api\n"
        "f = napari_keyskel.add_skeleton_layer\n"
        "assert f is napari_keyskel.api.add_skeleton_layer\n"
        "bad = [m for m in ('napari', 'qtpy', 'vispy') if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    with pytest.raises(AttributeError):
        napari_keyskel.not_an_api_name  # noqa: B018


def test_add_skeleton_layer_from_preset_shares_image_transform(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((8, 40, 50), np.uint8), scale=(1.0, 0.5, 0.25), translate=(0, 3, 4))
    points = api.add_skeleton_layer(viewer, "hand21", image_layer=image)
    store = api.get_store(points)
    assert store.skeleton == get_preset("hand21")
    assert (store.n_frames, store.frame_axis, store.coord_ndim) == (8, 0, 2)
    np.testing.assert_allclose(points.scale, image.scale)
    np.testing.assert_allclose(points.translate, image.translate)
    edges = api.get_controller(points).edges
    np.testing.assert_allclose(edges.scale, image.scale)
    # the world position of a new key lines up with the image pixel under it
    api.set_node(points, 2, 1, "wrist", (10.0, 20.0))
    viewer.dims.set_current_step(0, 2)
    np.testing.assert_allclose(points.data_to_world(points.data[0]), image.data_to_world([2, 10, 20]))
    assert points.features.iloc[0].to_dict() == {
        "instance": 1,
        "node": "wrist",
        "visibility": 2,
        "keyframe": True,
    }
    with pytest.raises(KeyskelError):
        api.add_skeleton_layer(viewer, 42)


def test_skeleton_file_and_2d_image(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((40, 50), np.uint8))
    path = get_preset("coco_person").save(tmp_path / "person.skeleton.json")
    points = api.add_skeleton_layer(viewer, path, name="people", image_layer=image)
    store = api.get_store(points)
    assert points.name == "people" and store.frame_axis is None and points.ndim == 2
    api.set_node(points, 0, 3, "nose", (5.0, 6.0))
    np.testing.assert_allclose(points.data, [[5.0, 6.0]])
    assert points.features["instance"].tolist() == [3]


def test_interpolate_save_open_roundtrip(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    video, truth = moving_figure(n_frames=21, shape=(64, 64))
    image = viewer.add_image(video)
    sparse = truth.copy()
    for t in sparse:  # keep every 10th frame as keys
        t.is_key[:] = False
        t.is_key[::10] = True
    points = api.add_skeleton_layer(viewer, sparse, image_layer=image, name="mice")
    assert api.get_store(points) is sparse
    changes = api.interpolate(points, "cubic")
    assert {c.track_id for c in changes} == {1, 2}
    t = sparse.tracks[1]
    assert np.isfinite(t.coords[5]).all() and not t.is_key[5].any()
    err = np.abs(t.coords[1:10] - truth.tracks[1].coords[1:10]).max()
    assert 0 < err < 10
    viewer.dims.set_current_step(0, 5)
    np.testing.assert_allclose(points.data[:, 1:], sparse.frame_points(5).coords)
    for fmt in ("darwin", "coco"):
        out = tmp_path / f"mice_{fmt}.json"
        written = api.save_layer(points, out, format=fmt)
        assert out in written
        (layer,) = api.open_annotations(viewer, out, image_layer=image)
        back = api.get_store(layer)
        np.testing.assert_allclose(back.to_dense()["coords"], sparse.to_dense()["coords"], atol=1e-6)
        np.testing.assert_array_equal(back.to_dense()["is_key"], sparse.to_dense()["is_key"])
        np.testing.assert_allclose(layer.data, points.data)
    ds = api.to_dataset([points])
    # the layer's name labels the layer; the class written is the skeleton's ("mouse")
    assert points.name == "mice" and ds.stores[0].name == "mouse" == sparse.skeleton.name
    assert ds.stores[0].counts() == sparse.counts()


def test_api_errors_leave_things_as_they_were(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    with pytest.raises(KeyskelError, match="No such file"):
        api.open_annotations(viewer, tmp_path / "nothing.json")
    other = tmp_path / "other.json"
    other.write_text('{"hello": [1, 2]}')
    with pytest.raises(KeyskelError, match="neither"):
        api.open_annotations(viewer, other)
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []')
    with pytest.raises(KeyskelError, match=r"bad\.json"):
        api.open_annotations(viewer, bad)
    assert len(viewer.layers) == 0
    plain = viewer.add_points(np.zeros((2, 2)))
    with pytest.raises(KeyskelError, match="not a keyskel layer"):
        api.get_store(plain)
    with pytest.raises(KeyskelError, match="'node'"):
        api.save_layer(plain, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
