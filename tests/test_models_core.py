"""Pose models run with onnxruntime on tiny ONNX graphs built here: families, poses, refusals."""

from __future__ import annotations

import _model_graphs as g
import numpy as np
import onnxruntime  # noqa: F401  (a promised engine: fail, not skip, without it)
import pytest

from napari_keyskel.assist import models
from napari_keyskel.assist.models.decode import as_rgb8, letterbox_params
from napari_keyskel.core import keyframes
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import KeyskelError

NAMES = ["head", "body", "tail"]
KP1 = [(100, 120, 0.9), (110, 130, 0.8), (120, 140, 0.7)]
KP2 = [(200, 200, 0.95), (210, 205, 0.5), (220, 210, 0.6)]
META = {"kpt_shape": [3, 3], "names": {0: "worm"}, "kpt_names": {0: NAMES}, "imgsz": [320, 320]}


def gray_frames(n=6, shape=(100, 200)):
    """Frame f is uniform grey 150 + 10 f (the graphs read the brightness)."""
    return np.stack([np.full(shape, 150 + 10 * f, np.uint8) for f in range(n)])


def yolo_model(tmp_path, metadata=META, extra=(), batch="batch", name="yolo.onnx"):
    dets = [
        (110, 130, 40, 40, 0.9, KP1, True),
        (210, 205, 40, 20, 0.8, KP2, True),
        (111, 131, 40, 40, 0.6, KP1, True),  # a duplicate of the first: NMS removes it
        (50, 50, 10, 10, 0.2, KP1, False),  # below Ultralytics' 0.25
        *extra,
    ]
    base, shift = g.yolo_rows(dets, 3, 20)
    return g.yolo_pose(tmp_path / name, base, shift, metadata=metadata, batch=batch)


def expected_yolo(kp, f):
    """Image (y, x) of a YOLO detection on frame f: input + m * 20, back through the letterbox."""
    m = np.float32(150 + 10 * f) / np.float32(255)
    gain, top, left, _, _ = letterbox_params((100, 200), (320, 320))
    assert (gain, top, left) == (1.6, 80, 0)  # by hand: 200 x 100 -> 320 x 160, 80 px above
    xy = (np.asarray(kp, float)[:, :2] + m * 20 - [left, top]) / gain
    return xy[:, ::-1]


def test_yolo_pose_card_poses_nms_and_threshold(tmp_path):
    m = models.PoseModel(yolo_model(tmp_path))
    c = m.card
    assert (c.family, c.input_size, c.n_keypoints, c.names, c.names_source) == (
        "yolo-pose",
        (320, 320),
        3,
        tuple(NAMES),
        "model metadata",
    )
    assert c.batch is None and "CPUExecutionProvider" in c.providers
    text = c.describe()
    assert "YOLO-pose" in text and "head, body, tail" in text and "320" in text
    poses = models.predict(m, gray_frames())
    assert poses.frame.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # 2 a frame: NMS + threshold
    for f in range(6):
        on = poses.on(f)
        np.testing.assert_allclose(on.coords[0], expected_yolo(KP1, f), atol=1e-3)
        np.testing.assert_allclose(on.coords[1], expected_yolo(KP2, f), atol=1e-3)
        np.testing.assert_allclose(on.scores, [[0.9, 0.8, 0.7], [0.95, 0.5, 0.6]], atol=1e-6)
        np.testing.assert_allclose(on.instance_score, [0.9, 0.8], atol=1e-6)
    assert (poses.track_id == -1).all()


def test_batches_give_the_same_poses_as_single_frames(tmp_path):
    path = yolo_model(tmp_path)
    frames = gray_frames(7)
    one = models.predict(models.PoseModel(path, batch_size=1), frames)
    four = models.predict(models.PoseModel(path, batch_size=4), frames)
    np.testing.assert_array_equal(one.frame, four.frame)
    np.testing.assert_allclose(one.coords, four.coords, atol=1e-5)


