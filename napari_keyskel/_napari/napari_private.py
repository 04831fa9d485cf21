"""The one place keyskel reaches past napari's public API, and why.

napari (checked with 0.6 - 0.9) hands plugin widgets a ``PublicOnlyProxy`` of the viewer, and
every layer reached through it is a proxy too. The edit sessions connect to the real viewer's
events and add the edges layer next to the real Points layer; a proxy would wrap each callback
argument again and refuse attribute names starting with ``_`` that napari itself uses on the
objects we hand back. napari offers no public way to get the object behind a proxy, so the dock
unwraps the viewer here (``wrapt``'s ``__wrapped__``). Nothing else in keyskel does.
"""

from __future__ import annotations

from typing import Any

__all__ = ["unwrap_proxy"]


def unwrap_proxy(obj: Any) -> Any:
    """The object behind napari's plugin ``PublicOnlyProxy`` (``obj`` itself when not a proxy)."""
    return getattr(obj, "__wrapped__", obj)
