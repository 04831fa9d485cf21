"""``keyskel propagate``, ``keyskel accept`` (and ``predict``): models in the loop, from the command line.

``keyskel propagate IMAGE ANNOTATIONS OUT [--method track|linear|cubic] [--max-frames N]`` fills
the frames between keys (as ``keyskel interpolate`` does; store frame ``f`` is frame ``f`` of
IMAGE, or the video frame the file's frame table names); with ``track`` (the default) by
following the image with Lucas–Kanade optical flow from both keys
(:func:`~napari_keyskel.assist.propagate.interpolate_with_image`); spans longer than
``--max-frames`` stay linear. IMAGE is a video (read frame-accurately with PyAV, one frame at a
time), a TIFF stack ``(t, y, x)`` (read lazily) or a folder of frames (sorted by name). OUT is
written in the format of ANNOTATIONS.

``keyskel accept PROPOSALS ANNOTATIONS OUT --min-score S`` merges proposals (a model's output in
any format we read) into the annotations as keys (:func:`~napari_keyskel.assist.proposals.accept`).
Annotation sets are paired by name (or the only one with the only one); frames by their
``(item, frame)`` in the two files' frame tables when both have one.

A standard COCO keypoint results list (no categories; ``keyskel predict`` writes one) needs no
further argument: each category goes to the annotation set of the same COCO category id (or the
only one), its keypoints through the keypoint mapping
(:func:`~napari_keyskel.assist.proposals.proposals_from_dataset`: the mapping saved in the
annotations, else by names, else by order), its ``image_id`` s to the annotations' images with
those ids (a COCO file), else to the frames with those numbers. ``--images GT`` reads it
against another ground-truth file as before.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..core.wording import plural
from ..errors import FormatError, KeyskelError

__all__ = ["open_video", "register"]


def open_video(path: str | Path, frames: Any = None) -> Any:
    """A lazy ``(t, y, x)`` array for a video file, a TIFF stack or a folder of frames.

    A video (PyAV, frame-accurate) is read as grey on the frames ``frames`` lists (an annotation
    file's own frame numbers, e.g. 0, 5, 10 for a file saved from a layer over every 5th frame);
    a folder of frames is :mod:`napari_keyskel.media`'s image sequence (sorted by name, one file
    read per frame).
    """
    from ..media import is_video_file, open_media

    p = Path(path)
    if is_video_file(p):
        return open_media(p, grey=True, frames=frames, cache_mb=64)
    if p.is_dir():
        return open_media(p, cache_mb=64)
    from ..stacks import open_stack

    stack = open_stack(p)
    data = stack.data
    if len(data.shape) == 4 and stack.rgb:
        return data
    if len(data.shape) != 3 or "C" in stack.axes:
        raise FormatError(f"expected a (t, y, x) stack, got axes {stack.axes} of shape {stack.shape}", p)
    return data


def _read(path: str, skeleton: str | None, images: str | None = None) -> tuple[Any, str]:
    from ..formats import read_detected

    return read_detected(path, skeleton, images=images)


def _cmd_propagate(args: argparse.Namespace) -> int:
    from ..assist.propagate import FrameSource, interpolate_with_image
    from ..core.keyframes import interpolate_all
    from ._io import report_written, write_output

    ds, fmt = _read(args.annotations, args.skeleton)
    if args.method == "track":
        source = FrameSource(open_video(args.image, _video_frames(ds)))
        for store in ds.stores:
            if store.frame_range()[1] > source.n_frames:
                raise KeyskelError(
                    f"{args.annotations}: annotation set {store.name!r} reaches frame "
                    f"{store.frame_range()[1] - 1}, the video {args.image} has {source.n_frames} frames"
                )
            interpolate_with_image(store, source, max_span=args.max_frames)
    else:
        for store in ds.stores:
            interpolate_all(store, method=args.method)
    report_written(write_output(ds, args.output, fmt))
    return 0


def _video_frames(ds: Any) -> list[int] | None:
    """The video frame numbers of the file's frames, when they all come from one item."""
    if not ds.frames or len({fr.get("item") for fr in ds.frames}) != 1:
        return None
    frames = [int(fr.get("frame", f)) for f, fr in enumerate(ds.frames)]
    return None if frames == list(range(len(frames))) else frames


def _frame_map(props: Any, ann: Any, path: str) -> np.ndarray | None:
    """Annotation frame of each proposal frame (None: the same numbering)."""
    if not props.frames or not ann.frames:
        return None
    where = {(str(fr.get("item")), fr.get("frame")): i for i, fr in enumerate(ann.frames)}
    out = np.full(len(props.frames), -1, np.int64)
    for i, fr in enumerate(props.frames):
        out[i] = where.get((str(fr.get("item")), fr.get("frame")), -1)
    if np.array_equal(out, np.arange(len(out))):
        return None
    return out


