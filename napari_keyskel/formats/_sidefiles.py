"""Skeleton side files (``<class>.skeleton.json``) beside annotation files: names and lookup.

A class name may hold characters no file name can (``a/b``), and two classes may map to the
same safe name (``a/b`` and ``a_b``). Writers therefore give each class a unique safe file name
and save the skeleton *named after the class*; readers match a class to a file by, in order:
the file name equal to the class name, a skeleton inside named like the class, the safe form of
the class name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ..core.skeleton import SKELETON_FILE_SUFFIX, Skeleton
from ..errors import FormatError
from ._checks import load_skeleton_file, warn

__all__ = ["SideFiles", "safe_name", "side_file_names"]

_BAD = set('/\\:*?"<>|')


def safe_name(name: str) -> str:
    """A name usable as a file name: path separators, reserved characters and spaces become ``_``.

    (No spaces: such files are easy to pass on a command line and to a shell script.)
    """
    out = "".join("_" if c in _BAD or ord(c) < 32 or c.isspace() else c for c in str(name)).strip("._")
    return out[:200] or "item"


def side_file_names(names: Sequence[str]) -> list[str]:
    """A unique ``<safe name>.skeleton.json`` file name per class name, in order."""
    out: list[str | None] = [None] * len(names)
    used: set[str] = set()
    for i, name in enumerate(names):  # names that are file names already keep them
        if safe_name(name) == name and name.lower() not in used:
            used.add(name.lower())
            out[i] = name
    for i, name in enumerate(names):
        if out[i] is None:
            base = safe_name(name)
            cand, n = base, 2
            while cand.lower() in used:
                cand = f"{base}_{n}"
                n += 1
            used.add(cand.lower())
            out[i] = cand
    return [f"{n}{SKELETON_FILE_SUFFIX}" for n in out]


class SideFiles:
    """The skeleton files of some folders, loaded on demand, matched to class names."""

    def __init__(self, dirs: Iterable[Path]) -> None:
        self.paths: list[Path] = []
        for d in dirs:
            try:
                found = sorted(d.glob("*" + SKELETON_FILE_SUFFIX))
            except OSError:
                found = []
            self.paths += [p for p in found if p.is_file()]
        self._loaded: dict[Path, Skeleton] = {}
        self._broken: set[Path] = set()

    def _load(self, p: Path) -> Skeleton:
        if p not in self._loaded:
            self._loaded[p] = load_skeleton_file(p)
        return self._loaded[p]

    def find(self, cls: str) -> tuple[Skeleton, Path] | None:
        """The skeleton of class ``cls`` and its file, or None."""
        stem = len(SKELETON_FILE_SUFFIX)
        for p in self.paths:
            if p.name[:-stem] == cls:
                return self._load(p), p
        for p in self.paths:
            if p in self._broken:
                continue
            try:
                sk = self._load(p)
            except FormatError as exc:  # a broken file of another class: say so, read on
                self._broken.add(p)
                warn(f"skeleton file skipped: {exc.reason}", p)
                continue
            if sk.name == cls:
                return sk, p
        for p in self.paths:
            if p.name[:-stem] == safe_name(cls):
                return self._load(p), p
        return None
