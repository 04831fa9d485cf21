"""Results lists as proposals: accept by score (node, else instance), kp0..kpK through the mapping."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from napari_keyskel import formats
from napari_keyskel.assist import proposals as prop
from napari_keyskel.assist.models import save_mapping
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import FormatWarning, StoreError

SK = Skeleton(["head", "body", "tail", "left", "right"], name="worm")
RNG = np.random.default_rng(7)


def results_list(n=60, third="visibility", n_frames=20):
    """A standard COCO results list: no categories, 5 keypoints, scores spread over 0.3..0.99."""
    out = []
    for i in range(n):
        kp = []
        for _ in range(5):
            v = 2 if third == "visibility" else round(float(RNG.uniform(0.05, 1.0)), 3)
            kp += [round(float(RNG.uniform(0, 90)), 2), round(float(RNG.uniform(0, 90)), 2), v]
        score = round(0.3 + 0.69 * i / (n - 1), 4)
        out.append({"image_id": i % n_frames, "category_id": 1, "keypoints": kp, "score": score})
    return out


def annotations(n_frames=20):
    s = AnnotationStore(SK, 2, 0, n_frames, name="worm")
    s.add_track(1, start=0)
    s.set_points(0, 1, np.full((5, 2), 500.0))
    return s


def read_list(tmp_path, rows):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(rows))
    return formats.read(path), path


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.81, 0.99])
def test_accept_all_at_a_score_takes_only_instances_scored_that_much(tmp_path, threshold):
    rows = results_list()
    ds, path = read_list(tmp_path, rows)
    props = prop.proposals_from_dataset(annotations(), ds, source=str(path))
    ann = annotations()
    res = prop.accept(ann, props, min_score=threshold)
    want = sum(5 for r in rows if r["score"] >= threshold)
    assert 0 < want < 5 * len(rows) or threshold == 0.3
    assert res.count == want  # not all of them: the instance score gates nodes without their own
    left = sum(int(np.isfinite(t.coords[..., 0]).sum()) for t in props)
    assert left == 5 * len(rows) - want
    kept = np.concatenate([t.score[t.is_key] for t in ann])
    assert np.nanmin(kept) >= threshold  # accepted nodes carry their instance's score


def test_node_scores_gate_before_instance_scores(tmp_path):
    rows = results_list(n=30, third="confidence")
    ds, path = read_list(tmp_path, rows)
    props = prop.proposals_from_dataset(annotations(), ds, source=str(path))
    res = prop.accept(annotations(), props, min_score=0.6)
    assert res.count == sum(1 for r in rows for v in r["keypoints"][2::3] if v >= 0.6)
    picked = prop.selection(props, min_score=0.6)
    assert sum(int(m.sum()) for m in picked.values()) == 0  # all accepted ones left the proposals


def test_a_node_with_no_score_at_all_still_passes():
    p = AnnotationStore(SK, 2, 0, 5)
    p.add_track(4, start=1)
    p.set_points(1, 4, np.ones((5, 2)))  # a Darwin-like proposal: no scores anywhere
    assert prop.selection(p, min_score=0.9)[4].sum() == 5


def test_a_results_list_with_generic_nodes_opens_by_order_and_pairs_frames_by_number(tmp_path):
    rows = results_list(n=4, third="confidence", n_frames=4)
    ds, path = read_list(tmp_path, rows)
    assert ds.stores[0].skeleton.nodes == ("kp0", "kp1", "kp2", "kp3", "kp4")
    with pytest.raises(StoreError, match=r"proposals have nodes \['kp0'"):
        prop.check_compatible(annotations(), ds.stores[0])  # what was refused before
    props = prop.proposals_from_dataset(annotations(), ds, source=str(path))
    prop.check_compatible(annotations(), props)
    assert all(tid > 1 for tid in props.tracks)  # results have no identities: fresh ids
    for r in rows:
        f = r["image_id"]
        (t,) = [t for t in props if t.start <= f < t.stop and np.isfinite(t.coords[f - t.start]).any()]
        xy = np.reshape(r["keypoints"], (5, 3))
        np.testing.assert_allclose(t.coords[f - t.start], xy[:, [1, 0]], atol=1e-9)
        np.testing.assert_allclose(t.score[f - t.start], xy[:, 2], atol=1e-6)


def test_an_explicit_mapping_saved_with_the_annotations_is_used(tmp_path):
    rows = results_list(n=2, third="confidence", n_frames=2)
    ds, path = read_list(tmp_path, rows)
    ann = annotations()
    save_mapping(ann.meta, {"head": "kp4", "tail": "kp0"})
    props = prop.proposals_from_dataset(ann, ds, source=str(path))
    t = next(iter(props))
    xy = np.reshape(rows[0]["keypoints"], (5, 3))
    np.testing.assert_allclose(t.coords[0, 0], xy[4, [1, 0]])  # head <- kp4
    np.testing.assert_allclose(t.coords[0, 2], xy[0, [1, 0]])  # tail <- kp0
    assert not np.isfinite(t.coords[0, [1, 3, 4]]).any()  # body, left, right: no keypoint
    other = Skeleton(["a", "b"], name="other")
    bad = AnnotationStore(other, 2, 0, 20, name="worm")
    with pytest.raises(StoreError, match="match none of the skeleton's 2 nodes"):
        prop.proposals_from_dataset(bad, ds, source=str(path))


def test_image_ids_pair_with_the_annotations_images_and_others_are_counted(tmp_path):
    ann = annotations(3)
    frames = [{"item": f"img{i}.png", "frame": 0, "image_id": 100 + i} for i in range(3)]
    rows = [
        {"image_id": 102, "category_id": 1, "keypoints": [5, 6, 0.9] * 5, "score": 0.9},
        {"image_id": 999, "category_id": 1, "keypoints": [5, 6, 0.9] * 5, "score": 0.9},
    ]
    ds, path = read_list(tmp_path, rows)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        props = prop.proposals_from_dataset(ann, ds, frames, source=str(path))
    (t,) = list(props)
    assert t.start == 2 and np.isfinite(t.coords[0]).all()
    assert any(
        isinstance(w.message, FormatWarning) and "1 poses are on frames" in str(w.message) for w in caught
    )
    with pytest.raises(StoreError, match="none of its 1 poses"):
        prop.proposals_from_dataset(ann, read_list(tmp_path, rows[1:])[0], frames, source=str(path))


def test_results_of_consecutive_frames_link_into_instances(tmp_path):
    rows = []
    for f in range(5):
        for k, x0 in enumerate((10.0, 60.0)):
            kp = [v for j in range(5) for v in (x0 + j + f, 20.0 + j, 0.8)]
            rows.append({"image_id": f, "category_id": 1, "keypoints": kp, "score": 0.8 + 0.01 * k})
    ds, path = read_list(tmp_path, rows)
    props = prop.proposals_from_dataset(annotations(5), ds, source=str(path))
    assert len(props.tracks) == 2 and all((t.start, t.stop) == (0, 5) for t in props)


def test_with_image_ids_reads_the_ids_keyskel_wrote(tmp_path):
    s = annotations(3)
    frames = [{"item": f"img{i}.png", "frame": 0, "width": 90, "height": 90} for i in range(3)]
    formats.write(AnnotationSet([s], frames=frames), tmp_path / "gt.json", "coco")
    back = formats.read(tmp_path / "gt.json")
    assert "image_id" not in back.frames[0]  # a file keyskel made forgets its made-up ids
    ids = [im["id"] for im in json.loads((tmp_path / "gt.json").read_text())["images"]]
    assert [fr["image_id"] for fr in prop.with_image_ids(back.frames, tmp_path / "gt.json")] == ids
