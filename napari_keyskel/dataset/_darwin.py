"""Datasets of V7 Darwin files: a V7 export folder (one file per item), or a folder of media.

- **V7 export folder** (:class:`DarwinBackend`): every Darwin file of the folder (read
  recursively; ``.v7/`` and ``*.skeleton.json`` skipped, as
  :func:`~napari_keyskel.formats.darwin.read_darwin` reads a folder) is an item. Its media is the
  file the item names (``item.name``, under ``item.path``) beside the file, in the folder, or in
  darwin-py's local layout (``<dataset>/images/``).
- **Folder of media** (:class:`FolderBackend`): every video, image, volume and folder of images
  is an item; its annotations go to ``annotations/<media stem>.json``, a Darwin file, so the
  ``annotations`` folder is itself a V7 export.

A V7 export has no field for an item's status (V7 keeps it on its server), so it is written in
our document extra, ``"keyskel": {"status": {"status", "who", "when"}}``, which V7 and darwin-py
ignore. A header read (status, name, kind, frames) parses the file's JSON but builds no store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.annotation_set import AnnotationSet
from ..core.skeleton import SKELETON_FILE_SUFFIX, Skeleton
from ..errors import FormatError, KeyskelError
from ._media import find_media, media_frames, media_in
from ._skeletons import write_missing_skeletons
from .model import Item
from .status import Status, default_status

__all__ = ["DarwinBackend", "FolderBackend", "darwin_header"]

_SLOT_KINDS = {"image": "image", "video": "video", "dicom": "volume", "pdf": "image"}


def _has_keypoints(ann: Any) -> bool:
    if not isinstance(ann, dict):
        return False
    if "skeleton" in ann or "keypoint" in ann:
        return True
    frames = ann.get("frames")
    return isinstance(frames, dict) and any(
        isinstance(f, dict) and ("skeleton" in f or "keypoint" in f) for f in frames.values()
    )


def darwin_header(doc: Any, path: Path) -> dict[str, Any]:
    """Name, folder path, kind, frame count, status and whether it holds keypoints, of a Darwin document."""
    if not isinstance(doc, dict):
        raise FormatError("not a V7 Darwin document: expected an object", path)
    raw: Any = doc.get("item") if isinstance(doc.get("item"), dict) else doc.get("image")
    item: dict[str, Any] = raw if isinstance(raw, dict) else {}
    listed: Any = item.get("slots") if isinstance(item.get("slots"), list) else [item]
    slots: list[dict[str, Any]] = [s for s in listed if isinstance(s, dict)]
    first: dict[str, Any] = slots[0] if slots else {}
    kind = _SLOT_KINDS.get(str(first.get("type")), "video" if first.get("frame_count") else "image")
    counts = [s.get("frame_count") for s in slots]
    n_frames = sum(c if isinstance(c, int) and c > 0 else 1 for c in counts) if slots else None
    files: list[Any] = first["source_files"] if isinstance(first.get("source_files"), list) else []
    name = item.get("name") or item.get("original_filename") or item.get("filename") or path.stem
    media_name = next((f.get("file_name") for f in files if isinstance(f, dict) and f.get("file_name")), None)
    extra: dict[str, Any] = doc["keyskel"] if isinstance(doc.get("keyskel"), dict) else {}
    status = None
    if extra.get("status") is not None:
        try:
            status = Status.from_dict(extra["status"], "field 'keyskel.status'")
        except KeyskelError as exc:
            raise FormatError(str(exc), path) from None
    anns: list[Any] = doc["annotations"] if isinstance(doc.get("annotations"), list) else []
    return {
        "name": str(name),
        "media_name": str(media_name or name),
        "path": item.get("path") if isinstance(item.get("path"), str) else None,
        "kind": kind,
        "n_frames": n_frames,
        "keypoints": any(_has_keypoints(a) for a in anns),
        "status": status,
    }


def _skeleton_files(folder: Path) -> dict[str, Skeleton]:
    from ..formats._checks import load_skeleton_file

    out = {}
    for p in sorted(folder.glob(f"*{SKELETON_FILE_SUFFIX}")):
        sk = load_skeleton_file(p)
        out[sk.name] = sk
    return out


class DarwinBackend:
    """The items of a V7 export folder (see the module docstring)."""

    format = "darwin"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.skeleton_folder = self.root

    # -- listing and headers --------------------------------------------------------------------
    def list_items(self) -> list[Item]:
        """One item per Darwin file, named after the file until its header is read."""
        from ..formats.darwin import folder_files

        files, keys, _ = folder_files(self.root)
        return [Item(key=k, name=Path(k).stem, source=f) for f, k in zip(files, keys)]

    def header(self, item: Item) -> None:
        """Read the item's name, kind, frame count, status and media from its file."""
        from ..formats._jsonio import load_json

        if item.source is None or not item.source.exists():
            item.status = Status("new")
            return
        head = darwin_header(load_json(item.source), item.source)
        item.name = head["name"]
        item.kind = head["kind"] if item.media is None else item.kind
        item.n_frames = head["n_frames"] if item.n_frames is None else item.n_frames
        item.status = head["status"] or default_status(head["keypoints"])
        if item.media is None:
            item.media = find_media(head["media_name"], [item.source.parent, self.root], head["path"])
            if item.media is None and head["media_name"] != head["name"]:
                item.media = find_media(head["name"], [item.source.parent, self.root], head["path"])

    # -- annotations ----------------------------------------------------------------------------
    def skeletons(self) -> list[Skeleton]:
        """The skeleton files beside the items."""
        return list(_skeleton_files(self.skeleton_folder).values())

    def load(self, item: Item) -> AnnotationSet:
        """The item's Darwin file read (an empty set for an item with no file yet)."""
        from ..formats.darwin import read_darwin

        if item.source is None or not item.source.exists():
            return AnnotationSet(source=None if item.source is None else str(item.source))
        given = _skeleton_files(self.skeleton_folder) or None
        return read_darwin(item.source, given)

    def save(self, item: Item, annotations: AnnotationSet | None, status: Status) -> list[Path]:
        """Write the item's file (or only its status), atomically; skeleton files that are missing."""
        if item.source is None:
            raise KeyskelError(f"item {item.name!r} has no annotation file to write")
        if annotations is None:
            if not item.source.exists():  # a status for an item never annotated: a file of its own
                return [_write_doc(item.source, empty_document(item, status))]
            return [write_status(item.source, status)]
        from ..formats.darwin import write_darwin

        kept = (
            (annotations.meta.get("darwin") or {}).get("items")
            if isinstance(annotations.meta, dict)
            else None
        )
        put = isinstance(kept, list) and len(kept) == 1 and isinstance(kept[0], dict)
        if put and kept is not None:
            kept[0]["keyskel_rest"] = {**(kept[0].get("keyskel_rest") or {}), "status": status.to_dict()}
        if not put and not any(len(st) for st in annotations.stores):  # nothing to write but the item
            doc = empty_document(item, status, annotations.frames)
            return [_write_doc(item.source, doc), *write_missing_skeletons(annotations, self.skeleton_folder)]
        written = write_darwin(annotations, item.source, skeleton_file=False)
        if not put:  # a new file: its status goes in now (the only time a save writes twice)
            write_status(item.source, status)
        return written + write_missing_skeletons(annotations, self.skeleton_folder)


