"""Built-in skeletons: COCO person (17), hand (21) and a top-view mouse."""

from __future__ import annotations

from collections.abc import Callable

from .errors import SkeletonError
from .skeleton import Skeleton

__all__ = ["PRESETS", "coco_person", "get_preset", "hand21", "match_preset", "mouse_topview"]

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
