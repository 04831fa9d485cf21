"""Propagation and "interpolate with the image" read a video through the lazy media source."""

from __future__ import annotations

import av
import cv2  # noqa: F401  (a promised client: fail, not skip, without OpenCV)
import numpy as np

from napari_keyskel.assist.propagate import FrameSource, interpolate_with_image
from napari_keyskel.media import open_media
from napari_keyskel.samples.texture import keyed_store, textured_video


def test_interpolate_with_the_image_decodes_only_the_frames_it_needs(tmp_path):
    video = textured_video(n_frames=41, shape=(192, 192), n_nodes=4, seed=3)
    path = tmp_path / "texture.mkv"
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 192, 192, "gray"
        for f in video.frames:
            grey = np.ascontiguousarray(f if f.ndim == 2 else f[..., :3].mean(axis=-1)).astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(grey, format="gray")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    media = open_media(path)
    store = keyed_store(video, every=10)
    # keys at 0, 10, 20, 30, 40: only the span 10..20 is filled
    interpolate_with_image(store, FrameSource(media), frames=(10, 21))
    t = next(iter(store))
    err = np.hypot(*(t.coords[11:20] - video.truth[11:20]).transpose(2, 0, 1))
    assert np.nanmean(err) < 2.0
    assert media.stats["decoded"] <= 21 + 8 + 5  # that span (and a few read ahead), not the video
