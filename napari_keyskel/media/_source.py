"""What every media source shares: numpy-style indexing over frames, the cache, the description.

A :class:`MediaSource` is an array-like ``(t, y, x[, c])`` that napari shows directly as an Image
layer's data. Indexing decodes only the frames asked for; :meth:`MediaSource.frame` is the one
place a subclass is asked to read (``_read``), behind a bounded :class:`~._cache.FrameCache`.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from ..errors import FormatError, FormatWarning, KeyskelError
from ._cache import DEFAULT_CACHE_MB, FrameCache

__all__ = ["MAX_ARRAY_MB", "MediaSource"]

#: ``np.asarray(source)`` (every frame at once) is refused above this many MiB.
MAX_ARRAY_MB = 4096.0


class MediaSource:
    """A lazy ``(t, y, x[, c])`` array over the frames of a video or a set of images.

    Attributes
    ----------
    path
        The file, folder or glob opened (absolute).
    kind
        ``"video"`` or ``"images"``.
    frame_numbers
        int64 ``(n,)``: layer frame -> the source's own frame number (identity unless opened with
        a stride or a target frame rate).
    fps
        The source's own frame rate (frames per second of its frame numbers), ``None`` for images.
    strict
        When ``True`` (the default) a frame that cannot be decoded raises :class:`FormatError`;
        when ``False`` (a viewer) it warns once with :class:`FormatWarning` and shows black.

    """

    kind: str = ""

    def __init__(
        self,
        path: str,
        frame_shape: tuple[int, ...],
        dtype: np.dtype,
        frame_numbers: np.ndarray,
        *,
        cache_mb: float | None = None,
    ) -> None:
        self.path = str(path)
        self.frame_shape = tuple(int(s) for s in frame_shape)
        self._dtype = np.dtype(dtype)
        self.frame_numbers = np.asarray(frame_numbers, np.int64)
        self.frame_numbers.flags.writeable = False
        self.fps: float | None = None
        self.strict = True
        self._budget_mb = float(DEFAULT_CACHE_MB if cache_mb is None else cache_mb)
        self._cache = FrameCache(0.0)
        self.cache_mb = self._budget_mb
        self._failed: set[int] = set()

    # -- array-like -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """``(n_frames, y, x[, c])`` of the layer."""
        return (len(self.frame_numbers), *self.frame_shape)

    @property
    def dtype(self) -> np.dtype:
        """Pixel type."""
        return self._dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions (3 for grey, 4 for colour)."""
        return 1 + len(self.frame_shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        """Bytes every frame would take decoded (never allocated at once)."""
        return self.size * self._dtype.itemsize

    @property
    def rgb(self) -> bool:
        """Whether the last axis holds colour samples."""
        return len(self.frame_shape) == 3

    def __len__(self) -> int:
        return len(self.frame_numbers)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {os.path.basename(self.path)!r} shape={self.shape} dtype={self.dtype}>"
        )

    def __getitem__(self, key: Any) -> np.ndarray:
        """Numpy-style indexing; the frame axis decides which frames are decoded."""
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = next(j for j, k in enumerate(key) if k is Ellipsis)
            fill = (slice(None),) * (self.ndim - len(key) + 1)
            key = key[:i] + fill + key[i + 1 :]
        if not key:
            key = (slice(None),)
        first, rest = key[0], key[1:]
        if isinstance(first, (int, np.integer)) and not isinstance(first, (bool, np.bool_)):
            return self.frame(int(first))[rest]
        frames = np.arange(len(self))[first]
        if frames.ndim != 1:
            raise IndexError(f"frame index {first!r} must select frames along one axis")
        self._check_total(frames.size)
        out = [self.frame(int(i))[rest] for i in frames]
        if not out:
            whole = (slice(None), *rest)
            return np.empty((0, *self.frame_shape), self._dtype)[whole]
        return np.stack(out)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Every frame at once (refused above :data:`MAX_ARRAY_MB`); prefer indexing."""
        arr = self[:]
        return arr if dtype is None else arr.astype(dtype)

    def _check_total(self, n: int) -> None:
        mb = n * int(np.prod(self.frame_shape)) * self._dtype.itemsize / 2**20
        if mb > MAX_ARRAY_MB:
            raise KeyskelError(
                f"{self.path}: reading {n} frames at once would take {mb:.0f} MiB; "
                "read frames one at a time (source.frame(i) or source[i])"
            )

    # -- frames ---------------------------------------------------------------------------------
    def frame(self, i: int) -> np.ndarray:
        """Layer frame ``i`` (negative counts from the end), decoded or from the cache."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"frame {i} is out of range for {n} frames of {self.path}")
        i %= n
        src = int(self.frame_numbers[i])
        arr = self._cache.get(src)
        if arr is None:
            arr = self._load(i, src)
        self._after_access(i)
        return arr

    def _load(self, i: int, src: int) -> np.ndarray:
        try:
            arr = self._read(i, src)
        except FormatError as exc:
            if self.strict:
                raise
            if src not in self._failed:
                self._failed.add(src)
                warnings.warn(FormatWarning(f"{exc.reason}; shown black", exc.path, exc.where), stacklevel=3)
            return np.zeros(self.frame_shape, self._dtype)
        self._cache.put(src, arr)
        return arr

    def _read(self, i: int, src: int) -> np.ndarray:  # pragma: no cover - abstract
        """Decode layer frame ``i`` (source frame ``src``); cache nothing."""
        raise NotImplementedError

    def _after_access(self, i: int) -> None:
        """Hook after a frame was served (the video starts its read-ahead here)."""

    # -- cache ----------------------------------------------------------------------------------
    @property
    def cache_mb(self) -> float:
        """The memory budget of decoded frames in MiB (settable).

        The cache holds this less what the reader keeps otherwise (:meth:`_reserved_mb`).
        """
        return self._budget_mb

    @cache_mb.setter
    def cache_mb(self, value: float) -> None:
        self._budget_mb = float(value)
        self._cache.resize(max(0.0, float(value) - self._reserved_mb()))

    def _reserved_mb(self) -> float:
        """MiB of the budget held outside the cache (a video's decoded pictures kept on the way)."""
        return 0.0

    @property
    def cached_bytes(self) -> int:
        """Bytes of decoded frames held now."""
        return self._cache.nbytes

    def close(self) -> None:
        """Release files and threads (the source reopens what it needs if read again)."""
        self._cache.clear()

    def __enter__(self) -> MediaSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- description ----------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """JSON-able facts: ``path``, ``kind``, ``n_frames``, ``frame_numbers``, ``fps``, size..."""
        return {
            "path": self.path,
            "kind": self.kind,
            "n_frames": len(self),
            "frame_numbers": self.frame_numbers.tolist(),
            "fps": self.fps,
            "width": int(self.frame_shape[1]),
            "height": int(self.frame_shape[0]),
            "channels": int(self.frame_shape[2]) if self.rgb else 1,
            "dtype": self._dtype.name,
        }
