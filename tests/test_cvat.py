"""CVAT for video / for images 1.1 XML with skeletons (issue 24, item 7).

The files in ``tests/data`` are written as CVAT's exporter writes them (see
``tests/data/makers/cvat_files.py`` and the README). Each test compares what keyskel reads
with the XML itself, parsed here independently with ElementTree, element by element.
"""

from __future__ import annotations

import shutil
import warnings
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.keyframes import interpolate_all
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import FormatError, FormatWarning
from napari_keyskel.formats import read, read_detected, write
from napari_keyskel.formats.cvat import detect_cvat, read_cvat, write_cvat

DATA = Path(__file__).parent / "data"
VIDEO = DATA / "cvat_video_1_1_skeleton_tracks.xml"
IMAGES = DATA / "cvat_images_1_1_skeletons.xml"
NODES = ("nose", "left_ear", "right_ear", "tail")


def _written(path: Path) -> dict[tuple[int, int, str], dict[str, str]]:
    """Every skeleton element the file writes: (track id, frame, element) -> its XML attributes."""
    out = {}
    for track in ET.parse(path).getroot().iter("track"):
        for sk in track.iter("skeleton"):
            for el in sk.iter("points"):
                out[(int(track.get("id")), int(sk.get("frame")), el.get("label"))] = dict(el.attrib)
    return out


def _body(path: Path) -> str:
    """The file without its ``<dumped>`` time (which an export sets to now)."""
    text = path.read_text(encoding="utf-8")
    start, stop = text.index("<dumped>"), text.index("</dumped>")
    return text[:start] + text[stop:]


def test_video_reads_what_cvat_shows_element_by_element() -> None:
    assert detect_cvat(VIDEO)
    ds, fmt = read_detected(VIDEO)
    assert fmt == "cvat"
    (store,) = ds.stores
    assert store.skeleton.nodes == NODES  # the element labels' order
    assert {frozenset(store.skeleton.nodes[i] for i in e) for e in store.skeleton.edges} == {
        frozenset(("nose", n)) for n in NODES[1:]
    }  # from the label's svg
    assert [fr["frame"] for fr in ds.frames] == list(range(12)) and ds.frames[0]["item"] == "mice.mp4"
    written = _written(VIDEO)
    for tid in (0, 1):
        t = store.tracks[tid + 1]
        for f in range(12):
            for k, node in enumerate(NODES):
                el = written.get((tid, f, node))
                row = f - t.start
                inside = 0 <= row < len(t) and t.alive[row]
                xy = t.coords[row, k, ::-1] if inside else np.full(2, np.nan)
                if el is None or el["outside"] == "1":  # CVAT shows nothing there
                    assert np.isnan(xy).all(), (tid, f, node)
                    continue
                want = np.asarray(el["points"].split(","), float)
                np.testing.assert_allclose(xy, want, atol=0.005, err_msg=str((tid, f, node)))  # 2 decimals
                assert t.visibility[row, k] == (1 if el["occluded"] == "1" else 2)
                assert t.is_key[row, k] == (el["keyframe"] == "1")
    t0 = store.tracks[1]
    assert t0.stop == 12 and np.isfinite(t0.coords[-1, 0]).all()  # never outside: held to stop_frame
    assert t0.is_key[6 - t0.start, 1] and t0.visibility[6 - t0.start, 1] == 0  # outside key: "not here"
    assert t0.meta["cvat"]["attributes"] == {"0": {"posture": "walking"}, "4": {"posture": "rearing"}}


def test_video_written_back_as_cvat_wrote_it(tmp_path: Path) -> None:
    ds = read(VIDEO)
    out = tmp_path / "annotations.xml"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing the file had is lost
        assert write(ds, out, "cvat") == [out]
    assert _body(out) == _body(VIDEO)  # every frame, keyframe="0" in-betweens, the box track, the meta


