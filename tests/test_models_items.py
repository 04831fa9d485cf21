"""A pose model over every item of a dataset: pending proposals per item, through the core, API and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import _model_graphs as g
import numpy as np
import onnxruntime  # noqa: F401  (a promised engine: fail, not skip, without it)
import pytest
from _media_samples import make_video
from test_models_core import KP1, KP2, META, NAMES, TARGETS, crop_geometry, crop_to_image, norm_max

from napari_keyskel import api
from napari_keyskel.assist import models
from napari_keyskel.assist.models.decode import letterbox_params
from napari_keyskel.assist.models.over_items import item_frames, iter_predict_items, predict_items
from napari_keyskel.cli.main import main
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.dataset import open_dataset
from napari_keyskel.dataset.pending import (
    clear_pending,
    items_with_pending,
    pending_folder,
    pending_path,
    read_pending,
    write_pending,
)
from napari_keyskel.errors import KeyskelError

#: The dataset's skeleton: the model's names in another order (mapped by names).
WORM = Skeleton(["tail", "body", "head"], [("tail", "body"), ("body", "head")], name="worm")
#: Videos of the dataset: name -> (frames, (width, height)).
CLIPS = {"clip0.mp4": (6, (200, 100)), "clip1.mp4": (5, (160, 120)), "clip2.mp4": (4, (96, 64))}


def make_dataset(root: Path, broken: bool = True) -> Path:
    """Three small videos of different sizes, a skeleton file, and (``broken``) a file that is no video."""
    root.mkdir(parents=True)
    for name, (n, size) in CLIPS.items():
        make_video(root / name, n, size=size, gop=10)
    if broken:
        (root / "zbroken.mp4").write_bytes(b"this is not a video")
    WORM.save(root / "worm.skeleton.json")
    return root


def still_yolo(path: Path) -> Path:
    """A YOLO-pose graph whose two worms stay put whatever the frame (lossy video can't move them)."""
    dets = [(110, 130, 40, 40, 0.9, KP1, False), (210, 205, 40, 20, 0.8, KP2, False)]
    base, shift = g.yolo_rows(dets, 3, 20)
    return g.yolo_pose(path, base, shift, metadata=META)


def expected(kp, size) -> np.ndarray:
    """Store ``(y, x)`` of a still YOLO detection on a ``(width, height)`` video, nodes tail, body, head."""
    w, h = size
    gain, top, left, _, _ = letterbox_params((h, w), (320, 320))
    xy = (np.asarray(kp, float)[:, :2] - [left, top]) / gain
    return xy[::-1, ::-1]  # head, body, tail -> tail, body, head; (x, y) -> (y, x)


def proposed_frames(store: AnnotationStore) -> list[int]:
    placed = [(t, np.flatnonzero(np.isfinite(t.coords[..., 0]).any(axis=1))) for t in store]
    return sorted({t.start + int(r) for t, rows in placed for r in rows})


def poses_on(store: AnnotationStore, f: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(coords, scores)`` of each instance on frame f, ordered by x of the head."""
    out = [
        (t.coords[f - t.start], t.score[f - t.start])
        for t in store
        if t.start <= f < t.stop and np.isfinite(t.coords[f - t.start]).any()
    ]
    return sorted(out, key=lambda cs: cs[0][2, 1])


def check_item(store: AnnotationStore, name: str, frames: list[int]) -> None:
    """The item's proposals: both worms on exactly ``frames``, within 0.5 px, with their scores."""
    assert proposed_frames(store) == frames, name
    size = CLIPS[name][1]
    for f in frames:
        (a, sa), (b, sb) = poses_on(store, f)
        assert np.abs(a - expected(KP1, size)).max() < 0.5, (name, f)
        assert np.abs(b - expected(KP2, size)).max() < 0.5, (name, f)
        np.testing.assert_allclose(sa, [0.7, 0.8, 0.9], atol=1e-6)
        np.testing.assert_allclose(sb, [0.6, 0.5, 0.95], atol=1e-6)


def test_every_item_every_k_th_frame_pending_and_a_broken_item_named(tmp_path):
    root = make_dataset(tmp_path / "worms")
    ds = open_dataset(root)
    model = models.PoseModel(still_yolo(tmp_path / "yolo.onnx"))
    gen = iter_predict_items(ds, model, every=2)
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            summary = stop.value
            break
    assert [s.name for s in steps if s.done == 0][:3] == ["clip0.mp4", "clip1.mp4", "clip2.mp4"]
    assert all(0 <= s.fraction <= 1 for s in steps) and steps[-1].name == "zbroken.mp4"
    assert summary.items_run == 3 and summary.frames == 3 + 3 + 2
    assert summary.nodes == 8 * 2 * 3  # 8 frames, 2 worms, 3 nodes
    assert [name for name, _ in summary.failures] == ["zbroken.mp4"]
    assert "not a readable video" in summary.failures[0][1]
    text = summary.describe()
    assert "3 items run (8 frames): 48 proposed nodes" in text and "zbroken.mp4" in text
    # pending proposals beside the dataset, one file per item, on the right items and frames
    assert pending_folder(ds) == root / ".keyskel" / "proposals"
    assert [it.name for it in items_with_pending(ds)] == list(CLIPS)
    again = open_dataset(root)  # survive closing and reopening the dataset
    assert [it.name for it in again] == [*CLIPS, "zbroken.mp4"]  # the folder is not an item
    for name, (n, _) in CLIPS.items():
        store = read_pending(again, name)
        assert store is not None and store.skeleton.nodes == WORM.nodes and store.n_frames == n
        check_item(store, name, list(range(0, n, 2)))
    assert read_pending(again, "zbroken.mp4") is None
    # clearing one item's proposals leaves the others
    clear_pending(again, "clip1.mp4")
    assert [it.name for it in items_with_pending(again)] == ["clip0.mp4", "clip2.mp4"]


def test_only_new_items_and_the_frames_between_keys(tmp_path):
    root = make_dataset(tmp_path / "worms", broken=False)
    ds = open_dataset(root)
    s = AnnotationStore(WORM, 2, 0, 5, name="worm")
    s.add_track(1, start=0, stop=5)
    for f in (0, 4):
        s.set_points(f, 1, [[90.0, 20.0], [92.0, 24.0], [94.0, 28.0]])
    ds.set_annotations("clip1.mp4", AnnotationSet([s]))  # clip1: keyed on 0 and 4, so 'annotate'
    ds.save()
    ds = open_dataset(root)
    assert [ds.status(i).status for i in range(3)] == ["new", "annotate", "new"]
    model = models.PoseModel(still_yolo(tmp_path / "yolo.onnx"))
    summary = predict_items(ds, model, status="new")
    assert [r.name for r in summary.results] == ["clip0.mp4", "clip2.mp4"]
    assert read_pending(ds, "clip1.mp4") is None
    check_item(read_pending(ds, "clip2.mp4"), "clip2.mp4", [0, 1, 2, 3])
    between = predict_items(ds, model, where="between_keys")
    assert [r.name for r in between.results] == ["clip1.mp4"]
    assert {name for name, _ in between.skipped} == {"clip0.mp4", "clip2.mp4"}  # no keys there
    store = read_pending(ds, "clip1.mp4")
    check_item(store, "clip1.mp4", [1, 2, 3])
    assert 1 not in store.tracks  # new instances: the annotated one keeps its id
    suggested = predict_items(ds, model, where="suggested", suggestions={"clip0.mp4": [5, 1]}, n_suggest=2)
    assert proposed_frames(read_pending(ds, "clip0.mp4")) == [1, 5]  # the frames suggested there
    assert len(proposed_frames(read_pending(ds, "clip2.mp4"))) == 2  # 2 frames suggested on the spot
    assert not set(proposed_frames(read_pending(ds, "clip1.mp4"))) & {0, 4}  # never its keyed frames
    assert suggested.items_run == 3
    with pytest.raises(KeyskelError, match="unknown status 'done'"):
        predict_items(ds, model, status="done")


def test_a_top_down_model_crops_each_item_s_instances_mapped_by_order(tmp_path):
    root = make_dataset(tmp_path / "worms", broken=False)
    ds = open_dataset(root)
    s = AnnotationStore(WORM, 2, 0, 6, name="worm")
    s.add_track(4, start=0, stop=3)
    for f in range(3):
        s.set_points(f, 4, [[30.0, 40.0], [50.0, 60.0], [70.0, 80.0]])  # box x 40..80, y 30..70
    ds.set_annotations("clip0.mp4", AnnotationSet([s]))
    ds.save()
    model = models.PoseModel(g.simcc(tmp_path / "rtm.onnx", TARGETS))  # no names: kp0..kp2, by order
    summary = api.predict_dataset(root, model, items=["clip0.mp4"], every=1)
    assert summary.items_run == 1 and not summary.failures
    store = read_pending(open_dataset(root), "clip0.mp4")
    center, scale = crop_geometry((40, 30, 80, 70))
    for f in range(3):
        (coords, scores), *_ = poses_on(store, f)
        assert [t.track_id for t in store if t.start <= f < t.stop] == [4]  # the instance's own id
        assert np.abs(coords[:, ::-1] - crop_to_image(TARGETS, center, scale)).max() < 0.5
        assert np.all((scores > 0.5) & (scores <= 0.5 + 0.1 * norm_max(255) + 1e-6))  # the graph: 0.5 + 0.1 m


def test_item_frames_and_pending_files_refuse_what_they_cannot_use(tmp_path):
    assert item_frames("all", 10, every=3) == [0, 3, 6, 9]
    assert item_frames("suggested", 10, suggested=[8, 2, 2, 30]) == [2, 8]
    with pytest.raises(KeyskelError, match="where must be one of"):
        item_frames("range", 10)
    root = make_dataset(tmp_path / "worms", broken=False)
    ds = open_dataset(root)
    empty = AnnotationStore(WORM, 2, 0, 6, name="worm")
    assert write_pending(ds, "clip0.mp4", empty) is None and read_pending(ds, "clip0.mp4") is None
    path = pending_path(ds, "clip0.mp4")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(KeyskelError, match=r"clip0\.mp4-.*\.pending: cannot read the pending proposals"):
        read_pending(ds, "clip0.mp4")
    path.write_text(json.dumps({"format": "keyskel-pending", "item": "clip1.mp4", "stores": []}))
    with pytest.raises(KeyskelError, match=r"holds the proposals of item 'clip1\.mp4'"):
        read_pending(ds, "clip0.mp4")


def test_cli_every_item_writes_pending_proposals_and_names_the_broken_item(tmp_path, capsys):
    root = make_dataset(tmp_path / "worms")
    model = still_yolo(tmp_path / "yolo.onnx")
    assert main(["predict", str(model), str(root), "--every-item", "--every", "3"]) == 1  # one item failed
    out = capsys.readouterr().out
    assert "YOLO-pose" in out and "[1/4] clip0.mp4" in out
    assert "3 items run (6 frames): 36 proposed nodes in 12 instances" in out
    assert "1 item failed:" in out and "zbroken.mp4: " in out
    ds = open_dataset(root)
    for name, (n, _) in CLIPS.items():
        check_item(read_pending(ds, name), name, list(range(0, n, 3)))
    (root / "zbroken.mp4").unlink()
    ds.set_status("clip0.mp4", "review")
    ds.save()
    for f in pending_folder(ds).iterdir():
        f.unlink()
    assert main(["predict", str(model), str(root), "--every-item", "--status", "new"]) == 0
    assert "2 items run (9 frames)" in capsys.readouterr().out
    assert [it.name for it in items_with_pending(open_dataset(root))] == ["clip1.mp4", "clip2.mp4"]
    assert main(["predict", str(model), str(root)]) == 1  # no --out and no --every-item
    assert "give --out RESULTS" in capsys.readouterr().err
    assert NAMES == ["head", "body", "tail"]  # (the model's order, which the skeleton reverses)


def test_a_v7_export_folder_keeps_its_items_beside_pending_proposals(tmp_path):
    root = make_dataset(tmp_path / "worms", broken=False)
    ds = open_dataset(root)
    s = AnnotationStore(WORM, 2, 0, 6, name="worm")
    s.add_track(1, start=0, stop=1)
    s.set_points(0, 1, [[90.0, 20.0], [92.0, 24.0], [94.0, 28.0]])
    ds.set_annotations("clip0.mp4", AnnotationSet([s]))
    ds.save()
    v7 = open_dataset(root / "annotations")  # the Darwin files written: a V7 export folder
    assert v7.format == "darwin" and len(v7) == 1
    proposals = AnnotationStore(WORM, 2, 0, 6, name="worm")
    proposals.add_track(7, start=3, stop=4)
    proposals.set_points(3, 7, [[1.0, 2.0], [3.0, 4.0]], [0, 1], score=[0.5, np.nan])  # no tail; no score
    path = write_pending(v7, v7[0], proposals, model="yolo.onnx")
    assert path is not None and path.parent == root / "annotations" / ".keyskel" / "proposals"
    again = open_dataset(root / "annotations")
    assert len(again) == 1  # the pending file is not read as a Darwin item
    back = read_pending(again, again[0])
    assert proposed_frames(back) == [3] and list(back.tracks) == [7]
    np.testing.assert_array_equal(back.tracks[7].coords, proposals.tracks[7].coords)  # NaN kept
    np.testing.assert_array_equal(back.tracks[7].score, proposals.tracks[7].score)


def test_a_model_error_stops_the_run_naming_the_model(tmp_path):
    root = make_dataset(tmp_path / "worms", broken=False)
    model = models.PoseModel(g.fixed_inside(tmp_path / "fixed.onnx"))  # fed 640 x 640, runs at 320 only
    with pytest.raises(models.ModelError, match=r"fixed\.onnx: onnxruntime failed on an input of shape"):
        predict_items(open_dataset(root), model)
    assert items_with_pending(open_dataset(root)) == []
