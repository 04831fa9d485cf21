"""Videos opened lazily and frame-accurately with PyAV (FFmpeg).

On open the video stream is demuxed once (packets only, no decoding) to build the frame index
(:mod:`._index`). Frame ``i`` is then decoded by seeking to the keyframe before it and decoding
forward; stepping forward just decodes on from where the decoder stands. Decoded frames go into
a bounded LRU cache (MiB), and a read-ahead thread decodes the next layer frames while the
person works. Grey videos (``gray*`` pixel formats) are one channel ``(t, y, x)``; everything
else is RGB ``(t, y, x, 3)`` uint8 (``grey=True`` shows the luma of a colour video).

Never seeks by frame position (inexact in OpenCV, opencv#9053) and never decodes the whole video.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..errors import FormatError, KeyskelError
from ._index import VideoIndex, build_index
from ._source import MediaSource
from .frames import select_frames

__all__ = ["JUMP_PAUSE", "READ_AHEAD", "VIDEO_EXTENSIONS", "VideoSource", "open_video"]

#: File extensions opened as video (lower case, with the dot).
VIDEO_EXTENSIONS = (
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".m2v", ".ts", ".mts", ".m2ts",
    ".wmv", ".flv", ".ogv", ".3gp", ".mxf", ".h264", ".h265", ".hevc", ".y4m",
)  # fmt: skip

#: How many layer frames the read-ahead thread decodes past the last one served.
READ_AHEAD = 8
#: Decoded pictures kept (unconverted) from the way to a frame: a step back needs no new decode.
PASSED_FRAMES = 8
#: Seconds without a new request before reading ahead after a jump (stepping reads ahead at once),
#: so that jumping around is not slowed by decoding frames nobody asked for.
JUMP_PAUSE = 0.08


class _Overshoot(Exception):
    """The demuxer's seek landed after the keyframe asked for."""


def open_video(
    path: str | os.PathLike[str],
    *,
    stride: int = 1,
    fps: float | None = None,
    cache_mb: float | None = None,
    grey: bool | None = None,
    frames: Sequence[int] | np.ndarray | None = None,
) -> VideoSource:
    """Open a video lazily; see :class:`VideoSource`."""
    return VideoSource(path, stride=stride, fps=fps, cache_mb=cache_mb, grey=grey, frames=frames)


