"""Frame suggestions: diverse frames (thumbnails -> PCA -> full k-means), exactly N, read lazily."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from napari_keyskel.dataset.suggest import choose, kmeans, suggest_frames, suggest_many, thumbnail, thumbnails

ROOT = Path(__file__).parent.parent
RUNS = [150, 3, 40, 2, 90, 6, 25]  # K = 7 scenes, some a few frames long


def scenes(rng: np.random.Generator, k: int, h: int = 48, w: int = 64) -> list[np.ndarray]:
    """k distinct pictures: blocky random colours (they survive video compression)."""
    out = []
    for _ in range(k):
        blocks = rng.integers(0, 256, (h // 8, w // 8, 3)).astype(np.uint8)
        out.append(np.kron(blocks, np.ones((8, 8, 1), np.uint8)))
    return out


def scene_video(rng: np.random.Generator, runs=RUNS) -> tuple[np.ndarray, np.ndarray]:
    """Frames of len(runs) scenes in runs of the given lengths (with noise), and each frame's scene."""
    pics = scenes(rng, len(runs))
    labels = np.concatenate([np.full(r, k) for k, r in enumerate(runs)])
    noise = rng.integers(-12, 13, (len(labels), *pics[0].shape))
    frames = np.clip(np.stack([pics[k] for k in labels]).astype(int) + noise, 0, 255).astype(np.uint8)
    return frames, labels


def encode(path: Path, frames: np.ndarray, rate: int = 25) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=rate)
        s.height, s.width = frames.shape[1:3]
        s.pix_fmt = "yuv420p"
        s.options = {"preset": "veryfast", "x264-params": "keyint=50:bframes=2", "crf": "18"}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


@pytest.mark.parametrize("seed", range(8))
def test_k_suggestions_cover_k_scenes_in_unequal_runs(seed):
    frames, labels = scene_video(np.random.default_rng(seed))
    got = suggest_frames(frames, len(RUNS), seed=seed)
    assert len(got) == len(RUNS) == len(set(got.tolist()))
    assert sorted(set(labels[got].tolist())) == list(range(len(RUNS)))


def test_k_suggestions_cover_every_scene_of_an_encoded_video(tmp_path):
    from napari_keyskel.media import open_media

    frames, labels = scene_video(np.random.default_rng(42))
    src = open_media(encode(tmp_path / "scenes.mp4", frames))
    assert len(src) == len(labels)
    got = suggest_frames(src, len(RUNS))
    assert sorted(set(labels[got].tolist())) == list(range(len(RUNS)))
    with_motion = suggest_frames(src, len(RUNS), motion=True)
    assert sorted(set(labels[with_motion].tolist())) == list(range(len(RUNS)))


def test_exactly_n_distinct_frames_even_when_the_frames_are_alike():
    still = np.zeros((40, 16, 16), np.uint8)
    got = suggest_frames(still, 10)
    assert len(got) == 10 == len(set(got.tolist()))
    assert len(suggest_frames(still, 100)) == 40  # never more than the frames
    two = np.concatenate([np.zeros((30, 8, 8)), np.full((30, 8, 8), 255.0)])
    got = suggest_frames(two, 5)
    assert len(set(got.tolist())) == 5 and {0, 1} == set((got >= 30).astype(int).tolist())
    assert len(suggest_frames(two, 5, exclude=np.arange(50))) == 5  # only 10 left: frames 50..59
    assert set(suggest_frames(two, 5, exclude=np.arange(50)).tolist()) <= set(range(50, 60))


def test_motion_picks_the_frame_that_changes_most():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 200, (16, 16)).astype(float)
    frames = np.stack([base + 0.1 * i for i in range(30)])
    frames[17] += 40  # one frame jumps (and back at 18)
    thumbs = np.stack([thumbnail(f, 8).ravel() for f in frames])
    assert choose(thumbs, 1, motion=True)[0] in (17, 18)
    assert choose(thumbs, 1, motion=False)[0] not in (17, 18)  # the centre of the one cluster


