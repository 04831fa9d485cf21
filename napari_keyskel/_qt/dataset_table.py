"""The Dataset dock's table: a Qt model over a dataset's items, sorted and filtered by a proxy.

One row per item, one plain dict per row (no Qt object per cell), so a dataset of thousands of
items costs the table a few thousand dicts, and napari's garbage collections (run whenever a layer
is removed) stay short. :class:`ItemsModel` holds the rows; :class:`ItemsFilter` sorts them by any
column (numbers as numbers) and keeps those with the status chosen and the name typed.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt

from ..dataset import STATUSES, Dataset

__all__ = ["COLUMNS", "SORT_ROLE", "ItemsFilter", "ItemsModel"]

#: Table columns: (title, row key).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("#", "number"),
    ("item", "name"),
    ("kind", "kind"),
    ("frames", "frames"),
    ("labelled", "labelled_frames"),
    ("keys", "keys"),
    ("inst.", "instances"),
    ("flags", "review_flags"),
    ("sugg.", "suggested"),
    ("model", "pending"),
    ("status", "status"),
)
STATUS_COL = len(COLUMNS) - 1
#: The role sorting reads: numbers for numeric columns, text otherwise.
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_ANY = Qt.ItemDataRole.DisplayRole


class ItemsModel(QAbstractTableModel):
    """The items of ``dataset``: what is known of each (``…`` until it is counted)."""

    def __init__(self, dataset: Dataset, parent: Any = None) -> None:
        super().__init__(parent)
        self.dataset = dataset
        from ..dataset.pending import items_with_pending

        counts = {k: len(v) for k, v in dataset.suggestions.by_item.items()}
        pending = {it.key for it in items_with_pending(dataset)}
        self.rows: list[dict[str, Any]] = [
            {
                "number": i + 1,
                "name": it.name,
                "kind": it.kind,
                "key": it.key,
                "suggested": counts.get(it.key, 0),
                "pending": int(it.key in pending),
            }
            for i, it in enumerate(dataset.items)
        ]

    def rowCount(self, parent: QModelIndex | None = None) -> int:
        """Items (a table has no children)."""
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | None = None) -> int:
        """The columns of :data:`COLUMNS`."""
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Any, role: int = _ANY) -> Any:
        """Column titles."""
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][0]
        return None

    def data(self, index: QModelIndex, role: int = _ANY) -> Any:
        """Text, sort value and tooltip of a cell."""
        if not index.isValid():
            return None
        row, key = self.rows[index.row()], COLUMNS[index.column()][1]
        value = row.get(key)
        if role == Qt.ItemDataRole.DisplayRole:
            if key == "suggested":  # (an empty cell: nothing suggested)
                return str(value) if value else ""
            if key == "pending":
                return "to review" if value else ""
            return "…" if key not in row else ("?" if value is None else str(value))
        if role == SORT_ROLE:
            return value if isinstance(value, (int, float)) else -1 if value is None else str(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            if key == "name":
                return f"{row['key']}\n{row.get('media') or ''}".strip()
            if key == "suggested":
                return "frames suggested for labelling"
            if key == "pending":
                return "a model's proposals wait to be accepted or rejected" if value else None
            if key == "status" and row.get("who"):
                return f"set by {row['who']} at {row['when']}"
        return None

    def set_row(self, index: int, row: dict[str, Any]) -> None:
        """Show what is now known of item ``index``."""
        self.rows[index].update(row)
        self.dataChanged.emit(self.index(index, 0), self.index(index, len(COLUMNS) - 1))

    def set_suggested(self, counts: dict[str, int]) -> None:
        """Show how many frames are suggested per item (by item key; missing: none)."""
        for row in self.rows:
            row["suggested"] = counts.get(row["key"], 0)
        col = [k for _, k in COLUMNS].index("suggested")
        self.dataChanged.emit(self.index(0, col), self.index(len(self.rows) - 1, col))

    def set_pending(self, keys: set[str]) -> None:
        """Mark the items (by key) whose model proposals wait for review; the others are cleared."""
        for row in self.rows:
            row["pending"] = int(row["key"] in keys)
        col = [k for _, k in COLUMNS].index("pending")
        self.dataChanged.emit(self.index(0, col), self.index(len(self.rows) - 1, col))


class ItemsFilter(QSortFilterProxyModel):
    """Sorts by any column and keeps the rows with the status and name asked for."""

    def __init__(self, model: ItemsModel, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSourceModel(model)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self.status: str | None = None
        self.text = ""

    def set_filter(self, status: str | None, text: str) -> None:
        """Keep the rows with ``status`` (None: any) whose name holds ``text`` (any case)."""
        self.status = status if status in STATUSES else None
        self.text = text.strip().lower()
        self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        """Whether a row shows (see :meth:`set_filter`)."""
        model = self.sourceModel()
        assert isinstance(model, ItemsModel)
        row = model.rows[source_row]
        if self.status is not None and row.get("status") != self.status:
            return False
        return not self.text or self.text in str(row.get("name", "")).lower()

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        """Numbers before text; numbers as numbers."""
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        if isinstance(a, (int, float)) != isinstance(b, (int, float)):
            return isinstance(a, (int, float))
        return str(a) < str(b)
