"""Hostile input and failed writes (issue 10, items 11 and 12): only FormatError, nothing lost.

Every case seen in the wild or in fuzzing gets a test: absurd frame counts and frame keys, huge
numbers, deep nesting, broken side skeleton files, objects where strings belong, bad extras,
booleans where numbers belong, FIFOs and NUL bytes; side files of classes whose names clash;
a folder write that fails half way. Plus a fast sample of ``benchmarks/fuzz_formats.py``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from napari_keyskel import AnnotationSet, AnnotationStore, Skeleton
from napari_keyskel.errors import FormatError
from napari_keyskel.formats import read
from napari_keyskel.formats.coco import read_coco, write_coco
from napari_keyskel.formats.darwin import read_darwin, write_darwin

DATA = Path(__file__).parent / "data"
VIDEO = DATA / "darwin2_video_skeleton_keypoint_mini_uct.json"
SLEAP = DATA / "coco_keypoints_sleapio_visibility_ternary.json"


def _doc(p: Path) -> dict:
    return json.loads(p.read_text())


def _write(tmp: Path, name: str, doc: object) -> Path:
    p = tmp / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


def _skeleton_ann(doc: dict) -> dict:
    return next(
        a for a in doc["annotations"] if "frames" in a and "skeleton" in next(iter(a["frames"].values()))
    )


def test_frame_count_of_a_billion_is_not_believed(tmp_path: Path) -> None:
    doc = _doc(VIDEO)
    doc["item"]["slots"][0]["frame_count"] = 10**9
    del doc["item"]["slots"][0]["frame_urls"]
    with pytest.warns(UserWarning, match="states 1000000000 frames"):
        ds = read_darwin(_write(tmp_path, "v.json", doc))
    assert len(ds.frames) < 100  # the frames annotated, not a billion dicts
    out = json.loads(write_darwin(ds, tmp_path / "o.json")[0].read_text())
    assert out["item"]["slots"][0]["frame_count"] == 10**9  # the file's own number is kept


def test_frame_keys_and_ranges_of_1e11_are_refused(tmp_path: Path) -> None:
    doc = _doc(VIDEO)
    ann = _skeleton_ann(doc)
    ann["frames"]["100000000000"] = next(iter(ann["frames"].values()))
    with pytest.raises(
        FormatError, match=r"v\.json: annotation .*frame 100000000000 is past the 200000 frames"
    ):
        read_darwin(_write(tmp_path, "v.json", doc))
    doc = _doc(VIDEO)
    _skeleton_ann(doc)["ranges"] = [[0, 10**11]]
    with pytest.raises(FormatError, match="'ranges' run past"):
        read_darwin(_write(tmp_path, "v.json", doc))


def test_huge_numbers_and_deep_nesting(tmp_path: Path) -> None:
    doc = _doc(VIDEO)
    node = next(iter(_skeleton_ann(doc)["frames"].values()))["skeleton"]["nodes"][0]
    text = json.dumps(doc).replace(json.dumps(node["x"]), "1" + "0" * 25, 1)
    ds = read_darwin(_write(tmp_path, "v.json", text))  # 26 digits: a finite number, read
    assert np.nanmax(ds.stores[0].tracks[next(iter(ds.stores[0].tracks))].coords) > 1e24
    text = json.dumps(doc).replace(json.dumps(node["x"]), "1" + "0" * 400, 1)
    with pytest.raises(FormatError, match=r"v\.json: .*not valid JSON \(number is infinity"):
        read_darwin(_write(tmp_path, "v.json", text))
    deep = "[" * 1000 + "1" + "]" * 1000
    for p in (
        _write(
            tmp_path,
            "deep_darwin.json",
            json.dumps(doc).replace('"properties": []', f'"properties": {deep}', 1),
        ),
        _write(tmp_path, "deep_coco.json", SLEAP.read_text().replace('"info"', f'"deep": {deep}, "info"', 1)),
    ):
        try:
            ds = read(p)
        except FormatError as exc:
            assert p.name in str(exc)
        else:  # read: then writing what was kept may refuse, but only with FormatError
            with pytest.raises(FormatError, match="cannot serialise"):
                write_darwin(ds, tmp_path / "w_darwin")
            with pytest.raises(FormatError, match="cannot serialise"):
                write_coco(ds, tmp_path / "w_coco.json")


@pytest.mark.parametrize(
    "content", [b'{"nodes": ["\xff\xfe"]}', json.dumps({"nodes": [[[[0]]]] * 1 + [None]}).encode()]
)
def test_broken_side_skeleton_files(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "v.json").write_text(VIDEO.read_text())
    (tmp_path / "test_skeleton_basic.skeleton.json").write_bytes(content)
    with pytest.raises(FormatError, match=r"test_skeleton_basic\.skeleton\.json"):
        read_darwin(tmp_path / "v.json")
    deep = json.dumps({"nodes": "@"}).replace('"@"', "[" * 900 + '"a"' + "]" * 900)
    (tmp_path / "test_skeleton_basic.skeleton.json").write_text(deep)
    with pytest.raises(FormatError, match=r"test_skeleton_basic\.skeleton\.json"):
        read_darwin(tmp_path / "v.json")


def test_objects_where_strings_belong_and_bad_extras(tmp_path: Path) -> None:
    doc = _doc(SLEAP)
    doc["images"][0]["slot"] = {"name": "0"}
    with pytest.raises(FormatError, match=r"image id .*'slot' must be a string"):
        read_coco(_write(tmp_path, "c.json", doc))
    for bad in (
        [1, 2],
        {"keyframe": "yes"},
        {"track": {"id": "x"}},
        {"score": [1]},
        {"track": {"alive": [[5, 2]]}},
    ):
        doc = _doc(SLEAP)
        doc["annotations"][0]["keyskel"] = bad
        with pytest.raises(FormatError, match=r"c\.json: annotation id .*'keyskel'"):
            read_coco(_write(tmp_path, "c.json", doc))
    for bad in ("x", {"keys": {"99": [1]}}, {"nodes": [1]}, {"track": {"meta": []}}, {"scores": []}):
        doc = _doc(VIDEO)
        _skeleton_ann(doc)["keyskel"] = bad
        with pytest.raises(FormatError, match=r"v\.json: annotation .*'keyskel'"):
            read_darwin(_write(tmp_path, "v.json", doc))
    doc = _doc(VIDEO)
    doc["keyskel"] = {"frames": {"9": {}}}
    with pytest.raises(FormatError, match="names slot '9'"):
        read_darwin(_write(tmp_path, "v.json", doc))


def test_true_and_false_are_not_coordinates(tmp_path: Path) -> None:
    doc = _doc(SLEAP)
    kp = doc["annotations"][0]["keypoints"]
    kp[3], kp[5] = True, True  # x of node 1, and its visibility
    with pytest.raises(FormatError, match=r"annotation id .*'keypoints': value 3 is True, not a number"):
        read_coco(_write(tmp_path, "c.json", doc))
    doc = _doc(VIDEO)
    node = next(iter(_skeleton_ann(doc)["frames"].values()))["skeleton"]["nodes"][0]
    node["x"] = False
    with pytest.raises(FormatError, match="node position must be two finite numbers, got x=False"):
        read_darwin(_write(tmp_path, "v.json", doc))


def test_a_fifo_and_a_nul_byte_do_not_hang_or_crash(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    done: list[BaseException] = []

    def go() -> None:
        for reader in (read, read_coco, read_darwin):
            try:
                reader(fifo)
            except BaseException as exc:
                done.append(exc)

    th = threading.Thread(target=go, daemon=True)
    th.start()
    th.join(10)
    if th.is_alive():  # unblock the thread (open a writer end) before failing
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert len(done) == 3 and all(isinstance(e, FormatError) and "not a regular file" in str(e) for e in done)
    for reader in (read, read_coco, read_darwin):
        with pytest.raises(FormatError, match="NUL byte"):
            reader(str(tmp_path / "a") + "\0b.json")


def test_side_files_of_clashing_class_names_are_kept_apart(tmp_path: Path) -> None:
    stores = []
    for name, nodes in (("a/b", ["x", "y"]), ("a_b", ["p", "q", "r"]), ("with space", ["n"])):
        s = AnnotationStore(
            Skeleton(nodes, [(0, 1)] if len(nodes) > 1 else [], name=name), n_frames=1, name=name
        )
        s.add_track(1)
        s.set_points(0, 1, [[1.0, 2.0]] * len(nodes))
        stores.append(s)
    ds = AnnotationSet(stores=stores, frames=[{"item": "img.png", "frame": 0}])
    written = write_darwin(ds, tmp_path / "out")
    sides = sorted(p.name for p in written if p.name.endswith(".skeleton.json"))
    assert len(sides) == 3 and len(set(sides)) == 3
    assert not any(c.isspace() for n in sides for c in n), sides  # safe names: no spaces either
    assert "with_space.skeleton.json" in sides
    back = read_darwin(tmp_path / "out")
    assert {s.name: s.skeleton.nodes for s in back.stores} == {s.name: s.skeleton.nodes for s in stores}
    assert {s.name: s.skeleton.edges for s in back.stores} == {s.name: s.skeleton.edges for s in stores}
    (tmp_path / "c").mkdir()
    write_coco(ds, tmp_path / "c" / "c.json", skeleton_file=True)
    coco_sides = sorted(p.name for p in (tmp_path / "c").glob("*.skeleton.json"))
    assert len(coco_sides) == 3 and not any(" " in n for n in coco_sides), coco_sides


@pytest.mark.parametrize("phase", ["writing the temporary files", "renaming them over the targets"])
def test_failed_folder_write_leaves_every_file_as_it_was(tmp_path: Path, monkeypatch, phase: str) -> None:
    import napari_keyskel.core._atomic as atomic

    two = copy.deepcopy(_doc(VIDEO))
    two["item"]["name"] = "second.mp4"
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.json").write_text(VIDEO.read_text())
    (src / "b.json").write_text(json.dumps(two))
    ds = read_darwin(src)
    out = tmp_path / "out"
    out.mkdir()
    before = {"a.json": "old a", "b.json": "old b"}
    for name, text in before.items():
        (out / name).write_text(text)
    calls = {"n": 0}
    if phase.startswith("writing"):
        real_mkstemp = atomic.tempfile.mkstemp

        def flaky_mkstemp(*args, **kwargs):  # the second temporary file cannot be made (disk full)
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(28, "No space left on device")
            return real_mkstemp(*args, **kwargs)

        monkeypatch.setattr(atomic.tempfile, "mkstemp", flaky_mkstemp)
    else:
        real_replace = atomic.os.replace

        def flaky_replace(src, dst):  # the second rename over a target fails
            if str(src).endswith(".tmp"):
                calls["n"] += 1
                if calls["n"] == 2:
                    raise OSError(28, "No space left on device")
            return real_replace(src, dst)

        monkeypatch.setattr(atomic.os, "replace", flaky_replace)
    with pytest.raises(FormatError) as err:
        write_darwin(ds, out)
    msg = str(err.value)
    assert "No space left" in msg and "no file was replaced" in msg
    assert ".tmp" not in msg and str(out / "b.json") in msg  # names the target, not a temporary file
    assert {p.name: p.read_text() for p in out.glob("*.json")} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left


def _fuzz_module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_formats.py"
    spec = importlib.util.spec_from_file_location("fuzz_formats", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fuzz_sample_only_format_error() -> None:
    """A fast sample of benchmarks/fuzz_formats.py (which runs 10,000 inputs per reader)."""
    res = _fuzz_module().fuzz(n_inputs=150, seed=12345, timeout=20, verbose=False)
    for fmt, counts in res.items():
        assert set(counts) <= {"ok", "FormatError"}, (fmt, dict(counts))
        assert counts["ok"] > 10 and counts["FormatError"] > 10  # the mutations reach both outcomes


def test_damaged_v7_ranges_carried_in_coco_do_not_hang_the_writer(tmp_path: Path) -> None:
    """Found by fuzzing: V7 ranges kept in a COCO extra, edited to -10**25, made a 10**25 set."""
    c = write_coco(read_darwin(VIDEO), tmp_path / "c.json")[0]
    doc = _doc(c)
    ann = next(a for a in doc["annotations"] if "track" in a.get("keyskel", {}))
    ann["keyskel"]["track"]["meta"]["darwin"]["ranges"] = [[-(10**25), 5]]
    ds = read_coco(_write(tmp_path, "c2.json", doc))
    out = json.loads(write_darwin(ds, tmp_path / "d.json", skeleton_file=False)[0].read_text())
    ranges = [a["ranges"] for a in out["annotations"] if "ranges" in a and a["name"] == "test_skeleton_basic"]
    assert ranges == [[[5, 8]]]  # written afresh from the lifespan, not from the damaged value


def test_damaged_kept_v7_data_is_a_format_error_naming_the_target(tmp_path: Path) -> None:
    ds = read_darwin(VIDEO)
    next(iter(ds.stores[0])).meta["darwin"]["extra"] = 7  # e.g. mangled by another tool
    target = tmp_path / "o.json"
    with pytest.raises(FormatError, match="V7 data kept from the file read is damaged") as err:
        write_darwin(ds, target)
    assert str(target) in str(err.value) and not target.exists()


def _coco_damaged(where: str, bad: object) -> dict:
    doc = _doc(SLEAP)
    if where == "top":
        doc["keyskel"] = {"meta": bad}
    elif where == "category":
        doc["categories"][0]["keyskel"] = {"meta": bad}
    else:
        doc["annotations"][0]["keyskel"] = {"track": {"meta": bad}}
    return doc


def _v7_damaged(where: str, bad: object) -> dict:
    doc = _doc(VIDEO)
    if where == "top":
        doc["keyskel"] = {"meta": bad}
    elif where == "category":
        doc["keyskel"] = {"classes": [{"name": "test_skeleton_basic", "meta": bad}]}
    else:
        _skeleton_ann(doc)["keyskel"] = {"track": {"meta": bad}}
    return doc


_DAMAGED = [
    ("top", {"darwin": {"items": -1.5}}, "'keyskel.meta.darwin.items' must be a list"),  # issue 24, item 9
    ("top", {"darwin": -1.5}, "'keyskel.meta.darwin' must be an object"),
    ("top", {"darwin": {"items": [3]}}, "items\\[0\\]' must be an object with a 'key' string"),
    ("top", {"darwin": {"items": [{"key": "a", "entries": ["x"]}]}}, "entries' must be a list of objects"),
    ("top", {"coco": {"top": []}}, "'keyskel.meta.coco.top' must be an object"),
    ("category", {"darwin": {"kind": 3}}, "darwin.kind' must be a string"),
    ("category", {"coco": {"category": "x"}}, "coco.category' must be an object"),
    ("track", {"darwin": {"frames_read": ["a"]}}, "frames_read' must be a list of frame numbers"),
    ("track", {"darwin": {"node_extra": {"5": 1}}}, "node_extra' must map frames to objects"),
    ("track", {"coco": {"ann": {"0": 2}}}, "coco.ann' must map frames to objects"),
    ("track", {"coco": {"fields": True}}, "coco.fields' must be a list"),
]


@pytest.mark.parametrize("fmt", ["coco", "darwin"])
@pytest.mark.parametrize(("where", "bad", "match"), _DAMAGED)
def test_damaged_carried_meta_is_an_error_in_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, where: str, bad: dict, match: str
) -> None:
    """Issue 24 item 9: keyskel validate prints an error, never a TypeError traceback."""
    from napari_keyskel.cli.main import main

    doc = _coco_damaged(where, bad) if fmt == "coco" else _v7_damaged(where, bad)
    p = _write(tmp_path, "f.json", doc)
    if fmt in bad:  # a format's own meta in its extras is not carried (ignored): read as before
        assert main(["validate", str(p)]) == 0
        return
    with pytest.raises(FormatError, match=match):
        read(p)
    assert main(["validate", str(p)]) == 1
    err = capsys.readouterr().err
    assert "keyskel validate: error:" in err and "f.json" in err and "Traceback" not in err
