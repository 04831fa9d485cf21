"""``keyskel convert`` / ``validate`` over a folder of many Darwin items, in parallel on Dask.

A read has two phases (see :mod:`napari_keyskel.formats.darwin`): parsing each file into flat
records, then one pass over all records that resolves each class's skeleton and numbers the
tracks (``instance_id`` s kept unique over the folder). Here the Dask workers (local processes by
default, or a ``dask.distributed`` cluster given by ``--scheduler ADDRESS``, whose workers must
see the files) parse contiguous chunks of the folder's files; the main process renumbers each
chunk's node-name codes into the folder's tables (first seen, in file order, as the serial
reader builds them) and runs the serial reader's own second phase on the records. So the
dataset *is* the serial read, instance ids and all, and errors and warnings are the serial
read's too (the first error in file order; warnings re-emitted in file order).

``convert --to coco`` then builds the COCO document's images and annotations in the workers,
frame range by frame range (:mod:`napari_keyskel.formats.coco.parallel`); other outputs are written by
the serial writer.

Used from :mod:`napari_keyskel.cli.main` (``--jobs``, ``--scheduler``, ``--video``); the serial path
is taken for a single file, for ``--jobs 1``, and for folders under :data:`AUTO_PARALLEL` files
unless ``--jobs`` or ``--scheduler`` asks for workers.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from ..core.annotation_set import AnnotationSet
from ..errors import FormatError, FormatWarning

__all__ = ["AUTO_PARALLEL", "Engine", "add_options", "read_folder_parallel"]

#: A folder with at least this many Darwin files is read in parallel without ``--jobs``.
AUTO_PARALLEL = 256


class Engine:
    """Where tasks run: Dask on local worker processes, or on a ``dask.distributed`` cluster.

    The local processes are started once (by fork on Linux: milliseconds, not the half second
    of a fresh interpreter), before the big data exists, and serve every :meth:`map`: a process
    forked later would share the main process's pages, and every write to them afterwards (even
    freeing the dataset) would copy a page.
    """

    def __init__(self, jobs: int | None = None, scheduler: str | None = None) -> None:
        self.workers = jobs or os.cpu_count() or 1
        self.client = None
        self.pool: Any = None  # a ProcessPoolExecutor once started
        if scheduler is not None:
            try:
                from distributed import Client
            except ImportError:
                raise FormatError(
                    'a --scheduler needs dask.distributed: pip install "napari-keyskel[distributed]"'
                ) from None
            self.client = Client(scheduler)
            self.workers = max(1, sum(self.client.nthreads().values()))

    def start(self) -> Engine:
        """Start the local worker processes now (else at the first :meth:`map`)."""
        if self.client is None and self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # imported before the fork, so that no worker imports them again for its first task
            import dask.local  # noqa: F401

            from ..formats import darwin  # noqa: F401
            from ..formats.coco import parallel as parallel_coco  # noqa: F401

            method = "fork" if sys.platform.startswith("linux") else "spawn"
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(method))
            for f in [self.pool.submit(int) for _ in range(self.workers)]:
                f.result()  # (the workers are forked at the first task)
        return self

    def map(self, func: Callable[[Any], Any], payloads: Sequence[Any]) -> list[Any]:
        """``[func(p) for p in payloads]``, run by the workers, results in order."""
        if self.client is not None:  # (big payloads scattered first: not inside the graph)
            return self.client.gather(self.client.map(func, self.client.scatter(list(payloads)), pure=False))
        import dask
        from dask.local import get_async

        from ..formats._jsonio import gc_paused

        self.start()
        # (payloads as opaque objects: else Dask walks every list and dict in them into its graph)
        tasks = [dask.delayed(func)(dask.delayed(p, traverse=False)) for p in payloads]
        # every task handed to the pool at once: the next payload is pickled while a worker computes
        schedule = partial(get_async, self.pool.submit, max(1, len(tasks)))
        with gc_paused():  # (results are unpickled here: millions of small objects, no cycles)
            return list(dask.compute(*tasks, scheduler=schedule, chunksize=1))

    def close(self) -> None:
        """Stop the local workers, or close the cluster client."""
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
        if self.client is not None:
            self.client.close()
            self.client = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chunk_bounds(n: int, n_chunks: int) -> list[tuple[int, int]]:
    """``n_chunks`` (at most ``n``) contiguous, near-equal ``[a, b)`` ranges covering ``range(n)``."""
    bounds = np.linspace(0, n, max(1, min(n, n_chunks)) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in pairwise(bounds) if b > a]


# -- phase 1 in the workers ---------------------------------------------------------------------
def _parse_chunk(chunk: tuple[list[str], list[str]]) -> dict[str, Any]:
    """Worker: parse a chunk of files (paths, keys) with its own name tables.

    Returns the records, the tables, the warnings raised (to re-emit in the main process) and
    the first :class:`FormatError` as ``(reason, path, where)``, which stops the chunk as it
    stops a serial read.
    """
    from ..formats._jsonio import gc_paused
    from ..formats.darwin import parse_files

    files, keys = chunk
    tables: dict[str, dict[str, int]] = {}
    out: dict[str, Any] = {"items": [], "volume": [], "tables": tables, "error": None}
    with warnings.catch_warnings(record=True) as caught, gc_paused():
        warnings.simplefilter("always")
        try:
            out["items"], out["volume"] = parse_files([Path(f) for f in files], keys, tables)
        except FormatError as exc:
            out["error"] = (exc.reason, exc.path, exc.where)
    out["warnings"] = [_portable(w) for w in caught]
    return out


def _portable(w: warnings.WarningMessage) -> tuple:
    m = w.message
    msg = (m.reason, m.path, m.where) if isinstance(m, FormatWarning) else (str(m),)
    return (w.category, msg, w.filename, w.lineno)


def _reemit(portable: tuple) -> None:
    category, msg, filename, lineno = portable
    message = FormatWarning(*msg) if issubclass(category, FormatWarning) else category(*msg)
    warnings.warn_explicit(message, category, filename, lineno)


def _renumber(part: dict[str, Any], tables: dict[str, dict[str, int]]) -> None:
    """The chunk's node-name codes as codes into the folder's tables (extended in first-seen order)."""
    luts = {}
    for cls, local in part["tables"].items():
        table = tables.setdefault(cls, {})
        lut = np.fromiter((table.setdefault(n, len(table)) for n in local), np.intp, len(local))
        if not np.array_equal(lut, np.arange(lut.size)):
            luts[cls] = lut
    if luts:
        for it in part["items"]:
            for r in it.records:
                if r.kind == "skeleton" and r.cls in luts:
                    r.codes = luts[r.cls][r.codes]


def read_folder_parallel(
    folder: str | os.PathLike[str],
    skeleton: Any = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    engine: Engine | None = None,
    listing: tuple[list[Path], list[str], list[Path]] | None = None,
) -> AnnotationSet:
    """The Darwin folder's dataset, its files parsed by Dask workers: the serial read's dataset.

    Parameters
    ----------
    folder
        A folder of V7 Darwin files (read recursively, as :func:`~napari_keyskel.formats.darwin.read_darwin`).
    skeleton
        As for :func:`~napari_keyskel.formats.darwin.read_darwin`.
    jobs, scheduler
        Worker processes, or a ``dask.distributed`` scheduler address (used when no ``engine``).
    engine
        Where to run the tasks (its workers are reused; not closed here).
    listing
        The folder's files, keys and folders, if already listed.

    Raises
    ------
    FormatError
        The serial read's error: the first in file order, naming the file and the place.

    """
    from ..formats._checks import check_path
    from ..formats._jsonio import gc_paused
    from ..formats.coco.parallel import CHUNKS_PER_WORKER
    from ..formats.darwin import dataset_of, folder_files, order_items, skeleton_arg

    path = check_path(folder)
    if not path.is_dir():
        raise FormatError("not a folder", path)
    skeleton = skeleton_arg(skeleton)
    files, keys, dirs = listing or folder_files(path)
    own = engine or Engine(jobs, scheduler)
    try:
        n_chunks = own.workers * CHUNKS_PER_WORKER
        chunks = [([str(f) for f in files[a:b]], keys[a:b]) for a, b in chunk_bounds(len(files), n_chunks)]
        parts = own.map(_parse_chunk, chunks)
    finally:
        if engine is None:
            own.close()
    with gc_paused():
        tables: dict[str, dict[str, int]] = {}
        items, volume = [], []
        for part in parts:  # in file order, as the serial read meets them
            for w in part["warnings"]:
                _reemit(w)
            if part["error"] is not None:
                raise FormatError(*part["error"])
            _renumber(part, tables)
            items += part["items"]
            volume += part["volume"]
        items = order_items(items, volume, path)
        return dataset_of(items, dirs, volume, skeleton, tables, path)


# -- command-line glue ----------------------------------------------------------------------------
def add_options(sub: argparse.ArgumentParser) -> None:
    """Add ``--jobs``/``--scheduler`` (and ``--video`` for convert) and route the command through here."""
    serial = sub.get_default("func")
    sub.add_argument(
        "--jobs", type=_positive, metavar="N", help="Dask worker processes for a folder (1: serial)"
    )
    sub.add_argument(
        "--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler to read a folder on"
    )
    if serial.__name__ == "_cmd_convert":
        sub.add_argument(
            "--video", metavar="PATH", help="the frames' video or images (YOLO-pose stores images)"
        )
    sub.set_defaults(func=lambda args: run(args, serial))


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {n}")
    return n


def _parallel_listing(args: argparse.Namespace) -> tuple | None:
    """The Darwin folder's files (as :func:`~napari_keyskel.formats.darwin.folder_files`) if read on Dask."""
    p = Path(args.input)
    if not p.is_dir() or args.jobs == 1 or getattr(args, "images", None) is not None:
        return None
    from ..formats import detect_format
    from ..formats.darwin import folder_files

    try:
        if detect_format(p) != "darwin":
            return None
        listing = folder_files(p)
    except FormatError:
        return None  # (the serial command says what is wrong)
    return listing if args.jobs or args.scheduler or len(listing[0]) >= AUTO_PARALLEL else None


