"""napari's private names are reached in one module only (napari_private.py says why)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

PACKAGE = Path(__file__).resolve().parents[1] / "napari_keyskel"
#: napari / npe2 / wrapt private names keyskel has needed; each lives in napari_private.py.
PRIVATE = re.compile(r"\._qt_window|\._qt_viewer|\.commands\._commands|__wrapped__|napari_builtins")


def test_napari_privates_only_in_napari_private():
    found = [
        f"{p.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.name != "napari_private.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_builtin_points_writer_is_wrapped_once_and_each_hook_runs_once(make_napari_viewer, tmp_path):
    import napari_builtins.io as builtin_io

    from napari_keyskel._napari import napari_private
    from napari_keyskel._napari.napari_private import after_builtin_points_writer

    viewer = make_napari_viewer()
    seen = []

    def hook(path, data, meta):
        seen.append(path)

    assert after_builtin_points_writer(hook)
    first = builtin_io.napari_write_points
    assert after_builtin_points_writer(hook)
    assert builtin_io.napari_write_points is first  # wrapped once
    layer = viewer.add_points([[1.0, 2.0], [3.0, 4.0]])
    out = tmp_path / "plain.csv"
    layer.save(str(out), plugin="napari")  # npe2's command: the registry entry is wrapped too
    napari_private._AFTER_POINTS_WRITE.remove(hook)
    assert out.exists() and seen == [str(out)]


def test_vispy_keeps_a_text_layout_when_napari_sets_the_same_strings():
    from vispy.visuals.text.text import TextVisual

    from napari_keyskel._napari.napari_private import keep_text_layout

    assert keep_text_layout() and keep_text_layout()  # wrapped once
    node = TextVisual(text=["snout", "tail"], pos=[[0, 0], [5, 5]])
    laid_out = object()
    node._vertices = laid_out  # (as after a draw)
    node.text = np.array(["snout", "tail"])  # what napari sets on every refresh
    node.anchors = tuple(node.anchors)
    assert node._vertices is laid_out  # the glyphs stay laid out
    node.pos = [[1, 1], [6, 6]]
    assert node._pos_changed  # positions still update
    node.text = ["snout", "ear"]
    assert node._vertices is None and list(node.text) == ["snout", "ear"]  # new strings: laid out again
