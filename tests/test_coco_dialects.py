"""COCO dialects other tools write (tests/data, see its README): read them, lose nothing, warn.

Each file is a small made-up file in the layout of a public dataset or tool: CrowdPose's
skeleton pointing past its 14 nodes, a 0-based skeleton, model results with confidences,
categories that name no keypoints, PoseTrack ``vid_id`` and COCO-video ``video_id`` files, and a
COCO of unrelated images sharing a track id.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from napari_keyskel.cli.main import main
from napari_keyskel.core.keyframes import interpolate_all
from napari_keyskel.errors import FormatError, FormatWarning
from napari_keyskel.formats import read
from napari_keyskel.formats.coco import read_coco, write_coco
from napari_keyskel.formats.darwin import read_darwin, write_darwin

DATA = Path(__file__).parent / "data"
CROWDPOSE = DATA / "coco_crowdpose_like_skeleton_past_k.json"
ZERO_BASED = DATA / "coco_zero_based_skeleton.json"
RESULTS = DATA / "coco_results_confidences.json"
RESULTS_GT = DATA / "coco_results_confidences_gt.json"
NAMELESS = DATA / "coco_categories_without_keypoint_names.json"
POSETRACK = DATA / "coco_posetrack_vid_id.json"
VIDEO_ID = DATA / "coco_video_id_tracks.json"
UNRELATED = DATA / "coco_unrelated_images.json"
PSEUDO = DATA / "coco_pseudolabels_confidences_in_gt.json"


def load(p: Path) -> object:
    return json.loads(Path(p).read_text())


def _warnings(fn, *args, **kwargs) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in got if issubclass(w.category, FormatWarning)]


def test_crowdpose_skeleton_pointing_past_k_is_read_with_a_warning_per_edge(tmp_path: Path) -> None:
    ds, msgs = _warnings(read_coco, CROWDPOSE)
    s = ds.stores[0]
    assert s.n_nodes == 14 and s.counts()["instances"] == 3
    dropped = [e for e in load(CROWDPOSE)["categories"][0]["skeleton"] if max(e) > 14]
    assert len(dropped) == 3 and len(s.skeleton.edges) == 19 - 3
    for e in dropped:  # each dropped edge named, with the file and the category
        assert any(f"{CROWDPOSE}: category id 1, field 'skeleton': edge {e}" in m for m in msgs), e
    out = json.loads(write_coco(ds, tmp_path / "out.json")[0].read_text())
    assert all(max(e) <= 14 for e in out["categories"][0]["skeleton"])  # a valid skeleton is written
    assert out["images"] == load(CROWDPOSE)["images"]  # crowdIndex and all kept


def test_zero_based_skeleton_detected() -> None:
    ds, msgs = _warnings(read_coco, ZERO_BASED)
    assert ds.stores[0].skeleton.edges == ((0, 1), (0, 2), (0, 3), (3, 4))
    assert any("numbered from 0" in m and "category id 1" in m for m in msgs)


def test_results_with_confidences_keep_scores_and_image_ids_through_darwin(tmp_path: Path) -> None:
    ds = read_coco(RESULTS, images=RESULTS_GT)
    s = ds.stores[0]
    src = load(RESULTS)
    conf = sorted(v for r in src for v in r["keypoints"][2::3])
    got = sorted(float(v) for t in s for v in t.score[np.isfinite(t.score)])
    np.testing.assert_allclose(got, conf, rtol=1e-6)  # every confidence is a node's score
    assert all((t.visibility[np.isfinite(t.coords[..., 0])] == 2).all() for t in s)
    write_darwin(ds, tmp_path / "d")  # results -> Darwin (a folder: 3 images) -> results
    back = read_darwin(tmp_path / "d")
    out = load(write_coco(back, tmp_path / "res.json", results=True)[0])

    def key(r: dict) -> tuple:
        return (r["image_id"], r["score"])

    assert sorted(out, key=key) == sorted(src, key=key)
    assert [set(r) for r in out] == [{"image_id", "category_id", "keypoints", "score"}] * len(src)


def test_results_without_ground_truth_and_pycocotools_scores_ours(tmp_path: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ds = read_coco(RESULTS)  # no images= : one item per image id, generic node names
    assert ds.stores[0].skeleton.nodes == tuple(f"kp{i}" for i in range(5))
    gt_path = write_coco(read_coco(RESULTS_GT), tmp_path / "gt.json", oks_sigmas=[0.05] * 5)[0]
    res_path = write_coco(read_coco(RESULTS, images=RESULTS_GT), tmp_path / "res.json", results=True)[0]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        dt = gt.loadRes(str(res_path))
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.full(5, 0.05)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert len(dt.anns) == len(load(RESULTS)) and np.isfinite(ev.stats[0])


def test_categories_without_keypoint_names_get_generic_nodes(tmp_path: Path, capsys) -> None:
    ds, msgs = _warnings(read_coco, NAMELESS)
    assert [s.name for s in ds.stores] == ["face", "hand"]
    face, hand = ds.stores
    assert face.skeleton.nodes == tuple(f"kp{i}" for i in range(6)) and hand.n_nodes == 4
    assert face.counts()["instances"] == 2 and hand.counts()["instances"] == 1
    assert any("category id 1" in m and "kp0..kp5" in m for m in msgs)
    out = load(write_coco(ds, tmp_path / "out.json")[0])
    assert out["categories"] == load(NAMELESS)["categories"]  # written back as they were
    assert main(["info", str(NAMELESS)]) == 0
    printed = capsys.readouterr()
    assert "face: 6 nodes" in printed.out and "instances: 3" in printed.out
    assert "names no keypoints" in printed.err  # the warning on stderr


@pytest.mark.parametrize("path", [POSETRACK, VIDEO_ID])
def test_track_ids_are_per_video_and_survive_darwin_exactly(tmp_path: Path, path: Path) -> None:
    ds = read_coco(path)
    s = ds.stores[0]
    items = {fr["item"] for fr in ds.frames}
    assert len(items) == 2  # one item per vid_id / video_id
    for t in s:  # no track spans two videos
        assert len({ds.frames[f]["item"] for f in range(t.start, t.stop) if t.alive[f - t.start]}) == 1
    write_darwin(ds, tmp_path / "d")
    out = load(write_coco(read_darwin(tmp_path / "d"), tmp_path / "back.json")[0])
    src = load(path)

    def ids(doc: dict) -> list[tuple]:
        return sorted((a["image_id"], a["track_id"], tuple(a["keypoints"])) for a in doc["annotations"])

    assert ids(out) == ids(src)  # track ids (0 and ids recurring in two videos) come back exactly
    assert out["images"] == src["images"]


@pytest.mark.parametrize("path", [POSETRACK, VIDEO_ID, UNRELATED])
def test_interpolation_never_crosses_videos_or_unrelated_images(tmp_path: Path, path: Path) -> None:
    ds = read_coco(path)
    before = {fr: set() for fr in range(len(ds.frames))}
    for t in ds.stores[0]:
        for r in np.flatnonzero(np.isfinite(t.coords[..., 0]).any(axis=1)):
            before[t.start + int(r)].add(t.track_id)
    for s in ds.stores:
        interpolate_all(s)
    for t in ds.stores[0]:
        item = {ds.frames[t.start + int(r)]["item"] for r in np.flatnonzero(t.is_key.any(axis=1))}
        assert len(item) == 1
        for r in np.flatnonzero(np.isfinite(t.coords[..., 0]).any(axis=1)):
            f = t.start + int(r)
            assert ds.frames[f]["item"] in item  # nothing filled on another video's images
    if path is UNRELATED:  # the image between two unrelated images gets nothing
        assert all(
            not np.isfinite(t.coords[1 - t.start, :, 0]).any() for t in ds.stores[0] if t.start <= 1 < t.stop
        )
    # the same through the command line
    assert main(["interpolate", str(path), str(tmp_path / "i.json")]) == 0
    again = read(tmp_path / "i.json")
    assert sum(s.counts()["points"] for s in again.stores) == sum(s.counts()["points"] for s in ds.stores)


def test_posetrack_frames_numbered_from_file_names() -> None:
    ds = read_coco(POSETRACK)
    assert [fr["frame"] for fr in ds.frames] == [0, 1, 2, 0, 1, 2]
    assert ds.frames[0]["item"] == "video_000342" and ds.frames[3]["item"] == "video_000522"


def test_ground_truth_whose_third_values_are_confidences_keeps_them_as_scores(tmp_path: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from napari_keyskel.errors import FormatError

    ds, said = _warnings(read_coco, PSEUDO)
    assert len(said) == 1 and str(PSEUDO) in said[0] and "'mouse'" in said[0] and "confidences" in said[0]
    (s,) = ds.stores
    src = load(PSEUDO)["annotations"]
    conf = sorted(v for a in src for v in a["keypoints"][2::3] if v > 0)
    got = sorted(float(v) for t in s for v in t.score[np.isfinite(t.score)])
    np.testing.assert_allclose(got, conf, rtol=1e-6)  # every confidence is a node's score
    placed = sum(int(np.isfinite(t.coords[..., 0]).sum()) for t in s)
    assert placed == len(conf) and all((t.visibility[np.isfinite(t.coords[..., 0])] == 2).all() for t in s)
    # ours: COCO visibility 2 and the scores in our extra; the same store back, and through V7
    out = write_coco(ds, tmp_path / "gt.json")[0]
    back, said_back = _warnings(read_coco, out)
    assert not said_back
    for via in (back, read_darwin(write_darwin(ds, tmp_path / "v7")[0].parent)):
        got_back = sorted(float(v) for t in via.stores[0] for v in t.score[np.isfinite(t.score)])
        np.testing.assert_allclose(got_back, got, rtol=1e-6)
    assert {a["score"] for a in load(out)["annotations"]} == {a["score"] for a in src}  # kept as read
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools loads and scores the file we wrote
        gt = COCO(str(out))
        dt = gt.loadRes(
            [{k: a[k] for k in ("image_id", "category_id", "keypoints", "score")} for a in gt.anns.values()]
        )
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.full(5, 0.05)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
    # visibility and confidences mixed in one category: refused, naming the place
    doc = load(PSEUDO)
    doc["annotations"][0]["keypoints"][5] = 2
    bad = tmp_path / "mixed.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=r"annotation id 101.*visibility must be 0, 1 or 2"):
        read_coco(bad)


def _individuals() -> object:
    """Two named individuals over two unrelated images and a 3-frame video (a DeepLabCut-like set)."""
    from napari_keyskel import AnnotationSet, AnnotationStore, Skeleton

    frames = [{"item": "img_a.png", "frame": 0}, {"item": "img_b.png", "frame": 0}]
    frames += [{"item": "clip.mp4", "frame": f} for f in range(3)]
    store = AnnotationStore(Skeleton(["nose", "tail"], [(0, 1)], name="mouse"), n_frames=5, name="mouse")
    rng = np.random.default_rng(3)
    for tid, name, on in ((1, "mouse1", [0, 1, 2, 4]), (2, "mouse2", [1, 2, 3])):
        t = store.add_track(track_id=tid, name=name, start=0, stop=5)
        t.alive[:] = False
        t.alive[on] = True
        for f in on:
            store.set_points(f, tid, rng.uniform(0, 50, (2, 2)).round(2))
    return AnnotationSet(stores=[store], frames=frames)


def test_one_individual_across_images_and_videos_stays_one_instance(tmp_path: Path) -> None:
    """Issue 24 item 2: a named individual seen in several images and a video, through COCO."""
    ds = _individuals()
    (p,) = write_coco(ds, tmp_path / "mice.json")
    back = read_coco(p)
    want = ds.stores[0]
    got = back.stores[0]
    assert [(t.track_id, t.name) for t in got] == [(1, "mouse1"), (2, "mouse2")]

    def whole(t: object) -> tuple[np.ndarray, np.ndarray]:  # alive and coords over the 5 frames
        alive, coords = np.zeros(5, bool), np.full((5, 2, 2), np.nan)
        alive[t.start : t.stop], coords[t.start : t.stop] = t.alive, t.coords
        return alive, coords

    for t in want:
        for a, b in zip(whole(got.tracks[t.track_id]), whole(t)):
            np.testing.assert_array_equal(a, b)
    again = load(write_coco(back, tmp_path / "again.json")[0])
    assert again == load(p)
    interpolate_all(got)  # one instance, still never interpolated across items
    assert not np.isfinite(got.tracks[1].coords[3 - got.tracks[1].start]).any()


def test_a_track_name_is_one_instance_across_unrelated_images(tmp_path: Path) -> None:
    doc = load(UNRELATED)
    for a in doc["annotations"]:
        a["track_id"] = "zebra"
    p = tmp_path / "named.json"
    p.write_text(json.dumps(doc))
    (t,) = read_coco(p).stores[0]
    assert t.name == "zebra" and int(np.isfinite(t.coords[..., 0]).any(axis=1).sum()) == 2
    assert not t.alive[1 - t.start]  # the image between them is another item
    out = load(write_coco(read_coco(p), tmp_path / "back.json")[0])
    assert [a["track_id"] for a in out["annotations"]] == ["zebra", "zebra"]


@pytest.mark.parametrize("bad", [2000000.0, 1e20, -0.25, 2])
def test_a_results_third_value_outside_0_1_is_not_a_confidence(tmp_path: Path, bad: float) -> None:
    """Issue 24 item 10: confidences are in [0, 1]; anything else is refused, naming the place."""
    res = load(RESULTS)
    res[2]["keypoints"][5] = bad  # node 1 of the third result (the others are confidences)
    p = tmp_path / "res.json"
    p.write_text(json.dumps(res))
    with pytest.raises(FormatError, match=r"node 1: the third value is neither a visibility .* in \[0, 1\]"):
        read_coco(p, images=RESULTS_GT)


def test_results_of_scores_outside_0_1_write_visibility_and_keep_scores(tmp_path: Path) -> None:
    ds = read_coco(RESULTS, images=RESULTS_GT)
    t = next(iter(ds.stores[0]))
    t.score[np.isfinite(t.score)] *= 40  # a model whose scores are not confidences

    def scores(store: object) -> list[float]:
        return sorted(x for t in store for x in t.score[np.isfinite(t.score)].tolist())

    want = scores(ds.stores[0])
    assert max(want) > 30
    (p,) = write_coco(ds, tmp_path / "res.json", results=True)
    assert all(v in (0, 1, 2) for a in load(p) for v in a["keypoints"][2::3])
    assert scores(read_coco(p, images=RESULTS_GT).stores[0]) == want


def test_bad_skeleton_edges_are_dropped_with_a_warning_naming_each(tmp_path: Path) -> None:
    """Issue 24 item 10: an edge that is not a pair of two different node numbers."""
    doc = load(DATA / "coco_keypoints_sleapio_visibility_ternary.json")
    doc["categories"][0]["skeleton"] = [[1, 2], [1, 1], [1, 2, 3], [True, 2], [1.0, 2.0], "x", [2, 1], [2, 3]]
    p = tmp_path / "edges.json"
    p.write_text(json.dumps(doc))
    ds, msgs = _warnings(read_coco, p)
    assert ds.stores[0].skeleton.edges == ((0, 1), (1, 2))
    for edge, why in (
        ("[1, 1]", "self-loop"),
        ("[1, 2, 3]", "not a pair of node numbers"),
        ("[True, 2]", "not a pair of node numbers"),
        ("[1.0, 2.0]", "not a pair of node numbers"),
        ("'x'", "not a pair of node numbers"),
        ("[2, 1]", "repeated"),
    ):
        assert any(f"edge {edge} is" in m and why in m and "category id 1" in m for m in msgs), (edge, msgs)
    assert len(msgs) == 6


@pytest.mark.parametrize(
    ("edges", "named"),
    [
        ([[0, 0]], "self-loop"),
        ([[0, 1, 2]], "exactly two"),
        ([[True, 1]], "True is not a node"),
        ([[0.0, 1.0]], "0.0 is not a node"),
        (["x"], "exactly two"),
        ([[0, 1], [1, 0]], "duplicated"),
    ],
)
def test_bad_edges_in_our_v7_extra_and_skeleton_files_are_refused(tmp_path: Path, edges, named) -> None:
    from napari_keyskel import Skeleton

    sk = Skeleton(["node", "2", "3"], name="test_skeleton_basic").to_dict()
    sk["edges"] = edges
    doc = load(DATA / "darwin2_video_skeleton_keypoint_mini_uct.json")
    doc["keyskel"] = {"classes": [{"name": "test_skeleton_basic", "skeleton": sk}]}
    (tmp_path / "v.json").write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=f"not a valid skeleton: .*{named}"):
        read_darwin(tmp_path / "v.json")
    (tmp_path / "m.skeleton.json").write_text(json.dumps(sk))
    with pytest.raises(FormatError, match=f"not a valid skeleton file: .*{named}"):
        read_coco(
            DATA / "coco_keypoints_sleapio_visibility_ternary.json", skeleton=tmp_path / "m.skeleton.json"
        )
