"""COCO keypoints reader/writer: mapping, lossless round trips, writer rules, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_keyskel import AnnotationSet, AnnotationStore, FormatError, Skeleton
from napari_keyskel.core.presets import coco_person, mouse_topview
from napari_keyskel.errors import FormatWarning
from napari_keyskel.formats import detect_format, read, write
from napari_keyskel.formats.coco import coco_document, looks_like_coco, read_coco, write_coco

DATA = Path(__file__).parent / "data"
SLEAP = DATA / "coco_keypoints_sleapio_visibility_ternary.json"
RESULTS = DATA / "coco_keypoint_results_fake100.json"


# -- helpers (also imported by the other COCO test files) ------------------------------------------
def video_dataset(
    n_frames: int = 30,
    n_tracks: int = 3,
    seed: int = 0,
    skeleton: Skeleton | None = None,
    partial_key: bool = True,
) -> AnnotationSet:
    """A multi-instance video: staggered tracks, keys every 5 frames, occluded and unlabelled nodes."""
    sk = skeleton or mouse_topview()
    k = sk.n_nodes
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=n_frames, name=sk.name)
    rng = np.random.default_rng(seed)
    for tid in range(1, n_tracks + 1):
        start, stop = tid, n_frames - tid
        store.add_track(tid * 10, start=start, stop=stop)
        for f in range(start, stop):
            xy = rng.uniform(5, 200, (k, 2)).round(3)
            vis = rng.choice([1, 2], k, p=[0.25, 0.75])
            store.set_points(f, tid * 10, xy, visibility=vis, key=(f - start) % 5 == 0)
        store.delete_points(start + 2, tid * 10, nodes=[0, 1])
        if partial_key:
            store.set_key(start + 3, tid * 10, True, nodes=[4])  # one key node on an interpolated frame
    frames = [{"item": "clip.mp4", "frame": f, "width": 256, "height": 240} for f in range(n_frames)]
    return AnnotationSet([store], frames)


def assert_same_store(a: AnnotationStore, b: AnnotationStore) -> None:
    assert a.name == b.name
    assert a.skeleton.nodes == b.skeleton.nodes
    assert sorted(a.tracks) == sorted(b.tracks)
    da, db = a.to_dense(), b.to_dense()
    np.testing.assert_array_equal(da["frames"], db["frames"])
    np.testing.assert_array_equal(da["coords"], db["coords"])  # NaN == NaN for array_equal on floats
    np.testing.assert_array_equal(da["visibility"], db["visibility"])
    np.testing.assert_array_equal(da["is_key"], db["is_key"])


def load(path: Path) -> object:
    return json.loads(Path(path).read_text())


def normal(doc: dict) -> dict:
    """``doc`` with annotations in id order (the writer orders them by image, then track)."""
    return {**doc, "annotations": sorted(doc["annotations"], key=lambda a: a["id"])}


# -- reading the real samples ------------------------------------------------------------------------
def test_read_sleap_sample_mapping() -> None:
    ds = read_coco(SLEAP)
    assert [s.name for s in ds.stores] == ["mouse"]
    s = ds.stores[0]
    assert s.skeleton.nodes[:3] == ("nose", "left_ear", "right_ear")
    assert s.skeleton.edges[0] == (0, 3)  # [1, 4] in the file is 1-based
    assert len(s.skeleton.edges) == 16
    assert (s.coord_ndim, s.frame_axis, s.n_frames) == (2, 0, 3)
    assert sorted(s.tracks) == [1, 2, 3]  # no track ids: one track per annotation
    t = s.tracks[1]
    assert (t.start, len(t)) == (0, 1)
    np.testing.assert_array_equal(t.visibility[0], [0, 1, 2] * 5 + [0, 1])
    assert np.isnan(t.coords[0, 0]).all()  # v=0 carries junk (110, 145) in the file: ignored
    np.testing.assert_array_equal(t.coords[0, 1], [145.0, 119.0])  # (y, x) = (row, col)
    assert t.is_key[0].all()  # labelled nodes are keys, v=0 nodes unlabelled keys ("not here")
    assert ds.frames[2]["item"] == "image_003.jpg" and ds.frames[2]["frame"] == 0
    assert ds.frames[0]["width"] == 384 and ds.frames[0]["image_id"] == 1
    assert ds.meta["coco"]["top"]["info"]["year"] == 2024


def test_sleap_sample_round_trip_is_lossless(tmp_path: Path) -> None:
    ds = read_coco(SLEAP)
    out = write_coco(ds, tmp_path / "out.json")
    assert out == [tmp_path / "out.json"]
    assert load(out[0]) == load(SLEAP)  # junk at v=0, the file's bbox/area, licences, dates: all back


def test_results_sample_round_trip_keeps_scores(tmp_path: Path) -> None:
    ds = read_coco(RESULTS)
    s = ds.stores[0]
    assert s.skeleton.nodes[0] == "kp0" and s.n_nodes == 17
    assert "results file" in s.meta["coco"]["note"]
    assert len(s) == 125 and ds.meta["coco"]["kind"] == "results"
    scores = sorted(m["score"] for t in s for m in t.meta["coco"]["ann"].values())
    assert scores == sorted(r["score"] for r in load(RESULTS))
    write_coco(ds, tmp_path / "res.json", results=True)

    def key(r: dict) -> tuple:
        return (r["image_id"], r["score"])

    assert sorted(load(tmp_path / "res.json"), key=key) == sorted(load(RESULTS), key=key)


def test_results_with_ground_truth_reference(tmp_path: Path) -> None:
    src = video_dataset(n_frames=12, n_tracks=2)
    write_coco(src, tmp_path / "gt.json")
    write_coco(src, tmp_path / "res.json", results=True)
    res = load(tmp_path / "res.json")
    base = {"image_id", "category_id", "keypoints", "score"}
    assert all(set(r) - {"keyskel"} == base for r in res)  # no bbox: pycocotools' keypoint branch
    ds = read_coco(tmp_path / "res.json", images=tmp_path / "gt.json")
    assert [s.name for s in ds.stores] == ["mouse"]
    assert ds.stores[0].skeleton.nodes == mouse_topview().nodes
    assert len(ds.frames) == 12 and ds.frames[5]["frame"] == 5
    n_points = sum(np.isfinite(t.coords[..., 0]).sum() for t in ds.stores[0])
    assert n_points == src.stores[0].counts()["points"]
    # a parsed dict works as the reference too, and a results file reads through the dispatcher
    ds2 = read(tmp_path / "res.json", images=load(tmp_path / "gt.json"))
    assert ds2.stores[0].counts() == ds.stores[0].counts()


def test_results_with_skeleton_argument() -> None:
    ds = read_coco(RESULTS, skeleton=coco_person())
    s = ds.stores[0]
    assert s.name == "person" and s.skeleton.nodes == coco_person().nodes
    assert s.skeleton.flip_pairs and "note" not in s.meta["coco"]


# -- synthetic video: model round trip and writer rules ---------------------------------------------
def test_video_round_trip(tmp_path: Path) -> None:
    src = video_dataset()
    write_coco(src, tmp_path / "v.json")
    back = read_coco(tmp_path / "v.json")
    assert_same_store(src.stores[0], back.stores[0])
    for a, b in zip(src.frames, back.frames):
        assert (a["item"], a["frame"], a["width"], a["height"]) == (
            b["item"],
            b["frame"],
            b["width"],
            b["height"],
        )
    # the written file, read again and rewritten, is reproduced exactly
    write_coco(back, tmp_path / "v2.json")
    assert load(tmp_path / "v2.json") == load(tmp_path / "v.json")


def test_writer_rules() -> None:
    src = video_dataset(n_frames=10, n_tracks=1)
    doc = coco_document(src)
    assert [im["file_name"] for im in doc["images"][:2]] == ["clip/frame_000000.png", "clip/frame_000001.png"]
    assert doc["images"][3] == {
        "id": 4, "file_name": "clip/frame_000003.png", "width": 256, "height": 240,
        "frame_index": 3, "item": "clip.mp4",
    }  # fmt: skip
    cat = doc["categories"][0]
    assert cat["keypoints"] == list(mouse_topview().nodes)
    assert [cat["keypoints"][i - 1] for i in cat["skeleton"][0]] == ["snout", "left_ear"]  # 1-based
    t = src.stores[0].tracks[10]
    for a in doc["annotations"]:
        f = a["image_id"] - 1
        kp = np.asarray(a["keypoints"]).reshape(-1, 3)
        coords, vis, key = src.stores[0].get(f, 10)
        lab = vis > 0
        np.testing.assert_array_equal(kp[lab, 0], coords[lab, 1])  # x = col
        np.testing.assert_array_equal(kp[~lab, :2], 0)  # v=0 written as 0, 0
        assert a["num_keypoints"] == lab.sum()
        x, y = kp[lab, 0], kp[lab, 1]
        assert a["bbox"] == [x.min(), y.min(), x.max() - x.min(), y.max() - y.min()]
        assert a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3])
        assert a["iscrowd"] == 0 and a["track_id"] == 10 and a["attributes"] == {"object_id": 10}
        interpolated = (lab & ~key).any()
        assert ("keyskel" in a) == interpolated
        if interpolated:
            assert a["keyskel"]["keyframe"] == (key & lab).astype(int).tolist()
    assert len(doc["annotations"]) == t.stop - t.start
    assert len({a["id"] for a in doc["annotations"]}) == len(doc["annotations"])


def test_all_frames_false_writes_only_annotated_images() -> None:
    src = video_dataset(n_frames=10, n_tracks=1)  # track 10 covers frames 1..8
    doc = coco_document(src, all_frames=False)
    assert [im["frame_index"] for im in doc["images"]] == list(range(1, 9))
    assert len(coco_document(src)["images"]) == 10


def test_frame_table_from_file_names() -> None:
    obj = {
        "images": [
            {"id": 1, "file_name": "clipA/frame_000012.png"},
            {"id": 2, "file_name": "vid_frame3.jpg"},
            {"id": 3, "file_name": "photo.jpg"},
            {"id": 4, "file_name": "x/frame_7.png", "frame_index": 9, "item": "movie.avi"},
            {"id": 5, "file_name": "frame_000002.png"},
        ],
        "annotations": [],
        "categories": [{"id": 1, "name": "pt", "keypoints": ["a"]}],
    }
    from napari_keyskel.formats.coco._read import coco_from_obj

    ds = coco_from_obj(obj, Path("mem.json"))
    got = [(fr["item"], fr["frame"]) for fr in ds.frames]
    assert got == [("clipA", 12), ("vid", 3), ("photo.jpg", 0), ("movie.avi", 9), ("video", 2)]
    assert coco_document(ds)["images"] == obj["images"]


def _doc(anns: list[dict], k: int = 2, **cat: object) -> dict:
    return {
        "images": [{"id": i, "file_name": f"v/frame_{i:06d}.png"} for i in range(1, 6)],
        "annotations": anns,
        "categories": [{"id": 1, "name": "bug", "keypoints": [f"n{j}" for j in range(k)], **cat}],
    }


def _ann(aid: int, image: int, kp: list, **kw: object) -> dict:
    return {"id": aid, "image_id": image, "category_id": 1, "keypoints": kp, **kw}


def _write(tmp_path: Path, obj: object, name: str = "in.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return p


def test_track_ids_from_each_field(tmp_path: Path) -> None:
    anns = [
        _ann(1, 1, [1, 2, 2, 3, 4, 2], track_id=7),
        _ann(2, 3, [5, 6, 2, 7, 8, 1], track_id=7),  # a gap at image 2
        _ann(3, 1, [1, 1, 2, 0, 0, 0], attributes={"object_id": 4, "color": "red"}),
        _ann(4, 2, [2, 2, 2, 0, 0, 0], instance_id=5),
        _ann(5, 1, [3, 3, 2, 0, 0, 0], track_id="mouse-a"),
        _ann(6, 2, [4, 3, 2, 0, 0, 0], track_id="mouse-a"),
        _ann(7, 4, [9, 9, 2, 9, 9, 2]),
    ]
    p = _write(tmp_path, _doc(anns))
    s = read_coco(p).stores[0]
    t7 = s.tracks[7]
    assert (t7.start, len(t7)) == (0, 3) and t7.alive.all()  # alive from first to last annotation
    assert np.isnan(t7.coords[1]).all()
    assert s.tracks[4].meta["coco"]["ann"]["0"]["attributes"] == {"color": "red"}
    assert s.tracks[5].meta["coco"]["fields"] == ["instance_id"]
    named = [t for t in s if t.name == "mouse-a"]
    assert len(named) == 1 and len(named[0]) == 2
    assert sum(1 for t in s if t.meta["coco"]["fields"] == []) == 1
    assert normal(load(write_coco(read_coco(p), tmp_path / "out.json")[0])) == load(p)


def test_unmodelled_content_is_kept(tmp_path: Path) -> None:
    obj = _doc(
        [
            _ann(
                1,
                1,
                [1, 2, 2, 3, 4, 2],
                iscrowd=1,
                segmentation=[[1, 2, 3, 4, 5, 6]],
                score=0.5,
                extra={"a": 1},
            ),
            _ann(2, 2, [0, 0, 0, 0, 0, 0], num_keypoints=0, bbox=[0, 0, 10, 10], area=100),  # empty
            {"id": 3, "image_id": 3, "category_id": 2, "bbox": [1, 1, 2, 2], "area": 4, "iscrowd": 0},
        ]
    )
    obj["categories"].append({"id": 2, "name": "car", "supercategory": "vehicle"})
    obj["categories"][0]["oks_sigmas"] = [0.1, 0.2]
    obj["info"] = {"year": 2025}
    obj["licenses"] = [{"id": 1, "name": "x"}]
    obj["images"][0].update({"license": 1, "coco_url": "http://x"})
    p = _write(tmp_path, obj)
    ds = read_coco(p)
    assert len(ds.stores) == 1 and len(ds.meta["coco"]["annotations"]) == 1
    assert normal(load(write_coco(ds, tmp_path / "out.json")[0])) == obj


def test_edits_recompute_derived_fields(tmp_path: Path) -> None:
    p = SLEAP
    ds = read_coco(p)
    s = ds.stores[0]
    s.set_points(0, 1, [100.0, 50.0], nodes="left_ear", visibility=2)
    doc = coco_document(ds)
    a = next(a for a in doc["annotations"] if a["id"] == 1)
    kp = np.asarray(a["keypoints"]).reshape(-1, 3)
    assert kp[1].tolist() == [50.0, 100.0, 2.0]
    assert kp[0].tolist() == [0.0, 0.0, 0.0]  # junk dropped once the annotation changed
    lab = kp[:, 2] > 0
    assert a["bbox"] == [kp[lab, 0].min(), kp[lab, 1].min(), np.ptp(kp[lab, 0]), np.ptp(kp[lab, 1])]
    assert a["num_keypoints"] == 11
    b = next(a for a in doc["annotations"] if a["id"] == 2)
    assert b["bbox"] == [85, 85, 175, 125]  # untouched annotation keeps the file's values


def test_skeleton_resolution(tmp_path: Path) -> None:
    person = coco_person()
    obj = {
        "images": [{"id": 1, "file_name": "a.jpg"}],
        "annotations": [],
        "categories": [
            {"id": 1, "name": "person", "keypoints": list(person.nodes), "skeleton": [[1, 2], [2, 3]]},
            {"id": 2, "name": "mouse", "keypoints": list(reversed(mouse_topview().nodes))},
        ],
    }
    p = _write(tmp_path, obj)
    ds = read_coco(p)
    sp, sm = ds.stores
    assert sp.skeleton.flip_pairs == person.flip_pairs  # preset colours and flip pairs ...
    assert sp.skeleton.edges == ((0, 1), (1, 2))  # ... but the file's edges
    assert sm.skeleton.nodes == tuple(reversed(mouse_topview().nodes)) and sm.skeleton.flip_pairs
    assert load(write_coco(ds, tmp_path / "o.json")[0])["categories"][0]["skeleton"] == [[1, 2], [2, 3]]
    # an argument wins and is reordered to the file's node order
    ds = read_coco(p, skeleton={"person": person})
    assert ds.stores[0].skeleton.edges == person.edges and ds.stores[0].name == "person"
    # a skeleton file beside the data, named after the category
    custom = Skeleton(list(mouse_topview().nodes), [(0, 1)], None, [("left_ear", "right_ear")], "whatever")
    custom.save(tmp_path / "mouse.skeleton.json")
    sm = read_coco(p).stores[1]
    assert (
        sm.name == "mouse"
        and len(sm.skeleton.edges) == 1
        and sm.meta["coco"]["skeleton_source"].endswith(".json")
    )
    # a path as the argument; a mismatch is an error naming the category
    ds = read_coco(p, skeleton=str(tmp_path / "mouse.skeleton.json"))
    assert len(ds.stores[1].skeleton.edges) == 1
    with pytest.raises(FormatError, match="category 'person'"):
        read_coco(p, skeleton={"person": mouse_topview()})
    with pytest.raises(FormatError, match="matches no category"):
        read_coco(p, skeleton=Skeleton(["x", "y"]))


def test_oks_sigmas_and_skeleton_file(tmp_path: Path) -> None:
    src = video_dataset(n_frames=8, n_tracks=1)
    sig = [0.05] * 12
    paths = write_coco(src, tmp_path / "a.json", oks_sigmas=sig, skeleton_file=True)
    assert paths == [tmp_path / "a.json", tmp_path / "mouse.skeleton.json"]
    assert load(paths[0])["categories"][0]["oks_sigmas"] == sig
    back = read_coco(paths[0])
    assert back.stores[0].skeleton == src.stores[0].skeleton  # colours and flip pairs via the skeleton file
    before = paths[0].read_bytes()
    with pytest.raises(FormatError, match="12 positive numbers"):
        write_coco(src, paths[0], oks_sigmas=[0.05] * 3)
    assert paths[0].read_bytes() == before  # nothing half-written


def test_other_formats_meta_travels(tmp_path: Path) -> None:
    src = video_dataset(n_frames=6, n_tracks=1)
    src.meta["darwin"] = {"version": "2.0"}
    src.stores[0].meta["darwin"] = {"class": {"x": 1}}
    t = src.stores[0].tracks[10]
    t.name, t.meta["darwin"] = "Bob", {"id": "uuid-1"}
    for fr in src.frames:
        fr["slot"], fr["slot_type"] = "0", "video"
    write_coco(src, tmp_path / "a.json")
    back = read_coco(tmp_path / "a.json")
    assert back.meta["darwin"] == {"version": "2.0"}
    assert back.stores[0].meta["darwin"] == {"class": {"x": 1}}
    bt = back.stores[0].tracks[10]
    assert bt.name == "Bob" and bt.meta["darwin"] == {"id": "uuid-1"}
    assert back.frames[3]["slot"] == "0" and back.frames[3]["slot_type"] == "video"
    write_coco(back, tmp_path / "b.json")
    assert load(tmp_path / "b.json") == load(tmp_path / "a.json")


def test_store_without_frame_table_and_empty_store() -> None:
    store = AnnotationStore(Skeleton(["a", "b"], [(0, 1)]), n_frames=None, name="s")
    store.add_track(1, start=4)
    store.set_points(4, 1, [[1.0, 2.0], [3.0, 4.0]])
    empty = AnnotationStore(Skeleton(["c"]), name="empty")
    doc = coco_document(AnnotationSet([store, empty]))
    assert len(doc["images"]) == 5 and doc["images"][4]["frame_index"] == 4
    assert [c["name"] for c in doc["categories"]] == ["s", "empty"]
    assert doc["annotations"][0]["keypoints"] == [2.0, 1.0, 2, 4.0, 3.0, 2]


def test_4d_store_is_refused(tmp_path: Path) -> None:  # 3-D (z, y, x) stores: test_volume3d.py
    store = AnnotationStore(Skeleton(["a"]), coord_ndim=4, name="s")
    with pytest.raises(FormatError, match="2-D"):
        write_coco(AnnotationSet([store]), tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


# -- detection and dispatch -------------------------------------------------------------------------
def test_detect_and_dispatch(tmp_path: Path) -> None:
    assert looks_like_coco(load(SLEAP)) and looks_like_coco(load(RESULTS))
    assert (
        not looks_like_coco({"images": []}) and not looks_like_coco([]) and not looks_like_coco([{"bbox": 1}])
    )
    assert detect_format(SLEAP) == "coco" and detect_format(RESULTS) == "coco"
    darwin = DATA / "darwin2_video_skeleton_keypoint_mini_uct.json"
    assert detect_format(darwin) == "darwin"
    folder = tmp_path / "items"
    folder.mkdir()
    (folder / "a.json").write_bytes(darwin.read_bytes())
    assert detect_format(folder) == "darwin"
    ds = read(SLEAP)
    assert ds.stores[0].name == "mouse"
    out = write(ds, tmp_path / "c.json", "coco")
    assert load(out[0]) == load(SLEAP)
    with pytest.raises(FormatError, match="unknown format"):
        write(ds, tmp_path / "c.json", "yaml")  # type: ignore[arg-type]
    (tmp_path / "n.json").write_text('{"hello": 1}')
    with pytest.raises(FormatError, match="neither"):
        detect_format(tmp_path / "n.json")
    with pytest.raises(FormatError, match="no such"):
        detect_format(tmp_path / "missing.json")


# -- bad input ----------------------------------------------------------------------------------------
GOOD = [1, 2, 2, 3, 4, 1]


@pytest.mark.parametrize(
    ("anns", "match"),
    [
        ([_ann(17, 1, [1, 2, 2])], r"annotation id 17, field 'keypoints': expected a list of 3\*2 = 6"),
        ([_ann(17, 1, [1, "2", 2, 3, 4, 1])], r"annotation id 17, field 'keypoints': value 1 is '2'"),
        ([_ann(17, 1, [1, None, 2, 3, 4, 1])], r"annotation id 17, field 'keypoints': value 1 is None"),
        ([_ann(17, 1, [1, 2, 3, 3, 4, 1])], r"annotation id 17, field 'keypoints': node 0: visibility"),
        ([_ann(17, 1, [1, 2, 2, 3, 4, -1])], "visibility must be 0, 1 or 2"),
        ([_ann(17, 1, GOOD), _ann(17, 2, GOOD)], "annotation id 17: duplicate annotation id"),
        ([_ann(17, 99, GOOD)], r"annotation id 17, field 'image_id': refers to image id 99"),
        ([_ann(17, 1, GOOD) | {"category_id": 5}], r"annotation id 17, field 'category_id'"),
        (
            [_ann(1, 1, GOOD, track_id=3), _ann(2, 1, GOOD, track_id=3)],
            "track 3 has two annotations on one image",
        ),
        ([_ann(17, 1, GOOD, track_id=[1])], "track id"),
        ([_ann(17, 1, GOOD, keyskel={"keyframe": [1]})], "field 'keyskel'"),
        ([{"image_id": 1, "category_id": 1, "keypoints": "x"}], r"annotations\[0\], field 'keypoints'"),
        (["nope"], r"annotations\[0\]"),
    ],
)
def test_bad_annotations(tmp_path: Path, anns: list, match: str) -> None:
    p = _write(tmp_path, _doc(anns))
    with pytest.raises(FormatError, match=match) as exc:
        read_coco(p)
    assert str(p) in str(exc.value)


def test_bad_files(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text('{"images": [}')
    with pytest.raises(FormatError, match=r"bad\.json.*line 1"):
        read_coco(p)
    p.write_text(json.dumps(_doc([_ann(17, 1, GOOD)])).replace("[1, 2, 2", "[NaN, 2, 2"))
    with pytest.raises(FormatError, match="annotation id 17, field 'keypoints': node 0: coordinate"):
        read_coco(p)
    dup = _doc([])
    dup["images"].append({"id": 1})
    with pytest.raises(FormatError, match=r"image id 1.*duplicate image id"):
        read_coco(_write(tmp_path, dup))
    cat = _doc([], skeleton=[[0, 1], [1, 3]])  # 0 present, none = K: 0-based; [1, 3] points past
    with pytest.warns(FormatWarning) as got:
        sk = read_coco(_write(tmp_path, cat)).stores[0].skeleton
    assert sk.edges == ((0, 1),)
    msgs = [str(w.message) for w in got]
    assert any("in.json: category id 1, field 'skeleton'" in m and "numbered from 0" in m for m in msgs)
    assert any("edge [1, 3] points past the 2 nodes" in m for m in msgs)
    with pytest.raises(FormatError, match="needs an 'annotations' list"):
        read_coco(_write(tmp_path, {"images": [], "categories": []}))
    with pytest.raises(FormatError, match="cannot read"):
        read_coco(tmp_path / "missing.json")
    with pytest.raises(FormatError, match=r"results\[1\]"):
        read_coco(_write(tmp_path, [{"image_id": 1, "category_id": 1, "keypoints": GOOD, "score": 1}, {}]))


def test_garbage_collector_is_restored(tmp_path: Path) -> None:
    import gc

    assert gc.isenabled()
    read_coco(SLEAP)
    assert gc.isenabled()
    with pytest.raises(FormatError):
        read_coco(_write(tmp_path, _doc([_ann(1, 9, GOOD)])))
    assert gc.isenabled()  # paused only while reading, even when reading fails
    gc.disable()
    try:
        read_coco(SLEAP)
        assert not gc.isenabled()  # a caller's own choice is left alone
    finally:
        gc.enable()
