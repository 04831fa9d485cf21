"""The ``keyskel`` command line: convert, interpolate, inspect and validate annotation files.

Examples
--------
``keyskel convert export/ poses.json --to coco`` (a folder of V7 Darwin files -> one COCO file),
``keyskel convert poses.json darwin_out/ --to darwin --skeleton mouse.skeleton.json``,
``keyskel interpolate sparse.json dense.json --method cubic``, ``keyskel info poses.json --json``,
``keyskel validate poses.json``.

Bad input prints one line on stderr and exits 1 (no traceback); usage errors exit 2. Things read
in a way the file's author may not expect (an edge dropped, generic node names) are printed on
stderr as ``keyskel <command>: warning: ...`` and do not change the exit code.

"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from .. import __version__
from ..core.annotation_set import AnnotationSet
from ..core.interpolate import Method
from ..core.wording import plural
from ..errors import FormatWarning, KeyskelError
from ..formats.sleap import SLEAP_FORMATS
from ._io import is_results, read_input, report_written, write_output
from .parallel import add_options as add_parallel_options

__all__ = ["main"]

_METHODS = Method.names()


def _cmd_convert(args: argparse.Namespace) -> int:
    ds, fmt = read_input(args, args.input)
    to = args.to or ("coco" if fmt == "darwin" else "darwin")
    results = bool(args.results or (to == "coco" and fmt == "coco" and is_results(ds)))
    report_written(write_output(ds, args.output, to, results))
    return 0


def _cmd_interpolate(args: argparse.Namespace) -> int:
    from ..core.keyframes import interpolate_all  # written alongside; imported only when needed

    ds, fmt = read_input(args, args.input)
    for store in ds.stores:
        interpolate_all(store, method=args.method)  # fills the store in place
    report_written(write_output(ds, args.output, fmt, is_results(ds)))
    return 0


def _kept(ds: AnnotationSet) -> dict[str, int]:
    """What a format keeps without modelling it (other categories, annotations of other types)."""
    coco: dict[str, Any] = ds.meta["coco"] if isinstance(ds.meta.get("coco"), dict) else {}
    darwin: dict[str, Any] = ds.meta["darwin"] if isinstance(ds.meta.get("darwin"), dict) else {}

    def listed(d: dict[str, Any], key: str) -> list[Any]:  # (kept meta may be damaged)
        v = d.get(key)
        return v if isinstance(v, list) else []

    other_v7 = sum(
        1
        for it in listed(darwin, "items")
        if isinstance(it, dict)
        for e in listed(it, "entries")
        if isinstance(e, dict) and "raw" in e
    )
    return {
        "other_categories": len(listed(coco, "categories")),
        "other_annotations": len(listed(coco, "annotations")) + other_v7,
    }


def _layout(ds: AnnotationSet) -> dict[str, Any]:
    """What the frames are: video frames (t, y, x), one volume (z, y, x) or time points of volumes.

    For 3-D points, ``slices`` is the range of z (rounded) the nodes are placed on.
    """
    import numpy as np

    stores = list(ds.stores)
    if not stores or all(s.coord_ndim == 2 for s in stores):
        return {"axes": "t, y, x" if stores and stores[0].frame_axis is not None else "y, x"}
    zs = [t.coords[..., 0][np.isfinite(t.coords[..., 0])] for s in stores if s.coord_ndim == 3 for t in s]
    z = np.concatenate(zs) if zs else np.zeros(0)
    slices = [int(np.round(z.min())), int(np.round(z.max()))] if z.size else None
    series = any(s.frame_axis is not None for s in stores if s.coord_ndim == 3)
    return {"axes": "t, z, y, x" if series else "z, y, x", "slices": slices}


def _summary(ds: AnnotationSet, fmt: str, path: str) -> dict[str, Any]:
    items = list(dict.fromkeys(str(fr.get("item")) for fr in ds.frames)) if ds.frames else []
    sets = []
    totals = {"instances": 0, "points": 0, "keys": 0, "interpolated": 0}
    for s in ds.stores:
        c = s.counts()
        generic = list(s.skeleton.nodes) == [f"kp{i}" for i in range(s.n_nodes)]
        sets.append(
            {
                "name": s.name,
                "nodes": list(s.skeleton.nodes),
                "generic_node_names": generic,
                "edges": len(s.skeleton.edges),
                **c,
            }
        )
        for k in totals:
            totals[k] += c[k]
    return {
        "path": str(path),
        "format": fmt,
        "items": len(items),
        "frames": ds.n_frames,
        "layout": _layout(ds),
        **totals,
        "annotation_sets": sets,
        "kept_unmodelled": _kept(ds),
    }


def _media(ds: AnnotationSet, path: str) -> dict[str, Any]:
    """The media file found for each item the file names (``None``: not found), and where looked."""
    from ..media.locate import locate_media

    plan = locate_media(ds, path)
    if not plan.named:
        return {"items": {}, "looked_for": {}}
    found = {item: (str(plan.located[item]) if item in plan.located else None) for item in plan.items}
    return {"items": found, "looked_for": plan.missing}


def _print_media(media: dict[str, Any]) -> None:
    items = media["items"]
    if not items:
        print("  media: the file names no image or video file")
        return
    n = sum(v is not None for v in items.values())
    print(f"  media: {n} of {len(items)} items found")
    for item, where in list(items.items())[:20]:
        if where is not None:
            print(f"    {item}: {where}")
        else:
            looked = media["looked_for"].get(item, [])
            more = ", …" if len(looked) > 3 else ""
            print(f"    {item}: not found (looked for {', '.join(looked[:3])}{more})")
    if len(items) > 20:
        print(f"    … and {len(items) - 20} more items")


def _frames_text(info: dict[str, Any]) -> str:
    """``frames: N``, or for 3-D points what the frames and slices are."""
    lay = info["layout"]
    where = f", nodes on slices {lay['slices'][0]}-{lay['slices'][1]}" if lay.get("slices") else ""
    if lay["axes"] == "z, y, x":
        return f"one volume (z, y, x){where}"
    if lay["axes"] == "t, z, y, x":
        return f"time points: {info['frames']} (volumes, t, z, y, x){where}"
    return f"frames: {info['frames']}"


def _cmd_info(args: argparse.Namespace) -> int:
    ds, fmt = read_input(args, args.input)
    info = _summary(ds, fmt, args.input)
    info["media"] = _media(ds, args.input)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['path']}: {fmt}")
    print(f"  items: {info['items']}  {_frames_text(info)}  instances: {info['instances']}")
    print(f"  points: {info['points']}  keys: {info['keys']}  interpolated: {info['interpolated']}")
    for s in info["annotation_sets"]:
        print(
            f"  - {s['name']}: {plural(len(s['nodes']), 'node')}, {plural(s['edges'], 'edge')}, "
            f"{plural(s['instances'], 'instance')}, "
            f"{s['frames']} {'volume' if info['layout']['axes'] == 'z, y, x' else 'frames'}, "
            f"{plural(s['keys'], 'key')}, {s['interpolated']} interpolated"
        )
        note = " (the file names none: named by position)" if s["generic_node_names"] else ""
        print(f"    nodes: {', '.join(s['nodes'])}{note}")
    _print_media(info["media"])
    kept = info["kept_unmodelled"]
    if any(kept.values()):
        print(
            f"  kept as read, not modelled: {plural(kept['other_categories'], 'category', 'categories')}, "
            f"{plural(kept['other_annotations'], 'annotation')} of other kinds"
        )
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    ds, fmt = read_input(args, args.input)
    info = _summary(ds, fmt, args.input)
    sets = "; ".join(
        f"{s['name']}: {plural(len(s['nodes']), 'node')}"
        f"{' (named by position)' if s['generic_node_names'] else ''}, "
        f"{plural(s['instances'], 'instance')}, {plural(s['points'], 'point')}"
        for s in info["annotation_sets"]
    )
    kept = info["kept_unmodelled"]
    more = (
        f"; kept as read: {plural(kept['other_annotations'], 'other annotation')}"
        if kept["other_annotations"]
        else ""
    )
    counts = f"{plural(info['instances'], 'instance')}, {plural(info['points'], 'point')}"
    print(f"OK {args.input}: {fmt}, {_frames_text(info)}, {plural(len(ds.stores), 'annotation set')}, "
          f"{counts} ({sets or 'no keypoints'}){more}")  # fmt: skip
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="keyskel",
        description="Keypoint-skeleton annotations: V7 Darwin JSON 2.0, COCO keypoints and CVAT XML 1.1, "
        "and through sleap-io SLEAP, DeepLabCut, YOLO-pose, NWB and Label Studio.",
    )
    p.add_argument("--version", action="version", version=f"keyskel {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "input", metavar="INPUT", help="a Darwin or COCO .json file, or a folder of Darwin files"
        )
        sp.add_argument("--skeleton", metavar="FILE", help="skeleton file (.skeleton.json) for the data")
        sp.add_argument(
            "--images", metavar="GT", help="COCO ground truth whose images a results INPUT refers to"
        )

    c = sub.add_parser(
        "convert", help="convert between V7 Darwin, COCO keypoints, CVAT XML and the sleap-io formats (--to)"
    )
    common(c)
    c.add_argument("output", metavar="OUTPUT", help="output .json file (or folder, for Darwin)")
    to_help = "output format (default: the other one of darwin/coco)"
    c.add_argument("--to", choices=("darwin", "coco", "cvat", *SLEAP_FORMATS), help=to_help)
    c.add_argument(
        "--results", action="store_true", help="write COCO keypoint results instead of ground truth"
    )
    c.set_defaults(func=_cmd_convert)
    add_parallel_options(c)  # --jobs, --scheduler, --video (cli_parallel)

    i = sub.add_parser("interpolate", help="fill every span between keys, write the same format")
    common(i)
    i.add_argument("output", metavar="OUTPUT", help="output file (or folder, for Darwin)")
    i.add_argument("--method", choices=_METHODS, default="linear", help="interpolation (default: linear)")
    i.set_defaults(func=_cmd_interpolate)

    n = sub.add_parser("info", help="summarise a file: format, items, frames, instances, keys")
    common(n)
    n.add_argument("--json", action="store_true", help="print the summary as JSON")
    n.set_defaults(func=_cmd_info)

    v = sub.add_parser("validate", help="exit 0 if the file reads cleanly, else print the error, exit 1")
    common(v)
    v.set_defaults(func=_cmd_validate)
    add_parallel_options(v)
    from .review import add_commands  # review, compare (napari_keyskel/cli/review.py)

    add_commands(sub, common)
    from .models import register  # keyskel propagate / accept (models in the loop)

    register(sub)
    from .predict import register as add_predict  # keyskel predict MODEL MEDIA --out RESULTS

    add_predict(sub)
    from .triangulate import add_triangulate_parser  # keyskel triangulate (3D, multi-view)

    add_triangulate_parser(sub)
    __import__("napari_keyskel.cli.dataset", fromlist=["register"]).register(sub)  # keyskel dataset, suggest
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 bad input, 2 usage error)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    error: str | None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FormatWarning)
        try:
            code = int(args.func(args))
        except KeyskelError as exc:
            code, error = 1, str(exc)
        except OSError as exc:
            code, error = 1, f"{exc.strerror or exc}: {exc.filename or ''}"
        else:
            error = None
    for w in caught:
        if issubclass(w.category, FormatWarning):
            print(f"keyskel {args.command}: warning: {w.message}", file=sys.stderr)
        else:  # not ours: hand it back to the warnings machinery
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if error is not None:
        print(f"keyskel {args.command}: error: {error}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
