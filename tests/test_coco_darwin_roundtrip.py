"""Property tests: random stores survive COCO and V7 Darwin, alone and across, byte-stably.

Random stores (1-30 nodes with unicode names, 1-20 instances, 1-500 frames, random visibility,
keys and unlabelled keys, lifespan gaps, scores, edge coordinates, track names and JSON meta)
are written and read back; the store read must equal the store written, and writing it again
must give the same bytes (issue 10, items 6-10).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_keyskel import AnnotationSet, AnnotationStore, Skeleton
from napari_keyskel.core.store import Track
from napari_keyskel.formats.coco import read_coco, write_coco
from napari_keyskel.formats.darwin import read_darwin, write_darwin

_SETTINGS = settings(
    max_examples=int(os.environ.get("KEYSKEL_PROPERTY_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
_NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=6).filter(str.strip)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
#: Coordinates at the image's edges (Darwin -0.5 is x = 0) and inside it.
_EDGE = [0.0, -0.5, 0.5, 639.5, 639.0, 479.5, 1e-7, 123.456789]


@st.composite
def skeletons(draw: st.DrawFn) -> Skeleton:
    names = draw(st.lists(_NAME, min_size=1, max_size=30, unique=True))
    k = len(names)
    pairs = draw(st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), max_size=k))
    edges = list(dict.fromkeys(tuple(sorted(p)) for p in pairs if p[0] != p[1]))
    perm = draw(st.permutations(range(k)))
    flips = [(perm[i], perm[i + 1]) for i in range(0, draw(st.integers(0, k // 2)) * 2, 2)]
    colors = draw(
        st.one_of(
            st.none(), st.lists(st.sampled_from(["#ff0000", "#00ff00", "#123456"]), min_size=k, max_size=k)
        )
    )
    return Skeleton(names, edges, colors, flips, name=draw(_NAME))


@st.composite
def stores(draw: st.DrawFn) -> AnnotationSet:
    sk = draw(skeletons())
    k = sk.n_nodes
    n_frames = draw(st.integers(1, 500))
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=n_frames, name=sk.name)
    store.meta["tool"] = draw(st.dictionaries(st.text(max_size=4), _JSON, max_size=2))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_tracks = draw(st.integers(1, 20))
    ids = draw(st.lists(st.integers(0, 10**6), min_size=n_tracks, max_size=n_tracks, unique=True))
    for tid in ids:
        a = int(rng.integers(0, n_frames))
        b = int(rng.integers(a + 1, min(n_frames, a + 40) + 1))
        length = b - a
        alive = rng.random(length) < 0.85
        alive[0] = alive[-1] = True
        state = rng.choice(
            4, size=(length, k), p=[0.3, 0.35, 0.2, 0.15]
        )  # absent, key, interp, unlabelled key
        state[~alive] = 0
        if not (state[alive] != 0).any():
            state[0, 0] = 1
        lab = (state == 1) | (state == 2)
        coords = np.where(lab[..., None], rng.uniform(-0.5, 640, (length, k, 2)).round(3), np.nan)
        edge = rng.random((length, k, 2)) < 0.1
        coords = np.where(edge & lab[..., None], rng.choice(_EDGE, (length, k, 2)), coords)
        vis = np.where(lab, rng.choice([1, 2], (length, k)), 0).astype(np.int8)
        key = (state == 1) | (state == 3)
        score = np.where(lab & (rng.random((length, k)) < 0.3), rng.random((length, k)), np.nan).astype(
            np.float32
        )
        name = draw(st.one_of(st.just(f"instance {tid}"), _NAME))
        meta = {"review": {str(a): {"state": "ok", "comment": draw(st.text(max_size=8))}}, "x": draw(_JSON)}
        store.tracks[tid] = Track(tid, name, a, coords, vis, key, alive, meta, score)
    frames = [{"item": "clip.mp4", "frame": f} for f in range(n_frames)]
    return AnnotationSet(stores=[store], frames=frames)


def _foreign(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in ("coco", "darwin")}


def dense(t: Track, n: int) -> dict[str, np.ndarray]:
    """A track's arrays over all ``n`` frames (outside its block: dead and empty)."""
    k = t.coords.shape[1]
    out = {
        "coords": np.full((n, k, 2), np.nan),
        "visibility": np.zeros((n, k), np.int8),
        "is_key": np.zeros((n, k), bool),
        "alive": np.zeros(n, bool),
        "score": np.full((n, k), np.nan, np.float32),
    }
    for name, arr in out.items():
        arr[t.start : t.stop] = getattr(t, name)
    return out


def assert_same_store(a: AnnotationStore, b: AnnotationStore, n: int) -> None:
    assert b.name == a.name
    assert b.skeleton.nodes == a.skeleton.nodes
    assert set(b.skeleton.edges) == set(a.skeleton.edges)
    assert b.skeleton.colors == a.skeleton.colors
    assert {frozenset(p) for p in b.skeleton.flip_pairs} == {frozenset(p) for p in a.skeleton.flip_pairs}
    assert _foreign(b.meta) == _foreign(a.meta)
    assert sorted(b.tracks) == sorted(a.tracks)
    for tid, ta in a.tracks.items():
        tb = b.tracks[tid]
        assert tb.name == ta.name, tid
        assert _foreign(tb.meta) == _foreign(ta.meta), tid
        da, db = dense(ta, n), dense(tb, n)
        np.testing.assert_allclose(db["coords"], da["coords"], atol=1e-9, rtol=0, err_msg=f"track {tid}")
        for name in ("visibility", "is_key", "alive"):
            np.testing.assert_array_equal(db[name], da[name], err_msg=f"track {tid}: {name}")
        np.testing.assert_array_equal(db["score"], da["score"], err_msg=f"track {tid}: score")


