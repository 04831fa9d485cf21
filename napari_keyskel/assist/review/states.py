"""Review states per (frame, instance), kept in ``Track.meta["review"]``.

The form is ``{str(frame): {"state": "accepted" | "needs_fix" | "rejected", "comment": str}}``
(JSON-able, so the formats keep it with the rest of ``Track.meta``). A flag counts as *reviewed*
when its (frame, instance) has any state; :func:`open_flags` with ``strict=True`` also keeps the
ones marked ``needs_fix`` open (fixed but not yet accepted).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.store import AnnotationStore
from ...errors import StoreError
from .flags import Flags

__all__ = [
    "STATES",
    "clear_state",
    "get_state",
    "open_flags",
    "progress",
    "review_table",
    "set_state",
    "state_of_flags",
]

#: The review states a (frame, instance) can have.
STATES: tuple[str, ...] = ("accepted", "needs_fix", "rejected")
_META_KEY = "review"


def _table(store: AnnotationStore, track_id: int, create: bool = False) -> dict[str, Any]:
    t = store.track(track_id)
    table = t.meta.get(_META_KEY)
    if not isinstance(table, dict):
        table = {}
        if create:
            t.meta[_META_KEY] = table
    return table


def set_state(store: AnnotationStore, frame: int, track_id: int, state: str, comment: str = "") -> None:
    """Give the instance ``track_id`` on ``frame`` a review state and an optional comment."""
    if state not in STATES:
        raise StoreError(f"review state must be one of {', '.join(STATES)}, got {state!r}")
    if not isinstance(comment, str):
        raise StoreError(f"a review comment must be text, got {type(comment).__name__}")
    f = store.check_frame(frame)
    _table(store, track_id, create=True)[str(f)] = {"state": state, "comment": comment}


def clear_state(store: AnnotationStore, frame: int, track_id: int) -> None:
    """Forget the review state of an instance on a frame (no error if it had none)."""
    table = _table(store, track_id)
    table.pop(str(int(frame)), None)
    if not table:
        store.track(track_id).meta.pop(_META_KEY, None)


def get_state(store: AnnotationStore, frame: int, track_id: int) -> dict[str, str] | None:
    """``{"state", "comment"}`` of an instance on a frame, or None when unreviewed."""
    if int(track_id) not in store.tracks:
        return None
    entry = _table(store, track_id).get(str(int(frame)))
    return dict(entry) if isinstance(entry, dict) and entry.get("state") in STATES else None


def review_table(store: AnnotationStore) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every review state: ``(frames, track_ids, states)`` arrays (states as strings)."""
    frames, ids, states = [], [], []
    for t in store:
        table = t.meta.get(_META_KEY)
        if not isinstance(table, dict):
            continue
        for key, entry in table.items():
            if isinstance(entry, dict) and entry.get("state") in STATES and str(key).lstrip("-").isdigit():
                frames.append(int(key))
                ids.append(t.track_id)
                states.append(entry["state"])
    return np.asarray(frames, np.int64), np.asarray(ids, np.int64), np.asarray(states, "<U9")


def state_of_flags(store: AnnotationStore, flags: Flags) -> np.ndarray:
    """The review state of each flag's (frame, instance), ``""`` when unreviewed."""
    frames, ids, states = review_table(store)
    out = np.full(len(flags), "", "<U9")
    if not len(frames) or not len(flags):
        return out
    width = np.int64(1) << 32
    have = frames * width + ids
    want = flags.frame * width + flags.track_id
    order = np.argsort(have)
    pos = np.clip(np.searchsorted(have[order], want), 0, len(have) - 1)
    hit = have[order][pos] == want
    out[hit] = states[order][pos][hit]
    return out


def open_flags(store: AnnotationStore, flags: Flags, strict: bool = False) -> Flags:
    """The flags whose (frame, instance) is unreviewed (``strict``: or marked ``needs_fix``)."""
    st = state_of_flags(store, flags)
    return flags.take((st == "") | (strict & (st == "needs_fix")))


def progress(store: AnnotationStore, flags: Flags) -> dict[str, int]:
    """``reviewed`` flagged (frame, instance) pairs, ``flagged`` pairs, ``total`` pairs with points."""
    pairs = flags.frame_instances()
    reviewed = 0
    if len(pairs):
        pf = Flags.make("", pairs[:, 0], pairs[:, 1], -1, 1.0)
        reviewed = int((state_of_flags(store, pf) != "").sum())
    total = sum(int((np.isfinite(t.coords[..., 0]).any(axis=1) & t.alive).sum()) for t in store)
    return {"reviewed": reviewed, "flagged": len(pairs), "total": total}
