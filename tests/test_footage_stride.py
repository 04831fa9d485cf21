"""A layer over every 5th frame of a video saves the video's own frame numbers and reopens in place."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _media_samples import make_video

from napari_keyskel import api
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.formats import read
from napari_keyskel.media import VideoSource

pytestmark = pytest.mark.viewer


@pytest.fixture
def clip(tmp_path):
    return make_video(tmp_path / "clip.mp4", 60, gop=20)


def _keyed_on_stride_layer(viewer, clip):
    video = api.open_video(viewer, clip, stride=5)
    assert isinstance(video.data, VideoSource) and len(video.data) == 12
    points = api.add_skeleton_layer(viewer, Skeleton(["a", "b"], [(0, 1)], name="fly"), image_layer=video)
    assert points.metadata["keyskel"]["media"] == {"path": str(clip), "layer": video.name}
    assert viewer.layers.index(video) == viewer.layers.index(points) - 1
    for f in (0, 1, 2):  # slider frames; the video's frames 0, 5, 10
        api.set_node(points, frame=f, instance=1, node="a", coords=(10.0 + f, 20.0))
        api.set_node(points, frame=f, instance=1, node="b", coords=(30.0 + f, 40.0))
    assert points.metadata["keyskel"]["media"]["path"] == str(clip)  # kept through the edits
    return video, points


@pytest.mark.parametrize("fmt", ["darwin", "coco"])
def test_saved_with_the_videos_frame_numbers_and_reopened_in_place(make_napari_viewer, tmp_path, clip, fmt):
    viewer = make_napari_viewer()
    _, points = _keyed_on_stride_layer(viewer, clip)
    out = tmp_path / f"fly_{fmt}.json"
    api.save_layer(points, out, format=fmt)
    doc = json.loads(out.read_text())
    if fmt == "darwin":
        (ann,) = [a for a in doc["annotations"] if a.get("name") == "fly"]
        assert sorted(int(k) for k, v in ann["frames"].items() if v.get("keyframe", True)) == [0, 5, 10]
        slot = doc["item"]["slots"][0]
        assert slot["fps"] == 25 and slot["frame_count"] == 60
    else:
        assert [im["frame_index"] for im in doc["images"]] == list(range(0, 60, 5))
        assert {im["item"] for im in doc["images"]} == {"clip.mp4"}
    aset = read(out)
    assert [fr["frame"] for fr in aset.frames][:3] == [0, 5, 10]

    # reopened over the same stride layer: keys on slider frames 0, 1, 2
    viewer2 = make_napari_viewer()
    video2 = api.open_video(viewer2, clip, stride=5)
    (again,) = api.open_annotations(viewer2, out, media=video2)
    store = api.get_store(again)
    tid = store.track_ids[0]
    assert [f for f in range(12) if store.get(f, tid)[2].any()] == [0, 1, 2]
    np.testing.assert_allclose(store.get(2, tid)[0], [[12.0, 20.0], [32.0, 40.0]])
    assert viewer2.layers.index(video2) == viewer2.layers.index(again) - 1

    # reopened on its own: the video it names comes along, on the frames the file lists
    viewer3 = make_napari_viewer()
    (alone,) = api.open_annotations(viewer3, out)
    media = viewer3.layers[viewer3.layers.index(alone) - 1]
    assert isinstance(media.data, VideoSource) and media.data.frame_numbers.tolist() == list(range(0, 60, 5))
    store3 = api.get_store(alone)
    assert [f for f in range(12) if store3.get(f, store3.track_ids[0])[2].any()] == [0, 1, 2]


def test_a_file_keyed_at_0_5_10_opens_on_a_stride_5_layer(make_napari_viewer, tmp_path, clip):
    viewer = make_napari_viewer()
    full = api.open_video(viewer, clip)  # every frame
    points = api.add_skeleton_layer(viewer, Skeleton(["a", "b"], [(0, 1)], name="fly"), image_layer=full)
    for f in (0, 5, 10, 13):
        api.set_node(points, frame=f, instance=1, node="a", coords=(f, 1.0))
    out = tmp_path / "full.json"
    api.save_layer(points, out, format="darwin")
    viewer2 = make_napari_viewer()
    strided = api.open_video(viewer2, clip, stride=5)
    with pytest.warns(Warning, match=r"1 keyed instance-frames"):  # frame 13 is not on the layer
        (layer,) = api.open_annotations(viewer2, out, media=strided)
    store = api.get_store(layer)
    tid = store.track_ids[0]
    assert [f for f in range(12) if store.get(f, tid)[2].any()] == [0, 1, 2]
    assert store.get(2, tid)[0][0, 0] == 10.0
