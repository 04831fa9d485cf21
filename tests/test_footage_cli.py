"""The command line with footage: `keyskel info` names the media of each item, `propagate` and
`convert` take a video."""

from __future__ import annotations

import json
import shutil

import av
import cv2  # noqa: F401  (a promised client: fail, not skip, without OpenCV)
import numpy as np
from _media_samples import make_images, make_video

from napari_keyskel import formats
from napari_keyskel.cli.main import main
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.samples.texture import keyed_store, textured_video


def _store(n_frames, keys):
    sk = Skeleton(["head", "tail"], [(0, 1)], name="fly")
    store = AnnotationStore(sk, 2, 0, n_frames, name="fly")
    tid = store.add_track(name="one").track_id
    for f in keys:
        store.set_points(f, tid, np.array([[f + 5.0, 10.0], [f + 5.0, 20.0]]))
    return store


def _lossless(path, frames):
    """A grey FFV1 video of ``frames`` (lossless: the tracker sees the very pixels)."""
    h, w = frames.shape[1:3]
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "gray"
        for f in frames:
            grey = f if f.ndim == 2 else f[..., :3].mean(axis=-1)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(grey.astype(np.uint8)), format="gray")
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def test_propagate_follows_a_video(tmp_path):
    video = textured_video(n_frames=31, shape=(256, 256), n_nodes=4, seed=5)
    mkv = _lossless(tmp_path / "video.mkv", video.frames)
    keys = tmp_path / "keys.json"
    formats.write(AnnotationSet([keyed_store(video, every=10)]), keys, "coco")
    errors = {}
    for method in ("track", "linear"):
        out = tmp_path / f"{method}.json"
        assert main(["propagate", str(mkv), str(keys), str(out), "--method", method]) == 0
        t = next(iter(formats.read(out).stores[0]))
        err = np.hypot(*(t.coords - video.truth[t.start : t.stop]).transpose(2, 0, 1))
        errors[method] = err[~t.is_key]
    assert errors["track"].size == 27 * 4
    assert errors["track"].mean() <= 0.5 * errors["linear"].mean()


def test_info_names_the_media_found_for_each_item(tmp_path, capsys):
    make_images(tmp_path / "images", [(30, 40), (20, 20)], ["a.png", "b.png"])
    frames = [
        {"item": n, "frame": 0, "file_name": n, "width": 40, "height": 30}
        for n in ("a.png", "b.png", "c.png")
    ]
    doc = tmp_path / "k.json"
    formats.write(AnnotationSet([_store(3, [0, 1, 2])], frames), doc, "coco")
    assert main(["info", str(doc)]) == 0
    out = capsys.readouterr().out
    assert "media: 2 of 3 items found" in out
    assert f"a.png: {tmp_path / 'images' / 'a.png'}" in out
    assert "c.png: not found (looked for" in out and str(tmp_path / "c.png") in out
    assert main(["info", str(doc), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["media"]["items"]["b.png"] == str(tmp_path / "images" / "b.png")
    assert info["media"]["items"]["c.png"] is None


def test_convert_to_yolo_takes_a_video(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", 12, gop=6)
    store = _store(12, [0, 4, 8])
    frames = [{"item": "clip.mp4", "frame": f, "width": 96, "height": 64} for f in range(12)]
    src = tmp_path / "ann" / "k.json"
    formats.write(AnnotationSet([store], frames), src, "darwin")
    out = tmp_path / "yolo"
    assert main(["convert", str(src), str(out), "--to", "yolo", "--video", str(clip)]) == 0
    assert (out / "data.yaml").is_file()
    assert any(out.rglob("*.png")) or any(out.rglob("*.jpg"))
    shutil.rmtree(out)
