"""Forgetting, said plainly before it is done.

What forgetting takes along is the core's rule (true forgetting: what only
the chosen memories supported goes too, summaries that used them are removed
and written again later without them, facts learnt elsewhere too are kept).
This dialog reads that plan in the background and says, in plain words, what
goes from Mneme's memory and what becomes of each conversation the forgotten
turns were said in; the person chooses the latter (the words kept and marked
as not remembered, a gap, or the turns removed). Nothing happens until they
confirm; an error leaves the dialog open with nothing changed; afterwards the
window offers to take it back for a while.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.memories import ForgetPlan
from mneme.assistant.words import count, describe, one_line, who_said
from mneme.memory import ForgetReport, Kind, Memory, TranscriptChoice

from .core_op import CoreOp
from .look import ERROR_STYLE
from .session import AppSession

ID_ROLE = Qt.ItemDataRole.UserRole + 1

CHOICES = (
    (
        TranscriptChoice.KEEP_WORDS,
        "Keep them in the conversation, marked “not remembered”",
        "The conversation still shows what was said; Mneme no longer uses it.",
    ),
    (
        TranscriptChoice.HIDE_WORDS,
        "Keep only a gap (“[forgotten]”) in the conversation",
        "The words go from the conversation too; the rest of it stays as it was.",
    ),
    (
        TranscriptChoice.REMOVE_TURN,
        "Remove them from the conversation too",
        "The conversation reads as if they had never been said.",
    ),
)


def report_sentence(report: ForgetReport) -> str:
    """What a finished forget did, in a sentence."""
    parts = [f"Forgot {count(len(report.deleted), 'memory', 'memories')}"]
    if report.trimmed:
        parts.append(f"{count(len(report.trimmed), 'fact')} learnt elsewhere too are kept")
    if report.revived:
        parts.append(f"{count(len(report.revived), 'earlier fact')} holds again")
    if report.resummarise:
        parts.append(
            f"{count(len(report.resummarise), 'summary', 'summaries')} will be written again "
            "without it"
        )
    return "; ".join(parts) + "."


class ForgetDialog(QDialog):
    forgotten = Signal(object)
    """The :class:`ForgetReport` of what was forgotten."""
    previewed = Signal()

    def __init__(
        self, session: AppSession, ids: Sequence[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Forget")
        self.setObjectName("forgetDialog")
        self.session = session
        self.ids = list(dict.fromkeys(ids))
        self.plan: ForgetPlan | None = None
        self._busy = True

        self.summary = QLabel("Working out what forgetting takes with it…", self)
        self.summary.setObjectName("forgetSummary")
        self.summary.setWordWrap(True)
        self.deleted_label = QLabel("Mneme will no longer remember:", self)
        self.deleted_list = QListWidget(self)
        self.deleted_list.setObjectName("forgetDeleted")
        self.trimmed_label = QLabel("Kept, because Mneme learnt them elsewhere too:", self)
        self.trimmed_list = QListWidget(self)
        self.trimmed_list.setObjectName("forgetTrimmed")
        for widget in (self.deleted_list, self.trimmed_list):
            widget.setWordWrap(True)
        self.conversations_box = QGroupBox("In your conversations", self)
        self.conversations_label = QLabel(self.conversations_box)
        self.conversations_label.setObjectName("forgetConversations")
        self.conversations_label.setWordWrap(True)
        self.choice_group = QButtonGroup(self)
        box_layout = QVBoxLayout(self.conversations_box)
        box_layout.addWidget(self.conversations_label)
        self.choices: dict[TranscriptChoice, QRadioButton] = {}
        for choice, text, tip in CHOICES:
            button = QRadioButton(text, self.conversations_box)
            button.setObjectName(f"choice:{choice.value}")
            button.setToolTip(tip)
            self.choice_group.addButton(button)
            self.choices[choice] = button
            box_layout.addWidget(button)
        self.choices[TranscriptChoice.KEEP_WORDS].setChecked(True)
        self.conversations_box.hide()
        self.error = QLabel("", self)
        self.error.setObjectName("forgetError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.forget_button = QPushButton("Forget", self)
        self.forget_button.setObjectName("confirmForget")
        self.buttons.addButton(self.forget_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        self.forget_button.clicked.connect(self.forget)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.deleted_label)
        layout.addWidget(self.deleted_list, 3)
        layout.addWidget(self.trimmed_label)
        layout.addWidget(self.trimmed_list, 1)
        layout.addWidget(self.conversations_box)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(660, 540)
        self._update_buttons()
        self._preview()

    @property
    def deleted(self) -> list[Memory]:
        return list(self.plan.deleted) if self.plan is not None else []

    @property
    def trimmed(self) -> list[Memory]:
        return list(self.plan.trimmed) if self.plan is not None else []

    @property
    def choice(self) -> TranscriptChoice:
        return next(c for c, button in self.choices.items() if button.isChecked())

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
        self.plan = plan
        for memory in plan.deleted:
            self.deleted_list.addItem(self._item(memory))
        for memory in plan.trimmed:
            self.trimmed_list.addItem(self._item(memory))
        self.trimmed_label.setVisible(bool(plan.trimmed))
        self.trimmed_list.setVisible(bool(plan.trimmed))
        self._show_conversations(plan)
        self.summary.setText(self._sentence())
        self._busy = False
        self._update_buttons()
        self.previewed.emit()

    @staticmethod
    def _item(memory: Memory) -> QListWidgetItem:
        item = QListWidgetItem(describe(memory))
        item.setToolTip(memory.text[:2000])
        item.setData(ID_ROLE, memory.id)
        return item

    def _show_conversations(self, plan: ForgetPlan) -> None:
        if not plan.conversations:
            self.conversations_box.hide()
            return
        lines = []
        for conversation in plan.conversations:
            said = ", ".join(
                f"{who_said(t.role, t.speaker)}: “{one_line(t.text, 60)}”"
                for t in conversation.turns[:3]
            )
            more = len(conversation.turns) - 3
            lines.append(
                f"“{conversation.title or 'Untitled'}”: {said}"
                + (f" and {count(more, 'more turn')}" if more > 0 else "")
            )
        n = sum(len(c.turns) for c in plan.conversations)
        intro = (
            f"{count(n, 'thing', 'things')} you are forgetting {'was' if n == 1 else 'were'} "
            f"said in {count(len(plan.conversations), 'conversation')}:"
        )
        self.conversations_label.setText("\n".join([intro, *lines, "What happens to them there?"]))
        self.conversations_box.show()

    def _sentence(self) -> str:
        plan = self.plan
        if plan is None or not plan.deleted:
            return "These memories no longer exist; there is nothing to forget."
        chosen = {m.id for m in plan.chosen}
        said = sum(m.kind is Kind.EPISODE for m in plan.deleted)
        facts = sum(m.id not in chosen and m.kind is Kind.FACT for m in plan.deleted)
        summaries = sum(m.id not in chosen and m.kind is Kind.SUMMARY for m in plan.deleted)
        others = len(plan.deleted) - said - facts - summaries
        parts = []
        if said:
            parts.append(f"{count(said, 'thing')} said in conversations")
        if others:
            parts.append(count(others, "memory", "memories"))
        if facts:
            parts.append(f"{count(facts, 'fact')} learnt only from them")
        text = "Mneme will forget " + _and(parts) + ", for good"
        if summaries:
            text += (
                f"; {count(summaries, 'summary', 'summaries')} that used them "
                f"{'is' if summaries == 1 else 'are'} removed and written again without them"
            )
        text += ". Forgotten memories are gone from every search and every answer."
        if plan.trimmed:
            text += f" {count(len(plan.trimmed), 'fact')} learnt elsewhere too will be kept."
        return text

    def forget(self) -> None:
        if self._busy or not self.deleted:
            return
        ids, choice = self.ids, self.choice
        self._busy = True
        self.error.setText("")
        self.summary.setText("Forgetting…")
        self._update_buttons()
        CoreOp(
            self.session,
            lambda core: core.memories.forget(ids, transcript=choice),
            parent=self,
            name="forget memories",
        ).success(self._forgot).failure(
            lambda why: self._failed(f"Nothing was forgotten: {why}")
        ).run()

    def _forgot(self, report: ForgetReport) -> None:
        self._busy = False
        self.session.offer_undo(report_sentence(report))
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


def _and(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
