"""Image folders, globs and lists of any sizes as one lazy stack on a canvas of the largest."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _media_samples import make_images, pattern
from PIL import Image

from napari_keyskel.errors import FormatError, FormatWarning
from napari_keyskel.media import ImageSource, media_kind, natural_key, open_media


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "frames"
    # three sizes, names that sort wrongly as text (img10 before img2)
    make_images(d, [(40, 60), (64, 96), (30, 20)], ["img10.png", "img2.png", "img1.jpg"])
    Image.fromarray(pattern(5, 50, 70)[..., 0]).save(d / "img3.png")  # grey
    (d / "notes.txt").write_text("not an image")
    return d


def test_folder_opens_in_natural_order_on_a_canvas_of_the_largest(folder):
    src = open_media(folder)
    assert isinstance(src, ImageSource) and src.kind == "images"
    assert src.names == ["img1.jpg", "img2.png", "img3.png", "img10.png"]
    assert src.sizes.tolist() == [[30, 20], [64, 96], [50, 70], [40, 60]]
    assert src.shape == (4, 64, 96, 3) and src.dtype == np.uint8
    # each image at the top left, its true pixels; the rest of the canvas black
    img2 = np.asarray(Image.open(folder / "img2.png"))
    np.testing.assert_array_equal(src[1], img2)
    img10 = np.asarray(Image.open(folder / "img10.png"))
    np.testing.assert_array_equal(src[3][:40, :60], img10)
    assert not src[3][40:].any() and not src[3][:, 60:].any()
    grey = np.asarray(Image.open(folder / "img3.png"))
    np.testing.assert_array_equal(src[2][:50, :70], np.repeat(grey[..., None], 3, axis=-1))
    jpg = np.asarray(Image.open(folder / "img1.jpg"))
    np.testing.assert_array_equal(src[0][:30, :20], jpg)
    d = src.describe()
    json.dumps(d)
    assert d["names"] == src.names and d["sizes"] == src.sizes.tolist()
    assert d["width"] == 96 and d["height"] == 64 and d["fps"] is None


def test_glob_list_and_one_image(folder):
    by_glob = open_media(str(folder / "img*.png"))
    assert by_glob.names == ["img2.png", "img3.png", "img10.png"]
    by_list = open_media([folder / "img10.png", folder / "img1.jpg"])
    assert by_list.names == ["img10.png", "img1.jpg"]  # a list keeps its order
    one = open_media(folder / "img2.png")
    assert one.shape == (1, 64, 96, 3)


def test_grey_folder_is_one_channel(tmp_path):
    for k, (h, w) in enumerate([(10, 12), (14, 8)]):
        Image.fromarray(np.full((h, w), 10 * k + 1, np.uint8)).save(tmp_path / f"g{k}.png")
    src = open_media(tmp_path)
    assert src.shape == (2, 14, 12)
    assert src[1][:14, :8].min() == 11 and not src[1][:, 8:].any()


def test_a_non_image_named_png_is_left_out_with_a_warning_naming_it(folder):
    (folder / "img4.png").write_text("I am not a PNG")
    with pytest.warns(FormatWarning, match=r"1 of 5 files.*img4\.png"):
        src = open_media(folder)
    assert "img4.png" not in src.names and len(src) == 4


def test_nothing_readable_is_refused_naming_the_place(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(FormatError, match=r"broken\.png"):
        open_media(bad)
    empty = tmp_path / "docs"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    assert media_kind(empty) is None
    with pytest.raises(FormatError, match=r"docs.*not a video or image"):
        open_media(empty)


def test_an_image_damaged_after_its_header_names_the_file(tmp_path):
    make_images(tmp_path, [(40, 40), (40, 40)])
    data = (tmp_path / "img1.png").read_bytes()
    (tmp_path / "img1.png").write_bytes(data[: len(data) // 2])
    src = open_media(tmp_path)
    with pytest.raises(FormatError, match=r"img1\.png.*frame 1"):
        src[1]
    src.strict = False
    with pytest.warns(FormatWarning, match=r"img1\.png"):
        assert not src[1].any()


def test_stride_over_images_and_natural_key():
    assert sorted(["a10", "a2", "A1", "b"], key=natural_key) == ["A1", "a2", "a10", "b"]


def test_image_stride(folder):
    src = open_media(folder, stride=2)
    assert src.frame_numbers.tolist() == [0, 2]
    np.testing.assert_array_equal(src[1][:50, :70, 0], np.asarray(Image.open(folder / "img3.png")))
    with pytest.raises(FormatError, match="fps applies to videos"):
        open_media(folder, fps=5)
