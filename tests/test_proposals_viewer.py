"""Proposals over an annotation layer in napari: the Models panel, accept / reject, propagation."""

from __future__ import annotations

from types import SimpleNamespace

import cv2  # noqa: F401  (a promised client: fail, not skip, without OpenCV)
import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_keyskel import api
from napari_keyskel._napari.proposals_layer import ProposalsLayer
from napari_keyskel._qt.models_dock import ModelsPanel
from napari_keyskel.core import keyframes
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.samples.texture import keyed_store, textured_video

pytestmark = pytest.mark.viewer
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture(scope="module")
def video():
    return textured_video(n_frames=31, shape=(200, 200), n_nodes=4, radius=14, amplitude=20.0, seed=2)


@pytest.fixture
def env(make_napari_viewer, qtbot, video):
    viewer = make_napari_viewer()
    image = viewer.add_image(video.frames, name="video")
    store = keyed_store(video, every=10)
    keyframes.interpolate_all(store, "linear")
    points = api.add_skeleton_layer(viewer, store, image_layer=image)
    ctrl = api.get_controller(points)
    b = ctrl.bindings
    viewer.dims.set_current_step(0, 5)
    panel = ModelsPanel(viewer, layer_hook=lambda: points)
    qtbot.addWidget(panel)
    return SimpleNamespace(viewer=viewer, points=points, ctrl=ctrl, b=b, store=ctrl.store, panel=panel)


def _proposals(env, video):
    """Instance 1 (same id as the annotation) and 9 (a new animal) on frames 5 and 6."""
    p = AnnotationStore(env.store.skeleton, 2, 0, n_frames=env.store.n_frames)
    p.add_track(1, start=5)
    p.add_track(9, start=5)
    for f in (5, 6):
        p.set_points(f, 1, video.truth[f] + 0.5, score=[0.9, 0.8, 0.3, 0.95])
        p.set_points(f, 9, video.truth[f] * 0.3 + 2.0, score=0.6)
    return ProposalsLayer(env.ctrl, p)


def wait_done(env, qtbot):
    # (not waitSignal(worker.finished): a fast worker may finish before the wait connects)
    qtbot.waitUntil(lambda: env.ctrl.proposals.worker is None, timeout=30000)


def _row(pl, tid, node):
    return int(np.flatnonzero((pl._ids == tid) & (pl._nodes == node))[0])


def test_threshold_hides_weak_proposals_drawn_dimmed_and_sized_by_score(env, video):
    pl = _proposals(env, video)
    assert env.ctrl.proposals is pl and len(pl.points.data) == 8
    env.panel.score_slider.setValue(50)
    assert pl.min_score == 0.5 and len(pl.points.data) == 7  # node 2 of instance 1 (0.3) hidden
    sizes = np.asarray(pl.points.size)
    alphas = np.asarray(pl.points.face_color)[:, 3]
    r_hi, r_lo = _row(pl, 1, 3), _row(pl, 9, 0)  # scores 0.95 and 0.6
    assert sizes[r_hi] > sizes[r_lo] and alphas[r_hi] > alphas[r_lo] and alphas.max() < 1.0
    assert len(pl.edges.data) == 1 + 3  # instance 1 lost both edges of node 2; instance 9 has 3
    np.testing.assert_allclose(pl.points.data[r_hi], [5, *(video.truth[5, 3] + 0.5)])


def test_accept_node_instance_frame_all_from_the_dock_each_one_undo_step(env, video, qtbot):
    pl = _proposals(env, video)
    env.panel.score_slider.setValue(50)
    t = env.store.tracks[1]
    pl.points.selected_data = {_row(pl, 1, 0)}
    qtbot.mouseClick(env.panel.accept_node, LEFT)
    assert t.is_key[5].tolist() == [True, False, False, False]
    np.testing.assert_allclose(t.score[5, 0], 0.9, rtol=1e-6)
    np.testing.assert_allclose(t.coords[5, 0], video.truth[5, 0] + 0.5)
    feats = env.points.features
    assert feats["keyframe"][(feats["instance"] == 1) & (feats["node"] == "p0")].all()  # the layer shows it
    assert len(pl.points.data) == 6
    env.b.undo()  # Ctrl-Z on the annotation layer reverts the accept in one step...
    assert not t.is_key[5].any() and np.isnan(t.score[5]).all()
    assert len(pl.points.data) == 7  # ...and brings the accepted proposal back

    pl.points.selected_data = {_row(pl, 1, 1)}
    qtbot.mouseClick(env.panel.accept_instance, LEFT)
    assert t.is_key[5].tolist() == [True, True, False, True]  # node 2 is below the threshold
    qtbot.mouseClick(env.panel.accept_frame, LEFT)
    assert 9 in env.store.tracks and env.store.tracks[9].is_key[0].all()  # the new animal
    assert not t.is_key[6].any()
    qtbot.mouseClick(env.panel.accept_all, LEFT)
    assert t.is_key[6].tolist() == [True, True, False, True]
    n_steps = len(env.b.history)
    qtbot.mouseClick(env.panel.undo_button, LEFT)  # both stores step back
    assert len(env.b.history) == n_steps - 1 and not t.is_key[6].any()
    assert np.isfinite(pl.store.tracks[1].coords[1]).all()  # the proposals of frame 6 are back


