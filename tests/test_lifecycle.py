"""A layer used by every part of the plugin (dock tabs, bottom timeline, review, proposals, save
state) is freed when a person removes it, and what was tied to it goes with it."""

from __future__ import annotations

import gc
import weakref

import numpy as np

from napari_keyskel import api
from napari_keyskel._napari.proposals_layer import ProposalsLayer
from napari_keyskel._qt.dock import KeyskelDock
from napari_keyskel._qt.timeline_dock import find_timeline
from napari_keyskel.samples.synthetic import moving_figure


def test_removing_a_layer_used_everywhere_frees_its_store(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    video, store = moving_figure(n_frames=30, shape=(96, 96))
    image = viewer.add_image(video, name="video")
    points = api.add_skeleton_layer(viewer, store, image_layer=image, name="mice")
    dock = KeyskelDock(viewer)
    qtbot.addWidget(dock)
    timeline = find_timeline(viewer)
    assert timeline is not None
    timeline.show_layer(points)
    ctrl = api.get_controller(points)
    ctrl.review.run()
    proposals = ProposalsLayer(ctrl)
    ctrl.show_names(True)  # the session's names layer
    prop_layers = [proposals.points, proposals.edges, ctrl.names.layer]
    ctrl.bindings.stamp_template()
    refs = [weakref.ref(x) for x in (store, ctrl, ctrl.history, proposals, ctrl.names)]
    del ctrl, proposals, store
    viewer.layers.remove(points)
    del points
    for _ in range(3):
        viewer.dims.set_current_step(0, int(viewer.dims.current_step[0]) + 1)  # no stale listener raises
    assert not any(layer in viewer.layers for layer in prop_layers)  # proposals and names went with it
    del prop_layers
    qtbot.wait(10)
    gc.collect()
    alive = [type(r()).__name__ for r in refs if r() is not None]
    assert not alive, f"still alive after removing the layer: {alive}"
    assert [ly.name for ly in viewer.layers] == ["video"]
    assert np.isfinite(timeline.canvas.n_frames)
