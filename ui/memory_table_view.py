"""The memory table's view: fixed row heights (fast at any size), row selection,
header clicks that sort only by what the model can sort, a right-click menu to
choose the columns, and loading of the rows on screen as it scrolls.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QPoint, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView, QWidget

from .memory_table import TITLES, Column, MemoryTableModel


class MemoryTableView(QTableView):
    """The table: fixed row heights (fast at any size), row selection, and header clicks
    that sort only by what the model can sort. It asks for the rows it shows as it
    scrolls, so they load whether or not anything is painted."""

    def __init__(self, model: MemoryTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("memoryTable")
        self.setModel(model)
        self._model = model
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setAlternatingRowColors(True)
        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.horizontalHeader()
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(Column.TEXT, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(24)
        widths = {
            Column.KIND: 90,
            Column.SAID: 115,
            Column.STORED: 115,
            Column.CONVERSATION: 130,
            Column.PINNED: 28,
            Column.IMPORTANCE: 45,
            Column.STATE: 75,
            Column.SCORE: 55,
        }
        for column, width in widths.items():
            self.setColumnWidth(column, width)
        self.setColumnHidden(Column.STORED, True)
        self._hidden_by_choice = {Column.STORED}
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._column_menu)
        header.sortIndicatorChanged.connect(self._sort_clicked)
        self.verticalScrollBar().valueChanged.connect(self.load_visible)
        model.modelReset.connect(self._model_reset)
        model.layoutChanged.connect(self.load_visible)
        self._model_reset()

    def selected_rows(self) -> list[int]:
        return sorted(i.row() for i in self.selectionModel().selectedRows())

    def select_row(self, row: int) -> None:
        index = self._model.index(row, 0)
        self.setCurrentIndex(index)
        self.selectionModel().select(
            QItemSelection(index, self._model.index(row, len(Column) - 1)),
            QItemSelectionModel.SelectionFlag.ClearAndSelect,
        )
        self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def load_visible(self, *_: object) -> None:
        """Ask for the blocks of the rows on screen (and one row beyond each edge)."""
        if self._model.total == 0:
            return
        top = max(0, self.rowAt(0))
        bottom = self.rowAt(max(0, self.viewport().height() - 1))
        if bottom < 0:
            bottom = min(self._model.total - 1, top + 60)
        step = self._model.BLOCK_SIZE
        for row in range(max(0, top - 1), min(self._model.total - 1, bottom + 1) + 1, step):
            self._model.ensure_loaded(row)
        self._model.ensure_loaded(min(self._model.total - 1, bottom + 1))

    def _column_menu(self, pos: QPoint) -> None:
        """Right-click on the header: choose the columns shown (the text always is)."""
        menu = QMenu(self)
        for column in Column:
            if column in (Column.TEXT, Column.SCORE):
                continue
            action = menu.addAction(TITLES[column])
            action.setCheckable(True)
            action.setChecked(column not in self._hidden_by_choice)
            action.toggled.connect(partial(self.show_column, column))
        menu.popup(self.horizontalHeader().mapToGlobal(pos))

    def show_column(self, column: Column, shown: bool) -> None:
        if shown:
            self._hidden_by_choice.discard(column)
        else:
            self._hidden_by_choice.add(column)
        self.setColumnHidden(column, not shown)

    def _model_reset(self) -> None:
        self.setColumnHidden(Column.SCORE, not self._model.searching)
        self._show_sort()
        self.load_visible()

    def _show_sort(self) -> None:
        header = self.horizontalHeader()
        current = self._model.sort_column()
        header.blockSignals(True)
        if current is None:
            header.setSortIndicator(-1, Qt.SortOrder.DescendingOrder)
        else:
            header.setSortIndicator(current[0], current[1])
        header.blockSignals(False)

    def _sort_clicked(self, column: int, order: Qt.SortOrder) -> None:
        if not self._model.sortable(column):
            self._show_sort()
            return
        self._model.sort(column, order)
