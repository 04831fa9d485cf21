"""Fuzz the COCO and V7 Darwin readers with mutated real files; print what escapes, by type.

Run: ``python benchmarks/fuzz_formats.py [--inputs 10000] [--seed 0] [--timeout 10]``.

Seeds are the real files in ``tests/data`` (V7 exports, COCO ground truth and results, the
dialect files) and files our writers make (with every ``keyskel`` extra). Each input applies 1-3
mutations: at a random place in the JSON tree, delete a key, rename it, or put a hostile value
there (wrong types, NaN, 26-digit numbers, ``true``/``false``, 10^9 frame counts, 10^11 frame
keys, values nested 1,000 deep, objects where strings belong); or, on the text, truncate it,
flip bytes or insert invalid UTF-8. Also a few special paths (a FIFO, a folder, a NUL byte, a
side skeleton file with invalid UTF-8 or deep nesting). Every input must read cleanly or raise
:class:`~napari_keyskel.errors.FormatError` naming the file: anything else is printed with the
mutation that caused it, and an input taking longer than ``--timeout`` seconds counts as a hang.
Whatever reads must also write (to the other format and back to its own).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT))

from napari_keyskel.errors import FormatError  # noqa: E402
from napari_keyskel.formats import read  # noqa: E402
from napari_keyskel.formats.coco import read_coco, write_coco  # noqa: E402
from napari_keyskel.formats.darwin import read_darwin, write_darwin  # noqa: E402


def _deep(n: int) -> Any:
    v: Any = 1
    for _ in range(n):
        v = [v]
    return v


#: A value nested 1,000 deep, spliced into the JSON text (Python's own copy and json would recurse).
DEEP = "__deep_1000__"
_DEEP_TEXT = b"[" * 1000 + b"1" + b"]" * 1000

#: Values put in place of whatever was there.
HOSTILE: list[Any] = [
    None, "7", "", "x", "0", "-1", math.nan, math.inf, -math.inf, [], [1, 2], [[1, 2]], {}, {"x": 1},
    True, False, -1, 0, 1, 2, 3, 2.5, 0.5, 10**25, -(10**25), 10**400, 1e300, 10**9, 10**11, 2**63,
    "\ud83d\ude00", "a/b", "../x", _deep(50), DEEP, {"value": 10**30}, [0, 10**11],
    [[0, 10**11]], {"0": {"x": 1}}, ["kp"] * 3,
]  # fmt: skip
#: Keys inserted next to existing ones (our extras, V7 and COCO keys) with a hostile value.
KEYS = ["keyskel", "frame_count", "frames", "ranges", "instance_id", "track_id", "slot", "video_id",
        "vid_id", "keypoints", "skeleton", "score", "frame_index", "item", "hidden_areas"]  # fmt: skip


def _places(obj: Any, path: tuple = (), out: list | None = None, limit: int = 400) -> list[tuple]:
    out = [] if out is None else out
    out.append(path)
    if len(out) > limit:
        return out
    if isinstance(obj, dict):
        for k, v in obj.items():
            _places(v, (*path, k), out, limit)
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:5]):
            _places(v, (*path, i), out, limit)
    return out


def mutate_tree(doc: Any, rng: random.Random) -> tuple[Any, str]:
    """One structural mutation of a parsed document; returns it and a description."""
    paths = _places(doc)
    path = rng.choice(paths)
    op = rng.choice(["delete", "replace", "replace", "replace", "rename", "insert"])
    value = copy.deepcopy(rng.choice(HOSTILE))
    if not path:
        return (value, f"replace the document with {_short(value)}") if op == "replace" else (doc, "nothing")
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    last = path[-1]
    if op == "delete":
        del parent[last]
    elif op == "rename" and isinstance(parent, dict):
        parent[f"{last}_x"] = parent.pop(last)
    elif op == "insert" and isinstance(parent, dict):
        key = rng.choice(KEYS)
        parent[key] = value
        return doc, f"insert {key}={_short(value)} at {path[:-1]}"
    else:
        parent[last] = value
    return doc, f"{op} {path} -> {_short(value)}"


def mutate_bytes(raw: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One textual mutation: truncate, flip bytes, insert invalid UTF-8 or a huge number."""
    op = rng.choice(["truncate", "flip", "utf8", "digits"])
    i = rng.randrange(max(len(raw), 1))
    if op == "truncate":
        return raw[:i], f"truncate at {i}"
    if op == "flip":
        b = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            j = rng.randrange(max(len(b), 1))
            if b:
                b[j] = rng.randrange(256)
        return bytes(b), "flip bytes"
    if op == "utf8":
        return raw[:i] + b"\xff\xfe\xc3" + raw[i:], f"invalid UTF-8 at {i}"
    return raw[:i] + b"1" * 26 + raw[i:], f"26 digits at {i}"


