"""A skeleton living in a volume: its other slices faded by distance, then napari's 3D view.

Run ``python examples/volume_skeleton_3d.py`` (``--no-gui`` to exit at the end,
``--screenshot PATH`` to save the 2D slice view).
"""

from __future__ import annotations

import argparse

import napari
import numpy as np

from napari_keyskel import api
from napari_keyskel._napari.out_of_slice import show_out_of_slice
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore


def main(show: bool = True, screenshot: str | None = None) -> napari.Viewer:
    viewer = napari.Viewer(show=show)
    volume = (np.random.default_rng(0).random((40, 96, 96)) * 40).astype(np.uint8)
    image = viewer.add_image(volume, name="volume")
    worm = Skeleton(["head", "neck", "mid", "hip", "tail"], [(0, 1), (1, 2), (2, 3), (3, 4)], name="worm")
    store = AnnotationStore(worm, coord_ndim=3, frame_axis=None)  # nodes in (z, y, x)
    store.add_track(1)
    store.set_points(0, 1, [[5, 20, 20], [12, 35, 30], [20, 50, 45], [28, 62, 62], [35, 75, 80]])
    points = api.add_skeleton_layer(viewer, store, image_layer=image)
    viewer.dims.set_point(0, 20)
    depth = show_out_of_slice(points)  # nodes on other slices shrink, edges fade, with distance
    print(f"slice z=20 shows the nodes within {depth:g} slices")
    if screenshot:
        from qtpy.QtWidgets import QApplication

        viewer.window._qt_window.resize(700, 600)
        for _ in range(3):
            QApplication.processEvents()
            viewer.reset_view()
        viewer.screenshot(screenshot, canvas_only=True)
        print(f"screenshot: {screenshot}")
    viewer.dims.ndisplay = 3  # napari's 3D view: nodes and edges in 3D; drag a node in select mode
    return viewer


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-gui", action="store_true")
    ap.add_argument("--screenshot", metavar="PATH")
    a = ap.parse_args()
    viewer = main(show=True, screenshot=a.screenshot)
    if not a.no_gui:
        napari.run()
    else:
        viewer.close()
