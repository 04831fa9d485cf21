"""One edit, one redraw of each part: points and edges, names, the timeline rows, the status line.

The sample in a shown viewer with the Keyskel dock, the bottom timeline and node names on. Each
edit is made the way a person makes it (a drag released through napari's mouse callbacks, a key
through napari's keymap on the canvas, an accepted proposal, Ctrl-Z) and the redraws are counted:

- ``view``: the owner drew the touched points and edges (``LayerOwner.redraws["view"]``);
- ``names``: the names were placed (``redraws["names"]``) and written to the names layer
  (``NodeNames._write``);
- ``edges``: the edges layer's data was written (``FrameView.update_edges``) at most once;
- ``timeline``: the bottom timeline repainted (``TimelineWidget.refresh``), only the rows of the
  touched instances (``TimelineCanvas.refresh_tracks``, never the whole canvas);
- ``status``: the dock's status line (``KeyskelDock.status_redraws``).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from _events import mouse
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from napari_keyskel._napari.proposals_layer import ProposalsLayer
from napari_keyskel._napari.registry import owner_of
from napari_keyskel._qt.timeline_dock import find_timeline
from napari_keyskel.core.store import AnnotationStore

pytestmark = pytest.mark.viewer


@pytest.fixture
def scene(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-keyskel", "moving_figure")
    _, dock = viewer.window.add_plugin_dock_widget("napari-keyskel", "Keyskel")
    points = viewer.layers["mouse keypoints"]
    viewer.layers.selection.active = points
    viewer.dims.set_current_step(0, 5)  # an interpolated frame
    owner = owner_of(points)
    owner.show_names(True)
    timeline = find_timeline(viewer)
    assert timeline is not None and timeline.layer is points
    qtbot.wait(30)
    count: Counter[str] = Counter()
    _count_calls(owner.view, "update_edges", "edges", count)
    _count_calls(owner.names, "_write", "names layer", count)
    _count_calls(timeline, "refresh", "timeline", count)
    _count_calls(timeline.canvas, "refresh", "whole timeline", count)
    rows = timeline.canvas.refresh_tracks

    def refresh_tracks(track_ids):
        count.update(f"row {t}" for t in track_ids)
        return rows(track_ids)

    timeline.canvas.refresh_tracks = refresh_tracks
    canvas = viewer.window._qt_viewer.canvas.native
    return viewer, points, owner, dock, timeline, count, canvas


def _count_calls(obj, method: str, key: str, count: Counter) -> None:
    """Count the calls of ``obj.method`` under ``key`` (the method still runs)."""
    original = getattr(obj, method)

    def counted(*args, **kwargs):
        count.update([key])
        return original(*args, **kwargs)

    setattr(obj, method, counted)


def _reset(scene, qtbot):
    viewer, points, owner, dock, timeline, count, _ = scene
    qtbot.wait(20)  # paint what is pending
    count.clear()
    return dict(owner.redraws), dock.status_redraws


def _counted(scene, before, qtbot) -> dict[str, int]:
    viewer, points, owner, dock, timeline, count, _ = scene
    redraws, status = before
    out = {k: owner.redraws[k] - redraws[k] for k in ("view", "names")}
    out.update(count)
    out["status"] = dock.status_redraws - status
    return out


def _one_each(counted, edges=(0, 1)):
    assert counted["view"] == 1, counted
    assert counted["names"] == 1 and counted.get("names layer", 0) == 1, counted
    assert counted.get("edges", 0) in edges, counted
    assert counted["timeline"] == 1 and counted["status"] == 1, counted
    assert "whole timeline" not in counted, counted  # the touched rows only


def test_a_drag_release_redraws_each_part_once(scene, qtbot):
    viewer, points, owner, dock, timeline, count, _ = scene
    points.mode = "select"
    row = int(np.flatnonzero(points.features["node"] == "tail_tip")[0])
    tid = int(points.features["instance"][row])
    start = np.asarray(points.data)[row].copy()
    mouse(points, "mouse_press", start)
    mouse(points, "mouse_move", start + [0, 6, -4])
    mouse(points, "mouse_move", start + [0, 12, -8])
    before = _reset(scene, qtbot)
    mouse(points, "mouse_release", start + [0, 12, -8])
    counted = _counted(scene, before, qtbot)
    _one_each(counted)
    assert owner.store.tracks[tid].is_key[5 - owner.store.tracks[tid].start, owner.store.skeleton.index("tail_tip")]
    assert {k for k in counted if k.startswith("row")} == {f"row {tid}"}  # the dragged instance's row


def test_a_key_through_napari_keymap_redraws_each_part_once(scene, qtbot):
    viewer, points, owner, dock, timeline, count, canvas = scene
    row = int(np.flatnonzero(points.features["node"] == "snout")[0])
    tid = int(points.features["instance"][row])
    points.selected_data = {row}
    before = _reset(scene, qtbot)
    QTest.keyClick(canvas, Qt.Key.Key_O)  # occluded: a key, its span follows
    counted = _counted(scene, before, qtbot)
    _one_each(counted)
    t = owner.store.tracks[tid]
    assert t.visibility[5 - t.start, owner.store.skeleton.index("snout")] == 1
    assert {k for k in counted if k.startswith("row")} == {f"row {tid}"}


def test_an_accepted_proposal_redraws_each_part_once(scene, qtbot):
    viewer, points, owner, dock, timeline, count, _ = scene
    store = owner.store
    tid = store.track_ids[0]
    t = store.tracks[tid]
    proposals = AnnotationStore(store.skeleton, 2, 0, n_frames=store.n_frames)
    proposals.add_track(tid, start=5)
    proposals.set_points(5, tid, t.coords[5 - t.start] + 3.0, score=0.9)
    pl = ProposalsLayer(owner, proposals)
    viewer.layers.selection.active = points
    before = _reset(scene, qtbot)
    assert pl.accept("frame") == store.n_nodes
    counted = _counted(scene, before, qtbot)
    _one_each(counted)
    assert t.is_key[5 - t.start].all()


def test_an_undo_redraws_each_part_once(scene, qtbot):
    viewer, points, owner, dock, timeline, count, canvas = scene
    row = int(np.flatnonzero(points.features["node"] == "snout")[0])
    points.selected_data = {row}
    QTest.keyClick(canvas, Qt.Key.Key_O)
    before = _reset(scene, qtbot)
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    counted = _counted(scene, before, qtbot)
    _one_each(counted)
    tid = int(points.features["instance"][row])
    t = owner.store.tracks[tid]
    assert t.visibility[5 - t.start, owner.store.skeleton.index("snout")] == 2


def test_a_frame_step_draws_each_part_once(scene, qtbot):
    viewer, points, owner, dock, timeline, count, _ = scene
    before = _reset(scene, qtbot)
    viewer.dims.set_current_step(0, 6)
    counted = _counted(scene, before, qtbot)
    assert counted["view"] == 1 and counted["names"] == 1 and counted.get("names layer", 0) == 1, counted
    assert counted.get("edges", 0) == 1 and counted["status"] == 1, counted
    assert counted.get("timeline", 0) == 0, counted  # the rows stay; only the frame line moves