def _short(v: Any) -> str:
    try:
        text = json.dumps(v)
    except (TypeError, ValueError, RecursionError):
        text = type(v).__name__
    return text if len(text) < 40 else text[:37] + "..."


def seeds() -> dict[str, list[tuple[str, Any]]]:
    """Parsed seed documents per reader: the real files, plus files our writers make."""
    coco, darwin = [], []
    for p in sorted(DATA.glob("*.json")):
        doc = json.loads(p.read_text())
        if isinstance(doc, list):
            coco.append((p.name, doc[:15]))
        elif isinstance(doc, dict) and "images" in doc:
            coco.append((p.name, doc))
        elif isinstance(doc, dict) and ("item" in doc or "image" in doc):
            darwin.append((p.name, doc))
    with tempfile.TemporaryDirectory() as tmp:
        ds = read_darwin(DATA / "darwin2_video_skeleton_keypoint_mini_uct.json")
        for s in ds.stores:  # give the seeds our extras: a renamed track, meta, scores, a partial key
            for t in s:
                t.name, t.meta["review"] = "renamed", {"5": {"state": "ok", "comment": "é"}}
                t.score[0, 0] = 0.5
                t.is_key[-1, 0] = False
        c = write_coco(ds, Path(tmp) / "ours.coco.json")[0]
        coco.append(("ours.coco.json", json.loads(c.read_text())))
        r = write_coco(ds, Path(tmp) / "ours.results.json", results=True)[0]
        coco.append(("ours.results.json", json.loads(r.read_text())))
        d = write_darwin(read_coco(c), Path(tmp) / "ours.json", skeleton_file=False)[0]
        darwin.append(("ours.darwin.json", json.loads(d.read_text())))
    return {"coco": coco, "darwin": darwin}


