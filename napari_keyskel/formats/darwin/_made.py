"""V7 documents our writer made from another format, read back as the dataset they came from.

A dataset that was not read from V7 (a COCO file, a new layer) is written as new V7 items: the
writer makes up their templates, annotation ids (derived from item, slot, class and track, so
the same dataset always gives the same ids), instance ids, a slot name and type, and marks each
such document with ``"keyskel": {"made": {slot: [frame keys made up]}}``. Reading keeps all of
that as V7 bookkeeping (``meta["darwin"]`` of the dataset, stores and tracks, and frame-table
keys), which another format would then carry along: COCO -> V7 -> COCO would add fields.

:func:`forget_made` drops that bookkeeping when every document read was made by our writer and
writing the dataset without it gives back exactly the documents read (so nothing a person or a
tool changed since is lost): COCO -> V7 -> COCO then equals COCO -> COCO, as
:func:`napari_keyskel.formats.coco._images.forget_made` does for V7 -> COCO -> V7.
"""

from __future__ import annotations

from typing import Any

from ...core.annotation_set import AnnotationSet
from ...core.store import AnnotationStore, Track
from ...errors import FormatError
from .._checks import DAMAGE
from ._parse import ItemRecord

__all__ = ["forget_made"]

#: What writing a damaged dataset may raise (then the dataset is returned as read).
_FAILS: tuple[type[Exception], ...] = (FormatError, *DAMAGE)
#: Frame-table keys the V7 reader adds that a made document says nothing new about.
_BOOKKEEPING = ("darwin_file",)


def _stripped(ds: AnnotationSet, items: list[ItemRecord]) -> AnnotationSet:
    """``ds`` without the V7 bookkeeping of made documents (arrays shared, not copied)."""
    made: dict[tuple[Any, Any], list[str]] = {}
    for it in items:
        for slot, keys in (it.extra.made or {}).items() if it.extra is not None else ():
            made[it.name, slot] = keys
    frames = []
    for fr in ds.frames:
        drop = set(_BOOKKEEPING) | set(made.get((fr.get("item"), fr.get("slot")), ()))
        frames.append({k: v for k, v in fr.items() if k not in drop})
    stores = []
    for s in ds.stores:
        new = AnnotationStore(s.skeleton, s.coord_ndim, s.frame_axis, s.n_frames, s.name)
        new.method, new.bridge_unlabelled = s.method, s.bridge_unlabelled
        new.meta = {k: v for k, v in s.meta.items() if k != "darwin"}
        dm = s.meta.get("darwin")
        if isinstance(dm, dict) and dm.get("kind") == "keypoint":  # (written as keypoints again)
            new.meta["darwin"] = {"kind": "keypoint"}
        for t in s:
            meta = {k: v for k, v in t.meta.items() if k != "darwin"}
            new.tracks[t.track_id] = Track(
                t.track_id, t.name, t.start, t.coords, t.visibility, t.is_key, t.alive, meta, t.score
            )
        stores.append(new)
    meta = {k: v for k, v in ds.meta.items() if k != "darwin"}
    return AnnotationSet(stores=stores, frames=frames, meta=meta, source=ds.source)


def _comparable(doc: Any) -> Any:
    """A document without the extra's ``order`` (the folder writer adds it; the reader used it)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("keyskel"), dict):
        return doc
    ks = {k: v for k, v in doc["keyskel"].items() if k != "order"}
    out = {k: v for k, v in doc.items() if k != "keyskel"}
    if ks:
        out["keyskel"] = ks
    return out


def forget_made(ds: AnnotationSet, items: list[ItemRecord]) -> AnnotationSet:
    """``ds`` without the bookkeeping of documents our writer made, when that loses nothing.

    Returns ``ds`` itself unless every item was made by our writer (``keyskel.made``) and writing
    the stripped dataset gives back exactly the documents read.
    """
    if not items or any(it.extra is None or it.extra.made is None or it.doc is None for it in items):
        return ds
    from ._write import build_documents  # (the writer imports the reader's parser)

    candidate = _stripped(ds, items)
    try:
        docs = build_documents(candidate)
    except _FAILS:
        return ds
    if len(docs) != len(items):
        return ds
    for (_, doc), it in zip(docs, items):
        if _comparable(doc) != _comparable(it.doc):
            return ds
    return candidate
