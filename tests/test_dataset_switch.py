"""Switching items reuses the layers (much faster than napari removing and adding them): nothing
of the item left may show, undo or save in the item opened."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _media_samples import make_video
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from napari_keyskel._qt.dataset_dock import DatasetDock
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.dataset import open_dataset

pytestmark = pytest.mark.viewer

MOUSE = Skeleton(["nose", "tail"], [(0, 1)], name="mouse")
CTRL = Qt.KeyboardModifier.ControlModifier


def two_videos(root: Path) -> Path:
    root.mkdir(parents=True)
    for i, n in enumerate((30, 40)):
        make_video(root / f"clip{i}.mp4", n, size=(96, 64), gop=10)
    MOUSE.save(root / "mouse.skeleton.json")
    return root


@pytest.fixture
def env(make_napari_viewer):
    from napari_keyskel._qt.dock import KeyskelDock

    viewer = make_napari_viewer(show=True)
    main = KeyskelDock(viewer)  # the annotation dock (and the bottom timeline it opens)
    viewer.window.add_dock_widget(main, name="Keyskel", area="right")
    dock = DatasetDock(viewer)
    viewer.window.add_dock_widget(dock, name="Keyskel dataset", area="right")
    canvas = viewer.window._qt_viewer.canvas.native
    return SimpleNamespace(viewer=viewer, dock=dock, main=main, timeline=main.timeline, canvas=canvas)


def stamp(env, frame: int, y: float, x: float) -> None:
    pts = env.dock.session.points_layers[0]
    env.viewer.layers.selection.active = pts
    env.viewer.dims.set_current_step(0, frame)
    env.viewer.cursor.position = (frame, y, x)
    QTest.keyClick(env.canvas, Qt.Key.Key_T)


def posed(store: AnnotationStore) -> list[int]:
    return sorted({t.start + int(r) for t in store for r in np.flatnonzero(t.is_key.any(axis=1))})


def test_switching_reuses_the_layers_and_nothing_of_the_item_left_leaks(env, tmp_path):
    from napari_keyskel._napari.registry import owner_of

    root = two_videos(tmp_path / "mice")
    dock, viewer = env.dock, env.viewer
    dock.open_dataset(root)
    session = dock.session
    points, image = session.points_layers[0], session.media_layer
    first_owner = owner_of(points)
    stamp(env, 3, 30, 40)
    assert posed(session.stores()[0]) == [3] and first_owner.history.can_undo

    QTest.keyClick(env.canvas, Qt.Key.Key_PageDown)  # item 1 saved, item 2 shown in the same layers
    assert session.current == 1 and session.reused
    assert session.points_layers == [points] and session.media_layer is image
    assert [ly.name for ly in viewer.layers] == ["clip1.mp4", "mouse", "mouse edges"]
    assert viewer.dims.nsteps[0] == 40 and len(image.data) == 40  # the new video's frames
    owner = owner_of(points)
    assert owner is not first_owner
    store = owner.store
    assert posed(store) == [] and len(points.data) == 0 and not owner.history.can_undo
    assert not owner.save.dirty
    # every dock follows the new owner: the timeline and the annotation dock show item 2
    assert env.timeline.store is store and env.timeline.follows_edits
    assert env.main.current_store() is store

    viewer.layers.selection.active = points
    QTest.keyClick(env.canvas, Qt.Key.Key_Z, CTRL)  # undo: nothing of item 1 to undo here
    assert posed(store) == [] and session.current == 1
    stamp(env, 5, 20, 30)
    assert posed(env.timeline.store) == [5]  # the timeline shows the new item's keys
    assert env.main.undo_button.isEnabled()  # the annotation dock follows the new owner's edits
    QTest.keyClick(env.canvas, Qt.Key.Key_Z, CTRL)
    assert posed(store) == [] and not env.main.undo_button.isEnabled()  # undo stops at the item's start
    assert posed(open_dataset(root).annotations(0).stores[0]) == [3]  # item 1 untouched
    stamp(env, 7, 20, 30)
    session.save()  # saving writes the item open, not the one left
    again = open_dataset(root)
    assert posed(again.annotations(0).stores[0]) == [3]
    assert posed(again.annotations(1).stores[0]) == [7]

    QTest.keyClick(env.canvas, Qt.Key.Key_PageUp)
    assert session.current == 0 and session.points_layers == [points]
    assert posed(owner_of(points).store) == [3] and not owner_of(points).history.can_undo
    assert env.timeline.store is owner_of(points).store


def test_items_of_other_shapes_get_new_layers(env, tmp_path):
    """Another number of annotation layers: the layers are removed and new ones added."""
    from napari_keyskel._napari.adding import add_store_layer

    root = two_videos(tmp_path / "mice")
    dock, viewer = env.dock, env.viewer
    dock.open_dataset(root)
    session = dock.session
    rat = Skeleton(["head", "back", "tail"], [(0, 1), (1, 2)], name="rat")
    extra = add_store_layer(
        viewer, AnnotationStore(rat, n_frames=30, name="rat"), image_layer=session.media_layer
    )
    assert extra in session.points_layers  # made while the item is open: it belongs to it
    session.open(1)  # two classes left, one class in the next item (the kept skeletons: two)
    assert session.reused  # the two kept skeletons give item 2 two layers too
    names = [ly.name for ly in viewer.layers]
    assert names[0] == "clip1.mp4" and "mouse" in names and "rat" in names
    for layer in session.points_layers:
        viewer.layers.remove(layer)  # the person removes them: item 2 has no layer now
    session.open(0)
    assert not session.reused
    assert sorted(ly.name for ly in session.points_layers) == ["mouse", "rat"]
    assert env.timeline.store is session.stores()[0] or env.timeline.store in session.stores()


def test_an_item_of_another_skeleton_shows_in_the_kept_layer(env, tmp_path):
    """A V7 export whose two items are of different classes: the kept layer takes the new one."""
    from napari_keyskel.core.annotation_set import AnnotationSet
    from napari_keyskel.formats import write

    folder = tmp_path / "export"
    folder.mkdir()
    rat = Skeleton(["head", "back", "tail"], [(0, 1), (1, 2)], name="rat")
    for name, sk in (("a.mp4", MOUSE), ("b.mp4", rat)):
        make_video(folder / name, 20, size=(96, 64), gop=10)
        frames = [{"item": name, "frame": f, "width": 96, "height": 64} for f in range(20)]
        write(
            AnnotationSet([AnnotationStore(sk, n_frames=20, name=sk.name)], frames),
            folder / f"{name}.json",
            "darwin",
        )
    dock, viewer = env.dock, env.viewer
    dock.open_dataset(folder)
    session = dock.session
    kept = list(session.points_layers)  # each item: its class first, then the dataset's other class
    assert [ly.name for ly in kept] == ["mouse", "rat"]
    points = kept[0]
    stamp(env, 2, 30, 40)
    assert set(points.features["node"]) == {"nose", "tail"}
    session.open(1)
    assert session.reused and session.points_layers == kept
    assert [ly.name for ly in kept] == ["rat", "mouse"]  # the mouse layer shows the rats now
    assert len(points.data) == 0
    stamp(env, 4, 30, 40)  # the new class's template: three nodes, two edges
    assert sorted(points.features["node"]) == ["back", "head", "tail"]
    edges = viewer.layers["rat edges"]
    assert len(edges.data) == 2 + 2  # (two range anchors, then the edges)
    assert env.main.editor.skeleton.nodes == rat.nodes  # the skeleton tab shows the new class
    session.save()
    again = open_dataset(folder)
    rats = next(s for s in again.annotations(1).stores if s.name == "rat")
    mice = next(s for s in again.annotations(0).stores if s.name == "mouse")
    assert posed(rats) == [4] and posed(mice) == [2]
