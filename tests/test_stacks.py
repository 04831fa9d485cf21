"""Microscopy TIFF and DICOM stacks (pure core): axes, voxel size, values, laziness, errors."""

from __future__ import annotations

import json
from pathlib import Path

import _stack_samples as S
import numpy as np
import pytest
import tifffile

from napari_keyskel.core.keyframes import interpolate_all, set_pose
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import FormatError
from napari_keyskel.formats import read, write
from napari_keyskel.stacks import Stack, is_dicom, is_tiff, normalise_unit, open_stack
from napari_keyskel.stacks import dicom as dicom_mod
from napari_keyskel.stacks.dicom import open_dicom
from napari_keyskel.stacks.tiff import open_tiff


# -- TIFF --------------------------------------------------------------------------------------------
def test_imagej_hyperstack_axes_scale_units_values(tmp_path: Path) -> None:
    path, data = S.write_hyperstack(tmp_path)
    st = open_stack(path)
    assert isinstance(st, Stack)
    assert st.axes == "TZYX"
    assert st.axis_labels == ("t", "z", "y", "x")
    assert st.scale == pytest.approx((S.HYPER_FINTERVAL, S.HYPER_SPACING, S.HYPER_PIXEL, S.HYPER_PIXEL))
    assert st.units == ("second", "micrometer", "micrometer", "micrometer")
    assert st.translate == (0.0, 0.0, 0.0, 0.0)
    assert st.channel_axis is None and st.channel_names == []
    assert st.meta["format"] == "imagej" and st.meta["lazy"] == "memmap"
    assert isinstance(st.data, np.memmap)  # lazy: nothing read until indexed
    np.testing.assert_array_equal(st.data[2, 13], data[2, 13])
    np.testing.assert_array_equal(np.asarray(st.data), data)


def test_imagej_channels_and_origin(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 4000, (3, 5, 2, 16, 20), dtype=np.uint16)
    path = tmp_path / "tzc.tif"
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"axes": "TZCYX", "spacing": 0.75, "unit": "micron", "xorigin": 4.0, "yorigin": 2.0},
    )
    st = open_tiff(path)
    assert st.axes == "TZCYX" and st.channel_axis == 2
    assert st.channel_names == ["ch0", "ch1"]
    assert st.scale == pytest.approx((1.0, 0.75, 1.0, 0.5, 0.5))
    # ImageJ origin is in pixels: voxel 0 sits at -origin * pixel size
    assert st.translate == pytest.approx((0.0, 0.0, 0.0, -1.0, -2.0))
    np.testing.assert_array_equal(np.asarray(st.data[1, :, 1]), data[1, :, 1])


def test_ome_compressed_is_lazy_dask_with_channel_names(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 60000, (2, 6, 2, 32, 24), dtype=np.uint16)
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(
        path,
        data,
        ome=True,
        compression="zlib",
        metadata={
            "axes": "TZCYX",
            "PhysicalSizeX": 0.3,
            "PhysicalSizeY": 0.4,
            "PhysicalSizeZ": 1.2,
            "PhysicalSizeZUnit": "nm",
            "TimeIncrement": 5.0,
            "Channel": {"Name": ["dapi", "gfp"]},
        },
    )
    st = open_stack(path)
    assert st.meta["format"] == "ome" and st.meta["lazy"] == "zarr"
    assert type(st.data).__module__.startswith("dask")
    assert st.axes == "TZCYX" and st.channel_names == ["dapi", "gfp"]
    assert st.scale == pytest.approx((5.0, 1.2, 1.0, 0.4, 0.3))
    assert st.units == ("second", "nanometer", None, "micrometer", "micrometer")
    np.testing.assert_array_equal(st.data[1, 3].compute(), data[1, 3])
    pages = open_tiff(path, engine="pages")  # the fallback without zarr reads the same values
    assert pages.meta["lazy"] == "pages"
    np.testing.assert_array_equal(np.asarray(pages.data), data)
    with pytest.raises(FormatError, match="not contiguous"):
        open_tiff(path, engine="memmap")


