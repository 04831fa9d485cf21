"""Review detectors on planted errors and clean smooth motion, review states, ``keyskel review``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _review_tracks import plant, smooth_store

from napari_keyskel.assist.review import KINDS, Thresholds, detect, detectors
from napari_keyskel.assist.review.states import (
    clear_state,
    get_state,
    open_flags,
    progress,
    set_state,
    state_of_flags,
)
from napari_keyskel.cli.main import main
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.keyframes import interpolate_all
from napari_keyskel.core.plain import store_from_plain, store_to_plain
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.errors import StoreError
from napari_keyskel.formats import read, write


def _triples(flags) -> set[tuple[int, int, int]]:
    return set(zip(flags.frame.tolist(), flags.track_id.tolist(), flags.node.tolist()))


@pytest.mark.parametrize("kind", ["swap", "jump", "bone", "identity", "missing"])
@pytest.mark.parametrize("seed", [0, 1])
def test_detectors_find_planted_errors(kind: str, seed: int) -> None:
    store = smooth_store(2000, 3, seed, noise=0.5)
    truth = plant(store, kind, 20, seed)
    found = _triples(detect(store).of_kinds([kind]))  # every detector ran; this kind's flags
    tp = len(found & truth)
    precision, recall = tp / max(len(found), 1), tp / len(truth)
    assert precision >= 0.9, (kind, precision, sorted(found - truth)[:5])
    assert recall >= 0.9, (kind, recall, sorted(truth - found)[:5])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_smooth_motion_is_rarely_flagged(seed: int) -> None:
    store = smooth_store(3000, 3, seed, noise=0.5)
    flags = detect(store)
    assert np.unique(flags.frame).size < 0.01 * 3000, flags.records(store.skeleton)[:5]
    # keys every 10th frame, the rest linearly interpolated: still quiet
    for t in store:
        off = np.arange(len(t)) % 10 != 0
        t.coords[off], t.is_key[off], t.visibility[off] = np.nan, False, 0
    interpolate_all(store, method="linear")
    assert np.isfinite(store.tracks[1].coords[5]).all()
    flags = detect(store)
    assert np.unique(flags.frame).size < 0.01 * 3000


def test_a_run_of_swapped_frames_is_flagged_whole() -> None:
    store = smooth_store(300, 1, 0)
    sk = store.skeleton
    i, j = sk.flip_pairs[0]
    t = store.tracks[1]
    t.coords[100:106, [i, j]] = t.coords[100:106, [j, i]].copy()
    flags = detect(store, ["swap"])
    assert _triples(flags) == {(f, 1, i) for f in range(100, 106)}
    assert (flags.other == j).all() and (flags.score >= 1).all()
    # the same swap from frame 100 to the end: where it begins
    t.coords[106:, [i, j]] = t.coords[106:, [j, i]].copy()
    assert set(detect(store, ["swap"]).frame.tolist()) == {100}


def test_identity_flags_both_tracks_and_explains_their_jumps() -> None:
    store = smooth_store(400, 2, 3)
    truth = plant(store, "identity", 1, 3)
    flags = detect(store)
    ident = flags.of_kinds(["identity"])
    assert _triples(ident) == truth
    assert set(ident.other.tolist()) == {1, 2}
    (f,) = {f for f, _, _ in truth}
    assert not ((flags.kind == "jump") & (flags.frame == f)).any()  # explained, not repeated
    assert (detect(store, ["jump"]).frame == f).any()  # a jump-only run still shows them


def test_low_score_flags_proposals_and_is_a_no_op_without_scores() -> None:
    store = smooth_store(50, 2, 0)
    assert not len(detect(store, ["low_score"]))
    t = store.tracks[2]
    t.score[:] = 0.9
    t.score[[3, 7], [1, 4]] = [0.2, 0.45]
    flags = detect(store, ["low_score"])
    assert _triples(flags) == {(3, 2, 1), (7, 2, 4)}
    assert flags.take(flags.frame == 3).score[0] == pytest.approx(0.5 / 0.2)
    assert not len(detect(store, ["low_score"], Thresholds(low_score=0.1)))


def test_missing_ignores_nodes_marked_occluded_or_unlabelled() -> None:
    store = smooth_store(20, 1, 0)
    t = store.tracks[1]
    t.coords[4, [0, 1, 2]] = np.nan
    t.visibility[4, 1] = 1  # occluded without a position
    t.visibility[4, [0, 2]] = 0
    t.is_key[4, 2] = True  # marked unlabelled (an unlabelled key)
    t.is_key[4, 0] = False
    t.coords[9] = np.nan  # a frame with nothing placed is not a keyed frame
    t.is_key[9] = False
    assert _triples(detect(store, ["missing"])) == {(4, 1, 0)}


def test_rerun_on_some_tracks_equals_the_full_run_for_them() -> None:
    store = smooth_store(600, 3, 1)
    for kind in ("jump", "swap", "bone"):
        plant(store, kind, 5, 7)
    plant(store, "identity", 2, 8)
    full = detect(store)
    part = detect(store, track_ids=[2])
    want = full.take(full.touching([2]))
    assert _triples(part) == _triples(want) and len(part) == len(want)
    # fixing a flagged node clears its flag on re-run
    jumps = full.of_kinds(["jump"]).take(full.of_kinds(["jump"]).track_id == 2)
    f, k = int(jumps.frame[0]), int(jumps.node[0])
    t = store.tracks[2]
    t.coords[f, k] = (t.coords[f - 1, k] + t.coords[f + 1, k]) / 2
    again = detect(store, track_ids=[2])
    assert (f, 2, k) not in _triples(again.of_kinds(["jump"]))


def test_thresholds_are_documented_and_unknown_kinds_refused() -> None:
    doc = detectors.__doc__
    rows = [line.split() for line in doc.splitlines() if line.startswith("``")]
    lines = {r[0]: r[1] for r in rows if len(r) > 1}
    for name in Thresholds.names():  # every threshold in the table, with its default
        assert float(lines[f"``{name}``"]) == getattr(Thresholds(), name), name
    with pytest.raises(ValueError, match="unknown flag kinds"):
        detect(smooth_store(10, 1), ["swapp"])
    assert set(KINDS) == {"swap", "jump", "bone", "identity", "missing", "low_score"}


def test_one_static_frame_and_an_empty_store() -> None:
    store = smooth_store(1, 2, 0)
    assert not len(detect(store))
    store.tracks.clear()
    assert not len(detect(store))


def test_states_set_get_clear_and_progress() -> None:
    store = smooth_store(200, 2, 0)
    plant(store, "jump", 3, 0)
    flags = detect(store)
    pairs = flags.frame_instances()
    assert progress(store, flags) == {"reviewed": 0, "flagged": len(pairs), "total": 400}
    (f0, t0), (f1, t1) = pairs[0].tolist(), pairs[1].tolist()
    set_state(store, f0, t0, "accepted", "fine as it is")
    set_state(store, f1, t1, "needs_fix")
    assert get_state(store, f0, t0) == {"state": "accepted", "comment": "fine as it is"}
    assert store.tracks[t0].meta["review"][str(f0)]["state"] == "accepted"
    assert progress(store, flags)["reviewed"] == 2
    st = state_of_flags(store, flags)
    assert set(st[(flags.frame == f0) & (flags.track_id == t0)]) == {"accepted"}
    n_open = len(open_flags(store, flags))
    assert len(open_flags(store, flags, strict=True)) > n_open
    clear_state(store, f0, t0)
    assert get_state(store, f0, t0) is None
    with pytest.raises(StoreError, match="review state must be one of"):
        set_state(store, f0, t0, "ok")
    with pytest.raises(StoreError, match="out of range"):
        set_state(store, 10_000, t0, "accepted")
    with pytest.raises(StoreError, match="no instance"):
        set_state(store, 1, 99, "accepted")


def _reviewed_store() -> object:
    store = smooth_store(60, 2, 0)
    set_state(store, 5, 1, "accepted", "checked")
    set_state(store, 7, 2, "rejected", "wrong animal — redo")
    set_state(store, 9, 1, "needs_fix")
    return store


def _states(store) -> dict:
    return {t.track_id: t.meta.get("review") for t in store}


def test_states_round_trip_plain_coco_and_darwin(tmp_path: Path) -> None:
    store = _reviewed_store()
    want = _states(store)
    assert want
    assert _states(store_from_plain(store_to_plain(store))) == want
    for fmt in ("coco", "darwin"):  # (a Darwin write also leaves the skeleton's side file)
        path = write(AnnotationSet([store]), tmp_path / f"r_{fmt}.json", fmt)[0]
        assert _states(read(path).stores[0]) == want, fmt
        again = write(read(path), tmp_path / f"r2_{fmt}.json", fmt)[0]
        assert _states(read(again).stores[0]) == want, fmt
    coco = write(AnnotationSet([store]), tmp_path / "x.json", "coco")[0]
    darwin = write(read(coco), tmp_path / "x_darwin.json", "darwin")[0]
    assert _states(read(darwin).stores[0]) == want  # across: COCO -> V7


def _run(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_cli_review_gates_on_unreviewed_flags(tmp_path: Path, capsys) -> None:
    store = smooth_store(300, 2, 0)
    truth = plant(store, "swap", 3, 0)
    (path,) = write(AnnotationSet([store]), tmp_path / "a.json", "coco")
    code, out = _run(capsys, "review", str(path), "--json")
    assert code == 1
    rows = json.loads(out)
    assert rows and all(set(r) == {"frame", "track_id", "node", "kind", "score"} for r in rows)
    swaps = {(r["frame"], r["track_id"], r["node"]) for r in rows if r["kind"] == "swap"}
    names = store.skeleton.nodes
    assert swaps == {(f, t, names[k]) for f, t, k in truth}
    code, out = _run(capsys, "review", str(path), "--json", "--kinds", "missing,low_score")
    assert (code, json.loads(out)) == (0, [])
    # review every flagged (frame, instance); one needs a fix: passes, unless --strict
    for i, (f, t) in enumerate(sorted({(r["frame"], r["track_id"]) for r in rows})):
        set_state(store, f, t, "needs_fix" if i == 0 else "accepted")
    (path,) = write(AnnotationSet([store]), tmp_path / "b.json", "coco")
    code, out = _run(capsys, "review", str(path))
    assert code == 0 and "0 unreviewed" in out and "[accepted]" in out
    code, out = _run(capsys, "review", str(path), "--strict")
    assert code == 1 and "unreviewed or needing a fix" in out
    assert main(["review", str(path), "--kinds", "swapp"]) == 2
    assert main(["review", str(path), "--threshold", "swap_gain=x"]) == 2
    assert main(["review", str(path), "--threshold", "swap_gain=100", "--kinds", "swap"]) == 0
    assert main(["review", str(tmp_path / "none.json")]) == 1


def test_every_kind_planted_in_one_store() -> None:
    """Recall per kind; precision: a flag of each kind points at some planted error."""
    store = smooth_store(3000, 3, 5, noise=0.5)
    truths = {"identity": plant(store, "identity", 3, 9, offset=20)}  # first: it moves the others
    for i, kind in enumerate(("swap", "jump", "bone", "missing")):
        truths[kind] = plant(store, kind, 20, i, offset=3 * i)
    planted = set().union(*truths.values())
    flags = detect(store)
    for kind, truth in truths.items():
        found = _triples(flags.of_kinds([kind]))
        recall = len(found & truth) / len(truth)
        precision = len(found & planted) / max(len(found), 1)
        assert precision >= 0.9 and recall >= 0.9, (kind, precision, recall, sorted(found - planted)[:5])


def test_cli_review_names_the_set_when_a_file_holds_several(tmp_path: Path, capsys) -> None:
    a = smooth_store(100, 1, 0)
    plant(a, "jump", 1, 0)
    b = smooth_store(100, 1, 1)
    b.name = "rat"
    b.skeleton = Skeleton(b.skeleton.nodes, b.skeleton.edges, b.skeleton.colors, b.skeleton.flip_pairs, "rat")
    plant(b, "missing", 2, 1)
    (path,) = write(AnnotationSet([a, b]), tmp_path / "two.json", "coco")
    code, out = _run(capsys, "review", str(path), "--json")
    rows = json.loads(out)
    assert code == 1 and {r["annotation_set"] for r in rows} == {"mouse", "rat"}
    assert {r["kind"] for r in rows if r["annotation_set"] == "rat"} == {"missing"}
