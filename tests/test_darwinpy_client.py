"""Files we write are read the same way by darwin-py, V7's own SDK (run in its own venv).

darwin-py cannot be a dependency (it pins ``rich<14``, which breaks napari's npe2), so
``_darwinpy_env`` builds a cached venv for it once. No network and no cache: these tests fail
with the reason (they never skip).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import _darwinpy_env as env
import numpy as np
import pytest

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.formats.darwin import read_darwin, write_darwin

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data"
SAMPLES = [
    "darwin2_video_skeleton_keypoint_mini_uct.json",
    "darwin2_video_skeleton_subtypes_properties_mini_uct.json",
    "darwin2_image_skeleton_image_1.json",
    "darwin2_image_keypoint_image_1.json",
]


def darwinpy(paths: list[Path]) -> list[dict[str, Any]]:
    try:
        return env.parse_with_darwinpy(paths)
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"darwin-py could not be run in its venv ({env.venv_dir()}): {exc}")


def ours(ann: dict[str, Any]) -> dict[str, Any]:
    """The parts darwin-py reports, from one annotation's summary, rounded for comparison."""

    def nodes(ns):
        if ns is None:
            return None
        return [(n.get("name"), round(n["x"], 6), round(n["y"], 6), n.get("occluded")) for n in ns]

    if ann["video"]:
        return {
            "class": ann["class"],
            "type": ann["type"],
            "keyframes": ann["keyframes"],
            "frames": {f: nodes(v) for f, v in ann["frames"].items()},
            "segments": ann["segments"],
        }
    return {"class": ann["class"], "type": ann["type"], "nodes": nodes(ann["nodes"])}


@pytest.fixture(scope="module")
def round_trips(tmp_path_factory) -> list[tuple[dict, dict]]:
    tmp = tmp_path_factory.mktemp("darwinpy")
    originals, written = [], []
    for i, name in enumerate(SAMPLES):
        src = tmp / f"orig_{i}.json"
        shutil.copy(DATA / name, src)
        originals.append(src)
        written.append(write_darwin(read_darwin(src), tmp / f"ours_{i}.json", skeleton_file=False)[0])
    parsed = darwinpy(originals + written)
    return list(zip(parsed[: len(SAMPLES)], parsed[len(SAMPLES) :]))


@pytest.mark.parametrize("i", range(len(SAMPLES)), ids=SAMPLES)
def test_darwinpy_reads_our_round_trip_like_the_original(round_trips, i):
    orig, back = round_trips[i]
    assert back["is_video"] == orig["is_video"]
    assert [(a["class"], a["type"]) for a in back["annotations"]] == [
        (a["class"], a["type"]) for a in orig["annotations"]
    ]
    mine = [ours(a) for a in back["annotations"] if a["type"] in ("skeleton", "keypoint")]
    theirs = [ours(a) for a in orig["annotations"] if a["type"] in ("skeleton", "keypoint")]
    assert mine and mine == theirs


