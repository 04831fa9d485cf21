"""Sorted annotation arrays of one category -> the tracks of its store (part of :mod:`._tracks`).

:class:`TrackParts` slices the (track, frame)-sorted arrays at track boundaries (views where a
track's frames are contiguous), sets each track's lifespan (its own video's frames, or the
``alive`` ranges of our extra), keeps the file's per-annotation extras and originals in
``Track.meta["coco"]``, and gives each track its id: ours from the extra when it is free, else
the file's, else a fresh one (the file's id then remembered for the writer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.store import AnnotationStore, Track
from .._carried import check_carried
from ._extras import parse_ranges
from ._rules import Ctx, ann_place

__all__ = ["TrackParts", "carried"]


def carried(rec: Any) -> dict[str, Any]:
    """Meta of other formats carried in our ``{"meta": {...}}`` record (not its ``coco`` part)."""
    src = rec.get("meta") if isinstance(rec, dict) else None
    return {k: v for k, v in src.items() if k != "coco"} if isinstance(src, dict) else {}


class TrackParts:
    """Slices sorted annotation arrays into the tracks of one store."""

    def __init__(self, ctx: Ctx, store: AnnotationStore, k: int, n_frames: int, codes: np.ndarray) -> None:
        self.ctx, self.store, self.k, self.n_frames, self.codes = ctx, store, k, n_frames, codes

    def add_all(
        self, tid_s: np.ndarray, fr_s: np.ndarray, g_s: np.ndarray, order_l: list[int], coords: np.ndarray,
        vis: np.ndarray, key: np.ndarray, score: np.ndarray, fields: list[Any], tkeys: list[Any],
        exts: list[dict[str, Any]], origs: dict[int, Any], recs: dict[int, Any], sub: list[Any],
        anns: list[Any], rows: list[int],
    ) -> None:  # fmt: skip
        n = tid_s.size
        if n == 0:
            return
        bounds = np.flatnonzero(np.diff(tid_s)) + 1
        fr_l, tid_l = fr_s.tolist(), tid_s.tolist()
        fnames = list(map(str, range(max(fr_l) + 1)))
        fstr = list(map(fnames.__getitem__, fr_l))
        every_ext = all(exts)
        built: list[Track] = []
        wanted: dict[int, int] = {}  # index in built -> our id from the file's extra
        if bounds.size == n - 1 and not recs:  # every track one annotation (no track ids): lean
            views = (list(x[:, None]) for x in (coords, vis, key, score, np.ones(n, bool)))
            for q, c, v, kk, sc, al in zip(range(n), *views):
                fkey = tkeys[q]
                one: dict[str, Any] = {
                    "fields": fields[q] if fields[q] is not None else (["track_id"] * (fkey is not None))
                }
                x = exts[q]
                one["ann"] = {fstr[q]: x} if x else {}
                if order_l[q] in origs:
                    one["orig"] = {fstr[q]: origs[order_l[q]]}
                one["_file_key"] = fkey
                label = fkey if isinstance(fkey, str) and fkey.strip() else ""
                built.append(Track(tid_l[q], label, fr_l[q], c, v, kk, al, {"coco": one}, sc))
            self._place(built, wanted)
            return
        starts, stops = [0, *bounds.tolist()], [*bounds.tolist(), n]
        for s, e in zip(starts, stops):
            tid, f0, f1 = tid_l[s], fr_l[s], fr_l[e - 1] + 1
            rec = None
            if recs:
                rec = next((recs[order_l[q]] for q in range(s, e) if order_l[q] in recs), None)
            alive_rng = None
            if rec is not None and rec.get("alive") is not None:
                place = f"{ann_place(sub[order_l[s]], rows[order_l[s]])}, field 'keyskel'"
                alive_rng = parse_ranges(self.ctx, rec["alive"], self.n_frames, place)
                f0 = min(f0, alive_rng[0][0]) if alive_rng else f0
                f1 = max(f1, alive_rng[-1][1]) if alive_rng else f1
            if f1 - f0 == e - s:  # frames contiguous: views into the sorted arrays
                c, v, kk, sc = coords[s:e], vis[s:e], key[s:e], score[s:e]
            else:
                rr = fr_s[s:e] - f0
                c = np.full((f1 - f0, self.k, 2), np.nan)
                v, kk = np.zeros((f1 - f0, self.k), np.int8), np.zeros((f1 - f0, self.k), bool)
                sc = np.full((f1 - f0, self.k), np.nan, np.float32)
                c[rr], v[rr], kk[rr], sc[rr] = coords[s:e], vis[s:e], key[s:e], score[s:e]
            if alive_rng is not None:
                al = np.zeros(f1 - f0, bool)
                for a, b in alive_rng:
                    al[a - f0 : b - f0] = True
                al[fr_s[s:e] - f0] = True
            elif e - s > 1 and (self.codes[f0:f1] != g_s[s]).any():
                al = self._own_frames(fr_s[s:e], g_s[s:e], f0, f1)
            else:
                al = np.ones(f1 - f0, bool)
            fkey = tkeys[s]
            meta: dict[str, Any] = {
                "fields": fields[s] if fields[s] is not None else (["track_id"] * (fkey is not None))
            }
            if every_ext:
                meta["ann"] = dict(zip(fstr[s:e], exts[s:e]))
            else:
                meta["ann"] = {f: x for f, x in zip(fstr[s:e], exts[s:e]) if x}
            if origs:
                o = {fstr[q]: origs[order_l[q]] for q in range(s, e) if order_l[q] in origs}
                if o:
                    meta["orig"] = o
            name: str | None = fkey if isinstance(fkey, str) and fkey.strip() else None
            tmeta: dict[str, Any] = {}
            if rec is not None:
                name = rec["name"] if isinstance(rec.get("name"), str) and rec["name"] else name
                tmeta = carried(rec)
                place = f"{ann_place(sub[order_l[s]], rows[order_l[s]])}, field 'keyskel'"
                check_carried(tmeta, "track", "coco", self.ctx.path, place, "keyskel.track.meta")
                if rec.get("id") is not None:
                    wanted[len(built)] = int(rec["id"])
            tmeta["coco"] = meta
            t = Track(tid, name or "", f0, c, v, kk, al, tmeta, sc)
            t.meta["coco"]["_file_key"] = fkey
            built.append(t)
        self._place(built, wanted)

    def _own_frames(self, fr: np.ndarray, g: np.ndarray, f0: int, f1: int) -> np.ndarray:
        """Alive frames of a track: in each item (video) it is seen in, its first to last frame there.

        So nothing is interpolated across items, nor onto the frames of another video.
        """
        if (g == g[0]).all():
            return self.codes[f0:f1] == g[0]
        al = np.zeros(f1 - f0, bool)
        for c in np.unique(g).tolist():
            f = fr[g == c]
            lo, hi = int(f.min()), int(f.max()) + 1
            al[lo - f0 : hi - f0] = self.codes[lo:hi] == c
        return al

    def _place(self, built: list[Track], wanted: dict[int, int]) -> None:
        """Give each track its id (ours from the extra when free), record the file's id, store it."""
        ids = [t.track_id for t in built]
        taken = set(self.store.tracks)
        want_count: dict[int, int] = {}
        for w in wanted.values():
            want_count[w] = want_count.get(w, 0) + 1
        final = list(ids)
        for i, w in wanted.items():
            if want_count[w] == 1 and w not in taken:
                final[i] = w
        claimed = {final[i] for i in wanted if final[i] == wanted[i]}
        used = set(claimed) | taken
        nxt = max([*ids, *used], default=0) + 1
        for i, tid in enumerate(final):
            if i in wanted and final[i] == wanted[i]:
                continue
            if tid in used:
                while nxt in used:
                    nxt += 1
                tid = nxt
            final[i] = tid
            used.add(tid)
        for t, tid in zip(built, final):
            t.track_id = tid
            fkey = t.meta["coco"].pop("_file_key")
            if fkey is not None and (type(fkey) is not int or fkey != tid):
                t.meta["coco"]["key"] = fkey
                t.meta["coco"]["read_id"] = tid  # the id this reader gives it (see the writer)
            if not t.name:
                t.name = f"instance {tid}"
            self.store.tracks[tid] = t