def test_plain_tiffs_get_unit_scale(tmp_path: Path) -> None:
    gray = tmp_path / "plain.tif"
    tifffile.imwrite(gray, np.arange(12, dtype=np.uint8).reshape(3, 4), resolution=(300, 300))
    st = open_stack(gray)
    assert (st.axes, st.scale, st.units, st.meta["format"]) == ("YX", (1.0, 1.0), (None, None), "tiff")
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((5, 6, 3), np.uint8))
    st = open_stack(rgb)
    assert st.axes == "YXS" and st.rgb and st.axis_labels == ("y", "x", "rgb")


def test_tiff_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00" + b"\xff" * 20)
    with pytest.raises(FormatError, match=r"broken\.tif"):
        open_stack(broken)
    text = tmp_path / "notes.tif"
    text.write_text("not an image")
    assert not is_tiff(text)
    with pytest.raises(FormatError, match="neither a TIFF"):
        open_stack(text)
    with pytest.raises(FormatError, match="not a readable TIFF"):
        open_tiff(text)
    with pytest.raises(FormatError, match="no such file"):
        open_stack(tmp_path / "missing.tif")
    good, _ = S.write_hyperstack(tmp_path)
    with pytest.raises(FormatError, match="no series 3"):
        open_tiff(good, series=3)


def test_normalise_unit() -> None:
    assert [normalise_unit(u) for u in ("micron", "µm", "um", "\\u00B5m", "pixel", None, "mm")] == [
        "micrometer",
        "micrometer",
        "micrometer",
        "micrometer",
        None,
        None,
        "millimeter",
    ]


# -- DICOM -------------------------------------------------------------------------------------------
def test_dicom_series_order_scale_rescale(tmp_path: Path) -> None:
    folder, expected = S.write_dicom_series(tmp_path / "ct")
    assert is_dicom(folder)
    st = open_stack(folder)
    assert st.axes == "ZYX" and st.axis_labels == ("z", "y", "x")
    assert st.shape == S.DICOM_SHAPE
    assert st.scale == pytest.approx((S.DICOM_DZ, *S.DICOM_PIXEL))
    assert st.units == ("millimeter",) * 3
    x0, y0 = S.DICOM_ORIGIN_XY
    assert st.translate == pytest.approx((S.DICOM_Z0, y0, x0))
    assert st.meta["order"] == "position" and st.meta["dz_source"] == "positions" and st.meta["uniform"]
    assert st.meta["rescale"] == {"slope": [S.DICOM_SLOPE], "intercept": [S.DICOM_INTERCEPT]}
    # instance numbers run against the positions and file names are shuffled: position wins
    assert st.data.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(st.data), expected)
    # the affine maps (z, y, x) voxel indices to patient (x, y, z)
    aff = np.asarray(st.meta["affine"])
    px, py = x0 + 7 * S.DICOM_PIXEL[1], y0 + 5 * S.DICOM_PIXEL[0]
    np.testing.assert_allclose(aff @ [3, 5, 7, 1], [px, py, S.DICOM_Z0 + 3 * S.DICOM_DZ, 1])


def test_dicom_one_file_opens_its_series(tmp_path: Path) -> None:
    folder, expected = S.write_dicom_series(tmp_path / "a", series_uid="1.2.3.4.1")
    S.write_dicom_series(tmp_path / "a" / "sub", series_uid="1.2.3.4.2", shape=(4, 64, 48))
    big = open_dicom(folder)  # a folder: its largest series
    assert big.shape == S.DICOM_SHAPE and big.meta["other_series"] == {"1.2.3.4.2": 4}
    one = next((tmp_path / "a" / "sub").glob("*.dcm"))
    small = open_dicom(one)  # a file: the series it belongs to
    assert small.shape == (4, 64, 48) and small.meta["series_uid"] == "1.2.3.4.2"
    first = next(folder.glob("*.dcm"))
    np.testing.assert_array_equal(np.asarray(open_dicom(first).data), expected)


