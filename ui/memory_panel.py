"""The stored memories: a list the person can read and prune.

The list is a Qt item model over the memory store; it reloads itself when the
session announces a change, whichever thread made it.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from memory import ListQuery, Memory, MemoryStore

ID_ROLE = Qt.ItemDataRole.UserRole + 1
_Index = QModelIndex | QPersistentModelIndex


class MemoryListModel(QAbstractListModel):
    """The newest memories of a store, one row each."""

    def __init__(self, limit: int = 1000, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Memory] = []
        self._limit = limit

    def reload(self, store: MemoryStore | None) -> None:
        self.beginResetModel()
        self._rows = list(store.browse(ListQuery(limit=self._limit)).items) if store else []
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def memory(self, row: int) -> Memory:
        return self._rows[row]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        m = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            who = m.role or m.kind.value
            text = " ".join(m.text.split())
            return f"{who}: {text[:160]}{'…' if len(text) > 160 else ''}"
        if role == Qt.ItemDataRole.ToolTipRole:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.said_at))
            return f"{m.kind.value}, {when}\n\n{m.text[:2000]}"
        if role == ID_ROLE:
            return m.id
        return None


class MemoryPanel(QWidget):
    deleteRequested = Signal(list)
    runsRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = MemoryListModel(parent=self)
        self.view = QListView(self)
        self.view.setObjectName("memoryList")
        self.view.setModel(self.model)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setWordWrap(True)
        self.view.setSpacing(2)
        self.title = QLabel("Memories", self)
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.setObjectName("deleteMemory")
        self.delete_button.setToolTip("Forget the selected memories (asks first)")
        self.delete_button.setEnabled(False)
        self.delete_button.clicked.connect(self._delete_selected)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.runs_button = QPushButton("Consolidation…", self)
        self.runs_button.setObjectName("consolidationRuns")
        self.runs_button.setToolTip("Summaries and facts made from your conversations; undo a run")
        self.runs_button.clicked.connect(self.runsRequested)

        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addStretch(1)
        header.addWidget(self.runs_button)
        header.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.view)

    def reload(self, store: MemoryStore | None) -> None:
        self.model.reload(store)
        total = store.count() if store is not None else 0
        self.title.setText(f"Memories ({total:,})")
        self._selection_changed()

    def selected_ids(self) -> list[str]:
        return [str(i.data(ID_ROLE)) for i in self.view.selectionModel().selectedRows()]

    def _selection_changed(self, *_: object) -> None:
        self.delete_button.setEnabled(bool(self.selected_ids()))

    def _delete_selected(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        what = "this memory" if len(ids) == 1 else f"these {len(ids)} memories"
        answer = QMessageBox.question(
            self,
            "Forget memories",
            f"Forget {what}? It is deleted from the assistant's memory for good.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.deleteRequested.emit(ids)
