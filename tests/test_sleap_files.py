"""Files of the sleap family as their users write them (issue 24): ``.slp`` as it came, YOLO rows.

sleap-io writes the ``.slp`` files here itself; what keyskel reads is compared node by node with
what sleap-io reads, and what keyskel writes is loaded by sleap-io again. sleap-io is a promised
client: these tests fail, not skip, without it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import sleap_io as sio

from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.errors import FormatError
from napari_keyskel.formats import read, write

H, W = 20, 30


def _images(folder: Path, n: int = 3) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        p = folder / f"frame_{10 * i:03d}.png"
        iio.imwrite(p, np.full((H, W), 40 * i, np.uint8))
        files.append(str(p))
    return files


def _slp_untracked(folder: Path) -> tuple[Path, list[str]]:
    """A .slp on an image list: two untracked instances per image, and one tracked on the first."""
    files = _images(folder / "imgs")
    video = sio.Video.from_filename(files)
    sk = sio.Skeleton(["head", "thorax", "tail"], edges=[(0, 1), (1, 2)], name="fly")
    track = sio.Track("queen")
    rng = np.random.default_rng(2)
    lfs = []
    for i in range(len(files)):
        insts = [sio.Instance.from_numpy(rng.uniform(1, 19, (3, 2)), skeleton=sk) for _ in range(2)]
        if i == 0:
            insts.append(sio.Instance.from_numpy(rng.uniform(1, 19, (3, 2)), skeleton=sk, track=track))
        lfs.append(sio.LabeledFrame(video=video, frame_idx=i, instances=insts))
    labels = sio.Labels(labeled_frames=lfs, videos=[video], skeletons=[sk], tracks=[track])
    path = folder / "flies.slp"
    sio.save_slp(labels, str(path))
    return path, files


def _poses(labels: sio.Labels) -> list[tuple[int, str | None, np.ndarray]]:
    """(frame index, track name or None, (K, 2) xy) of every instance, in a fixed order."""
    out = []
    for lf in labels.labeled_frames:
        for inst in lf.instances:
            out.append((int(lf.frame_idx), None if inst.track is None else inst.track.name, inst.numpy()))
    return sorted(out, key=lambda r: (r[0], r[1] or "", *r[2].ravel().tolist()))


def _same_poses(a: sio.Labels, b: sio.Labels) -> None:
    pa, pb = _poses(a), _poses(b)
    assert [(f, t) for f, t, _ in pa] == [(f, t) for f, t, _ in pb]
    for (_, _, xa), (_, _, xb) in zip(pa, pb):
        np.testing.assert_allclose(xa, xb, atol=1e-4)


@pytest.mark.parametrize("images_on_disk", [True, False])
def test_slp_written_back_as_it_came(tmp_path: Path, images_on_disk: bool) -> None:
    src, files = _slp_untracked(tmp_path)
    if not images_on_disk:  # a project opened away from its images: the list is a reference
        for f in files:
            Path(f).unlink()
    theirs = sio.load_slp(str(src), open_videos=False)
    ds = read(src)
    (store,) = ds.stores
    assert [fr["item"] for fr in ds.frames] == files  # one frame per image of the list
    # node by node: every instance sleap-io reads is one of ours on the same frame
    for f, _name, xy in _poses(theirs):
        got = [t for t in store if t.start <= f < t.stop and np.isfinite(t.coords[f - t.start]).all()]
        assert any(np.allclose(t.coords[f - t.start, :, ::-1], xy) for t in got)
    named = [t for t in store if t.name == "queen"]
    assert len(named) == 1 and not named[0].meta.get("sleap", {}).get("untracked")
    out = tmp_path / "out.slp"
    write(ds, out, "sleap")
    back = sio.load_slp(str(out))  # opens (an image list, on disk or not)
    assert back.videos[0].filename == files
    assert [t.name for t in back.tracks] == ["queen"]  # no track made up for the untracked ones
    _same_poses(theirs, back)
    # through V7 and COCO and back: still untracked (COCO keeps an instance across images)
    for fmt, name in (("darwin", "d"), ("coco", "c.json")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            write(ds, tmp_path / name, fmt)
            again: AnnotationSet = read(tmp_path / name, format=fmt)
        write(again, tmp_path / f"{fmt}.slp", "sleap")
        via = sio.load_slp(str(tmp_path / f"{fmt}.slp"), open_videos=False)
        assert [t.name for t in via.tracks] == ["queen"], fmt
        assert sum(i.track is None for lf in via for i in lf.instances) == 6, fmt


# -- YOLO-pose ---------------------------------------------------------------------------------
def _yolo_dataset(folder: Path) -> Path:
    """A YOLO-pose dataset written by sleap-io (two instances on each of three images)."""
    files = _images(folder / "src")
    video = sio.Video.from_filename(files)
    sk = sio.Skeleton(["head", "thorax", "tail"], edges=[(0, 1), (1, 2)])
    rng = np.random.default_rng(4)
    lfs = []
    for i in range(len(files)):
        xy = [rng.uniform(1, 19, (3, 2)) for _ in range(2)]
        xy[1][2] = np.nan  # not labelled: v = 0
        lfs.append(
            sio.LabeledFrame(
                video=video, frame_idx=i, instances=[sio.Instance.from_numpy(p, skeleton=sk) for p in xy]
            )
        )
    labels = sio.Labels(labeled_frames=lfs, videos=[video], skeletons=[sk])
    sio.save_ultralytics(labels, str(folder / "yolo"), split_ratios={"train": 1.0}, verbose=False)
    return folder / "yolo"


def test_yolo_reads_what_sleap_io_reads(tmp_path: Path) -> None:
    root = _yolo_dataset(tmp_path)
    theirs = sio.load_ultralytics(str(root))
    ds = read(root)
    (store,) = ds.stores
    assert list(store.skeleton.nodes) == [n.name for n in theirs.skeleton.nodes]
    for lf in theirs.labeled_frames:
        (image,) = lf.video.filename  # sleap-io: one single-image list per image
        f = next(i for i, fr in enumerate(ds.frames) if Path(fr["item"]) == Path(image))
        for inst in lf.instances:
            (t,) = [t for t in store if t.name == inst.track.name]
            np.testing.assert_allclose(t.coords[f - t.start, :, ::-1], inst.numpy(), atol=1e-9)


def test_yolo_visibility_written_as_float_is_read(tmp_path: Path) -> None:
    """Ultralytics' own datasets write ``2.000000``: sleap-io drops those rows, we read them."""
    root = _yolo_dataset(tmp_path)
    labels = sorted((root / "train" / "labels").glob("*.txt"))
    for p in labels:
        rows = [r.split() for r in p.read_text().splitlines() if r.strip()]
        p.write_text(
            "".join(
                " ".join(v if i < 5 or (i - 5) % 3 != 2 else f"{float(v):.6f}" for i, v in enumerate(r))
                + "\n"
                for r in rows
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sum(len(lf.instances) for lf in sio.load_ultralytics(str(root))) == 0  # sleap-io drops them
    ds = read(root)
    (store,) = ds.stores
    first = np.asarray(labels[0].read_text().splitlines()[0].split()[5:], float).reshape(3, 3)
    (f0,) = [i for i, fr in enumerate(ds.frames) if Path(fr["item"]).stem == labels[0].stem]
    t = next(t for t in store if t.name == "track_0")
    np.testing.assert_allclose(t.coords[f0 - t.start, :, ::-1], first[:, :2] * [W, H], atol=1e-9)
    assert store.counts()["points"] == 3 * 5


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r[:-1], r"line 2: 13 values; a YOLO-pose row of kpt_shape \[3, 3\] has 14"),
        (lambda r: [*r[:6], "nan?", *r[7:]], r"line 2: 'nan\?' is not a number"),
        (lambda r: [*r[:6], "inf", *r[7:]], r"line 2: 'inf' is not a finite number"),
        (lambda r: ["0.5", *r[1:]], r"line 2: class '0.5' is not a class number"),
    ],
)
def test_yolo_bad_rows_name_file_and_line(tmp_path: Path, edit: object, message: str) -> None:
    root = _yolo_dataset(tmp_path)
    label = sorted((root / "train" / "labels").glob("*.txt"))[1]
    rows = [r.split() for r in label.read_text().splitlines() if r.strip()]
    rows[1] = edit(rows[1])  # type: ignore[operator]
    label.write_text("\n".join(" ".join(r) for r in rows) + "\n")
    with pytest.raises(FormatError, match=rf"{label.name}: {message}"):
        read(root)
