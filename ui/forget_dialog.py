"""Forgetting, shown before it is done.

Forgetting cascades (see ``memory._forgetting``): facts that only the chosen
memories supported go too, summaries that used them are deleted and written
again later without them, and facts with other sources are kept with fewer.
This dialog reads that plan in the background, shows it, and only forgets
when the person confirms. An error leaves it open with nothing changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.memories import ForgetPlan
from mneme.memory import ForgetReport, Kind, Memory

from .core_op import CoreOp
from .look import ERROR_STYLE
from .memory_detail import describe
from .session import AppSession

ID_ROLE = Qt.ItemDataRole.UserRole + 1


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one}" if n == 1 else f"{n} {many or one + 's'}"


def report_sentence(report: ForgetReport) -> str:
    """What a finished forget did, in a sentence."""
    parts = [f"Forgot {_plural(len(report.deleted), 'memory', 'memories')}"]
    if report.trimmed:
        parts.append(f"{_plural(len(report.trimmed), 'fact')} kept with fewer sources")
    if report.revived:
        parts.append(f"{_plural(len(report.revived), 'earlier fact')} current again")
    if report.resummarise:
        parts.append(f"{_plural(len(report.resummarise), 'summary', 'summaries')} to be rewritten")
    return "; ".join(parts) + "."


class ForgetDialog(QDialog):
    forgotten = Signal(object)
    """The :class:`ForgetReport` of what was forgotten."""
    previewed = Signal()

    def __init__(
        self, session: AppSession, ids: Sequence[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Forget memories")
        self.setObjectName("forgetDialog")
        self.session = session
        self.ids = list(dict.fromkeys(ids))
        self.deleted: list[Memory] = []
        self.trimmed: list[Memory] = []
        self._busy = True

        self.summary = QLabel("Working out what forgetting takes with it…", self)
        self.summary.setObjectName("forgetSummary")
        self.summary.setWordWrap(True)
        self.deleted_list = QListWidget(self)
        self.deleted_list.setObjectName("forgetDeleted")
        self.trimmed_label = QLabel("Kept, with the forgotten memories removed from their sources:")
        self.trimmed_list = QListWidget(self)
        self.trimmed_list.setObjectName("forgetTrimmed")
        for widget in (self.deleted_list, self.trimmed_list):
            widget.setWordWrap(True)
        self.error = QLabel("", self)
        self.error.setObjectName("forgetError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.forget_button = QPushButton("Forget for good", self)
        self.forget_button.setObjectName("confirmForget")
        self.buttons.addButton(self.forget_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        self.forget_button.clicked.connect(self.forget)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Deleted for good:", self))
        layout.addWidget(self.deleted_list, 3)
        layout.addWidget(self.trimmed_label)
        layout.addWidget(self.trimmed_list, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(640, 480)
        self._update_buttons()
        self._preview()

    def _preview(self) -> None:
        ids = self.ids
        CoreOp(
            self.session,
            lambda core: core.memories.forget_preview(ids),
            parent=self,
            name="forget preview",
        ).success(self._previewed).failure(
            lambda why: self._failed(f"What would be forgotten could not be read: {why}")
        ).run()

    def _previewed(self, plan: ForgetPlan) -> None:
        self.deleted, self.trimmed = list(plan.deleted), list(plan.trimmed)
        asked = set(self.ids)
        for memory in self.deleted:
            if memory.id in asked:
                why = "chosen"
            elif memory.kind is Kind.SUMMARY:
                why = "used what you chose; written again later without it"
            else:
                why = "no other source"
            item = QListWidgetItem(f"[{why}] {describe(memory)}")
            item.setToolTip(memory.text[:2000])
            item.setData(ID_ROLE, memory.id)
            self.deleted_list.addItem(item)
        for memory in self.trimmed:
            item = QListWidgetItem(describe(memory))
            item.setToolTip(memory.text[:2000])
            item.setData(ID_ROLE, memory.id)
            self.trimmed_list.addItem(item)
        self.trimmed_label.setVisible(bool(self.trimmed))
        self.trimmed_list.setVisible(bool(self.trimmed))
        self.summary.setText(self._sentence())
        self._busy = False
        self._update_buttons()
        self.previewed.emit()

    def _sentence(self) -> str:
        if not self.deleted:
            return "These memories no longer exist; there is nothing to forget."
        asked = set(self.ids)
        chosen = sum(m.id in asked for m in self.deleted)
        summaries = sum(m.id not in asked and m.kind is Kind.SUMMARY for m in self.deleted)
        others = len(self.deleted) - chosen - summaries
        them = "it" if chosen == 1 else "them"
        text = f"Forget {_plural(chosen, 'memory', 'memories')}"
        extra = []
        if others:
            extra.append(f"{_plural(others, 'fact')} that only {them} supported")
        if summaries:
            extra.append(
                f"{_plural(summaries, 'summary', 'summaries')} that used {them} (written again "
                f"without {them} at the next consolidation)"
            )
        if extra:
            text += ", with " + " and ".join(extra)
        text += "? They are deleted from the assistant's memory for good, history included."
        if self.trimmed:
            text += f" {_plural(len(self.trimmed), 'fact')} with other sources will be kept."
        return text

    def forget(self) -> None:
        if self._busy or not self.deleted:
            return
        ids = self.ids
        self._busy = True
        self.error.setText("")
        self.summary.setText("Forgetting…")
        self._update_buttons()
        CoreOp(
            self.session,
            lambda core: core.memories.forget(ids),
            parent=self,
            name="forget memories",
        ).success(self._forgot).failure(
            lambda why: self._failed(f"Nothing was forgotten: {why}")
        ).run()

    def _forgot(self, report: ForgetReport) -> None:
        self._busy = False
        self.forgotten.emit(report)
        self.accept()

    def _failed(self, message: str) -> None:
        self._busy = False
        if self.deleted:
            self.summary.setText(self._sentence())
        self.error.setText(message)
        self._update_buttons()

    def reject(self) -> None:
        if self._busy and self.summary.text() == "Forgetting…":
            return  # wait for the answer: the dialog says whether it worked
        super().reject()

    def _update_buttons(self) -> None:
        self.forget_button.setEnabled(not self._busy and bool(self.deleted))
