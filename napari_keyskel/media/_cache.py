"""A bounded least-recently-used cache of decoded frames, sized in bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

__all__ = ["DEFAULT_CACHE_MB", "FrameCache"]

#: Default budget of decoded frames held per media source, in MiB.
DEFAULT_CACHE_MB = 512.0


class FrameCache:
    """Decoded frames keyed by source frame number, evicting the least recently used.

    Parameters
    ----------
    max_mb
        The budget in MiB; frames are evicted once their bytes exceed it (a single frame
        larger than the budget is not kept). ``0`` keeps nothing.

    Notes
    -----
    Thread-safe: the read-ahead thread fills it while the viewer reads it. Stored arrays are
    made read-only, so a caller cannot change a cached frame by accident.

    """

    def __init__(self, max_mb: float = DEFAULT_CACHE_MB) -> None:
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._bytes = 0
        self.max_bytes = 0
        self.resize(max_mb)

    @property
    def max_mb(self) -> float:
        """The budget in MiB."""
        return self.max_bytes / 2**20

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def resize(self, max_mb: float) -> None:
        """Set a new budget (MiB), evicting what no longer fits."""
        if not np.isfinite(max_mb) or max_mb < 0:
            raise ValueError(f"cache size must be a finite number of MiB >= 0, got {max_mb!r}")
        with self._lock:
            self.max_bytes = int(max_mb * 2**20)
            self._evict()

    def __len__(self) -> int:
        return len(self._frames)

    def __contains__(self, key: int) -> bool:
        return key in self._frames

    def get(self, key: int) -> np.ndarray | None:
        """The frame, marked as just used, or ``None``."""
        with self._lock:
            arr = self._frames.get(key)
            if arr is not None:
                self._frames.move_to_end(key)
            return arr

    def put(self, key: int, arr: np.ndarray) -> None:
        """Keep a frame (read-only from now on)."""
        if arr.nbytes > self.max_bytes:
            return
        arr.flags.writeable = False
        with self._lock:
            old = self._frames.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._frames[key] = arr
            self._bytes += arr.nbytes
            self._evict()

    def clear(self) -> None:
        """Drop every frame."""
        with self._lock:
            self._frames.clear()
            self._bytes = 0

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and self._frames:
            _, arr = self._frames.popitem(last=False)
            self._bytes -= arr.nbytes
