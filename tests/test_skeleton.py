import json

import numpy as np
import pytest

from napari_keyskel import PRESETS, Skeleton, SkeletonError, get_preset, match_preset
from napari_keyskel.core.presets import coco_person


def test_edges_and_pairs_by_name_or_index():
    sk = Skeleton(["a", "b", "c"], [("a", "b"), (1, 2)], flip_pairs=[("a", "c")])
    assert sk.edges == ((0, 1), (1, 2))
    assert sk.flip_pairs == ((0, 2),)
    assert sk.flip_permutation().tolist() == [2, 1, 0]
    assert sk.index("c") == 2 and sk.n_nodes == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nodes": ["a", "a"]}, "used twice"),
        ({"nodes": []}, "at least one node"),
        ({"nodes": ["a", ""]}, "no name"),
        ({"nodes": ["a", "b"], "edges": [("a", "z")]}, "no node named 'z'"),
        ({"nodes": ["a", "b"], "edges": [(0, 5)]}, "out of range"),
        ({"nodes": ["a", "b"], "edges": [("a", "a")]}, "self-loop"),
        ({"nodes": ["a", "b"], "edges": [("a", "b"), ("b", "a")]}, "duplicated"),
        ({"nodes": ["a", "b", "c"], "flip_pairs": [("a", "b"), ("a", "c")]}, "not symmetric"),
        ({"nodes": ["a", "b", "c"], "flip_pairs": {"a": "b", "b": "c"}}, "not symmetric"),
        ({"nodes": ["a", "b"], "flip_pairs": [("a", "a")]}, "itself"),
        ({"nodes": ["a", "b"], "colors": ["#ffffff"]}, "1 colours given for 2 nodes"),
        ({"nodes": ["a"], "colors": ["red"]}, "#rrggbb"),
    ],
)
def test_invalid_skeletons_raise_one_error_type(kwargs, message):
    with pytest.raises(SkeletonError, match=message):
        Skeleton(**kwargs)


def test_symmetric_flip_map_accepted():
    sk = Skeleton(["l", "r", "m"], flip_pairs={"l": "r", "r": "l"})
    assert sk.flip_pairs == ((0, 1),)


def test_dict_and_file_round_trip(tmp_path):
    sk = Skeleton(["x", "y", "z"], [("x", "y")], ["#112233", "#445566", "#778899"], [("x", "z")], "thing")
    assert Skeleton.from_dict(json.loads(json.dumps(sk.to_dict()))) == sk
    path = sk.save(tmp_path / "thing.skeleton.json")
    assert Skeleton.load(path) == sk
    # a broken file names itself, and the old file survives a failed save
    bad = tmp_path / "bad.skeleton.json"
    bad.write_text('{"nodes": ["a", "a"]}')
    with pytest.raises(SkeletonError, match=r"bad\.skeleton\.json.*used twice"):
        Skeleton.load(bad)


def test_editing_returns_new_valid_skeletons():
    sk = Skeleton(["a", "b", "c"], [("a", "b"), ("b", "c")], flip_pairs=[("a", "c")])
    renamed = sk.rename_node("b", "mid")
    assert renamed.nodes == ("a", "mid", "c") and renamed.edges == sk.edges
    removed = sk.remove_node("b")
    assert removed.nodes == ("a", "c") and removed.edges == () and removed.flip_pairs == ((0, 1),)
    reordered = sk.reorder_nodes(["c", "a", "b"])
    assert [tuple(reordered.nodes[i] for i in e) for e in reordered.edges] == [("a", "b"), ("b", "c")]
    assert sk.add_edge("a", "c").remove_edge("c", "a") == sk
    assert sk.set_flip_pair("a", None).flip_pairs == ()
    assert sk.add_node("d").nodes[-1] == "d"
    with pytest.raises(SkeletonError):
        sk.rename_node("a", "b")
    with pytest.raises(SkeletonError):
        sk.remove_edge("a", "c")
    with pytest.raises(SkeletonError):
        sk.reorder_nodes(["a", "b"])


def test_color_array():
    sk = Skeleton(["a"], colors=["#ff8000"])
    np.testing.assert_allclose(sk.color_array(), [[1.0, 128 / 255, 0.0, 1.0]])


def test_presets():
    person = coco_person()
    assert person.n_nodes == 17 and len(person.edges) == 19
    # COCO's flip pairs: every left_* with its right_*
    assert {(person.nodes[i], person.nodes[j]) for i, j in person.flip_pairs} == {
        (n, "right_" + n[5:]) for n in person.nodes if n.startswith("left_")
    }
    assert get_preset("hand21").n_nodes == 21
    mouse = get_preset("mouse_topview")
    assert len(mouse.flip_pairs) == 3
    for name in PRESETS:
        sk = get_preset(name)
        assert Skeleton.from_dict(sk.to_dict()) == sk
    with pytest.raises(SkeletonError, match="no preset"):
        get_preset("octopus")


def test_match_preset_reorders_to_file_order():
    names = list(reversed(coco_person().nodes))
    sk = match_preset(names)
    assert sk is not None and list(sk.nodes) == names and len(sk.edges) == 19
    assert match_preset(["a", "b"]) is None
