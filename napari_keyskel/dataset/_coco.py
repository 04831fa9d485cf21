"""A dataset of one COCO keypoints file with many images or videos.

The items are the file's items as :func:`~napari_keyskel.formats.coco.read_coco` names them (an
image is its own item; the frames of a video share one: ``item``/``frame_index`` fields, a video
id, or a ``<video>/frame_000123.png`` name). The file is parsed once; an item's annotations are
read by the COCO reader from a document holding only that item's images and annotations (so
every rule of the format applies unchanged), and written back the same way: the item's part of
the document (images, annotations, frame extras) is replaced by what the COCO writer makes of
it, new image and annotation ids made unique over the file, and the whole file written
atomically. Items not saved keep their bytes' meaning exactly (their entries are not rebuilt).

COCO has no field for an item's status: it goes in our top-level extra,
``"keyskel": {"status": {item: {"status", "who", "when"}}}`` (pycocotools ignores it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.annotation_set import AnnotationSet
from ..core.skeleton import Skeleton
from ..errors import FormatError, KeyskelError
from ._media import find_media
from ._skeletons import write_missing_skeletons
from .model import Item
from .status import Status, default_status

__all__ = ["CocoBackend"]


def _top_extra(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    extra = doc.get("keyskel")
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise FormatError("'keyskel' must be an object", path, "top level")
    return extra


class CocoBackend:
    """The items of a COCO keypoints file (see the module docstring)."""

    format = "coco"

    def __init__(self, path: str | Path) -> None:
        from ..formats._jsonio import gc_paused
        from ..formats.coco._read import coco_from_obj, load_coco_json

        self.root = Path(path)
        self.skeleton_folder = self.root.parent
        with gc_paused():
            self.doc, self._bools = load_coco_json(self.root)
            if isinstance(self.doc, list):
                raise FormatError(
                    "a COCO results list is not a dataset (no images): open its ground-truth file", self.root
                )
            whole = coco_from_obj(self.doc, self.root, None, None, self._bools)
        self._statuses = self._read_statuses()
        images = self.doc["images"]
        if len(images) != len(whole.frames):  # (the reader makes one frame per image, in order)
            raise FormatError(f"{len(images)} images but {len(whole.frames)} frames read", self.root)
        self._images: dict[str, list[Any]] = {}  # item -> image ids, in file order
        for fr, im in zip(whole.frames, images):
            self._images.setdefault(str(fr.get("item")), []).append(im.get("id"))
        self._frames = {k: [fr for fr in whole.frames if str(fr.get("item")) == k] for k in self._images}
        self._keyed = self._items_with_keypoints(whole)
        self.categories = [s.skeleton for s in whole.stores]

    def _read_statuses(self) -> dict[str, Status]:
        raw = _top_extra(self.doc, self.root).get("status") or {}
        if not isinstance(raw, dict):
            raise FormatError("'keyskel.status' must map item names to statuses", self.root, "top level")
        out = {}
        for k, v in raw.items():
            try:
                out[str(k)] = Status.from_dict(v, f"'keyskel.status' of item {k!r}")
            except KeyskelError as exc:
                raise FormatError(str(exc), self.root, "top level") from None
        return out

    @staticmethod
    def _items_with_keypoints(ds: AnnotationSet) -> set[str]:
        import numpy as np

        out: set[str] = set()
        for s in ds.stores:
            for t in s:
                rows = np.flatnonzero(np.isfinite(t.coords[..., 0]).any(axis=1)) + t.start
                out.update(str(ds.frames[f].get("item")) for f in rows.tolist() if f < len(ds.frames))
        return out

    # -- listing --------------------------------------------------------------------------------
    def list_items(self) -> list[Item]:
        """One item per item of the file, with its frames, kind, status and media."""
        out = []
        for key, frames in self._frames.items():
            numbers = [fr.get("frame") for fr in frames]
            single = len(frames) == 1
            n = max((int(f) for f in numbers if isinstance(f, int)), default=len(frames) - 1) + 1
            item = Item(key=key, name=key, kind="image" if single else "video", source=self.root, n_frames=n)
            item.status = self._statuses.get(key) or default_status(key in self._keyed)
            item.media = self._media(key, frames)
            if item.media is not None and item.media.is_dir():
                item.kind = "images"
            out.append(item)
        return out

    def _media(self, key: str, frames: list[dict[str, Any]]) -> Path | None:
        roots = [self.root.parent]
        names = [str(fr["file_name"]) for fr in frames if isinstance(fr.get("file_name"), str)]
        if len(frames) == 1 and names:
            return find_media(names[0], roots)
        parents = {str(Path(n).parent) for n in names}
        if len(parents) == 1 and parents != {"."}:  # the frames' folder of images, if there
            found = find_media(parents.pop(), roots)
            if found is not None:
                return found
        for cand in (key, *(key + s for s in (".mp4", ".avi", ".mov", ".mkv"))):  # else a video
            found = find_media(cand, roots)
            if found is not None:
                return found
        return None

    def header(self, item: Item) -> None:
        """Everything is known from the parsed file."""
        item.status = self._statuses.get(item.key) or default_status(item.key in self._keyed)

    def skeletons(self) -> list[Skeleton]:
        """The file's keypoint categories (with side-file skeletons where the reader found them)."""
        return list(self.categories)

    # -- one item's part of the document --------------------------------------------------------
    def _part(self, ids: set[Any]) -> dict[str, Any]:
        doc = self.doc
        part = {k: v for k, v in doc.items() if k not in ("images", "annotations", "keyskel")}
        part["images"] = [im for im in doc["images"] if isinstance(im, dict) and im.get("id") in ids]
        part["annotations"] = [
            a for a in doc["annotations"] if isinstance(a, dict) and a.get("image_id") in ids
        ]
        extra = dict(_top_extra(doc, self.root))
        extra.pop("status", None)
        frames = extra.get("frames")
        if isinstance(frames, dict):
            extra["frames"] = {k: v for k, v in frames.items() if _id_of(k) in ids}
        if extra:
            part["keyskel"] = extra
        return part

    def load(self, item: Item) -> AnnotationSet:
        """The item's annotations, read by the COCO reader from the item's part of the file."""
        from ..formats._jsonio import gc_paused
        from ..formats.coco._read import coco_from_obj

        with gc_paused():
            return coco_from_obj(self._part(set(self._images[item.key])), self.root, None, None, self._bools)

    def save(self, item: Item, annotations: AnnotationSet | None, status: Status) -> list[Path]:
        """Replace the item's part of the file (or only its status) and write the file atomically."""
        from ..formats._jsonio import dumps_json, gc_paused

        if annotations is not None:
            self._splice(item, annotations)
        extra = dict(_top_extra(self.doc, self.root))
        extra["status"] = {**(extra.get("status") or {}), item.key: status.to_dict()}
        self.doc["keyskel"] = extra
        self._statuses[item.key] = status
        from ..core._atomic import atomic_write_bytes

        with gc_paused():
            data = dumps_json(self.doc)
        written = [atomic_write_bytes(self.root, data)]
        if annotations is not None:
            written += write_missing_skeletons(annotations, self.skeleton_folder)
        return written

    def _splice(self, item: Item, annotations: AnnotationSet) -> None:
        """Put the COCO writer's document of the item in place of its part of the file."""
        from ..formats.coco import coco_document

        for fr in annotations.frames:  # the item keeps its name in the file
            fr.setdefault("item", item.key)
        sub = coco_document(annotations, path=self.root)
        assert isinstance(sub, dict)
        doc = self.doc
        old = set(self._images[item.key])
        cat_ids = self._merge_categories(sub["categories"])
        other_images = {im.get("id") for im in doc["images"] if isinstance(im, dict)} - old
        other_anns = {
            a.get("id") for a in doc["annotations"] if isinstance(a, dict) and a.get("image_id") not in old
        }
        img_map = _keep_ids(sub["images"], self._images[item.key], other_images)
        _fresh(sub["annotations"], other_anns)
        for a in sub["annotations"]:
            a["image_id"] = img_map.get(a.get("image_id"), a.get("image_id"))
            if a.get("category_id") in cat_ids:
                a["category_id"] = cat_ids[a["category_id"]]
        images = doc["images"]
        at = next(
            (i for i, im in enumerate(images) if isinstance(im, dict) and im.get("id") in old), len(images)
        )
        kept = [im for im in images if not (isinstance(im, dict) and im.get("id") in old)]
        doc["images"] = kept[:at] + sub["images"] + kept[at:]
        anns = doc["annotations"]
        doc["annotations"] = [a for a in anns if not (isinstance(a, dict) and a.get("image_id") in old)]
        doc["annotations"] += sub["annotations"]
        extra = dict(_top_extra(doc, self.root))
        moved = (sub.get("keyskel") or {}).get("frames") or {}
        frames = {k: v for k, v in (extra.get("frames") or {}).items() if _id_of(k) not in old}
        frames.update({str(img_map.get(_id_of(k), _id_of(k))): v for k, v in moved.items()})
        if frames:
            extra["frames"] = frames
        else:
            extra.pop("frames", None)
        doc["keyskel"] = extra
        self._images[item.key] = [im["id"] for im in sub["images"]]
        self._frames[item.key] = list(annotations.frames)
        self._keyed.discard(item.key)
        if any(s.counts()["points"] for s in annotations.stores):
            self._keyed.add(item.key)

    def _merge_categories(self, cats: list[dict[str, Any]]) -> dict[Any, Any]:
        """Category ids of the item's document -> ids in the file (new categories appended)."""
        doc_cats = [c for c in self.doc["categories"] if isinstance(c, dict)]
        by_name = {c.get("name"): c for c in doc_cats}
        used = {c.get("id") for c in doc_cats}
        out = {}
        for c in cats:
            have = by_name.get(c.get("name"))
            if have is None:
                cid = c.get("id")
                if cid in used:
                    cid = max((i for i in used if isinstance(i, int)), default=0) + 1
                self.doc["categories"].append({**c, "id": cid})
                used.add(cid)
                by_name[c.get("name")] = c
                out[c.get("id")] = cid
                continue
            if "keypoints" in c and list(have.get("keypoints") or []) != list(c["keypoints"]):
                raise FormatError(
                    f"category {c.get('name')!r} now has nodes {c['keypoints']} but the file's other items "
                    f"use {have.get('keypoints')}: COCO holds one node list per category; nothing was saved",
                    self.root,
                )
            if "keypoints" in c and c.get("skeleton") != have.get("skeleton"):
                have["skeleton"] = c.get("skeleton")  # edges are the category's: every item shares them
            out[c.get("id")] = have.get("id")
        return out


