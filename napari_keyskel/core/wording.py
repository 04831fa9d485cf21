"""Wording shared by every message a person reads: counts with the right plural, a path said once.

>>> plural(1, "instance"), plural(3, "instance"), plural(2, "category", "categories")
('1 instance', '3 instances', '2 categories')
>>> at_path("/d/a.json", "[Errno 2] No such file or directory: '/d/a.json'")
"[Errno 2] No such file or directory: '/d/a.json'"
>>> at_path("/d/a.json", "not JSON")
'/d/a.json: not JSON'
"""

from __future__ import annotations

from os import PathLike

__all__ = ["at_path", "plural"]


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 word"`` or ``"n words"`` (``many`` for an irregular plural)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def at_path(path: str | PathLike[str] | None, message: str, head: str = "") -> str:
    """``"head path: message"``, the path said once: left out when the message already names it.

    >>> at_path("a.json", "[Errno 13] Permission denied: 'a.json'", "nothing saved to")
    "nothing saved to: [Errno 13] Permission denied: 'a.json'"
    """
    p = "" if path is None else str(path)
    if not p or p in message:
        return f"{head}: {message}" if head else message
    return f"{head} {p}: {message}" if head else f"{p}: {message}"
