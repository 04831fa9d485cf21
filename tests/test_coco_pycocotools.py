"""What we write is real COCO: pycocotools loads it; our output evaluated against the input gives AP 1."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from test_coco import RESULTS, SLEAP, video_dataset

from napari_keyskel.core.presets import hand21
from napari_keyskel.formats.coco import read_coco, write_coco

pycoco = pytest.importorskip("pycocotools.coco")  # a declared test dependency; present in CI
from pycocotools.cocoeval import COCOeval  # noqa: E402


def _quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def _ap(gt_path: Path, dt: Path | list, sigmas: list[float] | None = None) -> float:
    gt = _quiet(pycoco.COCO, str(gt_path))
    res = _quiet(gt.loadRes, str(dt) if isinstance(dt, Path) else dt)
    ev = COCOeval(gt, res, iouType="keypoints")
    if sigmas is not None:
        ev.params.kpt_oks_sigmas = np.asarray(sigmas)
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    _quiet(ev.summarize)
    return float(ev.stats[0])


def test_sleap_sample_results_score_ap_1(tmp_path: Path) -> None:
    ds = read_coco(SLEAP)
    gt = write_coco(ds, tmp_path / "gt.json")[0]
    res = write_coco(ds, tmp_path / "res.json", results=True)[0]
    loaded = _quiet(pycoco.COCO, str(gt))
    assert len(loaded.getAnnIds()) == 3 and len(loaded.getImgIds()) == 3
    assert _ap(SLEAP, res) == 1.0  # against the original input file
    assert _ap(gt, res) == 1.0  # and against our own ground truth


def test_results_sample_as_ground_truth(tmp_path: Path) -> None:
    ds = read_coco(RESULTS)
    gt = write_coco(ds, tmp_path / "gt.json")[0]
    res = write_coco(ds, tmp_path / "res.json", results=True)[0]
    loaded = _quiet(pycoco.COCO, str(gt))
    assert len(loaded.getAnnIds()) == 125
    assert _ap(gt, res) == 1.0
    assert _ap(gt, RESULTS) == 1.0  # the original results against what we made of them


@pytest.mark.parametrize("skeleton", [None, hand21()])
def test_video_store_ap_1_with_custom_sigmas(tmp_path: Path, skeleton) -> None:
    src = video_dataset(n_frames=20, n_tracks=4, skeleton=skeleton)
    k = src.stores[0].n_nodes
    assert k != 17
    sigmas = np.linspace(0.03, 0.1, k).tolist()
    gt = write_coco(src, tmp_path / "gt.json", oks_sigmas=sigmas)[0]
    res = write_coco(src, tmp_path / "res.json", results=True)[0]
    doc = json.loads(gt.read_text())
    assert doc["categories"][0]["oks_sigmas"] == sigmas
    assert _ap(gt, res, doc["categories"][0]["oks_sigmas"]) == 1.0
    # the same annotations, as detections with score 1
    dets = [
        {k_: a[k_] for k_ in ("image_id", "category_id", "keypoints")} | {"score": 1.0}
        for a in doc["annotations"]
    ]
    assert _ap(gt, dets, sigmas) == 1.0
    # a moved detection is no longer perfect: the check can fail
    dets[0]["keypoints"] = [v + 40.0 if i % 3 != 2 else v for i, v in enumerate(dets[0]["keypoints"])]
    assert _ap(gt, dets, sigmas) < 1.0


def test_pycocotools_loads_and_scores_every_file_we_write(tmp_path: Path) -> None:
    """Ground truth and results we write from every dialect, V7 sample and extras store evaluate."""
    from test_coco_darwin_roundtrip import extras_dataset

    from napari_keyskel.formats.darwin import read_darwin

    data = Path(__file__).parent / "data"
    sources = {p.stem: read_coco(p) for p in sorted(data.glob("coco_*.json"))}
    sources["extras"] = extras_dataset()
    for p in sorted(data.glob("darwin2_*.json")):
        ds = read_darwin(p)
        if ds.stores:
            sources[p.stem] = ds
    checked = 0
    for name, ds in sources.items():
        gt = write_coco(ds, tmp_path / f"{name}.gt.json")[0]
        res = write_coco(ds, tmp_path / f"{name}.res.json", results=True)[0]
        loaded = _quiet(pycoco.COCO, str(gt))
        assert len(loaded.getAnnIds()) == len(json.loads(gt.read_text())["annotations"])
        for s in ds.stores:
            k = s.n_nodes
            cat = next(c for c in loaded.loadCats(loaded.getCatIds()) if c["name"] == s.name)
            dets = [r for r in json.loads(res.read_text()) if r["category_id"] == cat["id"]]
            if not dets:
                continue
            ev = COCOeval(loaded, _quiet(loaded.loadRes, dets), iouType="keypoints")
            ev.params.catIds = [cat["id"]]
            ev.params.kpt_oks_sigmas = np.full(k, 0.05)
            _quiet(ev.evaluate)
            _quiet(ev.accumulate)
            _quiet(ev.summarize)
            assert np.isfinite(ev.stats[0]), name
            checked += 1
    assert checked >= 10
