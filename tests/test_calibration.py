"""Anipose / aniposelib calibration TOML: read, write back, and refuse bad files by name."""

from __future__ import annotations

import numpy as np
import pytest

from napari_keyskel.errors import FormatError
from napari_keyskel.multiview.calibration import Calibration, read_calibration, rodrigues, write_calibration
from napari_keyskel.samples.rig import rotation_vector, synthetic_rig

# The layout aniposelib's CameraGroup.dump writes (toml.dump of cam_N dicts and metadata).
ANIPOSE = """\
[cam_0]
name = "A"
size = [ 1280, 1024,]
matrix = [ [ 1507.5, 0.0, 639.5,], [ 0.0, 1507.5, 511.5,], [ 0.0, 0.0, 1.0,],]
distortions = [ -0.21, 0.0, 0.0, 0.0, 0.0,]
rotation = [ 1.4, -0.3, 0.2,]
translation = [ 12.5, -40.0, 800.25,]

[cam_1]
name = "B"
size = [ 1280, 1024,]
matrix = [ [ 1490.1, 0.0, 640.2,], [ 0.0, 1490.1, 512.7,], [ 0.0, 0.0, 1.0,],]
distortions = [ -0.19, 0.01, 0.0, 0.0, 0.0,]
rotation = [ 1.5, 0.4, -0.1,]
translation = [ -30.0, -35.5, 790.0,]
fisheye = false

[metadata]
adjusted = false
error = 0.4213
"""


def test_reads_the_aniposelib_layout(tmp_path):
    p = tmp_path / "calibration.toml"
    p.write_text(ANIPOSE)
    cal = read_calibration(p)
    assert cal.names == ["A", "B"]
    a = cal.camera("A")
    assert a.size == (1280, 1024)
    assert a.matrix[0, 2] == 639.5 and a.matrix.shape == (3, 3)
    np.testing.assert_array_equal(a.distortions, [-0.21, 0, 0, 0, 0])
    np.testing.assert_array_equal(a.rotation, [1.4, -0.3, 0.2])
    np.testing.assert_array_equal(a.translation, [12.5, -40.0, 800.25])
    assert cal.camera("B").extra == {"fisheye": False}
    assert cal.metadata == {"adjusted": False, "error": 0.4213}


def test_round_trip_is_exact(tmp_path):
    src = tmp_path / "in.toml"
    src.write_text(ANIPOSE)
    cal = read_calibration(src)
    cal.metadata["nested"] = {"board": "charuco", "squares": [7, 10]}
    out = write_calibration(cal, tmp_path / "out.toml")
    back = read_calibration(out)
    assert back.to_dict() == cal.to_dict()
    rig = synthetic_rig(4)
    back = read_calibration(write_calibration(rig, tmp_path / "rig.toml"))
    for c, d in zip(rig.cameras, back.cameras):
        np.testing.assert_array_equal(c.rotation, d.rotation)  # repr floats: bit exact
        np.testing.assert_array_equal(c.matrix, d.matrix)
        assert (c.name, c.size) == (d.name, d.size)


def test_cameras_sorted_by_number_not_text(tmp_path):
    cams = [synthetic_rig(1).cameras[0] for _ in range(11)]
    for i, c in enumerate(cams):
        c.name = f"c{i}"
    p = write_calibration(Calibration(cams), tmp_path / "many.toml")
    assert read_calibration(p).names == [f"c{i}" for i in range(11)]


def test_rodrigues_matches_opencv():
    import cv2

    rng = np.random.default_rng(3)
    for _ in range(20):
        r = rng.normal(size=3)
        np.testing.assert_allclose(rodrigues(r), cv2.Rodrigues(r)[0], atol=1e-12)
        back = cv2.Rodrigues(cv2.Rodrigues(r)[0])[0].ravel()
        np.testing.assert_allclose(rotation_vector(rodrigues(r)), back, atol=1e-9)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace("[cam_0]", "[camera0]"), "unexpected tables"),
        (lambda s: s.replace("size = [ 1280, 1024,]", "size = [1280]", 1), "[cam_0]: 'size'"),
        (
            lambda s: s.replace("matrix = [ [ 1507.5, 0.0, 639.5,],", "matrix = [", 1),
            "[cam_0]: 'matrix' must have",
        ),
        (
            lambda s: s.replace("rotation = [ 1.4, -0.3, 0.2,]", 'rotation = "x"', 1),
            "'rotation' must be numbers",
        ),
        (
            lambda s: s.replace("translation = [ 12.5, -40.0, 800.25,]\n", "", 1),
            "[cam_0]: missing 'translation'",
        ),
        (lambda s: s.replace('name = "B"', 'name = "A"'), "not unique"),
        (lambda s: s + "\n[[oops", "not a TOML file"),
        (lambda s: "[metadata]\nx = 1\n", "no camera table"),
    ],
)
def test_bad_files_name_file_and_table(tmp_path, edit, message):
    p = tmp_path / "bad.toml"
    p.write_text(edit(ANIPOSE))
    with pytest.raises(FormatError) as exc:
        read_calibration(p)
    assert str(p) in str(exc.value)
    assert message in str(exc.value)


def test_failed_write_leaves_the_old_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(ANIPOSE)
    cal = read_calibration(p)
    cal.metadata["bad"] = object()
    with pytest.raises(FormatError, match="cannot write"):
        write_calibration(cal, p)
    assert p.read_text() == ANIPOSE
