"""``api.save_layer`` / ``api.open_annotations`` in the sleap-io bridge's formats, in a viewer and without.

sleap-io is a promised client (the ``sleap`` and ``testing`` extras): these tests fail, not skip,
without it.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sleap_io as sio
import tifffile

from napari_keyskel import api
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import FormatError, KeyskelError
from napari_keyskel.formats.sleap import SLEAP_FORMATS

N, H, W = 8, 36, 52  # not square: a (t, y, x) TIFF stack must not be read as (y, x, t)
NODES = ("head", "body", "tail")
KEYS = {0: [(8.0, 10.0), (12.0, 20.0), (16.0, 30.0)], 5: [(10.0, 14.0), (14.0, 24.0), (18.0, 40.0)]}
SUFFIX = {"sleap": ".slp", "dlc": ".h5", "yolo": "", "nwb": ".nwb", "labelstudio": ".json"}


def _stack(folder: Path) -> Path:
    path = folder / "worms.tif"
    tifffile.imwrite(path, np.stack([np.full((H, W), 25 * f, np.uint8) for f in range(N)]))
    return path


def _annotate(points) -> None:
    # the instance lives frames 0-5 (made by set_node, it would live to the video's end, as a stamp)
    api.get_controller(points).set_new_instance_frames(6)
    for f, pose in KEYS.items():
        for node, yx in zip(NODES, pose):
            api.set_node(points, frame=f, instance=1, node=node, coords=yx)


def _sio_xy(labels: sio.Labels, frame_idx: int, lf: sio.LabeledFrame | None = None) -> np.ndarray:
    if lf is None:
        (lf,) = [lf for lf in labels.labeled_frames if lf.frame_idx == frame_idx]
    (inst,) = lf.instances
    return inst.numpy()[[inst.skeleton.index(n) for n in NODES]]


def _load(fmt: str, out: Path) -> sio.Labels:
    if fmt == "sleap":
        return sio.load_slp(str(out))
    if fmt == "nwb":
        return sio.load_nwb(str(out))
    if fmt == "labelstudio":
        return sio.load_labelstudio(str(out), skeleton=list(NODES))
    if fmt == "yolo":
        return sio.load_ultralytics(str(out))
    return sio.load_dlc(str(out.with_suffix(".csv")))


@pytest.mark.viewer
@pytest.mark.parametrize("fmt", list(SLEAP_FORMATS))
def test_save_layer_from_a_viewer_in_every_bridge_format(
    make_napari_viewer, tmp_path: Path, fmt: str
) -> None:
    tif = _stack(tmp_path)
    viewer = make_napari_viewer()
    (image,) = viewer.open(str(tif))
    sk = Skeleton(NODES, [("head", "body"), ("body", "tail")], name="worm")
    points = api.add_skeleton_layer(viewer, sk, image_layer=image)
    _annotate(points)  # keys on frames 0 and 5, frames 1-4 interpolated
    out = tmp_path / "out" / f"worms{SUFFIX[fmt]}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        written = api.save_layer(points, out, format=fmt)  # no video=: the viewer's image is used
        loaded = _load(fmt, out)
    assert all(p.exists() for p in written)
    store = api.get_store(points)
    track = store.track(1)
    assert len(loaded.labeled_frames) == 6  # frames 0-5
    if fmt == "yolo":  # one image (one video) per labelled frame: find each by its pose
        by_pose = {}
        for lf in loaded.labeled_frames:
            (inst,) = lf.instances
            by_pose[lf] = inst.numpy()[[inst.skeleton.index(n) for n in NODES]]
        pairs = []
        for f in range(6):
            want = track.coords[f - track.start, :, ::-1]
            (lf,) = [lf for lf, xy in by_pose.items() if np.allclose(xy, want, atol=1e-4)]
            pairs.append((lf, lf.frame_idx))
    else:
        frames = sorted(lf.frame_idx for lf in loaded.labeled_frames)  # DeepLabCut numbers images 0, 1...
        pairs = [(next(lf for lf in loaded.labeled_frames if lf.frame_idx == g), g) for g in frames]
    for f, (lf, g) in enumerate(pairs):
        np.testing.assert_allclose(_sio_xy(loaded, g, lf), track.coords[f - track.start, :, ::-1], atol=1e-4)
    if fmt in ("yolo", "dlc"):  # the images written are the frames of the (t, y, x) stack
        lf, g = pairs[3]
        img = np.asarray(lf.video[g])
        assert img.shape[:2] == (H, W) and (img == 75).all()
    if fmt == "sleap":
        assert Path(loaded.videos[0].filename) == tif  # the image's own file, not its bare name
    layers = api.open_annotations(viewer, out / "data.yaml" if fmt == "yolo" else out)
    (layer,) = layers
    back = api.get_store(layer).tracks
    (t,) = back.values()
    assert int(np.isfinite(t.coords[..., 0]).sum()) == 6 * len(NODES)
    if fmt in ("sleap", "nwb"):  # they reference the stack: its 8 frames of 36 x 52, not (52, 8, 36)
        assert api.get_store(layer).n_frames == N
    if fmt not in ("yolo", "dlc"):
        np.testing.assert_allclose(t.coords[0 : 6 - t.start], track.coords[: 6 - track.start], atol=1e-4)


def _loose_layer(tmp_path: Path):
    """A keyskel Points layer in no viewer, annotating frames 0-5 of the stack by its name."""
    from napari.layers import Points

    from napari_keyskel._napari.layerdata import points_layer_tuple

    sk = Skeleton(NODES, [("head", "body"), ("body", "tail")], name="worm")
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=N, name="worm")
    store.add_track(1, start=0)
    for f, pose in KEYS.items():
        store.set_points(f, 1, np.asarray(pose))
    data, attrs, _ = points_layer_tuple(store, 0, "worm")
    return Points(data, **attrs)


def test_save_layer_without_a_viewer_takes_video(tmp_path: Path) -> None:
    layer = _loose_layer(tmp_path)
    with pytest.raises(FormatError, match=r"YOLO-pose stores images.*pass video="):
        api.save_layer(layer, tmp_path / "yolo", format="yolo")
    assert not (tmp_path / "yolo").exists()
    tif = _stack(tmp_path)
    (data_yaml,) = api.save_layer(layer, tmp_path / "yolo" / "data.yaml", format="yolo", video=tif)
    assert data_yaml == tmp_path / "yolo" / "data.yaml"  # data.yaml names the dataset's folder
    loaded = sio.load_ultralytics(str(tmp_path / "yolo"))
    assert len(loaded.labeled_frames) == 2  # the two frames with points
    img = np.asarray(loaded.labeled_frames[1].video[loaded.labeled_frames[1].frame_idx])
    assert img.shape[:2] == (H, W) and (img == 125).all()  # frame 5 of the stack
    np.testing.assert_allclose(
        sorted(loaded.labeled_frames[1].instances[0].numpy().tolist()),
        sorted(np.asarray(KEYS[5])[:, ::-1].tolist()),
        atol=1e-4,
    )
    slp = api.save_layer(layer, tmp_path / "w.slp", format="sleap")[0]  # a reference needs no pixels
    np.testing.assert_allclose(_sio_xy(sio.load_slp(str(slp)), 5), np.asarray(KEYS[5])[:, ::-1])


def test_save_layer_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layer = _loose_layer(tmp_path)
    with pytest.raises(KeyskelError, match=r"unknown format 'mat' \(choose from darwin, coco, sleap, dlc"):
        api.save_layer(layer, tmp_path / "x.mat", format="mat")
    with pytest.raises(KeyskelError, match="video= applies to the sleap-io formats"):
        api.save_layer(layer, tmp_path / "x.json", format="coco", video=tmp_path / "v.tif")
    assert not (tmp_path / "x.json").exists()
    monkeypatch.setitem(sys.modules, "sleap_io", None)  # import fails as if not installed
    for fmt in SLEAP_FORMATS:
        with pytest.raises(KeyskelError, match=r'pip install "napari-keyskel\[sleap\]"'):
            api.save_layer(layer, tmp_path / f"x{SUFFIX[fmt]}", format=fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.viewer
def test_open_annotations_without_sleap_io_says_what_to_install(
    make_napari_viewer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slp = api.save_layer(_loose_layer(tmp_path), tmp_path / "w.slp", format="sleap")[0]
    viewer = make_napari_viewer()
    (layer,) = api.open_annotations(viewer, slp, format="sleap")
    assert api.get_store(layer).skeleton.nodes == NODES
    monkeypatch.setitem(sys.modules, "sleap_io", None)
    with pytest.raises(KeyskelError, match=r'w\.slp: .*pip install "napari-keyskel\[sleap\]"'):
        api.open_annotations(viewer, slp)
    with pytest.raises(KeyskelError, match=r"unknown format 'mat'"):
        api.open_annotations(viewer, slp, format="mat")
    assert len(viewer.layers) == 2  # the first layer and its edges; nothing added since


@pytest.mark.viewer
def test_napari_file_save_and_open_use_the_viewer_image(make_napari_viewer, tmp_path: Path) -> None:
    tif = _stack(tmp_path)
    viewer = make_napari_viewer()
    (image,) = viewer.open(str(tif))
    sk = Skeleton(NODES, [("head", "body"), ("body", "tail")], name="worm")
    points = api.add_skeleton_layer(viewer, sk, image_layer=image)
    _annotate(points)
    viewer.layers.selection = {points}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved = viewer.layers.save(str(tmp_path / "ds" / "data.yaml"), selected=True, plugin="napari-keyskel")
        assert saved == [str(tmp_path / "ds" / "data.yaml")]
        assert len(list((tmp_path / "ds" / "train" / "images").glob("*.png"))) == 6  # from the stack
        h5 = tmp_path / "dlc" / "CollectedData_Bob.h5"
        saved = viewer.layers.save(str(h5), selected=True, plugin="napari-keyskel")
        assert saved[:2] == [str(h5), str(h5.with_suffix(".csv"))]
        layers = viewer.open(h5, plugin="napari-keyskel")  # File > Open: the .h5 is offered
    (opened,) = [ly for ly in layers if ly._type_string == "points"]
    (t,) = api.get_store(opened).tracks.values()
    want = api.get_store(points).track(1).coords[:6]
    np.testing.assert_allclose(t.coords, want, atol=1e-9)