def test_a_graph_with_a_fixed_batch_of_one_runs_frame_by_frame(tmp_path):
    m = models.PoseModel(yolo_model(tmp_path, batch=1), batch_size=8)
    assert m.card.batch == 1 and m.batch_size == 1
    poses = models.predict(m, gray_frames(3), frames=[2, 0])
    assert sorted(set(poses.frame.tolist())) == [0, 2]
    np.testing.assert_allclose(poses.on(2).coords[0], expected_yolo(KP1, 2), atol=1e-3)


def test_nms_export_layout_is_read(tmp_path):
    # Ultralytics nms=True: [N, max_det, 6 + 3K] rows (x1, y1, x2, y2, score, class, keypoints)
    rows = np.zeros((30, 6 + 9), np.float32)
    rows[0, :6] = (90, 110, 130, 150, 0.9, 0)
    rows[0, 6:] = np.asarray(KP1, np.float32).reshape(-1)
    rows[1, :6] = (10, 10, 20, 20, 0.1, 0)  # below the threshold
    path = g.yolo_pose(tmp_path / "nms.onnx", rows, np.zeros_like(rows), metadata={"kpt_shape": [3, 3]})
    m = models.PoseModel(path)
    assert m.card.family == "yolo-pose-nms" and m.card.n_keypoints == 3
    poses = models.predict(m, gray_frames(1))
    assert len(poses) == 1
    xy = (np.asarray(KP1)[:, :2] - [0, 80]) / 1.6
    np.testing.assert_allclose(poses.coords[0], xy[:, ::-1], atol=1e-3)


def test_names_from_a_names_file_or_a_skeleton_file_else_generic(tmp_path):
    path = yolo_model(tmp_path, metadata={})
    assert models.PoseModel(path).card.names == ("kp0", "kp1", "kp2")
    names = tmp_path / "names.txt"
    names.write_text("# worm\nsnout\n\nmid\ntail\n")
    card = models.PoseModel(path, names_file=names).card
    assert card.names == ("snout", "mid", "tail") and card.names_source == "names file"
    sk = tmp_path / "worm.skeleton.json"
    Skeleton(["a", "b", "c"], name="worm").save(sk)
    assert models.PoseModel(path, names_file=sk).card.names == ("a", "b", "c")
    names.write_text("one\ntwo\n")
    with pytest.raises(models.ModelError, match=r"yolo\.onnx: the names file gives 2 names, the model has 3"):
        models.PoseModel(path, names_file=names)


def test_unknown_family_is_refused_naming_what_was_found(tmp_path):
    path = g.unknown(tmp_path / "classifier.onnx")
    with pytest.raises(models.ModelError) as err:
        models.PoseModel(path)
    text = str(err.value)
    assert "classifier.onnx" in text and "match no known pose model family" in text
    assert "'images' [1, 3, 64, 64]" in text and "'logits' [1, 10]" in text


def test_a_file_that_is_not_onnx_names_the_model_and_the_reason(tmp_path):
    bad = tmp_path / "weights.onnx"
    bad.write_bytes(b"PK\x03\x04 this is a zip, not a protobuf")
    with pytest.raises(models.ModelError, match=r"weights\.onnx: not an ONNX model"):
        models.PoseModel(bad)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(models.ModelError, match=r"empty\.onnx: the file is empty"):
        models.PoseModel(empty)
    with pytest.raises(models.ModelError, match=r"missing\.onnx: no such file"):
        models.PoseModel(tmp_path / "missing.onnx")


def test_a_wrong_input_size_names_the_model_the_shape_and_the_reason(tmp_path):
    m = models.PoseModel(g.fixed_inside(tmp_path / "fixed.onnx"))
    assert m.card.size_source == "the default 640"
    with pytest.raises(models.ModelError) as err:
        models.predict(m, gray_frames(1))
    text = str(err.value)
    assert "fixed.onnx" in text and "[1, 3, 640, 640]" in text and "cannot be reshaped" in text


def test_an_input_that_is_not_an_image_batch_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 100])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 100])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [inp], [out]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    onnx.save(model, tmp_path / "flat.onnx")
    with pytest.raises(models.ModelError, match=r"flat\.onnx: the input is not an image batch"):
        models.PoseModel(tmp_path / "flat.onnx")


