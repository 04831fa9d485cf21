"""DeepLabCut ``.h5`` through the sleap-io bridge: files made the way DeepLabCut makes them.

A DeepLabCut project is built in the test (``config.yaml``, ``labeled-data/<video>/img*.png``
and ``CollectedData_<scorer>``), its table written by pandas exactly as DeepLabCut writes it
(``DataFrame.to_hdf`` with key ``df_with_missing``: DeepLabCut >= 2.2 rows
``("labeled-data", <video>, <image>)`` in PyTables' fixed format; older projects string rows
with ``format="table"``) and as its CSV (``DataFrame.to_csv``). sleap-io and PyTables are promised
clients (the ``sleap`` and ``testing`` extras): these tests fail, not skip, without them.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import sleap_io as sio
import tables  # noqa: F401  (the promised client: fail here without it)
import yaml

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.core.skeleton import Skeleton
from napari_keyskel.core.store import AnnotationStore
from napari_keyskel.errors import FormatError
from napari_keyskel.formats import read, read_detected, write
from napari_keyskel.formats.sleap import detect_sleap_format

PARTS = ("snout", "tailbase", "leftear", "rightear")  # not sorted: the file's order must be kept
EDGES = [("snout", "leftear"), ("snout", "rightear"), ("snout", "tailbase")]
IMAGES = ("img0003.png", "img0010.png", "img0042.png")
ANIMALS = ("mus1", "mus2")
H, W = 40, 56


def _edge_names(sk: Skeleton) -> set[frozenset[str]]:
    return {frozenset((sk.nodes[a], sk.nodes[b])) for a, b in sk.edges}


WANT_EDGES = {frozenset(e) for e in EDGES}


def _truth(multi: bool) -> np.ndarray:
    """(image, animal, part, xy); the second image misses mus1's rightear."""
    rng = np.random.default_rng(3)
    xy = rng.uniform(2, 38, (len(IMAGES), 2 if multi else 1, len(PARTS), 2)).round(2)
    xy[1, 0, 3] = np.nan
    return xy


def _dlc_table(multi: bool, scorer: str = "Alice", string_rows: bool = False) -> pd.DataFrame:
    """The DataFrame DeepLabCut keeps in CollectedData_<scorer>.h5 (and its CSV)."""
    xy = _truth(multi)
    if multi:
        cols = pd.MultiIndex.from_product(
            [[scorer], ANIMALS, PARTS, ["x", "y"]], names=["scorer", "individuals", "bodyparts", "coords"]
        )
    else:
        cols = pd.MultiIndex.from_product(
            [[scorer], PARTS, ["x", "y"]], names=["scorer", "bodyparts", "coords"]
        )
    rows = [("labeled-data", "mice", name) for name in IMAGES]
    index = pd.Index(["/".join(r) for r in rows]) if string_rows else pd.MultiIndex.from_tuples(rows)
    return pd.DataFrame(xy.reshape(len(IMAGES), -1), index=index, columns=cols)


def _project(root: Path, multi: bool, fmt: str = "fixed") -> tuple[Path, Path]:
    """A DeepLabCut project; returns its CollectedData .h5 and .csv (same table)."""
    folder = root / "labeled-data" / "mice"
    folder.mkdir(parents=True)
    for i, name in enumerate(IMAGES):
        iio.imwrite(folder / name, np.full((H, W), 20 * i, np.uint8))
    edges = "".join(f"- [{a}, {b}]\n" for a, b in EDGES)
    (root / "config.yaml").write_text(
        f"Task: mice\nscorer: Alice\nmultianimalproject: {str(multi).lower()}\n"
        f"bodyparts: [{', '.join(PARTS)}]\nskeleton:\n{edges}"
        "video_sets:\n  /data/mice.avi:\n    crop: 0, 56, 0, 40\n"
    )
    table = _dlc_table(multi, string_rows=fmt == "table")
    h5 = folder / "CollectedData_Alice.h5"
    if fmt == "table":  # DeepLabCut before 2.2: string rows, PyTables table format
        table.to_hdf(h5, key="df_with_missing", format="table", mode="w")
    else:  # DeepLabCut >= 2.2 (convertcsv2h5, the labelling GUI): multi-index rows, fixed format
        table.to_hdf(h5, key="df_with_missing", mode="w")
    table.to_csv(h5.with_suffix(".csv"))
    return h5, h5.with_suffix(".csv")


def _xy(ds: AnnotationSet, multi: bool, n_images: int = len(IMAGES)) -> np.ndarray:
    """(image, animal, part, xy) of a dataset read from a DLC file, animals by track name."""
    (store,) = ds.stores
    assert len(ds.frames) == n_images
    tracks = sorted(store, key=lambda t: t.name or "")
    if multi:
        assert [t.name for t in tracks] == list(ANIMALS)
    out = np.full((n_images, len(tracks), len(PARTS), 2), np.nan)
    for a, t in enumerate(tracks):
        out[t.start : t.stop, a] = t.coords[:, :, ::-1]
    return out


