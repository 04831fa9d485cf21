"""The writers' fast JSON text says exactly what their plain dicts say (issue 25, item 4).

:func:`~napari_keyskel.formats.coco._write.coco_document` and the V7 writer's documents can be
built as plain dicts (the API, and the V7 reader's check of files it made) or with the
annotations stitched as JSON text from whole-array serialisations (what the writers write). The
two must give the same bytes: random stores, files read from COCO and V7 (their kept
originals and extras), and results files.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import orjson
from hypothesis import given
from test_coco_darwin_roundtrip import _SETTINGS, extras_dataset, stores

from napari_keyskel import AnnotationSet
from napari_keyskel.formats._jsonio import dumps_json
from napari_keyskel.formats.coco import coco_document, read_coco, write_coco
from napari_keyskel.formats.coco._write import coco_chunks
from napari_keyskel.formats.coco._write_text import row_texts
from napari_keyskel.formats.darwin import read_darwin
from napari_keyskel.formats.darwin._write import build_documents

DATA = Path(__file__).parent / "data"


def _coco_same(ds: AnnotationSet, results: bool = False) -> None:
    for all_frames in (True, False):
        fast = coco_document(ds, results=results, all_frames=all_frames, fast=True)
        plain = dumps_json(coco_document(ds, results=results, all_frames=all_frames))
        assert dumps_json(fast) == plain
        # what write_coco writes: the pieces of text, annotations made from whole arrays
        assert b"".join(coco_chunks(ds, results=results, all_frames=all_frames)) == plain


def _darwin_same(ds: AnnotationSet) -> None:
    fast = [dumps_json(d) for _, d in build_documents(ds, fast=True)]
    plain = [dumps_json(d) for _, d in build_documents(ds)]
    assert fast == plain


def _files() -> list[AnnotationSet]:
    out = [extras_dataset()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in sorted(DATA.glob("coco_*.json")):
            if "results_confidences.json" not in p.name:
                out.append(read_coco(p))
        out.append(
            read_coco(
                DATA / "coco_results_confidences.json", images=DATA / "coco_results_confidences_gt.json"
            )
        )
        out.append(read_coco(DATA / "coco_keypoint_results_fake100.json"))
        for p in sorted(DATA.glob("darwin2_*.json")):
            if "volume" not in p.name:
                out.append(read_darwin(p))
    return out


def test_files_read_write_the_same_text_both_ways() -> None:
    for ds in _files():
        _coco_same(ds)
        _coco_same(ds, results=True)
        _darwin_same(ds)


@_SETTINGS
@given(ds=stores())
def test_random_stores_write_the_same_text_both_ways(tmp_path_factory, ds: AnnotationSet) -> None:
    _coco_same(ds)
    _coco_same(ds, results=True)
    _darwin_same(ds)
    tmp = tmp_path_factory.mktemp("fast")
    (tmp / "c.json").write_bytes(dumps_json(coco_document(ds, fast=True)))
    back = read_coco(tmp / "c.json")  # with the file's originals and ids kept in the meta
    _coco_same(back)
    _darwin_same(back)


def test_nan_and_infinity_are_still_format_errors(tmp_path) -> None:
    """orjson refuses NaN/Infinity as JSON; the COCO reader still names the annotation and node."""
    import json

    import pytest

    from napari_keyskel.errors import FormatError

    doc = json.loads((DATA / "coco_keypoints_sleapio_visibility_ternary.json").read_text())
    for bad in ("NaN", "Infinity", "-Infinity"):
        text = json.dumps(doc).replace('"keypoints": [110,', f'"keypoints": [{bad},', 1)
        (tmp_path / "c.json").write_text(text)
        with pytest.raises(FormatError, match="annotation id 1, field 'keypoints': node 0: coordinate"):
            read_coco(tmp_path / "c.json")
    v7 = (DATA / "darwin2_video_skeleton_keypoint_mini_uct.json").read_text().replace("13.1373", "NaN", 1)
    (tmp_path / "v.json").write_text(v7)
    with pytest.raises(FormatError, match="not valid JSON"):
        read_darwin(tmp_path / "v.json")


def test_rows_of_numbers_are_cut_at_their_brackets() -> None:
    a = np.array([[1.0, -2.5e-7, 3e300], [0.0, -0.0, 2.0]])
    assert row_texts(a, b",") == [b"1.0,-2.5e-7,3e+300],", b"0.0,-0.0,2.0],"]
    assert row_texts(a[:1], b',"area":') == [b'1.0,-2.5e-7,3e+300],"area":']
    assert row_texts(np.zeros((2, 0)), b",") == [b"],", b"],"]
    assert row_texts(np.zeros((0, 3)), b",") == []
    for rows in (a, a[:1]):  # each piece is the row's JSON once its opening bracket is put back
        assert [orjson.loads(b"[" + t[:-1]) for t in row_texts(rows, b",")] == rows.tolist()


def test_written_files_are_the_documents_text(tmp_path) -> None:
    """write_coco writes coco_document's values: compact from the pieces, indented from the dicts."""
    for ds in _files()[:4]:
        doc = coco_document(ds)
        write_coco(ds, tmp_path / "c.json")
        assert (tmp_path / "c.json").read_bytes() == dumps_json(doc)
        write_coco(ds, tmp_path / "i.json", indent=True)
        assert orjson.loads((tmp_path / "i.json").read_bytes()) == orjson.loads(dumps_json(doc))
