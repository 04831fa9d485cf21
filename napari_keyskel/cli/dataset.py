"""``keyskel dataset`` and ``keyskel suggest``: a dataset's items, statuses and progress; frames to label.

``keyskel dataset PATH [--json]`` prints every item (name, kind, frames, labelled frames, keys,
instances, unreviewed review flags, status, who and when) and the progress over the dataset.
``keyskel dataset PATH --set-status STATUS ITEM... [--force] [--who NAME]`` sets items' statuses
and saves them (``complete`` is refused, exit 1 with the reason, while an item has unreviewed
review flags, unless ``--force``). PATH is anything :func:`~napari_keyskel.dataset.open_dataset`
opens; an ITEM is an item's key (its file) or name.

``keyskel suggest PATH --n 20 [--json] [--motion] [--item ITEM]`` prints the frames most worth
labelling (:mod:`napari_keyskel.dataset.suggest`) of a video or image folder, or of a whole
dataset (or one of its items); frames already holding keys are not suggested.

Over many items (at least :data:`~napari_keyskel.cli.parallel.AUTO_PARALLEL`, or with ``--jobs`` /
``--scheduler``) the items are counted, and their frames read, by Dask workers (local processes,
or a ``dask.distributed`` scheduler whose workers see the files), as ``keyskel convert`` does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import KeyskelError

__all__ = ["register"]


# -- keyskel dataset ----------------------------------------------------------------------------
def _rows_chunk(job: tuple[str, str, list[str]]) -> list[dict[str, Any]]:
    """Worker: the rows of some items (the dataset opened again in the worker)."""
    from ..dataset import open_dataset

    root, fmt, keys = job
    ds = open_dataset(root, fmt)
    return [ds.row(k) for k in keys]


def _rows(args: argparse.Namespace, ds: Any) -> list[dict[str, Any]]:
    from .parallel import chunk_bounds

    keys = [it.key for it in ds]
    engine = _engine(args, len(keys)) if ds.format in ("darwin", "folder") else None
    if engine is None:
        return [ds.row(k) for k in keys]
    with engine:
        bounds = chunk_bounds(len(keys), engine.workers * 2)
        parts = engine.map(_rows_chunk, [(str(ds.root), ds.format, keys[a:b]) for a, b in bounds])
    return [r for part in parts for r in part]


def _progress(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from ..dataset import STATUSES

    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    done = counts["complete"] / len(rows) if rows else 0.0
    return {**counts, "items": len(rows), "complete_fraction": round(done, 4)}


def _cmd_dataset(args: argparse.Namespace) -> int:
    from ..dataset import open_dataset

    ds = open_dataset(args.path)
    if args.set_status:
        status, *items = args.set_status
        if not items:
            raise KeyskelError("--set-status needs a status and at least one ITEM")
        for name in items:
            try:
                ds.set_status(name, status, who=args.who, force=args.force)
            except KeyskelError as exc:
                if status == "complete" and "unreviewed" in str(exc):
                    raise KeyskelError(f"{exc} (--force completes it anyway); nothing was saved") from None
                raise
        written = ds.save()
        n = len(items)
        print(f"{n} item{'s' if n != 1 else ''} set to {status}; wrote {len(set(written))} files")
        return 0
    rows = _rows(args, ds)
    prog = _progress(rows)
    if args.json:
        print(
            json.dumps({"path": str(ds.root), "format": ds.format, "items": rows, "progress": prog}, indent=2)
        )
        return 0
    print(f"{ds.root}: {ds.format}, {len(rows)} items")
    width = max((len(r["name"]) for r in rows), default=4)
    print(f"  {'item':<{width}}  kind    frames  labelled  keys  instances  flags  status")
    for r in rows:
        frames = "?" if r["frames"] is None else r["frames"]
        who = f" ({r['who']}, {r['when']})" if r.get("who") else ""
        print(
            f"  {r['name']:<{width}}  {r['kind']:<6}  {frames:>6}  {r['labelled_frames']:>8}  "
            f"{r['keys']:>4}  {r['instances']:>9}  {r['review_flags']:>5}  {r['status']}{who}"
        )
    print(
        f"  progress: {prog['complete']}/{prog['items']} complete ({100 * prog['complete_fraction']:.0f}%); "
        + ", ".join(f"{prog[s]} {s}" for s in ("new", "annotate", "review", "complete"))
    )
    return 0


# -- keyskel suggest ----------------------------------------------------------------------------
def _open(path: str) -> Any:
    """The media, read for thumbnails (a small cache; videos decoded to grey: all we compare)."""
    from ..dataset.suggestions import open_for_thumbnails

    return open_for_thumbnails(path)


class _Thumbs:
    """Worker: thumbnails of an item's frames (opens the media in the worker)."""

    def __init__(self, media: dict[str, str]) -> None:
        self.media = media

    def __call__(self, key: str, frames: np.ndarray) -> np.ndarray:
        from ..dataset.suggest import thumbnails

        with _open(self.media[key]) as src:
            return thumbnails(src, frames)