SCHEMA_REF = "https://darwin-public.s3.eu-west-1.amazonaws.com/darwin_json/2.0/schema.json"


def empty_document(item: Item, status: Status, frames: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Darwin 2.0 document of an item with no annotation (its slot, its status)."""
    frames = frames or []
    n = len(frames) or item.n_frames or 1
    video = item.kind in ("video", "images") or n > 1
    slot: dict[str, Any] = {"type": "video" if video else "image", "slot_name": "0"}
    for dim in ("width", "height"):
        v = next((fr[dim] for fr in frames if isinstance(fr.get(dim), int)), None)
        if v is not None:
            slot[dim] = v
    if video:
        names = [fr.get("file_name") for fr in frames]
        slot["frame_count"] = n
        slot["frame_urls"] = [
            str(names[i]) if i < len(names) and names[i] else f"{item.name}/frame_{i:06d}" for i in range(n)
        ]
    slot["source_files"] = [{"file_name": item.name}]
    return {
        "version": "2.0",
        "schema_ref": SCHEMA_REF,
        "item": {"name": item.name, "path": "/", "slots": [slot]},
        "annotations": [],
        "properties": [],
        "keyskel": {"status": status.to_dict()},
    }


def _write_doc(path: Path, doc: dict[str, Any]) -> Path:
    from ..core._atomic import atomic_write_bytes
    from ..formats._jsonio import dumps_json

    return atomic_write_bytes(path, dumps_json(doc))


def write_status(path: Path, status: Status) -> Path:
    """Set the status in a Darwin file's ``keyskel`` extra, nothing else changed; atomically."""
    from ..core._atomic import atomic_write_bytes
    from ..formats._jsonio import dumps_json, load_json

    doc = load_json(path)
    if not isinstance(doc, dict):
        raise FormatError("not a V7 Darwin document: expected an object", path)
    extra = doc.get("keyskel")
    if extra is not None and not isinstance(extra, dict):
        raise FormatError("'keyskel' must be an object", path, "top level")
    doc["keyskel"] = {**(extra or {}), "status": status.to_dict()}
    return atomic_write_bytes(path, dumps_json(doc))


class FolderBackend(DarwinBackend):
    """The media of a folder as items, annotated in ``annotations/`` (see the module docstring)."""

    format = "folder"

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self.skeleton_folder = self.root / "annotations"

    def list_items(self) -> list[Item]:
        """One item per video, image, volume or image folder, with its annotation file's place."""
        media = media_in(self.root)
        stems: dict[str, int] = {}
        for p, _ in media:
            stems[p.stem] = stems.get(p.stem, 0) + 1
        out = []
        for p, kind in media:
            fname = (p.stem if stems[p.stem] == 1 else p.name) + ".json"
            out.append(Item(key=p.name, name=p.name, kind=kind, media=p, source=self.skeleton_folder / fname))
        return out

    def skeletons(self) -> list[Skeleton]:
        """The skeleton files beside the media, then those in ``annotations/`` (these win)."""
        return list({**_skeleton_files(self.root), **_skeleton_files(self.skeleton_folder)}.values())

    def load(self, item: Item) -> AnnotationSet:
        """The item's Darwin file read with the dataset's skeletons (empty before its first save)."""
        from ..formats.darwin import read_darwin

        if item.source is None or not item.source.exists():
            return AnnotationSet(source=None if item.source is None else str(item.source))
        return read_darwin(item.source, {sk.name: sk for sk in self.skeletons()} or None)

    def header(self, item: Item) -> None:
        """The status from the annotation file, ``new`` while there is none; the media's frames."""
        if item.n_frames is None and item.media is not None:
            item.n_frames = media_frames(item.media, item.kind)
        if item.source is None or not item.source.exists():
            item.status = Status("new")
            return
        name = item.name
        super().header(item)
        item.name = name  # the media file's own name
