"""``keyskel predict`` and ``keyskel accept`` of its results with no further argument."""

from __future__ import annotations

import json

import _model_graphs as g
import imageio.v3 as iio
import numpy as np
import tifffile
from test_models_core import KP1, KP2, NAMES, TARGETS, crop_geometry, crop_to_image, expected_yolo, yolo_model

from napari_keyskel import formats
from napari_keyskel.cli.main import main
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore


def media_folder(tmp_path, n=4):
    folder = tmp_path / "frames"
    folder.mkdir()
    for f in range(n):
        iio.imwrite(folder / f"img_{f:03d}.png", np.full((100, 200, 3), 150 + 10 * f, np.uint8))
    return folder


def coco_annotations(tmp_path, n=4):
    sk = Skeleton(["tail", "body", "head"], name="worm")  # another order than the model's
    s = AnnotationStore(sk, 2, 0, n, name="worm")
    s.add_track(1, start=0, stop=1)
    s.set_points(0, 1, [[500.0, 500.0], [501.0, 501.0], [502.0, 502.0]])
    frames = [{"item": f"img_{f:03d}.png", "frame": 0, "width": 200, "height": 100} for f in range(n)]
    path = tmp_path / "worms.json"
    formats.write(AnnotationSet([s], frames=frames), path, "coco")
    return path


def test_predict_then_accept_with_no_further_argument(tmp_path, capsys):
    model, media, ann = yolo_model(tmp_path), media_folder(tmp_path), coco_annotations(tmp_path)
    out = tmp_path / "results.json"
    assert main(["predict", str(model), str(media), "--annotations", str(ann), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "YOLO-pose" in text and "mapped by names" in text and "8 poses on 4 frames" in text
    rows = json.loads(out.read_text())
    ids = [im["id"] for im in json.loads(ann.read_text())["images"]]
    assert sorted({r["image_id"] for r in rows}) == sorted(ids)  # the annotations' image ids
    first = [r for r in rows if r["image_id"] == ids[0]]
    assert [r["score"] for r in first] == [0.9, 0.8]
    trip = np.reshape(first[0]["keypoints"], (3, 3))  # tail, body, head: the file's node order
    np.testing.assert_allclose(trip[:, :2], expected_yolo(KP1, 0)[::-1, ::-1], atol=1e-3)
    np.testing.assert_allclose(trip[:, 2], [0.7, 0.8, 0.9])
    merged = tmp_path / "merged.json"
    assert main(["accept", str(out), str(ann), str(merged), "--min-score", "0.85"]) == 0
    assert "accepted 8 nodes" in capsys.readouterr().out  # heads 0.9 and 0.95 on 4 frames
    back = formats.read(merged).stores[0]
    heads = sorted(
        (t.start + r, *t.coords[r, 2].round(3).tolist())
        for t in back
        for r in np.flatnonzero(np.isfinite(t.coords[:, 2, 0]))
        if t.track_id != 1
    )
    want = sorted((f, *np.round(expected_yolo(kp, f)[0], 3).tolist()) for f in range(4) for kp in (KP1, KP2))
    np.testing.assert_allclose(np.array(heads), np.array(want), atol=2e-3)


def test_predict_without_annotations_numbers_images_by_frame_and_keeps_model_order(tmp_path):
    model = yolo_model(tmp_path)
    stack = tmp_path / "video.tif"
    tifffile.imwrite(stack, np.stack([np.full((100, 200), 150 + 10 * f, np.uint8) for f in range(5)]))
    out = tmp_path / "r.json"
    assert main(["predict", str(model), str(stack), "--frames", "2:4", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["image_id"] for r in rows] == [2, 2, 3, 3] and {r["category_id"] for r in rows} == {1}
    np.testing.assert_allclose(
        np.reshape(rows[0]["keypoints"], (3, 3))[:, :2], expected_yolo(KP1, 2)[:, ::-1], atol=1e-3
    )
    # the same file opens as proposals of a layer with the model's node names, by frame number
    props = formats.read(out)
    assert props.stores[0].skeleton.nodes == ("kp0", "kp1", "kp2")


def test_predict_top_down_crops_the_annotated_instances(tmp_path):
    model = g.simcc(tmp_path / "rtm.onnx", TARGETS)
    names = tmp_path / "names.txt"
    names.write_text("\n".join(NAMES))
    sk = Skeleton(NAMES, name="worm")
    s = AnnotationStore(sk, 2, 0, 2, name="worm")
    s.add_track(3, start=0, stop=2)
    s.set_points(0, 3, [[30, 40], [50, 60], [70, 80]])
    s.set_points(1, 3, [[30, 40], [50, 60], [70, 80]])
    ann = tmp_path / "ann.json"
    frames = [{"item": f"img_{f:03d}.png", "frame": 0, "width": 200, "height": 100} for f in range(2)]
    formats.write(AnnotationSet([s], frames=frames), ann, "coco")
    out = tmp_path / "r.json"
    code = main(
        [
            "predict",
            str(model),
            str(media_folder(tmp_path, 2)),
            "--annotations",
            str(ann),
            "--names",
            str(names),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 2
    center, scale = crop_geometry((40, 30, 80, 70))
    np.testing.assert_allclose(
        np.reshape(rows[0]["keypoints"], (3, 3))[:, :2], crop_to_image(TARGETS, center, scale), atol=1e-3
    )


def test_predict_errors_name_the_model_and_exit_1(tmp_path, capsys):
    bad = tmp_path / "model.onnx"
    bad.write_text("not a model")
    media = media_folder(tmp_path, 1)
    assert main(["predict", str(bad), str(media), "--out", str(tmp_path / "r.json")]) == 1
    err = capsys.readouterr().err
    assert "keyskel predict: error: model" in err and "model.onnx: not an ONNX model" in err
    unknown = g.unknown(tmp_path / "cls.onnx")
    assert main(["predict", str(unknown), str(media), "--out", str(tmp_path / "r.json")]) == 1
    assert "match no known pose model family" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
