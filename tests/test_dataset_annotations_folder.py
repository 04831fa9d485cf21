"""A media folder's ``annotations/`` (what keyskel writes there) opens as a V7 export with its media."""

from __future__ import annotations

import numpy as np
from _media_samples import make_video

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.dataset import open_dataset


def test_the_annotations_folder_finds_the_videos_one_level_up(tmp_path):
    make_video(tmp_path / "clip0.mp4", 5, gop=3)
    Skeleton(["a", "b"], [(0, 1)], name="fly").save(tmp_path / "fly.skeleton.json")
    folder = open_dataset(tmp_path)
    (item,) = list(folder)
    store = AnnotationStore(folder.skeletons()[0], 2, 0, 5, name="fly")
    store.set_points(2, store.add_track().track_id, np.array([[1.0, 2.0], [3.0, 4.0]]))
    folder.set_annotations(
        item, AnnotationSet([store], [{"item": "clip0.mp4", "frame": f} for f in range(5)])
    )
    folder.save()
    v7 = open_dataset(tmp_path / "annotations")
    assert v7.format == "darwin"
    head = v7.header(0)
    assert head.name == "clip0.mp4" and head.media == tmp_path / "clip0.mp4"
    assert head.n_frames == 5