def _worms(n_frames=5):
    sk = Skeleton(NAMES, [("head", "body"), ("body", "tail")], name="worm")
    s = AnnotationStore(sk, 2, 0, n_frames, name="worm")
    s.add_track(3, start=0, stop=1)
    s.set_points(0, 3, [[30, 40], [50, 60], [70, 80]])  # (y, x): box x 40..80, y 30..70
    s.add_track(5, start=0, stop=1)
    s.set_points(0, 5, [[20, 140], [30, 160], [40, 170]])  # box x 140..170, y 20..40
    return s


def crop_geometry(box, size=(64, 48), padding=1.25):
    """Centre and scale (w, h) of mmpose's TopdownAffine for an (x1, y1, x2, y2) box, by hand."""
    x1, y1, x2, y2 = box
    w, h = (x2 - x1) * padding, (y2 - y1) * padding
    aspect = size[1] / size[0]
    if w > h * aspect:
        h = w / aspect
    else:
        w = h * aspect
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2]), np.array([w, h])


def crop_to_image(xy_in, center, scale, size=(64, 48)):
    return np.asarray(xy_in) / [size[1], size[0]] * scale + center - scale / 2


TARGETS = np.array([[10.0, 20.0], [24.0, 30.0], [30.0, 40.0]])  # SimCC peaks, crop (x, y)


def norm_max(v):
    """The largest normalised channel of a uniform grey crop (the graphs' ``m``)."""
    return float(np.max((v - g.MEAN) / g.STD))


def test_rtmpose_simcc_crops_the_instances_then_follows_them(tmp_path):
    m = models.PoseModel(g.simcc(tmp_path / "rtm.onnx", TARGETS), names=NAMES)
    c = m.card
    assert (c.family, c.input_size, c.simcc_ratio, c.n_keypoints) == ("simcc", (64, 48), 2.0, 3)
    store = _worms()
    poses = models.predict(m, gray_frames(3), boxes=models.BoxSource(store))
    f0 = poses.on(0)
    assert f0.track_id.tolist() == [3, 5]  # each crop keeps its instance
    for row, box in ((0, (40, 30, 80, 70)), (1, (140, 20, 170, 40))):
        center, scale = crop_geometry(box)
        np.testing.assert_allclose(f0.coords[row][:, ::-1], crop_to_image(TARGETS, center, scale), atol=0.5)
        np.testing.assert_allclose(f0.coords[row][:, ::-1], crop_to_image(TARGETS, center, scale), atol=1e-6)
    np.testing.assert_allclose(f0.scores, 0.5 + 0.1 * norm_max(150), atol=1e-5)
    # frame 1 has no annotation: the crops follow frame 0's poses, same instances
    f1 = poses.on(1)
    assert f1.track_id.tolist() == [3, 5]
    for row in range(2):
        yx = f0.coords[row]
        lo, hi = yx.min(axis=0)[::-1], yx.max(axis=0)[::-1]
        pad = np.maximum(16 - (hi - lo), 0) / 2  # BoxSource's smallest box side: 16 px
        center, scale = crop_geometry((*(lo - pad), *(hi + pad)))
        np.testing.assert_allclose(f1.coords[row][:, ::-1], crop_to_image(TARGETS, center, scale), atol=1e-6)
    np.testing.assert_allclose(f1.scores, 0.5 + 0.1 * norm_max(160), atol=1e-5)


def test_simcc_found_by_shapes_when_the_outputs_have_other_names(tmp_path):
    m = models.PoseModel(g.simcc(tmp_path / "rtm.onnx", TARGETS, names=("out_a", "out_b")))
    assert m.card.family == "simcc" and m.card.simcc_ratio == 2.0


