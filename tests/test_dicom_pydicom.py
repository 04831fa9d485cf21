"""DICOM through pydicom: pydicom's own bundled files (many producers) and synthetic compressed series.

Every bundled file either opens (values equal to pydicom's ``pixel_array``, rescaled) or raises a
FormatError naming it; a mixed folder never fails because of the files of other series.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import _stack_samples as S
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from napari_keyskel.errors import FormatError
from napari_keyskel.stacks import dicom as dicom_mod
from napari_keyskel.stacks.dicom import CODECS_HINT, open_dicom

BUNDLED = Path(get_testdata_file("CT_small.dcm")).parent

OPENS = {  # file: shape
    "CT_small.dcm": (1, 128, 128),
    "MR_small.dcm": (1, 64, 64),
    "MR_small_RLE.dcm": (1, 64, 64),
    "MR_small_bigendian.dcm": (1, 64, 64),
    "MR_small_implicit.dcm": (1, 64, 64),
    "MR_small_jp2klossless.dcm": (1, 64, 64),
    "MR_small_jpeg_ls_lossless.dcm": (1, 64, 64),
    "MR_small_padded.dcm": (1, 64, 64),
    "liver_1frame.dcm": (1, 512, 512),  # 1 bit per pixel
    "rtdose.dcm": (15, 10, 10),  # one multi-frame file
    "SC_rgb_rle_2frame.dcm": (2, 100, 100, 3),
    "examples_ybr_color.dcm": (30, 240, 320, 3),  # JPEG, YBR -> RGB
}
REFUSED = {
    "MR_truncated.dcm": "pixel data is cut short",
    "SC_ybr_full_422_uncompressed.dcm": "pixel data is cut short",
    "rtplan.dcm": "holds no pixel data",
    "reportsi.dcm": "holds no pixel data",
    "waveform_ecg.dcm": "holds no pixel data",
    "examples_palette.dcm": "palette-colour",
    "no_meta.dcm": "no 'DICM' marker",
}


@pytest.mark.parametrize("name", sorted(OPENS))
def test_bundled_file_opens_with_pydicoms_values(name: str) -> None:
    path = BUNDLED / name
    with pytest.warns(UserWarning, match="could not be used and were skipped"):  # the folder's other files
        st = open_dicom(path)
    assert st.shape == OPENS[name]
    assert st.axes == ("ZYXS" if len(OPENS[name]) == 4 else "ZYX")
    want = pydicom.dcmread(path).pixel_array
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    if len(OPENS[name]) == 3:
        want = want * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    np.testing.assert_array_equal(np.asarray(st.data), want.reshape(OPENS[name]))


def test_lossless_encodings_of_one_image_agree() -> None:
    base = np.asarray(open_dicom(BUNDLED / "MR_small.dcm").data)
    for name in (
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
    ):
        np.testing.assert_array_equal(np.asarray(open_dicom(BUNDLED / name).data), base)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_bundled_file_that_cannot_be_shown_names_itself(name: str) -> None:
    with pytest.raises(FormatError, match=REFUSED[name]) as info:
        open_dicom(BUNDLED / name)
    assert info.value.path == str(BUNDLED / name)


def test_every_bundled_file_opens_or_raises_a_format_error_naming_it() -> None:
    opened = refused = 0
    for path in sorted(BUNDLED.iterdir()):
        if not path.is_file():
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the other files of the folder, skipped
                st = open_dicom(path)
            np.asarray(st.data[0])  # decode one slice: a decoder failure is a FormatError too
            opened += 1
        except FormatError as exc:
            assert path.name in str(exc)
            refused += 1
    assert opened >= 40 and refused >= 20  # about 55 and 30 with pydicom 3


def test_mixed_folder_opens_our_series_and_lists_the_rest(tmp_path: Path) -> None:
    folder, expected = S.write_dicom_series(tmp_path / "mixed")
    for f in BUNDLED.glob("*.dcm"):  # other producers' series, RT, SR, broken files: in one folder
        shutil.copy(f, folder / f.name)
    with pytest.warns(UserWarning, match="could not be used"):
        st = open_dicom(folder)
    assert st.shape == S.DICOM_SHAPE
    np.testing.assert_array_equal(np.asarray(st.data), expected)
    skipped = {Path(k).name: v for k, v in st.meta["skipped"].items()}
    assert "cut short" in skipped["MR_truncated.dcm"] and "no pixel data" in skipped["rtplan.dcm"]
    assert len(st.meta["other_series"]) >= 10
    one = next(folder.glob("slice_*.dcm"))
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(np.asarray(open_dicom(one).data), expected)
    with pytest.warns(UserWarning):
        ct = open_dicom(folder / "CT_small.dcm")  # another producer's file opens its own series
    assert ct.shape == (1, 128, 128) and ct.meta["series_uid"] != st.meta["series_uid"]


def test_rle_compressed_series_decodes(tmp_path: Path) -> None:
    from pydicom.uid import RLELossless

    folder, expected = S.write_dicom_series(tmp_path / "rle", shape=(5, 16, 12))
    for f in folder.glob("*.dcm"):
        ds = pydicom.dcmread(f)
        ds.compress(RLELossless)
        ds.save_as(f)
    st = open_dicom(folder)
    assert st.meta["transfer_syntax"] == [RLELossless]
    np.testing.assert_array_equal(np.asarray(st.data), expected)


def test_compressed_without_a_decoder_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLSLossless

    decoder = get_decoder(JPEGLSLossless)
    monkeypatch.setattr(decoder, "_available", {})  # as if pylibjpeg were not installed
    path = BUNDLED / "MR_small_jpeg_ls_lossless.dcm"
    with pytest.raises(FormatError, match=r"MR_small_jpeg_ls_lossless\.dcm.*no decoder is installed") as info:
        open_dicom(path)
    assert CODECS_HINT in str(info.value)
    with pytest.warns(UserWarning):
        assert open_dicom(BUNDLED / "MR_small.dcm").shape == (1, 64, 64)  # the rest still opens


def test_a_slice_that_fails_to_decode_raises_a_format_error_naming_it(tmp_path: Path) -> None:
    folder, _ = S.write_dicom_series(tmp_path / "ct", shape=(3, 8, 8))
    st = open_dicom(folder)
    victim = st.meta["files"][1]
    ds = pydicom.dcmread(victim)
    ds.PixelData = ds.PixelData[:10]  # written after open: the header check could not see it
    ds.save_as(victim)
    with pytest.raises(FormatError, match=rf"{Path(victim).name}: cannot decode the pixel data"):
        np.asarray(st.data[1])
    assert dicom_mod.CODECS_HINT.startswith("pip install")