def _bytes(paths: list[Path]) -> list[bytes]:
    return [p.read_bytes() for p in paths]


@_SETTINGS
@given(ds=stores())
def test_random_store_through_darwin(tmp_path_factory, ds: AnnotationSet) -> None:
    tmp = tmp_path_factory.mktemp("darwin")
    first = write_darwin(ds, tmp / "a.json")
    back = read_darwin(tmp / "a.json")
    assert_same_store(ds.stores[0], back.stores[0], ds.n_frames)
    second = write_darwin(back, tmp / "b.json")
    assert _bytes(first[:1]) == _bytes(second[:1])  # write -> read -> write is byte-stable


@_SETTINGS
@given(ds=stores())
def test_random_store_through_coco(tmp_path_factory, ds: AnnotationSet) -> None:
    tmp = tmp_path_factory.mktemp("coco")
    first = write_coco(ds, tmp / "a.json")
    back = read_coco(tmp / "a.json")
    assert_same_store(ds.stores[0], back.stores[0], ds.n_frames)
    second = write_coco(back, tmp / "b.json")
    assert _bytes(first) == _bytes(second)


@_SETTINGS
@given(ds=stores())
def test_random_store_across_formats(tmp_path_factory, ds: AnnotationSet) -> None:
    tmp = tmp_path_factory.mktemp("across")
    write_darwin(ds, tmp / "d.json", skeleton_file=False)
    via_coco = read_coco(write_coco(read_darwin(tmp / "d.json"), tmp / "c.json")[0])
    assert_same_store(ds.stores[0], via_coco.stores[0], ds.n_frames)
    write_darwin(via_coco, tmp / "d2.json", skeleton_file=False)  # Darwin -> COCO -> Darwin
    again = read_darwin(tmp / "d2.json")
    assert_same_store(ds.stores[0], again.stores[0], ds.n_frames)
    assert (
        json.loads((tmp / "d2.json").read_text())["annotations"]
        == json.loads((tmp / "d.json").read_text())["annotations"]
    )


def extras_dataset() -> AnnotationSet:
    """A small store using everything V7 and COCO cannot hold on their own (also used elsewhere)."""
    sk = Skeleton(
        ["a", "b", "c"], [(0, 1)], colors=["#ff0000", "#00ff00", "#0000ff"], flip_pairs=[(1, 2)], name="m"
    )
    s = AnnotationStore(sk, n_frames=11, name="m")
    s.add_track(1, name="Mouse A", start=0, stop=11, meta={"review": {"3": {"state": "ok", "comment": "é"}}})
    s.set_points(0, 1, [[1.0, 2.0]] * 3)
    s.set_points(10, 1, [[5.0, 6.0]] * 3, score=[0.5, 0.25, 0.125])
    s.mark_unlabelled(5, 1, "b")  # "not here": interpolation must end at it
    s.set_points(7, 1, [[3.0, 3.0]], nodes="a", key=False)  # an interpolated node ...
    s.set_points(7, 1, [[4.0, 4.0]], nodes="c")  # ... beside one keyed node on the same frame
    s.add_track(0, start=2, stop=9)
    s.set_points(2, 0, [[9.0, 9.0]] * 3)
    s.set_alive(0, 4, 6, False)  # a lifespan gap
    s.set_points(8, 0, [[8.0, 8.0]] * 3, visibility=[2, 1, 2])
    return AnnotationSet(stores=[s], frames=[{"item": "v", "frame": f} for f in range(11)])


def test_unlabelled_key_and_per_node_keys_survive_both(tmp_path: Path) -> None:
    """Items 6-9 on one hand-made store (so a failure reads plainly)."""
    ds = extras_dataset()
    s = ds.stores[0]
    t = s.tracks[1]
    for write, read in ((write_darwin, read_darwin), (write_coco, read_coco)):
        back = read(write(ds, tmp_path / f"{write.__name__}.json")[0]).stores[0].tracks[1]
        assert back.is_key[5, 1] and back.visibility[5, 1] == 0 and np.isnan(back.coords[5, 1]).all()
        assert not back.is_key[5, 0] and np.isnan(back.coords[5, 0]).all()  # absent, not "not here"
        np.testing.assert_array_equal(back.is_key[7], [False, False, True])
        np.testing.assert_array_equal(back.is_key[0], [True, True, True])
    for write, read in ((write_darwin, read_darwin), (write_coco, read_coco)):  # item 8 and scores
        back = read(write(ds, tmp_path / f"all_{write.__name__}.json", skeleton_file=False)[0])
        assert_same_store(s, back.stores[0], 11)
    # a node missing from a V7 keyframe, with no extra, is an unlabelled key (FORMATS.md)
    doc = json.loads((tmp_path / "write_darwin.json").read_text())
    frames = next(a for a in doc["annotations"] if a["instance_id"]["value"] == 1)["frames"]
    assert [n["name"] for n in frames["5"]["skeleton"]["nodes"]] == [] and frames["5"]["keyframe"]
    assert t.score.dtype == np.float32 and math.isnan(float(t.score[0, 0]))
