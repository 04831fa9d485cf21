"""Where each global frame goes in V7 terms: items, slots and local frames (for the writer).

The frame table (``AnnotationSet.frames``) names each frame's item, slot and index inside the slot;
frames of an item read from V7 go back to that item (kept as read), others to new items.
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...errors import FormatError
from .._checks import is_int, short

__all__ = ["Group", "Item", "Layout"]

_is_int = is_int


#: Frame-table keys that decide a frame's output item and slot.
_GROUP_KEYS = ("darwin_file", "item", "slot", "slot_type")
_PLAIN = frozenset({str, int, float, type(None)})


def _hashable(v: Any) -> Any:
    return v if v is None or isinstance(v, (str, int, float)) else short(v)


class Group:
    """The frames of one slot of one output item: global ``rows`` and their ``local`` indices."""

    def __init__(self, item: Item, slot: str, slot_type: str | None) -> None:
        self.item, self.slot, self.slot_type = item, slot, slot_type
        self.rows = np.zeros(0, np.intp)
        self.local = np.zeros(0, np.int64)


class Item:
    """One output document: a kept item (as read) or a new one, with its annotations."""

    def __init__(self, key: str, meta: dict[str, Any] | None, name: str) -> None:
        self.key, self.meta, self.name = key, meta, name
        self.version = int(meta.get("version", 2)) if meta else 2
        self.groups: dict[str, Group] = {}
        self.home: dict[str, dict[str, Any]] = {}  # ref -> regenerated annotation
        self.new: list[dict[str, Any]] = []


class Layout:
    """Global frame -> (group, local frame), from ``AnnotationSet.frames`` (vectorised over frames)."""

    def __init__(self, ds: AnnotationSet, default_name: str) -> None:
        meta = ds.meta.get("darwin") if isinstance(ds.meta, dict) else None
        kept = meta.get("items", []) if isinstance(meta, dict) else []
        self.items: dict[str, Item] = {}
        self.fast = False  # the writer's fast text for plain frames (see .._frames)
        for m in kept:
            if isinstance(m, dict) and isinstance(m.get("key"), str) and isinstance(m.get("template"), dict):
                self.items[m["key"]] = Item(m["key"], m, str(m.get("name", default_name)))
        table = ds.frames or [{"item": default_name, "frame": f} for f in range(max(ds.n_frames, 1))]
        self.table = [fr if isinstance(fr, dict) else {} for fr in table]
        self.n = len(table)
        # distinct (file, item, slot, slot type) tuples -> groups; frames of one slot share a tuple
        codes: dict[tuple[Any, ...], int] = {}
        cols = [list(map(dict.get, self.table, repeat(k))) for k in _GROUP_KEYS]
        if not all(set(map(type, c)) <= _PLAIN for c in cols):
            cols = [list(map(_hashable, c)) for c in cols]
        per_frame = [codes.setdefault(key, len(codes)) for key in zip(*cols)]
        self.groups: list[Group] = []
        index: dict[tuple[str, str], int] = {}
        to_group = []
        for file, name, slot, slot_type in codes:
            if not (isinstance(file, str) and file in self.items):
                name = str(name) if name is not None else default_name
                file = "new:" + name
                self.items.setdefault(file, Item(file, None, name))
            it = self.items[file]
            slots = it.meta.get("slots", []) if it.meta else []
            slot = str(slot if slot is not None else slots[0] if slots else "0")
            if (file, slot) not in index:
                index[file, slot] = len(self.groups)
                grp = Group(it, slot, str(slot_type) if slot_type else None)
                it.groups[slot] = grp
                self.groups.append(grp)
            to_group.append(index[file, slot])
        self.gid = np.asarray(to_group, np.intp)[np.asarray(per_frame, np.intp)]
        self.local = self._locals()
        for g, grp in enumerate(self.groups):
            grp.rows = np.flatnonzero(self.gid == g)
            grp.local = self.local[grp.rows]
            if grp.slot_type is None:
                grp.slot_type = "image" if grp.local.max() == 0 else "video"

    def _locals(self) -> np.ndarray:
        """Each frame's index inside its slot (``frame``, or its position there if missing)."""
        raw: list[Any] = [fr.get("frame") for fr in self.table]
        if set(map(type, raw)) <= {int} and (not raw or min(raw) >= 0):
            local = np.asarray(raw, np.int64)
        else:
            local = np.zeros(self.n, np.int64)
            seen = [0] * len(self.groups)
            for g, (lf, grp) in enumerate(zip(raw, self.gid.tolist())):
                local[g] = int(lf) if _is_int(lf) and lf >= 0 else seen[grp]
                seen[grp] += 1
        pairs = self.gid.astype(np.int64) * (int(local.max(initial=0)) + 1) + local
        uniq, first, counts = np.unique(pairs, return_index=True, return_counts=True)
        if uniq.size != self.n:
            g = int(first[np.argmax(counts > 1)])
            grp = self.groups[self.gid[g]]
            raise FormatError(
                f"frame table: frame {int(local[g])} of item {grp.item.name!r}, slot {grp.slot!r} "
                "is listed twice"
            )
        return local