@pytest.mark.parametrize(
    ("multi", "fmt"), [(False, "fixed"), (True, "fixed"), (False, "table"), (True, "table")]
)
def test_dlc_h5_reads_like_its_csv(tmp_path: Path, multi: bool, fmt: str) -> None:
    h5, csv = _project(tmp_path / "proj", multi, fmt)
    assert detect_sleap_format(h5) == "dlc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sleap-io warns that the project's video is not on disk
        ds, got = read_detected(h5)
        from_csv = read(csv)
    assert got == "dlc"
    (store,) = ds.stores
    assert store.skeleton.nodes == PARTS  # the file's order, not sleap-io's sorted one
    assert store.skeleton.name == "mice"  # config.yaml's Task
    assert _edge_names(store.skeleton) == WANT_EDGES  # from config.yaml, found above the .h5
    np.testing.assert_allclose(_xy(ds, multi), _truth(multi), atol=1e-9)
    np.testing.assert_allclose(_xy(ds, multi), _xy(from_csv, multi), atol=0)
    assert from_csv.stores[0].skeleton == store.skeleton
    assert [Path(f["item"]).name for f in ds.frames] == list(IMAGES)
    assert [Path(f["item"]).resolve() for f in ds.frames] == [
        Path(f["item"]).resolve() for f in from_csv.frames
    ]
    t0 = sorted(store, key=lambda t: t.name or "")[0]
    assert t0.visibility[1 - t0.start, 3] == 0  # the missing ear stays missing


def test_dlc_h5_rows_without_images_are_warned_or_refused(tmp_path: Path) -> None:
    h5, _ = _project(tmp_path / "proj", multi=False)
    (h5.parent / IMAGES[1]).unlink()  # the middle one: the others must keep their own images
    for path in (h5, h5.with_suffix(".csv")):
        with pytest.warns(
            UserWarning, match=r"1 of 3 rows name an image that is not on disk \(first: .*img0010"
        ):
            ds = read(path)
        assert [Path(f["item"]).name for f in ds.frames] == [IMAGES[0], IMAGES[2]]
        want = _truth(False)[[0, 2]]
        np.testing.assert_allclose(_xy(ds, False, len(want)), want, atol=1e-9)
    for name in (IMAGES[0], IMAGES[2]):
        (h5.parent / name).unlink()
    with pytest.raises(
        FormatError, match=r"CollectedData_Alice\.h5: nothing read: none of the 3 rows.*img0003"
    ):
        read(h5)
    numbered = _dlc_table(False).reset_index(drop=True)  # a predictions table: rows are frame numbers
    numbered.to_hdf(tmp_path / "pred.h5", key="df_with_missing", format="table", mode="w")
    with pytest.raises(FormatError, match="rows are video frame numbers"):
        read(tmp_path / "pred.h5")


def test_dlc_h5_other_tables_are_refused(tmp_path: Path) -> None:
    two = tmp_path / "two.h5"
    _dlc_table(False).to_hdf(two, key="first", mode="w")
    _dlc_table(False).to_hdf(two, key="second", mode="a")
    with pytest.raises(FormatError, match=r"two\.h5: a DeepLabCut \.h5 holds one table; this one holds"):
        read(two, format="dlc")
    flat = tmp_path / "flat.h5"
    pd.DataFrame({"a": [1.0, 2.0]}).to_hdf(flat, key="df_with_missing", mode="w")
    with pytest.raises(FormatError, match=r"flat\.h5: not a DeepLabCut table"):
        read(flat, format="dlc")
    assert detect_sleap_format(tmp_path / "flat.h5") == "dlc"  # a pandas store: offered, then refused
    import h5py

    with h5py.File(tmp_path / "plain.h5", "w") as fh:  # an HDF5 file pandas did not write
        fh["x"] = np.zeros(3)
    assert detect_sleap_format(tmp_path / "plain.h5") is None


def _our_dataset(multi: bool) -> AnnotationSet:
    sk = Skeleton(PARTS, EDGES, name="mice")
    store = AnnotationStore(sk, coord_ndim=2, frame_axis=0, n_frames=5, name="mice")
    rng = np.random.default_rng(8)
    for tid in (1, 2) if multi else (1,):
        store.add_track(tid, name=f"mouse{tid}")
        for f in (0, 2, 4):
            store.set_points(f, tid, rng.uniform(3, 35, (len(PARTS), 2)))
    store.delete_points(2, 1, "leftear")
    frames = [{"item": "mice.tif", "frame": f, "width": W, "height": H} for f in range(5)]
    return AnnotationSet(stores=[store], frames=frames)


