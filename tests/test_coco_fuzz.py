"""Fuzzing the COCO reader with mutated real files: only FormatError may ever escape."""

from __future__ import annotations

import contextlib
import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_coco import RESULTS, SLEAP, video_dataset

from napari_keyskel.errors import FormatError
from napari_keyskel.formats.coco import coco_document, read_coco

_DOCS = {
    "sleap": json.loads(SLEAP.read_text()),
    "results": json.loads(RESULTS.read_text())[:12],  # a slice keeps the path space small
    "video": coco_document(video_dataset(n_frames=12, n_tracks=2)),  # our own extras: keyskel, track ids
}
_JUNK = [None, "7", "x", math.nan, math.inf, -1, 0, 3, 2.5, 1e308, 10**30, True, [], {}, [1, 2], {"a": 1}]


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, data: st.DataObject) -> Any:
    paths = _paths(doc)[1:]
    path = data.draw(st.sampled_from(paths), label="path")
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    kind = data.draw(st.sampled_from(["delete", "replace", "truncate", "number"]), label="kind")
    if kind == "delete":
        del parent[last]
    elif kind == "replace":
        parent[last] = data.draw(st.sampled_from(_JUNK), label="value")
    elif kind == "truncate" and isinstance(parent[last], (list, str)):
        parent[last] = parent[last][: data.draw(st.integers(0, max(len(parent[last]) - 1, 0)))]
    elif kind == "number" and isinstance(parent[last], (int, float)) and not isinstance(parent[last], bool):
        parent[last] = data.draw(st.sampled_from([str(parent[last]), math.nan, None, -parent[last], 0]))
    return doc


def _check(path: Path) -> None:
    try:
        ds = read_coco(path)
    except FormatError as exc:
        assert str(path) in str(exc)  # every error names the file
        return
    # what reads must also write (writing a dataset read from a mutated file never crashes)
    for results in (False, True):
        with contextlib.suppress(FormatError):
            coco_document(ds, results=results)


@pytest.mark.parametrize("name", sorted(_DOCS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_files_raise_only_format_error(tmp_path: Path, name: str, data: st.DataObject) -> None:
    doc = copy.deepcopy(_DOCS[name])
    for _ in range(data.draw(st.integers(1, 3), label="n_mutations")):
        if not _paths(doc)[1:]:
            break
        doc = _mutate(doc, data)
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(doc))  # NaN/Infinity literals included: the reader must name them
    _check(p)


_RAW = SLEAP.read_bytes().rstrip()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, len(_RAW) - 1))
def test_truncated_text_raises_format_error(tmp_path: Path, cut: int) -> None:
    p = tmp_path / "cut.json"
    p.write_bytes(_RAW[:cut])
    with pytest.raises(FormatError, match=r"cut\.json"):
        read_coco(p)
