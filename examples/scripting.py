"""Scripting napari-keyskel: annotate a video from code, interpolate, save, reopen.

Run ``python examples/scripting.py`` (add ``--no-gui`` to exit instead of showing the viewer).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import napari
import numpy as np

from napari_keyskel import api
from napari_keyskel.samples.synthetic import moving_figure


def main(show: bool = True) -> napari.Viewer:
    # a synthetic top-view video of two walking mice, with its ground truth
    video, truth = moving_figure(n_frames=60, shape=(256, 256))
    viewer = napari.Viewer(show=show)
    image = viewer.add_image(video, name="mice video")

    # 1. an empty annotation layer from a preset skeleton, over the image (same scale/translate)
    points = api.add_skeleton_layer(viewer, "mouse_topview", image_layer=image, name="mice")
    store = api.get_store(points)  # every frame of every instance, as arrays
    print(store)

    # 2. place keys from code every 15 frames (here: copied from the ground truth)
    for track in truth:
        for frame in range(0, 60, 15):
            for node in store.skeleton.nodes:
                k = store.skeleton.index(node)
                api.set_node(points, frame, track.track_id, node, track.coords[frame, k])

    # 3. interpolate the frames between the keys (monotone cubic)
    api.interpolate(points, method="cubic")
    err = np.nanmax(np.abs(store.tracks[1].coords[:46] - truth.tracks[1].coords[:46]))
    print(f"{store.counts()}; worst interpolation error {err:.2f} px")

    # 4. the layer shows only the frame in view; the edges layer follows
    viewer.dims.set_current_step(0, 20)
    print(points.features.head(3))
    print(f"frame 20: {len(points.data)} points, {len(api.get_controller(points).edges.data) - 2} edges")

    # 5. save as V7 Darwin JSON and as COCO keypoints, then open one again
    out = Path(tempfile.mkdtemp())
    print(api.save_layer(points, out / "mice_darwin.json", format="darwin"))
    print(api.save_layer(points, out / "mice_coco.json", format="coco"))
    (reopened,) = api.open_annotations(viewer, out / "mice_coco.json", image_layer=image)
    print(f"reopened {reopened.name!r}: {api.get_store(reopened).counts()}")
    return viewer


if __name__ == "__main__":
    gui = "--no-gui" not in sys.argv
    v = main(show=gui)
    if gui:
        napari.run()
    else:
        v.close()
