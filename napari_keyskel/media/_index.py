"""The frame index of a video, built from demuxed packet timestamps (nothing is decoded).

Frame ``i`` is the ``i``-th frame in presentation order: the ``i``-th frame a full sequential
decode yields. Packets are read in decode order; each one that shows a frame (not flagged
*discard* by the demuxer, e.g. before an MP4 edit list's start) is one frame, and sorting their
presentation timestamps gives presentation order. To decode frame ``i`` one starts at the last
keyframe (in decode order) whose presentation time is not after frame ``i``'s: every frame shown
after a keyframe is decoded after it, so decoding forward from there reaches frame ``i`` with all
its references, for B-frames, long GOPs and open GOPs alike.

When the timestamps cannot give an order (a stream without them, or two packets with the same
one), the index says so (``ordered`` is ``False``) and the reader decodes sequentially instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

__all__ = ["VideoIndex", "build_index"]


@dataclass(frozen=True)
class VideoIndex:
    """Where every frame of a video stream lies.

    Attributes
    ----------
    pts
        int64 ``(n,)``: presentation timestamp of frame ``i`` (stream time base), increasing.
    decode_pos
        int64 ``(n,)``: position of frame ``i``'s packet in decode order (over all packets).
    key_pos
        int64 ``(n,)``: decode position of the keyframe packet to start decoding frame ``i`` from.
    key_start
        int64 ``(n,)``: the frame (presentation index) of that keyframe; frames decoded before it
        after a seek are leading pictures whose references were skipped, and are never kept.
    packet_ts
        int64 ``(m,)``: per packet in decode order, the timestamp identifying it (pts, else dts).
    seek_ts
        int64 ``(m,)``: per keyframe packet, the timestamp to hand to the demuxer's seek: halfway
        between its presentation time and the next keyframe's. Demuxers index keyframes by pts,
        by dts, or shifted by an edit list; halfway lands on this keyframe for all of them (a seek
        that lands earlier only costs demuxing, one that lands later is detected and redone).
    time_base
        The stream's time base.
    ordered
        ``False`` when timestamps are missing or repeated: then ``pts`` is a plain count and the
        reader must decode sequentially.
    truncated
        A read error stopped the demuxing early (the frames up to it are indexed).

    """

    pts: np.ndarray
    decode_pos: np.ndarray
    key_pos: np.ndarray
    key_start: np.ndarray
    packet_ts: np.ndarray
    seek_ts: np.ndarray
    time_base: Fraction
    ordered: bool
    truncated: str | None = None

    def __len__(self) -> int:
        return len(self.pts)

    def times(self) -> np.ndarray:
        """Seconds of each frame since the first frame (float64)."""
        if len(self.pts) == 0:
            return np.zeros(0)
        return (self.pts - self.pts[0]).astype(np.float64) * float(self.time_base)

    def frame_of_ts(self, ts: int | None) -> int | None:
        """The frame whose presentation timestamp is ``ts``, or ``None``."""
        if ts is None or not self.ordered:
            return None
        i = int(np.searchsorted(self.pts, ts))
        return i if i < len(self.pts) and self.pts[i] == ts else None

    def packet_of_ts(self, ts: int | None) -> int | None:
        """Decode position of the packet identified by ``ts``, or ``None``."""
        if ts is None or not self.ordered:
            return None
        i = int(np.searchsorted(self._ts_sorted, ts))
        return int(self._ts_order[i]) if i < len(self._ts_sorted) and self._ts_sorted[i] == ts else None

    def __post_init__(self) -> None:
        order = np.argsort(self.packet_ts, kind="stable")
        object.__setattr__(self, "_ts_order", order)
        object.__setattr__(self, "_ts_sorted", self.packet_ts[order])

    _ts_order: np.ndarray = field(init=False, repr=False)
    _ts_sorted: np.ndarray = field(init=False, repr=False)


def build_index(container: av.container.InputContainer, stream: av.VideoStream) -> VideoIndex:
    """Demux every packet of ``stream`` (no decoding) and build its :class:`VideoIndex`."""
    pts_l: list[int | None] = []
    dts_l: list[int | None] = []
    key_l: list[bool] = []
    show_l: list[bool] = []
    truncated = None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet at the end
                continue
            pts_l.append(packet.pts)
            dts_l.append(packet.dts)
            key_l.append(bool(packet.is_keyframe))
            show_l.append(not packet.is_discard)
    except av.error.FFmpegError as exc:
        truncated = f"{type(exc).__name__}: {exc}"
    m = len(pts_l)
    declared = int(stream.frames or 0)
    if truncated is None and declared > m:
        truncated = f"it holds {m} of the {declared} frames its header lists"
    key = np.asarray(key_l, bool)
    show = np.asarray(show_l, bool)
    have_ts = all(p is not None or d is not None for p, d in zip(pts_l, dts_l))
    ts = np.asarray(
        [p if p is not None else d for p, d in zip(pts_l, dts_l)] if have_ts else np.arange(m), np.int64
    )
    tb = stream.time_base or Fraction(1, 1)
    shown = np.flatnonzero(show)
    ordered = have_ts and len(np.unique(ts)) == m and all(p is not None for p in pts_l)
    if not ordered:
        # decode order = presentation order for counting; the reader decodes sequentially
        n = len(shown)
        zeros = np.zeros(n, np.int64)
        return VideoIndex(
            np.arange(n, dtype=np.int64), shown.astype(np.int64), zeros, zeros, ts, ts.copy(), tb, False,
            truncated,
        )  # fmt: skip
    order = shown[np.argsort(ts[shown], kind="stable")]
    pts = ts[order]
    # keyframes by presentation time; the start for frame i = the last keyframe with pts <= pts_i
    kpos = np.flatnonzero(key)
    if kpos.size == 0 or kpos[0] != 0:
        kpos = np.concatenate(([0], kpos))  # decoding from the very first packet always works
    kpts = ts[kpos]
    by_pts = np.argsort(kpts, kind="stable")
    kpts_sorted = kpts[by_pts]
    kpos_sorted = np.maximum.accumulate(kpos[by_pts])
    seek = ts.copy()
    if kpos.size:
        last = int(ts[shown].max()) if shown.size else int(ts.max())
        nxt = np.append(kpts[1:], max(last, int(kpts[-1])) + 1)
        seek[kpos] = kpts + np.maximum(nxt - kpts, 0) // 2
    j = np.searchsorted(kpts_sorted, pts, side="right") - 1
    key_pos = np.where(j >= 0, kpos_sorted[np.maximum(j, 0)], 0).astype(np.int64)
    # the first frame shown at or after that keyframe's time: frames before it are not kept
    key_start = np.minimum(np.searchsorted(pts, ts[key_pos]), np.arange(len(order))).astype(np.int64)
    return VideoIndex(
        pts, order.astype(np.int64), key_pos, key_start, ts, seek.astype(np.int64), tb, True, truncated
    )
