"""Darwin <-> COCO conversions through the shared AnnotationSet model."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from test_coco import SLEAP, video_dataset

from napari_keyskel import AnnotationStore
from napari_keyskel.cli.main import main
from napari_keyskel.formats import read, write
from napari_keyskel.formats.coco import read_coco, write_coco
from napari_keyskel.formats.darwin import read_darwin, write_darwin

DATA = Path(__file__).parent / "data"
DARWIN_SAMPLES = sorted(p.name for p in DATA.glob("darwin2_*.json"))


def _same_points(a: AnnotationStore, b: AnnotationStore) -> None:
    """Same skeleton and points; tracks matched in id order (a format may renumber them)."""
    assert a.name == b.name and a.skeleton.nodes == b.skeleton.nodes and a.skeleton.edges == b.skeleton.edges
    assert len(a) == len(b)
    for ta, tb in zip(sorted(a, key=lambda t: t.track_id), sorted(b, key=lambda t: t.track_id)):
        ma, mb = np.isfinite(ta.coords[..., 0]), np.isfinite(tb.coords[..., 0])
        fa, fb = np.flatnonzero(ma.any(1)) + ta.start, np.flatnonzero(mb.any(1)) + tb.start
        np.testing.assert_array_equal(fa, fb)
        ra, rb = fa - ta.start, fb - tb.start
        np.testing.assert_allclose(ta.coords[ra], tb.coords[rb], rtol=0, atol=1e-9)
        np.testing.assert_array_equal(ta.visibility[ra], tb.visibility[rb])
        np.testing.assert_array_equal(ta.is_key[ra], tb.is_key[rb])


@pytest.mark.parametrize("name", DARWIN_SAMPLES)
def test_darwin_to_coco_to_darwin_is_lossless(tmp_path: Path, name: str) -> None:
    ds = read_darwin(DATA / name)
    direct = write_darwin(ds, tmp_path / "direct.json")
    coco = write_coco(ds, tmp_path / "mid.coco.json")
    back = read_coco(coco[0])
    for a, b in zip(ds.stores, back.stores):
        _same_points(a, b)
    via = write_darwin(back, tmp_path / "via.json")
    # the Darwin file made from the COCO file equals the one written directly
    assert json.loads(via[0].read_text()) == json.loads(direct[0].read_text())


@pytest.mark.parametrize("name", [n for n in DARWIN_SAMPLES if "mini_uct" in n or "image" in n])
def test_coco_from_darwin_loads_in_pycocotools(tmp_path: Path, name: str) -> None:
    coco_mod = pytest.importorskip("pycocotools.coco")
    ds = read(DATA / name)
    out = write(ds, tmp_path / "c.json", "coco")[0]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = coco_mod.COCO(str(out))
    n_points = sum(s.counts()["points"] for s in ds.stores)
    assert sum(a["num_keypoints"] for a in gt.dataset["annotations"]) == n_points
    video = json.loads(out.read_text())
    if name == "darwin2_video_skeleton_keypoint_mini_uct.json":  # frames 5..7: key, interpolated, key
        frames = sorted(
            im["frame_index"]
            for im in video["images"]
            if any(a["image_id"] == im["id"] for a in video["annotations"])
        )
        assert frames[:3] == [5, 6, 7]


def test_coco_to_darwin_to_coco_sleap_sample(tmp_path: Path) -> None:
    ds = read_coco(SLEAP)
    write(ds, tmp_path / "dw", "darwin")
    back = read(tmp_path / "dw")  # a folder of Darwin items (one per image) plus the skeleton file
    _same_points(ds.stores[0], back.stores[0])
    assert [fr["item"] for fr in back.frames] == [fr["item"] for fr in ds.frames]
    doc = json.loads(write_coco(back, tmp_path / "again.json")[0].read_text())
    orig = json.loads(SLEAP.read_text())
    assert [im["file_name"] for im in doc["images"]] == [im["file_name"] for im in orig["images"]]
    assert doc["categories"][0]["keypoints"] == orig["categories"][0]["keypoints"]
    assert sorted(map(sorted, doc["categories"][0]["skeleton"])) == sorted(
        map(sorted, orig["categories"][0]["skeleton"])
    )
    got = sorted(
        (a["image_id"], [v for i, v in enumerate(a["keypoints"]) if a["keypoints"][i - i % 3 + 2] > 0])
        for a in doc["annotations"]
    )
    want = sorted(
        (a["image_id"], [v for i, v in enumerate(a["keypoints"]) if a["keypoints"][i - i % 3 + 2] > 0])
        for a in orig["annotations"]
    )
    assert got == want  # every labelled point, its visibility, on the same image


def test_video_coco_to_darwin_keeps_keys_and_interpolated(tmp_path: Path) -> None:
    src = video_dataset(n_frames=20, n_tracks=2, partial_key=False)  # Darwin keys whole frames only
    coco = write_coco(src, tmp_path / "v.json")[0]
    write(read(coco), tmp_path / "v_darwin.json", "darwin")
    back = read(tmp_path / "v_darwin.json")
    assert back.frames[7]["item"] == "clip.mp4" and back.frames[7]["frame"] == 7
    _same_points(src.stores[0], back.stores[0])
    doc = json.loads((tmp_path / "v_darwin.json").read_text())
    skel = [a for a in doc["annotations"] if "frames" in a]
    assert any(not fr["keyframe"] for a in skel for fr in a["frames"].values())  # interpolated frames stay so


def test_convert_into_a_folder_that_does_not_exist_yet(tmp_path: Path) -> None:
    src = DATA / "darwin2_video_skeleton_keypoint_mini_uct.json"
    for fmt in ("coco", "darwin"):
        out = tmp_path / fmt / "new" / "deeper" / "out.json"
        assert main(["convert", str(src), str(out), "--to", fmt]) == 0
        assert read(out).stores[0].n_nodes == read(src).stores[0].n_nodes
        assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temp left
