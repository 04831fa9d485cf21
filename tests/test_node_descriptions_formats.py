"""Node descriptions (what each node means, for annotators) survive V7 Darwin and COCO files."""

from __future__ import annotations

import numpy as np
import pytest

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.formats import read, write

TEXTS = ("tip of the nose; if hidden, mark occluded", "", "base of the tail, where the fur ends")


def _dataset() -> AnnotationSet:
    sk = Skeleton(["snout", "neck", "tail_base"], [(0, 1), (1, 2)], name="mouse", descriptions=TEXTS)
    store = AnnotationStore(sk, 2, 0, 4, name="mouse")
    tid = store.add_track().track_id
    store.set_points(1, tid, np.array([[10.0, 12.0], [20.0, 22.0], [30.0, 32.0]]))
    return AnnotationSet([store], [{"item": "clip.mp4", "frame": f} for f in range(4)])


@pytest.mark.parametrize(("fmt", "name"), [("darwin", "v7"), ("coco", "c.json")])
def test_descriptions_come_back(tmp_path, fmt, name):
    write(_dataset(), tmp_path / name, fmt)
    (store,) = read(tmp_path / name, format=fmt).stores
    assert store.skeleton.descriptions == TEXTS


@pytest.mark.parametrize(("fmt", "name"), [("darwin", "v7"), ("coco", "c.json")])
def test_no_descriptions_write_nothing_new(tmp_path, fmt, name):
    ds = _dataset()
    sk = ds.stores[0].skeleton
    ds.stores[0].skeleton = Skeleton(sk.nodes, sk.edges, sk.colors, sk.flip_pairs, sk.name)
    write(ds, tmp_path / name, fmt)
    text = (
        "".join(p.read_text() for p in (tmp_path / name).rglob("*.json"))
        if fmt == "darwin"
        else ((tmp_path / name).read_text())
    )
    assert "description" not in text
