"""Screenshots of the Keyskel docks over the sample video, and an animated GIF of the annotation loop.

Run under a display (``xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python
scripts/screenshots.py``): napari must show its window or the canvas comes out black. Writes
``docs/dock_annotate.png``, ``docs/dock_skeleton.png``, ``docs/dock_timeline.png`` (the bottom
timeline, an instance expanded per node), ``docs/skeleton_from_nothing.png`` (the Skeleton tab
before any layer: a new class, its nodes, edges and pair, Create layer, stamped with ``T``),
``docs/v7_interpolated.png`` (a V7 file holding keyframes only, ``interpolated: true``, shown
with the frames between filled; only when the reader honours it) and ``docs/loop.gif``: on
the video with an empty layer, ``T`` stamps a mouse on frame 0, the nodes are dragged onto it,
ten ``D`` presses step to frame 10, the nodes are dragged to where the mouse went, and the
frames between fill in. Every step goes through napari (its key bindings, layer data changes as
a drag makes them), from the real viewer. Run it from the repository root with this checkout on
``PYTHONPATH`` (or installed); ``--only NAME`` makes some of the pictures.
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
    from napari_keyskel._napari.sample import _BODY, _SPREAD, SAMPLE_SHAPE
    from napari_keyskel.core import keyframes as kf
    from napari_keyskel.samples.synthetic import moving_figure

    video, store = moving_figure(n_frames=100, shape=SAMPLE_SHAPE, body=_BODY, spread=_SPREAD)
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


def _key(viewer, key: str, modifiers=None) -> None:
    """Press a key on the canvas, as a person does (napari's keymap dispatches it to the layer)."""
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    mods = modifiers if modifiers is not None else Qt.KeyboardModifier.NoModifier
    QTest.keyClick(viewer.window._qt_viewer.canvas.native, getattr(Qt.Key, f"Key_{key}"), mods)


def _grab(widget) -> np.ndarray:
    """A widget's pixels as an (H, W, 3) uint8 array."""
    img = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB888)
    w, h = img.width(), img.height()
    buf = np.frombuffer(img.constBits().asstring(img.sizeInBytes()), np.uint8)
    return buf.reshape(h, img.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()


def loop_gif(path: Path, fps: float = 4.0):
    """The annotation loop as an animated GIF (see the module docstring); returns (path, shape, lit)."""
    import imageio.v3 as iio
    import napari

    from napari_keyskel._napari.registry import owner_of
    from napari_keyskel._qt.timeline_dock import open_timeline

    viewer = napari.Viewer(title="napari-keyskel", show=True)
    viewer.open_sample("napari-keyskel", "moving_figure_unannotated")
    timeline = open_timeline(viewer)
    viewer.window.resize(1000, 820)
    points = viewer.layers["mouse keypoints"]
    truth = viewer.layers["moving figure"].metadata["keyskel_ground_truth"]
    viewer.layers.selection.active = points
    owner_of(points).show_names(True)
    ctrl = owner_of(points)
    viewer.dims.set_current_step(0, 0)  # napari opens a video on its middle frame
    _settle()
    viewer.reset_view()
    frames = []

    def snap(n: int = 1) -> None:
        """The canvas above the bottom timeline, as one picture."""
        _settle(6)
        canvas = viewer.screenshot(canvas_only=True)[..., :3]
        strip = _grab(timeline)
        w = max(canvas.shape[1], strip.shape[1])
        pad = [np.pad(a, ((0, 0), (0, w - a.shape[1]), (0, 0))) for a in (canvas, strip)]
        frames.extend([np.concatenate(pad, axis=0)] * n)

    def drag_to_truth(frame: int, steps: int) -> None:
        """Drag each node of mouse 1 onto the video, a few nodes per picture."""
        want = truth[frame, 0]
        data = np.asarray(points.data).copy()
        rows = np.flatnonzero(points.features["instance"].to_numpy() == 1)
        nodes = points.features["node"].to_numpy()[rows]
        order = np.array([ctrl.store.skeleton.index(str(n)) for n in nodes], np.intp)
        if not rows.size:
            raise RuntimeError(f"no points of mouse 1 on frame {frame}: {timeline.status.text()}")
        for chunk in np.array_split(np.arange(rows.size), steps):
            data = np.asarray(points.data).copy()
            data[rows[chunk], 1:] = want[order[chunk]]
            points.data = data  # as napari's drag leaves it: these nodes become keys here
            snap()

    snap(3)
    centre = truth[0, 0].mean(axis=0)
    viewer.cursor.position = (0, *centre)
    _key(viewer, "T")  # stamp the template at the cursor
    snap(3)
    drag_to_truth(0, 4)
    snap(2)
    for _ in range(10):  # D ten times
        _key(viewer, "D")
        snap()
    if not len(points.data):  # no pose held past the last key: bring the previous pose (Shift-T)
        from qtpy.QtCore import Qt

        viewer.cursor.position = (10, *truth[10, 0].mean(axis=0))
        _key(viewer, "T", Qt.KeyboardModifier.ShiftModifier)
        snap(2)
    drag_to_truth(10, 4)
    snap(3)
    for f in range(1, 11):  # the frames between filled in
        viewer.dims.set_current_step(0, f)
        snap()
    snap(4)
    viewer.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = min(f.shape[0] for f in frames), min(f.shape[1] for f in frames)
    small = [f[:h:2, :w:2] for f in frames]  # half size keeps the GIF small
    iio.imwrite(path, np.stack(small), duration=int(1000 / fps), loop=0)
    lit = float((np.stack(small)[..., :3].max(axis=-1) > 40).mean())
    return path, small[0].shape, lit


def _click(widget) -> None:
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


def _type(line_edit, text: str, enter: bool = False) -> None:
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    line_edit.selectAll()
    QTest.keyClicks(line_edit, text)
    if enter:
        QTest.keyClick(line_edit, Qt.Key.Key_Return)


def skeleton_from_nothing(path: Path):
    """The Skeleton tab before any layer: New skeleton "mouse", nodes, edges, a pair, Create layer.

    Every step is a click or keys on the tab's widgets; then ``T`` stamps it on the video.
    """
    import napari

    from napari_keyskel._napari.sample import _FIGURE, SAMPLE_SHAPE
    from napari_keyskel._qt.dock import KeyskelDock
    from napari_keyskel.samples.synthetic import moving_figure

    video, truth = moving_figure(n_frames=30, shape=SAMPLE_SHAPE, **_FIGURE)
    viewer = napari.Viewer(title="napari-keyskel", show=True)
    image = viewer.add_image(video, name="moving figure", axis_labels=("t", "y", "x"))
    dock = KeyskelDock(viewer)
    viewer.window.add_dock_widget(dock, name="Keyskel", area="right")
    viewer.window.resize(1500, 950)
    dock.tabs.setCurrentIndex(1)
    w = dock.editor
    _type(w.class_edit, "mouse")
    _click(w.new_button)
    for name in ("snout", "left_ear", "right_ear", "neck", "body", "tail_base", "tail_tip"):
        _type(w.name_edit, name, enter=True)
    for a, b in (("snout", "neck"), ("left_ear", "neck"), ("right_ear", "neck"), ("neck", "body"),
                 ("body", "tail_base"), ("tail_base", "tail_tip")):  # fmt: skip
        w.select_nodes([a, b])
        _click(w.connect_button)
    w.select_nodes(["left_ear", "right_ear"])
    _click(w.pair_button)
    viewer.layers.selection.active = image
    _click(w.create_button)  # over the selected image
    points = dock.current_layer()
    viewer.dims.set_current_step(0, 0)
    viewer.cursor.position = (0, *truth.tracks[1].coords[0].mean(axis=0))
    _key(viewer, "T")
    # the nodes dragged onto the mouse (as napari's drag leaves the layer's data: keys here)
    names = {n: truth.skeleton.index("body_center" if n == "body" else n) for n in w.skeleton.nodes}
    data = np.asarray(points.data).copy()
    for row, node in enumerate(points.features["node"].astype(str)):
        data[row, 1:] = truth.tracks[1].coords[0, names[node]]
    points.data = data
    dock.show_names.setChecked(True)
    w.select_nodes(["left_ear", "right_ear"])
    _settle()
    dock.tabs.currentWidget().verticalScrollBar().setValue(0)  # the tab from its top
    _settle()
    img = viewer.screenshot(str(path), canvas_only=False)
    assert points is not None and len(points.data) == 7, "the new skeleton was not stamped"
    viewer.close()
    return path, img.shape, float((img[..., :3].max(axis=-1) > 40).mean())


def v7_interpolated_file(path: Path, n_frames: int = 41, step: int = 10) -> Path:
    """A V7 video file as V7's import files and scripts write it: keyframes only, ``interpolated``.

    Written from the sample's ground truth (keys every ``step`` frames), then every non-key frame
    is dropped and each annotation marked ``"interpolated": true`` (``linear-1.1``): V7 shows the
    frames between as linear interpolation.
    """
    import json

    from napari_keyskel import formats
    from napari_keyskel._napari.sample import _FIGURE, SAMPLE_SHAPE
    from napari_keyskel.core.annotation_set import AnnotationSet
    from napari_keyskel.samples.synthetic import moving_figure

    _, store = moving_figure(n_frames=n_frames, shape=SAMPLE_SHAPE, render=False, key_step=step, **_FIGURE)
    formats.write(AnnotationSet(stores=[store]), path, "darwin")
    doc = json.loads(path.read_text())
    doc.pop("keyskel", None)  # only what V7 itself writes: no keyskel extras
    for ann in doc["annotations"]:
        ann.pop("keyskel", None)
        ann["frames"] = {f: v for f, v in ann["frames"].items() if v.get("keyframe")}
        ann["interpolated"] = True
        ann["interpolate_algorithm"] = "linear-1.1"
    path.write_text(json.dumps(doc, indent=1))
    return path


def v7_interpolated(path: Path, data_dir: Path):
    """A V7 file holding keyframes only (``interpolated: true``) opened in napari: frame 15 filled.

    Needs the reader that honours V7's interpolation; with the old one the in-between frames are
    empty and no picture is written (returns None).
    """
    import napari

    from napari_keyskel._napari.sample import _FIGURE, SAMPLE_SHAPE
    from napari_keyskel._qt.dock import KeyskelDock
    from napari_keyskel.samples.synthetic import moving_figure

    source = v7_interpolated_file(data_dir / "v7_keyframes_only.json")
    video, _ = moving_figure(n_frames=41, shape=SAMPLE_SHAPE, **_FIGURE)
    viewer = napari.Viewer(title="napari-keyskel", show=True)
    viewer.add_image(video, name="moving figure", axis_labels=("t", "y", "x"))
    dock = KeyskelDock(viewer)
    viewer.window.add_dock_widget(dock, name="Keyskel", area="right")
    viewer.window.resize(1500, 950)
    (points,) = [ly for ly in viewer.open(source, plugin="napari-keyskel") if "keyskel" in ly.metadata]
    viewer.layers.selection.active = points
    dock.show_names.setChecked(True)
    viewer.dims.set_current_step(0, 15)  # between the keys at 10 and 20
    dock.timeline.canvas.toggle_expanded(1)
    _settle()
    if not len(points.data):
        print(f"{source}: frame 15 is empty: this reader does not honour V7 interpolation; no picture")
        viewer.close()
        return None
    img = viewer.screenshot(str(path), canvas_only=False)
    viewer.close()
    return path, img.shape, float((img[..., :3].max(axis=-1) > 40).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--frame", type=int, default=45)
    parser.add_argument(
        "--only",
        choices=["docks", "loop", "skeleton_from_nothing", "v7_interpolated"],
        action="append",
        help="make only these pictures (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    only = set(args.only or ["docks", "loop", "skeleton_from_nothing", "v7_interpolated"])
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    if "skeleton_from_nothing" in only:
        written.append(skeleton_from_nothing(args.out / "skeleton_from_nothing.png"))
    if "v7_interpolated" in only:
        import tempfile

        shot = v7_interpolated(args.out / "v7_interpolated.png", Path(tempfile.mkdtemp(prefix="keyskel_")))
        if shot is not None:
            written.append(shot)
    if "docks" in only:
        written += _docks(args)
    if "loop" in only:
        written.append(loop_gif(args.out / "loop.gif"))
    for path, shape, lit in written:
        shown = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
        print(f"{shown}: {shape[1]}x{shape[0]}, {lit:.0%} of pixels lit")
    return 0 if all(lit > 0.05 for _, _, lit in written) else 1


def _docks(args: argparse.Namespace) -> list:
    """The Annotate, Skeleton and timeline pictures over the annotated sample video."""
    import napari

    from napari_keyskel import api
    from napari_keyskel._qt.dock import KeyskelDock

    video, store = _annotations()
    viewer = napari.Viewer(title="napari-keyskel", show=True)
    image = viewer.add_image(video, name="moving figure", axis_labels=("t", "y", "x"))
    points = api.add_skeleton_layer(viewer, store, name="mouse keypoints", image_layer=image)
    dock = KeyskelDock(viewer)
    viewer.window.add_dock_widget(dock, name="Keyskel", area="right")
    viewer.window.resize(1500, 950)
    viewer.layers.selection.active = points
    dock.show_names.setChecked(True)
    viewer.dims.set_current_step(0, args.frame)
    points.selected_data = set()
    api.get_owner(points).current_instance = 1
    dock._update_status()  # the next-node indicator of instance 1
    _settle()
    written = []
    tl = dock.timeline
    tl.canvas.toggle_expanded(1)
    tl.canvas.selected = (1, None)
    for tab, name in ((0, "dock_annotate"), (1, "dock_skeleton"), (0, "dock_timeline")):
        dock.tabs.setCurrentIndex(tab)
        if tab == 1:
            dock.editor.select_nodes(["left_ear", "right_ear"])
        if name == "dock_timeline":
            tl.set_marks("review", [47, 73], track_ids=[1, 2])
        _settle()
        path = args.out / f"{name}.png"
        img = viewer.screenshot(str(path), canvas_only=False)
        lit = float((img[..., :3].max(axis=-1) > 40).mean())
        written.append((path, img.shape, lit))
    viewer.close()
    return written


if __name__ == "__main__":
    sys.exit(main())
