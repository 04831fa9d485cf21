"""Label placement (pure numpy): boxes beside their points that overlap neither each other nor points."""

from __future__ import annotations

import time

import numpy as np
import pytest

from napari_keyskel._napari.labels import (
    LINE_HEIGHT,
    OTHER_WIDTH,
    POINT_TO_PIXEL,
    label_half_sizes,
    overlapping_pairs,
    place_labels,
    text_widths,
)


def _brute_pairs(lo, hi, lo_b=None, hi_b=None):
    """Every overlapping pair by comparing all boxes with all (the reference)."""
    same = lo_b is None
    lo_b, hi_b = (lo, hi) if same else (lo_b, hi_b)
    hit = np.all((lo[:, None] < hi_b[None]) & (lo_b[None] < hi[:, None]), axis=2)
    if same:
        hit = np.triu(hit, 1)
    return set(zip(*np.nonzero(hit), strict=True))


def _crowd(n, seed, spread=40.0):
    """``n`` points in a few tight clusters (instances), with node-like names."""
    rng = np.random.default_rng(seed)
    names = ["snout", "left_ear", "right_ear", "neck", "body_center", "tail_base", "right_hindpaw", "tip"]
    inst = np.arange(n) // len(names)
    centre = rng.uniform(0, spread * np.sqrt(n), (inst.max() + 1, 2))[inst]
    pos = centre + rng.normal(0, 18, (n, 2))
    strings = [names[i % len(names)] for i in range(n)]
    return pos, centre, strings


@pytest.mark.parametrize("n", [1, 7, 60, 400])
def test_overlapping_pairs_match_the_brute_force(n):
    rng = np.random.default_rng(n)
    lo = rng.uniform(0, 10 * np.sqrt(n), (n, 2))
    hi = lo + rng.uniform(0.1, 6, (n, 2))
    lo_b = rng.uniform(0, 10 * np.sqrt(n), (2 * n + 3, 2))
    hi_b = lo_b + rng.uniform(0.1, 3, (2 * n + 3, 2))
    assert set(zip(*overlapping_pairs(lo, hi), strict=True)) == _brute_pairs(lo, hi)
    assert set(zip(*overlapping_pairs(lo, hi, lo_b, hi_b), strict=True)) == _brute_pairs(lo, hi, lo_b, hi_b)
    # the smaller set is looked up in the larger: the pairs keep their order (first set, second)
    assert set(zip(*overlapping_pairs(lo_b, hi_b, lo, hi), strict=True)) == _brute_pairs(lo_b, hi_b, lo, hi)


