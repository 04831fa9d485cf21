"""Skeleton files a dataset writes beside its items, so that a reopen keeps edges and pairs."""

from __future__ import annotations

from pathlib import Path

from ..core.annotation_set import AnnotationSet
from ..core.skeleton import SKELETON_FILE_SUFFIX

__all__ = ["write_missing_skeletons"]


def write_missing_skeletons(annotations: AnnotationSet, folder: Path) -> list[Path]:
    """Write ``<class>.skeleton.json`` into ``folder`` for classes lacking one that need it.

    A class needs one for its edges, left/right pairs or node descriptions.
    A class of node names alone needs no file (the annotation file gives its names back).
    """
    out = []
    for s in annotations.stores:
        path = folder / f"{s.name}{SKELETON_FILE_SUFFIX}"
        sk = s.skeleton
        if not path.exists() and (sk.edges or sk.flip_pairs or any(sk.descriptions)):
            out.append((sk if sk.name == s.name else sk.renamed(s.name)).save(path))
    return out