def test_thumbnails_read_a_few_frames_at_a_time():
    class Counting:
        def __init__(self, n):
            self.n, self.largest = n, 0

        def __len__(self):
            return self.n

        def __getitem__(self, idx):
            idx = np.atleast_1d(np.asarray(idx))
            self.largest = max(self.largest, idx.size)
            return np.zeros((idx.size, 64, 64, 3), np.uint8) + idx[:, None, None, None].astype(np.uint8)

    src = Counting(500)
    th = thumbnails(src, np.arange(0, 500, 3))
    assert th.shape == (167, 32 * 32) and src.largest <= 8
    assert np.allclose(th[:, 0], (np.arange(0, 500, 3) % 256))


def test_kmeans_finds_a_tiny_far_cluster():
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [rng.normal(0, 1, (2000, 2)), rng.normal(0, 1, (2000, 2)) + np.array([8, 0]), [[40, 40], [40.5, 40]]]
    )
    labels, _, _ = kmeans(x, 3, n_init=5)
    assert labels[-1] == labels[-2] and np.sum(labels == labels[-1]) == 2


def test_suggest_many_shares_the_frames_between_items():
    rng = np.random.default_rng(5)
    a, la = scene_video(rng, [60, 5])
    b, lb = scene_video(rng, [30, 30])
    media = {"a": a, "b": b}
    got = suggest_many([("a", len(a)), ("b", len(b))], 4, lambda key, fr: thumbnails(media[key], fr))
    assert len(got) == 4 and len(set(got)) == 4
    seen = {(k, int((la if k == "a" else lb)[f])) for k, f in got}
    assert seen == {("a", 0), ("a", 1), ("b", 0), ("b", 1)}


# -- a long video through the command line -----------------------------------------------------------------
def hour_video(path: Path, size=(1280, 720)) -> Path:
    """An hour at 0.5 fps (1800 frames of 1280x720): a 30-frame clip remuxed 60 times, shifted in time."""
    w, h = size
    clip = path.with_name("clip.mp4")
    rng = np.random.default_rng(1)
    pics = [
        np.kron(rng.integers(0, 256, (h // 80, w // 80, 3)).astype(np.uint8), np.ones((80, 80, 1), np.uint8))
    ]
    pics = [np.roll(pics[0], 7 * i, axis=1) for i in range(30)]
    encode(clip, np.stack(pics), rate=1)
    with av.open(str(clip)) as src, av.open(str(path), "w") as out:
        ist = src.streams.video[0]
        ost = out.add_stream_from_template(ist)
        packets = [p for p in src.demux(ist) if p.size]
        step = packets[1].pts - packets[0].pts if len(packets) > 1 else 1
        span = max(p.pts for p in packets) - min(p.pts for p in packets) + step
        for k in range(60):
            for p in packets:
                q = av.Packet(bytes(p))
                q.pts = 2 * (p.pts + k * span)
                q.dts = 2 * ((p.dts if p.dts is not None else p.pts) + k * span)
                q.time_base, q.is_keyframe, q.stream = p.time_base, p.is_keyframe, ost
                out.mux(q)
    return path


CHILD = r"""
import json, sys, time
def vm(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
import numpy, av
from napari_keyskel.cli.main import main
import napari_keyskel.media, napari_keyskel.dataset.suggest
base = vm("VmRSS:")
t = time.perf_counter()
code = main(["suggest", sys.argv[1], "--n", "20", "--json"])
sys.stdout.flush()
out = {"code": code, "base": base, "peak": vm("VmHWM:"), "s": time.perf_counter() - t}
print(json.dumps(out), file=sys.stderr)
"""


def test_suggest_on_an_hour_of_video_stays_under_200_decoded_frames(tmp_path):
    path = hour_video(tmp_path / "hour.mp4")
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.frames == 1800 and float(c.duration) / av.time_base >= 3599
        frame_bytes = s.codec_context.width * s.codec_context.height * 3
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr
    stats = json.loads(run.stderr.strip().splitlines()[-1])
    picks = json.loads(run.stdout)
    assert stats["code"] == 0 and len(picks) == 20 and len({p["frame"] for p in picks}) == 20
    assert all(0 <= p["frame"] < 1800 for p in picks)
    grown = stats["peak"] - stats["base"]
    assert grown < 200 * frame_bytes, (
        f"peak grew {grown / 2**20:.0f} MiB; 200 frames are {200 * frame_bytes / 2**20:.0f} MiB"
    )