def test_reject_from_the_dock_and_undo(env, video, qtbot):
    pl = _proposals(env, video)
    pl.points.selected_data = {_row(pl, 9, 0), _row(pl, 9, 1)}
    qtbot.mouseClick(env.panel.reject_button, LEFT)
    assert np.isfinite(pl.store.tracks[9].coords[0]).all(axis=1).tolist() == [False, False, True, True]
    assert len(pl.points.data) == 6
    before = env.store.to_dense()["coords"]
    qtbot.mouseClick(env.panel.undo_button, LEFT)
    assert np.isfinite(pl.store.tracks[9].coords[0]).all() and len(pl.points.data) == 8
    np.testing.assert_array_equal(env.store.to_dense()["coords"], before)  # annotations untouched


def test_propagate_forward_in_a_worker_gives_proposals_then_accepted(env, video, qtbot):
    env.viewer.dims.set_current_step(0, 10)
    env.ctrl.current_instance = 1
    worker = env.panel.propagate(1)
    assert worker is not None and env.panel.cancel_button.isEnabled()
    assert worker.pbar.total == 9 and "propagating" in worker.pbar.desc  # napari's progress bar
    assert env.ctrl.proposals.worker is worker and not len(env.ctrl.proposals.store)  # not blocking
    wait_done(env, qtbot)
    pl = env.ctrl.proposals
    p = pl.store.tracks[1]
    assert (p.start, p.stop) == (11, 20)  # up to the frame before the next key
    err = np.hypot(*(p.coords - video.truth[11:20]).transpose(2, 0, 1))
    assert err.max() < 0.5 and np.isfinite(p.score).all()
    assert not env.panel.cancel_button.isEnabled()
    env.viewer.dims.set_current_step(0, 15)
    assert len(pl.points.data) == 4
    assert pl.accept("all") == 36
    assert env.store.tracks[1].is_key[11:20].all()


def test_cancel_stops_propagation_and_applies_nothing(env, video, qtbot):
    env.viewer.dims.set_current_step(0, 0)
    env.ctrl.current_instance = 1
    env.panel.n_frames.setValue(30)
    assert env.panel.propagate(1) is not None
    qtbot.mouseClick(env.panel.cancel_button, LEFT)
    wait_done(env, qtbot)
    assert 1 not in env.ctrl.proposals.store.tracks


def test_interpolate_with_the_image_from_the_dock_is_one_undo_step(env, video, qtbot):
    t = env.store.tracks[1]
    linear = t.coords.copy()
    assert env.panel.interpolate_with_image() is not None
    wait_done(env, qtbot)
    inb = ~t.is_key
    e_lin = np.hypot(*(linear - video.truth).transpose(2, 0, 1))[inb]
    e_trk = np.hypot(*(t.coords - video.truth).transpose(2, 0, 1))[inb]
    assert e_trk.mean() <= 0.5 * e_lin.mean()
    shown = env.points.data[env.points.features["instance"].to_numpy() == 1]
    np.testing.assert_allclose(shown[:, 1:], t.coords[5])  # the layer shows the tracked frame 5
    env.b.undo()
    np.testing.assert_array_equal(t.coords, linear)


