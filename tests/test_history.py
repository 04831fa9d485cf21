"""Undo/redo of store edits (napari_keyskel.core.history)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_keyskel.core import keyframes as kf
from napari_keyskel.core.history import History
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import StoreError

N_FRAMES = 30


def _skeleton() -> Skeleton:
    return Skeleton(["head", "l_hand", "r_hand", "tail"], [(0, 1), (0, 2), (0, 3)], flip_pairs=[(1, 2)])


def _state(store: AnnotationStore) -> tuple:
    tracks = tuple(
        (
            t.track_id,
            t.name,
            t.start,
            repr(sorted(t.meta.items())),
            np.nan_to_num(t.coords, nan=-1e9).tobytes(),
            t.visibility.tobytes(),
            t.is_key.tobytes(),
            t.alive.tobytes(),
            np.nan_to_num(t.score, nan=-1.0).tobytes(),
        )
        for t in store.tracks.values()
    )
    return (tracks, store.method, store.bridge_unlabelled, store.skeleton, repr(store.meta))


def _assert_same(a: tuple, b: tuple) -> None:
    assert [t[:4] for t in a[0]] == [t[:4] for t in b[0]]
    assert a == b


def _base_store() -> AnnotationStore:
    store = AnnotationStore(_skeleton(), coord_ndim=2, frame_axis=0, n_frames=N_FRAMES)
    store.add_track(start=2, stop=5)
    kf.set_pose(store, 2, 1, np.arange(8.0).reshape(4, 2))
    return store


# one random edit: (kind, frame, node, x, y, choice)
edit_st = st.tuples(
    st.sampled_from(
        [
            "add",
            "remove",
            "move",
            "pose",
            "delete",
            "vis",
            "mirror",
            "copy",
            "dead",
            "interp",
            "rename",
            "meta",
            "store_meta",
            "score",
        ]
    ),
    st.integers(0, N_FRAMES - 1),
    st.integers(0, 3),
    st.floats(0, 100, allow_nan=False, width=32),
    st.floats(0, 100, allow_nan=False, width=32),
    st.integers(0, 5),
)


def _do(store: AnnotationStore, edit: tuple) -> list[int]:
    """Apply one edit; returns the track ids it may touch (raises StoreError when refused)."""
    kind, f, node, x, y, c = edit
    ids = store.track_ids
    tid = ids[c % len(ids)] if ids else None
    if kind == "add" or tid is None:
        t = store.add_track(start=f, stop=min(f + 1 + c, N_FRAMES))
        kf.move_node(store, f, t.track_id, node, (y, x))
        return [t.track_id]
    if kind == "remove":
        store.remove_track(tid)
    elif kind == "move":
        kf.move_node(store, f, tid, node, (y, x), visibility=1 + c % 2)
    elif kind == "pose":
        pose = np.array([[y, x], [y + 1, x], [y, x + 1], [y + 2, x + 2]])
        vis = np.array([2, 1, 0, 2])[np.roll(np.arange(4), c)]
        kf.set_pose(store, f, tid, pose, vis)
    elif kind == "delete":
        kf.delete_key(store, f, tid, None if c % 2 else node)
    elif kind == "vis":
        kf.set_visibility(store, f, tid, node, c % 3)
    elif kind == "mirror":
        kf.mirror_pose(store, f, tid)
    elif kind == "copy":
        kf.copy_previous_pose(store, f, tid)
    elif kind == "dead":
        store.set_alive(tid, f, min(f + 1 + c, N_FRAMES), bool(c % 2))
    elif kind == "interp":
        kf.interpolate_all(store, method=["linear", "cubic", "hold"][c % 3], bridge_unlabelled=c > 3)
    elif kind == "rename":
        store.tracks[tid].name = f"animal {c}"
    elif kind == "meta":
        store.tracks[tid].meta["note"] = [c, f]
    elif kind == "store_meta":
        store.meta["frames_seen"] = f
    elif kind == "score":
        store.set_points(f, tid, [(y, x)], nodes=node, score=c / 5.0)
    return [tid]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(edit_st, min_size=1, max_size=14), st.integers(0, 2))
def test_undo_all_then_redo_all(edits, mode):
    store = _base_store()
    history = History(store)
    original = _state(store)
    states = [original]
    for i, e in enumerate(edits):
        before = _state(store)
        style = (mode + i) % 3
        try:
            if style == 0:  # the block knows nothing: every track is compared
                with history.edit(e[0]):
                    _do(store, e)
            elif style == 1:  # a hint of the tracks (created / removed ones are always found)
                tid = store.track_ids[e[5] % len(store)] if len(store) else None
                hint = [] if tid is None else [tid]
                if e[0] == "interp":  # the one edit that touches every track: hint them all
                    hint = store.track_ids
                with history.edit(e[0], tracks=hint):
                    _do(store, e)
            else:  # a block spanning events: each track is named (touched) before it is written
                tid = store.track_ids[e[5] % len(store)] if len(store) else None
                history.begin([])
                try:
                    history.touch(store.track_ids if e[0] == "interp" else [] if tid is None else [tid])
                    _do(store, e)
                except StoreError:
                    history.end(e[0], rollback=True)
                    raise
                history.end(e[0])
        except StoreError:
            _assert_same(_state(store), before)  # rolled back / refused before writing
            continue
        if _state(store) != states[-1]:
            states.append(_state(store))
    final = _state(store)
    assert len(history) == len(states) - 1
    # undo step by step passes through every intermediate state
    for expect in reversed(states[:-1]):
        ids_now = {t[0] for t in _state(store)[0]}
        changes = history.undo()
        assert {c.track_id for c in changes} <= ids_now | {t[0] for t in expect[0]}
        _assert_same(_state(store), expect)
    assert not history.can_undo and history.undo() == []
    _assert_same(_state(store), original)
    for expect in states[1:]:
        history.redo()
        _assert_same(_state(store), expect)
    assert not history.can_redo
    _assert_same(_state(store), final)


def test_step_keeps_only_changed_cells():
    sk = Skeleton([f"n{i}" for i in range(17)])
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=10_000)
    store.add_track(start=0, stop=10_000)
    rng = np.random.default_rng(0)
    for f in range(0, 10_000, 500):
        kf.set_pose(store, f, 1, rng.uniform(0, 500, (17, 2)))
    history = History(store)
    track_bytes = store.nbytes()
    with history.edit("move one node", tracks=[1]):
        changes = kf.move_node(store, 1234, 1, "n3", (5.0, 6.0))
    step_bytes = history.nbytes()
    assert 0 < step_bytes < track_bytes / 100  # ~1000 frames x 1 node, not the whole block
    assert history.undo_label == "move one node"
    undone = history.undo()
    (c,) = undone
    assert c.track_id == 1 and c.nodes == (3,)
    assert (c.start, c.stop) == (1001, 1500)  # the frames strictly between the keys 1000 and 1500
    assert changes[0].start <= c.start and c.stop <= changes[0].stop


def test_growth_undo_restores_block_and_identity():
    store = _base_store()
    t = store.tracks[1]
    history = History(store)
    with history.edit("far key"):
        kf.move_node(store, 20, 1, "tail", (3.0, 3.0))
    assert (t.start, t.stop) == (2, 21)
    history.undo()
    assert store.tracks[1] is t and (t.start, t.stop) == (2, 5)
    assert t.coords.shape == (3, 4, 2)
    history.redo()
    assert (t.start, t.stop) == (2, 21) and t.is_key[18, 3]


def test_rollback_on_error_and_no_empty_steps():
    store = _base_store()
    history = History(store)
    before = _state(store)
    with pytest.raises(StoreError), history.edit("half done"):
        kf.move_node(store, 3, 1, "head", (9.0, 9.0))
        store.add_track(start=0)
        kf.move_node(store, 99, 1, "head", (9.0, 9.0))  # out of range: fails after two writes
    _assert_same(_state(store), before)
    assert not history.can_undo
    with history.edit("nothing"):
        pass
    assert not history.can_undo


def test_new_edit_clears_redo_and_bound():
    store = _base_store()
    history = History(store, max_steps=3)
    for i in range(5):
        with history.edit(f"move {i}"):
            kf.move_node(store, 2, 1, "head", (float(i), 0.0))
    assert len(history) == 3
    history.undo()
    assert history.can_redo and history.redo_label == "move 4"
    with history.edit("other"):
        kf.move_node(store, 3, 1, "tail", (1.0, 1.0))
    assert not history.can_redo
    for _ in range(3):
        history.undo()
    assert not history.can_undo
    # the oldest kept step starts from the state after "move 1"
    assert store.tracks[1].coords[0, 0].tolist() == [1.0, 0.0]


def test_nested_blocks_merge_and_unrecorded_edits_stay():
    store = _base_store()
    history = History(store)
    with history.edit("outer", tracks=[1]):
        kf.move_node(store, 2, 1, "head", (50.0, 50.0))
        with history.edit("inner"):
            t = store.add_track(start=4)
            kf.move_node(store, 4, t.track_id, "head", (1.0, 1.0))
    assert len(history) == 1 and history.undo_label == "outer"
    store.tracks[1].name = "renamed, not recorded"
    history.undo()  # reverts the block's cells only
    assert 2 not in store.tracks and store.tracks[1].coords[0, 0].tolist() == [0.0, 1.0]
    assert store.tracks[1].name == "renamed, not recorded"
    history.redo()
    assert store.tracks[1].coords[0, 0].tolist() == [50.0, 50.0] and 2 in store.tracks
    with pytest.raises(StoreError, match="outside"):
        history.touch([1])
    with pytest.raises(StoreError, match="after the fact is not supported"):  # a clear refusal
        history.commit("after the fact")


def test_history_holds_diffs_not_a_copy_of_the_store():
    store = AnnotationStore(_skeleton(), coord_ndim=2, frame_axis=0, n_frames=5000)
    for tid in (1, 2, 3):
        store.add_track(tid, start=0, stop=5000)
        for f in range(0, 5000, 50):
            kf.set_pose(store, f, tid, np.full((4, 2), float(tid + f)))
    store.tracks[2].score[:] = 0.5
    history = History(store)
    assert history.nbytes() == 0  # no shadow copy of the store
    for i in range(20):
        with history.edit(f"move {i}", tracks=[1 + i % 3]):
            kf.move_node(store, 25 + i, 1 + i % 3, "head", (1.0, float(i)))
    assert 0 < history.nbytes() <= 0.2 * store.nbytes()
    scores = store.tracks[2].score.copy()
    assert np.isnan(scores[26, 0]) and scores[25, 0] == 0.5  # a person's key has no score
    with history.edit("removed", tracks=[]):  # a removed track is found without a hint
        store.remove_track(2)
    history.undo()
    assert 2 in store.tracks and np.array_equal(store.tracks[2].score, scores, equal_nan=True)
    for _ in range(20):
        history.undo()
    assert store.tracks[1].coords[25, 0].tolist() == [26.0, 26.0]  # interpolated again
    assert np.all(store.tracks[2].score[:, 1:] == 0.5) and store.tracks[2].score[26, 0] == 0.5


def test_skeleton_changes_are_undoable():
    from napari_keyskel.core import skeleton_edit as se

    store = _base_store()
    history = History(store)
    before = _state(store)
    with history.edit("remove node"):
        se.remove_node(store, "l_hand")
    assert store.n_nodes == 3 and store.tracks[1].coords.shape[1] == 3
    history.undo()
    _assert_same(_state(store), before)
    history.redo()
    assert store.skeleton.nodes == ("head", "r_hand", "tail")


def test_history_needs_a_store():
    with pytest.raises(StoreError, match="AnnotationStore"):
        History(object())  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="max_steps"):
        History(_base_store(), max_steps=0)


def test_narrowed_steps_equal_whole_track_steps():
    rng = np.random.default_rng(1)
    stores = [_base_store(), _base_store()]
    hists = [History(s) for s in stores]
    for _ in range(40):
        f, node = int(rng.integers(0, N_FRAMES)), int(rng.integers(0, 4))
        xy = tuple(rng.uniform(0, 50, 2))
        for narrow, (s, h) in enumerate(zip(stores, hists)):
            with h.edit("move", tracks=[1]):
                changes = kf.move_node(s, f, 1, node, xy)
                if narrow:
                    h.narrow(changes)  # compare only the frames the edit reports
    assert len(hists[0]) == len(hists[1]) == 40
    for h0, h1 in zip(hists[0]._undo, hists[1]._undo):
        (d0,), (d1,) = h0.diffs, h1.diffs
        assert d0.rows.tolist() == d1.rows.tolist() and d0.cols.tolist() == d1.cols.tolist()
    states = [_state(stores[1])]
    while hists[1].can_undo:
        hists[1].undo()
        hists[0].undo()
        _assert_same(_state(stores[1]), _state(stores[0]))
        states.append(_state(stores[1]))
    _assert_same(states[-1], _state(_base_store()))