class VideoSource(MediaSource):
    """A video as a lazy ``(t, y, x[, 3])`` array (see the module docstring).

    Parameters
    ----------
    path
        The video file.
    stride
        Show every ``stride``-th frame (frame numbers 0, stride, 2·stride, ...).
    fps
        Show frames at this rate instead (the frame nearest each tick); not with ``stride``.
    cache_mb
        Budget of the decoded-frame cache in MiB (default 512).
    grey
        ``True``: one channel (luma); ``False``: RGB; ``None``: one channel for grey pixel formats.
    frames
        Explicit source frame numbers in layer order (e.g. the frames an annotation file lists).

    """

    kind = "video"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        stride: int = 1,
        fps: float | None = None,
        cache_mb: float | None = None,
        grey: bool | None = None,
        frames: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        p = Path(path).expanduser().absolute()
        self._lock = threading.RLock()
        self._container, self._stream = self._open(p)
        stream = self._stream
        try:
            self.index: VideoIndex = build_index(self._container, stream)
        except av.error.FFmpegError as exc:
            self._container.close()
            raise FormatError(f"cannot read the video's packets ({exc})", p) from None
        n = len(self.index)
        if n == 0:
            self._container.close()
            why = f" ({self.index.truncated})" if self.index.truncated else ""
            raise FormatError(f"the video stream holds no frames{why}", p)
        cc = stream.codec_context
        w, h = int(cc.width or 0), int(cc.height or 0)
        if w <= 0 or h <= 0:
            self._container.close()
            raise FormatError(f"the video stream has no frame size ({w}x{h})", p)
        pix = str(cc.pix_fmt or "")
        self.pix_fmt = pix
        self.codec = str(cc.name)
        is_grey = pix.startswith(("gray", "ya", "mono"))
        self._grey = is_grey if grey is None else bool(grey)
        if self._grey:
            deep = (pix.startswith("gray") and pix not in ("gray", "gray8")) or pix.startswith("ya16")
            self._format = "gray16le" if deep else "gray"
            dtype: np.dtype = np.dtype(np.uint16 if deep else np.uint8)
            frame_shape: tuple[int, ...] = (h, w)
        else:
            self._format, dtype, frame_shape = "rgb24", np.dtype(np.uint8), (h, w, 3)
        times = self.index.times()
        src_fps = self._native_fps(stream, times)
        try:
            numbers = select_frames(n, stride=stride, fps=fps, times=times, source_fps=src_fps, frames=frames)
        except KeyskelError as exc:
            self._container.close()
            raise FormatError(str(exc), p) from None
        super().__init__(str(p), frame_shape, dtype, numbers, cache_mb=cache_mb)
        self.fps = src_fps
        self.stride = int(stride)
        self.target_fps = None if fps is None else float(fps)
        self._wanted = np.zeros(n, bool)
        self._wanted[self.frame_numbers] = True
        self._cursor = -1  # the last frame the decoder put out since the last seek (-1: none)
        self._accept_from = 0
        self._packets: Any = None
        self._pending: Any = None
        self._ready: deque[tuple[int, Any]] = deque()
        self._passed: OrderedDict[int, Any] = OrderedDict()
        self._read_ahead = READ_AHEAD
        #: Counters for tests and benchmarks: seeks, frames decoded, packets demuxed but skipped
        #: after a seek, seeks that landed after their keyframe.
        self.stats = {"seeks": 0, "decoded": 0, "packets_skipped": 0, "overshoots": 0}
        self._ahead = _ReadAhead(self)
        weakref.finalize(self, _ReadAhead.stop_thread, self._ahead)

    # -- opening ------------------------------------------------------------------------------
    @staticmethod
    def _open(p: Path) -> tuple[Any, Any]:
        if not p.is_file():
            raise FormatError("no such video file" if not p.exists() else "not a file", p)
        try:
            container = av.open(str(p), "r")
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)  # FFmpeg's words, without its path
            raise FormatError(f"not a readable video ({reason})", p) from None
        if not container.streams.video:
            container.close()
            raise FormatError("the file holds no video stream", p)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return container, stream

    @staticmethod
    def _native_fps(stream: Any, times: np.ndarray) -> float | None:
        """The container's average rate, or the measured one where they differ (variable rate)."""
        measured = (len(times) - 1) / times[-1] if len(times) > 1 and times[-1] > 0 else None
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate and (measured is None or abs(float(rate) - measured) <= 0.01 * measured):
            return float(rate)
        return None if measured is None else float(measured)

    def _reopen(self) -> None:
        self._container.close()
        self._container, self._stream = self._open(Path(self.path))
        self._packets, self._pending, self._cursor = None, None, -1
        self._ready.clear()
        self._passed.clear()

    def close(self) -> None:
        """Stop the read-ahead thread and close the file (reopened if read again)."""
        self._ahead.stop()
        with self._lock:
            self._container.close()
            self._packets, self._pending, self._cursor = None, None, -1
            self._passed.clear()
            self._closed = True
        super().close()

    def _reserved_mb(self) -> float:
        h, w = self.frame_shape[:2]
        return PASSED_FRAMES * w * h * 1.5 / 2**20  # YUV 4:2:0 pictures

    _closed = False
    _seq = -1
    _last_access = -2

    # -- reading ------------------------------------------------------------------------------
    def _read(self, i: int, src: int) -> np.ndarray:
        self._ahead.interrupt()
        with self._lock:
            return self._get(src)

    def _get(self, src: int) -> np.ndarray:
        """Source frame ``src`` (lock held): cached, passed on the way to another, or decoded."""
        arr = self._cache.get(src)  # the read-ahead may have just made it
        if arr is not None:
            return arr
        frame = self._passed.pop(src, None)
        return self._to_array(frame) if frame is not None else self._decode_to(src)

    def _after_access(self, i: int) -> None:
        # stepping forward: read ahead at once; after a jump, only once the person pauses
        stepping = i == self._last_access + 1
        self._last_access = i
        if self._read_ahead > 0 and i + 1 < len(self):
            self._ahead.request(i + 1, delay=0.0 if stepping else JUMP_PAUSE)

    def _decode_to(self, target: int) -> np.ndarray:
        """Decode source frame ``target`` (lock held).

        Wanted frames decoded on the way are kept as decoded pictures (``_passed``, a few, not
        converted: converting costs as much as decoding), so stepping back is cheap too.
        """
        if self._closed:
            self._reopen()
            self._closed = False
        idx = self.index
        can_continue = (self._packets is not None or bool(self._ready)) and self._cursor < target
        if can_continue and idx.ordered:
            can_continue = idx.key_start[target] <= self._cursor + 1
        if not can_continue:
            self._position(target)
        try:
            for number, frame in self._frames():
                if number < self._accept_from:
                    continue
                self._cursor = number
                if number == target:
                    return self._to_array(frame)
                if number > target:
                    break
                if self._wanted[number]:
                    self._passed[number] = frame
                    while len(self._passed) > PASSED_FRAMES:
                        self._passed.popitem(last=False)
        except av.error.FFmpegError as exc:
            self._packets = None
            raise FormatError(f"cannot decode frame {target} ({exc})", self.path, f"frame {target}") from None
        self._packets = None
        why = f"; the file is cut short ({idx.truncated})" if idx.truncated else ""
        raise FormatError(f"the decoder gave no frame {target}{why}", self.path, f"frame {target}")

    def _to_array(self, frame: Any) -> np.ndarray:
        arr = frame.to_ndarray(format=self._format)
        if arr.shape != self.frame_shape:  # a stream that changes size midway: top left of ours
            out = np.zeros(self.frame_shape, self._dtype)
            h, w = min(arr.shape[0], out.shape[0]), min(arr.shape[1], out.shape[1])
            out[:h, :w] = arr[:h, :w]
            arr = out
        return arr

    def _position(self, target: int) -> None:
        """Seek so that the next packets start at the keyframe for ``target``."""
        idx = self.index
        self._ready.clear()
        self._stream.codec_context.flush_buffers()
        if not idx.ordered:
            self._reopen()
            self._packets = iter(self._container.demux(self._stream))
            self._cursor, self._accept_from, self._seq = -1, 0, -1
            return
        kpos = int(idx.key_pos[target])
        self.stats["seeks"] += 1
        for ts in (int(idx.seek_ts[kpos]), int(idx.packet_ts[kpos]), None):
            try:
                if ts is None:  # both seeks landed after the keyframe: read from the start
                    self._reopen()
                self._seek_to_packet(kpos, ts)
                break
            except _Overshoot:
                self.stats["overshoots"] += 1
        self._accept_from = int(idx.key_start[target])
        self._cursor = self._accept_from - 1

    def _seek_to_packet(self, kpos: int, ts: int | None) -> None:
        if ts is not None:
            self._container.seek(ts, stream=self._stream, backward=True, any_frame=False)
            self._stream.codec_context.flush_buffers()
        packets = iter(self._container.demux(self._stream))
        for packet in packets:
            self.stats["packets_skipped"] += 1
            if packet.size == 0:
                break
            pos = self.index.packet_of_ts(packet.pts if packet.pts is not None else packet.dts)
            if pos is None:
                continue
            if pos > kpos:
                raise _Overshoot
            if pos == kpos:
                self.stats["packets_skipped"] -= 1
                self._packets, self._pending = packets, packet
                return
        raise FormatError(f"cannot find the keyframe packet {kpos} of the video", self.path)

    def _frames(self) -> Any:
        """Decoded ``(frame number, av.VideoFrame)`` in presentation order from the position.

        Frames one packet gave but the caller did not take yet wait in ``_ready``, so stopping
        the iteration at the target loses none of them.
        """
        while True:
            while self._ready:
                yield self._ready.popleft()
            if self._packets is None:
                return
            if self._pending is not None:
                packet, self._pending = self._pending, None
            else:
                packet = next(self._packets, None)
            if packet is None:  # the demuxer ended without its flush packet: drain the decoder
                self._packets = None
                try:
                    decoded = self._stream.codec_context.decode(None)
                except av.error.EOFError:
                    decoded = []
            else:
                decoded = self._stream.codec_context.decode(packet)
            for frame in decoded:
                self.stats["decoded"] += 1
                number = self._number(frame)
                if number is not None:
                    self._ready.append((number, frame))

    def _number(self, frame: Any) -> int | None:
        if self.index.ordered:
            return self.index.frame_of_ts(frame.pts)
        self._seq += 1  # no usable timestamps: frames are counted from the start of the file
        return self._seq

    # -- description --------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Adds ``codec``, ``pix_fmt``, ``n_source_frames``, ``frame_times``, ``stride``..."""
        d = super().describe()
        d.update(
            codec=self.codec,
            pix_fmt=self.pix_fmt,
            n_source_frames=len(self.index),
            frame_times=np.round(self.index.times(), 6).tolist(),
            stride=self.stride,
            target_fps=self.target_fps,
            layer_fps=_layer_fps(self),
            time_base=str(self.index.time_base),
        )
        if self.index.truncated:
            d["truncated"] = self.index.truncated
        return d


