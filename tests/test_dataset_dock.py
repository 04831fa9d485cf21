"""The Dataset dock driven as a person does: qtbot clicks, keys on the canvas, napari's keymaps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import imageio.v3 as iio
import numpy as np
import pytest
from _media_samples import make_video
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from napari_keyskel._qt.dataset_dock import DatasetDock
from napari_keyskel._qt.dataset_table import COLUMNS
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.dataset import open_dataset
from napari_keyskel.formats import write

pytestmark = pytest.mark.viewer

MOUSE = Skeleton(["nose", "tail"], [(0, 1)], name="mouse")
INSTRUCTIONS = "# Mice\n\nPlace **nose** at the tip of the snout.\n"
ALT = Qt.KeyboardModifier.AltModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def media_folder(root: Path) -> Path:
    """Three small videos, a folder of three images of different sizes, a skeleton, instructions."""
    root.mkdir(parents=True)
    for i, n in enumerate((30, 40, 50)):
        make_video(root / f"clip{i}.mp4", n, size=(96, 64), gop=10)
    (root / "stills").mkdir()
    for i, (h, w) in enumerate(((40, 60), (64, 80), (50, 50))):
        iio.imwrite(root / "stills" / f"img{i}.png", np.full((h, w, 3), 60 * i + 30, np.uint8))
    MOUSE.save(root / "mouse.skeleton.json")
    (root / "instructions.md").write_text(INSTRUCTIONS)
    return root


@pytest.fixture
def env(make_napari_viewer):
    from napari_keyskel._qt.timeline_dock import open_timeline

    viewer = make_napari_viewer(show=True)
    dock = DatasetDock(viewer)
    viewer.window.add_dock_widget(dock, name="Keyskel dataset", area="right")
    timeline = open_timeline(viewer)
    canvas = viewer.window._qt_viewer.canvas.native
    return SimpleNamespace(viewer=viewer, dock=dock, canvas=canvas, timeline=timeline)


def layer_names(env) -> list[str]:
    return [layer.name for layer in env.viewer.layers]


def stamp(env, frame: int, y: float, x: float) -> None:
    """Go to ``frame`` and press T with the cursor at (y, x): the skeleton template stamped there."""
    pts = env.dock.session.points_layers[0]
    env.viewer.layers.selection.active = pts
    env.viewer.dims.set_current_step(0, frame)
    env.viewer.cursor.position = (frame, y, x)
    QTest.keyClick(env.canvas, Qt.Key.Key_T)


def key(env, k, mods=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(env.canvas, k, mods)


def posed_frames(store: AnnotationStore) -> list[int]:
    return sorted({t.start + int(r) for t in store for r in np.flatnonzero(t.is_key.any(axis=1))})


def status_cells(env) -> list[str]:
    dock = env.dock
    rows = sorted(range(dock.row_count()), key=dock.index_of_row)
    return [dock.cell_text(r, len(COLUMNS) - 1) for r in rows]


def test_media_folder_open_annotate_page_down_statuses_and_reopen(env, tmp_path, qtbot):
    root = media_folder(tmp_path / "mice")
    dock, viewer = env.dock, env.viewer
    dock.open_dataset(root)
    ds = dock.dataset
    assert [it.name for it in ds] == ["clip0.mp4", "clip1.mp4", "clip2.mp4", "stills"]  # no skeleton item
    assert layer_names(env) == ["clip0.mp4", "mouse", "mouse edges"]  # media below, annotations above
    assert type(viewer.layers["clip0.mp4"].data).__name__ == "VideoSource"  # lazy, never decoded whole
    assert "tip of the snout" in dock.instructions.toPlainText() and dock.instructions.isVisible()
    qtbot.waitUntil(lambda: not dock._timer.isActive(), timeout=20000)  # every row counted
    assert status_cells(env) == ["new"] * 4

    stamp(env, 3, 30, 40)  # annotate item 1
    assert posed_frames(dock.session.stores()[0]) == [3]
    key(env, Qt.Key.Key_PageDown)  # item 1 saved, item 2 shown
    assert (root / "annotations" / "clip0.json").is_file()
    assert layer_names(env) == ["clip1.mp4", "mouse", "mouse edges"]  # the skeleton kept
    assert dock.session.current == 1 and dock.session.stores()[0].skeleton.nodes == MOUSE.nodes
    assert status_cells(env)[0] == "annotate"  # its first keypoints moved item 1 on

    qtbot.mouseClick(dock.status_buttons["review"], Qt.MouseButton.LeftButton)  # item 2: review
    assert status_cells(env)[1] == "review"
    key(env, Qt.Key.Key_PageDown)
    key(env, Qt.Key.Key_4, ALT)  # item 3: complete, by key
    assert status_cells(env)[2] == "complete"
    assert dock.progress.value() == 1 and dock.progress.maximum() == 4
    dock.open_row(dock._row_of(3))  # the image folder: one frame per image, each at the top left
    assert layer_names(env)[0] == "stills" and viewer.layers["stills"].data.shape[0] == 3
    stamp(env, 1, 20, 25)
    key(env, Qt.Key.Key_PageUp)  # back to item 3 (stills saved)
    assert dock.session.current == 2
    dock.session.close()

    again = open_dataset(root)
    assert [again.status(i).status for i in range(4)] == ["annotate", "review", "complete", "annotate"]
    assert posed_frames(again.annotations(0).stores[0]) == [3]
    assert posed_frames(again.annotations(3).stores[0]) == [1]
    frames = again.annotations(3).frames
    assert [fr.get("file_name") for fr in frames] == ["img0.png", "img1.png", "img2.png"]
    dock.open_dataset(root)  # the dock reopens and shows the items as left
    qtbot.waitUntil(lambda: not dock._timer.isActive(), timeout=20000)
    assert status_cells(env) == ["annotate", "review", "complete", "annotate"]
    store = dock.session.stores()[0]
    assert posed_frames(store) == [3]
    pts = dock.session.points_layers[0]
    viewer.dims.set_current_step(0, 3)
    assert len(pts.data) == 2 and np.allclose(pts.data[:, 0], 3)


def test_filter_sort_suggest_and_label_next_keys(env, tmp_path, qtbot):
    root = media_folder(tmp_path / "mice")
    dock, viewer = env.dock, env.viewer
    dock.open_dataset(root)
    qtbot.waitUntil(lambda: not dock._timer.isActive(), timeout=20000)
    dock.name_filter.setText("still")
    assert [dock.cell_text(r, 1) for r in range(dock.row_count())] == ["stills"]
    dock.name_filter.setText("")
    dock.status_filter.setCurrentText("review")
    assert dock.row_count() == 0
    dock.status_filter.setCurrentText("new")
    assert dock.row_count() == 4
    dock.status_filter.setCurrentText("all statuses")
    dock.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # frames: 50, 40, 30, 3
    assert [dock.cell_text(r, 3) for r in range(4)] == ["50", "40", "30", "3"]
    key(env, Qt.Key.Key_PageDown)  # in the table's order: after clip0 (30 frames) comes stills (3)
    assert dock.session.item.name == "stills"
    dock.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    dock.open_item(0)

    qtbot.mouseClick(dock.suggest_button, Qt.MouseButton.LeftButton)
    assert dock.suggestions.count() == 20
    marks = env.timeline.canvas.marks["suggested"][0]
    assert len(marks) == 20 and len(set(marks.tolist())) == 20
    for layer in dock.session.points_layers:  # the Models tab runs on the same frames
        assert layer.metadata["keyskel_suggestions"] == marks.tolist()
    dock.suggestions.itemClicked.emit(dock.suggestions.item(4))
    assert viewer.dims.current_step[0] == int(marks[4])

    stamp(env, 0, 30, 40)
    stamp(env, 1, 30, 40)
    viewer.dims.set_current_step(0, 0)
    key(env, Qt.Key.Key_D, SHIFT)  # the next frame without a key
    assert viewer.dims.current_step[0] == 2
    key(env, Qt.Key.Key_A, SHIFT)
    assert viewer.dims.current_step[0] == 2  # nothing earlier is left to label
    viewer.dims.set_current_step(0, 10)
    key(env, Qt.Key.Key_A, SHIFT)
    assert viewer.dims.current_step[0] == 9


def jumpy_store(n: int = 40) -> AnnotationStore:
    from napari_keyskel.samples.synthetic import moving_figure

    _, store = moving_figure(n_frames=n, shape=(64, 96), render=False, key_step=1)
    next(iter(store)).coords[20] += 25.0  # a jump the review detectors flag
    return store


def test_v7_export_folder_complete_asks_first_and_darwinpy_reads_the_files(env, tmp_path, qtbot):
    import _darwinpy_env as darwinpy

    folder = tmp_path / "export"
    folder.mkdir()
    for name, n in (("walk.mp4", 40), ("run.mp4", 30)):
        make_video(folder / name, n, size=(96, 64), gop=10)
    store = jumpy_store(40)
    frames = [{"item": "walk.mp4", "frame": f, "width": 96, "height": 64} for f in range(40)]
    write(AnnotationSet([store], frames), folder / "walk.json", "darwin")
    empty = AnnotationStore(store.skeleton, n_frames=30, name=store.name)
    frames = [{"item": "run.mp4", "frame": f, "width": 96, "height": 64} for f in range(30)]
    write(AnnotationSet([empty], frames), folder / "run.json", "darwin")
    dock = env.dock
    dock.open_dataset(folder)
    ds = dock.dataset
    assert ds.format == "darwin" and [ds.header(i).name for i in range(len(ds))] == ["run.mp4", "walk.mp4"]
    assert layer_names(env)[0] == "run.mp4"
    stamp(env, 5, 30, 40)
    key(env, Qt.Key.Key_PageDown)  # run saved, walk shown
    assert layer_names(env)[0] == "walk.mp4"
    qtbot.mouseClick(dock.status_buttons["complete"], Qt.MouseButton.LeftButton)
    assert dock.confirm.isVisible() and "unreviewed review flag" in dock.confirm_label.text()
    assert dock.dataset.status(1).status == "annotate"  # not yet
    qtbot.mouseClick(dock.confirm_yes, Qt.MouseButton.LeftButton)
    assert dock.dataset.status(1).status == "complete" and not dock.confirm.isVisible()
    dock.session.close()

    again = open_dataset(folder)
    assert [again.status(i).status for i in range(2)] == ["annotate", "complete"]
    assert posed_frames(again.annotations(0).stores[0]) == [5]
    for name in ("run.json", "walk.json"):
        assert "status" in json.loads((folder / name).read_text())["keyskel"]
    parsed = darwinpy.parse_with_darwinpy([folder / "run.json", folder / "walk.json"])
    assert [p["filename"] for p in parsed] == ["run.mp4", "walk.mp4"]
    run_ann = parsed[0]["annotations"]
    assert len(run_ann) == 1 and run_ann[0]["video"]
    assert [f for f, k in run_ann[0]["keyframes"].items() if k] == ["5"]


def test_coco_file_with_many_images(env, tmp_path, qtbot):
    from pycocotools.coco import COCO

    folder = tmp_path / "coco"
    (folder / "images").mkdir(parents=True)
    for i in range(3):
        iio.imwrite(folder / "images" / f"im{i}.png", np.full((48 + 8 * i, 64, 3), 40 * i, np.uint8))
    store = AnnotationStore(MOUSE, n_frames=3, name="mouse")
    t = store.add_track(1, start=0, stop=1)
    store.set_points(0, 1, np.array([[10.0, 10.0], [20.0, 20.0]]), np.arange(2))
    frames = [
        {"item": f"im{i}.png", "frame": 0, "file_name": f"im{i}.png", "width": 64, "height": 48 + 8 * i}
        for i in range(3)
    ]
    path = folder / "poses.json"
    write(AnnotationSet([store], frames), path, "coco")
    assert t.track_id == 1
    dock = env.dock
    dock.open_dataset(path)
    assert dock.dataset.format == "coco" and len(dock.dataset) == 3
    assert layer_names(env) == ["im0.png", "mouse", "mouse edges"]  # the image found in images/
    key(env, Qt.Key.Key_PageDown)
    stamp(env, 0, 15, 30)  # annotate the second image
    key(env, Qt.Key.Key_PageDown)
    key(env, Qt.Key.Key_3, ALT)  # third image: review
    dock.session.close()
    again = open_dataset(path)
    assert [again.status(i).status for i in range(3)] == ["annotate", "annotate", "review"]
    assert again.counts(1).keys == 2
    coco = COCO(str(path))
    assert [len(coco.getAnnIds(imgIds=[i])) for i in sorted(coco.getImgIds())] == [1, 1, 0]
    assert json.loads(path.read_text())["keyskel"]["status"]["im2.png"]["status"] == "review"


def test_instructions_edited_in_the_dock_and_node_descriptions(env, tmp_path, qtbot):
    from napari_keyskel.dataset import Instructions

    root = media_folder(tmp_path / "mice")
    ins = Instructions.load(root)
    ins.set_description("mouse", "nose", "tip of the snout")
    ins.save([MOUSE])
    sk = json.loads((root / "mouse.skeleton.json").read_text())
    assert sk["nodes"][0]["description"] == "tip of the snout"
    assert Skeleton.load(root / "mouse.skeleton.json") == MOUSE  # still a skeleton file for every reader
    dock = env.dock
    dock.open_dataset(root)
    qtbot.waitUntil(lambda: "tip of the snout" in dock.node_label.text(), timeout=5000)
    assert "nose" in dock.node_label.text()
    qtbot.mouseClick(dock.edit_button, Qt.MouseButton.LeftButton)
    dock.instructions_edit.setPlainText("# Rats\n\nDo not guess hidden paws.\n")
    qtbot.mouseClick(dock.edit_button, Qt.MouseButton.LeftButton)  # Save
    assert (root / "instructions.md").read_text().startswith("# Rats")
    assert "hidden paws" in dock.instructions.toPlainText()
    assert "tip of the snout" in dock.instructions.toPlainText()  # the Nodes section


def test_dock_screenshot(env, tmp_path, qtbot):
    root = media_folder(tmp_path / "mice")
    env.dock.open_dataset(root)
    qtbot.waitUntil(lambda: not env.dock._timer.isActive(), timeout=20000)
    env.viewer.window._qt_window.resize(1500, 950)
    img = env.viewer.screenshot(canvas_only=False, flash=False)
    assert img.shape[0] > 500 and img[..., :3].std() > 10
    iio.imwrite(tmp_path / "dataset_dock.png", img)  # looked at by a person while developing
    shutil.rmtree(root)


def test_coco_video_item_listing_some_frames_lands_on_the_video_frames(env, tmp_path):
    folder = tmp_path / "coco"
    folder.mkdir()
    make_video(folder / "clip.mp4", 30, size=(96, 64), gop=10)
    store = AnnotationStore(MOUSE, n_frames=3, name="mouse")
    store.add_track(1, start=0, stop=3)
    for row in range(3):
        store.set_points(row, 1, np.array([[10.0 + row, 10.0], [20.0, 20.0]]), np.arange(2))
    frames = [
        {"item": "clip", "frame": f, "file_name": f"clip/frame_{f:06d}.png", "width": 96, "height": 64}
        for f in (0, 10, 20)
    ]
    path = folder / "poses.json"
    write(AnnotationSet([store], frames), path, "coco")
    doc = json.loads(path.read_text())
    doc.pop("keyskel")  # as a COCO file from elsewhere: its image ids are real (ours says made up)
    for im in doc["images"]:
        im["id"] += 100
    for a in doc["annotations"]:
        a["image_id"] += 100
    path.write_text(json.dumps(doc))
    before = {im["file_name"]: im["id"] for im in doc["images"]}
    dock = env.dock
    dock.open_dataset(path)
    assert dock.session.item.kind == "video" and dock.session.item.media == folder / "clip.mp4"
    assert layer_names(env)[0] == "clip" and env.viewer.layers["clip"].data.shape[0] == 30
    assert posed_frames(dock.session.stores()[0]) == [0, 10, 20]  # rows 0, 1, 2 on the video's frames
    stamp(env, 5, 40, 50)
    dock.session.close()
    doc = json.loads(path.read_text())
    names = {im["file_name"]: im["id"] for im in doc["images"]}
    assert set(names) == {*before, "clip/frame_000005.png"}
    assert all(names[k] == v for k, v in before.items())  # the images kept their ids
    again = open_dataset(path)
    ann = again.annotations(0)
    assert [fr["frame"] for fr in ann.frames] == [0, 5, 10, 20]
    assert len(ann.stores[0]) == 2