def test_into_annotations_writes_non_keys_and_keeps_keys(env, video, qtbot):
    env.viewer.dims.set_current_step(0, 20)
    env.ctrl.current_instance = 1
    env.panel.as_positions.setChecked(True)
    env.panel.n_frames.setValue(15)  # 20 + 15 is past the video's end (30): clipped there
    assert env.panel.propagate(1) is not None
    wait_done(env, qtbot)
    t = env.store.tracks[1]
    assert t.is_key[30].all() and not t.is_key[21:30].any()
    np.testing.assert_array_equal(t.coords[30], video.truth[30])  # the key was not overwritten
    err = np.hypot(*(t.coords[21:30] - video.truth[21:30]).transpose(2, 0, 1))
    assert err.max() < 0.5


def test_screenshot_of_proposals_over_annotations(make_napari_viewer, video, tmp_path):
    viewer = make_napari_viewer(show=True)
    image = viewer.add_image(video.frames, name="video")
    store = keyed_store(video, every=10)
    keyframes.interpolate_all(store, "linear")
    points = api.add_skeleton_layer(viewer, store, image_layer=image)
    ctrl = api.get_controller(points)
    viewer.dims.set_current_step(0, 5)
    p = AnnotationStore(store.skeleton, 2, 0, n_frames=store.n_frames)
    p.add_track(1, start=5)
    p.set_points(5, 1, video.truth[5], score=[0.95, 0.7, 0.4, 0.2])
    ProposalsLayer(ctrl, p)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot.ndim == 3 and shot[..., :3].std() > 5
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "proposals.png", shot)


def test_the_keyskel_dock_has_a_models_tab_that_accepts(env, video, qtbot):
    from napari_keyskel._qt.dock import KeyskelDock

    dock = KeyskelDock(env.viewer)
    qtbot.addWidget(dock)
    names = [dock.tabs.tabText(i) for i in range(dock.tabs.count())]
    assert names[-1] == "Models"
    panel = dock.tabs.widget(dock.tabs.count() - 1)
    assert panel.owner() is env.ctrl  # the dock's current annotation layer
    pl = _proposals(env, video)
    qtbot.mouseClick(panel.accept_frame, LEFT)
    assert env.store.tracks[1].is_key[5].all() and env.store.tracks[9].is_key[0].all()
    qtbot.mouseClick(dock.undo_button, LEFT)  # the Annotate tab's Undo reverts the accept too
    assert not env.store.tracks[1].is_key[5].any() and 9 not in env.store.tracks
    assert len(pl.points.data) == 8


def test_a_result_is_dropped_when_the_annotations_changed_meanwhile(env, video, qtbot):
    t = env.store.tracks[1]
    assert env.panel.interpolate_with_image() is not None
    # the worker's result reaches the GUI thread only through the event loop: edit first
    api.set_node(env.points, frame=10, instance=1, node="p0", coords=video.truth[10, 0] + 1.0)
    edited = t.coords.copy()
    wait_done(env, qtbot)
    np.testing.assert_array_equal(t.coords, edited)
    assert "changed while interpolating" in env.ctrl.proposals.last_message


def test_open_proposals_from_a_file_through_the_panel(env, video, tmp_path):
    from napari_keyskel import formats
    from napari_keyskel.core.annotation_set import AnnotationSet
    from napari_keyskel.core.skeleton import Skeleton

    p = AnnotationStore(env.store.skeleton, 2, 0, n_frames=env.store.n_frames, name=env.store.name)
    p.add_track(4, start=5)
    p.set_points(5, 4, video.truth[5] + 1.0)
    env.panel.proposals()  # an empty proposals layer first
    path = tmp_path / "model.json"
    formats.write(AnnotationSet([p]), path, "coco")
    pl = env.panel.open_proposals(str(path))
    assert pl is not None and env.ctrl.proposals is pl and len(pl.points.data) == 4
    assert sum(ly.name.endswith("proposals") for ly in env.viewer.layers) == 1  # the empty one replaced
    np.testing.assert_allclose(pl.points.data[:, 1:], video.truth[5] + 1.0, atol=1e-6)
    other = AnnotationStore(Skeleton(["a", "b"]), 2, 0, n_frames=31)
    other.add_track(1)
    other.set_points(0, 1, [[1.0, 1.0], [2.0, 2.0]])
    formats.write(AnnotationSet([other]), tmp_path / "other.json", "coco")
    assert env.panel.open_proposals(str(tmp_path / "other.json")) is None
    assert "cannot open proposals" in env.panel.status.text() and env.ctrl.proposals is pl