def _layer_fps(src: VideoSource) -> float | None:
    if src.target_fps is not None:
        return src.target_fps
    return None if src.fps is None else src.fps / max(src.stride, 1)


class _ReadAhead:
    """Decodes the next layer frames in a worker thread, one frame per hold of the decoder lock.

    A request from the viewer (:meth:`interrupt`) makes the worker stop after its current frame,
    so a jump never waits for more than one decode.
    """

    def __init__(self, source: VideoSource) -> None:
        self._source = weakref.ref(source)
        self._cond = threading.Condition()
        self._start: int | None = None
        self._gen = 0
        self._stopped = False
        self._not_before = 0.0
        self._thread: threading.Thread | None = None

    def request(self, start: int, delay: float = 0.0) -> None:
        with self._cond:
            if self._stopped:
                return
            self._start = start
            self._not_before = time.monotonic() + delay
            self._gen += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="keyskel-read-ahead", daemon=True)
                self._thread.start()
            self._cond.notify()

    def interrupt(self) -> None:
        with self._cond:
            self._gen += 1
            self._start = None

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._gen += 1
            self._cond.notify()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5)
        self._thread = None
        self._stopped = False

    @staticmethod
    def stop_thread(ahead: _ReadAhead) -> None:
        with ahead._cond:
            ahead._stopped = True
            ahead._gen += 1
            ahead._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._start is None and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                wait = self._not_before - time.monotonic()
                if wait > 0:  # after a jump: start only if no other request comes meanwhile
                    gen = self._gen
                    self._cond.wait(wait)
                    if self._gen != gen or self._start is None:
                        continue
                    if self._not_before - time.monotonic() > 0:
                        continue
                start, gen, self._start = self._start, self._gen, None
            if start is not None:
                self._fill(start, gen)

    def _fill(self, start: int, gen: int) -> None:
        src = self._source()
        if src is None:
            return
        frame_bytes = int(np.prod(src.frame_shape)) * src.dtype.itemsize
        depth = min(src._read_ahead, max(0, int(src._cache.max_bytes // 4 // max(frame_bytes, 1))))
        for i in range(start, min(start + depth, len(src))):
            number = int(src.frame_numbers[i])
            if number in src._cache:
                continue
            with src._lock:
                if self._gen != gen or src._closed:
                    return
                try:
                    src._cache.put(number, src._get(number))
                except Exception:  # the viewer's own read will report it
                    return
            if self._gen != gen:
                return