def test_dicom_without_positions_uses_instance_number_and_thickness(tmp_path: Path) -> None:
    folder, expected = S.write_dicom_series(tmp_path / "nopos", positions=False)
    st = open_dicom(folder)
    assert st.meta["order"] == "InstanceNumber" and st.meta["dz_source"] == "SliceThickness"
    assert st.scale == pytest.approx((S.DICOM_DZ, *S.DICOM_PIXEL))
    assert st.translate == (0.0, 0.0, 0.0) and st.meta["affine"] is None
    np.testing.assert_array_equal(np.asarray(st.data), expected)


def test_dicom_float_rescale(tmp_path: Path) -> None:
    import pydicom

    folder, _ = S.write_dicom_series(tmp_path / "f", shape=(3, 8, 8))
    raw = S.dicom_raw_volume((3, 8, 8))
    for f in folder.glob("*.dcm"):
        ds = pydicom.dcmread(f)
        ds.RescaleSlope, ds.RescaleIntercept = "0.5", "-3.25"
        ds.save_as(f)
    st = open_dicom(folder)
    assert st.data.dtype == np.float32
    np.testing.assert_allclose(np.asarray(st.data), raw * 0.5 - 3.25)


def test_dicom_is_lazy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, expected = S.write_dicom_series(tmp_path / "lazy")
    calls: list[str] = []
    real = dicom_mod._load_slice

    def counting(path: str, *args: object) -> np.ndarray:
        calls.append(path)
        return real(path, *args)

    monkeypatch.setattr(dicom_mod, "_load_slice", counting)
    st = open_dicom(folder)
    assert calls == []  # headers only on open
    np.testing.assert_array_equal(st.data[7].compute(), expected[7])
    assert len(calls) == 1


def test_dicom_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("nothing here")
    assert not is_dicom(empty)
    with pytest.raises(FormatError, match="no DICOM files"):
        open_dicom(empty)
    folder, _ = S.write_dicom_series(tmp_path / "ct", shape=(3, 8, 8))
    victim = sorted(folder.glob("*.dcm"))[1]
    victim.write_bytes(victim.read_bytes()[:140])  # header cut short
    with pytest.warns(UserWarning, match="1 DICOM files could not be used"):
        st = open_dicom(folder)  # the rest of the series opens; the broken file is listed
    assert st.shape == (2, 8, 8) and list(st.meta["skipped"]) == [str(victim)]
    with pytest.raises(FormatError, match=rf"{victim.name}: (broken DICOM header|cannot be shown)"):
        open_dicom(victim)
    not_dicom = tmp_path / "x.dcm"
    not_dicom.write_bytes(b"\0" * 300)
    with pytest.raises(FormatError, match=r"x\.dcm.*DICM"):
        open_dicom(not_dicom)


def test_dicom_size_mismatch_and_duplicate_positions(tmp_path: Path) -> None:
    import pydicom

    folder, _ = S.write_dicom_series(tmp_path / "mix", shape=(4, 8, 8))
    files = sorted(folder.glob("*.dcm"))
    ds = pydicom.dcmread(files[0])
    ds.Rows, ds.Columns = 4, 16
    ds.save_as(files[0])
    st = open_dicom(folder)  # the 8x8 slices open; the odd-sized one is another image group
    assert st.shape == (3, 8, 8) and list(st.meta["other_series"].values()) == [1]
    assert "(4x16, " in next(iter(st.meta["other_series"]))
    assert open_dicom(files[0]).shape == (1, 4, 16)  # and opens on its own
    folder, _ = S.write_dicom_series(tmp_path / "dup", shape=(4, 8, 8))
    files = sorted(folder.glob("*.dcm"))
    ds0, ds1 = pydicom.dcmread(files[0]), pydicom.dcmread(files[1])
    ds1.ImagePositionPatient = ds0.ImagePositionPatient
    ds1.save_as(files[1])
    with pytest.raises(FormatError, match="two slices at one position"):
        open_dicom(folder)


