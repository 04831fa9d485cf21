"""Error types raised by napari-keyskel.

Every problem caused by bad input (an invalid skeleton, an out-of-range frame, a malformed file)
raises a subclass of :class:`KeyskelError`, so callers can catch one type and show its message.
"""

from __future__ import annotations

__all__ = ["FormatError", "FormatWarning", "KeyskelError", "SkeletonError", "StoreError"]


class KeyskelError(ValueError):
    """Base class of every error napari-keyskel raises for bad input."""


class SkeletonError(KeyskelError):
    """An invalid skeleton definition (duplicate names, bad edges, asymmetric flip pairs...)."""


class StoreError(KeyskelError):
    """A bad edit of an annotation store: unknown instance, frame out of range, wrong shape, NaN."""


class FormatError(KeyskelError):
    """A file that cannot be read or written; the message names the file and the place in it.

    Parameters
    ----------
    message
        What is wrong.
    path
        The file (or folder) concerned, if known.
    where
        The place in the file, e.g. ``"annotation 3f2a…, frame '7', node 'nose'"``.

    """

    def __init__(self, message: str, path: object = None, where: str | None = None) -> None:
        self.reason = message
        self.path = None if path is None else str(path)
        self.where = None if where is None else str(where)
        super().__init__(_placed(message, self.path, self.where))


class FormatWarning(UserWarning):
    """Something in a file was read in a way its author may not expect (an edge dropped, ...).

    Emitted with :func:`warnings.warn`; the message names the file and the place, as
    :class:`FormatError` does. The command line prints these on stderr and napari's reader shows
    them as notifications.
    """

    def __init__(self, message: str, path: object = None, where: str | None = None) -> None:
        self.reason = message
        self.path = None if path is None else str(path)
        self.where = None if where is None else str(where)
        super().__init__(_placed(message, self.path, self.where))


def _placed(message: str, path: str | None, where: str | None) -> str:
    """``"path: where: message"``, the path said once (left out when the message names it)."""
    parts = [p for p in (None if path and path in message else path, where) if p]
    return f"{': '.join(parts)}: {message}" if parts else message
