"""The COCO file of a large dataset built by Dask workers, byte for byte the serial writer's file.

The frame table is cut into contiguous ranges at frames no item and no track straddles. Each
worker runs the ordinary :func:`~napari_keyskel.formats.coco._write.coco_document` on its range
(every store, only its tracks, frames renumbered from 0), shifts its ids by offsets the main
process computed beforehand (image ids are frame positions; annotation ids count the rows the
writer writes in earlier ranges; track lifespans are frames) and serialises its images and
annotations (local workers into a file beside the output, which the kernel copies into it; a
cluster's as bytes); the main process joins the pieces with the document's categories and extras.
Within one range the writer orders annotations by frame, then by store and track, as it does
over the whole table, so the joined lists are the serial lists.

That holds for what a Darwin read makes (no COCO ids or COCO extras kept in the dataset, a
``frame`` in every frame entry, 2-D stores); for anything else, or when the table cannot be cut
or a worker meets an error, :func:`write_coco_parallel` returns ``None`` and the caller writes
serially (which reports the error exactly).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...core.store import AnnotationStore
from ...errors import FormatError

__all__ = ["CHUNKS_PER_WORKER", "cut_points", "write_coco_parallel"]

#: Chunks per worker: a few, so that a worker slowed by other jobs does not hold up the rest.
CHUNKS_PER_WORKER = 2


def cut_points(ds: AnnotationSet, n_parts: int) -> list[int] | None:
    """Frame positions to cut the table at (``[0, …, n]``), or ``None`` if the split is not exact."""
    from .._volume import is_volume_dataset

    frames, n = ds.frames, len(ds.frames)
    if not n or is_volume_dataset(ds) or "coco" in ds.meta:
        return None
    first: dict[Any, int] = {}
    last: dict[Any, int] = {}
    try:
        for f, fr in enumerate(frames):
            if "image_id" in fr or "coco" in fr or "frame" not in fr:
                return None  # ids or image fields kept from a COCO file: numbered over the whole table
            item = fr.get("item")
            first.setdefault(item, f)
            last[item] = f
    except TypeError:  # an unhashable item: the serial writer says what it makes of it
        return None
    lo, hi = [first[k] for k in first], [last[k] for k in first]
    for s in ds.stores:
        if s.coord_ndim != 2 or s.frame_range()[1] > n:
            return None
        for t in s:
            if isinstance(t.meta, dict) and t.meta.get("coco"):
                return None
            lo.append(t.start)
            hi.append(t.stop - 1)
    lo_a, hi_a = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
    span = hi_a > lo_a
    blocked = np.zeros(n + 1, np.int64)  # a cut at b (between frames b-1 and b) inside lo < b <= hi
    np.add.at(blocked, lo_a[span] + 1, 1)
    np.add.at(blocked, hi_a[span] + 1, -1)
    free = np.flatnonzero(np.cumsum(blocked)[1:n] == 0) + 1
    if free.size == 0 or n_parts < 2:
        return None
    targets = np.linspace(0, n, n_parts + 1)[1:-1]
    pos = np.clip(np.searchsorted(free, targets), 0, free.size - 1)
    nearer = np.where(
        (pos > 0) & (np.abs(free[pos - 1] - targets) <= np.abs(free[pos] - targets)), pos - 1, pos
    )
    cuts = sorted({0, n, *free[nearer].tolist()})
    return cuts if len(cuts) > 2 else None


def _rows_written(t: Any) -> int:
    """Annotations the COCO writer writes for a track (its own rule)."""
    from ._write import written_rows

    return int(written_rows(t.coords, t.visibility, t.is_key)[1].sum())


def _store_with(s: AnnotationStore, tracks: list[Any], shift: int) -> AnnotationStore:
    out = copy.copy(s)
    out.tracks = {t.track_id: dataclasses.replace(t, start=t.start - shift) for t in tracks}
    return out


def _ranges(ds: AnnotationSet, cuts: list[int]) -> list[tuple[int, int, int, int]]:
    """Per range: its first and stop frames, the annotations written before it, and in it."""
    bounds = np.asarray(cuts)
    count = np.zeros(len(cuts) - 1, np.int64)
    for s in ds.stores:
        for t in s:
            count[int(np.searchsorted(bounds, t.start, side="right")) - 1] += _rows_written(t)
    before = np.r_[0, np.cumsum(count)[:-1]]
    return [(a, b, int(m), int(c)) for a, b, m, c in zip(cuts[:-1], cuts[1:], before, count)]


def range_dataset(ds: AnnotationSet, a: int, b: int) -> AnnotationSet:
    """Frames ``a:b`` of ``ds`` and every store with only its tracks there, frames counted from ``a``."""
    stores = [_store_with(s, [t for t in s if a <= t.start < b], a) for s in ds.stores]
    return AnnotationSet(stores=stores, frames=ds.frames[a:b])


def _coco_part(job: tuple[AnnotationSet, int, int, int, str | None]) -> tuple | None:
    """Worker: one range's images and annotations as JSON (without brackets), ids made global.

    Returned as ``(images, annotations)`` bytes, or, with a spill folder (local workers), written
    to a file there and returned as ``(path, length of images, length of annotations)``: the
    main process then copies them into the output in the kernel, and no worker waits for the
    main process to take tens of megabytes off a pipe.
    """
    import tempfile

    from .._checks import kept_data_guard
    from .._jsonio import dumps_json, gc_paused
    from ._write import coco_document

    sub, first, before, expected, spill = job
    with gc_paused():
        with kept_data_guard("COCO", None):
            doc = coco_document(sub)
        if not isinstance(doc, dict):
            return None
        images, anns = doc["images"], doc["annotations"]
        if len(images) != len(sub.frames) or len(anns) != expected:
            return None
        for img in images:
            img["id"] += first
        for a in anns:
            a["id"] += before
            a["image_id"] += first
            track = a.get("keyskel", {}).get("track")
            if track and "alive" in track:  # lifespans are written in frames of the whole table
                track["alive"] = [[x + first, y + first] for x, y in track["alive"]]
        out_images, out_anns = dumps_json(images)[1:-1], dumps_json(anns)[1:-1]
    if spill is None:
        return out_images, out_anns
    fd, name = tempfile.mkstemp(prefix="part-", suffix=".json", dir=spill)
    with os.fdopen(fd, "wb") as fh:
        fh.write(out_images)
        fh.write(out_anns)
    return name, len(out_images), len(out_anns)


def _head(ds: AnnotationSet) -> tuple[bytes, bytes, bytes, bytes] | None:
    """The document around the lists: ``(opening, between, end, separator)``; ``None`` if unexpected."""
    from .._jsonio import dumps_json
    from ._write import coco_document

    # categories and extras: the writer's own, from the stores without their tracks
    bare = [_store_with(s, [], 0) for s in ds.stores]
    head = coco_document(AnnotationSet(bare, [{"item": "", "frame": 0}], ds.meta))
    if not isinstance(head, dict) or list(head)[:2] != ["images", "annotations"]:
        return None
    raw = dumps_json({**head, "images": [], "annotations": []})
    opening = dumps_json({"images": [], "annotations": []})[:-1]  # b'{"images":[],"annotations":[]'
    if not raw.startswith(opening):
        return None
    pre, mid, _ = opening.split(b"[]")
    sep = dumps_json([0, 0])[2:-2]  # b"," (orjson) or b", " (json)
    return pre + b"[", b"]" + mid + b"[", b"]" + raw[len(opening) :], sep


def _copy(out: Any, path: str, offset: int, count: int) -> None:
    """Append ``count`` bytes of file ``path`` from ``offset`` to the open file ``out``."""
    out.flush()
    with open(path, "rb") as src:
        while count > 0:
            sent = os.sendfile(out.fileno(), src.fileno(), offset, count)
            if sent == 0:
                raise OSError(f"{path} is shorter than written")
            offset, count = offset + sent, count - sent


def write_coco_parallel(ds: AnnotationSet, path: str | Path, engine: Any) -> list[Path] | None:
    """Write ``ds`` as a COCO ground-truth file on the ``engine``'s workers; ``None``: write it serially.

    The file is :func:`~napari_keyskel.formats.coco.write_coco`'s (same bytes), written atomically.
    """
    import shutil
    import tempfile

    from ...core._atomic import atomic_write
    from .._jsonio import gc_paused

    p = Path(path)
    cuts = cut_points(ds, CHUNKS_PER_WORKER * engine.workers)
    if cuts is None:
        return None
    spill = None
    if engine.client is None and hasattr(os, "sendfile"):  # (a cluster's workers send bytes)
        with contextlib.suppress(OSError):  # (beside the output: the disk that must hold it)
            spill = tempfile.mkdtemp(prefix=".keyskel-coco-", dir=p.parent)
    try:
        try:
            jobs = [(range_dataset(ds, a, b), a, m, c, spill) for a, b, m, c in _ranges(ds, cuts)]
            pieces = engine.map(_coco_part, jobs)
        except (FormatError, OSError):  # (the serial writer reports it exactly)
            return None
        with gc_paused():
            head = _head(ds)
        if head is None or any(x is None for x in pieces):
            return None
        opening, between, end, sep = head

        def write(fh: Any) -> None:
            for which, start in ((0, opening), (1, between)):  # the images, then the annotations
                fh.write(start)
                parts = [x for x in pieces if (x[1 + which] if spill else x[which])]
                for k, x in enumerate(parts):
                    if k:
                        fh.write(sep)
                    if spill:
                        _copy(fh, x[0], x[1] if which else 0, x[1 + which])
                    else:
                        fh.write(x[which])
            fh.write(end)

        try:
            return [atomic_write(p, write)]
        except OSError as exc:
            raise FormatError(f"cannot write file ({exc.strerror or exc})", p) from None
    finally:
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)