@pytest.mark.parametrize("multi", [False, True])
def test_we_write_dlc_h5_as_deeplabcut_does(tmp_path: Path, multi: bool) -> None:
    import tifffile

    video = tmp_path / "mice.tif"
    tifffile.imwrite(video, np.stack([np.full((H, W), 30 * f, np.uint8) for f in range(5)]))
    ds = _our_dataset(multi)
    out = tmp_path / "proj" / "CollectedData_Bob.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = write(ds, out, "dlc", video=video)
    assert files[:2] == [out, out.with_suffix(".csv")] and all(f.exists() for f in files)
    assert not [p for p in out.parent.iterdir() if "keyskel-tmp" in p.name]
    table = pd.read_hdf(out, "df_with_missing")  # what DeepLabCut's training reads
    names = ["scorer", "individuals", "bodyparts", "coords"] if multi else ["scorer", "bodyparts", "coords"]
    assert list(table.columns.names) == names
    assert set(table.columns.get_level_values("scorer")) == {"Bob"}
    assert isinstance(table.index, pd.MultiIndex) and table.index[0][:2] == ("labeled-data", "mice")
    store = ds.stores[0]
    for r, f in enumerate((0, 2, 4)):
        for t in store:
            cols = ("Bob", t.name) if multi else ("Bob",)
            row = table.iloc[r]
            x = np.array([row[(*cols, part, "x")] for part in PARTS])
            y = np.array([row[(*cols, part, "y")] for part in PARTS])
            np.testing.assert_allclose(np.c_[x, y], t.coords[f - t.start, :, ::-1], atol=1e-9)
    beside = pd.read_csv(out.with_suffix(".csv"), header=list(range(len(names))), index_col=[0, 1, 2])
    np.testing.assert_allclose(beside.to_numpy(), table.to_numpy(), equal_nan=True)
    image = iio.imread(out.parent / "labeled-data" / "mice" / "img0002.png")
    assert image.shape == (H, W) and (image == 60).all()  # frame 2 of the (t, y, x) stack
    config = (out.parent / "config.yaml").read_text()
    assert "scorer: Bob" in config and "- snout\n  - leftear" in config
    back = read(out)  # and back through ours: same points, the skeleton from config.yaml
    assert back.stores[0].skeleton.nodes == PARTS and _edge_names(back.stores[0].skeleton) == WANT_EDGES
    for t in store:
        b = next(x for x in back.stores[0] if (x.name == t.name) or not multi)
        np.testing.assert_allclose(b.coords[:, :, ::-1], t.coords[::2, :, ::-1], atol=1e-9)
    loaded = sio.load_dlc(str(out.with_suffix(".csv")))  # the CSV beside loads in sleap-io too
    assert len(loaded.labeled_frames) == 3


def test_dlc_h5_without_pytables_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h5, _ = _project(tmp_path / "proj", multi=False)
    monkeypatch.setitem(sys.modules, "tables", None)  # import fails as if not installed
    with pytest.raises(
        FormatError, match=r'CollectedData_Alice\.h5: .*PyTables.*pip install "napari-keyskel\[sleap\]"'
    ):
        read(h5)
    out = tmp_path / "o.h5"
    with pytest.raises(FormatError, match=r'pip install "napari-keyskel\[sleap\]"'):
        write(_our_dataset(False), out, "dlc")
    assert not out.exists() and not out.with_suffix(".csv").exists()


def test_dlc_h5_written_into_a_deeplabcut_project(tmp_path: Path) -> None:
    import tifffile

    video = tmp_path / "session 1.tif"
    tifffile.imwrite(video, np.stack([np.full((H, W), 30 * f, np.uint8) for f in range(5)]))
    ds = _our_dataset(multi=True)
    out = tmp_path / "proj" / "labeled-data" / "mice" / "CollectedData_Bob.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = write(ds, out, "dlc", video=video)
    folder = out.parent  # where DeepLabCut keeps a video's labels and its extracted frames
    assert sorted(p.name for p in folder.iterdir()) == [
        "CollectedData_Bob.csv",
        "CollectedData_Bob.h5",
        "img0000.png",
        "img0002.png",
        "img0004.png",
    ]
    assert (tmp_path / "proj" / "config.yaml") in files  # at the project's root
    table = pd.read_hdf(out)
    assert list(table.index) == [("labeled-data", "mice", f"img{f:04d}.png") for f in (0, 2, 4)]
    assert (iio.imread(folder / "img0004.png") == 120).all()
    back = read(out)
    assert _edge_names(back.stores[0].skeleton) == WANT_EDGES  # config.yaml found two folders up
    for t in ds.stores[0]:
        (b,) = [x for x in back.stores[0] if x.name == t.name]
        np.testing.assert_allclose(b.coords, t.coords[::2], atol=1e-9)
    ds.frames = [{**fr, "item": f"v{fr['frame'] // 3}.mp4"} for fr in ds.frames]  # two videos
    with pytest.raises(
        FormatError, match=r"labeled-data/mice/ holds that one video's frames; the data has 2"
    ):
        write(ds, out.with_name("CollectedData_Two.h5"), "dlc")
    assert not out.with_name("CollectedData_Two.h5").exists()


