"""Small videos and image sets made in the tests with PyAV and Pillow (no files from elsewhere)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def pattern(i: int, h: int, w: int) -> np.ndarray:
    """A frame that differs from every other one: a moving bar, a gradient and the number in blocks."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    img[..., 1] = ((y + 3 * i) % h * 255 // max(h - 1, 1)).astype(np.uint8)
    bar = (x - 2 * i) % w < 8
    img[bar, 2] = 255
    for b in range(8):  # the frame number as 8 black/white blocks
        if (i >> b) & 1:
            img[: h // 6, b * w // 8 : (b + 1) * w // 8] = 255
    return img


def make_video(
    path: Path,
    n: int = 60,
    *,
    codec: str = "libx264",
    size: tuple[int, int] = (96, 64),
    rate: int = 25,
    gop: int = 250,
    bframes: int = 3,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode ``n`` pattern frames; ``pts`` (in ``time_base``) gives a variable frame rate."""
    w, h = size
    with av.open(str(path), "w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        opts = {}
        if codec == "libx264":
            opts = {
                "preset": "veryfast",
                "x264-params": f"keyint={gop}:min-keyint={gop}:bframes={bframes}:scenecut=0",
            }
        elif codec == "libx265":
            opts = {
                "preset": "ultrafast",
                "x265-params": f"keyint={gop}:min-keyint={gop}:bframes={bframes}:log-level=error",
            }
        opts.update(options or {})
        stream.options = opts
        if time_base is not None:
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
        for i in range(n):
            rgb = pattern(i, h, w)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if pix_fmt.startswith("gray"):
                frame = av.VideoFrame.from_ndarray(rgb[..., 1].copy(), format="gray")
            if pts is not None:
                frame.pts = pts[i]
                frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def sequential_frames(path: Path, fmt: str = "rgb24") -> list[np.ndarray]:
    """Every frame of a full sequential decode, in the order the decoder gives them."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format=fmt) for f in c.decode(video=0)]


def make_images(folder: Path, sizes: list[tuple[int, int]], names: list[str] | None = None) -> list[Path]:
    """RGB PNG/JPEG images of the given ``(h, w)`` sizes; ``names`` sets the file names."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k, (h, w) in enumerate(sizes):
        name = names[k] if names else f"img{k}.png"
        arr = pattern(k, h, w)
        Image.fromarray(arr).save(folder / name)
        out.append(folder / name)
    return out
