"""Multi-view: views from stores and from a multi-slot V7 item, 3D stores, CSV, `keyskel triangulate`."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from napari_keyskel import formats
from napari_keyskel.cli.main import main
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import FormatError, KeyskelError
from napari_keyskel.multiview.calibration import write_calibration
from napari_keyskel.multiview.triangulate import project
from napari_keyskel.multiview.views import (
    proposals_table,
    read_points_csv,
    store_from_points_csv,
    triangulate_views,
    views_from_dataset,
    views_from_stores,
    write_points_csv,
)
from napari_keyskel.samples.rig import rig_skeleton, synthetic_rig, synthetic_trajectories

T, I = 12, 2  # noqa: E741
HIDDEN = (2, 5, 1, 3)  # view 2 (camC) lacks node 3 of track 2 on frame 5


@pytest.fixture(scope="module")
def scene():
    cal = synthetic_rig(3)
    truth = synthetic_trajectories(T, I, seed=2)
    clean = project(cal, truth)
    noisy = clean + np.random.default_rng(5).normal(0, 0.5, clean.shape)
    sk = rig_skeleton()
    stores = []
    for v in range(3):
        s = AnnotationStore(sk, 2, 0, n_frames=T)
        for i in range(I):
            s.add_track(i + 1, start=0, stop=T)
            for f in range(T):
                nodes = [k for k in range(sk.n_nodes) if (v, f, i, k) != HIDDEN]
                s.set_points(f, i + 1, noisy[v, f, i, nodes][:, ::-1], nodes=nodes)
        stores.append(s)
    return cal, truth, clean, stores


def test_views_triangulate_to_a_3d_store(scene):
    cal, truth, clean, stores = scene
    mv = views_from_stores(cal.names, stores)
    res = triangulate_views(mv, cal)
    s3 = res.store
    assert (s3.coord_ndim, s3.frame_axis, s3.track_ids) == (3, 0, [1, 2])
    zyx = np.stack([s3.tracks[i + 1].coords for i in range(I)], axis=1)  # (T, I, K, 3)
    np.testing.assert_allclose(zyx[..., ::-1], truth, atol=3.0)  # mm, noise 0.5 px at ~600 mm
    assert s3.tracks[1].is_key.all()
    tri = res.triangulation
    assert np.nanmean(tri.errors) <= 1.0
    prop = proposals_table(res, 2)
    assert len(prop["frame"]) == 1
    assert (prop["frame"][0], prop["track"][0], prop["node"][0]) == (5, 2, 3)
    v, f, i, k = HIDDEN
    assert np.linalg.norm(prop["yx"][0][::-1] - clean[v, f, i, k]) <= 2.0
    assert proposals_table(res, 0)["frame"].size == 0


def test_views_are_matched_to_cameras_by_name(scene):
    cal, _, _, stores = scene
    names = cal.names
    mv = views_from_stores([names[2], names[0], names[1]], [stores[2], stores[0], stores[1]])
    res = triangulate_views(mv, cal)
    ref = triangulate_views(views_from_stores(names, stores), cal)
    np.testing.assert_allclose(res.store.tracks[1].coords, ref.store.tracks[1].coords, atol=1e-6)
    with pytest.raises(KeyskelError, match="3 cameras"):
        triangulate_views(views_from_stores(["x", "y"], stores[:2]), cal)


def _multi_slot_file(cal, stores, path):
    """One V7 item with a slot per camera; one animal's annotations share V7's instance_id."""
    import json

    frames, merged = [], AnnotationStore(rig_skeleton(), 2, 0, n_frames=3 * T)
    tid = 1
    for v, s in enumerate(stores):
        frames += [{"item": "scene.mp4", "slot": cal.names[v], "frame": f, "slot_type": "video",
                    "width": 640, "height": 480} for f in range(T)]  # fmt: skip
        for t in s:
            nt = merged.add_track(tid, start=v * T, stop=(v + 1) * T)
            nt.coords[:], nt.visibility[:], nt.is_key[:] = t.coords, t.visibility, t.is_key
            tid += 1
    formats.write(AnnotationSet([merged], frames), path, "darwin")
    doc = json.loads(path.read_text())
    for n, ann in enumerate(doc["annotations"]):  # our writer wrote the merged track ids there
        ann["instance_id"] = {"value": n % I + 1}
    path.write_text(json.dumps(doc))
    return path


def test_multi_slot_v7_item_is_split_into_views(scene, tmp_path):
    cal, _, _, stores = scene
    path = _multi_slot_file(cal, stores, tmp_path / "scene.json")
    mv = views_from_dataset(formats.read(path))
    assert mv.names == cal.names
    assert [s.track_ids for s in mv.stores] == [[1, 2]] * 3
    for a, b in zip(mv.stores, stores):
        for t in (1, 2):
            np.testing.assert_allclose(a.tracks[t].coords, b.tracks[t].coords, atol=1e-9)
    res = triangulate_views(mv, cal)
    ref = triangulate_views(views_from_stores(cal.names, stores), cal)
    np.testing.assert_allclose(res.store.tracks[2].coords, ref.store.tracks[2].coords, atol=1e-6)
    with pytest.raises(KeyskelError, match="one slot only"):
        views_from_dataset(
            AnnotationSet([stores[0]], [{"item": "a", "slot": "0", "frame": f} for f in range(T)])
        )


def test_points_csv_round_trip(scene, tmp_path):
    cal, _, _, stores = scene
    res = triangulate_views(views_from_stores(cal.names, stores), cal)
    p = write_points_csv(
        tmp_path / "pts.csv", res.store, res.triangulation.mean_error, res.frames, res.track_ids
    )
    with p.open() as fh:
        header = next(csv.reader(fh))
    assert header == ["frame", "track", "node", "x", "y", "z", "error"]
    back = store_from_points_csv(p, rig_skeleton())
    for t in res.store:
        np.testing.assert_array_equal(back.tracks[t.track_id].coords, t.coords)
        np.testing.assert_array_equal(back.tracks[t.track_id].is_key, t.is_key)
    data = read_points_csv(p)
    assert len(data["frame"]) == T * I * rig_skeleton().n_nodes
    np.testing.assert_allclose(data["error"], res.triangulation.mean_error.ravel())
    (tmp_path / "bad.csv").write_text("frame,track,node,x,y\n0,1,snout,1,2\n")
    with pytest.raises(FormatError, match="missing columns"):
        read_points_csv(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("frame,track,node,x,y,z\n0,1,snout,1,2,3\n0,1,snout,1,oops,3\n")
    with pytest.raises(FormatError, match="line 3"):
        read_points_csv(tmp_path / "bad2.csv")
    with pytest.raises(KeyskelError, match="3D store"):
        write_points_csv(tmp_path / "x.csv", stores[0])


def test_keyskel_triangulate_end_to_end(scene, tmp_path, capsys):
    cal, truth, clean, stores = scene
    calib = write_calibration(cal, tmp_path / "calibration.toml")
    files = []
    for v, (name, s) in enumerate(zip(cal.names, stores)):
        fmt = "coco" if v == 1 else "darwin"
        folder = tmp_path / name
        folder.mkdir()
        files.append(str(formats.write(AnnotationSet([s]), folder / f"{name}.json", fmt)[0]))
    out = tmp_path / "points3d.csv"
    code = main(["triangulate", str(calib), *files, str(out), "--proposals", str(tmp_path / "prop")])
    text = capsys.readouterr()
    assert code == 0, text.err
    assert "camC" in text.out and "1 proposal\n" in text.out
    back = store_from_points_csv(out, rig_skeleton())
    zyx = np.stack([back.tracks[i + 1].coords for i in range(I)], axis=1)
    np.testing.assert_allclose(zyx[..., ::-1], truth, atol=3.0)
    data = read_points_csv(out)
    assert np.mean(data["error"]) <= 1.0
    with (tmp_path / "prop" / "camC.proposals.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and (rows[0]["frame"], rows[0]["track"], rows[0]["node"]) == ("5", "2", "body")
    v, f, i, k = HIDDEN
    assert (
        np.hypot(float(rows[0]["x"]) - clean[v, f, i, k, 0], float(rows[0]["y"]) - clean[v, f, i, k, 1])
        <= 2.0
    )


def test_keyskel_triangulate_options_and_one_multi_slot_file(scene, tmp_path, capsys):
    cal, _, _, stores = scene
    calib = write_calibration(cal, tmp_path / "c.toml")
    files = [
        str(formats.write(AnnotationSet([s]), tmp_path / f"v{v}.json", "coco")[0])
        for v, s in enumerate(stores)
    ]
    out = tmp_path / "o.csv"
    # views named explicitly (the stems v0, v1, v2 are not camera names: matched by order anyway)
    assert (
        main(["triangulate", str(calib), *files[::-1], str(out), "--views", ",".join(cal.names[::-1])]) == 0
    )
    ref = read_points_csv(out)
    assert main(["triangulate", str(calib), *files, str(out), "--no-refine", "--min-views", "3"]) == 0
    lin = read_points_csv(out)
    assert len(lin["frame"]) == len(ref["frame"]) - 1  # the node seen twice needs 3 views now
    assert np.mean(lin["error"]) > np.mean(ref["error"][np.isfinite(ref["error"])]) * 0.99
    unkeyed = [s.copy() for s in stores]  # frame 4 of track 1 interpolated in every view
    for s in unkeyed:
        s.set_key(4, 1, False)
    files = [
        str(formats.write(AnnotationSet([s]), tmp_path / f"u{v}.json", "darwin")[0])
        for v, s in enumerate(unkeyed)
    ]
    assert main(["triangulate", str(calib), *files, str(out), "--keys-only"]) == 0
    keys = read_points_csv(out)
    assert len(keys["frame"]) == len(ref["frame"]) - rig_skeleton().n_nodes
    assert not ((keys["frame"] == 4) & (keys["track"] == 1)).any()
    assert "camA" in capsys.readouterr().out
    scene_file = _multi_slot_file(cal, stores, tmp_path / "scene.json")
    assert main(["triangulate", str(calib), str(scene_file), str(out)]) == 0
    assert "camC: 143 seen" in capsys.readouterr().out
    np.testing.assert_allclose(read_points_csv(out)["xyz"], ref["xyz"], atol=1e-6)


def test_keyskel_triangulate_refuses_bad_input(scene, tmp_path, capsys):
    cal, _, _, stores = scene
    calib = write_calibration(cal, tmp_path / "c.toml")
    files = [
        str(formats.write(AnnotationSet([s]), tmp_path / f"v{v}.json", "coco")[0])
        for v, s in enumerate(stores)
    ]
    assert main(["triangulate", str(calib), *files, str(tmp_path / "out.json")]) == 1
    assert "must be a .csv" in capsys.readouterr().err
    assert main(["triangulate", str(calib), *files[:2], str(tmp_path / "out.csv")]) == 1
    assert "3 cameras" in capsys.readouterr().err
    (tmp_path / "broken.toml").write_text("[cam_0]\nname = 1\n")
    assert main(["triangulate", str(tmp_path / "broken.toml"), *files, str(tmp_path / "out.csv")]) == 1
    err = capsys.readouterr().err
    assert "broken.toml" in err and "Traceback" not in err
    assert not (tmp_path / "out.csv").exists()


def test_views_are_written_as_one_multi_slot_v7_item_and_read_back(scene, tmp_path):
    import json

    import _darwinpy_env as env

    from napari_keyskel.multiview.views import dataset_from_views

    cal, _, _, stores = scene
    mv = views_from_stores(cal.names, stores)
    path = formats.write(dataset_from_views(mv, item="rig.mp4"), tmp_path / "rig.json", "darwin")[0]
    doc = json.loads(path.read_text())
    assert doc["item"]["name"] == "rig.mp4" and [s["slot_name"] for s in doc["item"]["slots"]] == cal.names
    linked = sorted((a["slot_names"][0], a["instance_id"]["value"]) for a in doc["annotations"])
    assert linked == sorted((n, t) for n in cal.names for t in (1, 2))  # one animal = one instance id
    back = views_from_dataset(formats.read(path))
    assert back.names == cal.names and [s.track_ids for s in back.stores] == [[1, 2]] * 3
    for a, b in zip(stores, back.stores):
        for tid in (1, 2):
            ta, tb = a.tracks[tid], b.tracks[tid]
            np.testing.assert_allclose(tb.coords, ta.coords, atol=1e-9)  # NaN where a node is hidden
            np.testing.assert_array_equal(tb.visibility, ta.visibility)
            np.testing.assert_array_equal(tb.is_key, ta.is_key)
    # the same views again: the same bytes
    again = formats.write(dataset_from_views(back, item="rig.mp4"), tmp_path / "again.json", "darwin")[0]
    assert json.loads(again.read_text())["annotations"] == doc["annotations"]
    (summary,) = env.parse_with_darwinpy([path])  # darwin-py parses it: three slots, six annotations
    assert sorted(a["slot_names"][0] for a in summary["annotations"]) == sorted(cal.names * 2)


def test_views_read_from_an_item_go_back_to_its_slots_as_read(scene, tmp_path):
    import json

    from napari_keyskel.multiview.views import dataset_from_views

    cal, _, _, stores = scene
    path = _multi_slot_file(cal, stores, tmp_path / "scene.json")
    original = json.loads(path.read_text())
    mv = views_from_dataset(formats.read(path))
    mv.stores[1].tracks[2].coords[4, 0] += (3.0, -2.0)  # an edit in camB
    out = formats.write(dataset_from_views(mv), tmp_path / "back.json", "darwin")[0]
    doc = json.loads(out.read_text())
    assert doc["item"] == original["item"]  # the same item, slots and their metadata
    ids = [a["id"] for a in doc["annotations"]]
    assert ids == [a["id"] for a in original["annotations"]]  # each annotation updated in place
    assert [a["instance_id"] for a in doc["annotations"]] == [
        a["instance_id"] for a in original["annotations"]
    ]
    edited = views_from_dataset(formats.read(out))
    np.testing.assert_allclose(edited.stores[1].tracks[2].coords[4, 0], mv.stores[1].tracks[2].coords[4, 0])
    np.testing.assert_allclose(edited.stores[0].tracks[2].coords, stores[0].tracks[2].coords, atol=1e-9)
