"""The Models tab and api.predict in napari: a model's poses become proposals over the layer."""

from __future__ import annotations

from types import SimpleNamespace

import _model_graphs as g
import dask.array as da
import numpy as np
import pytest
from qtpy.QtCore import Qt
from test_models_core import (
    KP1,
    KP2,
    TARGETS,
    crop_geometry,
    crop_to_image,
    expected_yolo,
    gray_frames,
    yolo_model,
)

from napari_keyskel import api
from napari_keyskel._qt.models_dock import ModelsPanel
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore

pytestmark = pytest.mark.viewer
LEFT = Qt.MouseButton.LeftButton
SK = Skeleton(["tail", "body", "head"], [("tail", "body"), ("body", "head")], name="worm")


def _store(n=6):
    s = AnnotationStore(SK, 2, 0, n, name="worm")
    s.add_track(1, start=0, stop=1)
    s.set_points(0, 1, [[90.0, 20.0], [92.0, 24.0], [94.0, 28.0]])  # far from the model's worms
    return s


@pytest.fixture
def env(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = viewer.add_image(gray_frames(6), name="video")
    points = api.add_skeleton_layer(viewer, _store(), image_layer=image)
    viewer.dims.set_current_step(0, 2)
    panel = ModelsPanel(viewer, layer_hook=lambda: points)
    qtbot.addWidget(panel)
    return SimpleNamespace(
        viewer=viewer, points=points, ctrl=api.get_controller(points), panel=panel, tmp=tmp_path
    )


def choose_model(env, qtbot, monkeypatch, path):
    from qtpy.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    qtbot.mouseClick(env.panel.run_box.model_button, LEFT)


def run_and_wait(env, qtbot):
    qtbot.mouseClick(env.panel.run_box.run_button, LEFT)
    assert env.panel.run_box.model_worker is not None
    qtbot.waitUntil(lambda: env.panel.run_box.model_worker is None, timeout=30000)


def choose_where(panel, key):
    panel.run_box.where_combo.setCurrentIndex(panel.run_box.where_combo.findData(key))


def proposed(pl, f):
    """``{track id: ((K, 2) coords, (K,) scores)}`` of the proposals on frame f."""
    out = {}
    for t in pl.store:
        if t.start <= f < t.stop and np.isfinite(t.coords[f - t.start]).any():
            out[t.track_id] = (t.coords[f - t.start], t.score[f - t.start])
    return out


def test_run_a_yolo_model_from_the_models_tab_over_every_frame(env, qtbot, monkeypatch):
    choose_model(env, qtbot, monkeypatch, yolo_model(env.tmp))
    card = env.panel.run_box.card_label.text()
    assert "YOLO-pose" in card and "head, body, tail" in card and "3 of 3 nodes mapped by names" in card
    choose_where(env.panel, "all")
    run_and_wait(env, qtbot)
    assert env.panel.run_box.run_progress.value() == 6 and env.panel.run_box.run_button.isEnabled()
    pl = env.ctrl.proposals
    assert pl is not None and "proposed nodes in 2 instances on 6 frames" in env.panel.status.text()
    for f in range(6):
        on = proposed(pl, f)
        assert len(on) == 2 and all(tid > 1 for tid in on)  # new instances, not the annotated one
        (a, sa), (b, sb) = sorted(on.values(), key=lambda v: v[0][0, 1])
        assert np.abs(a - expected_yolo(KP1, f)[::-1]).max() < 0.5  # tail, body, head: mapped by names
        assert np.abs(b - expected_yolo(KP2, f)[::-1]).max() < 0.5
        np.testing.assert_allclose(sa, [0.7, 0.8, 0.9], atol=1e-6)
        np.testing.assert_allclose(sb, [0.6, 0.5, 0.95], atol=1e-6)
    assert len(pl.points.data) == 6  # the frame in view: 2 worms x 3 nodes drawn
    # accept all >= 0.85 from the tab: only the heads (0.9 and 0.95) become keys
    env.panel.score_slider.setValue(85)
    qtbot.mouseClick(env.panel.accept_all, LEFT)
    assert "accepted 12 proposed nodes" in env.panel.status.text()
    new = [t for t in env.ctrl.store if t.track_id != 1]
    assert sum(int(t.is_key.sum()) for t in new) == 12
    assert all(not t.is_key[:, :2].any() for t in new)  # tails and bodies stayed proposals


def test_rerunning_on_the_frame_in_view_replaces_its_proposals(env, qtbot, monkeypatch):
    choose_model(env, qtbot, monkeypatch, yolo_model(env.tmp))
    choose_where(env.panel, "view")
    run_and_wait(env, qtbot)
    pl = env.ctrl.proposals
    assert list(proposed(pl, 2)) and not proposed(pl, 1)
    run_and_wait(env, qtbot)
    assert len(proposed(pl, 2)) == 2  # replaced, not doubled


def test_range_and_frames_between_keys(env, qtbot, monkeypatch):
    choose_model(env, qtbot, monkeypatch, yolo_model(env.tmp))
    env.panel.run_box.range_from.setValue(3)
    env.panel.run_box.range_to.setValue(4)
    choose_where(env.panel, "range")
    run_and_wait(env, qtbot)
    pl = env.ctrl.proposals
    assert [f for f in range(6) if proposed(pl, f)] == [3, 4]
    api.set_node(env.points, frame=5, instance=1, node="head", coords=(90.0, 30.0))  # keys on 0 and 5
    choose_where(env.panel, "between_keys")
    assert env.panel.run_box.frames_to_run(6) == [1, 2, 3, 4]


def test_a_top_down_model_crops_the_layer_instances(env, qtbot, monkeypatch):
    path = g.simcc(env.tmp / "rtm.onnx", TARGETS)
    names = env.tmp / "names.txt"
    names.write_text("head\nbody\ntail\n")
    choose_model(env, qtbot, monkeypatch, path)
    assert "mapping: 3 of 3 nodes mapped by order" in env.panel.run_box.card_label.text()  # kp0.. by order
    from qtpy.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(names), "")))
    qtbot.mouseClick(env.panel.run_box.names_button, LEFT)
    assert "mapped by names" in env.panel.run_box.card_label.text()
    env.viewer.dims.set_current_step(0, 0)
    choose_where(env.panel, "view")
    run_and_wait(env, qtbot)
    on = proposed(env.ctrl.proposals, 0)
    assert list(on) == [1]  # the crop of instance 1 proposes for instance 1
    center, scale = crop_geometry((20.0, 90.0, 28.0, 94.0))
    lo, hi = np.array([20.0, 90.0]), np.array([28.0, 94.0])
    pad = np.maximum(16 - (hi - lo), 0) / 2
    center, scale = crop_geometry((*(lo - pad), *(hi + pad)))
    want = crop_to_image(TARGETS, center, scale)[::-1, ::-1]  # head, body, tail -> tail, body, head
    assert np.abs(on[1][0] - want).max() < 0.5
    # frame 3 has no instance and frame 2 was not run: a YOLO-pose detector gives the boxes
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(yolo_model(env.tmp)), ""))
    )
    qtbot.mouseClick(env.panel.run_box.detector_button, LEFT)
    assert "detector yolo.onnx" in env.panel.run_box.card_label.text()
    env.viewer.dims.set_current_step(0, 3)
    run_and_wait(env, qtbot)
    on = proposed(env.ctrl.proposals, 3)
    assert len(on) == 2 and 1 not in on  # two detected worms, new instances
    boxes = env.panel.run_box.detector.detect([np.repeat(gray_frames(6)[3][..., None], 3, -1)], [3]).boxes
    wants = [crop_to_image(TARGETS, *crop_geometry(b))[::-1, ::-1] for b in boxes]
    got = sorted(v[0][0, 1] for v in on.values())
    np.testing.assert_allclose(got, sorted(w[0, 1] for w in wants), atol=1e-3)


