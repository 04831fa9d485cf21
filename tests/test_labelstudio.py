"""Label Studio exports as Label Studio writes them (issue 24, item 6).

``tests/data/labelstudio_export_keypoints_rectangles.json`` is laid out as Label Studio exports
(``data.image``, keypoints grouped by a parent rectangle's ``parentID`` or by ``relation``, and
loose keypoints); sleap-io cannot read it (it needs its own ``meta.video``). What keyskel reads is
compared with the JSON itself, keypoint by keypoint; what keyskel writes is read by sleap-io.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import sleap_io as sio

from napari_keyskel.errors import FormatError
from napari_keyskel.formats import read, read_detected, write

DATA = Path(__file__).parent / "data"
EXPORT = DATA / "labelstudio_export_keypoints_rectangles.json"
NODES = ("snout", "left_ear", "right_ear", "tail_base")


def _keypoints(task: dict) -> list[tuple[str, float, float]]:
    """(node, x, y) in pixels of every keypoint of a task's first annotation not cancelled."""
    ann = next(a for a in task["annotations"] if not a["was_cancelled"])
    return [
        (
            r["value"]["keypointlabels"][0],
            r["value"]["x"] * r["original_width"] / 100,
            r["value"]["y"] * r["original_height"] / 100,
        )
        for r in ann["result"]
        if r["type"] == "keypointlabels"
    ]


def test_export_read_keypoint_by_keypoint() -> None:
    with pytest.raises(KeyError):  # sleap-io: "Unable to locate video information for task!"
        sio.load_labelstudio(str(EXPORT))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cancelled annotation (task 12) is skipped, as Label Studio does
        ds, fmt = read_detected(EXPORT)
    assert fmt == "labelstudio"
    (store,) = ds.stores
    assert store.skeleton.nodes == NODES  # the order the file names them
    tasks = json.loads(EXPORT.read_text())
    assert [fr["item"] for fr in ds.frames] == [t["data"]["image"] for t in tasks]
    assert (ds.frames[0]["width"], ds.frames[0]["height"]) == (640, 480)
    for f, task in enumerate(tasks):
        ours = sorted(
            (store.skeleton.nodes[k], *t.coords[f - t.start, k, ::-1])
            for t in store
            if t.start <= f < t.stop and t.alive[f - t.start]
            for k in np.flatnonzero(np.isfinite(t.coords[f - t.start, :, 0]))
        )
        want = sorted(_keypoints(task)) if task["annotations"] else []
        assert [n for n, _, _ in ours] == [n for n, _, _ in want]
        np.testing.assert_allclose(
            [xy for _, *xy in ours] or np.zeros((0, 2)),
            [xy for _, *xy in want] or np.zeros((0, 2)),
            atol=1e-9,
        )
    by_name = {t.name: t for t in store}
    assert set(by_name) == {"mus1", "mus2", "instance 3"}  # rectangles name their keypoints
    assert np.isnan(by_name["mus2"].coords[0, 2]).all()  # mus2 has no right ear
    assert by_name["mus1"].is_key[0].all() and (by_name["mus1"].visibility[0] == 2).all()


def test_written_as_label_studio_and_read_by_sleap_io(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read(EXPORT)
    out = tmp_path / "export.json"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # names, positions, images: nothing lost
        write(ds, out, "labelstudio")
    tasks = json.loads(out.read_text())
    assert [t["data"]["image"] for t in tasks] == [fr["item"] for fr in ds.frames]  # every image, as exported
    kp = [r for r in tasks[0]["annotations"][0]["result"] if r["type"] == "keypointlabels"]
    rects = {
        r["id"]: r["value"]["rectanglelabels"][0]
        for r in tasks[0]["annotations"][0]["result"]
        if r["type"] == "rectanglelabels"
    }
    assert {rects[r["parentID"]] for r in kp} == {"mus1", "mus2"}
    back = read(out)
    for a, b in zip(ds.stores[0], back.stores[0]):
        assert a.name == b.name
        np.testing.assert_allclose(a.coords, b.coords, atol=1e-9)
    theirs = sio.load_labelstudio(str(out), skeleton=list(NODES))  # sleap-io groups by the relations
    got = sorted(
        tuple(np.round(inst.numpy()[np.isfinite(inst.numpy()[:, 0])], 6).ravel())
        for lf in theirs
        for inst in lf.instances
    )
    want = sorted(
        tuple(np.round(t.coords[f - t.start, np.isfinite(t.coords[f - t.start, :, 0]), ::-1], 6).ravel())
        for t in ds.stores[0]
        for f in range(t.start, t.stop)
    )
    assert got == want


@pytest.mark.parametrize(("via", "name"), [("coco", "c.json"), ("darwin", "d")])
def test_through_coco_and_v7(tmp_path: Path, via: str, name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read(EXPORT)
        write(ds, tmp_path / name, via)
        again = read(tmp_path / name, format=via)

    def pts(d):
        return sorted(
            tuple(np.round(t.coords[r, k, ::-1], 6))
            for t in d.stores[0]
            for r, k in zip(*np.nonzero(np.isfinite(t.coords[..., 0])))
        )

    assert pts(again) == pts(ds)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t[0]["annotations"][0]["result"][1].pop("original_width"),
            r"task 11, result 'k1': original_width is 'None', not a finite number",
        ),
        (
            lambda t: t[0]["annotations"][0]["result"][2]["value"].update(keypointlabels=[]),
            r"task 11, result 'k2': keypointlabels is '\[\]', not one node name",
        ),
        (
            lambda t: t[1]["annotations"][1]["result"][0]["value"].update(x="12%"),
            r"task 12, result 'm1': x is '12%', not a finite number",
        ),
        (lambda t: t[1].update(annotations={"result": []}), r"task 12: 'annotations' is not a list"),
    ],
)
def test_bad_exports_say_so_on_one_line(tmp_path: Path, edit, message: str) -> None:
    tasks = json.loads(EXPORT.read_text())
    edit(tasks)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(tasks))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FormatError, match=message) as err:
            read(bad, format="labelstudio")
    text = str(err.value)
    assert "\n" not in text and len(text) < 300 and "bad.json" in text


