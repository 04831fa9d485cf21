"""A napari session killed mid-annotation (tests/test_save.py runs it in a subprocess).

Opens the sample through napari, drags one node on frame 35 (one layer data change, as napari's
drag makes), lets the autosave timer write the recovery file, prints ``EDITED`` and then keeps
annotating until it is killed.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main() -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_keyskel._qt.save_hooks import set_autosave_interval

    viewer = napari.Viewer(show=False)
    viewer.open_sample("napari-keyskel", "moving_figure")
    points = viewer.layers["mouse keypoints"]
    set_autosave_interval(viewer, 0.2)
    viewer.dims.set_current_step(0, 35)
    data = np.asarray(points.data).copy()
    data[0, 1:] += (7.0, -5.0)
    points.data = data  # a drag of the first node of frame 35: a key there
    print("EDITED", *(repr(v) for v in data[0].tolist()), flush=True)
    while True:  # annotating, until the kill
        QApplication.processEvents()
        time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