def test_darwinpy_reads_a_multi_instance_video_we_made(tmp_path):
    sk = Skeleton(["head", "neck", "tail"], [(0, 1), (1, 2)], name="fish")
    n = 30
    store = AnnotationStore(sk, n_frames=n, name="fish")
    rng = np.random.default_rng(7)
    for i in range(3):
        t = store.add_track(start=i * 3, stop=n - i * 2)
        for f in range(t.start, t.stop):
            store.set_points(f, t.track_id, rng.uniform(0, 200, (3, 2)), key=f % 5 == 0)
        store.set_visibility(t.start + 1, t.track_id, 1, nodes="tail")  # occluded
        store.delete_points(t.start + 2, t.track_id, nodes="neck")  # unlabelled
        store.set_alive(t.track_id, t.start + 10, t.start + 13, False)  # a gap
    frames = [{"item": "fish.mp4", "frame": f, "width": 320, "height": 240} for f in range(n)]
    (path, _) = write_darwin(AnnotationSet(stores=[store], frames=frames), tmp_path / "fish.json")
    (got,) = darwinpy([path])
    assert got["is_video"] is True
    anns = got["annotations"]
    assert len(anns) == 3 and {a["class"] for a in anns} == {"fish"}
    for t, a in zip(store, anns):
        lab = np.isfinite(t.coords[..., 0])
        want_frames = [t.start + r for r in np.flatnonzero(lab.any(axis=1))]
        assert sorted(map(int, a["frames"])) == want_frames
        for f in want_frames:
            r = f - t.start
            assert a["keyframes"][str(f)] == bool(t.is_key[r][lab[r]].any())
            got_nodes = {nd["name"]: nd for nd in a["frames"][str(f)]}
            assert set(got_nodes) == {sk.nodes[k] for k in np.flatnonzero(lab[r])}
            for name, nd in got_nodes.items():
                k = sk.index(name)
                assert nd["x"] == pytest.approx(t.coords[r, k, 1] + 0.5)
                assert nd["y"] == pytest.approx(t.coords[r, k, 0] + 0.5)
                assert nd["occluded"] is bool(t.visibility[r, k] == 1)
        alive = np.flatnonzero(t.alive) + t.start
        runs = np.split(alive, np.flatnonzero(np.diff(alive) != 1) + 1)
        assert a["segments"] == [[int(x[0]), int(x[-1]) + 1] for x in runs]
    json.loads(path.read_text())  # plain JSON, no NaN


def test_darwinpy_parses_every_file_we_write(tmp_path):
    """Files with all our extras, and the COCO dialects converted to V7, parse in darwin-py."""
    from test_coco_darwin_roundtrip import extras_dataset

    from napari_keyskel.formats.coco import read_coco

    sources = {"extras": extras_dataset()}
    for p in sorted(DATA.glob("coco_*.json")):
        if p.name != "coco_results_confidences.json":
            sources[p.stem] = read_coco(p)
    sources["results"] = read_coco(
        DATA / "coco_results_confidences.json", images=DATA / "coco_results_confidences_gt.json"
    )
    paths, expected = [], []
    for name, ds in sources.items():
        written = [p for p in write_darwin(ds, tmp_path / name) if not p.name.endswith(".skeleton.json")]
        for p in written:
            doc = json.loads(p.read_text())
            n = sum(1 for a in doc["annotations"] if "skeleton" in a or "frames" in a)
            paths.append(p)
            expected.append(n)
    parsed = darwinpy(paths)
    assert len(parsed) == len(paths) > 10
    for p, got, n in zip(paths, parsed, expected):
        skel = [a for a in got["annotations"] if a["type"] == "skeleton"]
        assert len(skel) == n, p  # darwin-py drops a video annotation it cannot read: none dropped
        ours_back = read_darwin(p.parent)
        assert sum(len(s) for s in ours_back.stores) >= n


def test_darwinpy_reads_a_keyframes_only_file_we_wrote_back(tmp_path):
    """Issue 22 item 2: V7's interpolation filled on read, the file written back as it was."""
    from test_darwin_v7_interpolation import sparse_doc

    src = tmp_path / "sparse.json"
    src.write_text(json.dumps(sparse_doc([[5, 12]], hidden=[[10, 11]])))
    out = write_darwin(read_darwin(src), tmp_path / "back.json", skeleton_file=False)[0]
    orig, back = darwinpy([src, out])
    mine = [ours(a) for a in back["annotations"] if a["type"] in ("skeleton", "keypoint")]
    theirs = [ours(a) for a in orig["annotations"] if a["type"] in ("skeleton", "keypoint")]
    assert mine == theirs
    skel = next(a for a in back["annotations"] if a["type"] == "skeleton")
    assert sorted(map(int, skel["frames"])) == [5, 9]  # only the keyframes, as in the file read
