"""``keyskel convert`` / ``validate`` over a folder of many Darwin items, in parallel on Dask.

The files of a folder are read in chunks by Dask workers (local processes by default, or a
``dask.distributed`` cluster given by ``--scheduler ADDRESS``), each chunk file by file with the
ordinary reader, and the per-file datasets are merged in folder order into the dataset the serial
reader makes: frames concatenated, one store per class in order of first appearance, tracks
numbered per class as the serial reader numbers them (V7 ``instance_id`` s unique over the folder
kept, the others numbered in order). That merge equals the serial read when every file resolves a
class to the same skeleton and names instance ids on all or none of its annotations; otherwise the
folder is read serially, with a note on stderr.
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
from pathlib import Path
from typing import Any

from .dataset import Dataset
from .errors import FormatError
from .skeleton import SKELETON_FILE_SUFFIX

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


def _read_chunk(files: Sequence[str], skeleton: str | None) -> list[tuple[Dataset, int]]:
    """Worker: each file read alone, and how many V7 ``instance_id`` s it names."""
    from .formats.darwin import read_darwin

    out = []
    for f in files:
        ds = read_darwin(f, skeleton)
        with open(f, "rb") as fh:
            n_ids = fh.read().count(b'"instance_id"')
        out.append((ds, n_ids))
    return out


def _instance_ids(parts: Sequence[tuple[Dataset, int]], keys: Sequence[str]) -> list[bool]:
    """Per file: True if every track's id is its V7 instance id, False if none has one.

    A file whose count of ``instance_id`` s is neither 0 nor its number of tracks (ids on some
    annotations only, or per frame) cannot be merged exactly.
    """
    out = []
    for key, (ds, n_ids) in zip(keys, parts):
        n_tracks = sum(len(s) for s in ds.stores)
        if n_ids not in (0, n_tracks):
            raise _NotExact(f"{key} gives instance ids to some annotations only")
        out.append(n_ids > 0)
    return out


def _global_ids(raw: list[int | None]) -> list[int]:
    """Track ids of a class over the folder from V7 instance ids (``None``: none), as the serial reader.

    Instance ids unique in the class are kept; the others get the next free numbers, in order.
    """
    counts: dict[int, int] = {}
    for v in raw:
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    used = {v for v, c in counts.items() if c == 1}
    nxt, out = max(used, default=0) + 1, []
    for v in raw:
        if v is not None and v in used:
            out.append(v)
            continue
        while nxt in used:
            nxt += 1
        out.append(nxt)
        nxt += 1
    return out


def merge_darwin(folder: Path, files: Sequence[Path], parts: Sequence[tuple[Dataset, int]]) -> Dataset:
    """The folder's dataset from its files' datasets (see the module docstring for when it is exact)."""
    keys = [f.relative_to(folder).as_posix() for f in files]
    with_ids = _instance_ids(parts, keys)
    frames: list[dict[str, Any]] = []
    stores: dict[str, Any] = {}
    raw: dict[str, list[int | None]] = {}
    tracks: dict[str, list[Any]] = {}
    items: list[dict[str, Any]] = []
    for key, ids, (ds, _) in zip(keys, with_ids, parts):
        offset = len(frames)
        for fr in ds.frames:
            frames.append({**fr, "darwin_file": key} if "darwin_file" in fr else dict(fr))
        for it in ds.meta.get("darwin", {}).get("items", []):
            items.append({**it, "key": key})
        for s in ds.stores:
            merged = stores.get(s.name)
            if merged is None:
                merged = s.copy()
                merged.tracks = {}
                stores[s.name] = merged
            elif merged.skeleton != s.skeleton or merged.meta != s.meta:
                raise _NotExact(f"class {s.name!r} resolves to another skeleton in {key}")
            for t in s:
                t.start += offset
                if isinstance(t.meta.get("darwin"), dict) and "file" in t.meta["darwin"]:
                    t.meta["darwin"]["file"] = key
                raw.setdefault(s.name, []).append(t.track_id if ids else None)
                tracks.setdefault(s.name, []).append(t)
    for name, store in stores.items():
        for t, tid in zip(tracks.get(name, []), _global_ids(raw.get(name, []))):
            t.track_id, t.name = tid, f"instance {tid}"
            store.tracks[tid] = t
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
    chunks = [[str(f) for f in files[i::n_chunks]] for i in range(n_chunks)]  # strided: even sizes
    tasks = [dask.delayed(_read_chunk)(c, skeleton) for c in chunks]
    client = _client(scheduler)
    try:
        if client is not None:
            results = client.compute(tasks, sync=True)
        else:
            results = dask.compute(*tasks, scheduler="processes", num_workers=workers)
    finally:
        if client is not None:
            client.close()
    by_file: dict[str, tuple[Dataset, int]] = {}
    for chunk, res in zip(chunks, results):
        by_file.update(zip(chunk, res))
    try:
        return merge_darwin(folder, files, [by_file[str(f)] for f in files])
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
