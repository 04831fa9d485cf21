"""Videos read lazily and frame-accurately (PyAV): every frame equals a full sequential decode."""

from __future__ import annotations

import json
import shutil
import time
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
from _media_samples import make_video, sequential_frames

from napari_keyskel.errors import FormatError, FormatWarning
from napari_keyskel.media import VideoSource, open_media

VFR_PTS = np.cumsum(np.random.default_rng(7).integers(15, 95, size=90)).tolist()

CASES = {
    # H.264 with B-frames and a GOP of 250: two GOPs, the second starts at frame 250
    "h264_bframes_gop250.mp4": dict(n=300, gop=250, bframes=3),
    # open GOPs (leading B-frames of each I-frame reference the GOP before), Matroska
    "h264_open_gop.mkv": dict(
        n=120, options={"x264-params": "keyint=30:min-keyint=30:bframes=3:open-gop=1:scenecut=0"}
    ),
    # variable frame rate: explicit, irregular presentation timestamps
    "h264_vfr.mp4": dict(n=90, gop=30, pts=VFR_PTS, time_base=Fraction(1, 1000)),
    "h265.mp4": dict(n=70, codec="libx265", gop=25),
    "grey_ffv1.mkv": dict(n=40, codec="ffv1", pix_fmt="gray", gop=8),
    "mpeg4.avi": dict(n=40, codec="mpeg4", gop=12, options={"bf": "2"}),
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    assert "libx265" in av.codecs_available, "the bundled FFmpeg has no H.265 encoder"
    d = tmp_path_factory.mktemp("videos")
    return {name: make_video(d / name, **kw) for name, kw in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_every_frame_equals_a_sequential_decode_in_any_order(videos, name):
    src = open_media(videos[name])
    assert isinstance(src, VideoSource)
    fmt = "gray" if src.ndim == 3 else "rgb24"
    ref = sequential_frames(videos[name], fmt)
    assert len(src) == len(ref) == CASES[name]["n"]
    assert src.stats["decoded"] == 0  # the index comes from packets alone
    src.cache_mb = 0
    src._read_ahead = 0
    order = np.random.default_rng(0).permutation(len(src))
    wrong = [int(i) for i in order if not np.array_equal(src[int(i)], ref[i])]
    assert wrong == []
    assert src.stats["overshoots"] == 0
    # and forward, with the cache and the read-ahead on
    src.cache_mb = 64
    src._read_ahead = 8
    assert [i for i in range(len(src)) if not np.array_equal(src.frame(i), ref[i])] == []
    src.close()


def test_vfr_frame_times_follow_the_timestamps(videos):
    src = open_media(videos["h264_vfr.mp4"])
    d = src.describe()
    expected = (np.asarray(VFR_PTS) - VFR_PTS[0]) / 1000.0
    np.testing.assert_allclose(d["frame_times"], expected, atol=1e-3)
    assert d["fps"] == pytest.approx((len(VFR_PTS) - 1) / expected[-1], rel=0.01)


def test_stepping_forward_decodes_only_the_next_frame(videos):
    src = open_media(videos["h264_bframes_gop250.mp4"], cache_mb=0)
    src._read_ahead = 0
    src.frame(200)
    seeks, decoded = src.stats["seeks"], src.stats["decoded"]
    for i in range(201, 211):
        src.frame(i)
    assert src.stats["seeks"] == seeks
    assert src.stats["decoded"] - decoded <= 10 + 1
    # a jump seeks to the keyframe before it (frame 250 starts the second GOP) and decodes from there
    before = src.stats["decoded"]
    src.frame(260)
    assert src.stats["seeks"] == seeks + 1
    assert src.stats["decoded"] - before <= 260 - 250 + 5  # from the keyframe, not from frame 0
    # a step back needs no decoding: the frames on the way were kept (unconverted)
    before = src.stats["decoded"]
    np.testing.assert_array_equal(src.frame(259), sequential_frames(src.path)[259])
    assert src.stats["decoded"] == before and src.stats["seeks"] == seeks + 1


def test_read_ahead_fills_the_next_frames(videos):
    src = open_media(videos["h264_bframes_gop250.mp4"])
    src.frame(20)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(n in src._cache for n in range(21, 29)):
        time.sleep(0.02)
    assert all(n in src._cache for n in range(21, 29))
    src.close()


def test_the_cache_stays_within_its_budget(videos):
    frame_mb = 96 * 64 * 3 / 2**20
    src = open_media(videos["h264_bframes_gop250.mp4"], cache_mb=10 * frame_mb)
    for i in range(0, 100, 3):
        src.frame(i)
    assert 0 < src.cached_bytes <= 10 * frame_mb * 2**20
    src.cache_mb = 2 * frame_mb
    assert src.cached_bytes <= 2 * frame_mb * 2**20 + 1
    src.close()


def test_grey_video_is_one_channel_and_a_colour_one_can_be_shown_grey(videos):
    grey = open_media(videos["grey_ffv1.mkv"])
    assert grey.shape == (40, 64, 96) and grey.dtype == np.uint8
    luma = open_media(videos["h264_vfr.mp4"], grey=True)
    assert luma.shape == (90, 64, 96)
    ref = sequential_frames(videos["h264_vfr.mp4"], "gray")
    np.testing.assert_array_equal(luma[17], ref[17])


def test_stride_and_fps_pick_the_source_frames(videos):
    path = videos["h264_bframes_gop250.mp4"]
    ref = sequential_frames(path)
    src = open_media(path, stride=5)
    assert len(src) == 60
    assert src.frame_numbers.tolist() == list(range(0, 300, 5))
    for j in (0, 1, 49, 59, 13):
        np.testing.assert_array_equal(src[j], ref[5 * j])
    d = src.describe()
    assert d["fps"] == 25.0 and d["layer_fps"] == 5.0 and d["n_source_frames"] == 300
    five = open_media(path, fps=5)
    assert five.frame_numbers.tolist() == list(range(0, 300, 5))
    # variable frame rate: the frame nearest each tick of 1/10 s
    vfr = open_media(videos["h264_vfr.mp4"], fps=10)
    times = np.asarray(vfr.describe()["frame_times"])
    ticks = np.arange(0, times[-1] + 1e-9, 0.1)
    nearest = np.unique(np.abs(times[None, :] - ticks[:, None]).argmin(axis=1))
    assert vfr.frame_numbers.tolist() == nearest.tolist()
    with pytest.raises(Exception, match="stride or a target fps"):
        open_media(path, stride=2, fps=5)


def test_numpy_style_indexing_decodes_what_is_asked(videos):
    src = open_media(videos["h264_vfr.mp4"])
    ref = np.stack(sequential_frames(videos["h264_vfr.mp4"]))
    np.testing.assert_array_equal(src[3:9:2], ref[3:9:2])
    np.testing.assert_array_equal(src[[1, 4]], ref[[1, 4]])
    np.testing.assert_array_equal(src[5, 10:20, ::2], ref[5, 10:20, ::2])
    np.testing.assert_array_equal(src[-1], ref[-1])
    np.testing.assert_array_equal(src[2, ..., 1], ref[2, ..., 1])
    assert src[:0].shape == (0, 64, 96, 3)
    with pytest.raises(IndexError):
        src[90]
    assert not src[3].flags.writeable  # a cached frame cannot be changed by accident


def test_describe_is_json(videos):
    d = open_media(videos["h265.mp4"]).describe()
    json.dumps(d)
    assert d["kind"] == "video" and d["codec"] == "hevc" and d["width"] == 96 and d["height"] == 64
    assert d["frame_numbers"] == list(range(70)) and len(d["frame_times"]) == 70


# -- bad media ------------------------------------------------------------------------------------
def test_truncated_mp4_names_the_file(videos, tmp_path):
    cut = tmp_path / "cut.mp4"
    data = videos["h264_bframes_gop250.mp4"].read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: gone
    with pytest.raises(FormatError, match=r"cut\.mp4"):
        open_media(cut)


def test_truncated_faststart_mp4_opens_what_is_there_and_names_the_lost_frames(tmp_path):
    full = make_video(tmp_path / "fast.mp4", 120, gop=30, container_options={"movflags": "+faststart"})
    cut = tmp_path / "fast_cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    src = open_media(cut)
    assert 0 < len(src) <= 120
    ref = sequential_frames(full)
    np.testing.assert_array_equal(src[0], ref[0])
    bad = None
    for i in range(len(src) - 1, -1, -1):  # the frames whose bytes are gone
        try:
            src.frame(i)
        except FormatError as exc:
            bad = exc
            break
    assert bad is not None  # the last frames reference bytes that are gone
    assert "fast_cut.mp4" in str(bad) and f"frame {i}" in str(bad) and "cut short" in str(bad)
    assert "of the 120 frames" in src.describe()["truncated"]
    src.strict = False  # the viewer's setting: a warning and a black frame
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        black = src.frame(i)
    assert not black.any()
    assert any(isinstance(w.message, FormatWarning) and "fast_cut.mp4" in str(w.message) for w in rec)


def test_not_a_video_and_missing_file(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 50)
    with pytest.raises(FormatError, match=r"notes\.mp4.*not a readable video"):
        open_media(fake)
    with pytest.raises(FormatError, match=r"gone\.mp4.*no such"):
        open_media(tmp_path / "gone.mp4")
    with pytest.raises(FormatError, match="not a video or image"):
        open_media(shutil.copy(fake, tmp_path / "notes.xyz"))
