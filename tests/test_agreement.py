"""Agreement of two annotation sets: OKS (against pycocotools' COCOeval), PCK, pixel error, compare CLI."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from _review_tracks import smooth_store
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from napari_keyskel.assist.matching import default_sigmas
from napari_keyskel.assist.review.agreement import compare_stores, disagreement_flags
from napari_keyskel.cli.main import main
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import KeyskelError, SkeletonError
from napari_keyskel.formats import write


def _pair(n_frames: int = 40, seed: int = 0, noise: float = 2.0) -> tuple[AnnotationStore, AnnotationStore]:
    a = smooth_store(n_frames, 3, seed, noise=0.3)
    b = a.copy()
    rng = np.random.default_rng(seed + 1)
    for t in b:
        t.coords += rng.normal(0, noise, t.coords.shape)
    return a, b


def _compare_json(capsys, *argv) -> dict:
    assert main(["compare", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_compare_oks_agrees_with_cocoeval(tmp_path: Path, capsys) -> None:
    a, b = _pair()
    b.tracks[2].coords[10, :4] = np.nan  # B lacks some nodes: pycocotools puts them at (0, 0)
    a.tracks[3].coords[11, 5] = np.nan  # A did not label one: it does not count
    a.tracks[3].visibility[11, 5] = 0
    (pa,) = write(AnnotationSet([a]), tmp_path / "a.json", "coco")
    (pb,) = write(AnnotationSet([b]), tmp_path / "b.json", "coco")
    ours = _compare_json(capsys, str(pa), str(pb))
    gt_doc = json.loads(pa.read_text())
    dt_anns = json.loads(pb.read_text())["annotations"]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(pa))
        res = gt.loadRes(
            [{"image_id": d["image_id"], "category_id": d["category_id"], "keypoints": d["keypoints"],
              "score": 1.0} for d in dt_anns]
        )  # fmt: skip
        ev = COCOeval(gt, res, "keypoints")
        ev.params.kpt_oks_sigmas = default_sigmas(a.skeleton.nodes)
        ev.evaluate()
    # each ground-truth instance's best OKS (the instances are far apart: that is its pair)
    per_pair, per_image = [], {}
    for img in gt_doc["images"]:
        m = np.asarray(ev.ious[(img["id"], 1)])  # (dt, gt)
        best = m.max(axis=0)
        per_pair += best.tolist()
        per_image[img["id"]] = best.mean()
    assert ours["pairs"] == len(per_pair) == 120
    assert ours["oks"] == pytest.approx(np.mean(per_pair), abs=1e-6)
    frame_of = {img["id"]: i for i, img in enumerate(gt_doc["images"])}
    for w in ours["worst"]:
        img = next(i for i, f in frame_of.items() if f == w["frame"])
        assert w["oks"] == pytest.approx(per_image[img], abs=1e-6)
    assert ours["worst"][0]["frame"] == 10  # the frame where B lacks nodes agrees least


def test_compare_json_figures_per_node(tmp_path: Path, capsys) -> None:
    a, b = _pair(noise=0.0)
    k = a.skeleton.index("tail_tip")
    diag = np.linalg.norm(np.ptp(a.tracks[1].coords[7], axis=0))
    b.tracks[1].coords[7, k] += [0.08 * diag, 0.0]  # beyond PCK@0.05, within PCK@0.1
    paths = [write(AnnotationSet([s]), tmp_path / f"{n}.json", "coco")[0] for n, s in (("a", a), ("b", b))]
    out = _compare_json(capsys, *map(str, paths))
    assert set(out) >= {"oks", "pck", "mean_error", "per_node", "worst"}
    assert set(out["per_node"]) == set(a.skeleton.nodes)
    assert set(out["per_node"]["snout"]) == {"oks", "pck", "mean_error"}
    tip = out["per_node"]["tail_tip"]
    n = 120  # instances
    assert tip["pck"] == {"0.05": pytest.approx(1 - 1 / n), "0.1": 1.0}
    assert tip["mean_error"] == pytest.approx(0.08 * diag / n, rel=1e-3)
    assert out["per_node"]["snout"] == {"oks": 1.0, "pck": {"0.05": 1.0, "0.1": 1.0}, "mean_error": 0.0}
    assert [w["frame"] for w in out["worst"]] == [7] and out["worst"][0]["oks"] < 1.0  # no exact frame
    assert out["pck"]["0.05"] == pytest.approx(1 - 1 / (n * a.n_nodes))
    assert main(["compare", str(paths[0]), str(paths[1])]) == 0
    text = capsys.readouterr().out
    assert "PCK@0.05" in text and "tail_tip" in text and "worst frames: 7 " in text


def test_pairs_by_oks_when_track_ids_differ() -> None:
    a, b = _pair()
    renum = AnnotationStore(b.skeleton, 2, 0, b.n_frames, name="mouse")
    for t in list(b)[::-1]:  # other ids, other order
        c = t.copy()
        c.track_id += 10
        renum.tracks[c.track_id] = c
    by_id = compare_stores(a, b)
    by_oks = compare_stores(a, renum)
    assert by_oks.pairs == by_id.pairs == 120
    assert by_oks.oks == pytest.approx(by_id.oks)
    assert compare_stores(a, a.copy()).worst == []  # nothing differs: no worst frames
    only_ids = compare_stores(a, renum, match="id")
    assert only_ids.pairs == 0 and only_ids.unmatched == {"a": 120, "b": 120}
    assert only_ids.oks is None and only_ids.worst[0]["oks"] == 0.0
    with pytest.raises(KeyskelError, match="match must be"):
        compare_stores(a, b, match="name")


def test_frame_map_and_unpaired_instances() -> None:
    a, b = _pair(noise=0.0)
    rev = AnnotationStore(b.skeleton, 2, 0, b.n_frames, name="mouse")
    for t in b:  # the same annotations, frames in reverse order
        c = t.copy()
        c.coords = c.coords[::-1].copy()
        rev.tracks[c.track_id] = c
    fmap = np.arange(40)[::-1]
    assert compare_stores(a, rev, frame_map=fmap).oks == pytest.approx(1.0)
    assert compare_stores(a, rev).oks < 0.5
    del rev.tracks[3]
    ag = compare_stores(a, rev, frame_map=fmap, match="id")
    assert ag.pairs == 80 and ag.unmatched == {"a": 40, "b": 0}


def test_sigmas_from_the_skeleton_and_its_file(tmp_path: Path, capsys) -> None:
    a, b = _pair()
    loose = compare_stores(a, b).oks
    strict = compare_stores(a, b, sigmas=[0.01] * a.n_nodes).oks
    assert strict < loose
    a.skeleton = a.skeleton.set_sigmas([0.01] * a.n_nodes)
    assert compare_stores(a, b).oks == pytest.approx(strict)
    sk_path = a.skeleton.save(tmp_path / "mouse.skeleton.json")
    assert Skeleton.load(sk_path).sigmas == (0.01,) * a.n_nodes
    assert json.loads(sk_path.read_text())["nodes"][0]["sigma"] == 0.01
    a.skeleton = a.skeleton.set_sigmas(None)
    pa, pb = (write(AnnotationSet([s]), tmp_path / f"{n}.json", "coco")[0] for n, s in (("a", a), ("b", b)))
    out = _compare_json(capsys, str(pa), str(pb), "--skeleton", str(sk_path))
    assert out["oks"] == pytest.approx(strict, abs=1e-6)
    assert _compare_json(capsys, str(pa), str(pb))["oks"] == pytest.approx(loose, abs=1e-6)


def test_skeleton_sigmas_follow_edits_and_are_checked() -> None:
    sk = Skeleton(["a", "b", "c"], [("a", "b")], sigmas=[0.1, 0.2, 0.3])
    assert sk.remove_node("b").sigmas == (0.1, 0.3)
    assert sk.reorder_nodes(["c", "a", "b"]).sigmas == (0.3, 0.1, 0.2)
    assert sk.rename_node("a", "z").sigmas == sk.sigmas
    assert sk.add_node("d").sigmas == (0.1, 0.2, 0.3, 0.05)
    assert Skeleton.from_dict(sk.to_dict()) == sk
    assert "sigma" not in Skeleton(["a"]).to_dict()["nodes"][0]
    with pytest.raises(SkeletonError, match="OKS sigma of node 'b'"):
        Skeleton(["a", "b"], sigmas=[0.1, -1])
    with pytest.raises(SkeletonError, match="2 OKS sigmas given for 3 nodes"):
        Skeleton(["a", "b", "c"], sigmas=[0.1, 0.1])
    d = sk.to_dict()
    del d["nodes"][1]["sigma"]
    with pytest.raises(SkeletonError, match="node 'b' has no OKS 'sigma'"):
        Skeleton.from_dict(d)


def test_3d_compares_pck_and_error_without_oks() -> None:
    sk = Skeleton(["a", "b", "c"], [("a", "b"), ("b", "c")])
    a = AnnotationStore(sk, coord_ndim=3, frame_axis=None)
    t = a.add_track(1)
    t.coords[0] = [[0, 0, 0], [0, 10, 0], [0, 10, 10]]
    b = a.copy()
    b.tracks[1].coords[0, 2] += [0, 0, 1.0]  # 1 / diag(14.1) = 0.07
    ag = compare_stores(a, b, match="id")
    assert ag.oks is None and ag.per_node["a"]["oks"] is None
    assert ag.pck == {"0.05": pytest.approx(2 / 3), "0.1": 1.0}
    assert ag.mean_error == pytest.approx(1 / 3)
    with pytest.raises(KeyskelError, match="needs 2-D"):
        compare_stores(a, b)


def test_disagreement_flags() -> None:
    a, b = _pair(noise=0.0)
    b.tracks[2].coords[5, 3] += 40.0
    b.tracks[1].coords[8, 0] = np.nan
    del b.tracks[3]
    f = disagreement_flags(a, b)
    got = set(zip(f.frame.tolist(), f.track_id.tolist(), f.node.tolist()))
    assert got == {(5, 2, 3), (8, 1, 0)} | {(i, 3, -1) for i in range(40)}
    assert (f.score >= 1).all() and set(f.kind) == {"disagree"}


def test_compare_errors(tmp_path: Path, capsys) -> None:
    a, _ = _pair()
    pa = write(AnnotationSet([a]), tmp_path / "a.json", "coco")[0]
    other = Skeleton(["x", "y"], name="mouse")
    c = AnnotationStore(other, 2, 0, 40, name="mouse")
    c.add_track(1).coords[0] = [[1, 1], [2, 2]]
    pc = write(AnnotationSet([c]), tmp_path / "c.json", "coco")[0]
    assert main(["compare", str(pa), str(pc)]) == 1
    assert "share no node name" in capsys.readouterr().err
    assert main(["compare", str(pa), str(tmp_path / "missing.json")]) == 1
