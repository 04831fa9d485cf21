# ruff: noqa: E501
"""Write the NWB pose test files as DLC2NWB and ndx-pose write them (run from the repository root).

- ``nwb_ndx_pose_0_2_two_subjects.nwb``: ndx-pose's own classes (0.2+ layout, the installed 0.4):
  ``Skeletons`` holding one ``Skeleton`` per subject, one ``PoseEstimation`` per subject linking
  its skeleton and the camera, ``PoseEstimationSeries`` with timestamps (the later ones linking
  the first's), confidence and frames where a node was not found (NaN), as
  rly/ndx-pose ``examples/write_pose_estimates_only.py`` does.
- ``nwb_ndx_pose_0_1_nodes_edges.nwb``: the ndx-pose 0.1 layout, where ``nodes`` and ``edges`` are
  datasets of the ``PoseEstimation`` group (rly/ndx-pose ``src/pynwb/tests/back_compat/
  generate_data_0.1.1.py``, spec 0.1.1): the NWB file is written by pynwb, the ``PoseEstimation``
  group by h5py with the 0.1.1 datasets and attributes (``source_software`` with its ``version``
  attribute, ``confidence`` with ``definition``, ``timestamps`` with ``interval`` and ``unit``).
- ``nwb_dlc2nwb_single_animal.nwb``: what DeepLabCut/DLC2NWB ``convert_h5_to_nwb`` writes (ndx-pose
  0.1) for a single-animal project: module ``behavior``, ``PoseEstimation`` with nodes
  ``<individual>_<bodypart>`` (individual ``ind1``), timestamps = the frame numbers (the video not
  found), ``scorer``, ``source_software`` DeepLabCut, ``dimensions`` from the crop (uint8), no edges.
"""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path

import h5py
import numpy as np
from pynwb import NWBHDF5IO, NWBFile
from pynwb.file import Subject

OUT = Path("tests/data")
START = datetime.datetime(2025, 1, 15, 10, 0, tzinfo=datetime.timezone.utc)