def test_the_mapping_dialog_is_saved_with_the_layer(env, qtbot, monkeypatch):
    from qtpy.QtWidgets import QDialog

    choose_model(env, qtbot, monkeypatch, yolo_model(env.tmp, metadata={}))  # no names: kp0..kp2
    assert "mapped by order" in env.panel.run_box.card_label.text()

    def fake_exec(dialog):
        dialog.combos["head"].setCurrentText("kp0")
        dialog.combos["tail"].setCurrentText("kp2")
        dialog.combos["body"].setCurrentText("(none)")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr("napari_keyskel._qt.mapping_dialog.MappingDialog.exec", fake_exec)
    qtbot.mouseClick(env.panel.run_box.mapping_button, LEFT)
    assert env.ctrl.store.meta["keypoint_mapping"] == {"head": "kp0", "tail": "kp2"}
    assert "2 of 3 nodes mapped by explicit mapping" in env.panel.run_box.card_label.text()
    choose_where(env.panel, "view")
    run_and_wait(env, qtbot)
    (c, _), _ = sorted(proposed(env.ctrl.proposals, 2).values(), key=lambda v: v[0][0, 1])
    assert np.isnan(c[1]).all()  # body: no keypoint
    np.testing.assert_allclose(c[[0, 2]], expected_yolo(KP1, 2)[[2, 0]], atol=1e-3)