def _length(item: Any) -> int:
    """An item's frames from its header or its media's header (no decoder, no thread is started)."""
    from ..dataset.suggestions import item_length

    return item_length(item)


def _source_numbers(src: Any, frames: np.ndarray) -> list[int]:
    numbers = getattr(src, "frame_numbers", None)
    return [int(x) for x in (np.asarray(numbers)[frames] if numbers is not None else frames)]


def _engine(args: argparse.Namespace, n_items: int) -> Any:
    """Dask workers for ``n_items`` items, started now; None for a serial run.

    Started before this process decodes any media: a process forked after PyAV has run can hang
    in FFmpeg.
    """
    from .parallel import AUTO_PARALLEL, Engine

    if args.jobs == 1 or n_items < 2 or not (args.jobs or args.scheduler or n_items >= AUTO_PARALLEL):
        return None
    return Engine(args.jobs, args.scheduler).start()


def _suggest_items(args: argparse.Namespace, ds: Any, engine: Any) -> list[dict[str, Any]]:
    """Suggestions over a dataset's items (or the one ``--item``)."""
    from ..dataset.suggest import suggest_frames, suggest_many
    from ..dataset.suggestions import keyed_frames

    items = [ds.header(args.item)] if args.item else [ds.header(it) for it in ds]
    missing = [it.name for it in items if it.media is None]
    usable = [it for it in items if it.media is not None]
    if not usable:
        raise KeyskelError(f"{ds.root}: no item's media was found ({', '.join(missing[:5])}...)")
    if missing:
        print(f"keyskel suggest: warning: {len(missing)} items have no media found and were skipped")
    if len(usable) == 1:
        it = usable[0]
        keyed = keyed_frames(ds.annotations(it))
        with _open(str(it.media)) as src:
            frames = suggest_frames(src, args.n, motion=args.motion, exclude=keyed)
            return [{"item": it.name, "frame": f} for f in _source_numbers(src, frames)]
    lengths = [(it.key, _length(it)) for it in usable]
    read = _Thumbs({it.key: str(it.media) for it in usable})
    names = {it.key: it.name for it in usable}
    mapper = engine.map if engine is not None else None
    chosen = suggest_many(lengths, args.n, read, motion=args.motion, map=mapper)
    return [{"item": names[k], "key": k, "frame": f} for k, f in chosen]


def _cmd_suggest(args: argparse.Namespace) -> int:
    from ..dataset import open_dataset
    from ..dataset._media import kind_of
    from ..dataset.suggest import suggest_frames

    p = Path(args.path)
    picks: list[dict[str, Any]]
    if kind_of(p) in ("video", "images", "image"):
        with _open(str(p)) as src:
            frames = suggest_frames(src, args.n, motion=args.motion)
            picks = [{"item": p.name, "frame": f} for f in _source_numbers(src, frames)]
    else:
        ds = open_dataset(p)  # lists the items; no media is opened yet
        engine = None if args.item else _engine(args, len(ds))
        try:
            picks = _suggest_items(args, ds, engine)
        finally:
            if engine is not None:
                engine.close()
    if args.json:
        print(json.dumps(picks, indent=2))
    else:
        for pk in picks:
            print(f"{pk['item']}\t{pk['frame']}")
    return 0


# -- registration -------------------------------------------------------------------------------
def register(sub: Any) -> None:
    """Add ``dataset`` and ``suggest`` to the ``keyskel`` subcommands."""
    from .parallel import _positive

    d = sub.add_parser("dataset", help="a dataset's items with status and progress; set statuses")
    d.add_argument(
        "path", metavar="PATH", help="V7 export folder, folder of media, COCO .json, .slp, DLC project"
    )
    d.add_argument("--json", action="store_true", help="print the items and progress as JSON")
    d.add_argument(
        "--set-status",
        nargs="+",
        metavar=("STATUS", "ITEM"),
        help="set ITEMs to STATUS (new, annotate, review, complete)",
    )
    d.add_argument("--force", action="store_true", help="complete items even with unreviewed review flags")
    d.add_argument("--who", metavar="NAME", help="who sets the status (default: your login name)")
    d.add_argument("--jobs", type=_positive, metavar="N", help="Dask worker processes (1: serial)")
    d.add_argument("--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler to count items on")
    d.set_defaults(func=_cmd_dataset)

    s = sub.add_parser("suggest", help="the frames most worth labelling, of a video or a dataset")
    s.add_argument("path", metavar="PATH", help="a video, an image folder, or a dataset")
    s.add_argument("--n", type=_positive, default=20, metavar="N", help="how many frames (default 20)")
    s.add_argument("--motion", action="store_true", help="per cluster, the frame with the most motion")
    s.add_argument("--item", metavar="ITEM", help="only this item of the dataset")
    s.add_argument("--json", action="store_true", help="print a JSON list of {item, frame}")
    s.add_argument("--jobs", type=_positive, metavar="N", help="Dask worker processes (1: serial)")
    s.add_argument("--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler to read frames on")
    s.set_defaults(func=_cmd_suggest)
