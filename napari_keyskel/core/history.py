"""Undo and redo for an :class:`~napari_keyskel.core.store.AnnotationStore`, as diffs.

An edit is recorded as one :class:`Step`: the cells it changed (before and after values of
coordinates, visibility, keys and scores, for the changed rows and node columns only), block
growth, lifespan (``alive``) changes, names and meta, tracks created or removed, and store-level
state (skeleton, interpolation method, ...). No second copy of the store is kept: an edit block
copies the tracks it is about to touch when it opens (or when :meth:`History.touch` names them,
before they are written), compares them when it closes, keeps the difference and drops the copies.

::

    history = History(store)
    with history.edit("move snout", tracks=[1]):       # tracks the block may write; None = all
        keyframes.move_node(store, 10, 1, "snout", (40.0, 52.5))
    history.begin([])                                  # a block spanning events (a mouse drag)
    history.touch([2])                                 # ...name each track before writing it
    history.end("drag")
    changes = history.undo()                           # list[Change] to refresh the view

Tracks created inside a block are found by themselves, and so are removed ones (the removed track
object is its own "before"). Writing a track the block was not told about is not recorded.
``store.meta`` (format extras, possibly large: a COCO file's image table) is never copied when a
block opens: its entries are compared by identity when it closes, and only a changed ``meta`` is
copied into the step; change an entry by replacing it (``store.meta[key] = new``).
An exception inside ``edit`` rolls the touched tracks back to their state before the block.
Steps are bounded (``max_steps``, default 500); the oldest are dropped first.
"""

from __future__ import annotations

import contextlib
import copy
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import StoreError
from .store import AnnotationStore, Change, Track

__all__ = ["History", "Step"]

_STORE_ATTRS = ("skeleton", "method", "bridge_unlabelled", "name", "n_frames", "frame_axis", "coord_ndim")


def _embed(t: Track, base: int, n: int) -> tuple[np.ndarray, ...]:
    """``t``'s coords, visibility, is_key, score and alive over frames ``[base, base + n)``.

    Rows outside the block are empty (as a grown block).
    """
    if t.start == base and len(t) == n:
        return t.coords, t.visibility, t.is_key, _score(t), t.alive
    k, d = t.coords.shape[1:]
    coords = np.full((n, k, d), np.nan)
    vis = np.zeros((n, k), np.int8)
    key = np.zeros((n, k), bool)
    score = np.full((n, k), np.nan, np.float32)
    alive = np.ones(n, bool)
    r = slice(t.start - base, t.stop - base)
    coords[r], vis[r], key[r], score[r], alive[r] = t.coords, t.visibility, t.is_key, t.score, t.alive
    return coords, vis, key, score, alive


def _score(t: Track) -> np.ndarray:
    assert t.score is not None  # Track.__post_init__ fills it
    return t.score


