"""Which files are media, of which kind, and where an item's media is (pure, no decoding).

Videos and images are told by their suffix; a folder holding images is one ``images`` item (a
sequence). An annotation file names its media by file name; it is looked for beside the file,
in the dataset folder, and in the folders darwin-py and DeepLabCut keep media in.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "VOLUME_SUFFIXES",
    "find_media",
    "kind_of",
    "media_frames",
    "media_in",
]

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".mts", ".ts", ".ogv"}
)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"})
VOLUME_SUFFIXES = frozenset({".nii", ".nii.gz", ".dcm", ".nrrd"})
#: Folders of a dataset folder that are never items.
SKIPPED_FOLDERS = frozenset({"annotations", "labeled-data", "releases", ".v7", "__pycache__"})


def _suffix(p: Path) -> str:
    name = p.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else p.suffix.lower()


def kind_of(path: Path) -> str | None:
    """``"video"``, ``"image"``, ``"volume"`` or ``"images"`` (a folder of images); None if not media."""
    if path.is_dir():
        if any(_suffix(p) == ".dcm" for p in path.iterdir()):
            return "volume"
        return "images" if any(_suffix(p) in IMAGE_SUFFIXES for p in path.iterdir() if p.is_file()) else None
    s = _suffix(path)
    if s in VIDEO_SUFFIXES:
        return "video"
    if s in IMAGE_SUFFIXES:
        return "image"
    if s in VOLUME_SUFFIXES:
        return "volume"
    return None


def media_in(folder: Path) -> list[tuple[Path, str]]:
    """The media items of a folder (not recursive): videos, images, volumes, image folders."""
    out = []
    for p in sorted(folder.iterdir(), key=lambda q: q.name.lower()):
        if p.name.startswith(".") or (p.is_dir() and p.name in SKIPPED_FOLDERS):
            continue
        kind = kind_of(p)
        if kind is not None:
            out.append((p, kind))
    return out


def find_media(name: str, roots: Iterable[Path], rel: str | None = None) -> Path | None:
    """The file or folder called ``name`` (or at ``rel``) in the first root that has it.

    In each root, then its ``images``, ``media`` and ``videos`` folders, then (darwin-py's local
    layout) ``../images`` and ``../../images``, then the root's parent (a media folder whose
    annotations keyskel wrote to ``annotations/``, opened as a V7 export).
    """
    seen = set()
    for root in roots:
        for sub in ("", "images", "media", "videos", "../images", "../../images", ".."):
            base = (root / sub).resolve() if sub else root
            if base in seen:
                continue
            seen.add(base)
            for cand in ([base / rel.strip("/") / name] if rel and rel.strip("/") else []) + [base / name]:
                if cand.exists():
                    return cand
    return None


def media_frames(path: Path, kind: str) -> int | None:
    """Frames of a media item from its header alone (a video's stated count; images counted), or None."""
    if kind == "image":
        return 1
    if kind == "images":
        return sum(1 for p in path.iterdir() if p.is_file() and _suffix(p) in IMAGE_SUFFIXES)
    if kind != "video":
        return None
    try:
        import av

        with av.open(str(path)) as c:
            n = int(c.streams.video[0].frames) if c.streams.video else 0
    except Exception:  # a broken file: the viewer says why when it is opened
        return None
    return n or None
