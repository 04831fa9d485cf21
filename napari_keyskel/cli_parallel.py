"""``keyskel convert`` / ``validate`` over a folder of many Darwin items, in parallel on Dask.

The files of a folder are read in chunks by Dask workers (local processes by default, or a
``dask.distributed`` cluster given by ``--scheduler ADDRESS``; its workers must see the files),
each chunk with the
ordinary folder reader, and the chunks' datasets are merged in folder order into the dataset the serial
reader makes: frames concatenated, one store per class in order of first appearance, tracks
numbered per class in order. That merge equals the serial read when every part resolves a class
to the same skeleton and no file carries V7 ``instance_id`` s (the serial reader keeps those unique
over the whole folder, which no part can know); otherwise the folder is read serially, with a
note on stderr.
The output is then written by the same writer, so it is the serial run's output.

Used from :mod:`napari_keyskel.cli` (``--jobs``, ``--scheduler``, ``--video``); the serial path
is taken for a single file, for ``--jobs 1``, and for folders under :data:`AUTO_PARALLEL` files
unless ``--jobs`` or ``--scheduler`` asks for workers.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import Dataset
from .errors import FormatError
from .skeleton import SKELETON_FILE_SUFFIX
from .store import AnnotationStore

__all__ = ["AUTO_PARALLEL", "add_options", "darwin_folder_files", "merge_darwin", "read_folder_parallel"]

#: A folder with at least this many Darwin files is read in parallel without ``--jobs``.
AUTO_PARALLEL = 256
_CHUNKS_PER_WORKER = 4


def darwin_folder_files(folder: Path) -> list[Path]:
    """The JSON files a folder read takes as Darwin items, in the serial reader's order."""
    return [
        p
        for p in sorted(folder.rglob("*.json"))
        if p.is_file()
        and ".v7" not in p.relative_to(folder).parts[:-1]
        and not p.name.endswith(SKELETON_FILE_SUFFIX)
    ]


def _read_chunk(folder: str, files: Sequence[str], skeleton: str | None) -> tuple[Dataset, list[int]]:
    """Worker: a chunk of a folder's files read as one folder, and each file's count of ``instance_id`` s.

    The chunk is read through a temporary folder of links that keeps the files' paths relative to
    ``folder`` (and the skeleton files at its top), so the ordinary folder reader sees the same
    keys, and reads the chunk in one batch.
    """
    import tempfile

    from .formats.darwin import read_darwin

    root = Path(folder)
    counts = []
    with tempfile.TemporaryDirectory(prefix="keyskel-chunk-") as tmp:
        for f in [*files, *map(str, root.glob(f"*{SKELETON_FILE_SUFFIX}"))]:
            link = Path(tmp, Path(f).relative_to(root))
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.abspath(f), link)
        for f in files:
            with open(f, "rb") as fh:
                counts.append(fh.read().count(b'"instance_id"'))
        ds = read_darwin(tmp, skeleton)
    ds.source = str(root)
    return ds, counts


def merge_darwin(folder: Path, parts: Sequence[tuple[Dataset, list[int]]]) -> Dataset:
    """The folder's dataset from its chunks' datasets, in folder order (exact: see the module docstring)."""
    if any(n for _, counts in parts for n in counts):
        raise _NotExact("its files carry V7 instance ids, which the serial reader numbers over the folder")
    frames: list[dict[str, Any]] = []
    stores: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    for ds, _ in parts:
        offset = len(frames)
        frames.extend(ds.frames)
        items.extend(ds.meta.get("darwin", {}).get("items", []))
        for s in ds.stores:
            merged = stores.get(s.name)
            if merged is None:
                merged = AnnotationStore(s.skeleton, s.coord_ndim, s.frame_axis, None, s.name)
                merged.meta, merged.method, merged.bridge_unlabelled = s.meta, s.method, s.bridge_unlabelled
                stores[s.name] = merged
            elif merged.skeleton != s.skeleton or merged.meta != s.meta:
                raise _NotExact(
                    f"class {s.name!r} resolves to another skeleton in another part of the folder"
                )
            for t in s:
                tid = len(merged.tracks) + 1  # no instance ids: the serial reader numbers tracks in order
                t.track_id, t.name, t.start = tid, f"instance {tid}", t.start + offset
                merged.tracks[tid] = t
    for store in stores.values():
        store.n_frames = max(len(frames), 1)
    meta = {"darwin": {"items": items}}
    return Dataset(stores=list(stores.values()), frames=frames, meta=meta, source=str(folder))


