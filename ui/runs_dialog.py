"""The last consolidation runs: what each did, "consolidate now", and undo of a run."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from mneme.memory import Run

from .core_op import CoreOp
from .session import AppSession

_COLUMNS = [
    ("Started", None),
    ("Status", None),
    ("Turns read", "read"),
    ("Facts added", "added"),
    ("Reinforced", "reinforced"),
    ("Superseded", "superseded"),
    ("To review", "contradictions"),
    ("Summaries", "summarised"),
    ("Archived", "archived"),
]
_Index = QModelIndex | QPersistentModelIndex


class RunsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.runs: list[Run] = []

    def set_runs(self, runs: list[Run]) -> None:
        self.beginResetModel()
        self.runs = runs
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(_COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _COLUMNS[section][0]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        run = self.runs[index.row()]
        column, key = _COLUMNS[index.column()]
        if column == "Started":
            return time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started_at))
        if column == "Status":
            return run.status + (" (undone)" if run.undone else "")
        return run.note.get(key or "", 0)


class RunsDialog(QDialog):
    reloaded = Signal()
    """The runs listed are up to date."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Memory consolidation")
        self.session = session
        self.model = RunsModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("runsTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.status = QLabel("", self)
        self.consolidate_button = QPushButton("Consolidate now", self)
        self.consolidate_button.clicked.connect(self._consolidate)
        self.undo_button = QPushButton("Undo run…", self)
        self.undo_button.setToolTip("Take back everything the selected run did")
        self.undo_button.clicked.connect(self._undo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.addButton(self.consolidate_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.undo_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(
                "Mneme distils quiet conversations into summaries and facts. Each run can be "
                "undone as a whole; what you edited since is kept.",
                self,
            )
        )
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.resize(760, 360)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        session.consolidationProgress.connect(self._progress)
        session.consolidationFinished.connect(self._run_finished)
        session.runUndone.connect(self._undone)
        self.reload()

    def _run_finished(self, report: object) -> None:
        # a bound method, not a lambda: Qt drops the connection when the dialog goes
        self.reload()

    RUNS_SHOWN = 50

    def reload(self) -> None:
        """List the runs again, in a worker."""
        limit = self.RUNS_SHOWN

        def listed(runs: list[Run]) -> None:
            self.model.set_runs(runs)
            self._update_buttons()
            self.reloaded.emit()

        def failed(why: str) -> None:
            self.model.set_runs([])
            self.status.setText(f"The runs could not be listed: {why}")
            self._update_buttons()

        CoreOp(
            self.session,
            lambda core: core.consolidation.runs(limit),
            parent=self,
            name="list runs",
            key="runs",
        ).success(listed).failure(failed).run()

    def selected_run(self) -> Run | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.runs[rows[0].row()] if rows else None

    def _update_buttons(self, *_: object) -> None:
        run = self.selected_run()
        self.undo_button.setEnabled(run is not None and not run.undone and run.status != "running")
        self.consolidate_button.setEnabled(not self.session.consolidating)

    def _consolidate(self) -> None:
        if self.session.consolidate(everything=True):
            self.status.setText("Consolidating…")
        self._update_buttons()

    def _progress(self, done: int, total: int, what: str) -> None:
        self.status.setText(f"{done}/{total}: {what}")

    def _undo(self) -> None:
        run = self.selected_run()
        if run is None:
            return
        answer = QMessageBox.question(
            self,
            "Undo consolidation run",
            "Remove the facts and summaries this run added and put back what it changed?",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.session.undo_run(run.id)

    def _undone(self, undone: int, kept: int) -> None:
        extra = f"; {kept} you changed since were kept" if kept else ""
        self.status.setText(f"Undid {undone} changes{extra}.")
        self.reload()
