"""NWB pose files from the rest of the field (issue 24, item 5): DLC2NWB, ndx-pose 0.1 and 0.2+.

The files in ``tests/data`` are written as those tools write them (``tests/data/makers/nwb_files.py``).
sleap-io cannot read them (IndexError); keyskel reads them through pynwb and ndx-pose, and each
test compares with what pynwb and ndx-pose read here, series by series. pynwb, ndx-pose and
sleap-io are promised clients: these tests fail, not skip, without them.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import h5py
import ndx_pose  # noqa: F401  (registers the ndx-pose types)
import numpy as np
import pytest
import sleap_io as sio
from pynwb import NWBHDF5IO

from napari_keyskel.errors import FormatError
from napari_keyskel.formats import read, read_detected, write

DATA = Path(__file__).parent / "data"
FILES = {
    "ndx-pose 0.2+": DATA / "nwb_ndx_pose_0_2_two_subjects.nwb",
    "ndx-pose 0.1": DATA / "nwb_ndx_pose_0_1_nodes_edges.nwb",
    "DLC2NWB": DATA / "nwb_dlc2nwb_single_animal.nwb",
}


def _theirs(path: Path) -> list[tuple[str, list[str], dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]]:
    """(PoseEstimation name, nodes, {node: (timestamps, data, confidence)}) as pynwb + ndx-pose read them."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), mode="r") as io:
            nwb = io.read()
            for pe in nwb.processing["behavior"].data_interfaces.values():
                if type(pe).__name__ != "PoseEstimation":
                    continue
                nodes = list(pe.skeleton.nodes[:])
                series = {
                    n: (
                        np.asarray(pe.pose_estimation_series[n].timestamps[:]),
                        np.asarray(pe.pose_estimation_series[n].data[:]),
                        np.asarray(pe.pose_estimation_series[n].confidence[:]),
                    )
                    for n in nodes
                }
                out.append((pe.name, nodes, series))
    return out


@pytest.mark.parametrize("kind", list(FILES))
def test_reads_what_pynwb_and_ndx_pose_read(kind: str) -> None:
    path = FILES[kind]
    with pytest.raises(IndexError):  # sleap-io reads only its own layout
        sio.load_nwb(str(path))
    ds, fmt = read_detected(path)
    assert fmt == "nwb"
    theirs = _theirs(path)
    tracks = [t for s in ds.stores for t in s]
    assert len(tracks) == len(theirs)
    for (_name, nodes, series), t in zip(theirs, tracks):
        store = next(s for s in ds.stores if t in list(s))
        for node in nodes:
            ts, data, conf = series[node]
            part = node.removeprefix("ind1_") if kind == "DLC2NWB" else node
            k = store.skeleton.index(part)
            for time, xy, c in zip(ts, data, conf):
                f = next(i for i, fr in enumerate(ds.frames) if fr.get("time", fr["frame"]) == time)
                got = t.coords[f - t.start, k, ::-1]
                if np.isnan(xy).any():
                    assert np.isnan(got).all() and not t.is_key[f - t.start, k]
                    continue
                np.testing.assert_allclose(got, xy, atol=0)  # node by node, frame by frame
                assert t.score[f - t.start, k] == pytest.approx(c)
                assert t.is_key[f - t.start, k] and t.visibility[f - t.start, k] == 2


def test_skeletons_names_and_frames() -> None:
    ds = read(FILES["ndx-pose 0.2+"])
    (store,) = ds.stores  # two subjects, one skeleton (same nodes and edges)
    assert store.skeleton.nodes == ("snout", "left_ear", "right_ear", "tail_base")
    assert store.skeleton.edges == ((0, 1), (0, 2), (0, 3))
    assert [t.name for t in store] == ["mouse1", "PoseEstimation_mouse2"]  # the subject, else the object
    assert [fr["item"] for fr in ds.frames] == ["mice.mp4"] * 8 and ds.frames[3]["time"] == pytest.approx(0.1)
    old = read(FILES["ndx-pose 0.1"]).stores[0]
    assert old.skeleton.nodes == ("front_left_paw", "front_right_paw") and old.skeleton.edges == ((0, 1),)
    dlc = read(FILES["DLC2NWB"])
    (t,) = dlc.stores[0]
    assert t.name == "ind1" and dlc.stores[0].skeleton.nodes == ("snout", "leftear", "rightear", "tail_base")
    assert [fr["frame"] for fr in dlc.frames] == list(range(10))  # timestamps are the frame numbers


@pytest.mark.parametrize("kind", list(FILES))
def test_round_trip_through_nwb_coco_and_v7(tmp_path: Path, kind: str) -> None:
    ds = read(FILES[kind])

    def poses(d):  # (frame, x, y) of every placed node, with its node name
        return sorted(
            (fr, s.skeleton.nodes[k], *np.round(t.coords[fr - t.start, k, ::-1], 4))  # sleap-io: float32
            for s in d.stores
            for t in s
            for fr, k in zip(*np.nonzero(np.isfinite(t.coords[..., 0])))
            for fr in [fr + t.start]
        )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write(ds, tmp_path / "back.nwb", "nwb")
    said = " ".join(str(w.message) for w in caught)
    assert "cannot hold" in said and "instance name" in said  # sleap-io's NWB writer drops the names
    back = read(tmp_path / "back.nwb")  # sleap-io's layout: read by sleap-io
    assert poses(back) == poses(ds)
    for via, name in (("coco", "c.json"), ("darwin", "d")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            write(ds, tmp_path / name, via)
            again = read(tmp_path / name, format=via)
        assert poses(again) == poses(ds), via


def test_bad_nwb_files_say_where(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nwb"
    shutil.copy(FILES["DLC2NWB"], bad)
    with h5py.File(bad, "a") as f:
        del f["processing/behavior/PoseEstimation"]
    with pytest.raises(FormatError, match=r"bad\.nwb: no PoseEstimation in any processing module"):
        read(bad)
    shutil.copy(FILES["ndx-pose 0.1"], bad)
    with h5py.File(bad, "a") as f:
        data = f["processing/behavior/PoseEstimation/front_right_paw/data"]
        attrs = dict(data.attrs)
        del f["processing/behavior/PoseEstimation/front_right_paw/data"]
        new = f["processing/behavior/PoseEstimation/front_right_paw"].create_dataset(
            "data", data=np.zeros((6, 4))
        )
        new.attrs.update(attrs)
    with pytest.raises(
        FormatError,
        match=r"bad\.nwb: pynwb cannot read it \(root/processing/behavior/PoseEstimation/front_right_paw: "
        r".*incorrect shape for data: got \(6, 4\)",
    ):
        read(bad)
    (tmp_path / "junk.nwb").write_bytes(b"not hdf5")
    with pytest.raises(FormatError) as err:
        read(tmp_path / "junk.nwb")
    assert "\n" not in str(err.value) and len(str(err.value)) < 400