class _NotExact(Exception):
    """The per-file reads would not merge into the serial read."""


def _client(scheduler: str | None) -> Any:
    if scheduler is None:
        return None
    try:
        from distributed import Client
    except ImportError:
        raise FormatError(
            'a --scheduler needs dask.distributed: pip install "napari-keyskel[distributed]"'
        ) from None
    return Client(scheduler)


def read_folder_parallel(
    folder: str | os.PathLike[str],
    skeleton: str | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
) -> Dataset | None:
    """The folder's Darwin dataset read by Dask workers, or ``None`` when only a serial read is exact."""
    import dask

    folder = Path(folder)
    files = darwin_folder_files(folder)
    if not files:
        raise FormatError("the folder holds no Darwin JSON files", folder)
    nested = any(f.parent != folder for f in files)
    if skeleton is None and nested and any(folder.rglob(f"*{SKELETON_FILE_SUFFIX}")):
        _note(folder, "skeleton files in a nested folder are matched over the whole folder")
        return None
    workers = jobs or os.cpu_count() or 1
    n_chunks = max(1, min(len(files), workers * _CHUNKS_PER_WORKER))
    bounds = np.linspace(0, len(files), n_chunks + 1).round().astype(int)
    chunks = [[str(f) for f in files[a:b]] for a, b in pairwise(bounds) if b > a]
    tasks = [dask.delayed(_read_chunk)(str(folder), c, skeleton) for c in chunks]
    client = _client(scheduler)
    try:
        if client is not None:
            results = client.compute(tasks, sync=True)
        else:
            # fork on Linux: a worker starts in milliseconds, not the half second of a fresh interpreter
            context = "fork" if sys.platform.startswith("linux") else "spawn"
            with dask.config.set({"multiprocessing.context": context}):
                results = dask.compute(*tasks, scheduler="processes", num_workers=workers)
    finally:
        if client is not None:
            client.close()
    try:
        return merge_darwin(folder, list(results))
    except _NotExact as exc:
        _note(folder, str(exc))
        return None


def _note(folder: Path, why: str) -> None:
    print(f"keyskel: {folder}: reading serially ({why})", file=sys.stderr)


# -- command-line glue ----------------------------------------------------------------------------
def add_options(sub: argparse.ArgumentParser) -> None:
    """Add ``--jobs``/``--scheduler`` (and ``--video`` for convert) and route the command through here."""
    serial = sub.get_default("func")
    sub.add_argument("--jobs", type=int, metavar="N", help="Dask worker processes for a folder (1: serial)")
    sub.add_argument(
        "--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler to read a folder on"
    )
    if serial.__name__ == "_cmd_convert":
        sub.add_argument(
            "--video", metavar="PATH", help="the frames' video or images (YOLO-pose stores images)"
        )
    sub.set_defaults(func=lambda args: run(args, serial))


def _wants_parallel(args: argparse.Namespace) -> bool:
    p = Path(args.input)
    if not p.is_dir() or args.jobs == 1:
        return False
    from .formats import detect_format

    try:
        if detect_format(p) != "darwin":
            return False
    except FormatError:
        return False
    return bool(args.jobs or args.scheduler) or len(darwin_folder_files(p)) >= AUTO_PARALLEL


def run(args: argparse.Namespace, serial: Callable[[argparse.Namespace], int]) -> int:
    """Run a command: its input read in parallel when it is a large Darwin folder, then the serial command."""
    from .formats.sleap import SLEAP_FORMATS

    if _wants_parallel(args):
        ds = read_folder_parallel(args.input, args.skeleton, args.jobs, args.scheduler)
        if ds is not None:
            args.dataset = (ds, "darwin")  # cli._read hands it to the serial command
    video = getattr(args, "video", None)
    if video is None or args.command != "convert":
        return serial(args)
    if args.to not in SLEAP_FORMATS:
        raise FormatError(f"--video applies to --to {'|'.join(SLEAP_FORMATS)}, not {args.to!r}")
    from . import cli
    from .formats.sleap import write_sleap

    ds, _ = cli._read(args, args.input)
    cli._report(write_sleap(ds, args.output, args.to, video=video))
    return 0
