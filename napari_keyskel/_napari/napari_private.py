"""Every place keyskel reaches past napari's public API, and why (checked with napari 0.6 - 0.9).

- :func:`unwrap_proxy`: napari hands plugin widgets a ``PublicOnlyProxy`` of the viewer, and every
  layer reached through it is a proxy too. The layers' owners connect to the real viewer's events
  and add the edges layer next to the real Points layer; a proxy would wrap each callback argument
  again and refuse attribute names starting with ``_`` that napari itself uses on the objects we
  hand back. napari offers no public way to get the object behind a proxy (``wrapt``'s
  ``__wrapped__``).
- :func:`main_window` (``viewer.window._qt_window``): an event filter on the main window takes
  Ctrl-S before napari's own *Save Selected Layers* shortcut, and sees the window close (to ask
  about unsaved annotations). napari has no public main window or close hook.
- :func:`qt_viewer` (``viewer.window._qt_viewer``): a script's ``viewer.close()`` hides it first,
  which tells a person's close (ask) from a script's (do not).
- :func:`after_builtin_points_writer`: napari has no hook around a writer, so the built-in points
  writer (npe2 command ``napari.write_points`` = ``napari_builtins.io:napari_write_points``) is
  wrapped once, in the module and in npe2's command registry; it still writes exactly what it did.
- :func:`keep_text_layout`: on every refresh of a layer with text, napari (0.6 - 0.9,
  ``napari._vispy.utils.text.update_text``) sets the vispy ``TextVisual``'s ``text`` and
  ``anchors`` again, and vispy (0.14 - 0.17) then lays out every glyph of every string again in
  Python, even when only the positions changed. The names layer moves its names on every frame
  step: its strings stay, so their layout can too. The two setters are wrapped once to skip a
  value equal to the current one (vispy then updates the positions only); the drawn result is the
  same for every layer.

- :func:`replace_save_selected_dialog` (``QtViewer._save_layers_dialog``): napari's *Save Selected
  Layers* menu entry calls this method on the viewer's ``QtViewer`` (looked up per call), and napari
  has no hook to preset the dialog's folder or writer; keyskel layers get our writers first and the
  folder of their file (:mod:`napari_keyskel._qt.save_dialog`).
- :func:`save_with_writer` (``LayerList.save(..., _writer=)``): saving with the writer picked in a
  dialog, as napari's dialog does (``plugin=`` takes the first compatible writer of a plugin).

Nothing else in keyskel touches a napari or npe2 private name; each use degrades to "not there"
(None, no wrap) if napari changes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "after_builtin_points_writer",
    "keep_text_layout",
    "main_window",
    "qt_viewer",
    "replace_save_selected_dialog",
    "save_with_writer",
    "unwrap_proxy",
]


def unwrap_proxy(obj: Any) -> Any:
    """The object behind napari's plugin ``PublicOnlyProxy`` (``obj`` itself when not a proxy)."""
    return getattr(obj, "__wrapped__", obj)


def main_window(viewer: Any) -> Any:
    """The viewer's Qt main window, or None (no window, or napari changed)."""
    return getattr(getattr(viewer, "window", None), "_qt_window", None)


def qt_viewer(viewer: Any) -> Any:
    """The viewer's ``QtViewer`` widget, or None."""
    return getattr(getattr(viewer, "window", None), "_qt_viewer", None)


def replace_save_selected_dialog(viewer: Any, dialog: Callable[..., None]) -> bool:
    """Make File > Save Selected Layers call ``dialog(viewer, napari_dialog, selected=...)``.

    ``napari_dialog`` is napari's own (for what ``dialog`` leaves to it). Once per viewer; False
    when napari has changed (its own dialog stays).
    """
    widget = qt_viewer(viewer)
    original = getattr(widget, "_save_layers_dialog", None)
    if original is None:
        return False
    if getattr(original, "_keyskel_wrapped", False):
        return True

    def save_layers_dialog(selected: bool = False) -> None:
        dialog(viewer, original, selected=selected)

    save_layers_dialog._keyskel_wrapped = True  # type: ignore[attr-defined]
    widget._save_layers_dialog = save_layers_dialog
    return True


def save_with_writer(viewer: Any, path: str, writer: Any) -> list[str]:
    """Save the selected layers to ``path`` with the npe2 ``writer`` picked in a dialog."""
    return list(viewer.layers.save(path, selected=True, _writer=writer))


#: What runs after each write of napari's built-in points writer (see :func:`after_builtin_points_writer`).
_AFTER_POINTS_WRITE: list[Callable[[str, Any, dict[str, Any]], None]] = []


def after_builtin_points_writer(then: Callable[[str, Any, dict[str, Any]], None]) -> bool:
    """Call ``then(path, data, meta)`` after each write by napari's built-in points writer.

    The writer is wrapped once; ``then`` is registered once however often this is called.
    Returns whether the writer is wrapped (False: napari_builtins is not there or has changed).
    """
    if then not in _AFTER_POINTS_WRITE:
        _AFTER_POINTS_WRITE.append(then)
    try:
        import napari_builtins.io as builtin_io
    except ImportError:
        return False
    original = getattr(builtin_io, "napari_write_points", None)
    if original is None:
        return False
    if getattr(original, "_keyskel_wrapped", False):
        return True

    def napari_write_points(path: str, data: Any, meta: dict) -> str | None:
        out = original(path, data, meta)
        if out:
            for fn in list(_AFTER_POINTS_WRITE):
                fn(out, data, meta)
        return out

    napari_write_points._keyskel_wrapped = True  # type: ignore[attr-defined]
    napari_write_points.__doc__ = original.__doc__
    builtin_io.napari_write_points = napari_write_points
    from npe2 import PluginManager

    commands = getattr(PluginManager.instance().commands, "_commands", {})
    handler = commands.get("napari.write_points")
    if handler is not None and getattr(handler, "function", None) is not None:
        handler.function = napari_write_points
    return True


def _same_text(old: Any, new: Any) -> bool:
    if isinstance(old, str) or isinstance(new, str):
        return isinstance(old, str) and isinstance(new, str) and old == new
    try:
        return len(old) == len(new) and all(a == b for a, b in zip(old, new))
    except TypeError:
        return False


def keep_text_layout() -> bool:
    """Make vispy keep a text's glyph layout when napari sets equal strings and anchors again.

    Wrapped once (see the module docstring); returns whether vispy's ``TextVisual`` is wrapped
    (False: vispy is not there or has changed).
    """
    try:
        from vispy.visuals.text.text import TextVisual
    except ImportError:
        return False
    if getattr(TextVisual, "_keyskel_keeps_layout", False):
        return True
    text, anchors = getattr(TextVisual, "text", None), getattr(TextVisual, "anchors", None)
    if not isinstance(text, property) or not isinstance(anchors, property) or text.fset is None:
        return False
    set_text, set_anchors = text.fset, anchors.fset
    assert set_anchors is not None

    def text_setter(self: Any, value: Any) -> None:
        if getattr(self, "_vertices", None) is not None and _same_text(getattr(self, "_text", None), value):
            self.update()  # (positions and colours come next, each with its own setter)
            return
        set_text(self, value)

    def anchors_setter(self: Any, value: Any) -> None:
        same = tuple(getattr(self, "_anchors", ())) == tuple(value)
        if same and getattr(self, "_vertices", None) is not None:
            return
        set_anchors(self, value)

    TextVisual.text = property(text.fget, text_setter, None, text.__doc__)
    TextVisual.anchors = property(anchors.fget, anchors_setter, None, anchors.__doc__)
    TextVisual._keyskel_keeps_layout = True
    return True
