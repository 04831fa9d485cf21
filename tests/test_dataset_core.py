"""The dataset core: items, statuses, lazy reads and saving back to each format, one item at a time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.dataset import STATUSES, Counts, Dataset, Status, open_dataset
from napari_keyskel.dataset._frames import compact, put, renumber, take
from napari_keyskel.errors import FormatError, KeyskelError
from napari_keyskel.formats import write

DATA = Path(__file__).parent / "data"
V7 = [
    "darwin2_video_skeleton_keypoint_mini_uct.json",
    "darwin2_image_skeleton_image_1.json",
    "darwin2_image_keypoint_image_1.json",
]
MOUSE = Skeleton(["nose", "tail"], [(0, 1)], name="mouse")


def v7_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    for name in V7:
        shutil.copy(DATA / name, folder / name)
    return folder


def coco_file(tmp_path: Path, n: int = 4, keyed: tuple[int, ...] = (0, 2)) -> Path:
    store = AnnotationStore(MOUSE, n_frames=n, name="mouse")
    for f in keyed:
        t = store.add_track(store.new_track_id(), start=f, stop=f + 1)
        store.set_points(f, t.track_id, np.array([[10.0, 12.0], [20.0, 30.0]]), np.arange(2))
    frames = [
        {"item": f"img{i}.png", "frame": 0, "file_name": f"img{i}.png", "width": 64, "height": 48}
        for i in range(n)
    ]
    path = tmp_path / "poses.json"
    write(AnnotationSet([store], frames), path, "coco")
    return path


def add_pose(ann: AnnotationSet, frame: int, yx=((5.0, 6.0), (7.0, 8.0))) -> int:
    s = ann.stores[0]
    t = s.add_track(s.new_track_id(), start=frame, stop=frame + 1)
    s.set_points(frame, t.track_id, np.asarray(yx, float), np.arange(len(yx)))
    return t.track_id


# -- statuses ---------------------------------------------------------------------------------------
def test_status_round_trip_and_bad_status():
    st = Status.set_now("review", who="ana")
    assert Status.from_dict(st.to_dict()) == st
    assert st.when.endswith("Z") and st.who == "ana"
    assert Status.from_dict("complete").status == "complete"
    with pytest.raises(KeyskelError, match="unknown status 'done'"):
        Status("done")
    with pytest.raises(KeyskelError, match="where: 'who' must be text"):
        Status.from_dict({"status": "new", "who": 3}, "where")
    assert STATUSES == ("new", "annotate", "review", "complete")


# -- V7 export folder -------------------------------------------------------------------------------
def test_v7_folder_lists_items_lazily_and_reads_defaults(tmp_path):
    ds = open_dataset(v7_folder(tmp_path))
    assert ds.format == "darwin" and len(ds) == 3
    assert all(it.status is None and it.annotations is None for it in ds)  # nothing read yet
    video = ds["darwin2_video_skeleton_keypoint_mini_uct.json"]
    assert ds.status(video).status == "annotate"  # keypoints, no status: annotate
    assert video.name == "mini_uct.mp4" and video.kind == "video" and video.n_frames == 10
    assert video.annotations is None  # a header read builds no store
    c = ds.counts(video)
    assert c == Counts(labelled_frames=3, keys=5, instances=2, review_flags=0)
    assert ds.progress() == {"new": 0, "annotate": 3, "review": 0, "complete": 0}


def test_v7_status_and_edits_survive_and_only_changed_items_are_written(tmp_path):
    folder = v7_folder(tmp_path)
    before = {p.name: p.read_bytes() for p in folder.glob("*.json")}
    ds = open_dataset(folder)
    ds.set_status(0, "review", who="ana")
    ann = ds.annotations(1)
    add_pose(ann, 0)
    ds.mark_changed(1)
    written = ds.save()
    assert {p.name for p in written} == {V7[2], V7[1]}
    assert (folder / V7[0]).read_bytes() == before[V7[0]]  # not changed: not written
    assert ds.save() == []  # nothing left to write
    again = open_dataset(folder)
    assert again.status(0) == Status("review", "ana", again.status(0).when)
    assert again.status(0).when is not None
    assert again.counts(1).instances == 2
    doc = json.loads((folder / V7[2]).read_text())
    assert doc["keyskel"]["status"]["status"] == "review"
    assert doc["annotations"] == json.loads(before[V7[2]])["annotations"]  # status only: nothing else


def test_complete_is_refused_with_unreviewed_flags_unless_forced(tmp_path):
    from napari_keyskel.assist.review import detect
    from napari_keyskel.assist.review.states import set_state
    from napari_keyskel.samples.synthetic import moving_figure

    _, store = moving_figure(n_frames=40, shape=(64, 64), render=False, key_step=1)
    t = next(iter(store))
    t.coords[20] += 25.0  # a jump the detectors flag
    folder = tmp_path / "v7"
    folder.mkdir()
    write(AnnotationSet([store]), folder / "clip.json", "darwin")
    ds = open_dataset(folder)
    with pytest.raises(KeyskelError, match=r"unreviewed review flag.*jump"):
        ds.set_status(0, "complete")
    assert ds.status(0).status == "annotate"
    ds.set_status(0, "complete", force=True)
    assert ds.status(0).status == "complete"
    # once reviewed, completing needs no force
    ann = ds.annotations(0)
    for s in ann.stores:
        flags = detect(s)
        for f, tid in zip(flags.frame.tolist(), flags.track_id.tolist()):
            set_state(s, f, tid, "accepted")
    ds.mark_changed(0)
    ds.set_status(0, "review")
    ds.set_status(0, "complete")
    ds.save()
    assert open_dataset(folder).status(0).status == "complete"


def test_a_bad_status_names_the_file(tmp_path):
    folder = v7_folder(tmp_path)
    doc = json.loads((folder / V7[0]).read_text())
    doc["keyskel"] = {"status": {"status": "finished"}}
    (folder / V7[0]).write_text(json.dumps(doc))
    ds = open_dataset(folder)
    with pytest.raises(FormatError, match=rf"{V7[0]}.*unknown status 'finished'"):
        ds.status(V7[0])


# -- folder of media ----------------------------------------------------------------------------------
def test_media_folder_items_skip_skeletons_and_annotations(tmp_path):
    root = tmp_path / "media"
    (root / "stills").mkdir(parents=True)
    for name in ("b.mp4", "a.avi", "notes.txt"):
        (root / name).write_bytes(b"")
    (root / "stills" / "x.png").write_bytes(b"")
    (root / "one.jpg").write_bytes(b"")
    MOUSE.save(root / "mouse.skeleton.json")
    ds = open_dataset(root)
    assert ds.format == "folder"
    assert [(it.name, it.kind) for it in ds] == [
        ("a.avi", "video"),
        ("b.mp4", "video"),
        ("one.jpg", "image"),
        ("stills", "images"),
    ]
    assert [sk.name for sk in ds.skeletons()] == ["mouse"]
    assert all(ds.status(it).status == "new" for it in ds)
    # annotations made for an item go to annotations/<stem>.json, a Darwin file, status included
    ann = AnnotationSet(
        [AnnotationStore(MOUSE, n_frames=5, name="mouse")],
        [{"item": "b.mp4", "frame": f, "width": 32, "height": 32} for f in range(5)],
    )
    add_pose(ann, 2)
    ds.set_annotations("b.mp4", ann)
    assert ds.status("b.mp4").status == "annotate"  # the first keypoints move a new item on
    ds.save()
    assert (root / "annotations" / "b.json").is_file()
    again = open_dataset(root)
    assert again.format == "folder"  # the annotations folder does not make it a V7 export
    assert again.status("b.mp4").status == "annotate" and again.status("b.mp4").who
    assert again.counts("b.mp4").keys == 2


# -- COCO file with many images ---------------------------------------------------------------------------
def test_coco_items_status_and_edits_round_trip(tmp_path):
    from pycocotools.coco import COCO

    path = coco_file(tmp_path)
    ds = open_dataset(path)
    assert ds.format == "coco" and [it.key for it in ds] == [f"img{i}.png" for i in range(4)]
    assert [ds.status(i).status for i in range(4)] == ["annotate", "new", "annotate", "new"]
    assert ds.counts(0).keys == 2 and ds.counts(1).keys == 0
    ann = ds.annotations(1)
    assert len(ann.frames) == 1 and ann.frames[0]["item"] == "img1.png"
    add_pose(ann, 0)
    ds.mark_changed(1)
    ds.set_status(2, "complete")
    ds.save()
    doc = json.loads(path.read_text())
    assert [im["id"] for im in doc["images"]] == [1, 2, 3, 4]  # the images keep their ids
    assert len({a["id"] for a in doc["annotations"]}) == 3
    assert doc["keyskel"]["status"]["img2.png"]["status"] == "complete"
    coco = COCO(str(path))  # pycocotools still reads it (ignores our extra)
    assert len(coco.getAnnIds(imgIds=[2])) == 1
    again = open_dataset(path)
    assert [again.status(i).status for i in range(4)] == ["annotate", "annotate", "complete", "new"]
    got = again.annotations(1).stores[0]
    assert np.allclose(next(iter(got)).coords[0], [[5, 6], [7, 8]])


def test_coco_results_file_is_not_a_dataset(tmp_path):
    path = tmp_path / "res.json"
    path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "keypoints": [1, 2, 1], "score": 1.0}]))
    with pytest.raises(FormatError, match="results list is not a dataset"):
        open_dataset(path)


# -- SLEAP file with many videos ----------------------------------------------------------------------------
def test_sleap_videos_are_items_and_saved_back(tmp_path):
    import sleap_io as sio

    sk = sio.Skeleton(["nose", "tail"], edges=[("nose", "tail")], name="mouse")
    videos = []
    for name, n in (("a.mp4", 20), ("b.mp4", 30)):
        v = sio.Video(filename=str(tmp_path / name), open_backend=False)
        v.backend_metadata["shape"] = (n, 32, 32, 1)
        videos.append(v)
    tr = sio.Track("m1")
    lfs = [
        sio.LabeledFrame(
            video=videos[0],
            frame_idx=3,
            instances=[sio.Instance.from_numpy(np.array([[1.0, 2], [3, 4]]), skeleton=sk, track=tr)],
        ),
        sio.LabeledFrame(
            video=videos[1],
            frame_idx=5,
            instances=[sio.Instance.from_numpy(np.array([[5.0, 6], [7, 8]]), skeleton=sk, track=tr)],
        ),
    ]
    path = tmp_path / "p.slp"
    sio.save_slp(sio.Labels(labeled_frames=lfs, videos=videos, skeletons=[sk], tracks=[tr]), str(path))
    ds = open_dataset(path)
    assert ds.format == "sleap" and [(it.key, it.n_frames) for it in ds] == [("a.mp4", 20), ("b.mp4", 30)]
    ann = ds.annotations("b.mp4")
    s = ann.stores[0]
    s.set_points(10, s.track_ids[0], np.array([[9.0, 9.0], [10.0, 10.0]]), np.arange(2))
    ds.mark_changed("b.mp4")
    ds.set_status("a.mp4", "review")
    ds.save()
    again = open_dataset(path)
    assert again.status("a.mp4").status == "review"
    assert again.counts("b.mp4").labelled_frames == 2 and again.counts("a.mp4").labelled_frames == 1


# -- frame runs --------------------------------------------------------------------------------------
def test_take_put_renumber_compact_keep_points_and_review_states():
    store = AnnotationStore(MOUSE, n_frames=30, name="mouse")
    t = store.add_track(1, start=5, stop=25)
    for f in (5, 12, 24):
        store.set_points(f, 1, np.array([[f, f], [f + 1, f + 1]], float), np.arange(2))
    t.meta["review"] = {
        "12": {"state": "accepted", "comment": ""},
        "24": {"state": "rejected", "comment": ""},
    }
    whole = AnnotationSet([store], [{"item": "v", "frame": f} for f in range(30)])
    part = take(whole, 10, 20)
    pt = part.stores[0].tracks[1]
    assert (
        pt.start == 0
        and np.allclose(pt.coords[2, 0], 12)
        and pt.meta["review"] == {"2": {"state": "accepted", "comment": ""}}
    )
    part.stores[0].set_points(4, 1, np.array([[1.0, 1.0], [2.0, 2.0]]), np.arange(2))
    back = put(whole, part, 10, 20).stores[0].tracks[1]
    assert np.allclose(back.coords[14 - back.start, 0], 1) and np.allclose(
        back.coords[24 - back.start, 0], 24
    )
    assert set(back.meta["review"]) == {"12", "24"}
    sparse = compact(whole, [5, 12, 24])
    st = sparse.stores[0].tracks[1]
    assert st.start == 0 and len(st) == 3 and set(st.meta["review"]) == {"1", "2"}
    dense = renumber(sparse, [5, 12, 24], 30).stores[0].tracks[1]
    assert (
        dense.start == 5
        and np.allclose(dense.coords[12 - 5, 0], 12)
        and set(dense.meta["review"]) == {"12", "24"}
    )


def test_unknown_path_and_not_a_dataset(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="not a dataset"):
        open_dataset(tmp_path / "empty")
    assert isinstance(open_dataset(coco_file(tmp_path)), Dataset)


# -- DeepLabCut project -----------------------------------------------------------------------------------
def test_dlc_project_folders_are_items_with_statuses(tmp_path):
    import imageio.v3 as iio
    import pandas as pd

    root = tmp_path / "proj"
    parts = ("snout", "tailbase")
    for video, n in (("mice", 3), ("rats", 2)):
        folder = root / "labeled-data" / video
        folder.mkdir(parents=True)
        for i in range(n):
            iio.imwrite(folder / f"img{i:04d}.png", np.full((40, 56), 30 * i, np.uint8))
    (root / "config.yaml").write_text(
        "Task: mice\nscorer: Alice\nmultianimalproject: false\nbodyparts: [snout, tailbase]\n"
        "skeleton:\n- [snout, tailbase]\n"
    )
    cols = pd.MultiIndex.from_product([["Alice"], parts, ["x", "y"]], names=["scorer", "bodyparts", "coords"])
    rows = pd.MultiIndex.from_tuples([("labeled-data", "mice", f"img{i:04d}.png") for i in range(3)])
    xy = np.array([[5.0, 6, 15, 16], [7, 8, 17, 18], [np.nan, np.nan, 19, 20]])
    pd.DataFrame(xy, index=rows, columns=cols).to_csv(
        root / "labeled-data" / "mice" / "CollectedData_Alice.csv"
    )
    ds = open_dataset(root / "config.yaml")
    assert ds.format == "dlc" and [(it.key, it.kind, it.n_frames) for it in ds] == [
        ("mice", "images", 3),
        ("rats", "images", 2),
    ]
    assert [ds.status(i).status for i in range(2)] == ["annotate", "new"]
    assert ds.counts("mice").keys == 5 and ds.counts("mice").labelled_frames == 3
    assert [sk.nodes for sk in ds.skeletons()] == [parts] and ds.skeletons()[0].edges == ((0, 1),)
    ds.set_status("rats", "review")
    with pytest.raises(KeyskelError, match="1 missing"):  # the third image lacks its snout
        ds.set_status("mice", "complete")
    ds.set_status("mice", "complete", force=True)
    ds.save()
    again = open_dataset(root)
    assert [again.status(i).status for i in range(2)] == ["complete", "review"]
    assert json.loads((root / "keyskel-status.json").read_text())["status"]["rats"]["status"] == "review"
