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
from types import SimpleNamespace

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
    return SimpleNamespace(
        viewer=viewer, points=points, owner=owner, dock=dock, timeline=timeline, count=count, canvas=canvas
    )


def _count_calls(obj, method: str, key: str, count: Counter) -> None:
    """Count the calls of ``obj.method`` under ``key`` (the method still runs)."""
    original = getattr(obj, method)

    def counted(*args, **kwargs):
        count.update([key])
        return original(*args, **kwargs)

    setattr(obj, method, counted)


def _reset(scene, qtbot):
    qtbot.wait(20)  # paint what is pending
    scene.count.clear()
    return dict(scene.owner.redraws), scene.dock.status_redraws


def _counted(scene, before, qtbot) -> dict[str, int]:
    redraws, status = before
    out = {k: scene.owner.redraws[k] - redraws[k] for k in ("view", "names")}
    out.update(scene.count)
    out["status"] = scene.dock.status_redraws - status
    return out


def _one_each(counted, edges=(0, 1)):
    assert counted["view"] == 1, counted
    assert counted["names"] == 1 and counted.get("names layer", 0) == 1, counted
    assert counted.get("edges", 0) in edges, counted
    assert counted["timeline"] == 1 and counted["status"] == 1, counted
    assert "whole timeline" not in counted, counted  # the touched rows only


def test_a_drag_release_redraws_each_part_once(scene, qtbot):
    scene.points.mode = "select"
    row = int(np.flatnonzero(scene.points.features["node"] == "tail_tip")[0])
    tid = int(scene.points.features["instance"][row])
    start = np.asarray(scene.points.data)[row].copy()
    mouse(scene.points, "mouse_press", start)
    mouse(scene.points, "mouse_move", start + np.array([0, 6, -4]))
    mouse(scene.points, "mouse_move", start + np.array([0, 12, -8]))
    before = _reset(scene, qtbot)
    mouse(scene.points, "mouse_release", start + np.array([0, 12, -8]))
    counted = _counted(scene, before, qtbot)
    _one_each(counted)
    t = scene.owner.store.tracks[tid]
    assert t.is_key[5 - t.start, scene.owner.store.skeleton.index("tail_tip")]
    assert {k for k in counted if k.startswith("row")} == {f"row {tid}"}  # the dragged instance's row


def test_a_key_through_napari_keymap_redraws_each_part_once(scene, qtbot):
    row = int(np.flatnonzero(scene.points.features["node"] == "snout")[0])
    tid = int(scene.points.features["instance"][row])
    scene.points.selected_data = {row}
    before = _reset(scene, qtbot)
    QTest.keyClick(scene.canvas, Qt.Key.Key_O)  # occluded: a key, its span follows
    counted = _counted(scene, before, qtbot)
    _one_each(counted)
    t = scene.owner.store.tracks[tid]
    assert t.visibility[5 - t.start, scene.owner.store.skeleton.index("snout")] == 1
    assert {k for k in counted if k.startswith("row")} == {f"row {tid}"}


def test_an_accepted_proposal_redraws_each_part_once(scene, qtbot):
    store = scene.owner.store
    tid = store.track_ids[0]
    t = store.tracks[tid]
    proposals = AnnotationStore(store.skeleton, 2, 0, n_frames=store.n_frames)
    proposals.add_track(tid, start=5)
    proposals.set_points(5, tid, t.coords[5 - t.start] + 3.0, score=0.9)
    pl = ProposalsLayer(scene.owner, proposals)
    scene.viewer.layers.selection.active = scene.points
    before = _reset(scene, qtbot)
    assert pl.accept("frame") == store.n_nodes
    counted = _counted(scene, before, qtbot)
    _one_each(counted)
    assert t.is_key[5 - t.start].all()


def test_an_undo_redraws_each_part_once(scene, qtbot):
    row = int(np.flatnonzero(scene.points.features["node"] == "snout")[0])
    scene.points.selected_data = {row}
    QTest.keyClick(scene.canvas, Qt.Key.Key_O)
    before = _reset(scene, qtbot)
    QTest.keyClick(scene.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    counted = _counted(scene, before, qtbot)
    _one_each(counted)
    tid = int(scene.points.features["instance"][row])
    t = scene.owner.store.tracks[tid]
    assert t.visibility[5 - t.start, scene.owner.store.skeleton.index("snout")] == 2


def test_a_frame_step_draws_each_part_once(scene, qtbot):
    before = _reset(scene, qtbot)
    scene.viewer.dims.set_current_step(0, 6)
    counted = _counted(scene, before, qtbot)
    assert counted["view"] == 1 and counted["names"] == 1 and counted.get("names layer", 0) == 1, counted
    assert counted.get("edges", 0) == 1 and counted["status"] == 1, counted
    assert counted.get("timeline", 0) == 0, counted  # the rows stay; only the frame line moves
