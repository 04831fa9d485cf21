"""Pure interpolation functions, checked against a slow per-node reference and scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.interpolate import PchipInterpolator

import napari_keyskel.core.interpolate as interpolate_module
from napari_keyskel.core.interpolate import (
    check_method,
    fill_spans,
    find_spans,
    interpolated,
    labelled_keys,
    pchip_derivatives,
)
from napari_keyskel.errors import StoreError

METHODS = ["linear", "cubic", "hold"]


def random_block(seed: int, dead: bool = True, unlabelled: bool = True):
    rng = np.random.default_rng(seed)
    n_rows, n_nodes, n_dim = int(rng.integers(1, 40)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
    key = rng.random((n_rows, n_nodes)) < rng.uniform(0.05, 0.6)
    coords = np.full((n_rows, n_nodes, n_dim), np.nan)
    coords[key] = rng.integers(-50, 50, (int(key.sum()), n_dim)) + rng.random((int(key.sum()), n_dim))
    vis = np.zeros((n_rows, n_nodes), np.int8)
    vis[key] = rng.integers(1, 3, int(key.sum()))
    if unlabelled:
        unl = key & (rng.random(key.shape) < 0.15)
        vis[unl] = 0
        coords[unl] = np.nan
    alive = np.ones(n_rows, bool)
    if dead:
        alive = rng.random(n_rows) > 0.1
        coords[~alive] = np.nan
        vis[~alive] = 0
        key[~alive] = False
    # stale interpolated junk on non-key cells must be cleared or overwritten
    junk = ~key & (rng.random(key.shape) < 0.3)
    coords[junk] = 999.0
    vis[junk] = 1
    return coords, vis, key, alive


def reference(coords, vis, key, alive, method, bridge, hold_last=True):
    """Slow, obvious implementation: per node, list anchors, cut runs, interpolate each run;
    then hold the last anchor (if labelled) over the alive frames after it."""
    n_rows, n_nodes, _ = coords.shape
    out_c = coords.copy()
    out_v = vis.copy()
    out_c[~key] = np.nan
    out_v[~key] = 0

    def labelled(r, n):
        return key[r, n] and vis[r, n] > 0 and np.isfinite(coords[r, n]).all() and alive[r]

    for n in range(n_nodes):
        anchors = [r for r in range(n_rows) if key[r, n] and (labelled(r, n) or not bridge)]
        runs, run = [], []
        for a, b in itertools.pairwise(anchors):
            ok = labelled(a, n) and labelled(b, n) and alive[a : b + 1].all()
            if ok:
                run = run or [a]
                run.append(b)
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
        for run in runs:
            xs = np.asarray(run)
            ys = coords[xs, n]
            pchip = PchipInterpolator(xs, ys, axis=0) if method == "cubic" else None
            for a, b in itertools.pairwise(run):
                for r in range(a + 1, b):
                    if key[r, n]:
                        continue
                    if method == "linear":
                        out_c[r, n] = ys[run.index(a)] + (r - a) / (b - a) * (
                            ys[run.index(b)] - ys[run.index(a)]
                        )
                    elif method == "hold":
                        out_c[r, n] = coords[a, n]
                    else:
                        out_c[r, n] = pchip(r)
                    out_v[r, n] = vis[a, n]
        if hold_last and anchors and labelled(anchors[-1], n):
            a = anchors[-1]
            for r in range(a + 1, n_rows):
                if not alive[r]:
                    break
                if not key[r, n]:  # (with bridging, unlabelled keys after it stay as they are)
                    out_c[r, n] = coords[a, n]
                    out_v[r, n] = vis[a, n]
    return out_c, out_v


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(METHODS), bridge=st.booleans())
def test_matches_reference(seed, method, bridge):
    block = random_block(seed)
    got_c, got_v = interpolated(*block, method=method, bridge_unlabelled=bridge)
    want_c, want_v = reference(*block, method, bridge)
    np.testing.assert_allclose(got_c, want_c, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got_v, want_v)
    got_c, got_v = interpolated(*block, method=method, bridge_unlabelled=bridge, hold_last=False)
    want_c, want_v = reference(*block, method, bridge, hold_last=False)
    np.testing.assert_allclose(got_c, want_c, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got_v, want_v)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(METHODS), bridge=st.booleans())
def test_keys_pass_through_exactly_and_inputs_untouched(seed, method, bridge):
    coords, vis, key, alive = random_block(seed)
    before = coords.copy(), vis.copy()
    out_c, out_v = interpolated(coords, vis, key, alive, method, bridge)
    np.testing.assert_array_equal(out_c[key], coords[key])  # bitwise, NaN == NaN
    np.testing.assert_array_equal(out_v[key], vis[key])
    np.testing.assert_array_equal(coords, before[0])
    np.testing.assert_array_equal(vis, before[1])
    # in place gives the same as the copying version
    fill_spans(coords, vis, key, alive, method, bridge)
    np.testing.assert_array_equal(coords, out_c)
    np.testing.assert_array_equal(vis, out_v)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    velocity=st.lists(st.floats(-20, 20), min_size=3, max_size=3),
    origin=st.lists(st.floats(-500, 500), min_size=3, max_size=3),
)
def test_linear_is_exact_on_linear_motion(seed, velocity, origin):
    rng = np.random.default_rng(seed)
    n_rows = 60
    t = np.arange(n_rows, dtype=float)
    truth = np.asarray(origin) + t[:, None] * np.asarray(velocity)  # (L, 3)
    key = np.zeros((n_rows, 1), bool)
    key[rng.choice(n_rows, int(rng.integers(2, 12)), replace=False), 0] = True
    key[0, 0] = key[-1, 0] = True
    coords = np.where(key[..., None], truth[:, None], np.nan)
    vis = np.where(key, 2, 0).astype(np.int8)
    out, _ = interpolated(coords, vis, key, np.ones(n_rows, bool), "linear")
    np.testing.assert_allclose(out[:, 0], truth, rtol=1e-12, atol=1e-9)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_cubic_on_monotone_keys_stays_within_range(seed):
    rng = np.random.default_rng(seed)
    n_rows = 80
    key = np.zeros((n_rows, 2), bool)
    for n in range(2):
        key[np.sort(rng.choice(n_rows, int(rng.integers(2, 15)), replace=False)), n] = True
    coords = np.full((n_rows, 2, 2), np.nan)
    for n in range(2):
        rows = np.flatnonzero(key[:, n])
        steps = rng.exponential(5.0, (rows.size, 2)) * (rng.random((rows.size, 2)) < 0.8)
        coords[rows, n] = np.cumsum(steps, axis=0) * np.array([1.0, -1.0])  # y rises, x falls
    vis = np.where(key, 2, 0).astype(np.int8)
    out, _ = interpolated(coords, vis, key, np.ones(n_rows, bool), "cubic")
    for n in range(2):
        rows = np.flatnonzero(key[:, n])
        seg = out[rows[0] : rows[-1] + 1, n]
        lo, hi = coords[rows, n].min(axis=0), coords[rows, n].max(axis=0)
        assert np.all(seg >= lo - 1e-9) and np.all(seg <= hi + 1e-9)
        # and monotone: y never decreases, x never increases
        assert np.all(np.diff(seg[:, 0]) >= -1e-9) and np.all(np.diff(seg[:, 1]) <= 1e-9)


def test_cubic_matches_scipy_pchip_on_one_run():
    rng = np.random.default_rng(3)
    rows = np.sort(rng.choice(200, 25, replace=False))
    values = rng.normal(size=(25, 3)) * 30
    coords = np.full((200, 1, 3), np.nan)
    coords[rows, 0] = values
    key = np.isfinite(coords[..., 0])
    out, _ = interpolated(coords, np.where(key, 2, 0).astype(np.int8), key, np.ones(200, bool), "pchip")
    frames = np.arange(rows[0], rows[-1] + 1)
    np.testing.assert_allclose(out[frames, 0], PchipInterpolator(rows, values, axis=0)(frames), atol=1e-9)
    assert np.isnan(out[: rows[0]]).all()  # no extrapolation before the first key
    assert np.all(out[rows[-1] + 1 :, 0] == values[-1])  # the last key is held to the end of the block


def test_cubic_beats_linear_on_smooth_motion():
    t = np.arange(101, dtype=float)
    truth = np.stack([50 + 40 * np.sin(t / 9.0), 80 + 30 * np.cos(t / 13.0)], -1)
    key = np.zeros((101, 1), bool)
    key[::10] = True
    coords = np.where(key[..., None], truth[:, None], np.nan)
    vis = np.where(key, 2, 0).astype(np.int8)
    err = {}
    for m in ("linear", "cubic"):
        out, _ = interpolated(coords, vis, key, np.ones(101, bool), m)
        err[m] = np.linalg.norm(out[:, 0] - truth, axis=-1).mean()
    assert err["cubic"] < 0.7 * err["linear"]


def test_hold_and_visibility_follow_previous_key():
    coords = np.full((7, 1, 2), np.nan)
    coords[0, 0], coords[3, 0], coords[6, 0] = (1, 1), (4, 8), (0, 0)
    key = np.isfinite(coords[..., 0])
    vis = np.zeros((7, 1), np.int8)
    vis[0, 0], vis[3, 0], vis[6, 0] = 1, 2, 2
    alive = np.ones(7, bool)
    out, out_v = interpolated(coords, vis, key, alive, "hold")
    np.testing.assert_array_equal(out[:, 0, 1], [1, 1, 1, 8, 8, 8, 0])
    np.testing.assert_array_equal(out_v[:, 0], [1, 1, 1, 2, 2, 2, 2])
    out, out_v = interpolated(coords, vis, key, alive, "linear")
    np.testing.assert_allclose(out[1:3, 0, 0], [2, 3])
    np.testing.assert_array_equal(out_v[:, 0], [1, 1, 1, 2, 2, 2, 2])


def test_unlabelled_key_ends_span_unless_bridged():
    coords = np.full((9, 1, 2), np.nan)
    coords[0, 0], coords[8, 0] = (0, 0), (8, 16)
    key = np.zeros((9, 1), bool)
    key[[0, 4, 8], 0] = True  # frame 4: unlabelled key (NaN, visibility 0)
    vis = np.where(np.isfinite(coords[..., 0]), 2, 0).astype(np.int8)
    alive = np.ones(9, bool)
    out, out_v = interpolated(coords, vis, key, alive, "linear")
    assert np.isnan(out[1:8, 0]).all() and not out_v[1:8].any()
    out, out_v = interpolated(coords, vis, key, alive, "linear", bridge_unlabelled=True)
    np.testing.assert_allclose(out[[1, 2, 3, 5, 6, 7], 0, 1], [2, 4, 6, 10, 12, 14])
    assert np.isnan(out[4, 0]).all() and key[4, 0] and out_v[4, 0] == 0  # the unlabelled key stays


def test_dead_frames_are_never_bridged():
    coords = np.full((9, 1, 1), np.nan)
    coords[0, 0], coords[8, 0] = 0.0, 8.0
    key = np.isfinite(coords[..., 0])
    vis = np.where(key, 2, 0).astype(np.int8)
    alive = np.ones(9, bool)
    alive[5] = False
    for bridge in (False, True):
        for m in METHODS:
            out, _ = interpolated(coords, vis, key, alive, m, bridge)
            assert np.isnan(out[1:8]).all()


def test_find_spans_and_derivatives_shapes():
    coords = np.array([[[0.0]], [[np.nan]], [[2.0]], [[3.0]]])
    key = np.array([[True], [False], [True], [True]])
    vis = np.where(key, 2, 0).astype(np.int8)
    alive = np.ones(4, bool)
    spans = find_spans(coords, vis, key, alive)
    np.testing.assert_array_equal(spans.rows, [0, 2, 3])
    np.testing.assert_array_equal(spans.valid, [True, True])
    np.testing.assert_array_equal(labelled_keys(coords, vis, key, alive)[:, 0], key[:, 0])
    d = pchip_derivatives(spans.rows, spans.values, spans.valid)
    np.testing.assert_allclose(
        d, PchipInterpolator([0, 2, 3], [0, 2, 3], axis=0).derivative()([0, 2, 3])[:, None]
    )


def test_empty_and_all_unlabelled_blocks():
    coords = np.full((5, 2, 2), 7.0)
    vis = np.ones((5, 2), np.int8)
    key = np.zeros((5, 2), bool)
    out, out_v = interpolated(coords, vis, key, np.ones(5, bool))
    assert np.isnan(out).all() and not out_v.any()
    key[[1, 3], 0] = True
    vis[[1, 3], 0] = 0
    out, out_v = interpolated(coords, vis, key, np.ones(5, bool), bridge_unlabelled=True)
    np.testing.assert_array_equal(out[[1, 3], 0], coords[[1, 3], 0])  # keys untouched
    assert np.isnan(out[[0, 2, 4]]).all() and np.isnan(out[:, 1]).all()


def test_check_method():
    assert check_method("linear") == "linear"
    assert check_method("PCHIP") == "cubic"
    assert check_method("cubic") == "cubic"
    assert check_method("hold") == "hold"
    for bad in ("spline", None, 3):
        with pytest.raises(StoreError, match="unknown interpolation method"):
            check_method(bad)


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_node_chunks_give_the_same_result(monkeypatch, chunk):
    """Blocks are processed a few nodes at a time; chunk boundaries must not show."""
    monkeypatch.setattr(interpolate_module, "_CHUNK_CELLS", chunk)
    for seed in range(40):
        block = random_block(seed)
        for method in METHODS:
            for bridge in (False, True):
                got_c, got_v = interpolated(*block, method=method, bridge_unlabelled=bridge)
                want_c, want_v = reference(*block, method, bridge)
                np.testing.assert_allclose(got_c, want_c, rtol=0, atol=1e-9)
                np.testing.assert_array_equal(got_v, want_v)