def _kp(
    rid: str, node: str, x: float, y: float, parent: str | None = None, score: float | None = None
) -> dict:
    """A keypointlabels region of a 200 x 100 image, as Label Studio exports it (x, y in percent)."""
    r = {
        "id": rid, "from_name": "kp", "to_name": "image", "type": "keypointlabels",
        "original_width": 200, "original_height": 100, "image_rotation": 0,
        "value": {"x": x / 2, "y": y, "width": 0.5, "keypointlabels": [node]},
    }  # fmt: skip
    if parent is not None:
        r["parentID"] = parent
    if score is not None:
        r["score"] = score
    return r


def _task(tid: int, annotations: list, predictions: list) -> dict:
    return {"id": tid, "data": {"image": f"/data/upload/1/img{tid}.png"}, "annotations": annotations,
            "predictions": predictions}  # fmt: skip


def test_pre_annotated_tasks_read_their_model_predictions_with_scores(tmp_path: Path) -> None:
    """A task with only predictions (a model's pre-labels) reads them as scored keys; a person's wins."""
    rect = {"id": "r1", "type": "rectanglelabels", "original_width": 200, "original_height": 100,
            "value": {"x": 5, "y": 5, "width": 40, "height": 40, "rectanglelabels": ["mouse"]}}  # fmt: skip
    tasks = [
        # 1: pre-labelled, not yet reviewed: a prediction with region scores
        _task(1, [], [{"model_version": "yolo11n-pose", "score": 0.8, "result": [
            rect, _kp("a", "snout", 20, 10, "r1", 0.9), _kp("b", "tail_base", 60, 30, "r1", 0.7)]}]),
        # 2: a prediction without region scores: the prediction's score
        _task(2, [], [{"model_version": "yolo11n-pose", "score": 0.6,
                       "result": [_kp("c", "snout", 40, 20)]}]),
        # 3: corrected by a person: the annotation is read, its prediction is not (warned)
        _task(3, [{"id": 7, "was_cancelled": False, "result": [_kp("d", "snout", 22, 11)]}],
              [{"model_version": "yolo11n-pose", "score": 0.5, "result": [_kp("e", "snout", 90, 90)]}]),
    ]  # fmt: skip
    path = tmp_path / "pre.json"
    path.write_text(json.dumps(tasks))
    with pytest.warns(UserWarning, match=r"1 prediction of task 3 not read"):
        ds = read(path, format="labelstudio")
    (store,) = ds.stores
    assert ds.meta["labelstudio"]["model_version"] == "yolo11n-pose"
    got = {
        (f, store.skeleton.nodes[k]): (tuple(t.coords[f - t.start, k, ::-1]), float(t.score[f - t.start, k]))
        for t in store
        for f in range(t.start, t.stop)
        for k in np.flatnonzero(np.isfinite(t.coords[f - t.start, :, 0]))
    }
    assert set(got) == {(0, "snout"), (0, "tail_base"), (1, "snout"), (2, "snout")}
    np.testing.assert_allclose(got[(0, "snout")][0], (20.0, 10.0))
    np.testing.assert_allclose(got[(0, "tail_base")][0], (60.0, 30.0))
    assert got[(0, "snout")][1] == pytest.approx(0.9) and got[(0, "tail_base")][1] == pytest.approx(0.7)
    assert got[(1, "snout")][1] == pytest.approx(0.6)
    np.testing.assert_allclose(got[(2, "snout")][0], (22.0, 11.0))  # the person's, not the model's
    assert np.isnan(got[(2, "snout")][1])
    assert all(
        t.is_key[f - t.start, store.skeleton.index(n)]
        for (f, n) in got
        for t in store
        if t.start <= f < t.stop and np.isfinite(t.coords[f - t.start, store.skeleton.index(n), 0])
    )

    # written back (as annotations: sleap-io fails on a task without one), the scores on the regions
    out = tmp_path / "again.json"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing the file cannot hold
        write(ds, out, "labelstudio")
    written = json.loads(out.read_text())
    regions = [r for r in written[0]["annotations"][0]["result"] if r["type"] == "keypointlabels"]
    assert sorted(r["score"] for r in regions) == pytest.approx([0.7, 0.9])
    assert all("score" not in r for r in written[2]["annotations"][0]["result"])
    again = read(out, format="labelstudio")
    for a, b in zip(store, again.stores[0]):
        np.testing.assert_allclose(a.coords, b.coords, atol=1e-9)
        np.testing.assert_allclose(a.score, b.score, atol=1e-6)
    theirs = sio.load_labelstudio(str(out), skeleton=list(store.skeleton.nodes))  # sleap-io opens it
    assert sum(len(lf.instances) for lf in theirs) == 3
