"""V7's own interpolation honoured on read, written back as read (issue 22, items 2 and 3).

A V7 video annotation with ``"interpolated": true`` that lists only its keyframes (as V7 import
files and scripts write them) is read as V7 shows it: linear between keys within the ranges,
per node, the last key held to the end of the range, never across ``hidden_areas``. Written
back, the file holds the same JSON values. The interpolation method travels with the files.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from napari_keyskel.core import keyframes as kf
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.formats.coco import read_coco, write_coco
from napari_keyskel.formats.darwin import read_darwin, write_darwin

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "darwin2_video_skeleton_keypoint_mini_uct.json"


def _nodes(a: tuple[float, float], b: tuple[float, float], occluded: bool = False) -> dict[str, Any]:
    return {
        "nodes": [
            {"name": "node", "occluded": occluded, "x": a[0], "y": a[1]},
            {"name": "2", "occluded": False, "x": b[0], "y": b[1]},
        ]
    }


def sparse_doc(ranges: list[list[int]], hidden: list[list[int]] | None = None) -> dict[str, Any]:
    """The real V7 export with its skeleton cut to keyframes 5 and 9 (frames 6-8 not listed)."""
    doc = json.loads(SAMPLE.read_text())
    ann = next(a for a in doc["annotations"] if a["name"] == "test_skeleton_basic")
    ann["frames"] = {
        "5": {"keyframe": True, "skeleton": _nodes((10.0, 20.0), (30.0, 40.0))},
        "9": {"keyframe": True, "skeleton": _nodes((18.0, 12.0), (30.0, 48.0), occluded=True)},
    }
    ann["ranges"] = ranges
    if hidden is not None:
        ann["hidden_areas"] = hidden
    return doc


def _write(tmp: Path, doc: dict[str, Any], name: str = "mini_uct.json") -> Path:
    p = tmp / name
    p.write_text(json.dumps(doc))
    return p


def _track(ds: AnnotationSet) -> Any:
    store = next(s for s in ds.stores if s.name == "test_skeleton_basic")
    (t,) = store
    return store, t


def _skeleton_ann(doc: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in doc["annotations"] if a["name"] == "test_skeleton_basic")


def test_keyframes_only_read_as_v7_shows_them(tmp_path):
    path = _write(tmp_path, sparse_doc([[5, 12]]))
    store, t = _track(read_darwin(path))
    xy = t.coords[:, :, ::-1] + 0.5  # back to Darwin (x, y)
    rows = {f: f - t.start for f in range(5, 12)}
    np.testing.assert_allclose(xy[rows[7], 0], [14.0, 16.0])  # halfway from key 5 to key 9
    np.testing.assert_allclose(xy[rows[6], 1], [30.0, 42.0])
    for f in (10, 11):  # after the last key: held to the end of the range
        np.testing.assert_allclose(xy[rows[f]], xy[rows[9]])
    assert t.is_key[[rows[5], rows[9]]].all() and not t.is_key[[rows[f] for f in (6, 7, 8, 10, 11)]].any()
    assert (t.visibility[rows[7]] == [2, 2]).all()  # visibility follows the previous key
    assert (t.visibility[rows[10]] == [1, 2]).all()  # held from key 9 (node occluded there)
    assert t.meta["darwin"]["filled"] is True
    # the same numbers keyskel's own interpolation gives
    before = t.coords.copy()
    kf.interpolate_all(store, "linear")
    np.testing.assert_array_equal(t.coords, before)


def test_keyframes_only_written_back_as_read(tmp_path):
    doc = sparse_doc([[5, 12]])
    path = _write(tmp_path, doc)
    (out,) = write_darwin(read_darwin(path), tmp_path / "out.json", skeleton_file=False)
    assert json.loads(out.read_text()) == doc
    # and through COCO and back to V7: the same file again
    (coco,) = write_coco(read_darwin(path), tmp_path / "mid.coco.json")
    (again,) = write_darwin(read_coco(coco), tmp_path / "again.json", skeleton_file=False)
    assert json.loads(again.read_text()) == doc


def test_never_across_hidden_areas_or_range_gaps(tmp_path):
    path = _write(tmp_path, sparse_doc([[5, 12]], hidden=[[7, 8]]))
    _, t = _track(read_darwin(path))
    lab = np.isfinite(t.coords[..., 0]).all(axis=1)
    # the span 5 -> 9 crosses the hidden frame 7: not drawn (as keyskel never bridges a gap)
    assert [bool(lab[f - t.start]) for f in range(5, 12)] == [True, False, False, False, True, True, True]
    path = _write(tmp_path, sparse_doc([[5, 7], [9, 12]]), "gap.json")
    _, t = _track(read_darwin(path))
    assert not np.isfinite(t.coords[[7 - t.start, 8 - t.start]]).any()
    assert np.isfinite(t.coords[11 - t.start]).all()
    (out,) = write_darwin(read_darwin(path), tmp_path / "out.json", skeleton_file=False)
    assert json.loads(out.read_text()) == json.loads(path.read_text())


def test_an_edited_in_between_frame_becomes_a_keyframe(tmp_path):
    path = _write(tmp_path, sparse_doc([[5, 12]]))
    ds = read_darwin(path)
    store, t = _track(ds)
    kf.move_node(store, 7, t.track_id, "node", (99.5, 49.5))  # (row, col): Darwin x=50, y=100
    (out,) = write_darwin(ds, tmp_path / "out.json", skeleton_file=False)
    ann = _skeleton_ann(json.loads(out.read_text()))
    assert sorted(map(int, ann["frames"])) == [5, 7, 9]  # 6 and 8 left to V7's interpolation
    assert ann["frames"]["7"]["keyframe"] is True and ann["interpolated"] is True
    _, back = _track(read_darwin(out))
    np.testing.assert_array_equal(back.coords, t.coords)
    np.testing.assert_array_equal(back.visibility, t.visibility)


def test_cubic_is_kept_with_the_file_and_written_out(tmp_path):
    path = _write(tmp_path, sparse_doc([[5, 12]]))
    ds = read_darwin(path)
    store, t = _track(ds)
    kf.interpolate_all(store, "cubic")
    (out,) = write_darwin(ds, tmp_path / "out.json", skeleton_file=False)
    doc = json.loads(out.read_text())
    ann = _skeleton_ann(doc)
    assert sorted(map(int, ann["frames"])) == list(range(5, 12))  # every frame: any reader agrees
    assert ann["interpolated"] is False and "interpolate_algorithm" not in ann
    entry = next(c for c in doc["keyskel"]["classes"] if c["name"] == "test_skeleton_basic")
    assert entry["method"] == "cubic"
    back_store, back = _track(read_darwin(out))
    assert back_store.method == "cubic"
    np.testing.assert_array_equal(back.coords, t.coords)
    (coco,) = write_coco(read_darwin(out), tmp_path / "c.json")  # COCO keeps it too
    assert _track(read_coco(coco))[0].method == "cubic"


def test_hold_and_bridge_kept_in_coco(tmp_path):
    sk = Skeleton(["a", "b"], [(0, 1)], name="fly")
    store = AnnotationStore(sk, n_frames=6, name="fly")
    t = store.add_track(start=0, stop=6)
    store.set_points(0, t.track_id, [[1.0, 2.0], [3.0, 4.0]])
    store.set_points(5, t.track_id, [[5.0, 6.0], [7.0, 8.0]])
    kf.interpolate_all(store, "hold", bridge_unlabelled=True)
    ds = AnnotationSet(stores=[store], frames=[{"item": "v.mp4", "frame": f} for f in range(6)])
    (p,) = write_coco(ds, tmp_path / "fly.json")
    cat = json.loads(p.read_text())["categories"][0]
    assert cat["keyskel"]["method"] == "hold" and cat["keyskel"]["bridge_unlabelled"] is True
    back = read_coco(p).stores[0]
    assert (back.method, back.bridge_unlabelled) == ("hold", True)
    (d,) = write_darwin(read_coco(p), tmp_path / "fly_v7.json", skeleton_file=False)
    back = read_darwin(d).stores[0]
    assert (back.method, back.bridge_unlabelled) == ("hold", True)


def test_empty_alive_frames_we_write_stay_empty(tmp_path):
    """A store whose alive frames between keys are empty says so: V7 would fill them."""
    sk = Skeleton(["a", "b"], name="fly")
    store = AnnotationStore(sk, n_frames=10, name="fly")
    t = store.add_track(start=0, stop=10)
    store.set_points(0, t.track_id, [[1.0, 2.0], [3.0, 4.0]])
    store.set_points(6, t.track_id, [[5.0, 6.0], [7.0, 8.0]])  # frames 1-5, 7-9 alive, empty
    ds = AnnotationSet(stores=[store], frames=[{"item": "v.mp4", "frame": f} for f in range(10)])
    (p,) = write_darwin(ds, tmp_path / "v.json", skeleton_file=False)
    ann = json.loads(p.read_text())["annotations"][0]
    assert ann["interpolated"] is True and ann["keyskel"]["fill"] is False
    back = read_darwin(p).stores[0].tracks[t.track_id]
    np.testing.assert_array_equal(back.coords, t.coords)
    kf.interpolate_all(store)  # interpolated and held: V7's fill gives the same, so no flag
    (p,) = write_darwin(ds, tmp_path / "w.json", skeleton_file=False)
    assert "fill" not in json.loads(p.read_text())["annotations"][0].get("keyskel", {})


@pytest.mark.parametrize("bad", ["no", 1, None])
def test_a_damaged_fill_flag_is_an_error(tmp_path, bad):
    doc = sparse_doc([[5, 12]])
    _skeleton_ann(doc)["keyskel"] = {"fill": bad}
    from napari_keyskel.errors import FormatError

    with pytest.raises(FormatError, match=r"keyskel\.fill"):
        read_darwin(_write(tmp_path, doc))


def test_a_damaged_method_is_an_error(tmp_path):
    doc = sparse_doc([[5, 12]])
    doc["keyskel"] = {"classes": [{"name": "test_skeleton_basic", "method": "spline"}]}
    from napari_keyskel.errors import FormatError

    with pytest.raises(FormatError, match="'method' must be one of"):
        read_darwin(_write(tmp_path, copy.deepcopy(doc)))
