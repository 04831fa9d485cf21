"""Built-in skeletons: COCO person (17), hand (21) and a top-view mouse, with their default poses.

:func:`default_pose` gives each preset a template pose that looks like the animal or person it
stands for (what ``T`` stamps before any pose has been annotated): a mouse seen from above, nose
up; a person facing the camera; an open right hand, palm towards the camera.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import SkeletonError
from .skeleton import Skeleton

__all__ = [
    "DEFAULT_PRESET",
    "MOUSE_BODY",
    "PRESETS",
    "coco_person",
    "default_pose",
    "get_preset",
    "hand21",
    "match_preset",
    "mouse_topview",
]

#: The preset a new annotation layer starts with: the sample's skeleton.
DEFAULT_PRESET = "mouse_topview"

_LEFT, _RIGHT, _MID = "#1f77b4", "#d62728", "#2ca02c"


def _side_color(name: str) -> str:
    if name.startswith(("left", "l_")) or "_left" in name:
        return _LEFT
    if name.startswith(("right", "r_")) or "_right" in name:
        return _RIGHT
    return _MID


def coco_person() -> Skeleton:
    """The 17-keypoint COCO person skeleton (edges as in COCO's ``person_keypoints`` file)."""
    nodes = [
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ]  # fmt: skip
    # COCO's 1-based skeleton, converted to 0-based
    one_based = [
        [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
        [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
    ]  # fmt: skip
    pairs = [(n, "right_" + n[5:]) for n in nodes if n.startswith("left_")]
    return Skeleton(
        nodes, [(a - 1, b - 1) for a, b in one_based], [_side_color(n) for n in nodes], pairs, "person"
    )


def hand21() -> Skeleton:
    """A 21-keypoint hand (wrist + 4 joints per finger, as in OpenPose / MediaPipe)."""
    fingers = ["thumb", "index", "middle", "ring", "pinky"]
    joints = {"thumb": ["cmc", "mcp", "ip", "tip"]}
    nodes = ["wrist"]
    edges: list[tuple[str, str]] = []
    palette = ["#e6194b", "#f58231", "#ffe119", "#3cb44b", "#4363d8"]
    colors = ["#ffffff"]
    for f, col in zip(fingers, palette, strict=True):
        prev = "wrist"
        for j in joints.get(f, ["mcp", "pip", "dip", "tip"]):
            n = f"{f}_{j}"
            nodes.append(n)
            colors.append(col)
            edges.append((prev, n))
            prev = n
    return Skeleton(nodes, edges, colors, None, "hand")


def mouse_topview() -> Skeleton:
    """A top-view mouse (as in common open-field / SLEAP / DLC setups), with left/right pairs."""
    nodes = [
        "snout", "left_ear", "right_ear", "neck", "left_forepaw", "right_forepaw",
        "body_center", "left_hindpaw", "right_hindpaw", "tail_base", "tail_mid", "tail_tip",
    ]  # fmt: skip
    edges = [
        ("snout", "left_ear"), ("snout", "right_ear"), ("left_ear", "neck"), ("right_ear", "neck"),
        ("neck", "left_forepaw"), ("neck", "right_forepaw"), ("neck", "body_center"),
        ("body_center", "left_hindpaw"), ("body_center", "right_hindpaw"),
        ("body_center", "tail_base"), ("tail_base", "tail_mid"), ("tail_mid", "tail_tip"),
    ]  # fmt: skip
    pairs = [("left_ear", "right_ear"), ("left_forepaw", "right_forepaw"), ("left_hindpaw", "right_hindpaw")]
    return Skeleton(nodes, edges, [_side_color(n) for n in nodes], pairs, "mouse")


#: A top-view mouse in its own frame: (forward, left) offsets in body lengths, snout to tail tip.
MOUSE_BODY: dict[str, tuple[float, float]] = {
    "snout": (0.50, 0.00),
    "left_ear": (0.33, 0.10),
    "right_ear": (0.33, -0.10),
    "neck": (0.25, 0.00),
    "left_forepaw": (0.18, 0.16),
    "right_forepaw": (0.18, -0.16),
    "body_center": (0.00, 0.00),
    "left_hindpaw": (-0.18, 0.18),
    "right_hindpaw": (-0.18, -0.18),
    "tail_base": (-0.30, 0.00),
    "tail_mid": (-0.55, 0.00),
    "tail_tip": (-0.80, 0.00),
}

# (y, x) poses, y down, in about [-1, 1]; a person faces the camera (their left on the image right)
_PERSON_POSE = {
    "nose": (-0.82, 0.0), "left_eye": (-0.88, 0.05), "right_eye": (-0.88, -0.05),
    "left_ear": (-0.84, 0.11), "right_ear": (-0.84, -0.11),
    "left_shoulder": (-0.6, 0.22), "right_shoulder": (-0.6, -0.22),
    "left_elbow": (-0.3, 0.3), "right_elbow": (-0.3, -0.3),
    "left_wrist": (-0.02, 0.34), "right_wrist": (-0.02, -0.34),
    "left_hip": (0.05, 0.14), "right_hip": (0.05, -0.14),
    "left_knee": (0.5, 0.16), "right_knee": (0.5, -0.16),
    "left_ankle": (0.95, 0.16), "right_ankle": (0.95, -0.16),
}  # fmt: skip
_HAND_POSE = {  # an open right hand, palm to the camera, fingers up, the thumb on the image left
    "wrist": (0.95, 0.0),
    "thumb_cmc": (0.65, -0.28), "thumb_mcp": (0.42, -0.5),
    "thumb_ip": (0.22, -0.64), "thumb_tip": (0.02, -0.76),
    "index_mcp": (0.12, -0.24), "index_pip": (-0.22, -0.28),
    "index_dip": (-0.46, -0.3), "index_tip": (-0.68, -0.32),
    "middle_mcp": (0.06, -0.06), "middle_pip": (-0.3, -0.06),
    "middle_dip": (-0.58, -0.06), "middle_tip": (-0.84, -0.06),
    "ring_mcp": (0.1, 0.12), "ring_pip": (-0.22, 0.14),
    "ring_dip": (-0.46, 0.16), "ring_tip": (-0.68, 0.17),
    "pinky_mcp": (0.2, 0.28), "pinky_pip": (-0.04, 0.33),
    "pinky_dip": (-0.22, 0.37), "pinky_tip": (-0.4, 0.4),
}  # fmt: skip


def _mouse_pose() -> dict[str, tuple[float, float]]:
    """Nose up (forward = -y), the animal's left on the image left (left = -x), tail tip at y = 1."""
    scale = 1 / 0.8
    return {n: (-f * scale, -lft * scale) for n, (f, lft) in MOUSE_BODY.items()}


def default_pose(skeleton: Skeleton) -> np.ndarray | None:
    """``(K, 2)`` (y, x) template pose in about ``[-1, 1]`` for a preset's skeleton, else None.

    Matched by node names (any order), so a skeleton read from a file with a preset's nodes gets
    the preset's pose too.
    """
    for pose in (_mouse_pose(), _PERSON_POSE, _HAND_POSE):
        if sorted(pose) == sorted(skeleton.nodes):
            return np.array([pose[n] for n in skeleton.nodes], dtype=float)
    return None


#: Preset name -> factory.
PRESETS: dict[str, Callable[[], Skeleton]] = {
    "coco_person": coco_person,
    "hand21": hand21,
    "mouse_topview": mouse_topview,
}


def get_preset(name: str) -> Skeleton:
    """A preset skeleton by name (see :data:`PRESETS`)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise SkeletonError(f"no preset named {name!r} (have {sorted(PRESETS)})") from None


def match_preset(node_names: list[str]) -> Skeleton | None:
    """The preset whose node names are exactly ``node_names`` (in any order), reordered to match."""
    want = list(node_names)
    for factory in PRESETS.values():
        sk = factory()
        if sorted(sk.nodes) == sorted(want):
            return sk.reorder_nodes(want)
    return None