def _track_nbytes(t: Track) -> int:
    return t.coords.nbytes + t.visibility.nbytes + t.is_key.nbytes + t.alive.nbytes + _score(t).nbytes


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise equality where NaN equals NaN."""
    eq = a == b
    if a.dtype.kind == "f":
        eq |= np.isnan(a) & np.isnan(b)
    return eq


@dataclass
class _TrackDiff:
    """What one step changed in one track."""

    track_id: int
    geom: tuple[tuple[int, int] | None, tuple[int, int] | None]  # (start, stop) before / after
    # whole tracks when one side is missing or the node count changed; else changed cells only
    full: tuple[Track | None, Track | None] | None = None
    base: int = 0
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.intp))
    cols: np.ndarray = field(default_factory=lambda: np.zeros(0, np.intp))
    cells: tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]] = ((), ())
    alive_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.intp))
    alive: tuple[np.ndarray, np.ndarray] = (np.zeros(0, bool), np.zeros(0, bool))
    name: tuple[str, str] | None = None
    meta: tuple[dict[str, Any], dict[str, Any]] | None = None

    def nbytes(self) -> int:
        n = sum(a.nbytes for side in self.cells for a in side) + sum(a.nbytes for a in self.alive)
        n += self.rows.nbytes + self.cols.nbytes + self.alive_rows.nbytes
        if self.full is not None:
            n += sum(_track_nbytes(t) for t in self.full if t is not None)
        return n

    def change(self, n_nodes: int) -> Change:
        """The frames and nodes this diff touches, as a :class:`Change`."""
        spans = [g for g in self.geom if g is not None]
        if self.full is not None or self.geom[0] != self.geom[1]:
            start, stop = min(g[0] for g in spans), max(g[1] for g in spans)
            return Change(self.track_id, start, stop, tuple(range(n_nodes)))
        rows = np.concatenate([self.rows, self.alive_rows])
        if rows.size == 0:  # only the name or meta changed
            start, stop = spans[0]
            return Change(self.track_id, start, stop, ())
        nodes = self.cols if self.alive_rows.size == 0 else np.arange(n_nodes)
        return Change(
            self.track_id, self.base + int(rows.min()), self.base + int(rows.max()) + 1, tuple(nodes.tolist())
        )


def _diff_track(
    tid: int, old: Track | None, new: Track | None, window: tuple[int, int] | None = None
) -> _TrackDiff | None:
    """The difference between a track before the block and now (None if equal).

    ``window``: frames ``[start, stop)`` outside which the block promised not to write (only used
    when the block did not change the track's frames).
    """
    geom = (None if old is None else (old.start, old.stop), None if new is None else (new.start, new.stop))
    if old is None and new is None:
        return None
    if old is None or new is None or old.coords.shape[1:] != new.coords.shape[1:]:
        return _TrackDiff(tid, geom, full=(old, None if new is None else new.copy()))
    base = min(old.start, new.start)
    n = max(old.stop, new.stop) - base
    a, b = _embed(old, base, n), _embed(new, base, n)
    lo = 0  # compare rows [lo, lo + len) of the union block
    if window is not None and geom[0] == geom[1]:
        lo, hi = max(window[0] - base, 0), min(window[1] - base, n)
        lo = min(lo, hi)
        a, b = tuple(x[lo:hi] for x in a), tuple(x[lo:hi] for x in b)
    cell_same = _same(a[0], b[0]).all(axis=-1) & (a[1] == b[1]) & (a[2] == b[2]) & _same(a[3], b[3])
    changed = ~cell_same
    rows = np.flatnonzero(changed.any(axis=1))
    cols = np.flatnonzero(changed.any(axis=0))
    alive_rows = np.flatnonzero(a[4] != b[4])
    d = _TrackDiff(tid, geom, base=base, rows=rows + lo, cols=cols, alive_rows=alive_rows + lo)
    if rows.size:
        ix = np.ix_(rows, cols)
        d.cells = (tuple(x[ix].copy() for x in a[:4]), tuple(x[ix].copy() for x in b[:4]))
    d.alive = (a[4][alive_rows].copy(), b[4][alive_rows].copy())
    if old.name != new.name:
        d.name = (old.name, new.name)
    if old.meta != new.meta:
        d.meta = (copy.deepcopy(old.meta), copy.deepcopy(new.meta))
    if not rows.size and not alive_rows.size and geom[0] == geom[1] and d.name is None and d.meta is None:
        return None
    return d


@dataclass
class Step:
    """One recorded edit: a label, per-track diffs, store-level changes and track order."""

    label: str
    diffs: list[_TrackDiff]
    attrs: dict[str, tuple[Any, Any]]
    store_meta: tuple[dict[str, Any], dict[str, Any]] | None
    order: tuple[list[int], list[int]]

    def nbytes(self) -> int:
        """Approximate bytes held by the step's arrays."""
        return sum(d.nbytes() for d in self.diffs)


class History:
    """Bounded undo/redo of the edits of one store.

    Parameters
    ----------
    store
        The store whose edits are recorded; undo and redo change it in place (track objects keep
        their identity unless they were created or removed).
    max_steps
        How many steps to keep; older ones are forgotten.

    """

    def __init__(self, store: AnnotationStore, max_steps: int = 500) -> None:
        if not isinstance(store, AnnotationStore):
            raise StoreError(f"History needs an AnnotationStore, got {type(store).__name__}")
        if int(max_steps) < 1:
            raise StoreError(f"max_steps must be at least 1, got {max_steps!r}")
        self.store = store
        self.max_steps = int(max_steps)
        self._undo: deque[Step] = deque()
        self._redo: list[Step] = []
        self._depth = 0
        self._before: dict[int, Track | None] = {}  # copies of the touched tracks, inside a block
        self._window: dict[int, tuple[int, int] | None] = {}  # frames each track changed in
        self._refs: dict[int, Track] = {}  # the track objects when the block opened
        self._order: list[int] = []
        self._attrs: dict[str, Any] = {}
        self._store_meta: dict[str, Any] = {}

    # -- state ----------------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every step."""
        self._undo.clear()
        self._redo.clear()

    @property
    def can_undo(self) -> bool:
        """Whether there is a step to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether there is a step to redo."""
        return bool(self._redo)

    @property
    def undo_label(self) -> str | None:
        """Label of the step :meth:`undo` would revert."""
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        """Label of the step :meth:`redo` would apply."""
        return self._redo[-1].label if self._redo else None

    def __len__(self) -> int:
        return len(self._undo)

    def nbytes(self) -> int:
        """Bytes held by the recorded steps and, inside a block, the copies of touched tracks."""
        n = sum(s.nbytes() for s in self._undo) + sum(s.nbytes() for s in self._redo)
        return n + sum(_track_nbytes(t) for t in self._before.values() if t is not None)

    # -- recording ------------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        """True inside an edit block (:meth:`edit`, or :meth:`begin` ... :meth:`end`)."""
        return self._depth > 0

    @contextlib.contextmanager
    def edit(self, label: str, tracks: Iterable[int] | None = None) -> Iterator[None]:
        """Record everything done inside the block as one step.

        ``tracks`` names the existing tracks the block may write (created and removed tracks are
        always found); ``None`` means every track. On an exception the touched tracks are rolled
        back and nothing is recorded. Blocks nest: the outermost one records.
        """
        self.begin(tracks)
        try:
            yield
        except BaseException:
            self.end(label, rollback=True)
            raise
        self.end(label)

    def begin(self, tracks: Iterable[int] | None = None) -> None:
        """Open an edit block (see :meth:`edit`); close it with :meth:`end`.

        For blocks that span events, e.g. a mouse drag from press to release; name the tracks
        with :meth:`touch` before writing them.
        """
        if self._depth == 0:
            s = self.store
            self._refs = dict(s.tracks)
            self._order = list(s.tracks)
            self._attrs = {a: getattr(s, a) for a in _STORE_ATTRS}
            self._store_meta = dict(s.meta)  # its entries (references): compared by identity
            self._before, self._window = {}, {}
        self._depth += 1
        self.touch(tracks)

    def touch(self, tracks: Iterable[int] | None) -> None:
        """Inside a block, copy the state of ``tracks`` (None: every track) before they are written.

        A track already touched in this block keeps its first copy.
        """
        if self._depth == 0:
            raise StoreError("History.touch() outside an edit block")
        ids = list(self.store.tracks) if tracks is None else [int(t) for t in tracks]
        for tid in ids:
            if tid not in self._before:
                ref = self._refs.get(tid)
                self._before[tid] = None if ref is None else ref.copy()

    def commit(self, label: str, changes: Iterable[Change] | None = None, tracks: Any = None) -> None:
        """Refused: an edit is recorded by the block it runs in (its "before" is copied first).

        Use ``with history.edit(label, tracks): ...`` (or a session's ``record``) around the edit.
        """
        raise StoreError(
            f"History.commit({label!r}) after the fact is not supported: the history keeps no copy of "
            "the store; run the edit inside `with history.edit(label, tracks=[...]):`"
        )

    def sync(self) -> None:
        """Nothing to do: the history keeps no baseline copy of the store (kept for old callers)."""

    def narrow(self, changes: Iterable[Change]) -> None:
        """Inside the outermost block, promise the block wrote only the frames of ``changes``.

        The tracks of ``changes`` are then compared on those frames only (not their whole
        block). Every edit of :mod:`~napari_keyskel.core.keyframes` and of the store reports all it
        wrote; pass nothing else here.
        """
        if self._depth != 1:  # an outer block may write elsewhere: compare whole tracks
            return
        for c in changes:
            tid = int(c.track_id)
            if tid in self._window and self._window[tid] is None:
                continue
            lo, hi = self._window.get(tid) or (c.start, c.stop)
            self._window[tid] = (min(lo, c.start), max(hi, c.stop))

    def end(self, label: str, rollback: bool = False) -> Step | None:
        """Close the block opened by :meth:`begin`; the outermost records (or rolls back) it."""
        if self._depth == 0:
            raise StoreError("History.end() without begin()")
        self._depth -= 1
        if self._depth:
            return None
        try:
            if rollback:
                self._window = {}  # roll back whatever was written
                self._rollback()
                return None
            return self._record(label)
        finally:
            self._before, self._refs, self._window = {}, {}, {}

    def _befores(self) -> dict[int, Track | None]:
        """Each candidate track's state when the block opened (None: it did not exist)."""
        now = self.store.tracks
        out = dict(self._before)
        for tid in now.keys() - self._refs.keys():  # created in the block
            out.setdefault(tid, None)
        for tid in self._refs.keys() - now.keys():  # removed: the object itself is the before
            out.setdefault(tid, self._refs[tid])
        return out

    def _diffs(self) -> tuple[list[_TrackDiff], dict[str, tuple[Any, Any]], Any]:
        s = self.store
        diffs = []
        for tid, before in sorted(self._befores().items()):
            d = _diff_track(tid, before, s.tracks.get(tid), self._window.get(tid))
            if d is not None:
                diffs.append(d)
        attrs = {a: (v, getattr(s, a)) for a, v in self._attrs.items() if getattr(s, a) != v}
        was = self._store_meta
        same = s.meta.keys() == was.keys() and all(s.meta[k] is v for k, v in was.items())
        meta = None if same else (copy.deepcopy(was), copy.deepcopy(s.meta))
        return diffs, attrs, meta

    def _record(self, label: str) -> Step | None:
        diffs, attrs, meta = self._diffs()
        order = (self._order, list(self.store.tracks))
        if not diffs and not attrs and meta is None and order[0] == order[1]:
            return None
        step = Step(str(label), diffs, attrs, meta, order)
        self._undo.append(step)
        while len(self._undo) > self.max_steps:
            self._undo.popleft()
        self._redo.clear()
        return step

    def _rollback(self) -> None:
        diffs, attrs, meta = self._diffs()
        self._apply(Step("rollback", diffs, attrs, meta, (self._order, list(self.store.tracks))), 0)

    # -- undo / redo ----------------------------------------------------------------------------
    def undo(self) -> list[Change]:
        """Revert the last step; returns what changed (empty when there is nothing to undo).

        Only the cells the step changed are reverted: changes made since without recording them
        stay.
        """
        if self._depth:
            raise StoreError("cannot undo inside an edit block")
        if not self._undo:
            return []
        step = self._undo.pop()
        changes = self._apply(step, 0)
        self._redo.append(step)
        return changes

    def redo(self) -> list[Change]:
        """Re-apply the last undone step; returns what changed (empty when there is none)."""
        if self._depth:
            raise StoreError("cannot redo inside an edit block")
        if not self._redo:
            return []
        step = self._redo.pop()
        changes = self._apply(step, 1)
        self._undo.append(step)
        return changes

    def _apply(self, step: Step, side: int) -> list[Change]:
        """Bring the store to the ``side`` (0 before, 1 after) state of ``step``."""
        s = self.store
        for a, pair in step.attrs.items():
            setattr(s, a, pair[side])
        if step.store_meta is not None:
            s.meta = copy.deepcopy(step.store_meta[side])
        for d in step.diffs:
            _apply_diff(s, d, side)
        order = step.order[side]
        rest = [tid for tid in s.tracks if tid not in order]
        s.tracks = {tid: s.tracks[tid] for tid in [*order, *rest] if tid in s.tracks}
        return [d.change(s.n_nodes) for d in step.diffs]


def _apply_diff(s: AnnotationStore, d: _TrackDiff, side: int) -> None:
    if d.full is not None:
        target = d.full[side]
        if target is None:
            s.tracks.pop(d.track_id, None)
            return
        t = s.tracks.get(d.track_id)
        fresh = target.copy()
        if t is None:
            s.tracks[d.track_id] = fresh
        else:
            for attr in ("name", "start", "meta", "coords", "visibility", "is_key", "alive", "score"):
                setattr(t, attr, getattr(fresh, attr))
        return
    t = s.tracks[d.track_id]
    target_geom = d.geom[side]
    assert target_geom is not None
    n = max(g[1] for g in d.geom if g is not None) - d.base
    # in place when the block already spans the union, else on a fresh union-sized block
    coords, vis, key, score, alive = _embed(t, d.base, n)
    if d.rows.size:
        ix = np.ix_(d.rows, d.cols)
        coords[ix], vis[ix], key[ix], score[ix] = d.cells[side]
    alive[d.alive_rows] = d.alive[side]
    lo, hi = target_geom[0] - d.base, target_geom[1] - d.base
    t.start = target_geom[0]
    t.coords, t.visibility, t.is_key, t.alive = coords[lo:hi], vis[lo:hi], key[lo:hi], alive[lo:hi]
    t.score = score[lo:hi]
    if (lo, hi) != (0, n):
        t.coords, t.visibility = t.coords.copy(), t.visibility.copy()
        t.is_key, t.alive, t.score = t.is_key.copy(), t.alive.copy(), t.score.copy()
    if d.name is not None:
        t.name = d.name[side]
    if d.meta is not None:
        t.meta = copy.deepcopy(d.meta[side])
