"""3D skeletons in volumes saved as V7 (one keypoint per node on its slice) and COCO (an image per slice)."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from napari_keyskel.cli.main import main
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import FormatError
from napari_keyskel.formats import read
from napari_keyskel.formats import write as write_as
from napari_keyskel.formats.coco import read_coco, write_coco
from napari_keyskel.formats.darwin import read_darwin, write_darwin

NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=5).filter(str.strip)
SCORES = [np.nan, np.nan, 0.5, 0.123, 1.0]


def assert_same_stores(a: AnnotationStore, b: AnnotationStore) -> None:
    """Exactly the same 3-D annotations: shape, skeleton, tracks and every array."""
    shape = ("name", "coord_ndim", "frame_axis", "n_frames", "meta", "method", "bridge_unlabelled")
    assert [getattr(b, k) for k in shape] == [getattr(a, k) for k in shape]
    assert b.skeleton == a.skeleton
    assert sorted(b.tracks) == sorted(a.tracks)
    for tid, ta in a.tracks.items():
        tb = b.tracks[tid]
        assert (tb.name, tb.start, tb.stop, tb.meta) == (ta.name, ta.start, ta.stop, ta.meta)
        np.testing.assert_array_equal(tb.coords, ta.coords)  # NaN == NaN, else bit-exact
        np.testing.assert_array_equal(tb.visibility, ta.visibility)
        np.testing.assert_array_equal(tb.is_key, ta.is_key)
        np.testing.assert_array_equal(tb.alive, ta.alive)
        np.testing.assert_array_equal(tb.score, ta.score)


@st.composite
def volume_datasets(draw) -> AnnotationSet:
    """Random 3-D stores: nodes on random slices, visible/occluded/unlabelled/absent, several instances."""
    fa = draw(st.sampled_from([None, 0]))
    class_names = draw(st.lists(NAMES, min_size=1, max_size=2, unique=True))
    stores = []
    for cname in class_names:
        nodes = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
        sk = Skeleton(nodes, [(i, i + 1) for i in range(len(nodes) - 1)], name=draw(NAMES))
        s = AnnotationStore(sk, coord_ndim=3, frame_axis=fa, name=cname)
        s.meta = draw(
            st.sampled_from([{}, {"project": "worms", "n": 3}, {"note": "é ✓", "tags": [1, 2.5, None]}])
        )
        s.method = draw(st.sampled_from(["linear", "cubic", "hold"]))
        s.bridge_unlabelled = draw(st.booleans())
        for tid in draw(st.lists(st.integers(0, 40), max_size=3, unique=True)):
            start = 0 if fa is None else draw(st.integers(0, 3))
            n = 1 if fa is None else draw(st.integers(1, 3))
            t = s.add_track(tid, name=draw(NAMES), start=start, stop=start + n)
            if draw(st.booleans()):  # review states and a comment, as the review dock keeps them
                t.meta = {"review": {str(start): {"state": "needs_fix", "comment": draw(NAMES)}}}
            for r in range(n):
                for k in range(len(nodes)):
                    kind = draw(st.sampled_from(["absent", "visible", "occluded", "unlabelled"]))
                    if kind == "unlabelled":
                        t.is_key[r, k] = True
                    elif kind != "absent":
                        z = draw(st.integers(0, 9)) + draw(st.sampled_from([0.0, 0.0, 0.25, -0.25, 0.5]))
                        y, x = draw(st.integers(0, 200)) / 4, draw(st.integers(0, 200)) / 4
                        t.coords[r, k] = (max(z, 0.0), y, x)
                        t.visibility[r, k] = 2 if kind == "visible" else 1
                        t.is_key[r, k] = draw(st.booleans())
                        t.score[r, k] = draw(st.sampled_from(SCORES))
                if n > 1 and draw(st.integers(0, 3)) == 0:
                    t.alive[r] = False
        stores.append(s)
    return AnnotationSet(stores=stores)


def _files(paths: list[Path]) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in paths}


def _target(tmp: Path, ds: AnnotationSet, name: str) -> Path:
    (tmp / name).mkdir()
    return tmp / name / ("scan.json" if ds.stores[0].frame_axis is None else "series")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(volume_datasets())
def test_random_volume_stores_round_trip_v7_exactly_and_byte_stable(ds):
    with tempfile.TemporaryDirectory() as tmp:
        first = write_darwin(ds, _target(Path(tmp), ds, "a"))
        back = read_darwin(first[0] if ds.stores[0].frame_axis is None else first[0].parent)
        assert len(back.stores) == len(ds.stores)
        for a, b in zip(ds.stores, back.stores):
            assert_same_stores(a, b)
        again = write_darwin(back, _target(Path(tmp), ds, "b"))
        assert _files(again) == _files(first)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(volume_datasets())
def test_random_volume_stores_round_trip_coco_exactly_and_byte_stable(ds):
    with tempfile.TemporaryDirectory() as tmp:
        (first,) = write_coco(ds, Path(tmp) / "a.json")
        back = read_coco(first)
        for a, b in zip(ds.stores, back.stores, strict=True):
            assert_same_stores(a, b)
        (again,) = write_coco(back, Path(tmp) / "b.json")
        assert again.read_bytes() == first.read_bytes()
        # and across formats: COCO -> V7 -> COCO keeps the same 3-D skeletons
        via = write_darwin(back, _target(Path(tmp), ds, "v7"))
        from_v7 = read(via[0] if ds.stores[0].frame_axis is None else via[0].parent)
        for a, b in zip(ds.stores, from_v7.stores, strict=True):
            assert_same_stores(a, b)


def volume(fa: int | None = None) -> AnnotationSet:
    sk = Skeleton(["head", "neck", "tail"], [(0, 1), (1, 2)], name="mouse")
    s = AnnotationStore(sk, coord_ndim=3, frame_axis=fa, name="mouse")
    for tid, dz in ((1, 0), (2, 3)):
        t = s.add_track(tid, start=0, stop=1 if fa is None else 2)
        for r in range(len(t)):
            t.coords[r] = [(1 + dz + r, 10.0, 12.0), (2 + dz, 14.0, 13.0), (4 + dz, 20.0, 11.5)]
            t.visibility[r] = (2, 1, 2)
            t.is_key[r] = True
    return AnnotationSet(stores=[s])


def test_v7_file_is_one_keypoint_per_node_on_its_dicom_slice(tmp_path):
    path, _ = write_darwin(volume(), tmp_path / "scan.json")
    doc = json.loads(path.read_text())
    (slot,) = doc["item"]["slots"]
    assert slot["type"] == "dicom" and slot["frame_count"] == 8 == len(slot["frame_urls"])  # max z 7 -> 8
    anns = doc["annotations"]
    assert len(anns) == 6 and {a["name"] for a in anns} == {"mouse"}
    by = {(a["instance_id"]["value"], a["keyskel"]["node"]): a for a in anns}
    neck2 = by[2, "neck"]
    assert list(neck2["frames"]) == ["5"] and neck2["ranges"] == [[5, 6]]
    assert neck2["frames"]["5"]["keypoint"] == {"x": 13.5, "y": 14.5}  # pixel corner: col + 0.5
    assert neck2["keyskel"] == {"node": "neck", "skeleton": "mouse", "v": 1}


def test_time_series_of_volumes_is_one_v7_item_per_time_point(tmp_path):
    written = write_darwin(volume(fa=0), tmp_path / "series")
    docs = [p for p in written if not p.name.endswith(".skeleton.json")]
    assert [p.name for p in docs] == ["volume_t0000.json", "volume_t0001.json"]
    with pytest.raises(FormatError, match="holds 2 items"):
        write_darwin(volume(fa=0), tmp_path / "one.json")
    back = read_darwin(tmp_path / "series")
    assert_same_stores(volume(fa=0).stores[0], back.stores[0])


def test_coco_has_an_image_per_slice_and_pycocotools_evaluates_it(tmp_path):
    (gt,) = write_coco(volume(), tmp_path / "gt.json")
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt))
    assert len(coco.getImgIds()) == 8
    # tail of instance 2 sits on slice 7; neck of 1 on slice 2 with head of 1? head z=1, neck 2: apart
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 6 and all(a["num_keypoints"] == 1 for a in anns)
    a = next(a for a in anns if a["keyskel"]["track"] == 2 and a["keypoints"][5] == 1)  # the occluded neck
    assert coco.imgs[a["image_id"]]["keyskel"] == {"t": 0, "z": 5}
    assert a["keypoints"][3:6] == [13, 14, 1] and a["keyskel"]["xyz"][1] == [13, 14, 5]
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "keypoints": a["keypoints"],
             "score": 1.0} for a in anns]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco, coco.loadRes(dets), iouType="keypoints")
        ev.params.kpt_oks_sigmas = np.full(3, 0.05)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_cli_convert_volume_v7_coco_v7(tmp_path, capsys):
    src, _ = write_darwin(volume(), tmp_path / "scan.json")
    assert main(["convert", str(src), str(tmp_path / "scan_coco.json")]) == 0
    coco, back = str(tmp_path / "scan_coco.json"), str(tmp_path / "back.json")
    assert main(["convert", coco, back, "--to", "darwin"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert_same_stores(volume().stores[0], read(tmp_path / "back.json").stores[0])
    assert (tmp_path / "back.json").read_bytes() == src.read_bytes()


def test_volume_files_refuse_what_they_cannot_hold(tmp_path):
    ds = volume()
    flat = AnnotationStore(Skeleton(["a"], name="a"), coord_ndim=2, frame_axis=0, name="flat")
    ds.stores.append(flat)
    for write in (write_darwin, write_coco):
        with pytest.raises(FormatError, match="2-D nodes but others are 3-D"):
            write(ds, tmp_path / "x.json")
    with pytest.raises(FormatError, match="results files hold 2-D"):
        write_coco(volume(), tmp_path / "r.json", results=True)
    bad = volume()
    bad.stores[0].tracks[1].coords[0, 0, 0] = -3
    with pytest.raises(FormatError, match="before the first slice"):
        write_darwin(bad, tmp_path / "b.json")
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "b.json").exists()


def test_v7_node_without_our_extra_warns_and_is_skipped(tmp_path):
    path, _ = write_darwin(volume(), tmp_path / "scan.json")
    doc = json.loads(path.read_text())
    del doc["annotations"][0]["keyskel"]
    path.write_text(json.dumps(doc))
    with pytest.warns(Warning, match="no keyskel node extra"):
        back = read_darwin(path)
    assert int((back.stores[0].tracks[1].visibility > 0).sum()) == 2


def test_meta_that_json_cannot_hold_is_refused_naming_the_track(tmp_path):
    ds = volume()
    ds.stores[0].tracks[2].meta["when"] = object()
    target = tmp_path / "scan.json"
    for fmt in ("darwin", "coco"):
        with pytest.raises(FormatError, match=r"store 'mouse', track 2: meta cannot be written as JSON"):
            write_as(ds, target, fmt)
        assert not target.exists()  # nothing half-written
