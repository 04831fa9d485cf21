"""`keyskel propagate` and `keyskel accept` on files our writers produce."""

from __future__ import annotations

import cv2  # noqa: F401  (a promised client: fail, not skip, without OpenCV)
import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_keyskel import formats
from napari_keyskel.cli.main import main
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.samples.texture import keyed_store, textured_video


@pytest.fixture(scope="module")
def video():
    return textured_video(n_frames=31, shape=(256, 256), n_nodes=4, seed=5)


def _errors(store, video):
    t = store.tracks[next(iter(store.tracks))]
    err = np.hypot(*(t.coords - video.truth[t.start : t.stop]).transpose(2, 0, 1))
    return err[~t.is_key]


@pytest.mark.parametrize("fmt", ["coco", "darwin"])
def test_propagate_track_beats_linear_from_a_tiff_stack(tmp_path, video, fmt):
    tif = tmp_path / "video.tif"
    tifffile.imwrite(tif, video.frames)
    keys = tmp_path / f"keys_{fmt}.json"
    formats.write(AnnotationSet([keyed_store(video, every=10)]), keys, fmt)
    outs = {}
    for method in ("track", "linear"):
        out = tmp_path / f"{method}_{fmt}.json"
        assert main(["propagate", str(tif), str(keys), str(out), "--method", method]) == 0
        ds = formats.read(out)
        outs[method] = _errors(ds.stores[0], video)
    assert outs["track"].size == outs["linear"].size == 27 * 4
    assert outs["track"].mean() <= 0.5 * outs["linear"].mean()


def test_propagate_from_a_folder_of_frames_and_max_frames(tmp_path, video):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(video.frames):
        iio.imwrite(folder / f"frame_{i:04d}.png", frame)
    keys = tmp_path / "keys.json"
    formats.write(AnnotationSet([keyed_store(video, every=10)]), keys, "coco")
    out = tmp_path / "out.json"
    assert main(["propagate", str(folder), str(keys), str(out)]) == 0
    tracked = _errors(formats.read(out).stores[0], video)
    assert tracked.max() < 0.5
    capped = tmp_path / "capped.json"
    assert main(["propagate", str(folder), str(keys), str(capped), "--max-frames", "5"]) == 0
    linear = _errors(formats.read(capped).stores[0], video)  # spans of 10 > 5: left linear
    assert linear.mean() > 2 * tracked.mean()


def test_propagate_refuses_a_short_video_and_a_missing_image(tmp_path, video, capsys):
    tif = tmp_path / "short.tif"
    tifffile.imwrite(tif, video.frames[:12])
    keys = tmp_path / "keys.json"
    formats.write(AnnotationSet([keyed_store(video, every=10)]), keys, "coco")
    assert main(["propagate", str(tif), str(keys), str(tmp_path / "o.json")]) == 1
    assert "has 12 frames" in capsys.readouterr().err
    assert main(["propagate", str(tmp_path / "nope.tif"), str(keys), str(tmp_path / "o.json")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_accept_merges_proposals_as_keys(tmp_path, video):
    ann = keyed_store(video, every=10)
    props = AnnotationStore(video.skeleton, 2, 0, n_frames=video.truth.shape[0])
    props.add_track(1, start=5)
    props.set_points(5, 1, video.truth[5] + 0.25)
    props.add_track(2, start=5)  # far from every instance: a new one
    props.set_points(5, 2, video.truth[5] * 0.2 + 3)
    a, p = tmp_path / "ann.json", tmp_path / "props.json"
    formats.write(AnnotationSet([ann]), a, "coco")
    formats.write(AnnotationSet([props]), p, "coco")
    out = tmp_path / "merged.json"
    assert main(["accept", str(p), str(a), str(out), "--min-score", "0.5"]) == 0
    merged = formats.read(out).stores[0]
    assert sorted(merged.tracks) == [1, 2]
    t = merged.tracks[1]
    assert t.is_key[5 - t.start].all()
    np.testing.assert_allclose(t.coords[5 - t.start], video.truth[5] + 0.25, atol=1e-6)
