"""Synthetic microscopy and DICOM samples, written at test time (no binaries in the repository).

- :func:`write_hyperstack`: a (t, z, y, x) uint16 ImageJ hyperstack with voxel size and unit;
- :func:`write_dicom_series`: a folder of single-slice DICOM files (pydicom, test-only) with
  positions, pixel spacing and rescale slope/intercept, written in shuffled file order with
  instance numbers that run against the positions (so only position sorting gets it right);
- :func:`sample_annotation`: a 3-node skeleton keyed on slices 0, 10, 20 of a z-stack (the frame
  axis is z) and interpolated between, as a :class:`~napari_keyskel.core.annotation_set.AnnotationSet`.

Used by tests/test_stacks.py, tests/test_stack_viewer.py and examples/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.keyframes import interpolate_all, set_pose
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore

# microscopy sample geometry
HYPER_SHAPE = (4, 24, 64, 64)  # t, z, y, x
HYPER_PIXEL = 0.25  # µm (x and y)
HYPER_SPACING = 1.5  # µm (z)
HYPER_FINTERVAL = 2.0  # s

# DICOM sample geometry
DICOM_SHAPE = (24, 64, 48)  # z, rows, columns
DICOM_PIXEL = (0.8, 0.6)  # mm (row spacing = y, column spacing = x)
DICOM_DZ = 2.5  # mm between slice centres
DICOM_Z0 = -40.0  # mm, position of the lowest slice along the normal
DICOM_ORIGIN_XY = (-20.0, 12.0)  # mm, patient x, y of pixel [0, 0]
DICOM_SLOPE, DICOM_INTERCEPT = 2, -1024

KEY_SLICES = (0, 10, 20)


def hyperstack_array(shape: tuple[int, ...] = HYPER_SHAPE) -> np.ndarray:
    """A (t, z, y, x) uint16 stack whose every voxel value encodes its index."""
    t, z, y, x = np.indices(shape, dtype=np.uint32)
    return (t * 10000 + z * 100 + (y + x) % 100).astype(np.uint16)


def write_hyperstack(folder: Path, name: str = "hyperstack.tif") -> tuple[Path, np.ndarray]:
    """Write the ImageJ hyperstack; returns its path and the array written."""
    import tifffile

    data = hyperstack_array()
    path = Path(folder) / name
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / HYPER_PIXEL, 1 / HYPER_PIXEL),
        metadata={"axes": "TZYX", "spacing": HYPER_SPACING, "unit": "um", "finterval": HYPER_FINTERVAL},
    )
    return path, data


def dicom_raw_volume(shape: tuple[int, int, int] = DICOM_SHAPE) -> np.ndarray:
    """Stored (raw) uint16 pixel values per slice: value = 100*z + row + column, plus a sphere."""
    z, y, x = np.indices(shape)
    vol = 100 * z + y + x
    c = np.array(shape) / 2
    vol[((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) < 64] += 1500
    return vol.astype(np.uint16)


def write_dicom_series(
    folder: Path,
    positions: bool = True,
    shape: tuple[int, int, int] = DICOM_SHAPE,
    series_uid: str = "1.2.826.0.1.3680043.8.498.1",
) -> tuple[Path, np.ndarray]:
    """Write a DICOM series; returns the folder and the expected rescaled (z, y, x) volume.

    Slice ``z`` (ascending along the patient z axis) is written as file ``slice_{perm[z]}.dcm``
    with ``InstanceNumber = n - z`` (descending). With ``positions=False`` the files carry no
    ``ImagePositionPatient``/``ImageOrientationPatient``; instance numbers then run with ``z`` and
    ``SliceThickness`` gives the spacing.
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    raw = dicom_raw_volume(shape)
    n = shape[0]
    perm = np.random.default_rng(7).permutation(n)
    study = generate_uid()
    for zi in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT image storage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"slice_{perm[zi]:03d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series_uid
        ds.Modality = "CT"
        ds.PatientID = "keyskel-synthetic"
        ds.Rows, ds.Columns = shape[1], shape[2]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelSpacing = [f"{DICOM_PIXEL[0]}", f"{DICOM_PIXEL[1]}"]
        ds.SliceThickness = f"{DICOM_DZ}"
        ds.RescaleSlope = f"{DICOM_SLOPE}"
        ds.RescaleIntercept = f"{DICOM_INTERCEPT}"
        if positions:
            ds.InstanceNumber = n - zi
            ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
            x0, y0 = DICOM_ORIGIN_XY
            ds.ImagePositionPatient = [f"{x0}", f"{y0}", f"{DICOM_Z0 + zi * DICOM_DZ}"]
        else:
            ds.InstanceNumber = zi + 1
        ds.PixelData = raw[zi].tobytes()
        ds.save_as(path, enforce_file_format=True)
    expected = raw.astype(np.int32) * DICOM_SLOPE + DICOM_INTERCEPT
    return folder, expected


def skeleton() -> Skeleton:
    """The sample skeleton: a 3-node chain."""
    return Skeleton(["head", "middle", "tail"], [("head", "middle"), ("middle", "tail")], name="worm")


def key_poses(height: int, width: int) -> dict[int, np.ndarray]:
    """Poses ``(3, 2)`` in (y, x) voxels keyed on :data:`KEY_SLICES`, inside a ``height x width`` slice."""
    poses = {}
    for i, z in enumerate(KEY_SLICES):
        cy, cx = height * (0.3 + 0.2 * i), width * (0.25 + 0.25 * i)
        poses[z] = np.array([[cy - 6.0, cx], [cy, cx + 3.5], [cy + 6.0, cx + 1.0]])
    return poses


def sample_store(n_slices: int, height: int, width: int) -> AnnotationStore:
    """One instance keyed on slices 0, 10, 20 (frame axis = z) and linearly interpolated."""
    store = AnnotationStore(skeleton(), coord_ndim=2, frame_axis=0, n_frames=n_slices, name="worm")
    store.add_track(1, start=0)
    for z, pose in key_poses(height, width).items():
        set_pose(store, z, 1, pose)
    interpolate_all(store, "linear")
    return store


def sample_annotation(item: str, n_slices: int, height: int, width: int, slot_type: str) -> AnnotationSet:
    """The sample annotation as a :class:`AnnotationSet` whose frames are the slices of ``item``."""
    frames = [
        {"item": item, "frame": z, "slot": "0", "slot_type": slot_type, "width": width, "height": height}
        for z in range(n_slices)
    ]
    return AnnotationSet(stores=[sample_store(n_slices, height, width)], frames=frames)
