"""Edit one memory: its text, whether it is pinned, its importance, and its history.

Saving runs in the background. If it fails the dialog stays open with the
text as typed and says why, so nothing the person wrote is lost; every save
and every restore keeps the version it replaces in the memory's history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.memories import MemoryOverview
from mneme.memory import Memory, MemoryDetails

from .core_op import CoreOp
from .look import ERROR_STYLE
from .memory_table import ID_ROLE, fill_history
from .session import AppSession

if TYPE_CHECKING:
    from mneme.assistant.core import Assistant


class MemoryEditDialog(QDialog):
    saved = Signal(object)
    """The :class:`Memory` as saved."""
    loaded = Signal(object)
    """The :class:`MemoryDetails` the fields were filled from."""

    def __init__(self, session: AppSession, memory_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit memory")
        self.setObjectName("memoryEditDialog")
        self.session = session
        self.memory_id = memory_id
        self.details: MemoryDetails | None = None
        self._busy = False

        self.text = QPlainTextEdit(self)
        self.text.setObjectName("editText")
        self.pinned = QCheckBox("Pinned: always given to the assistant", self)
        self.importance = QDoubleSpinBox(self)
        self.importance.setRange(0.0, 1.0)
        self.importance.setSingleStep(0.05)
        self.importance.setDecimals(2)
        self.history = QListWidget(self)
        self.history.setObjectName("editHistory")
        self.restore_button = QPushButton("Restore this version", self)
        self.restore_button.setToolTip("Make the selected version current again")
        self.restore_button.clicked.connect(self._restore)
        self.history.currentRowChanged.connect(self._update_buttons)
        self.error = QLabel("", self)
        self.error.setObjectName("editError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.status = QLabel("Loading…", self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Importance", self.importance)
        form.addRow("", self.pinned)
        restore_row = QHBoxLayout()
        restore_row.addStretch(1)
        restore_row.addWidget(self.restore_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 3)
        layout.addLayout(form)
        layout.addWidget(QLabel("Earlier versions", self))
        layout.addWidget(self.history, 2)
        layout.addLayout(restore_row)
        layout.addWidget(self.error)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.resize(620, 520)
        self._update_buttons()
        self.reload()

    # -- loading --------------------------------------------------------------------

    def reload(self) -> None:
        memory_id = self.memory_id
        self._set_busy(True, "Loading…")
        CoreOp(
            self.session,
            lambda core: core.memories.overview(memory_id),
            parent=self,
            name="load memory",
        ).success(self._loaded).failure(
            lambda why: self._failed(f"The memory could not be read: {why}")
        ).run()

    def _loaded(self, overview: MemoryOverview) -> None:
        details = self.details = overview.details
        memory = details.memory
        self.text.setPlainText(memory.text)
        self.pinned.setChecked(memory.pinned)
        self.importance.setValue(memory.importance)
        fill_history(self.history, details.history, 120)
        self.setWindowTitle(f"Edit {memory.kind.value} (version {memory.version})")
        self._set_busy(False, "")
        self.loaded.emit(details)

    # -- saving ---------------------------------------------------------------------

    def modified(self) -> bool:
        if self.details is None:
            return bool(self.text.toPlainText().strip())
        m = self.details.memory
        return (
            self.text.toPlainText() != m.text
            or self.pinned.isChecked() != m.pinned
            or abs(self.importance.value() - m.importance) > 1e-6
        )

    def save(self) -> None:
        if self.details is None or self._busy:
            return
        if not self.modified():
            self.accept()
            return
        memory_id, text = self.memory_id, self.text.toPlainText()
        pinned, importance = self.pinned.isChecked(), round(self.importance.value(), 4)
        self._set_busy(True, "Saving…")
        CoreOp(
            self.session,
            lambda core: core.memories.edit(
                memory_id, text=text, importance=importance, pinned=pinned
            ),
            parent=self,
            name="save memory",
        ).success(self._saved).failure(
            lambda why: self._failed(f"The memory was not saved: {why}")
        ).run()

    def _saved(self, memory: Memory) -> None:
        self._set_busy(False, "Saved.")
        self.saved.emit(memory)
        self.accept()

    def _failed(self, message: str) -> None:
        self._set_busy(False, "")
        self.error.setText(message)

    def _restore(self) -> None:
        item = self.history.currentItem()
        if item is None or self._busy:
            return
        version = int(item.data(ID_ROLE))
        if self.modified():
            answer = QMessageBox.question(
                self,
                "Restore version",
                f"Restoring version {version} replaces what you typed here. Restore it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        memory_id = self.memory_id
        self._set_busy(True, f"Restoring version {version}…")

        def restore(core: Assistant) -> MemoryOverview:
            core.memories.restore_version(memory_id, version)
            return core.memories.overview(memory_id)

        def restored(overview: MemoryOverview) -> None:
            self._loaded(overview)
            self.status.setText(
                f"Version {version} is current again (saved as version {overview.memory.version})."
            )

        CoreOp(self.session, restore, parent=self, name="restore version").success(
            restored
        ).failure(lambda why: self._failed(f"Version {version} was not restored: {why}")).run()

    def reject(self) -> None:
        if self._busy and self.status.text() == "Saving…":
            return  # the save decides whether the dialog closes
        if self.details is not None and self.modified():
            answer = QMessageBox.question(
                self,
                "Discard changes",
                "Close without saving your changes to this memory?",
                QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Discard:
                return
        super().reject()

    def _set_busy(self, busy: bool, status: str) -> None:
        self._busy = busy
        self.status.setText(status)
        if busy:
            self.error.setText("")
        self._update_buttons()

    def _update_buttons(self, *_: object) -> None:
        ready = self.details is not None and not self._busy
        self.save_button.setEnabled(ready)
        self.restore_button.setEnabled(ready and self.history.currentItem() is not None)
        for widget in (self.text, self.pinned, self.importance):
            widget.setEnabled(self.details is not None and not self._busy)
