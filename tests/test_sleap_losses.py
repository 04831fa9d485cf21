"""Writing to a sleap-io format says what the format cannot hold, and exactly that is lost.

The table in ``formats/sleap/_losses.py`` is checked here against real round trips through
sleap-io (which must be installed: the testing extra has it; no skip).
"""

from __future__ import annotations

import warnings

import imageio.v3 as iio
import numpy as np
import pytest

from napari_keyskel import formats
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.errors import FormatWarning
from napari_keyskel.formats.sleap import SLEAP_FORMATS
from napari_keyskel.formats.sleap._losses import HOLDS, losses
from napari_keyskel.samples.synthetic import moving_figure

TARGETS = {
    "sleap": "x.slp",
    "dlc": "dlc/CollectedData_me.csv",
    "yolo": "yolo",
    "nwb": "x.nwb",
    "labelstudio": "ls.json",
}


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Two mice keyed every 10th frame, with one of each fact a format may or may not hold."""
    d = tmp_path_factory.mktemp("losses")
    video, s = moving_figure(n_frames=20, shape=(64, 64), key_step=10)
    t = s.tracks[1]
    t.visibility[3, 2] = 1  # occluded
    t.is_key[4, 5], t.coords[4, 5], t.visibility[4, 5] = True, np.nan, 0  # an unlabelled key
    t.score[6, :] = 0.5
    t.meta["review"] = {"3": {"state": "accepted", "comment": ""}}
    t.name = "alice"
    sk = s.skeleton  # left/right pairs of our own, not the preset's (a reader could guess those)
    s.skeleton = sk.__class__(sk.nodes, sk.edges, sk.colors, sk.flip_pairs[:1], sk.name)
    iio.imwrite(d / "v.tif", np.asarray(video))
    return d, AnnotationSet([s], [{"item": "v.tif", "frame": f} for f in range(20)])


def facts(ds: AnnotationSet) -> dict[str, object]:
    """What of each fact a dataset holds (compared before and after a round trip)."""
    (s,) = ds.stores
    placed = {tid: np.isfinite(t.coords[..., 0]) for tid, t in s.tracks.items()}
    return {
        "occluded": sum(int((p & (s.tracks[i].visibility == 1)).sum()) for i, p in placed.items()),
        "interpolated": sum(int((p & ~s.tracks[i].is_key).sum()) for i, p in placed.items()),
        "unlabelled": sum(int((~p & s.tracks[i].is_key).sum()) for i, p in placed.items()),
        "scores": sum(int((p & np.isfinite(s.tracks[i].score)).sum()) for i, p in placed.items()),
        "meta": sorted(k for t in s for k in t.meta if k not in ("sleap", "coco", "darwin")),
        "track_names": sorted(t.name for t in s),
        "flip_pairs": s.skeleton.flip_pairs,
    }


@pytest.mark.parametrize("fmt", sorted(SLEAP_FORMATS))
def test_the_warning_names_exactly_what_the_format_loses(scene, fmt):
    d, ds = scene
    out = d / fmt / TARGETS[fmt]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        formats.write(ds, out, fmt, video=str(d / "v.tif"))
    said = [
        str(w.message)
        for w in caught
        if issubclass(w.category, FormatWarning) and "cannot hold" in str(w.message)
    ]
    lost = {x.fact for x in losses(ds, fmt)}
    assert lost and len(said) == 1 and str(out) in said[0]  # the mice have a fact no format keeps
    for x in losses(ds, fmt):
        assert x.text in said[0]
    before = facts(ds)
    after = facts(formats.read(out))
    for fact, value in before.items():
        kept = after[fact] == value
        assert kept == (fact not in lost), (fmt, fact, value, after[fact])
    assert lost <= set(before) and {"unlabelled", "meta"} <= lost  # no sleap-io format keeps these
    assert HOLDS[fmt] <= set(before) - {"unlabelled", "meta"}


def test_nothing_said_when_nothing_is_lost(tmp_path):
    video, s = moving_figure(n_frames=4, shape=(64, 64))  # every frame a key, no pairs, plain names
    s.skeleton = s.skeleton.__class__(s.skeleton.nodes, s.skeleton.edges, name=s.skeleton.name)
    for t in s:
        t.name = f"instance {t.track_id}"
    ds = AnnotationSet([s], [{"item": "v.tif", "frame": f} for f in range(4)])
    assert losses(ds, "sleap") == []
    iio.imwrite(tmp_path / "v.tif", np.asarray(video))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        formats.write(ds, tmp_path / "x.slp", "sleap", video=str(tmp_path / "v.tif"))
    assert not [w for w in caught if "cannot hold" in str(w.message)]


@pytest.mark.viewer
def test_napari_file_save_shows_what_was_left_out(make_napari_viewer, scene):
    from napari.utils.notifications import notification_manager

    from napari_keyskel import api

    d, ds = scene
    viewer = make_napari_viewer()
    image = viewer.add_image(iio.imread(d / "v.tif"), name="v")
    points = api.add_skeleton_layer(viewer, ds.stores[0].copy(), image_layer=image)
    target = d / "viewer.slp"
    viewer.layers.selection.active = points
    viewer.layers.save(str(target), selected=True, plugin="napari-keyskel")
    assert target.exists()
    said = [str(n.message) for n in notification_manager.records]
    assert any("SLEAP .slp cannot hold" in m and "review states" in m for m in said)
