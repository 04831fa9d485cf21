"""Propagation by Lucas–Kanade tracking and image-guided in-betweens, on a textured video."""

from __future__ import annotations

import cv2  # noqa: F401  (a promised client: this module fails, not skips, without OpenCV)
import dask.array as da
import numpy as np
import pytest

from napari_keyskel.assist.propagate import (
    FrameSource,
    interpolate_with_image,
    propagate,
    track_between,
    track_points,
)
from napari_keyskel.core import keyframes
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import KeyskelError, StoreError
from napari_keyskel.samples.texture import keyed_store, textured_video


@pytest.fixture(scope="module")
def video():
    return textured_video(n_frames=61, shape=(320, 320), n_nodes=4, seed=3)


class CountingVideo:
    """A lazy stand-in for an image: records which frames are read."""

    def __init__(self, frames):
        self.frames = frames
        self.shape = frames.shape
        self.dtype = frames.dtype
        self.read = []

    def __getitem__(self, index):
        self.read.append(int(index))
        return self.frames[index]


def _errors(store, video):
    t = store.tracks[1]
    return np.hypot(*(t.coords - video.truth[t.start : t.stop]).transpose(2, 0, 1)), ~t.is_key


def _occluded(video, node, frames):
    out = video.frames.copy()
    for f in frames:
        y, x = np.rint(video.truth[f, node]).astype(int)
        out[f, y - 25 : y + 25, x - 25 : x + 25] = 90
    return out


@pytest.mark.parametrize("case", ["plain", "spinning and flickering", "occluded mid-span"])
def test_tracked_inbetweens_beat_linear_on_every_node(video, case):
    frames = video.frames
    if case == "spinning and flickering":
        video = textured_video(n_frames=61, shape=(320, 320), n_nodes=4, seed=3, rotation=5.0, flicker=0.15)
        frames = video.frames
    elif case == "occluded mid-span":
        frames = _occluded(video, 0, range(13, 17))  # node 0 hidden on frames 13-16 of span 10-20
    linear = keyed_store(video, every=10)
    keyframes.interpolate_all(linear, "linear")
    tracked = keyed_store(video, every=10)
    keys_before = tracked.tracks[1].coords[tracked.tracks[1].is_key].copy()
    interpolate_with_image(tracked, FrameSource(frames))
    e_lin, inb = _errors(linear, video)
    e_trk, _ = _errors(tracked, video)
    assert e_lin[inb].mean() > 1.0  # the paths really curve between keys
    assert e_trk[inb].mean() <= 0.5 * e_lin[inb].mean()
    for k in range(video.truth.shape[1]):
        assert e_trk[inb[:, k], k].mean() <= 1.1 * e_lin[inb[:, k], k].mean(), k
    t = tracked.tracks[1]
    np.testing.assert_array_equal(t.coords[t.is_key], keys_before)  # keys untouched
    assert not t.is_key[inb].any() and np.isfinite(t.coords).all()
    assert (t.visibility == 2).all()
    if case == "occluded mid-span":  # where neither direction sees the node, the linear fill stays
        np.testing.assert_array_equal(t.coords[13:17, 0], linear.tracks[1].coords[13:17, 0])
        assert e_trk[[11, 12, 17, 18, 19], 0].max() < 0.5


def test_inbetweens_blend_by_distance_to_each_key(video):
    # the second key sits 3 px off the texture: the in-betweens move towards it linearly
    k1, k2 = 10, 20
    offset = np.array([3.0, -2.0])
    start, stop = video.truth[k1], video.truth[k2] + offset
    out = track_between(FrameSource(video.frames), k1, k2, start, stop)
    assert out.shape == (k2 - k1 - 1, video.truth.shape[1], 2)
    w = (np.arange(k1 + 1, k2) - k1) / (k2 - k1)
    expected = video.truth[k1 + 1 : k2] + w[:, None, None] * offset
    np.testing.assert_allclose(out, expected, atol=0.3)


def test_reads_only_the_frames_between_the_keys(video):
    lazy = CountingVideo(video.frames)
    store = AnnotationStore(video.skeleton, 2, 0, n_frames=video.truth.shape[0])
    store.add_track(1, start=20, stop=31)
    store.set_points(20, 1, video.truth[20])
    store.set_points(30, 1, video.truth[30])
    interpolate_with_image(store, FrameSource(lazy))
    assert sorted(set(lazy.read)) == list(range(20, 31))
    assert len(lazy.read) == 11  # each frame read once (the way back is cached)
    err = np.hypot(*(store.tracks[1].coords[1:10] - video.truth[21:30]).transpose(2, 0, 1))
    assert err.max() < 0.5


