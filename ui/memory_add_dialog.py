"""Write a memory by hand: a fact about yourself or a free-form note.

A note is stored as a summary with the scope "note", so consolidation never
mistakes it for one of its own summaries and never rewrites it. Saving runs in
the background; on failure the dialog stays open with the text as typed.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from mneme.memory import Kind, Memory

from .core_op import CoreOp
from .look import ERROR_STYLE
from .session import AppSession


class AddMemoryDialog(QDialog):
    added = Signal(object)
    """The new :class:`Memory`."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a memory")
        self.setObjectName("addMemoryDialog")
        self.session = session
        self._busy = False
        self.text = QPlainTextEdit(self)
        self.text.setObjectName("addText")
        self.text.setPlaceholderText("Something the assistant should remember…")
        self.kind = QComboBox(self)
        self.kind.addItem("Fact: a short statement about you or your world", Kind.FACT)
        self.kind.addItem("Note: free-form text", Kind.SUMMARY)
        self.pinned = QCheckBox("Pinned: always given to the assistant", self)
        self.importance = QDoubleSpinBox(self)
        self.importance.setRange(0.0, 1.0)
        self.importance.setSingleStep(0.05)
        self.importance.setValue(0.7)
        self.error = QLabel("", self)
        self.error.setObjectName("addError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Kind", self.kind)
        form.addRow("Importance", self.importance)
        form.addRow("", self.pinned)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(520, 320)

    def set_kind(self, kind: Kind) -> None:
        self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))

    def save(self) -> None:
        if self._busy:
            return
        text = self.text.toPlainText()
        if not text.strip():
            self.error.setText("Write what the assistant should remember first.")
            return
        kind = Kind(self.kind.currentData())
        pinned, importance = self.pinned.isChecked(), round(self.importance.value(), 4)
        self._set_busy(True)
        CoreOp(
            self.session,
            lambda core: core.memories.add(kind, text, pinned=pinned, importance=importance),
            parent=self,
            name="add memory",
        ).success(self._added).failure(self._failed).run()

    def _added(self, memory: Memory) -> None:
        self._set_busy(False)
        self.added.emit(memory)
        self.accept()

    def _failed(self, why: str) -> None:
        self._set_busy(False)
        self.error.setText(f"The memory was not added: {why}")

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        if busy:
            self.error.setText("")
        for widget in (self.text, self.kind, self.pinned, self.importance, self.save_button):
            widget.setEnabled(not busy)
