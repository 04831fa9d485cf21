"""The sleap-io bridge: files written by sleap-io itself read through ours, and ours loaded by sleap-io.

sleap-io is a promised client (the ``sleap`` and ``testing`` extras): these tests fail, not skip,
without it.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import sleap_io as sio

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import FormatError
from napari_keyskel.formats import read, read_detected, write
from napari_keyskel.formats.sleap import detect_sleap_format, read_sleap, write_sleap

NODES = ("nose", "left_ear", "right_ear", "tail")
N_FRAMES, H, W = 12, 48, 64
LABELLED = (0, 4, 9)
SUFFIX = {"sleap": ".slp", "nwb": ".nwb", "labelstudio": ".json", "yolo": "", "dlc": ".csv"}
TOL = {"yolo": 1e-4}  # YOLO stores coordinates normalised to the image, with 6 decimals


def _video(folder: Path) -> Path:
    path = folder / "mice.mp4"
    frames = np.stack([np.full((H, W, 3), 10 * i, np.uint8) for i in range(N_FRAMES)])
    iio.imwrite(path, frames, fps=10)
    return path


def _sio_skeleton() -> sio.Skeleton:
    return sio.Skeleton(list(NODES), edges=[(0, 1), (0, 2), (0, 3)], symmetries=[(1, 2)], name="mouse")


def _poses() -> dict[tuple[int, int], np.ndarray]:
    """(x, y) per node for (frame, track index); frame 4 of track 0 misses its tail."""
    rng = np.random.default_rng(5)
    out = {}
    for f in LABELLED:
        for t in range(2):
            xy = rng.uniform(4, 40, (4, 2))
            if (f, t) == (4, 0):
                xy[3] = np.nan
            out[(f, t)] = xy
    return out


def _sio_labels(folder: Path, predicted: bool = True) -> sio.Labels:
    """Two tracks on frames 0, 4, 9 of a 12-frame video; track 'b' is a prediction with scores."""
    video = sio.Video.from_filename(str(_video(folder)))
    sk = _sio_skeleton()
    tracks = [sio.Track("a"), sio.Track("b")]
    lfs = []
    for f in LABELLED:
        insts = []
        for t in range(2):
            xy = _poses()[(f, t)]
            if t == 1 and predicted:
                scores = np.linspace(0.5, 0.8, 4) + f / 100
                insts.append(
                    sio.PredictedInstance.from_numpy(
                        xy, skeleton=sk, track=tracks[t], point_scores=scores, score=0.9
                    )
                )
            else:
                insts.append(sio.Instance.from_numpy(xy, skeleton=sk, track=tracks[t]))
        lfs.append(sio.LabeledFrame(video=video, frame_idx=f, instances=insts))
    return sio.Labels(labeled_frames=lfs, videos=[video], skeletons=[sk], tracks=tracks)


def _save_with_sleap_io(labels: sio.Labels, fmt: str, path: Path) -> Path:
    if fmt == "sleap":
        sio.save_slp(labels, str(path))
    elif fmt == "nwb":
        sio.save_nwb(labels, str(path))
    elif fmt == "labelstudio":
        sio.save_labelstudio(labels, str(path))
    elif fmt == "yolo":
        sio.save_ultralytics(labels, str(path), split_ratios={"train": 1.0}, verbose=False)
    else:  # DeepLabCut: the CSV plus the labelled images sleap-io's reader looks for
        path.parent.mkdir(parents=True, exist_ok=True)
        sio.save_csv(labels, str(path), format="dlc")
        video = labels.videos[0]
        for f in LABELLED:
            img = path.parent / "labeled-data" / Path(video.filename).stem / f"img{f:04d}.png"
            img.parent.mkdir(parents=True, exist_ok=True)
            iio.imwrite(img, np.asarray(video[f])[..., 0])
        edges = "".join(f"- [{a}, {b}]\n" for a, b in labels.skeletons[0].edge_names)
        config = f"Task: mouse\nscorer: sleap-io\nbodyparts: [{', '.join(NODES)}]\nskeleton:\n{edges}"
        (path.parent / "config.yaml").write_text(config)  # a DLC project's config: its edges
    return path


def _frame_of(ds: AnnotationSet, fmt: str, f: int) -> int:
    """The dataset frame holding video frame ``f`` (image formats list the labelled images only)."""
    if fmt in ("yolo", "dlc"):
        return LABELLED.index(f)
    return f


@pytest.mark.parametrize("fmt", ["sleap", "dlc", "yolo", "nwb", "labelstudio"])
def test_files_written_by_sleap_io_read_through_ours(tmp_path: Path, fmt: str) -> None:
    labels = _sio_labels(tmp_path, predicted=fmt == "sleap")
    path = _save_with_sleap_io(labels, fmt, tmp_path / ("out" if fmt == "dlc" else "") / f"mice{SUFFIX[fmt]}")
    assert detect_sleap_format(path) == fmt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds, got = read_detected(path)
    assert got == fmt
    (store,) = ds.stores
    assert store.skeleton.nodes == NODES
    if fmt != "labelstudio":  # Label Studio files hold no edges
        assert store.skeleton.edges == ((0, 1), (0, 2), (0, 3))
    if fmt == "sleap":
        assert store.skeleton.flip_pairs == ((1, 2),) and store.skeleton.name == "mouse"
        assert len(ds.frames) == N_FRAMES and [t.name for t in store] == ["a", "b"]
    tracks = sorted(store, key=lambda t: t.track_id)
    assert len(tracks) == 2
    for f in LABELLED:
        g = _frame_of(ds, fmt, f)
        got_xy = np.stack([t.coords[g - t.start, :, ::-1] for t in tracks])  # (2, K, 2) x, y
        want = np.stack([_poses()[(f, 0)], _poses()[(f, 1)]])
        if fmt == "labelstudio":  # sleap-io's Label Studio reader does not keep instance order
            got_xy = got_xy[np.argsort(np.nan_to_num(got_xy[:, 0, 0]))]
            want = want[np.argsort(want[:, 0, 0])]
        np.testing.assert_allclose(got_xy, want, atol=TOL.get(fmt, 1e-9))
        assert ds.frames[g]["frame"] == (f if fmt in ("sleap", "nwb", "labelstudio") else 0)
    t0 = tracks[0]
    assert t0.visibility[_frame_of(ds, fmt, 4) - t0.start, 3] == 0  # the missing tail stays missing
    if fmt == "sleap":
        b = tracks[1]
        np.testing.assert_allclose(b.score[9 - b.start], np.linspace(0.5, 0.8, 4) + 0.09, rtol=1e-6)
        assert np.isnan(t0.score[0]).all()  # a user instance has no scores
        assert b.meta["sleap"]["instance_score"]["9"] == pytest.approx(0.9)


def _our_dataset() -> AnnotationSet:
    sk = Skeleton(
        NODES,
        [("nose", "left_ear"), ("nose", "right_ear"), ("nose", "tail")],
        flip_pairs=[(1, 2)],
        name="mouse",
    )
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=N_FRAMES, name="mouse")
    rng = np.random.default_rng(2)
    for tid in (3, 7):
        store.add_track(tid, name=f"mouse {tid}")
        for f in LABELLED:
            yx = rng.uniform(4, 40, (4, 2))
            score = rng.uniform(0.1, 0.9, 4) if tid == 7 else None
            store.set_points(f, tid, yx, score=score)
    store.delete_points(4, 3, "tail")
    frames = [{"item": "mice.mp4", "frame": f, "width": W, "height": H} for f in range(N_FRAMES)]
    return AnnotationSet(stores=[store], frames=frames)


def _sio_xy(labels: sio.Labels, frame: int, track_name: str) -> np.ndarray:
    (lf,) = [lf for lf in labels.labeled_frames if lf.frame_idx == frame]
    (inst,) = [i for i in lf.instances if i.track is not None and i.track.name == track_name]
    order = [inst.skeleton.index(n) for n in NODES]  # sleap-io's DLC reader sorts the nodes
    return inst.numpy()[order]


@pytest.mark.parametrize("fmt", ["sleap", "dlc", "yolo", "nwb", "labelstudio"])
def test_files_we_write_load_in_sleap_io(tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _our_dataset()
    monkeypatch.chdir(tmp_path)
    _video(tmp_path)  # the frames' video, named by the frame table: YOLO and DLC store its images
    out = tmp_path / "out" / f"mice{SUFFIX[fmt]}"
    out.parent.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = write(ds, out, fmt)
        assert all(Path(f).exists() for f in files)
        loaded = {
            "sleap": lambda: sio.load_slp(str(out)),
            "nwb": lambda: sio.load_nwb(str(out)),
            "labelstudio": lambda: sio.load_labelstudio(str(out), skeleton=list(NODES)),
            "yolo": lambda: sio.load_ultralytics(str(out)),
            "dlc": lambda: sio.load_dlc(str(out)),
        }[fmt]()
    sk = loaded.skeletons[0]
    assert (sorted if fmt == "dlc" else tuple)(sk.node_names) == (sorted if fmt == "dlc" else tuple)(NODES)
    if fmt in ("sleap", "dlc", "yolo", "nwb"):
        assert sorted(sk.edge_names) == [("nose", "left_ear"), ("nose", "right_ear"), ("nose", "tail")]
    store = ds.stores[0]
    if fmt in ("yolo", "labelstudio", "nwb"):  # these lose track names: compare the sets of poses
        for i, f in enumerate(LABELLED):
            lf = (
                loaded.labeled_frames[i]
                if fmt == "yolo"
                else next(x for x in loaded.labeled_frames if x.frame_idx == f)
            )
            got = sorted(np.nan_to_num(inst.numpy()).round(3).tolist() for inst in lf.instances)
            want = sorted(np.nan_to_num(t.coords[f - t.start, :, ::-1]).round(3).tolist() for t in store)
            np.testing.assert_allclose(got, want, atol=1e-3)
        return
    for t in store:
        for f in LABELLED:
            g = LABELLED.index(f) if fmt == "dlc" else f  # sleap-io numbers DLC images 0, 1, 2...
            np.testing.assert_allclose(_sio_xy(loaded, g, t.name), t.coords[f - t.start, :, ::-1], atol=1e-9)
    if fmt == "sleap":
        (lf,) = [lf for lf in loaded.labeled_frames if lf.frame_idx == 9]
        pred = [i for i in lf.instances if isinstance(i, sio.PredictedInstance)]
        assert [p.track.name for p in pred] == ["mouse 7"]
        np.testing.assert_allclose(pred[0].points["score"], store.track(7).score[9], rtol=1e-6)
        back = read(out).stores[0]  # and back through ours: track ids, scores, flip pairs
        assert back.track_ids == [3, 7] and back.skeleton.flip_pairs == ((1, 2),)
        np.testing.assert_allclose(back.track(7).score, store.track(7).score, rtol=1e-6, equal_nan=True)
        np.testing.assert_allclose(back.track(3).coords, store.track(3).coords, equal_nan=True)


def test_keys_and_interpolated_points_survive_our_slp(tmp_path: Path) -> None:
    from napari_keyskel.core.keyframes import interpolate_all

    ds = _our_dataset()
    interpolate_all(ds.stores[0], "linear")  # frames 1-3 and 5-8 filled in: not keys
    want = ds.stores[0].track(7)
    assert not want.is_key[2].any() and want.is_key[4].all()
    out = write(ds, tmp_path / "interp.slp", "sleap")[0]
    back = read(out).stores[0].track(7)
    np.testing.assert_array_equal(back.is_key, want.is_key)
    np.testing.assert_allclose(back.coords, want.coords)
    ls = write(ds, tmp_path / "interp.json", "labelstudio")[0]  # elsewhere every point read is a key
    other = read(ls).stores[0]
    assert all(t.is_key[np.isfinite(t.coords[..., 0])].all() for t in other)
    assert sum(int(np.isfinite(t.coords[..., 0]).sum()) for t in other) == ds.stores[0].counts()["points"]


def test_occluded_nodes_survive_slp(tmp_path: Path) -> None:
    ds = _our_dataset()
    store = ds.stores[0]
    store.set_visibility(0, 3, 1, nodes="left_ear")
    out = write(ds, tmp_path / "occ.slp", "sleap")[0]
    back = read(out).stores[0].track(3)
    assert back.visibility[0].tolist() == [2, 1, 2, 2]
    np.testing.assert_allclose(back.coords[0], store.track(3).coords[0])


def test_label_studio_node_order_from_the_file_or_the_skeleton(tmp_path: Path) -> None:
    labels = _sio_labels(tmp_path, predicted=False)
    path = _save_with_sleap_io(labels, "labelstudio", tmp_path / "ls.json")
    assert read(path).stores[0].skeleton.nodes == NODES  # first appearance in the file
    mine = Skeleton(["tail", "nose", "left_ear", "right_ear"], [("nose", "tail")], name="mine")
    store = read(path, skeleton=mine).stores[0]
    assert store.skeleton is mine
    t = min(store, key=lambda t: np.nan_to_num(t.coords[0, 1, 1]))
    xs = sorted(_poses()[(0, i)][0, 0] for i in range(2))
    assert t.coords[0, 1, 1] == pytest.approx(xs[0])  # node 1 of ours is 'nose'


def test_yolo_reads_every_split(tmp_path: Path) -> None:
    labels = _sio_labels(tmp_path, predicted=False)
    sio.save_ultralytics(
        labels, str(tmp_path / "ds"), split_ratios={"train": 0.34, "val": 0.66}, verbose=False
    )
    ds = read(tmp_path / "ds")
    (store,) = ds.stores
    assert len(ds.frames) == len(LABELLED)  # no split left behind
    assert {fr["item"].split("/")[-3] for fr in ds.frames} == {"train", "val"}
    assert store.counts()["points"] == sum(int(np.isfinite(v).all(axis=1).sum()) for v in _poses().values())


def test_yolo_refuses_without_images(tmp_path: Path) -> None:
    ds = _our_dataset()  # names mice.mp4, which does not exist here
    with pytest.raises(FormatError, match="YOLO-pose stores images"):
        write_sleap(ds, tmp_path / "yolo", "yolo")
    assert not (tmp_path / "yolo" / "data.yaml").exists()
    video = _video(tmp_path)  # with video= it writes
    (data_yaml,) = write_sleap(ds, tmp_path / "yolo", "yolo", video=video)
    assert data_yaml.exists() and len(list((tmp_path / "yolo" / "train" / "images").glob("*.png"))) == 3


def test_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.slp"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(FormatError, match=r"broken\.slp: sleap-io cannot read it as SLEAP"):
        read(bad)
    with pytest.raises(FormatError, match="no such file"):
        read_sleap(tmp_path / "missing.slp")
    with pytest.raises(FormatError, match=r"not a pandas HDF5 store") as caught:
        bad.with_suffix(".h5").write_bytes(b"\x89HDF")
        read_sleap(bad.with_suffix(".h5"), format="dlc")
    assert str(caught.value).count("broken.h5") == 1  # the path said once (HDF5's own text names it)
    with pytest.raises(FormatError, match="not a sleap-io format"):
        write_sleap(_our_dataset(), tmp_path / "x", "mat")


def test_missing_sleap_io_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save_with_sleap_io(_sio_labels(tmp_path), "sleap", tmp_path / "m.slp")
    monkeypatch.setitem(sys.modules, "sleap_io", None)  # import fails as if not installed
    with pytest.raises(FormatError, match=r'pip install "napari-keyskel\[sleap\]"'):
        read(path)
    with pytest.raises(FormatError, match="need sleap-io"):
        write(_our_dataset(), tmp_path / "o.slp", "sleap")


# -- napari File > Open / Save ---------------------------------------------------------------------
@pytest.mark.viewer
def test_napari_opens_and_saves_sleap_files(make_napari_viewer, tmp_path: Path) -> None:
    from napari_keyskel import api

    path = _save_with_sleap_io(_sio_labels(tmp_path), "sleap", tmp_path / "mice.slp")
    viewer = make_napari_viewer()
    layers = viewer.open(path, plugin="napari-keyskel")
    points = next(ly for ly in layers if ly._type_string == "points")
    store = api.get_store(points)
    assert store.skeleton.nodes == NODES and [t.name for t in store] == ["a", "b"]
    np.testing.assert_allclose(store.track(1).coords[9, :, ::-1], _poses()[(9, 0)])
    out = tmp_path / "saved.slp"
    viewer.layers.selection = {points}
    written = viewer.layers.save(str(out), selected=True, plugin="napari-keyskel")
    assert [Path(p).name for p in written] == ["saved.slp"]
    loaded = sio.load_slp(str(out))
    np.testing.assert_allclose(_sio_xy(loaded, 9, "a"), _poses()[(9, 0)])


def test_napari_hooks_without_sleap_io_say_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from napari_keyskel._napari import owner, sleap_io_hooks

    path = _save_with_sleap_io(_sio_labels(tmp_path), "sleap", tmp_path / "m.slp")
    shown: list[str] = []
    monkeypatch.setattr(owner, "notify_error", shown.append)
    monkeypatch.setitem(sys.modules, "sleap_io", None)
    reader = sleap_io_hooks.get_sleap_reader(str(path))  # offered: detection needs no sleap-io
    assert reader is not None and reader(str(path)) == [(None,)]
    assert sleap_io_hooks.write_slp_layers(str(tmp_path / "o.slp"), [(np.zeros((0, 3)), {}, "points")]) == []
    assert len(shown) == 2 and all('pip install "napari-keyskel[sleap]"' in m or "Points" in m for m in shown)
    assert "napari-keyskel[sleap]" in shown[0]
    assert sleap_io_hooks.get_sleap_reader(str(tmp_path / "x.json")) is None  # not ours: napari's readers


def test_nwb_and_dlc_written_when_the_video_is_not_on_disk(tmp_path: Path) -> None:
    ds = _our_dataset()  # names mice.mp4, which is not on disk here
    (out,) = write(ds, tmp_path / "far.nwb", "nwb")  # sleap-io's writer alone refuses a video it cannot open
    loaded = sio.load_nwb(str(out))
    assert Path(loaded.videos[0].filename).name == "mice.mp4"
    for f in LABELLED:
        lf = next(x for x in loaded.labeled_frames if x.frame_idx == f)
        got = sorted(np.nan_to_num(i.numpy()).round(6).tolist() for i in lf.instances)
        want = sorted(np.nan_to_num(t.coords[f - t.start, :, ::-1]).round(6).tolist() for t in ds.stores[0])
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if "keyskel-tmp" in p.name]
    with pytest.warns(
        UserWarning, match=r"no images written for 3 labelled frame\(s\) \(cannot read mice\.mp4\).*video="
    ):
        files = write(ds, tmp_path / "dlc" / "mice.csv", "dlc")
    assert [f.name for f in files] == ["mice.csv", "config.yaml"]


def test_predictions_of_an_slp_cross_darwin_and_coco(tmp_path: Path) -> None:
    path = _save_with_sleap_io(_sio_labels(tmp_path, predicted=True), "sleap", tmp_path / "pred.slp")
    ds = read(path)  # track 'b' is a prediction: its instance score is kept in Track.meta
    coco = write(ds, tmp_path / "pred.coco.json", "coco")  # was: "Dict key must be str"
    assert coco[0].exists()
    darwin = write(ds, tmp_path / "pred.json", "darwin")[0]
    back = write(read(darwin), tmp_path / "back.slp", "sleap")[0]
    (lf,) = [lf for lf in sio.load_slp(str(back)).labeled_frames if lf.frame_idx == 9]
    (pred,) = [i for i in lf.instances if isinstance(i, sio.PredictedInstance)]
    assert pred.track.name == "b" and pred.score == pytest.approx(0.9)
    np.testing.assert_allclose(pred.points["score"], np.linspace(0.5, 0.8, 4) + 0.09, rtol=1e-6)


def test_yolo_images_become_one_deeplabcut_folder(tmp_path: Path) -> None:
    """sleap-io reads a YOLO dataset as one video per image: written to DeepLabCut they are one folder."""
    path = _save_with_sleap_io(_sio_labels(tmp_path, predicted=False), "yolo", tmp_path / "yolo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read(path)
        files = write(ds, tmp_path / "dlc" / "CollectedData_me.csv", "dlc")
        back = read(files[0])
    images = sorted(f.name for f in files if f.suffix == ".png")
    assert images == sorted(Path(fr["item"]).name for fr in ds.frames)  # the images' own names (issue 24)
    want = sorted(np.nan_to_num(t.coords[t.is_key.any(axis=1)]).round(4).tolist() for t in ds.stores[0])
    got = sorted(np.nan_to_num(t.coords[t.is_key.any(axis=1)]).round(4).tolist() for t in back.stores[0])
    assert len(back.frames) == 3
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_image_list_videos_written_to_nwb_load_in_sleap_io(tmp_path: Path) -> None:
    """A DeepLabCut image folder is one video; sleap-io's NWB reader takes one file per image series."""
    path = _save_with_sleap_io(_sio_labels(tmp_path, predicted=False), "dlc", tmp_path / "dlc" / "mice.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read(path)
        (out,) = write(ds, tmp_path / "mice.nwb", "nwb")
        loaded = sio.load_nwb(str(out))  # failed: "Unknown video file type" for a 3-file image series
        back = read(out)
    assert len(loaded.labeled_frames) == 3

    def name(v: sio.Video) -> str:
        return Path(str(v.filename[0] if isinstance(v.filename, list) else v.filename)).name

    assert sorted(name(v) for v in loaded.videos) == [f"img{f:04d}.png" for f in LABELLED]
    for f in LABELLED:
        lf = next(x for x in loaded.labeled_frames if name(x.video) == f"img{f:04d}.png")
        got = sorted(np.nan_to_num(i.numpy()).round(6).tolist() for i in lf.instances)
        want = sorted(np.nan_to_num(_poses()[(f, t)]).round(6).tolist() for t in range(2))
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert back.stores[0].counts()["points"] == ds.stores[0].counts()["points"]
