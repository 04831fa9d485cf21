"""File > Open and File > Save Layers through napari with the plugin's reader and writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from napari.utils.notifications import notification_manager
from npe2 import PluginManager

from napari_keyskel import api
from napari_keyskel.formats import read
from napari_keyskel.samples.synthetic import moving_figure

pytestmark = pytest.mark.viewer

DATA = Path(__file__).parent / "data"
WITH_KEYPOINTS = [
    "darwin2_video_skeleton_keypoint_mini_uct.json",
    "darwin2_video_skeleton_subtypes_properties_mini_uct.json",
    "darwin2_image_skeleton_image_1.json",
    "darwin2_image_keypoint_image_1.json",
    "coco_keypoints_sleapio_visibility_ternary.json",
    "coco_keypoint_results_fake100.json",
]


def keyskel_points(viewer) -> list:
    return [ly for ly in viewer.layers if "keyskel" in ly.metadata]


def errors_since(n: int) -> list[str]:
    return [str(r.message) for r in notification_manager.records[n:] if "keyskel" in str(r.message)]


def dense_equal(a, b, keys: str = "node") -> None:
    """Two stores hold the same annotations (same frames, tracks in order, nodes).

    ``keys="frame"`` compares keyframes per frame and instance only: V7 Darwin marks whole frames
    as keyframes, so a frame with some keyed nodes comes back with all its nodes keyed.
    """
    da_, db = a.to_dense(), b.to_dense()
    np.testing.assert_array_equal(da_["frames"], db["frames"])
    np.testing.assert_allclose(da_["coords"], db["coords"], atol=1e-6)  # NaN == NaN
    np.testing.assert_array_equal(da_["visibility"], db["visibility"])
    if keys == "node":
        np.testing.assert_array_equal(da_["is_key"], db["is_key"])
    else:
        np.testing.assert_array_equal(da_["is_key"].any(axis=-1), db["is_key"].any(axis=-1))


@pytest.mark.parametrize("name", WITH_KEYPOINTS)
def test_open_every_sample(make_napari_viewer, name):
    path = DATA / name
    dataset = read(path)
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-keyskel")
    layers = keyskel_points(viewer)
    assert [ly.name for ly in layers] == [s.name for s in dataset.stores]
    for ly, store in zip(layers, dataset.stores, strict=True):
        ctrl = api.get_controller(ly)
        assert ctrl is not None and ctrl.edges in viewer.layers and ctrl.edges.name == f"{ly.name} edges"
        assert ly.ndim == store.layer_ndim
        dense_equal(ctrl.store, store)
        # step to a frame with points: the layer holds exactly that frame's points
        frames = np.flatnonzero(np.isfinite(store.to_dense()["coords"][..., 0]).any(axis=(1, 2)))
        frame = int(store.to_dense()["frames"][frames[-1]])
        if store.frame_axis is not None and viewer.dims.nsteps[0] > frame:
            viewer.dims.set_current_step(0, frame)
        fp = store.frame_points(ctrl.frame)
        assert len(ly.data) == len(fp) > 0
        np.testing.assert_allclose(ly.data[:, -store.coord_ndim :], fp.coords)
        assert ly.features["instance"].tolist() == fp.track_ids.tolist()
        assert ly.features["node"].tolist() == [store.skeleton.nodes[k] for k in fp.nodes]
        assert ly.features["visibility"].tolist() == fp.visibility.tolist()
        n_edges = sum(
            np.isfinite(store.get(ctrl.frame, t)[0][store.skeleton.edge_array()][..., 0]).all(axis=1).sum()
            for t in store.track_ids
        )
        assert int((ctrl.edge_instances >= 0).sum()) == n_edges
        assert ly.metadata["keyskel"]["dataset"]["frames"] == dataset.frames


def test_darwin_video_edit_save_reopen(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.open(DATA / "darwin2_video_skeleton_keypoint_mini_uct.json", plugin="napari-keyskel")
    skel = keyskel_points(viewer)[0]
    ctrl = api.get_controller(skel)
    viewer.dims.set_current_step(0, 6)  # the interpolated frame between keys 5 and 7
    assert len(skel.data) and not skel.features["keyframe"].any()
    skel.data[0, 1:] += (2.0, 3.0)  # a drag, as napari emits it
    skel.events.data(value=skel.data, action="changed", data_indices=(0,), vertex_indices=((),))
    assert skel.features["keyframe"][0]
    out = tmp_path / "saved.json"
    viewer.layers.selection = set(keyskel_points(viewer))
    written = viewer.layers.save(str(out), selected=True, plugin="napari-keyskel")
    assert str(out) in written and out.exists()
    n = len(viewer.layers)
    viewer.open(out, plugin="napari-keyskel")
    again = keyskel_points(viewer)[-2:]
    assert len(viewer.layers) == n + 4
    for old, new in zip(keyskel_points(viewer)[:2], again, strict=True):
        dense_equal(api.get_store(old), api.get_store(new), keys="frame")
    tid = int(skel.features["instance"][0])
    k = api.get_store(skel).skeleton.index(skel.features["node"][0])
    assert api.get_store(again[0]).get(6, tid)[2][k]  # the new key survived the round trip
    viewer.dims.set_current_step(0, 6)
    np.testing.assert_allclose(again[0].data, skel.data)
    assert again[0].features["node"].tolist() == skel.features["node"].tolist()
    assert ctrl.store is api.get_store(skel)


def test_save_both_formats_from_sample_and_reopen(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    video, store = moving_figure(n_frames=12, shape=(64, 64))
    image = viewer.add_image(video, name="video")
    points = api.add_skeleton_layer(viewer, store, image_layer=image, name="mice")
    # darwin: the first compatible writer of the plugin
    darwin = tmp_path / "mice_darwin.json"
    viewer.layers.selection = {points}
    assert viewer.layers.save(str(darwin), selected=True, plugin="napari-keyskel")
    # coco: its own writer contribution (what File > Save Layers runs for "COCO keypoints")
    writers = PluginManager.instance().get_manifest("napari-keyskel").contributions.writers
    assert [w.display_name for w in writers][:2] == ["V7 Darwin JSON", "COCO keypoints"]  # then sleap-io ones
    coco = tmp_path / "mice_coco.json"
    written = writers[1].exec(args=(str(coco), [points.as_layer_data_tuple()]))
    assert str(coco) in written
    for path, keys in ((darwin, "node"), (coco, "node")):
        (layer,) = viewer.open(path, plugin="napari-keyskel")
        assert "keyskel" in layer.metadata
        dense_equal(api.get_store(layer), store, keys=keys)
        viewer.dims.set_current_step(0, 4)
        np.testing.assert_allclose(layer.data, points.data)
        assert layer.features.equals(points.features)


def test_plain_points_layer_save(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    data = np.array([[0, 10, 10], [0, 20, 20], [2, 11, 12], [2, 21, 22]], float)
    plain = viewer.add_points(data, features={"node": ["a", "b", "a", "b"], "instance": [1, 1, 1, 1]})
    out = tmp_path / "plain.json"
    assert viewer.layers.save(str(out), plugin="napari-keyskel")
    (layer,) = viewer.open(out, plugin="napari-keyskel")
    store = api.get_store(layer)
    assert store.skeleton.nodes == ("a", "b")
    np.testing.assert_allclose(store.get(2, 1)[0], [[11, 12], [21, 22]])
    # a plain layer without node names cannot be saved: a notification, no file
    viewer.layers.remove(layer)
    bare = viewer.add_points(data, name="bare")
    viewer.layers.selection = {bare}
    n = len(notification_manager.records)
    bad = tmp_path / "bare.json"
    with pytest.warns(UserWarning, match="did not return any written paths"):
        assert viewer.layers.save(str(bad), selected=True, plugin="napari-keyskel") == []
    assert not bad.exists()
    (msg,) = errors_since(n)
    assert "bare" in msg and "'node'" in msg
    assert plain.data.shape == (4, 3)


def test_failed_save_leaves_existing_file(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    _, store = moving_figure(n_frames=5, shape=(32, 32), render=False)
    points = api.add_skeleton_layer(viewer, store, name="mice")
    target = tmp_path / "exists.json"
    target.write_text("previous content")
    viewer.layers.selection = {points}
    n = len(notification_manager.records)
    under_a_file = target / "x.json"  # its parent is a file: cannot be written
    with pytest.warns(UserWarning, match="did not return any written paths"):
        assert viewer.layers.save(str(under_a_file), selected=True, plugin="napari-keyskel") == []
    (msg,) = errors_since(n)
    assert "nothing saved" in msg and "x.json" in msg
    assert target.read_text() == "previous content"
    with pytest.raises(Exception, match="unknown format"):
        api.save_layer(points, target, format="csv")
    assert target.read_text() == "previous content"


def test_bad_files_notify_and_add_nothing(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": "2.0", "item": {"name": "x",\n  "slots": [}')
    n_layers, n = len(viewer.layers), len(notification_manager.records)
    viewer.open(broken, plugin="napari-keyskel")
    assert len(viewer.layers) == n_layers
    (msg,) = errors_since(n)
    assert "broken.json" in msg and "line" in msg
    # a Darwin file without skeletons or keypoints: notified, nothing added
    n = len(notification_manager.records)
    viewer.open(DATA / "darwin2_multislot_dicom_item.json", plugin="napari-keyskel")
    assert len(viewer.layers) == n_layers and "no keypoints" in errors_since(n)[0]
    # JSON in neither format: the reader declines (napari says no reader took it)
    with pytest.raises(ValueError, match="refused"):
        viewer.open(DATA / "darwin_v7_metadata_with_skeleton_class.json", plugin="napari-keyskel")
    not_json = tmp_path / "image.txt"
    not_json.write_text("hello")
    with pytest.raises(ValueError):
        viewer.open(not_json, plugin="napari-keyskel")
    assert len(viewer.layers) == n_layers


def test_darwin_folder_and_large_file_sniffing(make_napari_viewer, tmp_path, monkeypatch):
    import shutil

    from napari_keyskel._napari import io

    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(DATA / "darwin2_video_skeleton_keypoint_mini_uct.json", folder / "a.json")
    assert io.get_reader(str(folder)) is not None
    viewer = make_napari_viewer()
    viewer.open(folder, plugin="napari-keyskel")
    assert [ly.name for ly in keyskel_points(viewer)] == ["test_skeleton_basic", "test_keypoint_basic"]
    # files larger than the sniffing window are recognised from their first bytes, parsed once
    monkeypatch.setattr(io, "_SNIFF_BYTES", 64)
    assert io.get_reader(str(DATA / "coco_keypoints_sleapio_visibility_ternary.json")) is not None
    other = tmp_path / "other.json"
    other.write_text('{"hello": "' + "x" * 200 + '"}')
    assert io.get_reader(str(other)) is None
    assert io.get_reader([str(other), str(other)]) is None


def test_reader_warnings_become_notifications(make_napari_viewer):
    viewer = make_napari_viewer()
    n = len(notification_manager.records)
    viewer.open(DATA / "coco_crowdpose_like_skeleton_past_k.json", plugin="napari-keyskel")
    assert [ly.name for ly in keyskel_points(viewer)] == ["person"]
    msgs = errors_since(n)
    dropped = [m for m in msgs if "points past the 14 nodes" in m]
    assert len(dropped) == 3 and all("coco_crowdpose_like_skeleton_past_k.json" in m for m in dropped)
    levels = {r.severity for r in notification_manager.records[n:] if "points past" in str(r.message)}
    assert {str(s).lower() for s in levels} == {"warning"}


def test_saving_several_items_as_v7_writes_an_export_folder(make_napari_viewer, tmp_path):
    import shutil

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(DATA / "darwin2_image_skeleton_image_1.json", src / "a.json")
    doc = (DATA / "darwin2_image_skeleton_image_1.json").read_text().replace('"image_1.jpg"', '"image_2.jpg"')
    (src / "b.json").write_text(doc)
    viewer = make_napari_viewer()
    viewer.open(src, plugin="napari-keyskel")
    layers = keyskel_points(viewer)
    viewer.layers.selection = set(layers)
    n = len(notification_manager.records)
    target = tmp_path / "out" / "mice.json"
    target.parent.mkdir()
    written = viewer.layers.save(str(target), selected=True, plugin="napari-keyskel")
    folder = tmp_path / "out" / "mice"
    assert sorted(Path(p).name for p in written if p.endswith(".json") and "skeleton" not in p) == [
        "a.json",
        "b.json",
    ]
    assert all(Path(p).parent == folder for p in written)
    (msg,) = [m for m in errors_since(n) if "export folder" in m]
    assert str(folder) in msg and "2 items" in msg
    back = read(folder)
    assert [fr["item"] for fr in back.frames] == ["image_1.jpg", "image_2.jpg"]