def test_touching_boxes_do_not_overlap():
    lo = np.array([[0.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    hi = lo + 2.0
    i, j = overlapping_pairs(lo, hi)
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 2), (1, 2)]  # 0 and 1 only touch


@pytest.mark.parametrize("seed", range(5))
def test_crowded_points_get_labels_that_never_overlap(seed):
    pos, centre, strings = _crowd(240, seed, spread=25.0)  # tight: not every label finds room
    half = label_half_sizes(strings, 8)
    radius = 5.0
    at, ok = place_labels(pos, half, centre, radius)
    assert ok.sum() > 0.3 * len(pos)  # (crowded on purpose: some find no room)
    assert np.isnan(at[~ok]).all() and np.isfinite(at[ok]).all()
    lo, hi = at[ok] - half[ok], at[ok] + half[ok]
    assert _brute_pairs(lo, hi) == set()  # no two labels overlap
    assert _brute_pairs(lo, hi, pos - radius, pos + radius) == set()  # no label covers a marker
    # a short offset: within the last ring of candidates
    far = radius + 2.0 + half[ok].sum(axis=1) + 4 * 2 * half[ok, 0]
    assert (np.hypot(*(at[ok] - pos[ok]).T) <= far + 1e-9).all()


def test_placement_is_deterministic():
    pos, centre, strings = _crowd(300, 7)
    half = label_half_sizes(strings, 8)
    a = place_labels(pos, half, centre, 4.0)
    b = place_labels(pos.copy(), half.copy(), centre.copy(), 4.0)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_labels_go_radially_away_from_their_instance_when_there_is_room():
    # one instance alone: a star of 8 nodes around its centre, plenty of room around it
    angles = np.arange(8) * np.pi / 4 + 0.3
    centre = np.array([200.0, 200.0])
    pos = centre + 60 * np.stack([np.sin(angles), np.cos(angles)], axis=1)
    half = label_half_sizes(["node"] * 8, 8)
    at, ok = place_labels(pos, half, np.tile(centre, (8, 1)), 4.0)
    assert ok.all()
    out = (at - pos) / np.hypot(*(at - pos).T)[:, None]
    radial = (pos - centre) / 60
    np.testing.assert_allclose((out * radial).sum(axis=1), 1.0, atol=1e-9)  # straight outwards


def test_a_label_that_finds_no_room_is_left_out():
    # a long label between two markers that leave no room on any ring: nothing drawn over them
    pos = np.array([[0.0, 0.0]])
    half = label_half_sizes(["x"], 8)
    walls = np.array([[r, c] for r in np.arange(-200, 201, 4.0) for c in np.arange(-200, 201, 4.0)])
    walls = walls[np.hypot(*walls.T) > 1]
    allp = np.concatenate([pos, walls])
    allh = np.concatenate([half, np.full((len(walls), 2), 1e-3)])
    at, ok = place_labels(allp, allh, None, 2.0)
    assert not ok[0] and np.isnan(at[0]).all()


def test_label_sizes_follow_the_font_and_the_glyphs():
    w = text_widths(["mmm", "iii", "", "tail_tip", "né"])
    assert w[0] > 3 * w[1] / 2 and w[2] == 0 and w[3] > 0
    assert w[4] == pytest.approx(text_widths(["n"])[0] + OTHER_WIDTH)  # other glyphs: wide boxes
    h8, h16 = label_half_sizes(["tail_tip"], 8), label_half_sizes(["tail_tip"], 16)
    np.testing.assert_allclose(h16, 2 * h8)
    assert h8[0, 0] == pytest.approx(0.5 * LINE_HEIGHT * 8 * POINT_TO_PIXEL)


def _best_of(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def test_thousands_of_points_are_placed_fast():
    small = _crowd(1000, 1)
    big = _crowd(4000, 2)
    args = [(p, label_half_sizes(s, 8), c, 4.0) for p, c, s in (small, big)]
    t_small = _best_of(lambda: place_labels(*args[0]))
    t_big = _best_of(lambda: place_labels(*args[1]))
    print(f"place_labels: 1000 points {t_small * 1e3:.1f} ms, 4000 points {t_big * 1e3:.1f} ms "
          f"(x{t_big / t_small:.1f} for x4 points)")  # fmt: skip
    assert t_big < 2.0  # vectorised: thousands of points well within a second on a quiet machine
    assert t_big / t_small < 10  # about linear (all pairs would be x16)


def test_labels_stay_inside_the_view_when_they_can():
    """A point at the canvas's left edge, its instance to the right: its name would go left, off view."""
    pos = np.array([[50.0, 3.0]])
    half = np.array([[6.0, 30.0]])
    centres = np.array([[50.0, 80.0]])  # the instance's centre: labels go away from it first
    free, ok = place_labels(pos, half, centres, 3.0)
    assert ok.all() and free[0, 1] - half[0, 1] < 0  # left of the view without bounds
    bounds = (np.array([0.0, 0.0]), np.array([100.0, 200.0]))
    inside, ok = place_labels(pos, half, centres, 3.0, bounds=bounds)
    assert ok.all()
    lo, hi = inside[0] - half[0], inside[0] + half[0]
    assert (lo >= bounds[0]).all() and (hi <= bounds[1]).all()
    # no room inside at all: still placed (outside), not dropped
    tight = (np.array([45.0, 0.0]), np.array([55.0, 6.0]))
    out, ok = place_labels(pos, half, centres, 3.0, bounds=tight)
    assert ok.all() and np.isfinite(out).all()
