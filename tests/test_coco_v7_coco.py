"""COCO -> V7 -> COCO gives the file back (issue 24, item 8).

The file's own ``bbox``, ``area`` and ``num_keypoints`` come back exactly while the points are
unchanged (points with more decimals than V7's 10 included: OCHuman's segmentation areas and
detector boxes, Halpe's body-only ``num_keypoints``), and nothing is added: no ``slot``, no V7
bookkeeping in ``keyskel`` extras.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO

from napari_keyskel.core.presets import coco_person
from napari_keyskel.formats.coco import read_coco, write_coco
from napari_keyskel.formats.darwin import read_darwin, write_darwin

DATA = Path(__file__).parent / "data"


def own_boxes_doc(video: bool, rule: bool = False) -> dict[str, Any]:
    """17-node people whose points have 13 decimals and whose box, area and count are the file's own.

    ``rule``: box, area and count by our rule instead (the box of the labelled points).
    """
    rng = np.random.default_rng(5)
    sk = coco_person()
    images, anns = [], []
    for i in range(4):
        im: dict[str, Any] = {"id": 10 + i, "file_name": f"{i:06d}.jpg", "width": 640, "height": 480}
        if video:
            im["file_name"] = f"clip/frame_{i:06d}.jpg"
        images.append(im)
        for j in range(2):
            xy = rng.uniform(5, 600, (17, 2)).round(13)
            v = rng.choice([0, 1, 2], 17, p=[0.2, 0.2, 0.6])
            xy[v == 0] = 0.0
            kp = np.concatenate([xy, v[:, None]], 1).ravel().tolist()
            kp = [int(x) if k % 3 == 2 else x for k, x in enumerate(kp)]
            lab = xy[v > 0]
            box = [*lab.min(0).tolist(), *(lab.max(0) - lab.min(0)).tolist()]
            anns.append(
                {
                    "id": 100 + 2 * i + j,
                    "image_id": 10 + i,
                    "category_id": 1,
                    "keypoints": kp,
                    "num_keypoints": 15,  # Halpe-like: counts the body nodes only
                    "bbox": [1.25, 2.5, 300.0, 420.0],  # a detector's box, not the points' box
                    "area": 356725.0,  # OCHuman-like: the segmentation's area
                    "iscrowd": 0,
                    "track_id": j,
                }
            )
            if rule:
                anns[-1].update(num_keypoints=int((v > 0).sum()), bbox=box, area=box[2] * box[3])
    cat = {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(sk.nodes),
        "skeleton": [[a + 1, b + 1] for a, b in sk.edges],
    }
    return {"images": images, "annotations": anns, "categories": [cat]}


def _through_v7(src: Path, tmp: Path) -> dict[str, Any]:
    write_darwin(read_coco(src), tmp / "v7")
    (out,) = write_coco(read_darwin(tmp / "v7"), tmp / "back.json")
    return json.loads(out.read_text())


@pytest.mark.parametrize(("video", "rule"), [(False, False), (True, False), (True, True)])
def test_own_boxes_areas_and_counts_come_back_exactly(tmp_path: Path, video: bool, rule: bool) -> None:
    doc = own_boxes_doc(video, rule)
    src = tmp_path / "own.json"
    src.write_text(json.dumps(doc))
    back = _through_v7(src, tmp_path)
    assert back == doc  # same JSON values: boxes, areas, counts, points; no field added
    with contextlib.redirect_stdout(io.StringIO()):
        COCO(str(tmp_path / "back.json"))  # pycocotools still reads it


@pytest.mark.parametrize(
    "name", ["coco_keypoints_sleapio_visibility_ternary.json", "coco_video_id_tracks.json"]
)
def test_real_and_dialect_files_come_back_with_nothing_added(tmp_path: Path, name: str) -> None:
    src = DATA / name
    doc = json.loads(src.read_text())
    assert _through_v7(src, tmp_path) == doc
    assert _through_v7(src, tmp_path) == json.loads(
        write_coco(read_coco(src), tmp_path / "c.json")[0].read_text()
    )


def test_an_edited_point_recomputes_its_annotation_only(tmp_path: Path) -> None:
    doc = own_boxes_doc(False)
    src = tmp_path / "own.json"
    src.write_text(json.dumps(doc))
    write_darwin(read_coco(src), tmp_path / "v7")
    ds = read_darwin(tmp_path / "v7")
    s = ds.stores[0]
    t = next(t for t in s if np.isfinite(t.coords[..., 0]).any())
    r = int(np.flatnonzero(np.isfinite(t.coords[..., 0]).any(axis=1))[0])
    k = int(np.flatnonzero(np.isfinite(t.coords[r, :, 0]))[0])
    s.set_points(t.start + r, t.track_id, [[7.0, 9.0]], nodes=[k])
    (out,) = write_coco(ds, tmp_path / "edited.json")
    back = json.loads(out.read_text())
    changed = [a for a, b in zip(back["annotations"], doc["annotations"]) if a != b]
    assert len(changed) == 1
    a = changed[0]
    assert a["keypoints"][3 * k : 3 * k + 2] == [9.0, 7.0]
    assert a["area"] == a["bbox"][2] * a["bbox"][3]  # our rule for a changed annotation


def test_v7_files_we_made_still_round_trip_as_v7(tmp_path: Path) -> None:
    """The made V7 files read back as the COCO dataset, and write back byte for byte."""
    src = DATA / "coco_video_id_tracks.json"
    first = write_darwin(read_coco(src), tmp_path / "a", skeleton_file=False)
    again = write_darwin(read_darwin(tmp_path / "a"), tmp_path / "b", skeleton_file=False)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
