"""darwin-py (V7's SDK, in its own venv) reads our 3D volume files as keypoints on dicom slices."""

from __future__ import annotations

import _darwinpy_env as env
import pytest
from test_volume3d import volume

from napari_keyskel.formats.darwin import write_darwin

pytestmark = pytest.mark.slow


def test_darwinpy_parses_our_volume_keypoints(tmp_path):
    ds = volume()
    path, _ = write_darwin(ds, tmp_path / "scan.json")
    series = [
        p for p in write_darwin(volume(fa=0), tmp_path / "series") if not p.name.endswith(".skeleton.json")
    ]
    try:
        parsed = env.parse_with_darwinpy([path, *series])
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"darwin-py could not be run in its venv ({env.venv_dir()}): {exc}")
    got = parsed[0]
    assert got["is_video"]  # a dicom slot: slices are frames
    assert len(got["annotations"]) == 6
    assert {(a["class"], a["type"], tuple(a["slot_names"])) for a in got["annotations"]} == {
        ("mouse", "keypoint", ("0",))
    }
    want = {}
    for t in ds.stores[0]:
        for k in range(3):
            z, y, x = t.coords[0, k]
            want.setdefault(str(int(z)), []).append({"x": x + 0.5, "y": y + 0.5})
    seen = {}
    for a in got["annotations"]:
        assert a["video"] and len(a["frames"]) == 1 and all(a["keyframes"].values())
        for f, pts in a["frames"].items():
            seen.setdefault(f, []).extend(pts)
    key = lambda p: (p["x"], p["y"])  # noqa: E731
    assert {f: sorted(v, key=key) for f, v in seen.items()} == {
        f: sorted(v, key=key) for f, v in want.items()
    }
    assert [len(p["annotations"]) for p in parsed[1:]] == [6, 6]  # one item per time point