def _remapped(store: Any, fmap: np.ndarray | None, n_frames: int, path: str) -> Any:
    """``store`` with its frames renumbered by ``fmap`` (a copy; the same store when None)."""
    if fmap is None:
        return store
    from ..core.store import AnnotationStore

    out = AnnotationStore(store.skeleton, store.coord_ndim, store.frame_axis, n_frames, store.name)
    for t in store:
        rows = np.flatnonzero(np.isfinite(t.coords).all(axis=-1).any(axis=1))
        if not rows.size:
            continue
        dest = fmap[t.start + rows]
        if (dest < 0).any():
            bad = int(t.start + rows[np.flatnonzero(dest < 0)[0]])
            raise FormatError(f"proposal frame {bad} is not a frame of the annotations", Path(path))
        nt = out.add_track(t.track_id, t.name, start=int(dest.min()))
        for r, f in zip(rows.tolist(), dest.tolist()):
            m = np.isfinite(t.coords[r]).all(axis=-1)
            out.set_points(
                f, nt.track_id, t.coords[r, m], np.flatnonzero(m), t.visibility[r, m], True, t.score[r, m]
            )
    return out


def _category_id(store: Any) -> Any:
    coco = store.meta.get("coco") if isinstance(store.meta, dict) else None
    cat = coco.get("category") if isinstance(coco, dict) else None
    return cat.get("id") if isinstance(cat, dict) else None


def _accept_results(args: argparse.Namespace, props: Any, ds: Any, fmt: str) -> int:
    """``keyskel accept`` of a results list without ``--images`` (see the module docstring)."""
    from ..assist.proposals import accept, proposals_from_dataset, with_image_ids
    from ..core.annotation_set import AnnotationSet
    from ._io import report_written, write_output

    total = 0
    frames = with_image_ids(ds.frames, args.annotations)
    for p in props.stores:
        cid = _category_id(p)
        same = [s for s in ds.stores if _category_id(s) == cid] or (ds.stores if len(ds.stores) == 1 else [])
        if not same:
            raise KeyskelError(
                f"{args.proposals}: results of category {cid!r} match no annotation set of "
                f"{args.annotations} (have {[s.name for s in ds.stores]})"
            )
        target = same[0]
        one = AnnotationSet(stores=[p], frames=props.frames, meta=props.meta, source=props.source)
        store = proposals_from_dataset(target, one, frames, source=args.proposals)
        res = accept(target, store, min_score=args.min_score)
        total += res.count
        print(
            f"{target.name}: accepted {res.count} nodes into {len(res.tracks)} instances "
            f"({len(res.created)} new)"
        )
    report_written(write_output(ds, args.output, fmt))
    return 0 if total or not args.require else 1


def _cmd_accept(args: argparse.Namespace) -> int:
    from ..assist.proposals import accept
    from ._io import is_results, report_written, write_output

    props, _ = _read(args.proposals, args.skeleton, args.images)
    ds, fmt = _read(args.annotations, args.skeleton)
    if args.images is None and is_results(props):
        return _accept_results(args, props, ds, fmt)
    fmap = _frame_map(props, ds, args.proposals)
    total = 0
    for p in props.stores:
        same = [s for s in ds.stores if s.name == p.name]
        if not same and len(ds.stores) == 1 and len(props.stores) == 1:
            same = ds.stores
        if not same:
            raise KeyskelError(
                f"{args.proposals}: proposals {p.name!r} match no annotation set of {args.annotations} "
                f"(have {[s.name for s in ds.stores]})"
            )
        target = same[0]
        res = accept(
            target,
            _remapped(p, fmap, ds.n_frames or target.n_frames, args.proposals),
            min_score=args.min_score,
        )
        total += res.count
        print(
            f"{p.name}: accepted {plural(res.count, 'node')} into {plural(len(res.tracks), 'instance')} "
            f"({len(res.created)} new)"
        )
    report_written(write_output(ds, args.output, fmt))
    return 0 if total or not args.require else 1


def register(sub: Any) -> None:
    """Add ``propagate`` and ``accept`` to the ``keyskel`` sub-command parser."""
    p = sub.add_parser("propagate", help="fill the frames between keys by following the image (or linearly)")
    p.add_argument("image", metavar="IMAGE", help="a video, a TIFF stack (t, y, x) or a folder of frames")
    p.add_argument("annotations", metavar="ANNOTATIONS", help="a Darwin or COCO .json file with keys")
    p.add_argument("output", metavar="OUT", help="output file (or folder, for Darwin), same format")
    p.add_argument("--method", choices=("track", "linear", "cubic"), default="track", help="default: track")
    p.add_argument("--max-frames", type=int, metavar="N", help="spans longer than N frames stay linear")
    p.add_argument("--skeleton", metavar="FILE", help="skeleton file (.skeleton.json) for the data")
    p.set_defaults(func=_cmd_propagate)

    a = sub.add_parser("accept", help="merge proposals (a model's output) into annotations as keys")
    a.add_argument("proposals", metavar="PROPOSALS", help="proposals: a Darwin or COCO file")
    a.add_argument("annotations", metavar="ANNOTATIONS", help="the annotations to merge into")
    a.add_argument(
        "output", metavar="OUT", help="output file (or folder, for Darwin), the annotations' format"
    )
    a.add_argument("--min-score", type=float, metavar="S", help="accept only nodes scored at least S")
    a.add_argument("--skeleton", metavar="FILE", help="skeleton file (.skeleton.json) for the data")
    a.add_argument(
        "--images", metavar="GT", help="COCO ground truth whose images a results PROPOSALS refers to"
    )
    a.add_argument("--require", action="store_true", help="exit 1 when nothing was accepted")
    a.set_defaults(func=_cmd_accept)