def test_heatmaps_with_sub_pixel_peaks(tmp_path):
    t = np.array([[3.2, 4.1], [5.5, 7.0], [8.0, 2.3]])  # heatmap cells (x, y), 12 x 16 maps
    m = models.PoseModel(g.heatmaps(tmp_path / "hm.onnx", t))
    assert (m.card.family, m.card.n_keypoints, m.card.names_source) == ("heatmap", 3, "generic")
    store = _worms()
    poses = models.predict(m, gray_frames(2), frames=[0], boxes=models.BoxSource(store))
    center, scale = crop_geometry((40, 30, 80, 70))
    mx = norm_max(150)
    peak = t + mx * np.array([0.5, 0.25])  # the graph moves the peaks by the input's max
    want = crop_to_image(peak * 4, center, scale)  # 16 x 12 maps of a 64 x 48 input: stride 4
    got = poses.on(0).coords[0][:, ::-1]
    assert np.abs(got - want).max() < 1e-3  # parabola refinement is exact on these peaks
    off = peak - np.round(peak)
    np.testing.assert_allclose(poses.on(0).scores[0], 1.0 - (off**2).sum(axis=1), atol=1e-5)


def test_top_down_boxes_from_a_detector_or_the_whole_frame(tmp_path):
    det = models.PoseModel(yolo_model(tmp_path))
    m = models.PoseModel(g.simcc(tmp_path / "rtm.onnx", TARGETS))
    poses = models.predict(m, gray_frames(1), boxes=models.BoxSource(None, det))
    assert len(poses) == 2 and (poses.track_id == -1).all()
    boxes = det.detect([as_rgb8(gray_frames(1)[0])], [0]).boxes
    for row in range(2):
        center, scale = crop_geometry(boxes[row])
        np.testing.assert_allclose(
            poses.coords[row][:, ::-1], crop_to_image(TARGETS, center, scale), atol=1e-6
        )
    whole = models.predict(m, gray_frames(1))
    center, scale = crop_geometry((0, 0, 199, 99))
    np.testing.assert_allclose(whole.coords[0][:, ::-1], crop_to_image(TARGETS, center, scale), atol=1e-6)
    with pytest.raises(KeyskelError, match="detector must be a YOLO-pose model"):
        models.BoxSource(None, m)


class CountingFrames:
    """A lazy 10,000-frame video: frames made on demand; records every index asked for."""

    def __init__(self, n=10_000, shape=(100, 200)):
        self.shape, self.dtype, self.asked = (n, *shape), np.uint8, []

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, i):
        if not isinstance(i, (int, np.integer)):
            raise AssertionError(f"asked for more than one frame: {i!r}")
        self.asked.append(int(i))
        return np.full(self.shape[1:], 150 + int(i) % 50, np.uint8)

    def __array__(self, *a, **k):
        raise AssertionError("the whole video was read")


def test_only_the_frames_asked_are_read_one_at_a_time(tmp_path):
    video = CountingFrames()
    m = models.PoseModel(yolo_model(tmp_path), batch_size=4)
    gen = models.iter_predict(m, video, frames=range(5000, 5010))
    done = list(_drain(gen))
    assert done[0] == [4, 8, 10]  # progress after each batch
    assert video.asked == list(range(5000, 5010))
    assert sorted(set(done[1].frame.tolist())) == list(range(5000, 5010))


def _drain(gen):
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            return steps, stop.value


def test_frames_outside_the_media_and_non_images_are_refused(tmp_path):
    m = models.PoseModel(yolo_model(tmp_path))
    with pytest.raises(KeyskelError, match=r"frame 9 is outside the media \(frames 0\.\.5\)"):
        models.predict(m, gray_frames(), frames=[1, 9])
    with pytest.raises(KeyskelError, match=r"frame 0: a frame must be an image"):
        models.predict(m, np.zeros((2, 4, 5, 6, 7), np.uint8))


def test_cuda_first_when_onnxruntime_offers_it_cpu_always_last():
    both = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert models.select_providers(both) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert models.select_providers(both, "cpu") == ["CPUExecutionProvider"]
    assert models.select_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(KeyskelError, match="install onnxruntime-gpu"):
        models.select_providers(["CPUExecutionProvider"], "cuda")
    with pytest.raises(KeyskelError, match="device must be one of"):
        models.select_providers(both, "tpu")