# -- annotations on stacks -------------------------------------------------------------------------
def test_z_keys_interpolate_between_slices() -> None:
    n, h, w = 24, 64, 48
    store = S.sample_store(n, h, w)
    poses = S.key_poses(h, w)
    t = store.track(1)
    np.testing.assert_array_equal(np.flatnonzero(t.is_key.all(axis=1)) + t.start, S.KEY_SLICES)
    for z in range(0, 21):
        a, b = (0, 10) if z <= 10 else (10, 20)
        f = (z - a) / (b - a)
        np.testing.assert_allclose(t.coords[z - t.start], (1 - f) * poses[a] + f * poses[b], atol=1e-9)
    assert t.stop == 21  # no extrapolation past the last key


def test_z_keys_on_a_4d_stack_frame_axis_is_z() -> None:
    """Layer (t, z, y, x), frame axis 1: keys at z = 0, 10, 20 of time point 2 fill z in between."""
    store = AnnotationStore(S.skeleton(), coord_ndim=3, frame_axis=1, n_frames=24)
    store.add_track(1, start=0)
    poses = S.key_poses(64, 64)
    for z, pose in poses.items():
        set_pose(store, z, 1, np.column_stack([np.full(3, 2.0), pose]))
    interpolate_all(store, "linear")
    coords, _, key = store.get(15, 1)
    assert not key.any()
    np.testing.assert_allclose(coords[:, 0], 2.0)
    np.testing.assert_allclose(coords[:, 1:], 0.5 * (poses[10] + poses[20]))


@pytest.mark.parametrize("fmt", ["darwin", "coco"])
def test_volume_annotation_round_trip_keeps_voxels(tmp_path: Path, fmt: str) -> None:
    n, h, w = S.DICOM_SHAPE
    ds = S.sample_annotation("ct", n, h, w, "dicom")
    path = write(ds, tmp_path / f"ct_{fmt}.json", fmt)[0]
    back = read(path, skeleton=S.skeleton())
    a, b = ds.stores[0].track(1), back.stores[0].track(1)
    assert (b.start, b.stop) == (a.start, a.stop)
    np.testing.assert_allclose(b.coords, a.coords, atol=1e-9)
    if fmt == "darwin":  # COCO has no keyframe flag; Darwin keeps it
        np.testing.assert_array_equal(b.is_key, a.is_key)
        slot = json.loads(path.read_text())["item"]["slots"][0]
        assert slot["type"] == "dicom" and slot["frame_count"] == n


def test_v7_volume_slot_metadata_kept_verbatim_and_not_used(tmp_path: Path, data_dir: Path) -> None:
    """pixdim/affine of a V7 dicom slot survive a round trip and do not rescale voxel coordinates."""
    src = data_dir / "darwin2_volume_dicom_slot_hippocampus.json"
    doc = json.loads(src.read_text())
    doc["item"]["slots"][0]["metadata"]["pixdim"] = "(2.0, 3.0, 7.5)"
    doc["item"]["slots"][0]["metadata"]["handler"] = "MONAI"
    edited = tmp_path / "hippo.json"
    edited.write_text(json.dumps(doc))
    ds = read(edited)
    n = len(ds.frames)
    assert n == 35 and all(fr["slot_type"] == "dicom" for fr in ds.frames)
    store = S.sample_store(n, 51, 35)
    ds.stores.append(store)
    out = write(ds, tmp_path / "out.json", "darwin")[0]
    slot = json.loads(out.read_text())["item"]["slots"][0]
    assert slot["metadata"] == doc["item"]["slots"][0]["metadata"]
    back = read(out, skeleton=S.skeleton()).store("worm").track(1)
    np.testing.assert_allclose(back.coords, store.track(1).coords, atol=1e-9)
