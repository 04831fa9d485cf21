"""The ``keyskel`` command line, in-process and through the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_coco import RESULTS, SLEAP

from napari_keyskel import AnnotationSet, AnnotationStore, Skeleton, __version__
from napari_keyskel.cli.main import main
from napari_keyskel.formats import read
from napari_keyskel.formats.coco import read_coco, write_coco

DATA = Path(__file__).parent / "data"
DARWIN = DATA / "darwin2_video_skeleton_keypoint_mini_uct.json"


def _sparse_coco(tmp_path: Path) -> Path:
    """One track with keys at frames 0 and 10 only (nothing between), in a 12-frame video."""
    store = AnnotationStore(Skeleton(["head", "tail"], [(0, 1)], name="fish"), n_frames=12, name="fish")
    store.add_track(1, start=0, stop=11)
    store.set_points(0, 1, [[0.0, 0.0], [10.0, 0.0]])
    store.set_points(10, 1, [[20.0, 40.0], [30.0, 40.0]])
    frames = [{"item": "tank.mp4", "frame": f} for f in range(12)]
    return write_coco(AnnotationSet([store], frames), tmp_path / "sparse.json")[0]


def test_version_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert main([]) == 2  # a command is required
    assert "usage" in capsys.readouterr().err
    assert main(["convert", str(SLEAP)]) == 2  # OUTPUT missing


def test_info(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(SLEAP), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["format"], info["items"], info["frames"], info["instances"]) == ("coco", 3, 3, 3)
    assert (info["points"], info["keys"], info["interpolated"]) == (33, 33, 0)
    assert info["annotation_sets"][0]["name"] == "mouse" and len(info["annotation_sets"][0]["nodes"]) == 17
    assert main(["info", str(DARWIN)]) == 0
    out = capsys.readouterr().out
    assert "darwin" in out and "frames: 10" in out and "interpolated: 2" in out


def test_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SLEAP)]) == 0
    assert capsys.readouterr().out.startswith("OK")
    bad = json.loads(SLEAP.read_text())
    bad["annotations"][1]["keypoints"][2] = 7
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    assert main(["validate", str(p)]) == 1
    err = capsys.readouterr().err
    assert "bad.json" in err and "annotation id 2, field 'keypoints'" in err and "Traceback" not in err
    assert main(["validate", str(tmp_path / "nothing.json")]) == 1
    assert "nothing.json: cannot read file" in capsys.readouterr().err


def test_convert_both_ways(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Darwin -> COCO (--to defaults to the other format)
    assert main(["convert", str(DARWIN), str(tmp_path / "c.json")]) == 0
    assert "wrote 1 file" in capsys.readouterr().out
    coco = read_coco(tmp_path / "c.json")
    darwin = read(DARWIN)
    assert [s.counts() for s in coco.stores] == [s.counts() for s in darwin.stores]
    # COCO -> Darwin folder, with a skeleton file
    sk = Skeleton(list(read(SLEAP).stores[0].skeleton.nodes), [(0, 1)], name="mouse")
    sk.save(tmp_path / "m.skeleton.json")
    out = tmp_path / "dw"
    assert (
        main(
            [
                "convert",
                str(SLEAP),
                str(out),
                "--to",
                "darwin",
                "--skeleton",
                str(tmp_path / "m.skeleton.json"),
            ]
        )
        == 0
    )
    back = read(out)
    assert back.stores[0].skeleton.edges == ((0, 1),)
    assert back.stores[0].counts()["points"] == 33
    # a results file stays a results file
    assert main(["convert", str(RESULTS), str(tmp_path / "r.json"), "--to", "coco"]) == 0
    assert isinstance(json.loads((tmp_path / "r.json").read_text()), list)
    # an output that cannot be written is an error, not a traceback
    (tmp_path / "a_file").write_text("not a folder")
    assert main(["convert", str(SLEAP), str(tmp_path / "a_file" / "x.json"), "--to", "coco"]) == 1
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err


@pytest.mark.parametrize("method", ["linear", "hold"])
def test_interpolate(tmp_path: Path, method: str) -> None:
    src = _sparse_coco(tmp_path)
    out = tmp_path / "dense.json"
    assert main(["interpolate", str(src), str(out), "--method", method]) == 0
    ds = read_coco(out)
    t = ds.stores[0].tracks[1]
    assert np.isfinite(t.coords[:11, :, 0]).all()
    assert t.is_key[[0, 10]].all() and not t.is_key[1:10].any()
    expected = [10.0, 20.0] if method == "linear" else [0.0, 0.0]
    np.testing.assert_allclose(t.coords[5, 0], expected)
    doc = json.loads(out.read_text())
    assert len(doc["annotations"]) == 11
    assert sum("keyskel" in a for a in doc["annotations"]) == 9  # interpolated frames are flagged


def _console_script() -> str:
    exe = Path(sys.executable).with_name("keyskel")
    found = str(exe) if exe.exists() else shutil.which("keyskel")
    assert found, "the keyskel console script is not installed (pip install -e .)"
    return found


def test_console_script(tmp_path: Path) -> None:
    exe = _console_script()
    run = subprocess.run([exe, "info", str(SLEAP), "--json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["instances"] == 3
    (tmp_path / "junk.json").write_text("[1, 2")
    run = subprocess.run(
        [exe, "validate", str(tmp_path / "junk.json")], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1
    assert "junk.json" in run.stderr and "Traceback" not in run.stderr


def test_warnings_on_stderr_and_validate_says_what_was_read(tmp_path, capsys):
    data = Path(__file__).parent / "data"
    crowd = data / "coco_crowdpose_like_skeleton_past_k.json"
    assert main(["convert", str(crowd), str(tmp_path / "out"), "--to", "darwin"]) == 0
    err = capsys.readouterr().err.splitlines()
    dropped = [line for line in err if line.startswith("keyskel convert: warning:") and "points past" in line]
    assert len(dropped) == 3 and all(str(crowd) in line and "category id 1" in line for line in dropped)
    assert main(["validate", str(data / "coco_categories_without_keypoint_names.json")]) == 0
    out = capsys.readouterr()
    assert "face: 6 nodes (named by position), 2 instances" in out.out
    assert "hand: 4 nodes (named by position), 1 instance," in out.out
    assert "kept as read: 1 other annotation\n" in out.out
    assert "warning: " in out.err and "names no keypoints" in out.err


def test_info_and_validate_say_a_volume_is_one_volume_with_its_slices(tmp_path, capsys):
    from test_volume3d import volume

    from napari_keyskel.formats.darwin import write_darwin

    path, _ = write_darwin(volume(), tmp_path / "scan.json")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "one volume (z, y, x), nodes on slices 1-7" in out and "frames: 1" not in out
    assert main(["validate", str(path)]) == 0
    assert "one volume (z, y, x), nodes on slices 1-7" in capsys.readouterr().out
    assert main(["info", "--json", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["layout"] == {"axes": "z, y, x", "slices": [1, 7]}
    series = write_darwin(volume(fa=0), tmp_path / "series")[0].parent
    assert main(["info", str(series)]) == 0
    assert "time points: 2 (volumes, t, z, y, x)" in capsys.readouterr().out
