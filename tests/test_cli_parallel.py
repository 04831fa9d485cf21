"""``keyskel convert`` / ``validate`` over a Darwin folder on Dask workers: the serial run's bytes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import napari_keyskel.formats as formats
import napari_keyskel.formats.darwin as darwin
from napari_keyskel.cli.main import main
from napari_keyskel.cli.parallel import Engine, read_folder_parallel
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.formats import read, write
from napari_keyskel.formats.coco.parallel import cut_points

N_ITEMS, N_FRAMES = 12, 15


def _dataset() -> AnnotationSet:
    """12 video items; two classes with different skeletons, 2 worms and (on odd items) 1 fly each.

    The flies leave the view for two frames (a lifespan the COCO file writes in whole-table frames).
    """
    worm = Skeleton(["head", "middle", "tail"], [("head", "middle"), ("middle", "tail")], name="worm")
    fly = Skeleton(["thorax", "wing"], [("thorax", "wing")], name="fly")
    frames = [
        {"item": f"vid_{i:02d}.mp4", "frame": f, "width": 64, "height": 48}
        for i in range(N_ITEMS)
        for f in range(N_FRAMES)
    ]
    worms = AnnotationStore(worm, coord_ndim=2, frame_axis=0, n_frames=len(frames), name="worm")
    flies = AnnotationStore(fly, coord_ndim=2, frame_axis=0, n_frames=len(frames), name="fly")
    rng = np.random.default_rng(1)
    for i in range(N_ITEMS):
        for k in range(2):
            tid = 10 * i + k + 1
            worms.add_track(tid, start=i * N_FRAMES)
            for f in (0, 7, 14):
                worms.set_points(i * N_FRAMES + f, tid, rng.uniform(2, 40, (3, 2)), visibility=[2, 1, 2])
        if i % 2:
            flies.add_track(500 + i, start=i * N_FRAMES + 3)
            for f in (3, 9):
                flies.set_points(i * N_FRAMES + f, 500 + i, rng.uniform(2, 40, (2, 2)))
            flies.set_alive(500 + i, i * N_FRAMES + 5, i * N_FRAMES + 7, False)  # out of view a while
    return AnnotationSet(stores=[worms, flies], frames=frames)


def _folder(tmp_path: Path, instance_ids: str = "ours", nested: bool = False) -> Path:
    """Our writer's Darwin files (with V7 instance ids), edited to ``"none"`` or ``"clashing"`` ids.

    ``clashing``: every file numbers its annotations 1, 2, 3 (the same ids in every file and
    class), one annotation has none, one an id too large for a track id. ``nested``: a third of
    the files moved into sub-folders.
    """
    folder = tmp_path / "export"
    write(_dataset(), folder, "darwin")
    files = sorted(f for f in folder.glob("*.json") if not f.name.endswith(".skeleton.json"))
    for n, f in enumerate(files):
        doc = json.loads(f.read_text())
        for k, ann in enumerate(doc["annotations"]):
            assert "instance_id" in ann  # our writer writes V7 instance ids
            if instance_ids == "none":
                del ann["instance_id"]
            elif instance_ids == "clashing":
                ann["instance_id"] = {"value": k + 1}
                if n == 4 and k == 0:
                    del ann["instance_id"]
                if n == 7 and k == 1:
                    ann["instance_id"] = {"value": 2**70}
        f.write_text(json.dumps(doc))
        if nested and n % 3 == 1:
            sub = folder / ("a" if n < 6 else "b/c")
            sub.mkdir(parents=True, exist_ok=True)
            f.rename(sub / f.name)
    return folder


@pytest.fixture
def no_serial(monkeypatch):
    """Call to make the serial reader and COCO writer fail: the parallel path must not fall back."""

    def forbid() -> None:
        def fail(*a, **k):
            raise AssertionError("the serial path was taken")

        monkeypatch.setattr(darwin, "read_darwin", fail)
        monkeypatch.setattr(formats, "write_coco", fail)

    return forbid


def _convert(folder: Path, out: Path, jobs: int, to: str = "coco") -> None:
    assert main(["convert", str(folder), str(out), "--to", to, "--jobs", str(jobs)]) == 0


@pytest.mark.parametrize(
    ("instance_ids", "nested"), [("ours", False), ("clashing", False), ("none", False), ("ours", True)]
)
def test_parallel_coco_file_is_the_serial_file_byte_for_byte(
    tmp_path: Path, instance_ids: str, nested: bool, capsys, no_serial
) -> None:
    folder = _folder(tmp_path, instance_ids, nested)
    _convert(folder, tmp_path / "serial.json", 1)
    capsys.readouterr()
    no_serial()
    _convert(folder, tmp_path / "par.json", 2)
    assert capsys.readouterr().err == ""  # no "reading serially" note, no warning
    serial = (tmp_path / "serial.json").read_bytes()
    assert (tmp_path / "par.json").read_bytes() == serial
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "export",
        "par.json",
        "serial.json",
    ]  # no parts left
    doc = json.loads(serial)
    assert [c["name"] for c in doc["categories"]] == ["worm", "fly"]
    assert len(doc["images"]) == N_ITEMS * N_FRAMES
    if instance_ids == "ours":  # the file's instance ids: our track ids
        written = sorted({a["track_id"] for a in doc["annotations"]})
        worms = [10 * i + k + 1 for i in range(N_ITEMS) for k in range(2)]
        assert written == sorted([*worms, 501, 503, 505, 507, 509, 511])


def test_parallel_darwin_folder_is_the_serial_folder(tmp_path: Path, capsys) -> None:
    folder = _folder(tmp_path, "clashing", nested=True)
    _convert(folder, tmp_path / "d1", 1, "darwin")
    _convert(folder, tmp_path / "d2", 2, "darwin")
    assert "reading serially" not in capsys.readouterr().err
    names = sorted(p.relative_to(tmp_path / "d1") for p in (tmp_path / "d1").rglob("*") if p.is_file())
    assert names == sorted(
        p.relative_to(tmp_path / "d2") for p in (tmp_path / "d2").rglob("*") if p.is_file()
    )
    assert len(names) == N_ITEMS + 2  # and the two skeleton files
    for n in names:
        assert (tmp_path / "d1" / n).read_bytes() == (tmp_path / "d2" / n).read_bytes()


def _same_dataset(a: AnnotationSet, b: AnnotationSet) -> None:
    assert a.frames == b.frames and a.meta == b.meta
    assert [s.name for s in a.stores] == [s.name for s in b.stores]
    for sa, sb in zip(a.stores, b.stores):
        assert (sa.skeleton, sa.n_frames, sa.track_ids, sa.meta) == (
            sb.skeleton,
            sb.n_frames,
            sb.track_ids,
            sb.meta,
        )
        for ta, tb in zip(sa, sb):
            assert (ta.name, ta.start, ta.meta) == (tb.name, tb.start, tb.meta)
            for x, y in ((ta.coords, tb.coords), (ta.visibility, tb.visibility), (ta.is_key, tb.is_key)):
                np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(ta.alive, tb.alive)
            np.testing.assert_array_equal(ta.score, tb.score)


@pytest.mark.parametrize("jobs", [2, 3])
def test_parallel_read_is_the_serial_dataset(tmp_path: Path, jobs: int) -> None:
    folder = _folder(tmp_path, "clashing", nested=True)
    for sk in folder.glob("*.skeleton.json"):  # skeleton files in a nested folder: found over the folder
        shutil.move(sk, folder / "b" / sk.name)
    serial = read(folder)
    assert serial.store("worm").skeleton.edges  # (from the moved skeleton file)
    worm_ids = serial.store("worm").track_ids  # clashing V7 ids: each taken once, the others numbered on
    assert len(worm_ids) == 2 * N_ITEMS and {1, 2} <= set(worm_ids) and max(worm_ids) > 3
    _same_dataset(serial, read_folder_parallel(folder, jobs=jobs))
    # the same names in two sub-folders (their items too): still the serial read
    shutil.copytree(folder / "a", folder / "z")
    _same_dataset(read(folder), read_folder_parallel(folder, jobs=jobs))


def test_node_codes_are_renumbered_across_chunks(tmp_path: Path) -> None:
    """Files that name the nodes in other orders: the folder's name table is the serial one."""
    folder = _folder(tmp_path, "none")
    for f in sorted(folder.glob("vid_*.json"))[6:]:
        doc = json.loads(f.read_text())
        for ann in doc["annotations"]:
            for fr in ann["frames"].values():
                fr["skeleton"]["nodes"].reverse()
        doc.pop("keyskel", None)
        f.write_text(json.dumps(doc))
    for sk in folder.glob("*.skeleton.json"):
        sk.unlink()  # skeletons from the names seen, in first-seen order
    _same_dataset(read(folder), read_folder_parallel(folder, jobs=2))


