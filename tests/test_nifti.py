"""NIfTI volumes through nibabel (files written by nibabel in the tests): axes, voxel size, affine, lazy."""

from __future__ import annotations

import json
from pathlib import Path

import _stack_samples as S
import nibabel as nib
import numpy as np
import pytest

from napari_keyskel.errors import FormatError
from napari_keyskel.formats import read, write
from napari_keyskel.stacks import is_nifti, open_stack
from napari_keyskel.stacks.nifti import open_nifti

SHAPE = (20, 14, 9)  # i, j, k
ZOOMS = (0.5, 0.8, 2.0)
ORIGIN = (-10.0, 4.0, 30.0)


def _volume(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    idx = np.indices(shape)
    return (idx[0] + 100 * idx[1] + 10000 * idx[2] if len(shape) == 3 else idx.sum(axis=0)).astype(np.int32)


def _affine() -> np.ndarray:
    aff = np.diag([*ZOOMS, 1.0])
    aff[:3, 3] = ORIGIN
    return aff


def _write(path: Path, data: np.ndarray, affine: np.ndarray | None = None, **header: object) -> Path:
    img = nib.Nifti1Image(data, _affine() if affine is None else affine)
    for key, value in header.items():
        img.header[key] = value
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, path)
    return path


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_axes_scale_translate_affine_and_values(tmp_path: Path, suffix: str) -> None:
    data = _volume()
    path = _write(tmp_path / f"vol{suffix}", data)
    assert is_nifti(path)
    st = open_stack(path)
    assert st.axes == "ZYX" and st.shape == SHAPE[::-1]
    assert st.scale == pytest.approx(ZOOMS[::-1])
    assert st.translate == pytest.approx(ORIGIN[::-1])
    assert st.units == ("millimeter",) * 3
    assert type(st.data).__module__.startswith("dask")
    assert set(st.data.chunks[0]) == {1}  # one chunk per slice: only what is shown is read
    np.testing.assert_array_equal(np.asarray(st.data), data.transpose(2, 1, 0))
    np.testing.assert_array_equal(np.asarray(st.data[4]), data[:, :, 4].T)
    # the stack's affine maps (z, y, x) to the file's world (RAS mm), as nibabel's affine maps (i, j, k)
    aff = np.asarray(st.meta["affine"])
    np.testing.assert_allclose(aff @ [3, 5, 7, 1], _affine() @ [7, 5, 3, 1])
    assert st.meta["format"] == "nifti" and st.meta["orientation"] == "RAS"


def test_oblique_affine_keeps_the_truth_in_metadata(tmp_path: Path) -> None:
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # i -> +y, j -> -x
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag(ZOOMS)
    aff[:3, 3] = ORIGIN
    st = open_nifti(_write(tmp_path / "rot.nii", _volume(), aff))
    assert st.scale == pytest.approx(ZOOMS[::-1])  # voxel sizes are the column norms
    np.testing.assert_allclose(np.asarray(st.meta["affine"]) @ [2, 3, 4, 1], aff @ [4, 3, 2, 1])
    np.testing.assert_allclose(st.meta["nifti_affine"], aff)


def test_4d_time_series_and_scaling(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 1000, (8, 6, 5, 3)).astype(np.int16)
    img = nib.Nifti1Image(data, _affine())
    img.header.set_xyzt_units("mm", "msec")
    img.header["pixdim"][4] = 250.0
    img.header.set_slope_inter(0.5, -2.0)
    path = tmp_path / "fmri.nii.gz"
    nib.save(img, path)
    st = open_nifti(path)
    assert st.axes == "TZYX" and st.shape == (3, 5, 6, 8)
    assert st.scale == pytest.approx((250.0, *ZOOMS[::-1]))
    assert st.units == ("millisecond", "millimeter", "millimeter", "millimeter")
    want = np.asarray(nib.load(path).get_fdata()).transpose(3, 2, 1, 0)
    np.testing.assert_allclose(np.asarray(st.data), want)
    assert st.data.dtype.kind == "f" and st.meta["scaled"]


def test_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nii"
    bad.write_bytes(b"\0" * 400)
    assert not is_nifti(bad)
    with pytest.raises(FormatError, match=r"bad\.nii: not a NIfTI file"):
        open_nifti(bad)
    good = _write(tmp_path / "cut.nii", _volume())
    good.write_bytes(good.read_bytes()[:600])  # header fine, voxels cut short
    with pytest.raises(FormatError, match=r"cut\.nii: broken NIfTI file: 600 bytes"):
        open_nifti(good)
    gz = _write(tmp_path / "cut.nii.gz", _volume())
    import gzip

    gz.write_bytes(gzip.compress(gzip.decompress(gz.read_bytes())[:2000]))
    st = open_nifti(gz)  # a .gz is not read on open; the slice that is cut short names the file
    with pytest.raises(FormatError, match=r"cut\.nii\.gz: broken NIfTI file"):
        np.asarray(st.data[8])
    with pytest.raises(FormatError, match="no such file"):
        open_nifti(tmp_path / "missing.nii.gz")


def test_v7_volume_item_from_nifti_lines_up_with_the_volume(tmp_path: Path, data_dir: Path) -> None:
    """A V7 ``dicom`` slot of a NIfTI upload: width = i, height = j, frames = k of that file."""
    doc = json.loads((data_dir / "darwin2_volume_dicom_slot_hippocampus.json").read_text())
    slot = doc["item"]["slots"][0]
    _, i, j, k = slot["metadata"]["shape"]
    assert (slot["width"], slot["height"], slot["frame_count"]) == (i, j, k)
    vol = np.zeros((i, j, k), np.int16)
    vol[7, 20, 11] = 999  # one bright voxel: column 7, row 20 of slice 11
    path = _write(tmp_path / slot["source_files"][0]["file_name"], vol)
    st = open_stack(path)
    ds = read(data_dir / "darwin2_volume_dicom_slot_hippocampus.json")
    assert st.shape == (len(ds.frames), ds.frames[0]["height"], ds.frames[0]["width"])
    assert np.asarray(st.data[11, 20, 7]) == 999
    # a Darwin annotation on slice 11 at that voxel reads back onto the same voxel of the volume
    store = S.sample_store(k, j, i)
    store.set_points(11, 1, [[20.0, 7.0]], nodes="head")
    ds.stores.append(store)
    back = read(write(ds, tmp_path / "out.json", "darwin")[0], skeleton=S.skeleton()).store("worm")
    z = 11
    y, x = back.track(1).coords[z - back.track(1).start, 0]
    assert np.asarray(st.data[z, round(y), round(x)]) == 999