# -- issue 24: a multi-animal project with one labelled individual; image names and formats -----
JPEGS = ("frame_0012.jpg", "frame_0040.jpg")


def _one_individual_project(root: Path) -> Path:
    """A multi-animal project (three individuals) where only mus1 is labelled, on JPEG frames."""
    folder = root / "labeled-data" / "cage"
    folder.mkdir(parents=True)
    for i, name in enumerate(JPEGS):
        iio.imwrite(folder / name, np.full((H, W, 3), 40 * (i + 1), np.uint8), extension=".jpg")
    (root / "config.yaml").write_text(
        "Task: cage\nscorer: Alice\nmultianimalproject: true\nindividuals: [mus1, mus2, mus3]\n"
        f"bodyparts: [{', '.join(PARTS)}]\nmultianimalbodyparts: [{', '.join(PARTS)}]\nuniquebodyparts: []\n"
        "skeleton:\n" + "".join(f"- [{a}, {b}]\n" for a, b in EDGES)
    )
    cols = pd.MultiIndex.from_product(
        [["Alice"], ["mus1"], PARTS, ["x", "y"]], names=["scorer", "individuals", "bodyparts", "coords"]
    )
    xy = np.random.default_rng(9).uniform(2, 38, (len(JPEGS), len(PARTS) * 2)).round(2)
    table = pd.DataFrame(
        xy, index=pd.MultiIndex.from_tuples([("labeled-data", "cage", n) for n in JPEGS]), columns=cols
    )
    csv = folder / "CollectedData_Alice.csv"
    table.to_csv(csv)  # as DeepLabCut's labelling GUI saves it (with the .h5)
    table.to_hdf(csv.with_suffix(".h5"), key="df_with_missing", mode="w")
    return csv


@pytest.mark.parametrize("suffix", [".csv", ".h5"])
def test_one_individual_stays_multi_animal_with_its_images(tmp_path: Path, suffix: str) -> None:
    src = _one_individual_project(tmp_path / "proj").with_suffix(suffix)
    theirs = sio.load_dlc(str(src.with_suffix(".csv")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read(src)
    (store,) = ds.stores
    (t,) = list(store)
    assert t.name == "mus1" and [tr.name for tr in theirs.tracks] == ["mus1"]
    for lf in theirs.labeled_frames:  # node by node, as sleap-io reads it
        (inst,) = lf.instances
        f = next(
            i
            for i, fr in enumerate(ds.frames)
            if Path(fr["item"]).name == Path(lf.video.filename[lf.frame_idx]).name
        )
        nodes = [n.name for n in inst.skeleton.nodes]
        np.testing.assert_allclose(
            t.coords[f - t.start][[store.skeleton.index(n) for n in nodes], ::-1], inst.numpy()
        )
    out = tmp_path / "new" / "labeled-data" / "cage" / f"CollectedData_Bob{suffix}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = write(ds, out, "dlc")
    folder = out.parent
    for name in JPEGS:  # copied as they are: same names, same JPEG bytes
        assert (folder / name).read_bytes() == (src.parent / name).read_bytes()
    assert not list(folder.glob("img*.png"))
    table = pd.read_csv(out.with_suffix(".csv"), header=[0, 1, 2, 3], index_col=[0, 1, 2])
    assert list(table.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert set(table.columns.get_level_values("individuals")) == {"mus1"}
    assert [r[2] for r in table.index] == list(JPEGS)
    config = yaml.safe_load((tmp_path / "new" / "config.yaml").read_text())
    assert config["multianimalproject"] is True and config["individuals"] == ["mus1", "mus2", "mus3"]
    back = sio.load_dlc(str(out.with_suffix(".csv")))
    assert [tr.name for tr in back.tracks] == ["mus1"]
    assert out in files and (folder / JPEGS[0]) in files


def test_one_individual_through_v7_and_coco(tmp_path: Path) -> None:
    """Through V7 or COCO and back it stays multi-animal, under its name."""
    src = _one_individual_project(tmp_path / "proj")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read(src)
        for via, name in (("darwin", "d"), ("coco", "c.json")):
            write(ds, tmp_path / name, via)
            again = read(tmp_path / name, format=via)
            out = tmp_path / via / "CollectedData_Bob.csv"
            write(again, out, "dlc")
            table = pd.read_csv(out, header=[0, 1, 2, 3], index_col=[0, 1, 2])
            assert set(table.columns.get_level_values("individuals")) == {"mus1"}, via
