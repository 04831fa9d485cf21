"""Find the images or video an annotation file names (pure: paths only, nothing is decoded).

Each frame of an :class:`~napari_keyskel.core.annotation_set.AnnotationSet` names its item
(``frames[f]["item"]``, COCO ``file_name``, V7 item name / path / slot ``source_files``, the
video path sleap-io stored). Those names are tried, in this order, as:

1. the stored path itself when it is absolute and exists (sleap-io, darwin-py ``local_path``);
2. relative to the annotation file's folder, then to an ``images/`` folder beside it and beside
   its parent folder (COCO's ``annotations/`` + ``images/``), then to a ``root`` the person picked;
3. darwin-py's local dataset layout: ``<dataset>/images/<item path>/<item name>`` (and
   ``.../<item name>/<slot>/<file>`` for slotted items) for a file under
   ``<dataset>/releases/<release>/annotations/``;
4. the same file name beside the annotation file (a moved project) or in ``root``.

:func:`locate_media` returns one :class:`MediaPlan` that says how the frames map onto one media
source (one video with explicit frame numbers, or one image per frame), or what was looked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..core.annotation_set import AnnotationSet
from .images import IMAGE_EXTENSIONS
from .video import VIDEO_EXTENSIONS

__all__ = ["MediaPlan", "candidate_names", "locate_media"]


@dataclass
class MediaPlan:
    """How an annotation set's frames map onto media on disk.

    Attributes
    ----------
    kind
        ``"video"`` (one video, ``frames`` gives its frame number per row), ``"images"`` (one image
        file per row, in ``files``), or ``None`` when nothing usable was found.
    path
        The video file, or the folder the images share.
    files
        The image file of each frame row (``"images"``).
    frames
        The video's frame number of each frame row (``"video"``).
    items
        The item names the file gives, in order of first use.
    located
        ``{item: path}`` for every item found.
    missing
        ``{item: [paths looked at]}`` for every item not found.
    reason
        Why no plan was made (several videos, a mix of videos and images...), if so.
    named
        Whether the file names any media file at all (a name with a file extension); files
        written from an array in memory name none, and nothing needs to be looked for.

    """

    kind: str | None = None
    path: Path | None = None
    files: list[Path] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    located: dict[str, Path] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    reason: str | None = None
    named: bool = True

    @property
    def found(self) -> bool:
        """Whether every frame has its media."""
        return self.kind is not None

    def describe_missing(self, limit: int = 3) -> str:
        """A short text naming what was looked for (for a notification)."""
        parts = []
        for item, looked in list(self.missing.items())[:limit]:
            where = ", ".join(looked[:4]) + (f" and {len(looked) - 4} more places" if len(looked) > 4 else "")
            parts.append(f"{item!r} (looked for {where})")
        more = len(self.missing) - limit
        return "; ".join(parts) + (f"; and {more} more items" if more > 0 else "")


def _darwin_items(aset: AnnotationSet) -> dict[str, dict[str, Any]]:
    items = (
        (aset.meta.get("darwin") or {}).get("items") if isinstance(aset.meta.get("darwin"), dict) else None
    )
    out: dict[str, dict[str, Any]] = {}
    for it in items or []:
        tpl = it.get("template") if isinstance(it, dict) else None
        item = tpl.get("item") if isinstance(tpl, dict) else None
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            out[item["name"]] = item
    return out


def _sleap_paths(aset: AnnotationSet) -> list[Any]:
    videos = (
        (aset.meta.get("sleap") or {}).get("videos") if isinstance(aset.meta.get("sleap"), dict) else None
    )
    return [v.get("filename") for v in videos or [] if isinstance(v, dict)]


def candidate_names(aset: AnnotationSet, row: int) -> list[str]:
    """The names and stored paths frame ``row`` gives for its media, most specific first."""
    fr = aset.frames[row]
    item = str(fr.get("item") or "")
    names: list[str] = []
    if "sleap_video" in fr:
        stored = _sleap_paths(aset)
        vi = int(fr["sleap_video"])
        if vi < len(stored) and isinstance(stored[vi], str):
            names.append(stored[vi])
    for key in ("local_path", "file_name"):
        if isinstance(fr.get(key), str) and fr[key]:
            names.append(fr[key])
    dv = _darwin_items(aset).get(item)
    if dv is not None:
        folder = str(dv.get("path") or "/").strip("/")
        slot = str(fr.get("slot") or "")
        for s in dv.get("slots") or []:
            if not isinstance(s, dict) or (slot and str(s.get("slot_name")) != slot):
                continue
            for sf in s.get("source_files") or []:
                if isinstance(sf, dict) and isinstance(sf.get("local_path"), str):
                    names.append(sf["local_path"])
                if isinstance(sf, dict) and isinstance(sf.get("file_name"), str):
                    fn = sf["file_name"]
                    names += [f"{folder}/{item}/{slot}/{fn}".lstrip("/"), f"{item}/{slot}/{fn}", fn]
        if folder:
            names.append(f"{folder}/{item}")
    names.append(item)
    return [n for n in dict.fromkeys(names) if n]


def _bases(annotation_path: Path | None, root: Path | None) -> list[Path]:
    bases: list[Path] = []
    if annotation_path is not None:
        here = annotation_path if annotation_path.is_dir() else annotation_path.parent
        bases += [here, here / "images", here.parent / "images"]
        parts = here.parts
        if len(parts) >= 3 and parts[-1] == "annotations" and parts[-3] == "releases":
            bases.append(here.parent.parent.parent / "images")  # darwin-py: <dataset>/images
    if root is not None:
        bases += [root, root / "images"]
    return list(dict.fromkeys(bases))


def _find(names: list[str], bases: list[Path]) -> tuple[Path | None, list[str]]:
    looked: list[str] = []
    for name in names:
        p = Path(name).expanduser()
        if p.is_absolute():
            looked.append(str(p))
            if p.is_file():
                return p, looked
            continue
        rel = PurePosixPath(name.replace("\\", "/"))
        for base in bases:
            cand = base.joinpath(*rel.parts)
            looked.append(str(cand))
            if cand.is_file():
                return cand, looked
    for name in names:  # a moved project: the same file name in each place
        leaf = PurePosixPath(name.replace("\\", "/")).name
        for base in bases:
            cand = base / leaf
            if str(cand) not in looked:
                looked.append(str(cand))
                if cand.is_file():
                    return cand, looked
    return None, looked


def locate_media(
    aset: AnnotationSet, annotation_path: str | os.PathLike[str] | None = None, root: Any = None
) -> MediaPlan:
    """Find the media of every frame of ``aset`` and say how they make one layer (module docstring)."""
    ann = None if annotation_path is None else Path(annotation_path).expanduser().absolute()
    bases = _bases(ann, None if root is None else Path(root).expanduser().absolute())
    plan = MediaPlan()
    if not aset.frames:
        plan.reason = "the file has no frame table naming its images or video"
        return plan
    known = (*IMAGE_EXTENSIONS, *VIDEO_EXTENSIONS)
    if not any(
        PurePosixPath(n).suffix.lower() in known
        for r in range(len(aset.frames))
        for n in candidate_names(aset, r)
    ):
        plan.named = False
        plan.reason = "the file names no image or video file"
        return plan
    cache: dict[tuple[str, ...], tuple[Path | None, list[str]]] = {}
    found: list[Path | None] = []
    for row, fr in enumerate(aset.frames):
        names = candidate_names(aset, row)
        key = tuple(names)
        if key not in cache:
            cache[key] = _find(names, bases)
        path, looked = cache[key]
        item = str(fr.get("item") or (names[0] if names else f"frame {row}"))
        if item not in plan.items:
            plan.items.append(item)
        if path is None:
            plan.missing.setdefault(item, looked)
        else:
            plan.located.setdefault(item, path)
        found.append(path)
    if plan.missing:
        return plan
    paths = [p for p in found if p is not None]
    videos = {p for p in paths if p.suffix.lower() in VIDEO_EXTENSIONS}
    if videos and len(videos) == len(set(paths)) == 1:
        plan.kind, plan.path = "video", paths[0]
        plan.frames = [int(fr.get("frame", f)) for f, fr in enumerate(aset.frames)]
    elif not videos and all(p.suffix.lower() in IMAGE_EXTENSIONS for p in paths):
        if len(set(paths)) != len(paths):
            plan.reason = "several frames name the same image"
            return plan
        plan.kind, plan.files = "images", paths
        plan.path = Path(os.path.commonpath([str(p.parent) for p in paths]))
    else:
        kinds = f"{len(videos)} videos" + (" and images" if len(videos) < len(set(paths)) else "")
        plan.reason = (
            f"the frames come from {kinds}; one media layer shows one video or one set of images "
            "(open the file as a dataset, in the Dataset tab, to see each video with its annotations)"
        )
    return plan
