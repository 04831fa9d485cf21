"""COCO images -> the frame table (part of the reader; see :mod:`.coco`).

Each image is one frame: its item (video) and frame number inside it, its size, and its other
keys kept for the round trip. Also what our writer made up for a dataset that was not COCO
(:func:`forget_made`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...core.annotation_set import AnnotationSet
from .._checks import short
from ._rules import DEFAULT_ITEM, IMAGE_FIELDS, Ctx, is_id, is_int, is_num

__all__ = ["FRAME_RE", "forget_made", "frame_entry", "read_images", "set_frame_extras"]

#: ``<item>/frame_000123.png``, ``<item>_frame12.jpg``, ``frame_5.png`` -> (item, frame)
FRAME_RE = re.compile(r"^(?P<item>.*?)[/\\_\-. ]?frame[_\-]?(?P<n>\d+)\.[A-Za-z0-9]+$", re.IGNORECASE)


# -- images ------------------------------------------------------------------------------------------
#: Image keys not kept in ``frame["coco"]``.
_IMAGE_SKIP = frozenset((*IMAGE_FIELDS, "keyskel"))


#: Image keys naming the video an image belongs to (PoseTrack ``vid_id``, COCO-video ``video_id``).
VIDEO_KEYS = ("video_id", "vid_id")


class _ImagePlace:
    """``"image id 17"``, formatted only when an error message needs it."""

    __slots__ = ("iid",)

    def __init__(self, iid: Any) -> None:
        self.iid = iid

    def __str__(self) -> str:
        return f"image id {short(self.iid)}"


def frame_entry(ctx: Ctx, im: Any, j: int) -> dict[str, Any]:
    """One frame-table dict from one COCO image (``frame`` None: numbered later, in its video)."""
    if not isinstance(im, dict):
        raise ctx.fail("an image must be an object", f"images[{j}]")
    get = im.get
    iid = get("id")
    if not is_id(iid):
        raise ctx.fail(f"image has no integer or string 'id' (got {short(iid)})", f"images[{j}]")
    place = _ImagePlace(iid)  # (made into text only for an error message)
    fn, w, h = get("file_name"), get("width"), get("height")
    if fn is not None and not isinstance(fn, str):
        raise ctx.fail(f"'file_name' must be a string, got {short(fn)}", place)
    for key, v in (("width", w), ("height", h)):
        if v is not None and not (is_num(v) and v >= 0):
            raise ctx.fail(f"'{key}' must be a non-negative number, got {short(v)}", place)
    fi, item, slot = get("frame_index"), get("item"), get("slot")
    if fi is not None and not (is_int(fi) and 0 <= fi < 2**53):
        raise ctx.fail(f"'frame_index' must be a non-negative integer, got {short(fi)}", place)
    if item is not None and not isinstance(item, str):
        raise ctx.fail(f"'item' must be a string, got {short(item)}", place)
    if slot is not None and not isinstance(slot, str):
        raise ctx.fail(f"'slot' must be a string (a V7 slot name), got {short(slot)}", place)
    video = get("video_id")
    if video is None:
        video = get("vid_id")
    if video is not None and not is_id(video):
        raise ctx.fail(f"the video id must be an integer or a string, got {short(video)}", place)
    m = FRAME_RE.match(fn) if fn else None
    if fi is None and m is not None:
        fi = int(m["n"])
    if item is None:
        if video is not None:
            item = f"video_{video}"
            if fi is None and fn:  # PoseTrack: images/val/000342_mpii_test/000012.jpg
                stem = fn.replace("\\", "/").rsplit("/", 1)[-1].split(".", 1)[0]
                fi = int(stem) if stem.isascii() and stem.isdigit() and len(stem) < 16 else None
        elif m is not None:
            item = m["item"] or DEFAULT_ITEM
        else:  # an image on its own (a COCO of unrelated images is not a video)
            item = fn or f"image_{iid}"
            fi = 0 if fi is None else fi
    frame: dict[str, Any] = {"item": item, "frame": fi, "image_id": iid}
    if fn is not None:
        frame["file_name"] = fn
    if w is not None:
        frame["width"] = w
    if h is not None:
        frame["height"] = h
    if slot is not None:
        frame["slot"] = slot
    frame["coco"] = {k: v for k, v in im.items() if k not in _IMAGE_SKIP}
    ks = get("keyskel")
    if ks is not None:
        if not (isinstance(ks, dict) and isinstance(ks.get("frame", {}), dict)):
            raise ctx.fail("'keyskel' must be an object whose 'frame' is an object", place)
        # frame-table keys of other formats (never the ones read above)
        frame.update({k: v for k, v in ks.get("frame", {}).items() if k not in frame})
    return frame


def _number_frames(ctx: Ctx, frames: list[dict[str, Any]]) -> None:
    """Give frames without a number their rank in their video; split videos whose numbers repeat.

    Images of one video with no frame number are numbered in ``images`` order. Where two images
    of one item and slot claim the same frame number, that item is not one video: each of its
    images becomes an item of its own (with a warning), so nothing is interpolated across them.
    """
    counts: dict[Any, int] = {}
    for fr in frames:
        if fr["frame"] is None:
            key = fr["item"]
            rank = counts.get(key, 0)
            fr["frame"], counts[key] = rank, rank + 1
    seen: dict[tuple[Any, Any, int], int] = {}
    clash: set[Any] = set()
    for fr in frames:
        key = (fr["item"], fr.get("slot"), fr["frame"])
        if key in seen:
            clash.add(fr["item"])
        seen[key] = 1
    for item in clash:
        ctx.warn(
            f"two images of item {short(item)} have the same frame number: its images are read as "
            "separate items (no interpolation across them)"
        )
        for fr in frames:
            if fr["item"] == item:
                fr["item"] = fr.get("file_name") or f"image_{fr['image_id']}"
                fr["frame"] = 0
    if clash:  # separate items can still clash (two images with one file name)
        names: dict[tuple[Any, Any], int] = {}
        for fr in frames:
            key = (fr["item"], fr.get("slot"))
            if key in names and fr["frame"] == 0:
                fr["item"] = f"{fr['item']} (image {fr['image_id']})"
            names[key] = 1


def set_frame_extras(ctx: Ctx, frames: list[dict[str, Any]], index: dict[Any, int], raw: Any) -> None:
    """Frame-table keys of other formats kept in ``keyskel.frames`` (keyed by JSON image id)."""
    if raw is None:
        return
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ctx.fail("'keyskel.frames' must map image ids to objects", "top level")
    for key, extra in raw.items():
        try:
            iid = json.loads(key)
        except (ValueError, RecursionError):
            raise ctx.fail(f"'keyskel.frames' has a bad image id {short(key)}", "top level") from None
        f = index.get(iid) if is_id(iid) else None
        if f is None:
            raise ctx.fail(
                f"'keyskel.frames' names image id {short(key)}, which is not in 'images'", "top level"
            )
        fr = frames[f]
        fr.update({k: v for k, v in extra.items() if k not in fr})


def read_images(ctx: Ctx, images: list[Any]) -> tuple[list[dict[str, Any]], dict[Any, int]]:
    frames = [frame_entry(ctx, im, j) for j, im in enumerate(images)]
    index: dict[Any, int] = {}
    for f, fr in enumerate(frames):
        if fr["image_id"] in index:
            raise ctx.fail("duplicate image id", f"image id {short(fr['image_id'])} (images[{f}])")
        index[fr["image_id"]] = f
    _number_frames(ctx, frames)
    return frames, index


def forget_made(ds: AnnotationSet, made: bool) -> None:
    """Forget what our own writer made up for a dataset that was not COCO (``keyskel.made``).

    Image ids, file names, category and annotation ids, the default track fields: a file we
    wrote from V7 gives back the dataset as it was before, so V7 -> COCO -> V7 equals V7 -> V7.
    Only parts exactly as the writer makes them are forgotten; anything a tool added is kept.
    """
    if not made:
        return
    for fr in ds.frames:
        coco = fr.get("coco")
        if isinstance(coco, dict) and set(coco) <= {"frame_index", "item", "slot"}:
            for key in ("image_id", "file_name", "coco"):
                fr.pop(key, None)
    m = ds.meta.get("coco")
    if m == {"kind": "ground_truth", "top": {}, "categories": [], "annotations": []}:
        del ds.meta["coco"]
    for s in ds.stores:
        cm = s.meta.get("coco", {})
        cat = cm.get("category", {})
        plain_cat = set(cat) <= {"id", "supercategory", "skeleton"}
        plain_cat = plain_cat and cat.get("supercategory", s.name) == s.name
        if plain_cat and set(cm) <= {"category", "skeleton_source"}:
            del s.meta["coco"]
        for t in s:
            tm = t.meta.get("coco", {})
            anns = tm.get("ann", {})
            if (
                set(tm) <= {"fields", "ann"}
                and tm.get("fields") == ["track_id", "object_id"]
                and all(set(a) == {"id"} and type(a["id"]) is int for a in anns.values())
            ):
                del t.meta["coco"]
