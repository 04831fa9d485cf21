"""What the ``keyskel`` commands share: reading the input, writing the output, saying what was written.

Kept apart from :mod:`.main` so that the commands in :mod:`.models` and :mod:`.parallel` use them
without importing the command line itself (no import circle).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ..core.annotation_set import AnnotationSet

if TYPE_CHECKING:
    from ..formats import Format

__all__ = ["is_results", "read_input", "report_written", "write_output"]


def read_input(args: argparse.Namespace, path: str) -> tuple[AnnotationSet, str]:
    """The input file read (its format detected), or the data set the parallel read handed over."""
    if getattr(args, "dataset", None) is not None:  # already read (by Dask workers: cli_parallel)
        return args.dataset
    from ..formats import read_detected

    images = getattr(args, "images", None)
    return read_detected(path, getattr(args, "skeleton", None), images=images)


def write_output(ds: AnnotationSet, path: str, fmt: str, results: bool = False) -> list[Path]:
    """Write ``ds`` as ``fmt`` (COCO: as results when asked); the files written."""
    from ..formats import write

    if fmt == "coco":
        return write(ds, path, "coco", results=results)
    return write(ds, path, cast("Format", fmt))  # (formats.write says which it does not know)


def is_results(ds: AnnotationSet) -> bool:
    """True for a COCO results file (detections, not ground truth)."""
    meta = ds.meta.get("coco")
    return isinstance(meta, dict) and meta.get("kind") == "results"


def report_written(paths: list[Path]) -> None:
    """Print the files written."""
    print(f"wrote {len(paths)} file{'s' if len(paths) != 1 else ''}:")
    for p in paths:
        print(f"  {p}")
