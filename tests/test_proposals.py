"""Accepting and rejecting proposals: matching by track id and OKS, scores kept, undoable."""

from __future__ import annotations

import numpy as np
import pytest

from napari_keyskel.assist.proposals import accept, reject, selection
from napari_keyskel.core import keyframes
from napari_keyskel.core.history import History
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import StoreError

SK = Skeleton(["head", "body", "tail"], [("head", "body"), ("body", "tail")], name="worm")
POSE = np.array([[10.0, 10.0], [20.0, 12.0], [30.0, 14.0]])
SHIFT = np.array([4.0, -3.0])


def _annotations():
    s = AnnotationStore(SK, 2, 0, n_frames=50)
    for tid, shift in ((7, 0.0), (8, 60.0)):
        s.add_track(tid, start=0, stop=21)
        s.set_points(0, tid, POSE + shift)
        s.set_points(20, tid, POSE + shift + 5.0)
    keyframes.interpolate_all(s, "linear")
    return s


def _proposals(entries):
    """entries: (track id, frame, pose, scores)."""
    p = AnnotationStore(SK, 2, 0, n_frames=50)
    for tid, f, pose, score in entries:
        if tid not in p.tracks:
            p.add_track(tid, start=f)
        p.set_points(f, tid, pose, score=score)
    return p


def test_accept_by_track_id_makes_keys_with_scores_and_reinterpolates():
    ann = _annotations()
    props = _proposals([(7, 10, POSE + SHIFT, [0.9, 0.8, 0.7])])
    res = accept(ann, props)
    t = ann.tracks[7]
    np.testing.assert_array_equal(t.coords[10], POSE + SHIFT)
    assert t.is_key[10].all()
    np.testing.assert_allclose(t.score[10], [0.9, 0.8, 0.7], rtol=1e-6)
    np.testing.assert_allclose(t.coords[5], (POSE + POSE + SHIFT) / 2)  # the span 0..10 re-filled
    assert res.targets == {(7, 10): 7} and res.count == 3 and res.created == []
    assert not np.isfinite(props.tracks[7].coords).any()  # accepted proposals leave the proposals
    assert np.isnan(ann.tracks[8].score).all()  # the other instance untouched


def test_accept_matches_by_oks_one_to_one_and_creates_unmatched():
    ann = _annotations()
    near8 = ann.tracks[8].coords[12] + 0.5
    near7 = ann.tracks[7].coords[12] - 0.5
    far = POSE + 200.0
    props = _proposals([(1, 12, near8, 0.9), (2, 12, near7, 0.9), (3, 12, far, 0.9)])
    res = accept(ann, props)
    assert res.targets[(1, 12)] == 8 and res.targets[(2, 12)] == 7
    assert res.created == [3] and res.targets[(3, 12)] == 3
    np.testing.assert_array_equal(ann.tracks[8].coords[12], near8)
    np.testing.assert_array_equal(ann.tracks[3].coords[12 - ann.tracks[3].start], far)


def test_unmatched_proposal_whose_id_is_taken_gets_a_new_id():
    ann = _annotations()
    props = _proposals([(9, 3, POSE + 300.0, None)])
    ann.add_track(9, start=30)  # id 9 exists: matched by id
    res = accept(ann, props, by_track_id=False)
    (new,) = res.created
    assert new not in (7, 8, 9) and res.targets[(9, 3)] == new


def test_threshold_node_and_frame_choices():
    ann = _annotations()
    props = _proposals(
        [(7, 5, POSE + 1.0, [0.9, 0.2, np.nan]), (7, 6, POSE + 2.0, 0.95), (8, 5, POSE + 61.0, 0.1)]
    )
    sel = selection(props, min_score=0.5)
    assert set(sel) == {7}
    np.testing.assert_array_equal(sel[7][0], [True, False, True])  # NaN passes, 0.2 does not
    res = accept(ann, props, frames=5, min_score=0.5)
    assert res.count == 2
    assert ann.tracks[7].is_key[5].tolist() == [True, False, True]
    assert not ann.tracks[7].is_key[6].any()  # frame 6 not chosen
    res = accept(ann, props, track_ids=7, nodes="tail")
    assert res.count == 1 and ann.tracks[7].is_key[6].tolist() == [False, False, True]
    assert np.isfinite(props.tracks[8].coords[0]).all()  # weak one left for a person to judge


def test_reject_removes_and_max_score_keeps_strong_ones():
    props = _proposals([(1, 4, POSE, [0.9, 0.2, 0.4]), (2, 4, POSE + 50, 0.8)])
    changes = reject(props, max_score=0.5)
    assert [c.track_id for c in changes] == [1]
    assert np.isfinite(props.tracks[1].coords[0]).tolist() == [[True, True], [False, False], [False, False]]
    reject(props, track_ids=2)
    assert not np.isfinite(props.tracks[2].coords).any()


def test_accept_is_one_undo_step():
    ann = _annotations()
    before = ann.to_dense()
    props = _proposals([(7, 10, POSE + 3.0, 0.9), (1, 12, ann.tracks[8].coords[12] + 0.2, 0.8)])
    history = History(ann)
    with history.edit("accept proposals"):
        res = accept(ann, props, remove=False)
    assert len(res.annotations) >= 2
    assert len(history) == 1
    history.undo()
    after = ann.to_dense()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])
    assert np.isfinite(props.tracks[7].coords).all()  # remove=False kept them


def test_bad_accepts_change_nothing():
    ann = _annotations()
    before = ann.to_dense()
    other = AnnotationStore(Skeleton(["a", "b", "c"]), 2, 0)
    other.add_track(1)
    other.set_points(0, 1, POSE)
    with pytest.raises(StoreError, match="nodes"):
        accept(ann, other)
    late = AnnotationStore(SK, 2, 0)
    late.add_track(7, start=60)
    late.set_points(60, 7, POSE)
    with pytest.raises(StoreError, match="out of range"):
        accept(ann, late)
    with pytest.raises(StoreError, match="no instance"):
        accept(ann, _proposals([(7, 1, POSE, 0.5)]), track_ids=99)
    after = ann.to_dense()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])