def _id_of(key: Any) -> Any:
    """An image id written as a JSON object key (text) back to the id."""
    if isinstance(key, str) and key.lstrip("-").isdigit():
        return int(key)
    return key


def _keep_ids(images: list[dict[str, Any]], old: list[Any], taken: set[Any]) -> dict[Any, Any]:
    """Ids for the item's images; returns the writer's id -> the id written.

    An image keeps its id where it was the item's; the others take the item's unused ids, else
    their own if free, else a new one above every id seen.
    """
    used, own = set(taken), set(old)
    new: dict[int, Any] = {}
    for k, im in enumerate(images):  # an image the writer gave back its id keeps it
        if im["id"] in own and im["id"] not in used:
            new[k] = im["id"]
            used.add(im["id"])
    spare = [i for i in old if i not in used]
    ints = [
        i for i in used | {im.get("id") for im in images} if isinstance(i, int) and not isinstance(i, bool)
    ]
    nxt = max(ints, default=0) + 1
    out = {}
    for k, im in enumerate(images):
        if k not in new:
            if spare:
                new[k] = spare.pop(0)
            elif im["id"] not in used:
                new[k] = im["id"]
            else:
                new[k], nxt = nxt, nxt + 1
            used.add(new[k])
        out[im["id"]] = new[k]
        im["id"] = new[k]
    return out


def _fresh(entries: list[dict[str, Any]], taken: set[Any]) -> dict[Any, Any]:
    """Give entries whose ``id`` is taken a new integer id above every id seen; old -> new ids."""
    ints = [
        i for i in taken | {e.get("id") for e in entries} if isinstance(i, int) and not isinstance(i, bool)
    ]
    nxt = max(ints, default=0) + 1
    mapping = {}
    for e in entries:
        if e.get("id") in taken:
            mapping[e["id"]] = nxt
            e["id"] = nxt
            nxt += 1
    return mapping
