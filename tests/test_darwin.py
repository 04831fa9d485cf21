"""V7 Darwin JSON 2.0 reader/writer: real V7 exports, round trips, skeleton resolution, bad input."""

from __future__ import annotations

import copy
import json
import math
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.presets import coco_person, mouse_topview
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import FormatError, FormatWarning
from napari_keyskel.formats.darwin import looks_like_darwin, read_darwin, write_darwin

DATA = Path(__file__).parent / "data"
SAMPLES = sorted(p.name for p in DATA.glob("darwin2_*.json"))
VIDEO = "darwin2_video_skeleton_keypoint_mini_uct.json"
SUBTYPES = "darwin2_video_skeleton_subtypes_properties_mini_uct.json"
IMAGE_SKEL = "darwin2_image_skeleton_image_1.json"
IMAGE_KP = "darwin2_image_keypoint_image_1.json"
VOLUME = "darwin2_volume_dicom_slot_hippocampus.json"
MULTISLOT = "darwin2_multislot_dicom_item.json"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def same_json(a: Any, b: Any, path: str = "") -> list[str]:
    """Differences between two parsed JSON values (floats compared approximately)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys differ {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in same_json(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} entries"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in same_json(x, y, f"{path}[{i}]")]
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)):
        return [] if (a == b and type(a) is type(b)) else [f"{path}: {a!r} != {b!r}"]
    if not isinstance(b, (int, float)) or not math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9):
        return [f"{path}: {a!r} != {b!r}"]
    return []


def write_doc(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def video_doc(nodes_per_frame: dict[int, list[dict]], ranges=None, name="mouse", **extra) -> dict[str, Any]:
    """A minimal one-annotation video document."""
    frames = {str(f): {"keyframe": True, "skeleton": {"nodes": n}} for f, n in nodes_per_frame.items()}
    ann = {"frames": frames, "id": "a1", "name": name, "slot_names": ["0"], **extra}
    if ranges is not None:
        ann["ranges"] = ranges
    return {
        "version": "2.0",
        "item": {
            "name": "v.mp4",
            "path": "/",
            "slots": [{"type": "video", "slot_name": "0", "width": 64, "height": 48, "frame_count": 20}],
        },
        "annotations": [ann],
    }


def nd(name: str, x: float, y: float, occluded: bool = False) -> dict[str, Any]:
    return {"name": name, "occluded": occluded, "x": x, "y": y}


# -- real V7 exports ------------------------------------------------------------------------------
def test_video_sample_model():
    doc = load(VIDEO)
    ds = read_darwin(DATA / VIDEO)
    assert [s.name for s in ds.stores] == ["test_skeleton_basic", "test_keypoint_basic"]
    slot = doc["item"]["slots"][0]
    assert len(ds.frames) == slot["frame_count"]
    assert ds.frames[3] == {
        "item": "mini_uct.mp4",
        "slot": "0",
        "frame": 3,
        "width": 1920,
        "height": 1080,
        "slot_type": "video",
        "darwin_file": VIDEO,
    }
    sk_store = ds.store("test_skeleton_basic")
    assert sk_store.skeleton.nodes == ("node", "2") and sk_store.skeleton.edges == ()
    assert sk_store.n_frames == 10 and sk_store.coord_ndim == 2 and sk_store.frame_axis == 0
    (t,) = sk_store
    ann = doc["annotations"][0]
    assert (t.start, t.stop) == (ann["ranges"][0][0], ann["ranges"][0][1])
    for f, fr in ann["frames"].items():
        r = int(f) - t.start
        for node in fr["skeleton"]["nodes"]:
            k = sk_store.skeleton.index(node["name"])
            np.testing.assert_allclose(t.coords[r, k], [node["y"] - 0.5, node["x"] - 0.5])
            assert t.visibility[r, k] == 2
            assert t.is_key[r, k] == fr["keyframe"]
    assert t.alive.all()
    kp = ds.store("test_keypoint_basic")
    assert kp.skeleton.nodes == ("test_keypoint_basic",)
    (tk,) = kp
    p = doc["annotations"][3]["frames"]["9"]["keypoint"]
    assert tk.start == 9
    np.testing.assert_allclose(tk.coords[0, 0], [p["y"] - 0.5, p["x"] - 0.5])


def test_instance_id_from_frames_becomes_track_id():
    doc = load(SUBTYPES)
    ds = read_darwin(DATA / SUBTYPES)
    skel_ann = doc["annotations"][0]
    want = next(iter(skel_ann["frames"].values()))["instance_id"]["value"]
    (t,) = ds.store(skel_ann["name"])
    assert t.track_id == want and t.name == f"instance {want}"
    assert t.meta["darwin"]["frame_extra"]["1"]["text"] == {"text": "test_text"}


@pytest.mark.parametrize("name", SAMPLES)
def test_round_trip_reproduces_every_sample(name, tmp_path):
    ds = read_darwin(DATA / name)
    out = write_darwin(ds, tmp_path / "out.json")
    assert out[0] == tmp_path / "out.json"
    assert same_json(load(name), json.loads(out[0].read_text())) == []


def test_image_samples():
    ds = read_darwin(DATA / IMAGE_SKEL)
    assert len(ds.frames) == 1 and ds.frames[0]["slot_type"] == "image"
    (t,) = ds.store("test_skeleton_basic")
    assert t.start == 0 and t.is_key.all() and t.alive.all()
    ds2 = read_darwin(DATA / IMAGE_KP)
    assert [s.name for s in ds2.stores] == ["test_keypoint_basic"]
    raw = ds2.meta["darwin"]["items"][0]["entries"]
    assert sum("raw" in e for e in raw) == 3  # polygon, ellipse, bounding box kept verbatim


def test_volume_and_multislot_frames():
    ds = read_darwin(DATA / VOLUME)
    assert len(ds.frames) == load(VOLUME)["item"]["slots"][0]["frame_count"] and ds.stores == []
    assert ds.frames[0]["width"] == 35 and ds.frames[0]["slot_type"] == "dicom"
    ms = read_darwin(DATA / MULTISLOT)
    # two dicom slots of one slice each (shape [1, W, H, 1]); size comes from the shape
    assert [(f["slot"], f["frame"], f["width"], f["height"]) for f in ms.frames] == [
        ("0", 0, 512, 512),
        ("1", 0, 512, 512),
    ]


def test_folder_round_trip_keeps_file_names(tmp_path):
    src = tmp_path / "export"
    (src / "sub").mkdir(parents=True)
    shutil.copy(DATA / VIDEO, src / "a.json")
    shutil.copy(DATA / IMAGE_SKEL, src / "sub" / "b.json")
    (src / ".v7").mkdir()
    shutil.copy(DATA / "darwin_v7_metadata_with_skeleton_class.json", src / ".v7" / "metadata.json")
    ds = read_darwin(src)
    assert [f["darwin_file"] for f in ds.frames] == ["a.json"] * 10 + ["sub/b.json"]
    (t_img,) = [t for t in ds.store("test_skeleton_basic") if t.start == 10]
    assert ds.frames[t_img.start]["item"] == "image_1.jpg"
    assert len(ds.store("test_skeleton_basic")) == 2
    out = tmp_path / "out"
    written = write_darwin(ds, out)
    assert out / "a.json" in written and out / "sub" / "b.json" in written
    assert same_json(load(VIDEO), json.loads((out / "a.json").read_text())) == []
    assert same_json(load(IMAGE_SKEL), json.loads((out / "sub" / "b.json").read_text())) == []
    again = read_darwin(out)
    assert [len(s) for s in again.stores] == [len(s) for s in ds.stores]


# -- model details ---------------------------------------------------------------------------------
def test_occluded_missing_and_positionless_nodes(tmp_path):
    sk = Skeleton(["a", "b", "c"])
    doc = video_doc({2: [nd("a", 10.5, 20.5, True), {"name": "b", "occluded": False}], 3: [nd("c", 1, 2)]})
    ds = read_darwin(write_doc(tmp_path / "v.json", doc), skeleton=sk)
    (t,) = ds.stores[0]
    assert t.visibility[0].tolist() == [1, 0, 0] and t.visibility[1].tolist() == [0, 0, 2]
    np.testing.assert_allclose(t.coords[0, 0], [20.0, 10.0])
    # missing from a keyframe, or written without a position: unlabelled keys ("not here")
    assert np.isnan(t.coords[0, 1:]).all() and t.is_key[0, 1:].all()
    out = json.loads(write_darwin(ds, tmp_path / "o.json", skeleton_file=False)[0].read_text())
    nodes2 = out["annotations"][0]["frames"]["2"]["skeleton"]["nodes"]
    assert nodes2 == [nd("a", 10.5, 20.5, True)]  # the unlabelled node is omitted on write
    assert "keyskel" not in out["annotations"][0]  # V7's own rule says it all


def test_ranges_and_hidden_areas(tmp_path):
    doc = video_doc(
        {f: [nd("a", f, f)] for f in (2, 3, 4, 7, 8)},
        ranges=[[2, 5], [7, 9]],
        hidden_areas=[[3, 4]],
    )
    p = write_doc(tmp_path / "v.json", doc)
    ds = read_darwin(p)
    (t,) = ds.stores[0]
    assert t.start == 2 and t.alive.tolist() == [True, False, True, False, False, True, True]
    back = json.loads(write_darwin(ds, tmp_path / "o.json")[0].read_text())
    assert same_json(doc, back) == []
    # a changed lifespan rewrites the ranges from `alive` and drops the stale hidden areas
    ds.stores[0].set_alive(1, 5, 7, True)
    ds.stores[0].set_points(6, 1, [9.0, 9.0])
    ann = json.loads(write_darwin(ds, tmp_path / "o2.json")[0].read_text())["annotations"][0]
    assert ann["ranges"] == [[2, 3], [4, 9]] and "hidden_areas" not in ann
    assert ann["frames"]["6"]["keyframe"] is True and ann["id"] == "a1"


def test_segments_old_name_and_unsorted_frame_keys(tmp_path):
    doc = video_doc({10: [nd("a", 1, 1)], 9: [nd("a", 2, 2)]}, name="c")
    doc["annotations"][0]["segments"] = [[9, 11]]
    ds = read_darwin(write_doc(tmp_path / "v.json", doc))
    (t,) = ds.stores[0]
    assert t.start == 9 and t.coords[:, 0, 1].tolist() == [1.5, 0.5]
    ann = json.loads(write_darwin(ds, tmp_path / "o.json")[0].read_text())["annotations"][0]
    assert ann["segments"] == [[9, 11]] and "ranges" not in ann


def test_slot_binding_offsets_frames(tmp_path):
    doc = video_doc({1: [nd("a", 3, 4)]})
    doc["item"]["slots"] = [
        {"type": "video", "slot_name": "left", "frame_count": 5},
        {"type": "video", "slot_name": "right", "frame_count": 4},
    ]
    doc["annotations"][0]["slot_names"] = ["right"]
    ds = read_darwin(write_doc(tmp_path / "v.json", doc))
    assert len(ds.frames) == 9
    (t,) = ds.stores[0]
    assert t.start == 6 and ds.frames[6] == {**ds.frames[6], "slot": "right", "frame": 1}
    back = json.loads(write_darwin(ds, tmp_path / "o.json")[0].read_text())
    assert same_json(doc, back) == []


def test_track_ids_first_instance_id_kept_else_fresh(tmp_path):
    doc = video_doc({0: [nd("a", 1, 1)]})
    a = doc["annotations"][0]
    doc["annotations"] = [
        {**copy.deepcopy(a), "id": "x1", "instance_id": {"value": 7}},
        {**copy.deepcopy(a), "id": "x2", "instance_id": {"value": 3}},
        {**copy.deepcopy(a), "id": "x3", "instance_id": {"value": 3}},
        {**copy.deepcopy(a), "id": "x4"},
    ]
    ds = read_darwin(write_doc(tmp_path / "v.json", doc))
    ids = ds.stores[0].track_ids
    assert ids == [7, 3, 8, 9]  # the first annotation with a value keeps it; V7's value is kept
    third = ds.stores[0].tracks[8]
    assert third.meta["darwin"]["extra"]["instance_id"] == {"value": 3}
    back = json.loads(write_darwin(ds, tmp_path / "o.json")[0].read_text())
    assert [a.get("instance_id") for a in back["annotations"]] == [{"value": v} for v in (7, 3, 3)] + [None]


def test_slow_path_matches_fast_path(tmp_path):
    nodes = {f: [nd("a", f + 0.25, 2 * f), nd("b", 3.0, f + 1.0, f % 2 == 0)] for f in range(6)}
    fast = read_darwin(write_doc(tmp_path / "fast.json", video_doc(nodes)))
    slow_doc = video_doc(nodes)
    slow_doc["annotations"][0]["frames"]["3"]["skeleton"]["nodes"][1]["extra"] = {"k": 1}
    slow = read_darwin(write_doc(tmp_path / "slow.json", slow_doc))
    tf, ts = fast.stores[0].tracks[1], slow.stores[0].tracks[1]
    for attr in ("coords", "visibility", "is_key", "alive"):
        np.testing.assert_array_equal(getattr(tf, attr), getattr(ts, attr))
    back = json.loads(write_darwin(slow, tmp_path / "o.json")[0].read_text())
    assert same_json(slow_doc, back) == []


def test_edits_are_written_in_place(tmp_path):
    ds = read_darwin(DATA / VIDEO)
    store = ds.store("test_skeleton_basic")
    store.set_points(6, 1, [100.0, 200.0], nodes="2")  # fix one node on the interpolated frame
    new = store.add_track(start=0, stop=2)
    store.set_points(0, new.track_id, [[1.0, 2.0], [3.0, 4.0]])
    store.set_points(1, new.track_id, [[1.5, 2.5], [3.5, 4.5]], key=False)
    ds.store("test_keypoint_basic").remove_track(1)
    doc = json.loads(write_darwin(ds, tmp_path / "o.json")[0].read_text())
    orig = load(VIDEO)
    names = [a["name"] for a in doc["annotations"]]
    assert "test_keypoint_basic" not in names
    assert names[: len(orig["annotations"]) - 1] == [
        a["name"] for a in orig["annotations"] if a["name"] != "test_keypoint_basic"
    ]
    edited = doc["annotations"][0]
    f6 = edited["frames"]["6"]
    assert f6["keyframe"] is True and f6["skeleton"]["nodes"][1] == nd("2", 200.5, 100.5)
    added = doc["annotations"][-1]
    assert added["name"] == "test_skeleton_basic" and added["ranges"] == [[0, 2]]
    assert uuid.UUID(added["id"]).version == 4 and added["interpolate_algorithm"] == "linear-1.1"
    assert [added["frames"][f]["keyframe"] for f in ("0", "1")] == [True, False]
    assert added["frames"]["1"]["skeleton"]["nodes"][0] == nd("node", 2.5 + 0.5, 1.5 + 0.5)
    assert added["slot_names"] == ["0"] and "bounding_box" not in added


def test_bounding_box_never_written_beside_skeleton(tmp_path):
    doc = video_doc({0: [nd("a", 1, 1)]})
    doc["annotations"][0]["bounding_box"] = {"x": 0, "y": 0, "w": 1, "h": 1}
    doc["annotations"][0]["frames"]["0"]["bounding_box"] = {"x": 0, "y": 0, "w": 1, "h": 1}
    ds = read_darwin(write_doc(tmp_path / "v.json", doc))
    text = write_darwin(ds, tmp_path / "o.json")[0].read_text()
    assert "bounding_box" not in text


# -- skeleton resolution ---------------------------------------------------------------------------
def test_skeleton_argument_forms(tmp_path):
    sk = Skeleton(["b", "a", "c"], edges=[("a", "b")], name="custom")
    p = write_doc(tmp_path / "v.json", video_doc({0: [nd("a", 1, 1), nd("b", 2, 2)]}))
    for arg in (sk, {"mouse": sk}, sk.save(tmp_path / "my.skel.json")):
        ds = read_darwin(p, skeleton=arg)
        store = ds.stores[0]
        assert store.skeleton.nodes == ("b", "a", "c") and store.skeleton.edges == ((1, 0),)
        assert store.name == "mouse"
        np.testing.assert_allclose(store.tracks[1].coords[0, 0], [1.5, 1.5])


def test_skeleton_file_beside_data_by_stem_or_name(tmp_path):
    sk = Skeleton(["a", "b"], edges=[(0, 1)], name="mouse")
    doc = video_doc({0: [nd("a", 1, 1), nd("b", 2, 2)]})
    d1 = tmp_path / "one"
    d1.mkdir()
    sk.save(d1 / "mouse.skeleton.json")
    assert read_darwin(write_doc(d1 / "v.json", doc)).stores[0].skeleton.edges == ((0, 1),)
    d2 = tmp_path / "two"
    d2.mkdir()
    sk.save(d2 / "whatever.skeleton.json")  # matched by the skeleton's name
    assert read_darwin(write_doc(d2 / "v.json", doc)).stores[0].skeleton.edges == ((0, 1),)


def test_preset_matched_by_node_names(tmp_path):
    person = coco_person()
    order = list(reversed(person.nodes))
    doc = video_doc({0: [nd(n, i, i) for i, n in enumerate(order)]}, name="walker")
    store = read_darwin(write_doc(tmp_path / "v.json", doc)).stores[0]
    assert store.skeleton.nodes == tuple(order) and len(store.skeleton.edges) == len(person.edges)
    assert store.name == "walker"


def test_fallback_skeleton_from_names_in_order(tmp_path):
    doc = video_doc({0: [nd("z", 1, 1), nd("y", 1, 1)], 1: [nd("y", 1, 1), nd("x", 1, 1)]})
    store = read_darwin(write_doc(tmp_path / "v.json", doc)).stores[0]
    assert store.skeleton.nodes == ("z", "y", "x") and store.skeleton.edges == ()


def test_written_skeleton_file_keeps_edges(tmp_path):
    ds = read_darwin(DATA / VIDEO, skeleton={"test_skeleton_basic": Skeleton(["node", "2"], [(0, 1)])})
    out = tmp_path / "out"
    written = write_darwin(ds, out)
    assert out / "test_skeleton_basic.skeleton.json" in written
    assert read_darwin(out).store("test_skeleton_basic").skeleton.edges == ((0, 1),)
    out2 = tmp_path / "out2"
    assert all(not p.name.endswith(".skeleton.json") for p in write_darwin(ds, out2, skeleton_file=False))
    assert not list(out2.glob("*.skeleton.json"))


# -- datasets made elsewhere -------------------------------------------------------------------------
def test_write_dataset_without_darwin_meta(tmp_path):
    sk = mouse_topview()
    frames = [{"item": "clip.mp4", "frame": f, "width": 640, "height": 480} for f in range(4)]
    frames.append({"item": "still.png", "frame": 0, "width": 320, "height": 200, "file_name": "still.png"})
    store = AnnotationStore(sk, n_frames=5, name="mouse")
    t = store.add_track(start=0, stop=4)
    rng = np.random.default_rng(1)
    for f in range(4):
        store.set_points(f, t.track_id, rng.uniform(0, 100, (sk.n_nodes, 2)), key=f in (0, 3))
    store.delete_points(1, t.track_id, nodes="tail_tip")
    store.set_visibility(2, t.track_id, 1, nodes="snout")
    store.set_alive(t.track_id, 2, 3, False)
    t2 = store.add_track(start=4)
    store.set_points(4, t2.track_id, np.full((sk.n_nodes, 2), 7.0))
    ds = AnnotationSet(stores=[store], frames=frames)
    written = write_darwin(ds, tmp_path / "out")
    assert {p.name for p in written} == {"clip.json", "still.json", "mouse.skeleton.json"}
    clip = json.loads((tmp_path / "out" / "clip.json").read_text())
    slot = clip["item"]["slots"][0]
    assert slot["type"] == "video" and slot["frame_count"] == 4 and len(slot["frame_urls"]) == 4
    (ann,) = clip["annotations"]
    assert ann["ranges"] == [[0, 2], [3, 4]] and sorted(ann["frames"], key=int) == ["0", "1", "3"]
    still = json.loads((tmp_path / "out" / "still.json").read_text())
    assert still["item"]["slots"][0]["type"] == "image" and "skeleton" in still["annotations"][0]
    back = read_darwin(tmp_path / "out")
    assert [f["item"] for f in back.frames] == [f["item"] for f in frames]
    b = back.store("mouse")
    assert b.skeleton == sk
    bt = next(tr for tr in b if tr.start == 0)
    keep = t.alive
    np.testing.assert_allclose(bt.coords[keep], t.coords[keep], atol=1e-9)
    np.testing.assert_array_equal(bt.visibility[keep], t.visibility[keep])
    np.testing.assert_array_equal(bt.is_key[keep], t.is_key[keep])
    np.testing.assert_array_equal(bt.alive, t.alive)


def test_write_store_without_frame_table(tmp_path):
    store = AnnotationStore(Skeleton(["a", "b"]), name="thing")
    t = store.add_track(start=2, stop=3)
    store.set_points(2, t.track_id, [[1.0, 2.0], [3.0, 4.0]])
    (p, _) = write_darwin(AnnotationSet(stores=[store]), tmp_path / "clip.json")
    doc = json.loads(p.read_text())
    assert doc["item"]["name"] == "clip" and doc["item"]["slots"][0]["frame_count"] == 3
    assert doc["annotations"][0]["frames"]["2"]["skeleton"]["nodes"][1] == nd("b", 4.5, 3.5)


def test_single_file_needs_one_item(tmp_path):
    frames = [{"item": "a", "frame": 0}, {"item": "b", "frame": 0}]
    ds = AnnotationSet(stores=[AnnotationStore(Skeleton(["n"]), n_frames=2)], frames=frames)
    with pytest.raises(FormatError, match="2 items"):
        write_darwin(ds, tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []


def test_write_rejects_frames_beyond_table(tmp_path):
    store = AnnotationStore(Skeleton(["n"]), name="s")
    t = store.add_track(start=3)
    store.set_points(3, t.track_id, [1.0, 1.0])
    with pytest.raises(FormatError, match="beyond"):
        write_darwin(AnnotationSet(stores=[store], frames=[{"item": "a", "frame": 0}]), tmp_path / "x.json")


# -- detection and bad input -------------------------------------------------------------------------
def test_looks_like_darwin():
    assert looks_like_darwin(load(VIDEO))
    assert looks_like_darwin({"image": {"filename": "a.jpg"}, "annotations": []})  # Darwin 1.0
    assert not looks_like_darwin(load("coco_keypoints_sleapio_visibility_ternary.json"))
    assert not looks_like_darwin(load("darwin_v7_metadata_with_skeleton_class.json"))
    assert not looks_like_darwin([1, 2])
    assert not looks_like_darwin({"version": "3.0", "item": {}, "annotations": []})


def test_darwin_1_0(tmp_path):
    doc = {
        "dataset": "d",
        "image": {"filename": "v.mp4", "width": 10, "height": 10, "frame_count": 4},
        "annotations": [
            {
                "name": "c",
                "frames": {"1": {"keyframe": True, "skeleton": {"nodes": [nd("a", 1, 1)]}}},
                "segments": [[1, 3]],
            }
        ],
    }
    ds = read_darwin(write_doc(tmp_path / "v.json", doc))
    assert len(ds.frames) == 4 and ds.stores[0].tracks[1].alive.tolist() == [True, True]
    back = json.loads(write_darwin(ds, tmp_path / "o.json")[0].read_text())
    assert same_json(doc, back) == []


def bad_cases() -> list[tuple[str, Any, str]]:
    base = video_doc({0: [nd("a", 1, 1)], 1: [nd("a", 2, 2)]})

    def mod(fn):
        d = copy.deepcopy(base)
        fn(d)
        return d

    ann = lambda d: d["annotations"][0]  # noqa: E731
    nodes = lambda d, f="0": ann(d)["frames"][f]["skeleton"]["nodes"]  # noqa: E731

    def occluded_lists(d):
        for f in ("0", "1"):
            for n in nodes(d, f):
                n["occluded"] = [False]

    def keyframe_lists(d):
        for fr in ann(d)["frames"].values():
            fr["keyframe"] = [True]

    return [
        ("missing item name", mod(lambda d: d["item"].pop("name")), "item"),
        ("missing slots", mod(lambda d: d["item"].pop("slots")), "slots"),
        ("frame key", mod(lambda d: ann(d)["frames"].update(x1=ann(d)["frames"]["0"])), "frame key 'x1'"),
        ("string x", mod(lambda d: nodes(d)[0].update(x="1.5")), "annotation a1, frame 0, node 'a'"),
        ("bool y", mod(lambda d: nodes(d, "1")[0].update(y=True)), "frame 1, node 'a'"),
        ("half position", mod(lambda d: nodes(d)[0].pop("y")), "annotation a1, frame 0, node 'a'"),
        (
            "duplicate ids",
            mod(lambda d: d["annotations"].append(copy.deepcopy(ann(d)))),
            "duplicate annotation",
        ),
        ("unknown slot", mod(lambda d: ann(d).update(slot_names=["9"])), "unknown slot '9'"),
        ("keyframe type", mod(lambda d: ann(d)["frames"]["1"].update(keyframe="yes")), "frame 1"),
        ("no skeleton", mod(lambda d: ann(d)["frames"]["1"].pop("skeleton")), "frame 1"),
        ("occluded type", mod(lambda d: nodes(d)[0].update(occluded=0)), "occluded"),
        ("occluded lists", mod(occluded_lists), "occluded"),  # a 2-D bool array must not pass
        ("keyframe lists", mod(keyframe_lists), "keyframe"),
        ("bad ranges", mod(lambda d: ann(d).update(ranges=[[3, 1]])), "ranges"),
        ("frames list", mod(lambda d: ann(d).update(frames=[])), "frames"),
        ("twice", mod(lambda d: nodes(d).append(nd("a", 3, 3))), "given twice"),
        ("no class", mod(lambda d: ann(d).pop("name")), "class 'name'"),
        ("annotation type", mod(lambda d: d["annotations"].append(3)), "annotations[1]"),
    ]


@pytest.mark.parametrize(("label", "doc", "where"), bad_cases(), ids=[c[0] for c in bad_cases()])
def test_bad_input_names_file_and_place(tmp_path, label, doc, where):
    p = write_doc(tmp_path / f"{label.replace(' ', '_')}.json", doc)
    with pytest.raises(FormatError) as err:
        read_darwin(p)
    assert str(p) in str(err.value) and where in str(err.value)


def test_node_not_in_given_skeleton(tmp_path):
    p = write_doc(tmp_path / "v.json", video_doc({0: [nd("a", 1, 1)], 4: [nd("tail", 1, 1)]}))
    with pytest.raises(FormatError) as err:
        read_darwin(p, skeleton=Skeleton(["a", "b"]))
    msg = str(err.value)
    assert str(p) in msg and "annotation a1, frame 4, node 'tail'" in msg


def test_malformed_json_and_folder_errors(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('{"version": "2.0", "item": ')
    with pytest.raises(FormatError, match=r"broken\.json"):
        read_darwin(p)
    folder = tmp_path / "f"
    folder.mkdir()
    shutil.copy(DATA / VIDEO, folder / "a.json")
    (folder / "notes.json").write_text('{"hello": 1}')
    with pytest.raises(FormatError, match=r"notes\.json"):
        read_darwin(folder)
    (folder / "notes.json").unlink()
    (folder / "x.skeleton.json").write_text(json.dumps(Skeleton(["q"], name="unrelated").to_dict()))
    assert len(read_darwin(folder).stores) == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no Darwin JSON"):
        read_darwin(tmp_path / "empty")
    with pytest.raises(FormatError, match="no such file"):
        read_darwin(tmp_path / "missing.json")


def test_keypoint_skeleton_must_have_one_node(tmp_path):
    doc = load(IMAGE_KP)
    p = write_doc(tmp_path / "k.json", doc)
    with pytest.raises(FormatError, match="needs 1"):
        read_darwin(p, skeleton={"test_keypoint_basic": Skeleton(["a", "b"])})


def test_skeleton_on_volume_slices(tmp_path):
    doc = load(VOLUME)
    frames = {
        str(z): {"keyframe": z != 11, "skeleton": {"nodes": [nd("tip", z, 2 * z)]}} for z in range(10, 13)
    }
    doc["annotations"].append(
        {"frames": frames, "id": "s1", "name": "probe", "ranges": [[10, 13]], "slot_names": ["0"]}
    )
    ds = read_darwin(write_doc(tmp_path / "vol.json", doc))
    (t,) = ds.store("probe")
    assert len(ds.frames) == 35 and t.start == 10 and t.is_key[:, 0].tolist() == [True, False, True]
    np.testing.assert_allclose(t.coords[2, 0], [23.5, 11.5])
    assert same_json(doc, json.loads(write_darwin(ds, tmp_path / "o.json")[0].read_text())) == []


def test_folder_classes_union_node_names(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    write_doc(folder / "1.json", video_doc({0: [nd("a", 1, 1), nd("b", 1, 1)]}))
    doc2 = video_doc({3: [nd("c", 5, 6), nd("a", 1, 1)]})
    doc2["item"]["name"] = "w.mp4"
    write_doc(folder / "2.json", doc2)
    ds = read_darwin(folder)
    store = ds.store("mouse")
    assert store.skeleton.nodes == ("a", "b", "c") and len(ds.frames) == 40
    second = next(t for t in store if t.start >= 20)
    assert second.start == 23 and second.visibility[0].tolist() == [2, 0, 2]
    assert ds.frames[23]["item"] == "w.mp4" and ds.frames[23]["frame"] == 3


def test_non_linear_interpolation_is_not_marked_linear(tmp_path):
    ds = read_darwin(DATA / VIDEO)
    ds.store("test_skeleton_basic").method = "cubic"
    store = ds.store("test_skeleton_basic")
    t = store.add_track(start=0, stop=2)
    store.set_points(0, t.track_id, [[1.0, 1.0], [2.0, 2.0]])
    anns = json.loads(write_darwin(ds, tmp_path / "o.json")[0].read_text())["annotations"]
    mine = [a for a in anns if a["name"] == "test_skeleton_basic"]
    assert len(mine) == 2
    for a in mine:
        assert "interpolate_algorithm" not in a and a["interpolated"] is False
    kp = next(a for a in anns if a["name"] == "test_keypoint_basic")
    assert kp["interpolate_algorithm"] == "linear-1.1"  # other stores keep their own method


def test_frame_table_listing_a_frame_twice(tmp_path):
    store = AnnotationStore(Skeleton(["n"]), n_frames=2, name="s")
    frames = [{"item": "a", "frame": 0}, {"item": "a", "frame": 0}]
    with pytest.raises(FormatError, match="listed twice"):
        write_darwin(AnnotationSet(stores=[store], frames=frames), tmp_path / "x.json")
    # frames without a "frame" index count up inside their item
    frames = [{"item": "a"}, {"item": "a"}, {"item": "b"}]
    t = store.add_track(start=1)
    store.set_points(1, t.track_id, [2.0, 3.0])
    store.n_frames = 3
    written = write_darwin(AnnotationSet(stores=[store], frames=frames), tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "a.json").read_text())
    assert doc["item"]["slots"][0]["frame_count"] == 2 and list(doc["annotations"][0]["frames"]) == ["1"]
    assert {p.name for p in written} == {"a.json", "b.json", "s.skeleton.json"}


def test_bad_paths_and_skeleton_arguments(tmp_path):
    p = write_doc(tmp_path / "v.json", video_doc({0: [nd("a", 1, 1)]}))
    with pytest.raises(FormatError, match=r"nope\.skeleton\.json: cannot read file"):
        read_darwin(p, skeleton=tmp_path / "nope.skeleton.json")
    (tmp_path / "bad.skeleton.json").write_bytes(b"\xff\xfe not json")
    with pytest.warns(FormatWarning, match=r"bad\.skeleton\.json: skeleton file skipped"):
        read_darwin(p)  # no file named after the class: every skeleton file is checked by name
    with pytest.raises(FormatError, match="not a Skeleton"):
        read_darwin(p, skeleton={"mouse": "a b"})
    (tmp_path / "bad.skeleton.json").unlink()
    ds = read_darwin(p)
    (tmp_path / "plainfile").write_text("x")
    with pytest.raises(FormatError, match="not a folder"):
        write_darwin(ds, tmp_path / "plainfile")
    ds.stores[0].tracks[1].coords[0, 0] = [np.inf, 1.0]
    with pytest.raises(FormatError, match="not finite"):
        write_darwin(ds, tmp_path / "o.json")
    assert not (tmp_path / "o.json").exists()


def test_new_tracks_keep_their_ids_as_instance_id(tmp_path):
    import numpy as np

    from napari_keyskel import AnnotationSet, AnnotationStore, get_preset
    from napari_keyskel.formats import read, write

    s = AnnotationStore(get_preset("mouse_topview"), 2, 0, 20)
    for tid in (10, 20):
        s.add_track(tid)
        s.set_points(0, tid, np.full((12, 2), 5.0 + tid))
        s.set_points(5, tid, np.full((12, 2), 9.0 + tid))
    (path, *_) = write(AnnotationSet([s]), tmp_path / "ids.json", "darwin")
    doc = json.loads(path.read_text())
    assert sorted(a["instance_id"]["value"] for a in doc["annotations"]) == [10, 20]
    assert read(path).stores[0].track_ids == [10, 20]


def test_item_by_item_read_and_atomic_write_keep_a_status(tmp_path):
    """darwin.read_item / write_item: one item file at a time; our extra's unknown keys survive."""
    from napari_keyskel.formats.darwin import read_item, write_item

    doc = load(VIDEO)
    doc["keyskel"] = {"status": {"state": "in review", "by": "ann"}}
    src = tmp_path / "mini_uct.json"
    src.write_text(json.dumps(doc))
    ds = read_item(src)
    out = write_item(ds, tmp_path / "out.json")
    assert json.loads(out.read_text()) == doc
    with pytest.raises(FormatError, match="got a folder"):
        read_item(tmp_path)
    with pytest.raises(FormatError, match=r"must end in \.json"):
        write_item(ds, tmp_path / "out")
    before = out.read_bytes()
    two = AnnotationSet(ds.stores, [*ds.frames, {"item": "other.mp4", "frame": 0}], ds.meta)
    with pytest.raises(FormatError, match="holds 2 items"):
        write_item(two, out)
    assert out.read_bytes() == before  # nothing replaced
