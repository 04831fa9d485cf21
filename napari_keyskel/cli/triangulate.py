"""``keyskel triangulate CALIB.toml VIEW_FILES... OUT``: 3D points from calibrated views.

VIEW_FILES are one V7 Darwin / COCO file per camera (views named after the file stems, or
``--views``), or one V7 file whose item has one slot per camera (views named after the slots).
Views are matched to the calibration's cameras by name, else by order. OUT is a CSV of
``frame, track, node, x, y, z, error`` (world coordinates; ``error`` is the node's mean
reprojection error in pixels). ``--proposals DIR`` also writes, per view, a CSV of the nodes
that view lacks, reprojected from the others (``frame, track, node, x, y, error``, pixels in
OpenCV's (x, y)).
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from ..core._atomic import atomic_write_text
from ..core.wording import plural
from ..errors import KeyskelError
from ..multiview.calibration import read_calibration
from ..multiview.views import (
    MultiView,
    proposals_table,
    triangulate_views,
    views_from_dataset,
    views_from_stores,
    write_points_csv,
)

__all__ = ["add_triangulate_parser", "read_views"]


def _one_store(ds: Any, path: str, cls: str | None):
    if cls is not None:
        return ds.store(cls)
    if len(ds.stores) != 1:
        raise KeyskelError(
            f"{path}: {len(ds.stores)} annotation sets {[s.name for s in ds.stores]}; choose --class"
        )
    return ds.stores[0]


def read_views(
    paths: list[str], skeleton: str | None = None, cls: str | None = None, names: list[str] | None = None
) -> MultiView:
    """The views in ``paths`` (see the module docstring)."""
    from ..formats import read_detected

    if len(paths) == 1:
        ds, _ = read_detected(paths[0], skeleton)
        mv = views_from_dataset(ds, cls)
    else:
        stores = [_one_store(read_detected(p, skeleton)[0], p, cls) for p in paths]
        mv = views_from_stores([Path(p).name.split(".")[0] for p in paths], stores)
    if names:
        if len(names) != len(mv.names):
            raise KeyskelError(f"--views names {len(names)} views, the files hold {len(mv.names)}")
        mv = MultiView(list(names), mv.stores)
    return mv


def _proposals_csv(path: Path, mv: MultiView, table: dict[str, np.ndarray]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", "track", "node", "x", "y", "error"])
    nodes = mv.skeleton.nodes
    for f, t, k, yx, e in zip(table["frame"], table["track"], table["node"], table["yx"], table["error"]):
        w.writerow([int(f), int(t), nodes[int(k)], repr(float(yx[1])), repr(float(yx[0])), repr(float(e))])
    atomic_write_text(path, buf.getvalue())


def _cmd_triangulate(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix.lower() != ".csv":
        raise KeyskelError(f"{out}: OUT must be a .csv file (frame, track, node, x, y, z)")
    cal = read_calibration(args.calibration)
    names = args.views.split(",") if args.views else None
    mv = read_views(args.view_files, args.skeleton, args.cls, names)
    res = triangulate_views(
        mv, cal, keys_only=args.keys_only, min_views=args.min_views, refine=not args.no_refine
    )
    tri = res.triangulation
    write_points_csv(out, res.store, tri.mean_error, res.frames, res.track_ids)
    n3d = int(np.isfinite(tri.points[..., 0]).sum())
    print(f"triangulated {plural(n3d, 'node')} from {plural(len(mv.names), 'view')} -> {out}")
    for v, name in enumerate(mv.names):
        err = tri.errors[v]
        mean = float(np.nanmean(err)) if np.isfinite(err).any() else float("nan")
        print(f"  {name}: {int(np.isfinite(err).sum())} seen, mean reprojection error {mean:.2f} px, "
              f"{plural(int(tri.proposals[v].sum()), 'proposal')}")  # fmt: skip
    if args.proposals:
        folder = Path(args.proposals)
        folder.mkdir(parents=True, exist_ok=True)
        for v, name in enumerate(mv.names):
            p = folder / f"{name.replace('/', '_')}.proposals.csv"
            _proposals_csv(p, mv, proposals_table(res, v))
            print(f"  proposals for {name}: {p}")
    return 0


def add_triangulate_parser(sub: Any) -> None:
    """Register ``keyskel triangulate`` on the command line's subparsers."""
    t = sub.add_parser(
        "triangulate", help="3D points from >= 2 calibrated views (Anipose calibration TOML) as CSV"
    )
    t.add_argument("calibration", metavar="CALIB.toml", help="Anipose / aniposelib calibration file")
    t.add_argument(
        "view_files", metavar="VIEW_FILES", nargs="+", help="one file per view, or one multi-slot V7 file"
    )
    t.add_argument("output", metavar="OUT", help="output .csv (frame, track, node, x, y, z, error)")
    t.add_argument("--skeleton", metavar="FILE", help="skeleton file (.skeleton.json) for the views")
    t.add_argument(
        "--class", dest="cls", metavar="NAME", help="the annotation set to use when a file has several"
    )
    t.add_argument("--views", metavar="A,B,...", help="view names (= camera names), in file or slot order")
    t.add_argument("--keys-only", action="store_true", help="use only keys, not interpolated positions")
    t.add_argument("--min-views", type=int, default=2, help="views that must see a node (default 2)")
    t.add_argument("--no-refine", action="store_true", help="linear DLT only, no least-squares refinement")
    t.add_argument("--proposals", metavar="DIR", help="write <view>.proposals.csv for nodes a view lacks")
    t.set_defaults(func=_cmd_triangulate)
