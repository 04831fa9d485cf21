"""The keyframe timeline docked across the bottom of the napari window.

:class:`TimelineDock` is a :class:`~napari_keyskel._qt.timeline.TimelineWidget` that looks after
itself: it shows the selected keyskel layer (or the first one), repaints the rows of the instances
an edit touched once per edit of that layer (its owner's ``changed``), records its own edits
(delete key, interpolate) as undo steps of the layer, and shows whether the layer has unsaved
changes. :func:`open_timeline` docks it at the
bottom (once per viewer); the side dock and the demo call it, and napari's Plugins menu opens the
same widget (*Keyskel timeline*), which moves itself to the bottom the first time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QDockWidget, QMainWindow, QPushButton, QWidget

from .._napari.napari_private import unwrap_proxy
from ..core.store import Change
from .timeline import TimelineWidget

__all__ = ["DOCK_NAME", "REVIEW_STATE_COLORS", "TimelineDock", "find_timeline", "open_timeline"]

#: The dock's name in the window, as napari's Plugins menu names it (``"<widget> (<display name>)"``),
#: so the menu entry shows and hides this dock; ``add_plugin_dock_widget`` names it by the package.
DOCK_NAME = "Keyskel timeline (Keyskel)"
_OTHER_NAME = "Keyskel timeline (napari-keyskel)"


#: The most of the window's height the timeline grows to by itself to show opened node rows.
MAX_WINDOW_SHARE = 0.45

#: Timeline colours of review states (flags use the "review" mark colour).
REVIEW_STATE_COLORS = {"accepted": "#3cb44b", "needs_fix": "#f58231", "rejected": "#e6194b"}


def _is_keyskel(layer: Any) -> bool:
    return type(layer).__name__ == "Points" and "keyskel" in getattr(layer, "metadata", {})


class TimelineDock(TimelineWidget):
    """The timeline of the selected keyskel layer, for the bottom of the window."""

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        viewer = unwrap_proxy(napari_viewer)
        super().__init__(viewer, parent)
        self.setObjectName("keyskel-timeline-dock")
        self.setMinimumHeight(150)
        self._owner: Any = None
        self._state: Any = None
        self._placed = False
        # where napari will dock us, read before it does (docking records the area at once)
        from napari.settings import get_settings

        positions = get_settings().application.plugin_widget_positions
        self._remembered = positions.get(DOCK_NAME) or positions.get(_OTHER_NAME)
        from .save_hooks import install

        install(viewer)  # owners for the layers; Ctrl-S, unsaved changes (shown here), autosave, recovery
        viewer.layers.selection.events.active.connect(self._follow)
        viewer.layers.events.inserted.connect(self._follow, position="last")
        viewer.layers.events.removed.connect(self._follow, position="last")
        # a recovery offer stays here (napari's notification fades after a few seconds)
        self.recover_button = QPushButton("Recover autosaved work")
        self.recover_button.setToolTip("Replace the annotations by the work autosaved before napari closed")
        self.discard_button = QPushButton("Discard it")
        for b in (self.recover_button, self.discard_button):
            b.setVisible(False)
            self.top_bar.addWidget(b)
        self.canvas.rows_resized.connect(self._fit_rows)
        self.recover_button.clicked.connect(lambda: self._state is not None and self._state.recover())
        self.discard_button.clicked.connect(lambda: self._state is not None and self._state.discard())
        self._follow()

    # -- which layer ----------------------------------------------------------------------------
    def _follow(self, event: Any = None) -> None:
        """Show the active keyskel layer; else keep the current one while it is in the viewer."""
        layers = self.viewer.layers
        active = layers.selection.active
        if _is_keyskel(active):
            target = active
        elif self.layer is not None and self.layer in layers:
            target = self.layer
        else:
            target = next((ly for ly in layers if _is_keyskel(ly)), None)
        from .._napari.registry import owner_of

        if target is not self.layer or (target is not None and self._owner is not owner_of(target)):
            self.show_layer(target)  # another layer, or the same layer with a new owner (a dataset item)

    def show_layer(self, layer: Any) -> None:
        """Show ``layer``'s annotations (None: nothing)."""
        from .._napari.registry import owner_of

        owner = owner_of(layer) if layer is not None else None
        self.set_layer(layer if owner is not None else None, None if owner is None else owner.store)

    def set_layer(self, layer: Any, store: Any) -> None:
        """Show the store of ``layer`` and follow its edits and save state."""
        from .._napari.registry import owner_of

        owner = owner_of(layer) if layer is not None else None
        if owner is not self._owner:
            if self._owner is not None:
                self._owner.changed.disconnect(self._on_changed)
            if owner is not None:
                owner.changed.connect(self._on_changed)
            self._owner = owner
        self._watch_save_state(owner)
        super().set_layer(layer, store)
        self.show_review(None if owner is None or not owner.has_review else owner.review)

    def show_review(self, session: Any) -> None:
        """Mark a review session's flagged frames and review states on the instance strips.

        Flags are ``"review"`` marks; each review state its own kind (``"review:accepted"``, ...)
        in :data:`REVIEW_STATE_COLORS`. A session of another layer than the one shown is ignored.
        """
        for kind in ("review", *(f"review:{k}" for k in REVIEW_STATE_COLORS)):
            self.clear_marks(kind)
        if session is None or self._owner is None or session.owner is not self._owner:
            return
        marks = session.timeline_marks()
        if not marks:
            return
        tids = list(marks)
        flag_frames = np.concatenate([marks[t]["flag_frames"] for t in tids])
        flag_tids = np.concatenate([np.full(len(marks[t]["flag_frames"]), t) for t in tids])
        self.set_marks("review", flag_frames, flag_tids)
        frames = np.concatenate([marks[t]["state_frames"] for t in tids])
        states = np.concatenate([np.asarray(marks[t]["states"], str) for t in tids])
        state_tids = np.concatenate([np.full(len(marks[t]["state_frames"]), t) for t in tids])
        for state, color in REVIEW_STATE_COLORS.items():
            m = states == state
            self.set_marks(f"review:{state}", frames[m], state_tids[m], color)

    def _on_changed(self, changes: Any = None) -> None:
        """The layer's one redraw after an edit: the rows of the instances it touched."""
        self.refresh(changes)

    @property
    def follows_edits(self) -> bool:
        """True while the layer shown redraws this timeline after each of its edits."""
        owner = getattr(self, "_owner", None)
        return owner is not None and owner.store is self.store

    # -- unsaved changes ------------------------------------------------------------------------
    def _watch_save_state(self, owner: Any) -> None:
        state = None if owner is None else owner.save
        if state is not self._state:
            if self._state is not None:
                self._state.dirty_changed.disconnect(self._show_dirty)
                self._state.offer_changed.disconnect(self._show_dirty)
            if state is not None:
                state.dirty_changed.connect(self._show_dirty)
                state.offer_changed.connect(self._show_dirty)
            self._state = state
        self._show_dirty()

    def _show_dirty(self, *_: Any) -> None:
        s = self._state
        if s is None:
            self.unsaved_label.setText("")
        elif s.dirty:
            target = s.path.name if s.path is not None else "a file (asks where)"
            self.unsaved_label.setText(
                f"<b style='color:#f0b040'>● unsaved changes</b> · Ctrl-S saves to {target}"
            )
        else:
            self.unsaved_label.setText("saved" if s.path is not None else "")
        self.unsaved_label.setToolTip("" if s is None or s.path is None else str(s.path))
        if hasattr(self, "recover_button"):
            offered = s is not None and s.offer is not None
            self.recover_button.setVisible(offered)
            self.discard_button.setVisible(offered)
            if offered:
                self.recover_button.setToolTip(f"Autosaved: {s.offer.summary()}")

    # -- edits are undo steps of the layer shown ------------------------------------------------
    @property
    def edit_hook(self) -> Callable[[str, Callable[[], list[Change]]], list[Change]]:
        """Runs the timeline's edits: as an undo step of the layer shown (else the hook set)."""
        owner = getattr(self, "_owner", None)
        if owner is not None and owner.store is self.store:
            return self._record
        return self._hook

    @edit_hook.setter
    def edit_hook(self, hook: Callable[[str, Callable[[], list[Change]]], list[Change]]) -> None:
        self._hook = hook

    def _record(self, label: str, fn: Callable[[], list[Change]]) -> list[Change]:
        return self._owner.bindings.record(label, fn)

    # -- docking ----------------------------------------------------------------------------------
    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._placed:
            self._placed = True
            QTimer.singleShot(0, self._move_to_bottom)

    def _docked(self) -> tuple[QDockWidget, QMainWindow] | None:
        """The dock widget holding this timeline and its main window (None: floating or alone)."""
        dock = self.parent()
        while dock is not None and not isinstance(dock, QDockWidget):
            dock = dock.parent()
        main = dock.parent() if dock is not None else None
        if dock is None or dock.isFloating() or not isinstance(main, QMainWindow):
            return None
        return dock, main

    def _fit_rows(self, rows_height: int) -> None:
        """Grow the dock when the strips hold more rows than they show (17 node rows opened, say).

        Up to :data:`MAX_WINDOW_SHARE` of the window; the strips scroll for the rest. It never
        shrinks here (the person's own size stays).
        """
        docked = self._docked()
        if docked is None:
            return
        dock, main = docked
        viewport = self.scroll_area.viewport()
        missing = rows_height - (viewport.height() if viewport is not None else 0)
        target = min(dock.height() + missing, int(main.height() * MAX_WINDOW_SHARE))
        if missing > 0 and target > dock.height():
            main.resizeDocks([dock], [target], Qt.Orientation.Vertical)

    def _move_to_bottom(self) -> None:
        """Opened from the Plugins menu (napari docks plugins on the right): move to the bottom.

        Only the first time: once the person moves it, napari remembers where (its settings).
        """
        docked = self._docked()
        if docked is None:
            return
        dock, main = docked
        if main.dockWidgetArea(dock) != Qt.DockWidgetArea.BottomDockWidgetArea and self._remembered is None:
            main.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)


def find_timeline(viewer: Any) -> TimelineDock | None:
    """The viewer's bottom timeline dock if it has one (none is opened)."""
    viewer = unwrap_proxy(viewer)
    docked = viewer.window.dock_widgets
    for name in (DOCK_NAME, _OTHER_NAME):
        existing = docked.get(name)
        if isinstance(existing, TimelineDock):
            return existing
    return None


def open_timeline(viewer: Any) -> TimelineDock:
    """The viewer's bottom timeline dock, opened (across the bottom of the window) if needed."""
    viewer = unwrap_proxy(viewer)
    existing = find_timeline(viewer)
    if existing is not None:
        dock = existing.parent()
        if isinstance(dock, QWidget):
            dock.show()
        return existing
    widget = TimelineDock(viewer)
    viewer.window.add_dock_widget(widget, name=DOCK_NAME, area="bottom")
    return widget
