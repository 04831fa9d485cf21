"""``keyskel convert`` / ``validate`` over a Darwin folder on Dask workers: the same output as serial."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from napari_keyskel.cli import main
from napari_keyskel.cli_parallel import read_folder_parallel
from napari_keyskel.dataset import Dataset
from napari_keyskel.formats import read, write
from napari_keyskel.skeleton import Skeleton
from napari_keyskel.store import AnnotationStore

N_ITEMS, N_FRAMES = 12, 15


def _folder(tmp_path: Path, instance_ids: bool = False) -> Path:
    """Darwin files of 12 video items, 2 instances each (our writer's, with or without V7 instance ids)."""
    sk = Skeleton(["head", "middle", "tail"], [("head", "middle"), ("middle", "tail")], name="worm")
    frames = [
        {"item": f"vid_{i:02d}.mp4", "frame": f, "width": 64, "height": 48}
        for i in range(N_ITEMS)
        for f in range(N_FRAMES)
    ]
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=len(frames), name="worm")
    rng = np.random.default_rng(1)
    for i in range(N_ITEMS):
        for k in range(2):
            tid = 10 * i + k + 1
            store.add_track(tid, start=i * N_FRAMES)
            for f in (0, 7, 14):
                store.set_points(i * N_FRAMES + f, tid, rng.uniform(2, 40, (3, 2)), visibility=[2, 1, 2])
    folder = tmp_path / "export"
    write(Dataset(stores=[store], frames=frames), folder, "darwin")
    if not instance_ids:  # as a V7 export without the instance-id subtype
        for f in folder.glob("*.json"):
            if f.name.endswith(".skeleton.json"):
                continue
            doc = json.loads(f.read_text())
            for ann in doc["annotations"]:
                ann.pop("instance_id", None)
            f.write_text(json.dumps(doc))
    return folder


@pytest.mark.parametrize("instance_ids", [True, False])
def test_parallel_convert_writes_what_serial_writes(tmp_path: Path, instance_ids: bool, capsys) -> None:
    folder = _folder(tmp_path, instance_ids)
    assert main(["convert", str(folder), str(tmp_path / "serial.json"), "--to", "coco", "--jobs", "1"]) == 0
    assert main(["convert", str(folder), str(tmp_path / "par.json"), "--to", "coco", "--jobs", "2"]) == 0
    note = capsys.readouterr().err  # instance ids are numbered over the folder: read serially, said so
    assert ("reading serially" in note) == instance_ids
    assert json.loads((tmp_path / "par.json").read_text()) == json.loads(
        (tmp_path / "serial.json").read_text()
    )
    # Darwin -> Darwin too: every file the same
    assert main(["convert", str(folder), str(tmp_path / "d1"), "--to", "darwin", "--jobs", "1"]) == 0
    assert main(["convert", str(folder), str(tmp_path / "d2"), "--to", "darwin", "--jobs", "2"]) == 0
    names = sorted(p.name for p in (tmp_path / "d1").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "d2").iterdir()) and len(names) == N_ITEMS + 1
    for n in names:
        assert json.loads((tmp_path / "d1" / n).read_text()) == json.loads((tmp_path / "d2" / n).read_text())


def test_parallel_read_equals_the_serial_dataset(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    sub = folder / "more"  # a nested folder, read recursively
    sub.mkdir()
    for f in sorted(folder.glob("vid_0[0-3]*.json")):
        shutil.copy(f, sub / f.name)
    (sk_file,) = folder.glob("*.skeleton.json")  # nested data and skeleton files: name the skeleton
    assert read_folder_parallel(folder, jobs=2) is None  # (else the read is serial)
    serial = read(folder, skeleton=sk_file)
    par = read_folder_parallel(folder, skeleton=str(sk_file), jobs=2)
    assert par is not None
    assert par.frames == serial.frames and par.meta == serial.meta
    for a, b in zip(serial.stores, par.stores):
        assert (a.name, a.skeleton, a.n_frames, a.track_ids) == (b.name, b.skeleton, b.n_frames, b.track_ids)
        for ta, tb in zip(a, b):
            assert (ta.name, ta.start, ta.meta) == (tb.name, tb.start, tb.meta)
            np.testing.assert_array_equal(ta.coords, tb.coords)
            np.testing.assert_array_equal(ta.visibility, tb.visibility)
            np.testing.assert_array_equal(ta.is_key, tb.is_key)


def test_validate_in_parallel_prints_the_serial_line(tmp_path: Path, capsys) -> None:
    folder = _folder(tmp_path)
    assert main(["validate", str(folder), "--jobs", "1"]) == 0
    serial = capsys.readouterr().out
    assert main(["validate", str(folder), "--jobs", "2"]) == 0
    assert capsys.readouterr().out == serial and "24 instances" in serial
    bad = folder / "vid_03.json"
    bad.write_text(bad.read_text().replace('"x":', '"x": "oops", "_x":', 1))
    assert main(["validate", str(folder), "--jobs", "2"]) == 1
    assert "vid_03.json" in capsys.readouterr().err


def test_scheduler_address_runs_on_a_distributed_cluster(tmp_path: Path) -> None:
    from distributed import LocalCluster

    folder = _folder(tmp_path)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        out = tmp_path / "dist.json"
        assert (
            main(["convert", str(folder), str(out), "--to", "coco", "--scheduler", cluster.scheduler_address])
            == 0
        )
    assert main(["convert", str(folder), str(tmp_path / "ser.json"), "--to", "coco", "--jobs", "1"]) == 0
    assert json.loads(out.read_text()) == json.loads((tmp_path / "ser.json").read_text())


def test_convert_to_the_sleap_io_formats(tmp_path: Path) -> None:
    import sleap_io as sio

    folder = _folder(tmp_path)
    assert main(["convert", str(folder), str(tmp_path / "w.slp"), "--to", "sleap"]) == 0
    labels = sio.load_slp(str(tmp_path / "w.slp"))
    assert len(labels.videos) == N_ITEMS and len(labels.tracks) == 2 * N_ITEMS
    assert (
        main(["convert", str(tmp_path / "w.slp"), str(tmp_path / "back.json"), "--to", "coco"]) == 0
    )  # detected
    assert main(["info", str(tmp_path / "w.slp")]) == 0
    assert main(["convert", str(folder), str(tmp_path / "y"), "--to", "yolo"]) == 1  # no images: refused
    assert not (tmp_path / "y" / "data.yaml").exists()