def test_validate_in_parallel_prints_what_serial_prints(tmp_path: Path, capsys) -> None:
    folder = _folder(tmp_path)
    assert main(["validate", str(folder), "--jobs", "1"]) == 0
    serial = capsys.readouterr()
    assert main(["validate", str(folder), "--jobs", "2"]) == 0
    assert capsys.readouterr() == serial and "30 instances" in serial.out
    # errors in two files, in different chunks: the first in file order, as the serial read says
    for name in ("vid_03.json", "vid_10.json"):
        bad = folder / name
        bad.write_text(bad.read_text().replace('"x":', '"x": "oops", "_x":', 1))
    assert main(["validate", str(folder), "--jobs", "1"]) == 1
    serial = capsys.readouterr()
    assert main(["validate", str(folder), "--jobs", "2"]) == 1
    assert capsys.readouterr() == serial and "vid_03.json" in serial.err and "vid_10" not in serial.err


def test_warnings_come_back_from_the_workers_in_file_order(tmp_path: Path, capsys) -> None:
    folder = _folder(tmp_path)
    for name in ("vid_02.json", "vid_09.json"):  # a frame count no reader believes: a warning
        f = folder / name
        doc = json.loads(f.read_text())
        del doc["item"]["slots"][0]["frame_urls"]
        doc["item"]["slots"][0]["frame_count"] = 10**9
        f.write_text(json.dumps(doc))
    assert main(["validate", str(folder), "--jobs", "1"]) == 0
    serial = capsys.readouterr()
    assert main(["validate", str(folder), "--jobs", "2"]) == 0
    par = capsys.readouterr()
    assert par == serial
    lines = serial.err.splitlines()
    assert len(lines) == 2 and "vid_02.json" in lines[0] and "vid_09.json" in lines[1]