class Hang(Exception):
    """An input took longer than the time limit."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang


def _write_back(ds: Any, folder: Path, fmt: str) -> None:
    """What reads must write: to its own format and to the other (FormatError allowed)."""
    for target in ("coco", "darwin"):
        with contextlib.suppress(FormatError):
            if target == "coco":
                write_coco(ds, folder / "w.coco.json")
            else:
                write_darwin(ds, folder / "w_darwin", skeleton_file=False)


def run_one(reader: Callable[[Path], Any], path: Path, fmt: str, timeout: float) -> tuple[str, str]:
    """``("ok" | "FormatError" | <exception type>, detail)`` for one input file."""
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = reader(path)
            except FormatError as exc:
                # the file read, or the file at fault beside it (a side skeleton file)
                named = str(path.parent) in str(exc) or repr(str(path)) in str(exc)
                if named:
                    return "FormatError", ""
                return "FormatError without the file name", str(exc)[:200]
            _write_back(ds, path.parent, fmt)
            return "ok", ""
    except Hang:
        return "hang", f"> {timeout} s"
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return type(exc).__name__, f"{str(exc)[:160]} ({Path(tb.filename).name}:{tb.lineno})"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def special_inputs(folder: Path) -> list[tuple[str, Path]]:
    """Paths no mutation of a document makes: a FIFO, a folder, a NUL byte, broken side files."""
    out = []
    fifo = folder / "fifo.json"
    with contextlib.suppress(OSError, AttributeError):
        os.mkfifo(fifo)
        out.append(("a FIFO", fifo))
    (folder / "empty_dir").mkdir(exist_ok=True)
    out.append(("an empty folder", folder / "empty_dir"))
    out.append(("a NUL byte in the path", Path(str(folder / "a") + "\0b.json")))
    side = folder / "side"
    side.mkdir(exist_ok=True)
    (side / "v.json").write_text((DATA / "darwin2_video_skeleton_keypoint_mini_uct.json").read_text())
    (side / "test_skeleton_basic.skeleton.json").write_bytes(b'{"nodes": ["\xff\xfe"]}')
    out.append(("a side skeleton file with invalid UTF-8", side / "v.json"))
    deep = folder / "deep"
    deep.mkdir(exist_ok=True)
    (deep / "v.json").write_text((DATA / "darwin2_video_skeleton_keypoint_mini_uct.json").read_text())
    (deep / "test_skeleton_basic.skeleton.json").write_text(json.dumps({"nodes": _deep(900)}))
    out.append(("a side skeleton file nested 900 deep", deep / "v.json"))
    return out


def fuzz(n_inputs: int, seed: int, timeout: float, verbose: bool = True) -> dict[str, Counter]:
    """Run ``n_inputs`` mutated inputs per reader; returns outcome counts per reader."""
    rng = random.Random(seed)
    signal.signal(signal.SIGALRM, _alarm)
    all_seeds = seeds()
    readers = {"coco": read_coco, "darwin": read_darwin}
    results: dict[str, Counter] = {}
    examples: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for fmt, reader in readers.items():
            counts: Counter = Counter()
            t0, slowest = time.perf_counter(), 0.0
            for i in range(n_inputs):
                name, doc = rng.choice(all_seeds[fmt])
                doc = copy.deepcopy(doc)
                what = []
                for _ in range(rng.randint(1, 3)):
                    doc, d = mutate_tree(doc, rng)
                    what.append(d)
                try:
                    raw = json.dumps(doc).encode().replace(f'"{DEEP}"'.encode(), _DEEP_TEXT)
                except (ValueError, RecursionError):
                    raw = b"[]"
                if rng.random() < 0.15:
                    raw, d = mutate_bytes(raw, rng)
                    what.append(d)
                sub = folder / f"{fmt}{i % 50}"
                sub.mkdir(exist_ok=True)
                p = sub / "in.json"
                p.write_bytes(raw)
                t = time.perf_counter()
                outcome, detail = run_one(reader, p, fmt, timeout)
                slowest = max(slowest, time.perf_counter() - t)
                counts[outcome] += 1
                if outcome not in ("ok", "FormatError"):
                    examples.setdefault((fmt, outcome), f"{name}: {'; '.join(what)} -> {detail}")
            for label, p in special_inputs(folder):
                outcome, detail = run_one(lambda q: read(q), p, fmt, timeout)
                counts[outcome] += 1
                if outcome not in ("ok", "FormatError"):
                    examples.setdefault((fmt, outcome), f"{label} -> {detail}")
            results[fmt] = counts
            if verbose:
                total = sum(counts.values())
                took = time.perf_counter() - t0
                print(f"{fmt} reader: {total} inputs in {took:.1f} s (slowest {slowest:.2f} s)")
                for outcome, c in counts.most_common():
                    print(f"  {outcome:36} {c:7d}")
    if verbose:
        bad = {k: v for k, v in examples.items()}
        print("escaped (first example of each):" if bad else "nothing but FormatError escaped")
        for (fmt, outcome), text in bad.items():
            print(f"  [{fmt}] {outcome}: {text}")
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=10_000, help="mutated inputs per reader")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds before an input counts as a hang")
    args = ap.parse_args()
    res = fuzz(args.inputs, args.seed, args.timeout)
    bad = sum(c for counts in res.values() for k, c in counts.items() if k not in ("ok", "FormatError"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