def test_images_read_and_written_back(tmp_path: Path) -> None:
    ds = read(IMAGES)
    (store,) = ds.stores
    assert [fr["item"] for fr in ds.frames] == ["cage_a/img_0001.png", "cage_a/img_0002.png"]
    root = ET.parse(IMAGES).getroot()
    for f, image in enumerate(root.iter("image")):
        for j, sk in enumerate(image.iter("skeleton")):
            t = store.tracks[j + 1]  # the j-th skeleton of an image
            for el in sk.iter("points"):
                k = NODES.index(el.get("label"))
                if el.get("outside") == "1":
                    assert np.isnan(t.coords[f - t.start, k]).all() and t.is_key[f - t.start, k]
                    continue
                want = np.asarray(el.get("points").split(","), float)
                np.testing.assert_allclose(t.coords[f - t.start, k, ::-1], want, atol=1e-9)
                assert t.visibility[f - t.start, k] == (1 if el.get("occluded") == "1" else 2)
    out = tmp_path / "annotations.xml"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write(ds, out, "cvat")
    assert _body(out) == _body(IMAGES)  # the box, attributes, group and z order in their places


def test_cvat_zip_export_is_read(tmp_path: Path) -> None:
    z = tmp_path / "task_41-cvat for video 1.1.zip"
    with zipfile.ZipFile(z, "w") as fh:
        fh.write(VIDEO, "annotations.xml")
    ds, fmt = read_detected(z)
    assert fmt == "cvat" and len(ds.stores[0]) == 2


@pytest.mark.parametrize(("via", "name"), [("coco", "c.json"), ("darwin", "d")])
def test_video_through_coco_and_v7_comes_back_as_it_was(tmp_path: Path, via: str, name: str) -> None:
    ds = read(VIDEO)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what COCO / V7 cannot hold is said, not tested here
        write(ds, tmp_path / name, via)
        again = read(tmp_path / name, format=via)
    out = tmp_path / "back.xml"
    write(again, out, "cvat")
    assert _body(out) == _body(VIDEO)  # positions, keyframes, outside, attributes, the box track


@pytest.mark.parametrize(("fmt", "name"), [("darwin", "d"), ("coco", "c.json")])
def test_images_through_v7_and_coco_come_back_as_they_were(tmp_path: Path, fmt: str, name: str) -> None:
    ds = read(IMAGES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what V7 / COCO cannot hold is said, not tested here
        write(ds, tmp_path / name, fmt)
        again = read(tmp_path / name, format=fmt)
    out = tmp_path / "back.xml"
    write(again, out, "cvat")
    assert _body(out) == _body(IMAGES)  # one instance across the images, its attributes kept


def test_written_to_sleap_names_what_slp_cannot_hold(tmp_path: Path) -> None:
    with pytest.warns(
        FormatWarning,
        match=r"SLEAP \.slp cannot hold 4 unlabelled keys .*the CVAT attributes of 2 instances; "
        r"1 other CVAT shape \(boxes, polygons, tags\)",
    ):
        write(read(VIDEO), tmp_path / "mice.slp", "sleap")
    back = read(tmp_path / "mice.slp")
    ours = read(VIDEO).stores[0]
    for a, b in zip(ours, back.stores[0]):  # every position CVAT shows, keys and in-betweens
        np.testing.assert_allclose(b.coords[: len(a)], a.coords, atol=1e-4)


def _cubic_set(hold_to: int) -> AnnotationSet:
    sk = Skeleton(["a", "b"], [("a", "b")], name="fly")
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=20, name="fly")
    store.method = "cubic"
    store.add_track(1, start=2, stop=hold_to)
    for f, (y, x) in {2: (5.0, 5.0), 6: (9.0, 14.0), 9: (9.5, 30.0), 14: (20.0, 31.0)}.items():
        store.set_points(f, 1, [[y, x], [y + 3, x - 2]], visibility=[2, 1])
    interpolate_all(store, method="cubic")
    frames = [{"item": "fly.mp4", "frame": f, "width": 64, "height": 48} for f in range(20)]
    return AnnotationSet(stores=[store], frames=frames)


