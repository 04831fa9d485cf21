import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from napari_keyskel.assist.matching import COCO17_SIGMAS, box_area, default_sigmas, match_by_oks, oks_matrix


def _random_poses(rng, n, k, nan_frac=0.2):
    p = rng.uniform(10, 200, (n, k, 2))
    p[rng.random((n, k)) < nan_frac] = np.nan
    return p


def test_oks_agrees_with_pycocotools():
    """Our OKS matrix equals COCOeval.computeOks on the same poses (x, y order, box areas)."""
    rng = np.random.default_rng(3)
    k = 17
    gt = _random_poses(rng, 4, k)
    dt = gt[[2, 0, 3, 1]] + rng.normal(0, 4, (4, k, 2))
    dt = np.where(np.isfinite(dt), dt, rng.uniform(10, 200, dt.shape))  # predictions place every node
    areas = box_area(gt)

    def kps(p, nan_v):
        v = np.where(np.isfinite(p).all(-1), 2, nan_v)
        xy = np.nan_to_num(p)
        return np.concatenate([xy, v[..., None]], axis=-1).reshape(len(p), -1).tolist()

    cat = {"id": 1, "name": "person", "keypoints": [f"n{i}" for i in range(k)], "skeleton": []}
    anns = [
        {"id": i + 1, "image_id": 1, "category_id": 1, "keypoints": row, "num_keypoints": k,
         "area": float(areas[i]), "bbox": [0, 0, 10, 10], "iscrowd": 0}
        for i, row in enumerate(kps(gt, 0))
    ]  # fmt: skip
    doc = {"images": [{"id": 1, "width": 300, "height": 300, "file_name": "a.png"}],
           "annotations": anns, "categories": [cat]}  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = doc
        coco.createIndex()
        res = coco.loadRes(
            [{"image_id": 1, "category_id": 1, "keypoints": row, "score": 1.0 - 0.1 * j}
             for j, row in enumerate(kps(dt, 0))]
        )  # fmt: skip
        ev = COCOeval(coco, res, "keypoints")
        ev.params.kpt_oks_sigmas = COCO17_SIGMAS
        ev.evaluate()
    theirs = np.asarray(ev.ious[(1, 1)])  # (n_dt sorted by score, n_gt)
    ours = oks_matrix(gt, dt, COCO17_SIGMAS, areas).T
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    # a node the prediction lacks scores 0 (pycocotools would place it at (0, 0))
    lack = dt.copy()
    lack[0, 5] = np.nan
    both = np.isfinite(gt[2, 5]).all()
    drop = (
        oks_matrix(gt[2:3], dt[0:1], COCO17_SIGMAS)[0, 0]
        - oks_matrix(gt[2:3], lack[0:1], COCO17_SIGMAS)[0, 0]
    )
    assert (drop > 0) == both


def test_match_recovers_a_permutation_and_drops_poor_pairs():
    rng = np.random.default_rng(0)
    gt = _random_poses(rng, 5, 8, nan_frac=0.0) * 3
    perm = np.array([3, 0, 4, 1, 2])
    dt = gt[perm] + rng.normal(0, 0.5, (5, 8, 2))
    pairs = match_by_oks(gt, dt, default_sigmas([f"n{i}" for i in range(8)]))
    assert {(i, j) for i, j, _ in pairs} == {(int(perm[j]), j) for j in range(5)}
    assert all(s > 0.5 for *_, s in pairs)
    far = dt + 1000.0
    assert match_by_oks(gt, far, np.full(8, 0.05), min_oks=0.1) == []


def test_unlabelled_ground_truth_gives_nan_and_sigma_rules():
    gt = np.full((1, 3, 2), np.nan)
    assert np.isnan(oks_matrix(gt, np.zeros((1, 3, 2)), np.full(3, 0.05))).all()
    assert np.allclose(default_sigmas(["a", "b"]), 0.05)
    with pytest.raises(ValueError, match="positive"):
        default_sigmas(["a", "b"], [0.1, -1])
