"""napari's menu shortcuts when Qt has no active window (an X display with no window manager).

napari's window shortcuts (Ctrl+O, Ctrl+Shift+O, Ctrl+W, Ctrl+Q and every other menu entry) are
``QAction`` shortcuts, which Qt fires only for the *active* window. With no window manager (Xvfb,
a bare X server, some kiosk and remote set-ups) nothing activates napari's window again after a
modal dialog closes (File > Open, Save, a message box), nor at start: Qt then has no active window
and fires no shortcut, while napari's main window still hands every key press to the canvas
keymap. Ctrl+O does nothing, and a path typed into the dialog that never opened reaches the
selected layer as single-key commands. Reproduced with xdotool on napari 0.9.2 / PyQt6 with a
plain napari Points layer as well as a keyskel one; a window manager hides it.

:func:`install` puts an event filter on the main window: a key that reaches it unclaimed (its
``ShortcutOverride``, which Qt sends up from the focused canvas before the key press) while no
window is active activates the window and, when the key is one of its menu shortcuts that no
widget takes first (as the annotation layer takes Ctrl-S), runs that action as Qt would have.
A window not shown is left alone (a script's or a test's viewer). The key press itself goes on
to the canvas as before (napari's keymap binds none of its menu shortcuts).
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtGui import QAction, QKeyEvent, QKeySequence, QShortcut
from qtpy.QtWidgets import QApplication, QWidget

__all__ = ["install", "shortcut_for_key"]

_MODIFIERS = (
    Qt.KeyboardModifier.ShiftModifier
    | Qt.KeyboardModifier.ControlModifier
    | Qt.KeyboardModifier.AltModifier
    | Qt.KeyboardModifier.MetaModifier
)


def _pressed(event: Any) -> QKeySequence | None:
    key = event.key()
    if key in (Qt.Key.Key_unknown, Qt.Key.Key_Shift, Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_Meta):
        return None
    mods = event.modifiers() & _MODIFIERS
    return QKeySequence(int(mods.value if hasattr(mods, "value") else mods) | int(key))


def _menu_actions(window: QWidget) -> list[QAction]:
    """The actions of the window's widgets and menus.

    napari's app-model actions belong to the application, so they are found through the menus
    that show them, not as children of the window.
    """
    seen: dict[int, QAction] = {}
    for widget in (window, *window.findChildren(QWidget)):
        for action in widget.actions():
            seen.setdefault(id(action), action)
    return list(seen.values())


def shortcut_for_key(window: QWidget, event: Any) -> QAction | QShortcut | None:
    """The enabled action (or ``QShortcut``) of ``window`` whose shortcut is this key press."""
    pressed = _pressed(event)
    if pressed is None:
        return None
    exact = QKeySequence.SequenceMatch.ExactMatch
    for action in _menu_actions(window):
        if action.isEnabled() and any(s.matches(pressed) == exact for s in action.shortcuts()):
            return action
    for shortcut in window.findChildren(QShortcut):
        if shortcut.isEnabled() and shortcut.key().matches(pressed) == exact:
            return shortcut
    return None


class _NoActiveWindowKeys(QObject):
    """Sees the shortcut check (``ShortcutOverride``) of keys no widget takes, at the main window."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._asking = False

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if self._asking or event.type() != QEvent.Type.ShortcutOverride:
            return False
        if QApplication.activeWindow() is not None or QApplication.activeModalWidget() is not None:
            return False
        if not isinstance(obj, QWidget) or not obj.isWindow() or not obj.isVisible():
            return False
        obj.activateWindow()  # the next keys find an active window (and its shortcuts) again
        target = shortcut_for_key(obj, event)
        if target is None or self._wanted_by_a_widget(obj, event):
            return False
        # after this key's delivery, as Qt runs a shortcut (a dialog's own event loop starts then)
        QTimer.singleShot(0, target.activated.emit if isinstance(target, QShortcut) else target.trigger)
        return True

    def _wanted_by_a_widget(self, window: QWidget, event: Any) -> bool:
        """Whether the focused widget (or a filter on its way up) takes the key before shortcuts.

        Asked as Qt asks: the same ``ShortcutOverride`` sent to the window's focus widget (an
        annotation layer's Ctrl-S is taken so, and saves the layer instead of napari's dialog).
        """
        probe = QKeyEvent(QEvent.Type.ShortcutOverride, event.key(), event.modifiers(), event.text())
        probe.ignore()
        self._asking = True
        try:
            QApplication.sendEvent(window.focusWidget() or window, probe)
        finally:
            self._asking = False
        return probe.isAccepted()


def install(main_window: QWidget) -> QObject:
    """Filter the main window's key presses as the module says (once per window)."""
    existing = main_window.findChild(_NoActiveWindowKeys)
    if existing is not None:
        return existing
    f = _NoActiveWindowKeys(main_window)
    main_window.installEventFilter(f)
    return f
