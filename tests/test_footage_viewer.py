"""Footage in napari: videos and image folders through napari's reader hooks, and annotation files
(COCO, V7, SLEAP) that bring their media under the points, driven through ``viewer.open``."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _media_samples import make_images, make_video

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.formats import write
from napari_keyskel.media import ImageSource, VideoSource

pytestmark = pytest.mark.viewer


def _store(n_frames, keys):
    """Two nodes of one instance, keyed on ``keys`` at (f + 5, 10) and (f + 5, 20)."""
    sk = Skeleton(["head", "tail"], [(0, 1)], name="fly")
    store = AnnotationStore(sk, 2, 0, n_frames, name="fly")
    tid = store.add_track(name="one").track_id
    for f in keys:
        store.set_points(f, tid, np.array([[f + 5.0, 10.0], [f + 5.0, 20.0]]))
    return store


def _layers(viewer):
    return [(type(ly).__name__, ly.name) for ly in viewer.layers]


def _notes():
    from napari.utils.notifications import notification_manager

    return [str(n.message) for n in notification_manager.records]


@pytest.fixture
def clip(tmp_path):
    return make_video(tmp_path / "clip.mp4", 40, gop=12)


def test_a_video_opens_lazily_through_the_reader_hook(make_napari_viewer, clip):
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(clip), plugin="napari-keyskel")
    assert isinstance(layer.data, VideoSource) and layer.data.shape == (40, 64, 96, 3)
    assert layer.rgb and layer.metadata["keyskel_media"]["n_frames"] == 40
    assert layer.data.stats["decoded"] < 40  # only what was shown (and read ahead)
    viewer.dims.set_current_step(0, 21)
    np.testing.assert_array_equal(layer._slice.image.raw, layer.data[21])


def test_open_folder_of_mixed_sizes_and_a_folder_of_something_else(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    folder = tmp_path / "shots"
    make_images(folder, [(40, 60), (64, 96), (30, 20)])
    (layer,) = viewer.open(str(folder), plugin="napari-keyskel")
    assert isinstance(layer.data, ImageSource) and layer.data.shape == (3, 64, 96, 3)
    from napari_keyskel._napari.media_readers import get_images_reader

    other = tmp_path / "notes"
    other.mkdir()
    (other / "a.txt").write_text("x")
    assert get_images_reader(str(other)) is None  # declined cleanly: napari tries other readers


def test_a_broken_video_is_a_notification_naming_it_and_no_layer(make_napari_viewer, tmp_path, clip):
    viewer = make_napari_viewer()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[:3000])
    assert viewer.open(str(cut), plugin="napari-keyskel") == []
    assert any("cut.mp4" in m for m in _notes())
    assert len(viewer.layers) == 0


def test_coco_with_a_folder_of_images_of_three_sizes(make_napari_viewer, tmp_path):
    root = tmp_path / "coco"
    sizes = [(40, 60), (64, 96), (30, 20)]
    make_images(root / "images", sizes, ["a.png", "b.png", "c.png"])
    frames = [
        {"item": n, "frame": 0, "file_name": n, "width": w, "height": h}
        for n, (h, w) in zip(["a.png", "b.png", "c.png"], sizes)
    ]
    write(AnnotationSet([_store(3, [0, 1, 2])], frames), root / "annotations" / "keypoints.json", "coco")
    viewer = make_napari_viewer()
    viewer.open(str(root / "annotations" / "keypoints.json"), plugin="napari-keyskel")
    names = _layers(viewer)
    assert names[0] == ("Image", "images") and names[1] == ("Points", "fly"), names
    image, points = viewer.layers[0], viewer.layers[1]
    assert image.data.names == ["a.png", "b.png", "c.png"]
    assert image.data.sizes.tolist() == [list(s) for s in sizes]
    assert points.metadata["keyskel"]["media"]["layer"] == "images"


def test_v7_video_item_with_its_mp4(make_napari_viewer, tmp_path, clip):
    frames = [{"item": "clip.mp4", "frame": f, "width": 96, "height": 64} for f in range(40)]
    doc = tmp_path / "export" / "clip.json"
    write(AnnotationSet([_store(40, [0, 10, 20])], frames), doc, "darwin")
    shutil.copy(clip, doc.parent / "clip.mp4")
    viewer = make_napari_viewer()
    viewer.open(str(doc), plugin="napari-keyskel")
    image = viewer.layers[0]
    assert isinstance(image.data, VideoSource) and len(image.data) == 40
    assert _layers(viewer)[1] == ("Points", "fly")


def test_v7_in_darwin_py_local_dataset_layout(make_napari_viewer, tmp_path, clip):
    ds = tmp_path / "team" / "mydata"
    frames = [{"item": "clip.mp4", "frame": f, "width": 96, "height": 64} for f in range(40)]
    doc = ds / "releases" / "v1" / "annotations" / "clip.json"
    write(AnnotationSet([_store(40, [0, 10])], frames), doc, "darwin")
    (ds / "images").mkdir(parents=True)
    shutil.copy(clip, ds / "images" / "clip.mp4")
    viewer = make_napari_viewer()
    viewer.open(str(doc), plugin="napari-keyskel")
    assert isinstance(viewer.layers[0].data, VideoSource)


def test_sleap_file_with_its_video_moved_beside_it(make_napari_viewer, tmp_path, clip):
    frames = [{"item": str(clip), "frame": f, "width": 96, "height": 64} for f in range(40)]
    slp = tmp_path / "labels.slp"
    write(AnnotationSet([_store(40, [0, 5])], frames), slp, "sleap", video=str(clip))
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(slp, moved / "labels.slp")
    shutil.move(clip, moved / "clip.mp4")  # the stored path is gone: the same name beside the file
    viewer = make_napari_viewer()
    viewer.open(str(moved / "labels.slp"), plugin="napari-keyskel")
    image = viewer.layers[0]
    assert isinstance(image.data, VideoSource) and image.data.path == str(moved / "clip.mp4")
    assert type(viewer.layers[1]).__name__ == "Points"


def test_missing_media_names_what_was_looked_for_and_the_points_open_anyway(make_napari_viewer, tmp_path):
    frames = [{"item": "gone.png", "frame": 0, "file_name": "gone.png", "width": 50, "height": 40}]
    doc = tmp_path / "k.json"
    write(AnnotationSet([_store(1, [0])], frames), doc, "coco")
    viewer = make_napari_viewer()
    viewer.open(str(doc), plugin="napari-keyskel")
    assert [t for t, _ in _layers(viewer)] == ["Points", "Vectors"]
    from napari.utils.notifications import notification_manager

    note = notification_manager.records[-1]
    assert "gone.png" in str(note.message) and str(tmp_path / "gone.png") in str(note.message)
    assert note.actions and note.actions[0][0] == "Locate media…"
    # the person picks the folder where the image now is
    elsewhere = tmp_path / "found"
    make_images(elsewhere, [(40, 50)], ["gone.png"])
    from napari_keyskel._napari import media_link

    links = [viewer.layers[0].metadata["keyskel_link"]]
    image = media_link.locate_media_action(links, chosen=str(elsewhere))
    assert image is not None and _layers(viewer)[0][0] == "Image"
    assert viewer.layers.index(image) == viewer.layers.index(viewer.layers["fly"]) - 1


def test_media_sits_below_its_annotations_whichever_opens_first(make_napari_viewer, tmp_path, clip):
    frames = [{"item": "clip.mp4", "frame": f, "width": 96, "height": 64} for f in range(40)]
    doc = tmp_path / "ann" / "clip.json"
    write(AnnotationSet([_store(40, [0, 10])], frames), doc, "darwin")
    viewer = make_napari_viewer()
    viewer.open(str(doc), plugin="napari-keyskel")  # no media beside it: points alone
    assert [t for t, _ in _layers(viewer)] == ["Points", "Vectors"]
    from napari_keyskel._napari import media_link

    viewer.layers["fly"].metadata["keyskel"]["media"] = {"path": str(clip), "layer": "clip.mp4"}
    media_link.connect(viewer)
    viewer.open(str(clip), plugin="napari-keyskel")  # the video afterwards goes below
    kinds = [t for t, _ in _layers(viewer)]
    assert kinds.index("Image") == kinds.index("Points") - 1


def test_a_file_of_two_videos_opens_its_points_and_says_to_open_it_as_a_dataset(make_napari_viewer, tmp_path):
    from napari_keyskel.dataset import open_dataset

    for name in ("left.mp4", "right.mp4"):
        make_video(tmp_path / name, 6, gop=3)
    frames = [
        {"item": v, "frame": f, "width": 64, "height": 48} for v in ("left.mp4", "right.mp4") for f in (0, 3)
    ]
    doc = tmp_path / "two.json"
    write(AnnotationSet([_store(4, [0, 3])], frames), doc, "coco")
    viewer = make_napari_viewer()
    viewer.open(str(doc), plugin="napari-keyskel")
    assert [t for t, _ in _layers(viewer)] == ["Points", "Vectors"]  # the points, no media layer
    said = _notes()[-1]
    assert "two.json" in said and "2 videos" in said and "as a dataset" in said
    ds = open_dataset(doc)  # what the message offers: each video an item
    assert sorted(it.name for it in ds) == ["left.mp4", "right.mp4"]
