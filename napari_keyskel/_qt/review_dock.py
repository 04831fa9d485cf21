"""The review dock: the machine's flags, stepped through one by one, with a review state each.

:class:`ReviewDock` shows the flags of the picked layer's
:class:`~napari_keyskel._napari.review_session.ReviewSession` as a tree: one row per frame (its
flag count and worst score), under it one row per flag (instance, node, kind, score, the review
state of its (frame, instance)). Clicking a flag, *Previous* / *Next* (or ``Shift-F`` / ``F`` on
the layer) jumps to its frame and selects its instance and node. *Accept*, *Needs fix* and
*Reject* (with the comment typed) set the state of the current flag's (frame, instance); the
progress bar counts reviewed / flagged (frame, instance) pairs out of all pairs with points.
*Compare with* adds the disagreements with another annotation layer as ``disagree`` flags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .._napari.napari_private import unwrap_proxy
from ..assist.review import KINDS
from ..assist.review.states import get_state
from ..core.wording import plural

if TYPE_CHECKING:
    import napari

    from .._napari.review_session import ReviewSession

__all__ = ["ReviewDock"]

_ROLE = Qt.ItemDataRole.UserRole
_STATE_COLORS = {"accepted": "#2ca02c", "needs_fix": "#ff7f0e", "rejected": "#d62728", "": "#aaaaaa"}
_STATE_TEXT = {"accepted": "✓ ok", "needs_fix": "fix", "rejected": "✗ no", "": "—"}
#: Most flag rows shown (the rest are counted; step through them with Next / F).
MAX_ROWS = 5000


class ReviewDock(QWidget):
    """Flags of an annotation layer, review states and agreement with another layer."""

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = unwrap_proxy(napari_viewer)
        self.setObjectName("keyskel-review")
        self._session: ReviewSession | None = None
        self._items: dict[int, QTreeWidgetItem] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)

        form = QFormLayout()
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The annotation layer to review (follows the layer selected in napari)")
        self.layer_label = QLabel("Annotation layer")
        form.addRow(self.layer_label, self.layer_combo)
        outer.addLayout(form)

        kinds = QGridLayout()
        self.kind_boxes: dict[str, QCheckBox] = {}
        for i, kind in enumerate(KINDS):
            box = QCheckBox(kind.replace("_", " "))
            box.setChecked(True)
            self.kind_boxes[kind] = box
            kinds.addWidget(box, i // 3, i % 3)
        outer.addLayout(kinds)
        row = QHBoxLayout()
        self.check_button = QPushButton("Find flags")
        self.check_button.setToolTip("Run the checked detectors over every frame of the layer")
        self.order_combo = QComboBox()
        self.order_combo.addItems(["worst first", "by frame"])
        row.addWidget(self.check_button, 1)
        row.addWidget(self.order_combo)
        outer.addLayout(row)
        row = QHBoxLayout()
        self.compare_combo = QComboBox()
        self.compare_combo.setToolTip("Another annotation layer of the same frames (a second annotator)")
        self.compare_button = QPushButton("Compare")
        row.addWidget(QLabel("Compare with"))
        row.addWidget(self.compare_combo, 1)
        row.addWidget(self.compare_button)
        outer.addLayout(row)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(5)
        self.tree.setHeaderLabels(["frame / kind", "instance", "node", "score", "review"])
        self.tree.setUniformRowHeights(True)
        outer.addWidget(self.tree, 1)

        nav = QHBoxLayout()
        self.prev_button = QPushButton("◀ Previous (Shift-F)")
        self.next_button = QPushButton("Next (F) ▶")
        nav.addWidget(self.prev_button)
        nav.addWidget(self.next_button)
        outer.addLayout(nav)
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("comment (optional)")
        outer.addWidget(self.comment)
        states = QHBoxLayout()
        self.accept_button = QPushButton("Accept")
        self.fix_button = QPushButton("Needs fix")
        self.reject_button = QPushButton("Reject")
        self.clear_button = QPushButton("Clear")
        for b in (self.accept_button, self.fix_button, self.reject_button, self.clear_button):
            states.addWidget(b)
        outer.addLayout(states)
        self.progress_bar = QProgressBar()
        self.progress_bar.setFormat("%v / %m flagged reviewed")
        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)
        outer.addWidget(self.progress_bar)
        outer.addWidget(self.progress_label)

        self.check_button.clicked.connect(self.find_flags)
        self.compare_button.clicked.connect(self.compare)
        self.order_combo.currentIndexChanged.connect(self._on_order)
        self.layer_combo.currentIndexChanged.connect(self._on_layer)
        self.tree.itemClicked.connect(self._on_item_clicked)
        self.tree.itemActivated.connect(self._on_item_clicked)
        self.prev_button.clicked.connect(lambda: self._step(-1))
        self.next_button.clicked.connect(lambda: self._step(1))
        self.accept_button.clicked.connect(lambda: self.mark("accepted"))
        self.fix_button.clicked.connect(lambda: self.mark("needs_fix"))
        self.reject_button.clicked.connect(lambda: self.mark("rejected"))
        self.clear_button.clicked.connect(lambda: self.mark(None))
        from .save_hooks import install

        install(self.viewer)  # owners for the layers (and the window's save hooks)
        self.viewer.layers.events.inserted.connect(self._refresh_layers, position="last")
        self.viewer.layers.events.removed.connect(self._refresh_layers, position="last")
        self.viewer.layers.selection.events.active.connect(self._on_active)
        self.destroyed.connect(lambda *_: _stop_following(self.viewer, self._on_active))
        self._refresh_layers()

    def _compare_with_another(self) -> None:
        """*Compare with* offers another layer than the one reviewed (comparing with itself is moot)."""
        reviewed, combo = self.layer_combo.currentText(), self.compare_combo
        if combo.currentText() == reviewed:
            others = [combo.itemText(i) for i in range(combo.count()) if combo.itemText(i) != reviewed]
            if others:
                combo.blockSignals(True)
                combo.setCurrentText(others[0])
                combo.blockSignals(False)

    def hide_layer_picker(self) -> None:
        """Hide the layer row (the main dock's picker drives this tab)."""
        self.layer_label.hide()
        self.layer_combo.hide()

    def _on_active(self, event: Any = None) -> None:
        """The layer selected in napari's layer list, if it is an annotation layer, is reviewed."""
        layer = self.viewer.layers.selection.active
        if (
            layer is not None
            and layer.name in self._owners()
            and layer.name != self.layer_combo.currentText()
        ):
            self.set_layer(layer.name)

    # -- layers ---------------------------------------------------------------------------------
    def _owners(self) -> dict[str, Any]:
        """The owners of the viewer's annotation layers, by layer name."""
        from .._napari.registry import owners

        return {o.points.name: o for o in owners(self.viewer)}

    def _refresh_layers(self, event: Any = None) -> None:
        names = list(self._owners())
        for combo in (self.layer_combo, self.compare_combo):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
            combo.blockSignals(False)
        self._on_layer()

    def set_layer(self, name: str) -> None:
        """Review the annotation layer called ``name``."""
        self.layer_combo.setCurrentText(name)
        self._on_layer()

    def session(self) -> ReviewSession | None:
        """The review session of the picked layer."""
        return self._session

    def _on_layer(self, *_: Any) -> None:
        self._compare_with_another()
        owner = self._owners().get(self.layer_combo.currentText())
        session = None if owner is None else owner.review
        if session is self._session:
            return
        if self._session is not None:
            self._session.updated.disconnect(self._show)
        self._session = session
        if session is not None:
            session.updated.connect(self._show)
        self._show()

    # -- actions --------------------------------------------------------------------------------
    def find_flags(self) -> None:
        """Run the checked detectors over the layer."""
        s = self._session
        if s is not None:
            s.run([k for k, box in self.kind_boxes.items() if box.isChecked()])

    def compare(self) -> None:
        """Add the disagreements with the layer picked under *Compare with*."""
        s = self._session
        other = self._owners().get(self.compare_combo.currentText())
        if s is None or other is None:
            return
        if other is s.owner:
            self.progress_label.setText("pick another layer to compare with")
            return
        try:
            flags = s.compare_with(other)
        except Exception as exc:  # a KeyskelError (no shared node, 3-D) is shown, not raised
            self.progress_label.setText(f"cannot compare: {exc}")
            return
        self.progress_label.setText(
            f"{plural(len(flags), 'disagreement')} with {self.compare_combo.currentText()!r}"
        )

    def _on_order(self, index: int) -> None:
        if self._session is not None:
            self._session.set_order("score" if index == 0 else "frame")

    def _step(self, direction: int) -> None:
        s = self._session
        if s is None:
            return
        s.next_flag() if direction > 0 else s.previous_flag()

    def _on_item_clicked(self, item: QTreeWidgetItem, column: int = 0) -> None:
        s = self._session
        i = item.data(0, _ROLE)
        if s is None or i is None:
            return
        s.go(int(i))

    def mark(self, state: str | None) -> None:
        """Give the current flag's (frame, instance) this review state (None: clear it)."""
        s = self._session
        if s is None or s.current is None:
            self.progress_label.setText("pick a flag first")
            return
        s.set_state(s.current, state, self.comment.text())
        self.comment.clear()

    # -- view -----------------------------------------------------------------------------------
    def _show(self) -> None:
        """Rebuild the tree and the progress from the session, and mark the bottom timeline."""
        from .timeline_dock import find_timeline

        timeline = find_timeline(self.viewer)
        if timeline is not None and self._session is not None:
            timeline.show_review(self._session)
        self.tree.blockSignals(True)
        self.tree.clear()
        self._items = {}
        s = self._session
        if s is None:
            self.tree.blockSignals(False)
            self._show_progress(0, 0)
            self.progress_label.setText("no annotation layer")
            return
        flags, states = s.flags, s.states()
        names = s.store.skeleton.nodes
        tracks = s.store.tracks
        n = min(len(flags), MAX_ROWS)
        group: QTreeWidgetItem | None = None
        last = None
        for i in range(n):
            f = int(flags.frame[i])
            if f != last:
                on_frame = flags.frame == f
                group = QTreeWidgetItem(
                    [
                        f"frame {f}",
                        "",
                        plural(int(on_frame.sum()), "flag"),
                        f"{flags.score[on_frame].max():.2f}",
                        "",
                    ]
                )
                self.tree.addTopLevelItem(group)
                last = f
            tid, k, kind = int(flags.track_id[i]), int(flags.node[i]), str(flags.kind[i])
            t = tracks.get(tid)
            state = str(states[i])
            item = QTreeWidgetItem(
                [
                    kind.replace("_", " "),
                    t.name if t is not None else f"track {tid}",
                    names[k] if k >= 0 else "(instance)",
                    f"{flags.score[i]:.2f}",
                    _STATE_TEXT[state],
                ]
            )
            item.setData(0, _ROLE, i)
            item.setForeground(4, QColor(_STATE_COLORS[state]))
            if state:
                entry = get_state(s.store, int(flags.frame[i]), tid) or {}
                item.setToolTip(4, f"{state.replace('_', ' ')}: {entry.get('comment') or 'no comment'}")
            assert group is not None  # (the first flag opened its frame's group)
            group.addChild(item)
            self._items[i] = item
        self.tree.expandAll()
        for c in range(5):
            self.tree.resizeColumnToContents(c)
        cur = self._items.get(s.current) if s.current is not None else None
        if cur is not None:
            self.tree.setCurrentItem(cur)
            self.tree.scrollToItem(cur)
        self.tree.blockSignals(False)
        p = s.progress()
        self._show_progress(p["reviewed"], p["flagged"])
        if not len(flags):
            pairs = plural(p["total"], "(frame, instance) pair")
            self.progress_label.setText(f"no flags · {pairs} with points")
            return
        more = f" (showing the first {MAX_ROWS})" if len(flags) > MAX_ROWS else ""
        by_kind = ", ".join(f"{k}: {int(c)}" for k, c in zip(*np.unique(flags.kind, return_counts=True)))
        self.progress_label.setText(
            f"reviewed {p['reviewed']} / flagged {p['flagged']} / total {p['total']} (frame, instance)"
            f" · {plural(len(flags), 'flag')}{more}" + (f" · {by_kind}" if by_kind else "")
        )

    def _show_progress(self, reviewed: int, flagged: int) -> None:
        """The bar: reviewed of flagged (frame, instance) pairs, or "no flags" when there are none."""
        self.progress_bar.setFormat("%v / %m flagged reviewed" if flagged else "no flags")
        self.progress_bar.setMaximum(max(flagged, 1))
        self.progress_bar.setValue(reviewed if flagged else 0)


def _stop_following(viewer: Any, slot: Any) -> None:
    """Stop following napari's layer selection once the widget is gone."""
    viewer.layers.selection.events.active.disconnect(slot)
