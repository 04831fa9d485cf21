"""Multi-view annotation with triangulation, on a synthetic 3-camera rig whose truth is known.

Run ``python examples/multiview_triangulation.py`` (``--no-gui`` to exit at the end,
``--screenshot PATH`` to save the window). Three camera videos of two animals become views side
by side; keys every 10th frame are placed from the (noisy) truth, a few nodes left out in one
camera; *Triangulate* proposes the missing nodes and shows the error per node; the 3D points
are written as CSV.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import napari
import numpy as np

from napari_keyskel import api
from napari_keyskel._qt.multiview_dock import MultiViewPanel
from napari_keyskel.multiview.calibration import write_calibration
from napari_keyskel.multiview.triangulate import project
from napari_keyskel.samples.rig import render_views, rig_skeleton, synthetic_rig, synthetic_trajectories


def main(show: bool = True, screenshot: str | None = None) -> napari.Viewer:
    folder = Path(tempfile.mkdtemp(prefix="keyskel-multiview-"))
    cal = synthetic_rig(3)
    truth = synthetic_trajectories(30, 2, seed=3)  # (T, I, K, 3) mm
    pixels = project(cal, truth)  # (V, T, I, K, 2), OpenCV (x, y)
    calib = write_calibration(cal, folder / "calibration.toml")
    skeleton_file = rig_skeleton().save(folder / "rig.skeleton.json")

    viewer = napari.Viewer(show=show)
    viewer.window._qt_window.resize(1500, 900)
    for video, name in zip(render_views(cal, truth), cal.names):
        viewer.add_image(video, name=name)
    panel = MultiViewPanel(viewer)
    viewer.window.add_dock_widget(panel, name="3D / views", area="right")
    panel.set_checked(cal.names)
    panel.skeleton_combo.setEditText(str(skeleton_file))
    panel.calib_edit.setText(str(calib))
    panel.make_views()  # the views side by side, one annotation layer each

    rng = np.random.default_rng(0)
    nodes = rig_skeleton().nodes
    missing = {(2, 0, 5), (0, 1, 0)}  # (view, animal, node) a camera did not see
    for v, ctrl in enumerate(panel.session.owners):
        for i in range(truth.shape[1]):
            for k, node in enumerate(nodes):
                if (v, i, k) in missing:
                    continue
                for f in range(0, 30, 10):
                    x, y = pixels[v, f, i, k] + rng.normal(0, 0.5, 2)
                    api.set_node(ctrl.points, f, i + 1, node, (y, x))
    viewer.dims.set_current_step(0, 10)
    panel.triangulate()
    print(panel.summary.text())
    panel.save_csv(str(folder / "points3d.csv"))
    print(f"3D points: {folder / 'points3d.csv'}")
    if screenshot:
        from qtpy.QtWidgets import QApplication

        for _ in range(3):  # let the window lay out and draw, then fit the grid to it
            QApplication.processEvents()
            viewer.reset_view()
        viewer.screenshot(screenshot, canvas_only=False)
        print(f"screenshot: {screenshot}")
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
