"""CVAT XML in napari: File > Open gives the skeleton layers, File > Save writes CVAT XML (npe2 hooks)."""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from napari_keyskel.formats import read

DATA = Path(__file__).parent / "data"


def test_open_and_save_cvat_in_napari(make_napari_viewer, tmp_path: Path) -> None:
    viewer = make_napari_viewer()
    src = DATA / "cvat_video_1_1_skeleton_tracks.xml"
    (layer,) = viewer.open(str(src), plugin="napari-keyskel")
    assert layer.name == "mouse" and "keyskel" in layer.metadata
    t0 = read(src).stores[0].tracks[1]
    shown = np.isfinite(t0.coords[0, :, 0])
    np.testing.assert_allclose(layer.data[:, 1:], t0.coords[0, shown])  # frame 0: CVAT's elements there
    out = tmp_path / "saved.xml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        written = viewer.layers.save(str(out), plugin="napari-keyskel")  # .xml: the CVAT writer
    assert written == [str(out)]
    root = ET.parse(out).getroot()
    assert root.find("./meta/task/mode").text == "interpolation"
    assert [t.get("label") for t in root.findall("track")] == ["mouse", "mouse", "cage"]  # the box kept
    back = read(out).stores[0].tracks[1]
    np.testing.assert_allclose(back.coords, t0.coords, atol=1e-9)  # every frame, not only the one shown
