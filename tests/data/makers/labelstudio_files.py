"""Write the Label Studio test export as Label Studio writes it (run from the repository root).

The task and annotation fields follow Label Studio's JSON export (https://labelstud.io/guide/task_format
and the ``KeyPointLabels`` / ``RectangleLabels`` tag pages: ``value.x``/``value.y`` in percent of
``original_width``/``original_height``, ``value.width`` the point size). A keypoint drawn
inside a selected rectangle carries the rectangle's id in ``parentID``; one rectangle here
groups its keypoints with ``relation`` results instead (as sleap-io and the keypoint templates
of Label Studio's ML backends link them). Task 2 has a cancelled annotation before the real
one and no rectangles; task 3 has no annotation.
"""

from __future__ import annotations

import json
from pathlib import Path

W, H = 640, 480
NODES = ("snout", "left_ear", "right_ear", "tail_base")


def _kp(rid: str, node: str, x: float, y: float, parent: str | None = None) -> dict:
    out = {
        "original_width": W,
        "original_height": H,
        "image_rotation": 0,
        "value": {"x": x / W * 100, "y": y / H * 100, "width": 0.4, "keypointlabels": [node]},
        "id": rid,
        "from_name": "kp",
        "to_name": "image",
        "type": "keypointlabels",
        "origin": "manual",
    }
    if parent is not None:
        out["parentID"] = parent
    return out


def _rect(rid: str, label: str, x: float, y: float, w: float, h: float) -> dict:
    return {
        "original_width": W,
        "original_height": H,
        "image_rotation": 0,
        "value": {"x": x / W * 100, "y": y / H * 100, "width": w / W * 100, "height": h / H * 100,
                  "rotation": 0, "rectanglelabels": [label]},
        "id": rid,
        "from_name": "individual",
        "to_name": "image",
        "type": "rectanglelabels",
        "origin": "manual",
    }  # fmt: skip


def _annotation(aid: int, task: int, result: list, cancelled: bool = False) -> dict:
    return {
        "id": aid, "completed_by": 1, "result": result, "was_cancelled": cancelled, "ground_truth": False,
        "created_at": "2025-02-11T09:30:12.418264Z", "updated_at": "2025-02-11T09:31:40.100215Z",
        "draft_created_at": None, "lead_time": 87.682, "prediction": {}, "result_count": 0,
        "unique_id": f"4b1f6c2e-9d5a-4e0b-8c1d-00000000000{aid}", "import_id": None, "last_action": None,
        "bulk_created": False, "task": task, "project": 3, "updated_by": 1, "parent_prediction": None,
        "parent_annotation": None, "last_created_by": None,
    }  # fmt: skip


def _task(tid: int, image: str, annotations: list) -> dict:
    return {
        "id": tid, "annotations": annotations, "file_upload": image.rsplit("/", 1)[-1], "drafts": [],
        "predictions": [], "data": {"image": image}, "meta": {},
        "created_at": "2025-02-11T09:12:03.551932Z", "updated_at": "2025-02-11T09:31:40.180553Z",
        "inner_id": tid, "total_annotations": sum(not a["was_cancelled"] for a in annotations),
        "cancelled_annotations": sum(a["was_cancelled"] for a in annotations), "total_predictions": 0,
        "comment_count": 0, "unresolved_comment_count": 0, "last_comment_updated_at": None, "project": 3,
        "updated_by": 1, "comment_authors": [],
    }  # fmt: skip


def export() -> list:
    t1 = [
        _rect("r1", "mus1", 100, 80, 90, 70),
        _kp("k1", "snout", 120.5, 90.25, "r1"),
        _kp("k2", "left_ear", 140, 95.5, "r1"),
        _kp("k3", "right_ear", 130, 110, "r1"),
        _kp("k4", "tail_base", 180, 140, "r1"),
        _rect("r2", "mus2", 300, 200, 120, 90),
        _kp("k5", "snout", 310, 210),
        _kp("k6", "left_ear", 330.75, 215),
        _kp("k7", "tail_base", 400, 280),
        {"from_id": "k5", "to_id": "r2", "type": "relation", "direction": "right"},
        {"from_id": "k6", "to_id": "r2", "type": "relation", "direction": "right"},
        {"from_id": "k7", "to_id": "r2", "type": "relation", "direction": "right"},
    ]
    t2 = [
        _kp("m1", "snout", 200, 150),
        _kp("m2", "left_ear", 215, 160),
        _kp("m3", "right_ear", 205, 170),
        _kp("m4", "tail_base", 260, 210),
    ]
    return [
        _task(11, "/data/upload/3/7c2e91aa-cage_0001.png", [_annotation(21, 11, t1)]),
        _task(12, "/data/upload/3/0b44d3f1-cage_0002.png",
              [_annotation(22, 12, [_kp("x", "snout", 1, 1)], cancelled=True), _annotation(23, 12, t2)]),
        _task(13, "/data/upload/3/e5a6c0d2-cage_0003.png", []),
    ]  # fmt: skip


if __name__ == "__main__":
    out = Path("tests/data/labelstudio_export_keypoints_rectangles.json")
    out.write_text(json.dumps(export(), indent=2) + "\n", encoding="utf-8")
