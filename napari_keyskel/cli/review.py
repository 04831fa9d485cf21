"""``keyskel review`` and ``keyskel compare``: review flags and inter-annotator agreement for pipelines.

``keyskel review FILE [--json] [--kinds swap,jump,...] [--strict] [--threshold NAME=VALUE ...]`` prints
the detectors' flags (:mod:`napari_keyskel.assist.review.detectors`) with their review state, and exits
1 when a flag's (frame, instance) has no review state (``--strict``: or is marked ``needs_fix``),
0 otherwise. ``--json`` prints a list of ``{"frame", "track_id", "node", "kind", "score"}`` (frame:
the store's 0-based frame index; node: a name or null), plus ``"annotation_set"`` when the file
holds several.

``keyskel compare A B [--json] [--match auto|id|oks] [--skeleton FILE]`` prints the agreement of
``B`` with the reference ``A`` (:mod:`napari_keyskel.assist.review.agreement`); ``--json`` an object with
``oks``, ``pck``, ``mean_error``, ``per_node`` (node name -> ``{"oks", "pck", "mean_error"}``),
``worst``, ``pairs`` and ``unmatched``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..core.annotation_set import AnnotationSet
from ..errors import KeyskelError

__all__ = ["add_commands"]


def _kinds(text: str) -> list[str]:
    from ..assist.review.flags import KINDS

    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"unknown kind(s) {bad or text!r}; choose from {','.join(KINDS)}")
    return kinds


def _threshold(text: str) -> tuple[str, float]:
    from ..assist.review.detectors import Thresholds

    name, _, value = text.partition("=")
    if name not in Thresholds.names():
        raise argparse.ArgumentTypeError(
            f"unknown threshold {name!r}; known: {', '.join(Thresholds.names())}"
        )
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold {name} needs a number, got {value!r}") from None


def _read(path: str, skeleton: str | None, images: str | None = None) -> AnnotationSet:
    from ..formats import read_detected

    return read_detected(path, skeleton, images=images)[0]


def _cmd_review(args: argparse.Namespace) -> int:
    from ..assist.review import Thresholds, detect
    from ..assist.review.states import state_of_flags

    ds = _read(args.input, args.skeleton, args.images)
    th = Thresholds(**dict(args.threshold or []))
    rows: list[dict[str, Any]] = []
    n_open = n_flags = 0
    lines: list[str] = []
    for store in ds.stores:
        flags = detect(store, args.kinds, th)
        states = state_of_flags(store, flags)
        open_ = (states == "") | (args.strict & (states == "needs_fix"))
        n_open += int(open_.sum())
        n_flags += len(flags)
        recs = flags.records(store.skeleton)
        for rec, st in zip(recs, states.tolist()):
            if len(ds.stores) > 1:
                rec["annotation_set"] = store.name
            rows.append(rec)
            name = store.tracks[rec["track_id"]].name
            lines.append(
                f"frame {rec['frame']:>6}  {name} (track {rec['track_id']})  {rec['node'] or '-'}  "
                f"{rec['kind']}  {rec['score']:.2f}  [{st or 'unreviewed'}]"
            )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("\n".join(lines))
        what = "unreviewed" + (" or needing a fix" if args.strict else "")
        print(f"{args.input}: {n_flags} flag{'s' if n_flags != 1 else ''}, {n_open} {what}")
    return 1 if n_open else 0


def _frame_map(da: AnnotationSet, db: AnnotationSet) -> np.ndarray | None:
    """``b``'s frame for each of ``a``'s, by (item, frame) of the frame tables (None: by index)."""
    if not da.frames or not db.frames:
        return None

    def key(fr: dict[str, Any]) -> tuple[str, Any]:
        return (Path(str(fr.get("item"))).name, fr.get("frame", 0))

    where = {key(fr): i for i, fr in enumerate(db.frames)}
    fmap = np.asarray([where.get(key(fr), -1) for fr in da.frames], np.int64)
    if not (fmap >= 0).any():
        raise KeyskelError("the two files share no item: they do not annotate the same images or videos")
    return fmap


def _cmd_compare(args: argparse.Namespace) -> int:
    from ..assist.review.agreement import compare_stores
    from ..core.skeleton import Skeleton

    da, db = _read(args.a, args.skeleton), _read(args.b, args.skeleton)
    if len(da.stores) == 1 and len(db.stores) == 1 and args.set is None:
        a, b = da.stores[0], db.stores[0]
    else:
        names = [s.name for s in da.stores if s.name in {t.name for t in db.stores}]
        if args.set is None and len(names) != 1:
            raise KeyskelError(f"the files share annotation sets {names}: choose one with --set NAME")
        a, b = da.store(args.set or names[0]), db.store(args.set or names[0])
    sigmas = None
    if args.skeleton:  # the file's own sigmas, by node name (a format may not carry them)
        sk = Skeleton.load(args.skeleton)
        if sk.sigmas is not None:
            by_name = dict(zip(sk.nodes, sk.sigmas))
            missing = [n for n in a.skeleton.nodes if n not in by_name]
            if missing:
                raise KeyskelError(f"{args.skeleton}: no OKS sigma for nodes {missing}")
            sigmas = [by_name[n] for n in a.skeleton.nodes]
    ag = compare_stores(a, b, sigmas, _frame_map(da, db), args.match, args.worst)
    if args.json:
        print(json.dumps(ag.to_dict(), indent=2))
        return 0
    _print_agreement(args, ag)
    return 0


def _fmt(x: float | None, pattern: str = "{:.3f}") -> str:
    return "-" if x is None else pattern.format(x)


def _print_agreement(args: argparse.Namespace, ag: Any) -> None:
    pck = ag.pck
    print(f"{args.b} against {args.a}: {ag.pairs} instance pairs "
          f"({ag.unmatched['a']} of A and {ag.unmatched['b']} of B unpaired)")  # fmt: skip
    print(f"  OKS {_fmt(ag.oks)}  PCK@0.05 {_fmt(pck['0.05'])}  PCK@0.1 {_fmt(pck['0.1'])}  "
          f"mean error {_fmt(ag.mean_error, '{:.2f}')} px")  # fmt: skip
    width = max((len(n) for n in ag.per_node), default=4)
    print(f"  {'node':<{width}}  OKS    PCK@.05 PCK@.1 error")
    for name, v in ag.per_node.items():
        print(f"  {name:<{width}}  {_fmt(v['oks'])}  {_fmt(v['pck']['0.05'])}   {_fmt(v['pck']['0.1'])}  "
              f"{_fmt(v['mean_error'], '{:.2f}')}")  # fmt: skip
    if ag.worst:
        print("  worst frames: " + ", ".join(
            f"{w['frame']} (OKS {_fmt(w['oks'])}, {_fmt(w['mean_error'], '{:.1f}')} px)" for w in ag.worst
        ))  # fmt: skip


def add_commands(sub: Any, common: Any) -> None:
    """Add ``review`` and ``compare`` to the ``keyskel`` subcommands (``common``: INPUT options)."""
    from ..assist.review.flags import KINDS

    r = sub.add_parser(
        "review", help="print the review flags; exit 1 while any is unreviewed (a pipeline gate)"
    )
    common(r)
    r.add_argument("--json", action="store_true", help="print the flags as a JSON list")
    r.add_argument(
        "--kinds", type=_kinds, metavar="K1,K2", help=f"only these detectors (of {','.join(KINDS)})"
    )
    r.add_argument("--strict", action="store_true", help="flags marked needs_fix also count as open")
    r.add_argument(
        "--threshold", action="append", type=_threshold, metavar="NAME=VALUE",
        help="change a detector threshold (e.g. jump_z=6); repeatable",
    )  # fmt: skip
    r.set_defaults(func=_cmd_review)

    c = sub.add_parser("compare", help="agreement of two annotation files: OKS, PCK, pixel error per node")
    c.add_argument("a", metavar="A", help="the reference file (or Darwin folder)")
    c.add_argument("b", metavar="B", help="the file compared with it")
    c.add_argument("--json", action="store_true", help="print the figures as a JSON object")
    c.add_argument("--match", choices=("auto", "id", "oks"), default="auto",
                   help="pair instances by track id, by OKS, or by id then OKS (default)")  # fmt: skip
    c.add_argument("--skeleton", metavar="FILE", help="skeleton file (its per-node 'sigma' sets the OKS)")
    c.add_argument("--set", metavar="NAME", help="the annotation set (class / category) to compare")
    c.add_argument("--worst", type=int, default=10, metavar="N", help="how many worst frames (default 10)")
    c.set_defaults(func=_cmd_compare)