def test_dask_and_uint16_video_track_like_uint8(video):
    wide = da.from_array(video.frames.astype(np.uint16) * 200 + 1000, chunks=(1, -1, -1))
    a, _ = track_points(FrameSource(wide), 0, video.truth[0], 8)
    b, _ = track_points(FrameSource(video.frames), 0, video.truth[0], 8)
    np.testing.assert_allclose(a, b, atol=0.05)
    rgb = np.repeat(video.frames[:9, ..., None], 3, axis=-1)
    c, _ = track_points(FrameSource(rgb), 0, video.truth[0], 8)
    np.testing.assert_allclose(c, b, atol=0.05)


@pytest.mark.parametrize("occluder", ["flat", "other texture"])
def test_lost_node_stops_and_others_go_on(video, occluder):
    frames = video.frames.copy()
    y, x = np.rint(video.truth[5:, 0]).astype(int).T
    for i, f in enumerate(range(5, frames.shape[0])):  # from frame 5 on, node 0 is covered
        cover = 90 if occluder == "flat" else video.frames[0, :60, :60]
        frames[f, y[i] - 30 : y[i] + 30, x[i] - 30 : x[i] + 30] = cover
    coords, fb = track_points(FrameSource(frames), 0, video.truth[0], 12)
    assert np.isfinite(coords[:5, 0]).all()
    lost = int(np.flatnonzero(np.isnan(coords[:, 0, 0]))[0])
    assert lost == 5 and np.isnan(coords[lost:, 0]).all() and np.isnan(fb[lost:, 0]).all()
    ok = np.hypot(*(coords[:, 1:] - video.truth[:13, 1:]).transpose(2, 0, 1))
    assert ok.max() < 0.5 and (fb[:, 1:] <= 1.0).all()


def test_propagate_to_next_key_or_n_frames_both_ways(video):
    store = keyed_store(video, every=10)
    src = FrameSource(video.frames)
    p = propagate(src, store, 1, 0)
    np.testing.assert_array_equal(p.frames, np.arange(1, 10))
    assert np.hypot(*(p.coords - video.truth[1:10]).transpose(2, 0, 1)).max() < 0.5
    assert ((p.score >= 0) & (p.score <= 1)).all()
    back = propagate(src, store, 1, 20, direction=-1)
    np.testing.assert_array_equal(back.frames, np.arange(19, 10, -1))
    three = propagate(src, store, 1, 30, direction=1, n_frames=3, nodes=["p1"])
    np.testing.assert_array_equal(three.frames, [31, 32, 33])
    assert np.isnan(three.coords[:, [0, 2, 3]]).all() and np.isfinite(three.coords[:, 1]).all()
    # one node: LK runs on a crop around it, with the same accuracy
    assert np.hypot(*(three.coords[:, 1] - video.truth[31:34, 1]).T).max() < 0.3
    end = propagate(src, store, 1, 60)
    assert end.frames.size == 0  # the last frame: nothing ahead
    store.delete_points(40, 1, ["p0", "p3"])
    some = propagate(src, store, 1, 40, n_frames=2)  # only the placed nodes are followed
    assert np.isnan(some.coords[:, [0, 3]]).all() and np.isfinite(some.coords[:, [1, 2]]).all()


def test_bad_input_is_refused(video):
    with pytest.raises(KeyskelError, match=r"\(t, y, x\)"):
        FrameSource(np.zeros((4, 5)))
    store3d = AnnotationStore(video.skeleton, coord_ndim=3, frame_axis=0)
    with pytest.raises(StoreError, match="coord_ndim=3"):
        interpolate_with_image(store3d, FrameSource(video.frames))
    store = keyed_store(video, every=10)
    store.add_track(2, start=3)
    with pytest.raises(StoreError, match="no position on frame 3"):
        propagate(FrameSource(video.frames), store, 2, 3)
    with pytest.raises(KeyskelError, match="direction"):
        track_points(FrameSource(video.frames), 0, video.truth[0], 3, direction=2)