def _poses(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xy = np.round(rng.uniform(5, 60, (n, k, 2)), 3)
    conf = np.round(rng.uniform(0.5, 1.0, (n, k)), 3)
    xy[3, 1] = np.nan  # a node not found on frame 3
    conf[3, 1] = np.nan
    return xy, conf


def ndx_pose_0_2() -> None:
    from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons

    nwb = NWBFile(session_description="two mice", identifier="ndx-pose-0.2", session_start_time=START)
    nwb.subject = Subject(subject_id="mouse1", species="Mus musculus")
    camera = nwb.create_device(name="camera1", description="top camera")
    nodes = ["snout", "left_ear", "right_ear", "tail_base"]
    edges = np.array([[0, 1], [0, 2], [0, 3]], dtype="uint8")
    behavior = nwb.create_processing_module(name="behavior", description="processed behavioral data")
    skeletons, estimates = [], []
    t = np.arange(8) / 30.0  # 30 frames per second
    for i, subject in enumerate(("mouse1", "mouse2")):
        sk = Skeleton(
            name=f"{subject}_skeleton", nodes=nodes, edges=edges, subject=nwb.subject if i == 0 else None
        )
        skeletons.append(sk)
        xy, conf = _poses(8, 4, seed=i)
        series = []
        for k, node in enumerate(nodes):
            series.append(PoseEstimationSeries(
                name=node, description=f"{node} of {subject}", data=xy[:, k], unit="pixels",
                reference_frame="(0,0) is the top left corner of the video",
                timestamps=t if k == 0 else series[0], confidence=conf[:, k],
                confidence_definition="Softmax output of the deep neural network.",
            ))  # fmt: skip
        estimates.append(PoseEstimation(
            name=f"PoseEstimation_{subject}", pose_estimation_series=series,
            description=f"Estimated positions of {subject} using SLEAP.", original_videos=["mice.mp4"],
            dimensions=np.array([[64, 48]], dtype="uint16"), device=camera, scorer="model-2025-01",
            source_software="SLEAP", source_software_version="1.4.1", skeleton=sk,
        ))  # fmt: skip
    behavior.add(Skeletons(skeletons=skeletons))
    for pe in estimates:
        behavior.add(pe)
    with NWBHDF5IO(OUT / "nwb_ndx_pose_0_2_two_subjects.nwb", mode="w") as io:
        io.write(nwb)


def _text(group: h5py.Group, name: str, value: str | list[str]) -> h5py.Dataset:
    return group.create_dataset(name, data=value, dtype=h5py.string_dtype())


def _attrs(obj: h5py.HLObject, **attrs: object) -> None:
    for k, v in attrs.items():
        obj.attrs[k] = v


def ndx_pose_0_1(path: Path, *, nodes: list[str], edges: np.ndarray, timestamps: np.ndarray, xy: np.ndarray,
                 conf: np.ndarray, description: str, scorer: str, software: tuple[str, str],
                 videos: list[str] | None, dimensions: np.ndarray | None, series_text: dict[str, str],
                 session: str, identifier: str, experimenter: str | None = None) -> None:  # fmt: skip
    """An NWB file by pynwb, its PoseEstimation group in the ndx-pose 0.1.1 layout by h5py."""
    nwb = NWBFile(session_description=session, identifier=identifier, session_start_time=START,
                  experimenter=experimenter)  # fmt: skip
    nwb.create_processing_module(name="behavior", description="processed behavioral data")
    with NWBHDF5IO(path, mode="w") as io:
        io.write(nwb)
    with h5py.File(path, "a") as f:
        pe = f["processing/behavior"].create_group("PoseEstimation")
        _attrs(pe, namespace="ndx-pose", neurodata_type="PoseEstimation", object_id=str(uuid.uuid4()),
               description=description)  # fmt: skip
        _text(pe, "nodes", nodes)
        pe.create_dataset("edges", data=edges.astype("uint8").reshape(-1, 2))
        if videos is not None:
            _text(pe, "original_videos", videos)
        if dimensions is not None:
            pe.create_dataset("dimensions", data=dimensions.astype("uint8"))
        _text(pe, "scorer", scorer)
        sw = _text(pe, "source_software", software[0])
        sw.attrs["version"] = software[1]
        first = None
        for k, node in enumerate(nodes):
            s = pe.create_group(node)
            _attrs(s, namespace="ndx-pose", neurodata_type="PoseEstimationSeries", object_id=str(uuid.uuid4()),
                   description=series_text["description"].format(node=node, part=node.removeprefix("ind1_")),
                   comments="no comments")  # fmt: skip
            d = s.create_dataset("data", data=xy[:, k])
            _attrs(d, unit="pixels", conversion=1.0, resolution=-1.0, offset=0.0)
            _text(s, "reference_frame", series_text["reference_frame"])
            c = s.create_dataset("confidence", data=conf[:, k])
            c.attrs["definition"] = "Softmax output of the deep neural network."
            if first is None:
                ts = s.create_dataset("timestamps", data=timestamps.astype(float))
                _attrs(ts, interval=1, unit="seconds")
                first = ts
            else:
                s["timestamps"] = first  # a hard link: the series share the first one's timestamps


def main() -> None:
    ndx_pose_0_2()
    xy, conf = _poses(6, 2, seed=7)
    ndx_pose_0_1(
        OUT / "nwb_ndx_pose_0_1_nodes_edges.nwb", nodes=["front_left_paw", "front_right_paw"],
        edges=np.array([[0, 1]]), timestamps=np.linspace(0, 0.5, 6), xy=xy, conf=conf,
        description="Estimated positions of front paws using DeepLabCut.",
        scorer="DLC_resnet50_openfieldOct30shuffle1_1600", software=("DeepLabCut", "2.2b8"), videos=None,
        dimensions=None, series_text={"description": "Marker placed around fingers of {node}.",
                                      "reference_frame": "(0,0,0) corresponds to ..."},
        session="session_description", identifier="identifier",
    )  # fmt: skip
    parts = ["snout", "leftear", "rightear", "tail_base"]
    xy, conf = _poses(10, 4, seed=11)
    xy[3, 1] = 17.5  # DeepLabCut predicts every node on every frame (low likelihood, not NaN)
    conf[3, 1] = 0.02
    ndx_pose_0_1(
        OUT / "nwb_dlc2nwb_single_animal.nwb", nodes=[f"ind1_{p}" for p in parts], edges=np.zeros((0, 2)),
        timestamps=np.arange(10), xy=xy, conf=conf, description="2D keypoint coordinates estimated using DeepLabCut.",
        scorer="DLC_resnet50_openfieldAug20shuffle1_30000", software=("DeepLabCut", "2.3.9"),
        videos=["fake_path"], dimensions=np.array([[0, 0]]),
        series_text={"description": "Keypoint {part} from individual ind1.",
                     "reference_frame": "(0,0) corresponds to the bottom left corner of the video."},
        session="openfield", identifier="DLC_resnet50_openfieldAug20shuffle1_30000", experimenter="Pranav",
    )  # fmt: skip


if __name__ == "__main__":
    main()
