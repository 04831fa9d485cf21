"""Screenshots of the Keyskel dock (annotate, skeleton editor, timeline) over the sample video.

Run under a display (``xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python
scripts/screenshots.py``): napari must show its window or the canvas comes out black. Writes
``docs/dock_annotate.png``, ``docs/dock_skeleton.png`` and ``docs/dock_timeline.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _settle(n: int = 25) -> None:
    from qtpy.QtWidgets import QApplication

    for _ in range(n):
        QApplication.processEvents()
        time.sleep(0.02)


def _annotations():
    """The sample's ground truth keyed every 10th frame, with an occluded span and a gap."""
    from napari_keyskel import keyframes as kf
    from napari_keyskel.synthetic import moving_figure

    video, store = moving_figure(n_frames=100)
    drop = np.ones(100, bool)
    drop[[*range(0, 100, 10), 99]] = False
    for t in store:
        t.is_key[drop] = False
    kf.interpolate_all(store, method="cubic")
    kf.set_visibility(store, 30, 1, "tail_tip", 1)  # occluded from 30 to 40
    kf.set_visibility(store, 60, 2, None, 0)  # mouse 2 unlabelled at 60: a gap to 70
    store.set_alive(2, 85, 90, False)  # and out of view for a few frames
    kf.interpolate_all(store, tracks=[2])
    return video, store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--frame", type=int, default=45)
    args = parser.parse_args(argv)
    import napari

    from napari_keyskel import api
    from napari_keyskel._qt.dock import KeyskelDock

    video, store = _annotations()
    viewer = napari.Viewer(title="napari-keyskel", show=True)
    image = viewer.add_image(video, name="moving figure")
    points = api.add_skeleton_layer(viewer, store, name="mouse keypoints", image_layer=image)
    dock = KeyskelDock(viewer)
    viewer.window.add_dock_widget(dock, name="Keyskel", area="right")
    viewer.window.resize(1500, 950)
    viewer.layers.selection.active = points
    dock.show_names.setChecked(True)
    viewer.dims.set_current_step(0, args.frame)
    points.selected_data = set()
    api.get_controller(points).current_instance = 1
    dock._update_status()  # the next-node indicator of instance 1
    _settle()
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    tl = dock.timeline
    tl.canvas.toggle_expanded(1)
    tl.canvas.selected = (1, None)
    for tab, name in ((0, "dock_annotate"), (1, "dock_skeleton"), (2, "dock_timeline")):
        dock.tabs.setCurrentIndex(tab)
        if tab == 1:
            dock.editor.select_nodes(["left_ear", "right_ear"])
        _settle()
        path = args.out / f"{name}.png"
        img = viewer.screenshot(str(path), canvas_only=False)
        lit = float((img[..., :3].max(axis=-1) > 40).mean())
        written.append((path, img.shape, lit))
    viewer.close()
    for path, shape, lit in written:
        print(f"{path.relative_to(ROOT)}: {shape[1]}x{shape[0]}, {lit:.0%} of pixels lit")
    return 0 if all(lit > 0.05 for _, _, lit in written) else 1


if __name__ == "__main__":
    sys.exit(main())
