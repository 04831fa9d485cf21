"""Suggestions over a whole dataset: made in the core (lazily, item by item, cancellable), kept per
item beside the items, run from the Dataset dock in a worker, shown per item and stepped through
across items."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from _media_samples import make_video
from qtpy.QtCore import Qt

from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.dataset import open_dataset
from napari_keyskel.dataset.suggestions import SUGGESTIONS_FILE, Cancelled, Suggestions, suggest_dataset
from napari_keyskel.errors import FormatError

MOUSE = Skeleton(["nose", "tail"], [(0, 1)], name="mouse")


def three_videos(root: Path) -> Path:
    root.mkdir(parents=True)
    for i, n in enumerate((30, 40, 50)):
        make_video(root / f"clip{i}.mp4", n, size=(96, 64), gop=10)
    MOUSE.save(root / "mouse.skeleton.json")
    return root


def test_suggestions_file_round_trip_and_a_clear_error(tmp_path):
    s = Suggestions(tmp_path, {"a.mp4": [5, 1, 5], "b.mp4": []})
    assert s.get("a.mp4").tolist() == [1, 5] and s.get("b.mp4").size == 0 and len(s) == 2
    path = s.save()
    assert path == tmp_path / SUGGESTIONS_FILE
    assert Suggestions.load(tmp_path).get("a.mp4").tolist() == [1, 5]
    path.write_text('{"item": "a.mp4", "frames": [1]}\n{"item": 3}\n')
    with pytest.raises(FormatError, match="line 2") as err:
        Suggestions.load(tmp_path)
    assert SUGGESTIONS_FILE in str(err.value)
    s.replace_all({})
    assert s.save() is None and not path.exists()  # nothing suggested: no file


def test_suggest_dataset_picks_n_frames_over_the_items_lazily_and_can_stop(tmp_path):
    ds = open_dataset(three_videos(tmp_path / "mice"))
    seen = []
    got = suggest_dataset(
        ds, 9, exclude={"clip0.mp4": range(30)}, progress=lambda d, t, w: seen.append((d, t))
    )
    assert sum(len(v) for v in got.values()) == 9
    assert "clip0.mp4" not in got  # every frame of it excluded
    lengths = {"clip1.mp4": 40, "clip2.mp4": 50}
    for key, frames in got.items():
        assert frames.min() >= 0 and frames.max() < lengths[key] and len(set(frames.tolist())) == len(frames)
    assert seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == sorted(d for d, _ in seen)
    calls = []
    with pytest.raises(Cancelled):
        suggest_dataset(ds, 5, progress=lambda *a: calls.append(a), cancelled=lambda: len(calls) >= 2)
    assert len(calls) == 2  # stopped before the third item was read


@pytest.fixture
def env(make_napari_viewer):
    from napari_keyskel._qt.dataset_dock import DatasetDock
    from napari_keyskel._qt.timeline_dock import open_timeline

    viewer = make_napari_viewer(show=True)
    dock = DatasetDock(viewer)
    viewer.window.add_dock_widget(dock, name="Keyskel dataset", area="right")
    return SimpleNamespace(viewer=viewer, dock=dock, timeline=open_timeline(viewer))


def sugg_cells(dock) -> list[str]:
    from napari_keyskel._qt.dataset_table import COLUMNS

    col = [k for _, k in COLUMNS].index("suggested")
    rows = sorted(range(dock.row_count()), key=dock.index_of_row)
    return [dock.cell_text(r, col) for r in rows]


@pytest.mark.viewer
def test_a_broken_video_is_named_and_the_other_items_are_suggested_from(tmp_path):
    root = three_videos(tmp_path / "mice")
    (root / "zbroken.mp4").write_bytes(b"not a video")
    failed: list[tuple[str, str]] = []
    got = suggest_dataset(open_dataset(root), 6, failed=failed)
    assert sum(len(v) for v in got.values()) == 6 and "zbroken.mp4" not in got
    assert [name for name, _ in failed] == ["zbroken.mp4"] and "not a readable video" in failed[0][1]


def test_dock_suggests_over_the_dataset_in_a_worker_and_steps_across_items(env, tmp_path, qtbot):
    root = three_videos(tmp_path / "mice")
    dock, viewer = env.dock, env.viewer
    dock.open_dataset(root)
    qtbot.waitUntil(lambda: not dock._timer.isActive(), timeout=20000)
    dock.suggest_n.setValue(12)
    dock.suggest_scope.setCurrentText("the whole dataset")
    qtbot.mouseClick(dock.suggest_button, Qt.MouseButton.LeftButton)
    assert dock.suggesting and dock.suggest_running.isVisible() and not dock.suggest_button.isEnabled()
    qtbot.waitUntil(lambda: not dock.suggesting, timeout=60000)
    assert not dock.suggest_running.isVisible()
    ds = dock.dataset
    by_item = {it.key: ds.suggestions.get(it.key) for it in ds}
    assert sum(len(f) for f in by_item.values()) == 12
    assert sugg_cells(dock) == [str(len(f)) if len(f) else "" for f in by_item.values()]
    first = by_item["clip0.mp4"].tolist()
    assert dock.suggestions.count() == len(first)
    for layer in dock.session.points_layers:  # the Models tab's "suggested frames" of this item
        assert layer.metadata.get("keyskel_suggestions", []) == first
    assert env.timeline.canvas.marks["suggested"][0].tolist() == first

    from qtpy.QtTest import QTest

    viewer.layers.selection.active = dock.session.points_layers[0]
    viewer.dims.set_current_step(0, 1)
    viewer.cursor.position = (1, 30, 40)
    QTest.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_T)  # a key in item 1, unsaved
    assert dock.session.changed() and not (root / "annotations" / "clip0.json").exists()
    visited = []
    viewer.dims.set_current_step(0, 0)
    if 0 in first:  # (frame 0 itself is not "next")
        visited.append((0, 0))
    while (got := dock.step_suggestion(+1)) is not None:
        visited.append(got)
        assert viewer.dims.current_step[0] == got[1] and dock.session.current == got[0]
    want = [(i, f) for i, it in enumerate(ds) for f in by_item[it.key].tolist()]
    assert visited == want  # every suggestion once, item after item
    assert (root / "annotations" / "clip0.json").is_file()  # the item left was saved
    assert dock.session.current == max(i for i, _ in want)
    opened = dock.session.current
    assert (
        dock.session.points_layers[0].metadata["keyskel_suggestions"]
        == by_item[ds.items[opened].key].tolist()
    )
    assert dock.suggestions.count() == len(by_item[ds.items[opened].key])
    back = dock.step_suggestion(-1)
    assert back == want[-2]

    again = open_dataset(root)  # kept beside the items
    assert {k: again.suggestions.get(k).tolist() for k in by_item} == {
        k: v.tolist() for k, v in by_item.items()
    }
    dock.suggest_scope.setCurrentText("this item")  # one item's suggestions replace only its own
    dock.suggest_n.setValue(3)
    dock.open_item(2)
    frames = dock.suggest()
    assert len(frames) == 3 and ds.suggestions.get("clip2.mp4").tolist() == frames.tolist()
    assert ds.suggestions.get("clip0.mp4").tolist() == first
    assert sugg_cells(dock)[2] == "3"
