"""Preset template poses look like what they stand for: no crossing bones, sides where they belong."""

from __future__ import annotations

import numpy as np
import pytest

from napari_keyskel.core.presets import PRESETS, default_pose, get_preset


def _cross(p, q, r, s) -> bool:
    """True if segments pq and rs cross (sharing an end point does not count)."""

    def orient(a, b, c):
        return np.sign((b[1] - a[1]) * (c[0] - a[0]) - (b[0] - a[0]) * (c[1] - a[1]))

    return orient(p, q, r) * orient(p, q, s) < 0 and orient(r, s, p) * orient(r, s, q) < 0


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_default_pose_has_no_crossing_edges(name):
    sk = get_preset(name)
    pose = default_pose(sk)
    assert pose.shape == (sk.n_nodes, 2) and np.abs(pose).max() <= 1.0
    edges = [tuple(e) for e in sk.edge_array().tolist()]
    for i, (a, b) in enumerate(edges):
        for c, d in edges[i + 1 :]:
            if {a, b} & {c, d}:
                continue
            assert not _cross(pose[a], pose[b], pose[c], pose[d]), (
                sk.nodes[a],
                sk.nodes[b],
                sk.nodes[c],
                sk.nodes[d],
            )
    assert len({tuple(p) for p in pose.round(3).tolist()}) == sk.n_nodes  # no two nodes on one spot


def test_mouse_pose_is_a_mouse_seen_from_above():
    sk = get_preset("mouse_topview")
    pose = dict(zip(sk.nodes, default_pose(sk).tolist(), strict=True))
    spine = ["snout", "neck", "body_center", "tail_base", "tail_mid", "tail_tip"]
    assert all(pose[n][1] == 0 for n in spine)  # the body centre on the midline, not off to one side
    assert [pose[n][0] for n in spine] == sorted(pose[n][0] for n in spine)  # nose up, tail down
    for part in ("ear", "forepaw", "hindpaw"):
        assert pose[f"left_{part}"][1] == -pose[f"right_{part}"][1] < 0  # mirrored, the left on the left
    person = dict(zip(get_preset("coco_person").nodes, default_pose(get_preset("coco_person")).tolist()))
    assert person["nose"][0] < person["left_shoulder"][0] < person["left_hip"][0] < person["left_ankle"][0]
    assert default_pose(get_preset("mouse_topview").reorder_nodes(list(reversed(sk.nodes)))) is not None


@pytest.mark.viewer
def test_t_stamps_the_preset_pose_at_the_cursor(make_napari_viewer):
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    from napari_keyskel import api
    from napari_keyskel._napari.registry import owner_of

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((10, 200, 200), np.uint8), name="video")
    points = api.add_skeleton_layer(viewer, "mouse_topview", image_layer=image)
    viewer.layers.selection.active = points
    viewer.dims.set_current_step(0, 0)
    viewer.cursor.position = (0, 100.0, 80.0)
    QTest.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_T)
    store = owner_of(points).store
    (t,) = list(store)
    pose = t.coords[0]
    sk = store.skeleton
    expect = default_pose(sk)
    offsets = pose - pose.mean(axis=0)
    # the stamped pose is the preset's, scaled: same shape up to a scale around its centre
    scale = np.linalg.norm(offsets) / np.linalg.norm(expect - expect.mean(axis=0))
    np.testing.assert_allclose(offsets, (expect - expect.mean(axis=0)) * scale, atol=1e-6)
    assert pose[sk.index("snout"), 0] < pose[sk.index("tail_tip"), 0]  # nose up
