"""``keyskel dataset`` and ``keyskel suggest`` on the command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _media_samples import make_video

from napari_keyskel.cli import main
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.dataset import open_dataset
from napari_keyskel.formats import write

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def jumpy_folder(tmp_path: Path) -> Path:
    from napari_keyskel.samples.synthetic import moving_figure

    folder = tmp_path / "export"
    folder.mkdir()
    _, store = moving_figure(n_frames=40, shape=(64, 64), render=False, key_step=1)
    next(iter(store)).coords[20] += 25.0  # a jump the review detectors flag
    write(AnnotationSet([store]), folder / "jumpy.json", "darwin")
    shutil.copy(DATA / "darwin2_image_skeleton_image_1.json", folder / "still.json")
    Skeleton(["a", "b"], name="other").save(folder / "other.skeleton.json")  # not an item
    return folder


def test_dataset_lists_items_status_and_progress(tmp_path, capsys):
    folder = jumpy_folder(tmp_path)
    assert main(["dataset", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "darwin, 2 items" in out and "other" not in out
    assert "progress: 0/2 complete (0%)" in out
    assert main(["dataset", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in info["items"]] == ["jumpy.json", "still.json"]
    jumpy = info["items"][0]
    assert jumpy["frames"] == 40 and jumpy["review_flags"] > 0 and jumpy["status"] == "annotate"
    assert info["progress"] == {
        "new": 0, "annotate": 2, "review": 0, "complete": 0, "items": 2, "complete_fraction": 0.0,
    }  # fmt: skip


def test_set_status_refused_with_unreviewed_flags_unless_forced(tmp_path, capsys):
    folder = jumpy_folder(tmp_path)
    assert main(["dataset", str(folder), "--set-status", "complete", "jumpy.json"]) == 1
    err = capsys.readouterr().err
    assert "keyskel dataset: error: item 'jumpy'" in err
    assert "unreviewed review flag" in err and "jump" in err and "--force" in err
    assert open_dataset(folder).status("jumpy.json").status == "annotate"  # nothing written
    assert main(["dataset", str(folder), "--set-status", "complete", "still.json", "--who", "ana"]) == 0
    assert main(["dataset", str(folder), "--set-status", "complete", "jumpy.json", "--force"]) == 0
    ds = open_dataset(folder)
    assert ds.status("still.json").status == "complete" and ds.status("still.json").who == "ana"
    assert ds.status("jumpy.json").status == "complete"
    assert main(["dataset", str(folder), "--set-status", "finished", "still.json"]) == 1
    assert "unknown status 'finished'" in capsys.readouterr().err
    assert main(["dataset", str(folder), "--set-status", "review", "nope.json"]) == 1
    assert "no item 'nope.json'" in capsys.readouterr().err


def test_suggest_a_video_and_a_dataset(tmp_path, capsys):
    root = tmp_path / "clips"
    root.mkdir()
    for i in range(2):
        make_video(root / f"c{i}.mp4", 40, size=(64, 48), gop=10)
    assert main(["suggest", str(root / "c0.mp4"), "--n", "5", "--json"]) == 0
    picks = json.loads(capsys.readouterr().out)
    assert len(picks) == 5 and len({p["frame"] for p in picks}) == 5 and picks[0]["item"] == "c0.mp4"
    assert main(["suggest", str(root), "--n", "6", "--json"]) == 0
    picks = json.loads(capsys.readouterr().out)
    # (the two videos are the same pictures: which of them gives a frame is a tie, either is right)
    assert len({(p["item"], p["frame"]) for p in picks}) == 6 and {p["item"] for p in picks} <= {
        "c0.mp4",
        "c1.mp4",
    }
    assert main(["suggest", str(root), "--n", "4", "--item", "c1.mp4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("c1.mp4\t") for line in lines)


def test_suggest_and_dataset_on_dask_workers_give_the_serial_answer(tmp_path):
    # run in a fresh process: Dask's local workers are forked, and a process forked after this
    # one's earlier tests ran PyAV can hang in FFmpeg (the command forks before it decodes)
    root = tmp_path / "clips"
    root.mkdir()
    for i in range(3):
        make_video(root / f"c{i}.mp4", 30, size=(64, 48), gop=10)

    def keyskel(*argv: str) -> Any:
        code = "import sys; from napari_keyskel.cli import main; sys.exit(main(sys.argv[1:]))"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        run = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=300
        )
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    serial = keyskel("suggest", str(root), "--n", "5", "--json", "--jobs", "1")
    assert keyskel("suggest", str(root), "--n", "5", "--json", "--jobs", "2") == serial
    rows = keyskel("dataset", str(root), "--json", "--jobs", "2")["items"]
    assert [r["name"] for r in rows] == ["c0.mp4", "c1.mp4", "c2.mp4"] and all(
        r["status"] == "new" for r in rows
    )
    assert [r["frames"] for r in rows] == [30, 30, 30]


def test_bad_paths_say_why(tmp_path, capsys):
    assert main(["dataset", str(tmp_path / "missing")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    assert main(["suggest", str(bad)]) == 1
    assert "bad.mp4" in capsys.readouterr().err
    assert np.isfinite(1.0)


@pytest.mark.parametrize("cmd", ["dataset", "suggest"])
def test_help(cmd, capsys):
    assert main([cmd, "--help"]) == 0
    assert "PATH" in capsys.readouterr().out
