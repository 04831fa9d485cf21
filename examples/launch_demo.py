"""Open napari with the keyskel sample data and dock (the README's main command runs this).

With ``--headless`` (no display: the README command runs it under Xvfb) it renders the viewer,
saves a screenshot and prints its path instead of waiting for the window to close.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--headless", action="store_true", help="save a screenshot and exit")
    parser.add_argument("--screenshot", type=Path, default=Path("keyskel-demo.png"))
    parser.add_argument("--frame", type=int, default=15, help="frame to show (between two keys)")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    import napari

    viewer = napari.Viewer(title="napari-keyskel demo", show=True)
    viewer.open_sample("napari-keyskel", "moving_figure")
    _, dock = viewer.window.add_plugin_dock_widget("napari-keyskel", "Keyskel")
    timeline = dock.timeline  # the side dock opens the timeline across the bottom
    points = next(layer for layer in viewer.layers if "keyskel" in layer.metadata)
    viewer.layers.selection.active = points
    dock.show_names.setChecked(True)
    viewer.dims.set_current_step(0, args.frame)
    viewer.window.resize(1500, 900)
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    viewer.reset_view()  # fit the video to the canvas left between the docks
    took = time.perf_counter() - t0
    print(f"napari {napari.__version__}: {len(viewer.layers)} layers, opened in {took:.1f} s")
    print(dock.status.text())
    print(f"timeline: {timeline.canvas.rows()} rows, {timeline.range_label.text()}")

    if not args.headless:
        napari.run()
        return 0
    for _ in range(20):  # let Qt lay out and paint before grabbing the window
        QApplication.processEvents()
        time.sleep(0.02)
    path = args.screenshot.resolve()
    image = viewer.screenshot(str(path), canvas_only=False)
    viewer.close()
    lit = float((image[..., :3].max(axis=-1) > 40).mean())
    print(f"screenshot: {path} ({image.shape[1]}x{image.shape[0]}, {lit:.0%} of pixels lit)")
    return 0 if lit > 0.02 else 1


if __name__ == "__main__":
    sys.exit(main())
