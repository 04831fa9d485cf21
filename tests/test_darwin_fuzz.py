"""Fuzzing the Darwin reader with mutated real V7 exports: only FormatError (or success) escapes.

Also: random stores (gaps, occluded and unlabelled nodes, mixed keys) written and read back.

Each example picks places in a real file's JSON tree and deletes a key, changes a value's type
(string, None, NaN, list, object, bool, huge number), or truncates the file's text. Whatever
read_darwin accepts must also write and read back without any other kind of error.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import FormatError
from napari_keyskel.formats.darwin import read_darwin, write_darwin

DATA = Path(__file__).parent / "data"
SAMPLES = sorted(DATA.glob("darwin2_*.json"))
REPLACEMENTS = [None, "7", "", "x", math.nan, math.inf, [], [1, 2], {}, {"x": 1}, True, False, -1, 0, 2.5]
REPLACEMENTS += [10**30, 1e300]


def places(obj: Any, path: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indices) into a JSON tree."""
    out = [path]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += places(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:6]):  # long lists (URLs, RLE) add nothing but size
            out += places(v, (*path, i))
    return out


def mutate(doc: Any, path: tuple, op: str, value: Any) -> Any:
    value = copy.deepcopy(value)
    if not path:
        return value if op == "replace" else doc
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    last = path[-1]
    if op == "delete":
        del parent[last]
    elif op == "rename" and isinstance(parent, dict):
        parent[f"{last}_renamed"] = parent.pop(last)
    else:
        parent[last] = value
    return doc


def check(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "in.json"
        p.write_text(text)
        try:
            ds = read_darwin(p)
        except FormatError as exc:
            assert str(p) in str(exc)
            return
        try:
            written = write_darwin(ds, Path(tmp) / "out")
        except FormatError:
            return
        read_darwin(written[0])


mutation = st.tuples(
    st.sampled_from(["delete", "replace", "rename"]),
    st.sampled_from(REPLACEMENTS),
    st.integers(min_value=0, max_value=10**9),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.sampled_from(SAMPLES), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_samples_raise_only_format_error(sample, mutations):
    doc = json.loads(sample.read_text())
    for op, value, pick in mutations:
        paths = places(doc)
        # favour places inside annotations, where the reader does most of its work
        inside = [p for p in paths if p[:1] == ("annotations",)] or paths
        pool = inside if pick % 4 else paths
        doc = mutate(doc, pool[pick % len(pool)], op, value)
    check(json.dumps(doc, allow_nan=True))


@settings(max_examples=60, deadline=None)
@given(sample=st.sampled_from(SAMPLES), cut=st.floats(min_value=0.0, max_value=1.0))
def test_truncated_text_raises_format_error(sample, cut):
    text = sample.read_text()
    check(text[: int(len(text) * cut)])


def random_store(seed: int) -> tuple[AnnotationStore, list[dict[str, Any]]]:
    """A store of random tracks: gaps in the lifespan, occluded / unlabelled nodes, mixed keys."""
    rng = np.random.default_rng(seed)
    n_frames, k = int(rng.integers(1, 25)), int(rng.integers(1, 6))
    store = AnnotationStore(Skeleton([f"n{i}" for i in range(k)]), n_frames=n_frames, name="rand")
    for _ in range(int(rng.integers(0, 4))):
        start = int(rng.integers(0, n_frames))
        stop = int(rng.integers(start + 1, n_frames + 1))
        t = store.add_track(start=start, stop=stop)
        shape = (stop - start, k)
        t.visibility[:] = rng.choice([0, 1, 2], size=shape, p=[0.2, 0.2, 0.6])
        t.coords[:] = np.where((t.visibility > 0)[..., None], rng.uniform(-0.5, 500, (*shape, 2)), np.nan)
        t.is_key[:] = (rng.random(shape) < 0.4) & (t.visibility > 0)
        t.alive[:] = rng.random(stop - start) < 0.8
    frames = [{"item": "clip.mp4", "frame": f, "width": 500, "height": 500} for f in range(n_frames)]
    return store, frames


def dense(store: AnnotationStore, n: int) -> dict[int, tuple]:
    """Per track: alive, coords, visibility, keys over all ``n`` frames, as Darwin can hold them.

    Darwin keys whole frames; a track without any labelled node is not written; a one-frame
    item is an image, whose annotation is always a key and alive.
    """
    out = {}
    for t in store:
        lab = np.isfinite(t.coords[..., 0]) & (t.visibility > 0)
        alive = np.zeros(n, bool)
        alive[t.start : t.stop] = t.alive if n > 1 else lab.any()
        coords = np.full((n, store.n_nodes, 2), np.nan)
        coords[t.start : t.stop] = np.where(lab[..., None], t.coords, np.nan)
        vis = np.zeros((n, store.n_nodes), np.int8)
        vis[t.start : t.stop] = np.where(lab, t.visibility, 0)
        key = np.zeros((n, store.n_nodes), bool)
        frame_key = (t.is_key & lab).any(axis=1, keepdims=True) | (n == 1)
        key[t.start : t.stop] = frame_key & lab
        out[len(out)] = (alive, coords, vis, key)
    return out


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_random_stores_round_trip(seed):
    store, frames = random_store(seed)
    with tempfile.TemporaryDirectory() as tmp:
        ds = AnnotationSet(stores=[store], frames=frames)
        (path, _) = write_darwin(ds, Path(tmp) / "clip.json")
        back = read_darwin(path)
    n = len(frames)
    want = {i: v for i, v in dense(store, n).items() if np.isfinite(v[1]).any()}  # tracks with points
    got = dense(back.stores[0], n) if back.stores else {}
    assert len(got) == len(want)
    for (wa, wc, wv, wk), (ga, gc, gv, gk) in zip(want.values(), got.values()):
        np.testing.assert_array_equal(ga, wa)
        np.testing.assert_allclose(gc, wc, atol=1e-9)
        np.testing.assert_array_equal(gv, wv)
        np.testing.assert_array_equal(gk, wk)