def test_batches_sized_to_the_machine(tmp_path):
    card = models.PoseModel(yolo_model(tmp_path)).card
    assert models.auto_batch(card, available_bytes=64 << 30) == 8  # CPU cap
    assert models.auto_batch(card, available_bytes=100 << 20) == 1  # little memory: one at a time
    gpu = type(card)(**{**card.__dict__, "providers": ("CUDAExecutionProvider", "CPUExecutionProvider")})
    assert models.auto_batch(gpu, available_bytes=64 << 30) == 32


def test_keypoint_mapping_by_names_order_or_explicit():
    by_names = models.map_keypoints(["Tail", "head-x", "body"], ["head_x", "body", "tail", "wing"])
    assert by_names.how == "names" and by_names.source.tolist() == [1, 2, 0, -1]
    assert by_names.as_dict() == {"head_x": "head-x", "body": "body", "tail": "Tail"}
    by_order = models.map_keypoints(["kp0", "kp1"], ["a", "b"])
    assert by_order.how == "order" and by_order.source.tolist() == [0, 1]
    explicit = models.map_keypoints(["kp0", "kp1", "kp2"], ["a", "b"], {"a": "kp2", "b": 0})
    assert explicit.source.tolist() == [2, 0] and explicit.dropped == ["kp1"]
    vals = explicit.apply(np.array([[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]]), axis=-2)
    np.testing.assert_array_equal(vals, [[[3.0, 3.0], [1.0, 1.0]]])
    with pytest.raises(KeyskelError, match="match none of the skeleton's 2 nodes"):
        models.map_keypoints(["kp0", "kp1", "kp2"], ["a", "b"])
    with pytest.raises(KeyskelError, match="unknown model keypoint 'nope'"):
        models.map_keypoints(["kp0"], ["a"], {"a": "nope"})
    meta: dict = {}
    models.save_mapping(meta, explicit)
    assert models.saved_mapping(meta) == {"a": "kp2", "b": "kp0"}


def test_frames_of_any_dtype_become_rgb8():
    assert as_rgb8(np.full((2, 2), 65535, np.uint16)).tolist() == [[[255] * 3] * 2] * 2
    assert as_rgb8(np.full((2, 2), 0.5, np.float32))[0, 0, 0] == 128
    assert as_rgb8(np.zeros((2, 2, 4), np.uint8)).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="must be an image"):
        as_rgb8(np.zeros(5))


def test_poses_become_proposals_with_linked_tracks(tmp_path):
    m = models.PoseModel(yolo_model(tmp_path))
    poses = models.predict(m, gray_frames(4))
    sk = Skeleton(["tail", "body", "head"], name="worm")  # another order: mapped by names
    ann = AnnotationStore(sk, 2, 0, 4, name="worm")
    ann.add_track(1, start=0)
    ann.set_points(0, 1, [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    keyframes.interpolate_all(ann)
    linked = models.link_tracks(poses, first_id=2)
    props = models.poses_to_store(linked, ann, models.map_keypoints(m.card.names, sk.nodes))
    assert sorted(props.tracks) == [2, 3]  # two animals, followed over the 4 frames
    t = props.tracks[2]
    assert (t.start, t.stop) == (0, 4)
    np.testing.assert_allclose(t.coords[3], expected_yolo(KP1, 3)[::-1], atol=1e-3)  # tail first
    np.testing.assert_allclose(t.score[3], [0.7, 0.8, 0.9], atol=1e-6)
    rows = models.coco_results(poses, image_ids=[10, 11, 12, 13], category_id=4)
    assert rows[0]["image_id"] == 10 and rows[0]["category_id"] == 4 and rows[0]["score"] == 0.9
    assert rows[0]["keypoints"][2::3] == [0.9, 0.8, 0.7]
    np.testing.assert_allclose(
        np.reshape(rows[0]["keypoints"], (3, 3))[:, :2], expected_yolo(KP1, 0)[:, ::-1], atol=1e-3
    )