def test_tasks_run_in_other_processes_in_order() -> None:
    payloads = [(k, {"nested": [k, {"deep": "x"}]}) for k in range(5)]
    with Engine(2) as engine:
        out = engine.map(_pid_and, payloads)
        again = engine.map(_pid_and, payloads[:2])  # the same workers, started once
    assert [o[1] for o in out] == payloads and all(o[0] != os.getpid() for o in out)
    assert len({o[0] for o in out + again}) <= 2  # no new processes for the second map


def _pid_and(x: object) -> tuple[int, object]:
    return os.getpid(), x


def test_the_coco_table_is_cut_only_between_items() -> None:
    ds = _dataset()
    cuts = cut_points(ds, 4)
    assert cuts is not None and cuts[0] == 0 and cuts[-1] == N_ITEMS * N_FRAMES and len(cuts) == 5
    assert all(c % N_FRAMES == 0 for c in cuts)  # never inside an item
    ds.frames[-1]["item"] = "vid_00.mp4"  # an item in two places: no cut inside its span
    assert cut_points(ds, 4) is None
    ds = _dataset()
    ds.frames[5]["image_id"] = 7  # ids kept from a COCO file are numbered over the whole table
    assert cut_points(ds, 4) is None


def test_repeated_item_names_fall_back_to_the_serial_writer(tmp_path: Path) -> None:
    folder = _folder(tmp_path, nested=True)
    shutil.copytree(folder / "a", folder / "z")  # the same items at both ends of the folder
    _convert(folder, tmp_path / "serial.json", 1)
    _convert(folder, tmp_path / "par.json", 2)
    assert (tmp_path / "par.json").read_bytes() == (tmp_path / "serial.json").read_bytes()


def test_scheduler_address_runs_on_a_distributed_cluster(tmp_path: Path, capsys, no_serial) -> None:
    from distributed import LocalCluster

    folder = _folder(tmp_path, "clashing", nested=True)
    _convert(folder, tmp_path / "ser.json", 1)
    no_serial()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        out = tmp_path / "dist.json"
        argv = ["convert", str(folder), str(out), "--to", "coco", "--scheduler", cluster.scheduler_address]
        assert main(argv) == 0
        assert main(["validate", str(folder), "--scheduler", cluster.scheduler_address]) == 0
    assert out.read_bytes() == (tmp_path / "ser.json").read_bytes()
    assert "reading serially" not in capsys.readouterr().err


def test_convert_to_the_sleap_io_formats(tmp_path: Path) -> None:
    import sleap_io as sio

    folder = _folder(tmp_path)
    assert main(["convert", str(folder), str(tmp_path / "w.slp"), "--to", "sleap"]) == 0
    labels = sio.load_slp(str(tmp_path / "w.slp"))
    assert len(labels.videos) == N_ITEMS and len(labels.tracks) == 2 * N_ITEMS + N_ITEMS // 2
    assert (
        main(["convert", str(tmp_path / "w.slp"), str(tmp_path / "back.json"), "--to", "coco"]) == 0
    )  # detected
    assert main(["info", str(tmp_path / "w.slp")]) == 0
    assert main(["convert", str(folder), str(tmp_path / "y"), "--to", "yolo"]) == 1  # no images: refused
    assert not (tmp_path / "y" / "data.yaml").exists()


def test_a_folder_of_3d_volume_files_reads_and_converts_as_serially(tmp_path: Path) -> None:
    from test_volume3d import volume

    from napari_keyskel.formats.darwin import write_darwin

    write_darwin(volume(fa=0), tmp_path / "series")  # one file per time point: our 3D volume documents
    serial = read(tmp_path / "series")
    assert serial.stores[0].coord_ndim == 3
    _same_dataset(serial, read_folder_parallel(tmp_path / "series", jobs=2))
    _convert(tmp_path / "series", tmp_path / "serial.json", 1)
    _convert(tmp_path / "series", tmp_path / "par.json", 2)  # (written serially: one image per slice)
    assert (tmp_path / "par.json").read_bytes() == (tmp_path / "serial.json").read_bytes()


def test_jobs_must_be_a_positive_number(tmp_path: Path, capsys) -> None:
    folder = _folder(tmp_path)
    assert main(["validate", str(folder), "--jobs", "0"]) == 2
    assert main(["convert", str(folder), str(tmp_path / "x.json"), "--jobs", "two"]) == 2
    err = capsys.readouterr().err
    assert "--jobs: must be 1 or more, got 0" in err and "not a whole number: 'two'" in err
    assert not (tmp_path / "x.json").exists()