def run(args: argparse.Namespace, serial: Callable[[argparse.Namespace], int]) -> int:
    """Run a command: a large Darwin folder read (and a COCO file built) on Dask, the rest serially."""
    from ..formats.sleap import SLEAP_FORMATS

    video = getattr(args, "video", None)
    if video is not None and (args.command != "convert" or args.to not in SLEAP_FORMATS):
        raise FormatError(f"--video applies to --to {'|'.join(SLEAP_FORMATS)}, not {args.to!r}")
    listing = _parallel_listing(args)
    if listing is None:
        return serial(args) if video is None else _write_sleap(args, video)
    with Engine(args.jobs, args.scheduler).start() as engine:
        ds = read_folder_parallel(args.input, args.skeleton, engine=engine, listing=listing)
        args.dataset = (ds, "darwin")  # cli.read_input hands it to the serial command
        if args.command == "convert" and (args.to or "coco") == "coco" and not args.results:
            from ..formats.coco.parallel import write_coco_parallel
            from ._io import report_written

            paths = write_coco_parallel(ds, args.output, engine)
            if paths is not None:
                report_written(paths)
                return 0
    return serial(args) if video is None else _write_sleap(args, video)


def _write_sleap(args: argparse.Namespace, video: str) -> int:
    from ..formats.sleap import write_sleap
    from ._io import read_input, report_written

    ds, _ = read_input(args, args.input)
    report_written(write_sleap(ds, args.output, args.to, video=video))
    return 0
