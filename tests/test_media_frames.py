"""Frame numbers: a layer over every Nth frame, against files keyed in the video's own numbers."""

from __future__ import annotations

import numpy as np
import pytest

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import FormatWarning, KeyskelError
from napari_keyskel.media import frames_table, select_frames, to_layer_frames


def _keyed(frames, n_frames=None):
    sk = Skeleton(["a", "b"], [(0, 1)], name="fly")
    store = AnnotationStore(sk, 2, 0, n_frames)
    tid = store.add_track(name="one").track_id
    for f in frames:
        store.set_points(f, tid, np.array([[f, 1.0], [f, 2.0]]))
    return AnnotationSet([store], [{"item": "clip.mp4", "frame": f} for f in range(n_frames or 0)])


def test_select_frames():
    assert select_frames(12, stride=5).tolist() == [0, 5, 10]
    assert select_frames(10, fps=5, source_fps=10).tolist() == [0, 2, 4, 6, 8]
    assert select_frames(4, fps=100, source_fps=10).tolist() == [0, 1, 2, 3]
    for bad in (dict(stride=0), dict(stride=1.5), dict(fps=-1, source_fps=10), dict(fps=5)):
        with pytest.raises(KeyskelError):
            select_frames(10, **bad)


def test_a_file_keyed_at_0_5_10_opens_on_a_stride_5_layer_in_the_right_places():
    aset = _keyed([0, 5, 10], n_frames=12)
    layer = to_layer_frames(aset, np.arange(0, 12, 5))
    store = layer.stores[0]
    assert store.n_frames == 3
    t = store.track(store.track_ids[0])
    keys = [f for f in range(3) if store.get(f, t.track_id)[2].all()]
    assert keys == [0, 1, 2]
    np.testing.assert_array_equal(store.get(2, t.track_id)[0][:, 0], [10, 10])
    assert [fr["frame"] for fr in layer.frames] == [0, 5, 10]
    # the original is untouched
    assert aset.stores[0].n_frames == 12


def test_keys_on_frames_the_layer_does_not_show_are_counted_not_dropped_silently():
    aset = _keyed([0, 3, 5], n_frames=6)
    with pytest.warns(
        FormatWarning, match=r"1 keyed instance-frames \(2 node keys\) lie on frames this layer does not show"
    ):
        layer = to_layer_frames(aset, [0, 5])
    assert layer.stores[0].n_frames == 2


def test_identity_is_the_same_set():
    aset = _keyed([0, 1], n_frames=4)
    assert to_layer_frames(aset, np.arange(4)) is aset
    with pytest.raises(KeyskelError):
        to_layer_frames(aset, [3, 1])


def test_frames_table_for_a_video_and_for_images():
    video = {
        "kind": "video",
        "path": "/data/clip.mp4",
        "frame_numbers": [0, 5, 10],
        "width": 64,
        "height": 48,
    }
    assert frames_table(video) == [
        {"item": "clip.mp4", "frame": f, "width": 64, "height": 48} for f in (0, 5, 10)
    ]
    video.update(fps=25.0, n_source_frames=12)
    assert frames_table(video)[2] == {
        "item": "clip.mp4",
        "frame": 10,
        "width": 64,
        "height": 48,
        "fps": 25.0,
        "frame_count": 12,
    }
    images = {
        "kind": "images",
        "path": "/data/frames",
        "frame_numbers": [0, 2],
        "names": ["a.png", "b.png", "c.png"],
        "sizes": [[10, 20], [30, 40], [50, 60]],
        "width": 60,
        "height": 50,
    }
    assert frames_table(images) == [
        {"item": "a.png", "frame": 0, "file_name": "a.png", "width": 20, "height": 10},
        {"item": "c.png", "frame": 0, "file_name": "c.png", "width": 60, "height": 50},
    ]


def test_a_file_saved_from_a_stride_layer_fits_a_full_layer_and_a_stride_layer():
    from napari_keyskel.media import fit_to_frames

    aset = _keyed([0, 1, 2], n_frames=3)
    aset.frames = [{"item": "clip.mp4", "frame": f} for f in (0, 5, 10)]
    assert fit_to_frames(aset, [0, 5, 10]) is aset
    full = fit_to_frames(aset, np.arange(12), table=[{"item": "clip.mp4", "frame": f} for f in range(12)])
    store = full.stores[0]
    tid = store.track_ids[0]
    assert [f for f in range(12) if store.get(f, tid)[2].any()] == [0, 5, 10]
    np.testing.assert_array_equal(store.get(10, tid)[0][:, 0], [2, 2])  # row 2 was keyed at y = 2
    assert [fr["frame"] for fr in full.frames] == list(range(12))