def test_cancel_stops_the_run_and_adds_nothing(env, qtbot, monkeypatch):
    import time

    slow = da.from_array(gray_frames(6), chunks=(1, 100, 200)).map_blocks(lambda b: (time.sleep(0.3), b)[1])
    monkeypatch.setattr("napari_keyskel._napari.model_run.media_data", lambda ctrl, image=None: slow)
    choose_model(env, qtbot, monkeypatch, yolo_model(env.tmp))
    env.panel.run_box.model.batch_size = 1
    choose_where(env.panel, "all")
    qtbot.mouseClick(env.panel.run_box.run_button, LEFT)
    qtbot.mouseClick(env.panel.run_box.run_cancel, LEFT)
    qtbot.waitUntil(lambda: env.panel.run_box.model_worker is None, timeout=30000)
    pl = env.ctrl.proposals
    assert pl is None or not any(proposed(pl, f) for f in range(6))
    assert env.panel.run_box.run_progress.value() < 6 and env.panel.run_box.run_button.isEnabled()


def test_a_bad_model_file_is_named_in_the_tab(env, qtbot, monkeypatch):
    bad = env.tmp / "bad.onnx"
    bad.write_text("nope")
    choose_model(env, qtbot, monkeypatch, bad)
    assert "bad.onnx: not an ONNX model" in env.panel.status.text() and env.panel.run_box.model is None
    qtbot.mouseClick(env.panel.run_box.run_button, LEFT)
    assert "choose an annotation layer and a model first" in env.panel.status.text()


def test_api_predict_in_a_viewer_and_outside_one(env, tmp_path):
    store = api.predict(env.points, yolo_model(tmp_path), frames=[1, 4])
    pl = env.ctrl.proposals
    assert store is pl.store and [f for f in range(6) if proposed(pl, f)] == [1, 4]
    assert (
        np.abs(
            sorted(proposed(pl, 4).values(), key=lambda v: v[0][0, 1])[0][0] - expected_yolo(KP1, 4)[::-1]
        ).max()
        < 0.5
    )
    store = api.predict(env.points, yolo_model(tmp_path), frames="view")
    assert [f for f in range(6) if proposed(pl, f)] == [1, 2, 4]
    # a layer outside a viewer: the proposals store comes back; image= gives the frames
    from napari.layers import Points

    from napari_keyskel._napari.layerdata import points_layer_tuple

    data, attrs, _ = points_layer_tuple(_store(), 0, "worm")
    plain = Points(data, **{k: v for k, v in attrs.items() if k in ("metadata", "name")})
    out = api.predict(plain, yolo_model(tmp_path), frames=0, image=gray_frames(6))
    assert sorted(out.tracks) == [2, 3]


def test_screenshot_of_the_models_tab_with_proposals(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    import imageio.v3 as iio

    from napari_keyskel._qt.dock import KeyskelDock

    viewer = make_napari_viewer(show=True)
    frames = np.stack([np.full((100, 200), 150 + 10 * f, np.uint8) for f in range(6)])
    frames[:, ::8] = 90  # stripes, so the image shows
    image = viewer.add_image(frames, name="video")
    points = api.add_skeleton_layer(viewer, _store(), image_layer=image)
    viewer.dims.set_current_step(0, 2)
    dock = KeyskelDock(viewer)
    viewer.window.add_dock_widget(dock, name="Keyskel", area="right")
    dock.tabs.setCurrentIndex(dock.tabs.count() - 1)
    panel = dock.tabs.currentWidget()
    env = SimpleNamespace(
        viewer=viewer, points=points, ctrl=api.get_controller(points), panel=panel, tmp=tmp_path
    )
    choose_model(env, qtbot, monkeypatch, yolo_model(tmp_path))
    choose_where(panel, "all")
    run_and_wait(env, qtbot)
    pl = env.ctrl.proposals
    assert len(pl.points.data) == 6 and len(pl.edges.data) == 4
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=False, flash=False)
    assert shot.ndim == 3 and shot.shape[1] > 800 and shot[..., :3].std() > 5
    iio.imwrite(tmp_path / "models_tab.png", shot)


def test_api_predict_with_a_heatmap_model_and_names(env, tmp_path):
    t = np.array([[3.2, 4.1], [5.5, 7.0], [8.0, 2.3]])
    path = g.heatmaps(tmp_path / "hm.onnx", t)
    store = api.predict(env.points, path, frames=[0], names=["head", "body", "tail"])
    (tid,) = [tr.track_id for tr in store if np.isfinite(tr.coords).any()]
    assert tid == 1  # the crop of the annotated instance proposes for it
    lo, hi = np.array([20.0, 90.0]), np.array([28.0, 94.0])
    pad = np.maximum(16 - (hi - lo), 0) / 2
    center, scale = crop_geometry((*(lo - pad), *(hi + pad)))
    m = float(np.max((150 - g.MEAN) / g.STD))
    want = crop_to_image((t + m * np.array([0.5, 0.25])) * 4, center, scale)[::-1, ::-1]  # tail first
    got = store.tracks[1].coords[0]
    assert np.abs(got - want).max() < 0.5