def test_our_interpolation_is_what_cvat_shows(tmp_path: Path) -> None:
    """Cubic in-betweens and a track that ends: CVAT (linear, held to the end) shows the same."""
    ds = _cubic_set(hold_to=17)
    t = ds.stores[0].tracks[1]
    out = tmp_path / "fly.xml"
    write(ds, out, "cvat")
    root = ET.parse(out).getroot()
    assert root.find("./meta/task/mode").text == "interpolation"
    frames = [int(s.get("frame")) for s in root.iter("skeleton")]
    assert frames == list(range(2, 18))  # every frame; the outside keyframe on 17 ends it
    back = read(out).stores[0].tracks[1]
    assert (back.start, back.stop) == (2, 17)
    np.testing.assert_allclose(back.coords, t.coords, atol=1e-6)  # every frame, not only keys
    assert (back.visibility == t.visibility).all()
    keys = {int(s.get("frame")) for s in root.iter("skeleton") if s.get("keyframe") == "1"}
    assert {2, 6, 9, 14, 17} <= keys and len(keys) < 16  # our keys, plus where linear differs
    last = root.findall("./track/skeleton")[-1]
    assert [p.get("outside") for p in last.iter("points")] == ["1", "1"]


def test_what_cvat_cannot_hold_is_named(tmp_path: Path) -> None:
    ds = _cubic_set(hold_to=20)
    store = ds.stores[0]
    store.skeleton = Skeleton(["a", "b"], [("a", "b")], flip_pairs=[("a", "b")], name="fly")
    t = store.tracks[1]
    t.name = "Frida"
    t.score[0] = 0.5
    with pytest.warns(
        FormatWarning, match=r"CVAT for video cannot hold 2 node scores; 1 instance name; 1 left/right pair"
    ):
        write(ds, tmp_path / "f.xml", "cvat")
    with pytest.warns(
        FormatWarning, match=r"CVAT for images cannot hold .*interpolated position.*identity of 1 instance"
    ):
        write(ds, tmp_path / "i.xml", "cvat", mode="images")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'points="10.00,20.00"',
            'points="10.00,20.00,3"',
            r"track 0, frame '0', element 'nose': points='10.00,20.00,3' is not one point",
        ),
        (
            '<skeleton frame="5"',
            '<skeleton frame="50"',
            r"track 0, frame 50: frame 50 is not a frame of the task",
        ),
        ('outside="0" occluded="1"', 'outside="0" occluded="yes"', r"occluded='yes' is neither 0 nor 1"),
        ("</annotations>", "", r"not XML"),
        (
            '<points label="tail"',
            '<points label="whisker"',
            r"elements \['whisker'\] are not nodes of skeleton 'mouse'",
        ),
    ],
)
def test_bad_files_name_the_place(tmp_path: Path, old: str, new: str, message: str) -> None:
    """Each damage is a one-line FormatError naming the file, the track, frame and element."""
    bad = tmp_path / "bad.xml"
    bad.write_text(VIDEO.read_text().replace(old, new, 1))
    with pytest.raises(FormatError, match=message) as err:
        read(bad)
    assert "bad.xml" in str(err.value) and "\n" not in str(err.value)


def test_images_with_one_id_twice_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "two.xml"
    bad.write_text(IMAGES.read_text().replace('<image id="1"', '<image id="0"'))
    with pytest.raises(FormatError, match=r"two\.xml: two images have id 0"):
        read(bad)


def test_convert_command_writes_cvat(tmp_path: Path) -> None:
    from napari_keyskel.cli.main import main

    src = tmp_path / "in.xml"
    shutil.copy(VIDEO, src)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["convert", str(src), str(tmp_path / "c.json"), "--to", "coco"]) == 0
        assert main(["convert", str(tmp_path / "c.json"), str(tmp_path / "back.xml"), "--to", "cvat"]) == 0
    assert read_cvat(tmp_path / "back.xml").stores[0].skeleton.nodes == NODES
    assert write_cvat  # the public writer
