"""The contradictions inbox: facts that disagree, for the person to settle.

What a contradiction is, how the pairs are listed and what each decision
writes are the core's (:mod:`mneme.assistant.contradictions`); this dialog
shows each pair side by side, with when and where each fact was said, and
sends the person's answer. Nothing is deleted: a fact that no longer holds is
superseded, dated, and stays in its history.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.contradictions import Contradiction, Decision, Side
from mneme.memory import Memory, State

from .core_op import CoreOp, Failure
from .session import AppSession, PartState

_ID_ROLE = Qt.ItemDataRole.UserRole + 1
_QUOTE_CHARS = 160


def _day(memory: Memory) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(memory.valid_from or memory.said_at))


def _who(turn: Memory) -> str:
    return turn.speaker or {"user": "You", "assistant": "Mneme"}.get(turn.role or "", "Someone")


def _short(text: str, limit: int = _QUOTE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _SideBox(QGroupBox):
    """One fact: its text, when and where it was said, and an Edit… button."""

    editRequested = Signal(str)

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.memory_id = ""
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setStyleSheet("QLabel { font-size: 14px; }")
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.edit_button = QPushButton("Edit…", self)
        self.edit_button.setToolTip("Change the wording of this fact")
        self.edit_button.clicked.connect(self._edit)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.edit_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.details)
        layout.addStretch(1)
        layout.addLayout(row)

    def show_side(self, side: Side | None) -> None:
        if side is None:
            self.memory_id = ""
            self.text.setText("(no longer in memory)")
            self.details.setText("It was forgotten after the two were found to disagree.")
            self.edit_button.setEnabled(False)
            return
        m = side.memory
        self.memory_id = m.id
        self.text.setText(m.text)
        where = ", ".join(f"“{t}”" for t in side.conversations) or "no conversation"
        lines = [f"Known since {_day(m)}, from {where}."]
        if m.state is not State.ACTIVE:
            lines.append(f"Now {m.state.value}.")
        lines += [f"{_who(s)} said: “{_short(s.text)}”" for s in side.said]
        self.details.setText("\n".join(lines))
        self.edit_button.setEnabled(True)

    def _edit(self) -> None:
        if self.memory_id:
            self.editRequested.emit(self.memory_id)


class ContradictionsInbox(QDialog):
    """Facts that disagree, one pair at a time, and the three ways to settle them.

    Keep one instance for the session: it follows ``memoriesChanged`` while
    hidden, so ``count`` and ``countChanged`` can drive a "3 to review" label.
    """

    countChanged = Signal(int)
    """How many pairs are waiting for a decision."""
    editRequested = Signal(str)
    """The id of a fact the person wants to reword (the inbox does not edit)."""
    decided = Signal(str, str)
    """(id of the newer fact, :class:`Decision`) once the decision is saved."""
    failed = Signal(str)
    """A sentence saying what could not be done."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Facts to review")
        self.session = session
        self._pairs: list[Contradiction] = []
        self._listing = False
        self._stale = False
        self._list_error = False
        self._deciding: tuple[Contradiction, Decision] | None = None
        self._build()
        # Only consolidation flags contradictions: the hidden inbox looks again after a
        # run, not after every write (a scan reads every fact).
        session.memoriesChanged.connect(self._memories_changed)
        session.consolidationFinished.connect(self.refresh)
        session.memoryState.connect(self._memory_state)
        self.refresh()

    def _build(self) -> None:
        intro = QLabel(
            "These facts from your conversations disagree. Both are kept until you decide; "
            "a fact you set aside is not deleted, it stays in its history.",
            self,
        )
        intro.setWordWrap(True)
        self.list = QListWidget(self)
        self.list.setObjectName("contradictionList")
        self.list.setWordWrap(True)
        self.list.currentItemChanged.connect(self._current_changed)
        self.old_box = _SideBox("Earlier", self)
        self.new_box = _SideBox("Newer", self)
        for box in (self.old_box, self.new_box):
            box.editRequested.connect(self.editRequested)
        self.keep_new_button = QPushButton("Keep the new one", self)
        self.keep_new_button.setToolTip("The earlier fact is no longer true")
        self.keep_new_button.clicked.connect(lambda: self.decide(Decision.KEEP_NEW))
        self.keep_old_button = QPushButton("Keep the old one", self)
        self.keep_old_button.setToolTip("The newer fact is wrong; it is set aside")
        self.keep_old_button.clicked.connect(lambda: self.decide(Decision.KEEP_OLD))
        self.both_button = QPushButton("Both are true", self)
        self.both_button.setToolTip("They do not really disagree; keep both")
        self.both_button.clicked.connect(lambda: self.decide(Decision.BOTH))

        pair = QHBoxLayout()
        pair.addWidget(self.old_box)
        pair.addWidget(self.new_box)
        decisions = QHBoxLayout()
        decisions.addStretch(1)
        for button in (self.keep_new_button, self.keep_old_button, self.both_button):
            decisions.addWidget(button)
        detail = QWidget(self)
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addLayout(pair, 1)
        detail_layout.addLayout(decisions)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.list)
        splitter.addWidget(detail)
        splitter.setSizes([140, 260])

        self.empty = QLabel("Nothing to review: no facts disagree.", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.empty)
        self.pages.addWidget(splitter)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.status.setObjectName("contradictionStatus")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.resize(760, 480)
        self._update_buttons()

    # -- what is listed -------------------------------------------------------------

    @property
    def count(self) -> int:
        return len(self._pairs)

    @property
    def loading(self) -> bool:
        """Whether a listing is under way (the list may be about to change)."""
        return self._listing

    @property
    def pairs(self) -> tuple[Contradiction, ...]:
        return tuple(self._pairs)

    def current(self) -> Contradiction | None:
        item = self.list.currentItem()
        if item is None:
            return None
        key = item.data(_ID_ROLE)
        return next((p for p in self._pairs if p.key == key), None)

    def select(self, new_fact_id: str) -> bool:
        for row in range(self.list.count()):
            if self.list.item(row).data(_ID_ROLE) == new_fact_id:
                self.list.setCurrentRow(row)
                return True
        return False

    def _memories_changed(self, *_: object) -> None:
        if self.isVisible():
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self, *_: object) -> None:
        """List the open pairs again, in a worker; a refresh asked for while one runs
        runs once more after it."""
        if not self.session.memory_ready:
            self._show([])
            return
        if self._listing:
            self._stale = True
            return
        self._listing = True
        CoreOp(
            self.session,
            lambda core: core.contradictions.unsettled(),
            parent=self,
            name="list contradictions",
        ).success(self._listed).failure(self._list_failed).run()

    def _listed(self, pairs: list[Contradiction]) -> None:
        self._listing = False
        if self._list_error:  # the store was reopened, say: it is fine again
            self._list_error = False
            self.status.setText("")
        self._show(pairs)
        if self._stale:
            self._stale = False
            self.refresh()

    def _list_failed(self, why: Failure) -> None:
        self._listing = False
        self._list_error = True
        self._fail(f"The facts to review could not be listed: {why}")
        if self._stale:
            self._stale = False
            self.refresh()

    def _memory_state(self, state: str, detail: str) -> None:
        if state != PartState.READY:
            self._show([])

    def _show(self, pairs: list[Contradiction]) -> None:
        before, selected = len(self._pairs), self.current()
        self._pairs = pairs
        self.list.blockSignals(True)
        self.list.clear()
        for pair in pairs:
            old = pair.old.memory.text if pair.old is not None else "(forgotten)"
            item = QListWidgetItem(f"{_short(pair.new.memory.text, 90)}  ⟷  {_short(old, 90)}")
            item.setData(_ID_ROLE, pair.key)
            item.setToolTip(f"Newer: {pair.new.memory.text}\nEarlier: {old}")
            self.list.addItem(item)
        self.list.blockSignals(False)
        if not (selected is not None and self.select(selected.key)) and pairs:
            self.list.setCurrentRow(0)
        self.pages.setCurrentIndex(1 if pairs else 0)
        self._current_changed()
        if len(pairs) != before:
            self.countChanged.emit(len(pairs))

    def _current_changed(self, *_: object) -> None:
        pair = self.current()
        if pair is not None:
            self.new_box.show_side(pair.new)
            self.old_box.show_side(pair.old)
        self._update_buttons()

    def _update_buttons(self) -> None:
        pair = self.current()
        ready = pair is not None and self._deciding is None
        self.keep_new_button.setEnabled(ready)
        self.both_button.setEnabled(ready)
        self.keep_old_button.setEnabled(ready and pair is not None and pair.old is not None)

    # -- deciding -------------------------------------------------------------------

    def decide(self, decision: Decision) -> None:
        """Settle the selected pair in a worker; the list follows the store's change."""
        pair = self.current()
        if pair is None or self._deciding is not None:
            return
        if decision is Decision.KEEP_OLD and pair.old is None:
            return
        self._deciding = (pair, decision)
        self._update_buttons()
        self.status.setText("Saving your decision…")
        CoreOp(
            self.session,
            lambda core: core.contradictions.settle(pair.key, decision),
            parent=self,
            name="settle contradiction",
        ).success(self._settled).failure(self._settle_failed).run()

    def _settled(self, _changed: list[Memory]) -> None:
        if self._deciding is None:
            return
        pair, decision = self._deciding
        self._deciding = None
        if decision is Decision.KEEP_NEW:
            text = f"Kept “{_short(pair.new.memory.text, 80)}”."
            if pair.old is not None:
                text += " The earlier fact is marked as no longer true; it stays in its history."
        elif decision is Decision.KEEP_OLD:
            text = (
                f"Kept “{_short(pair.old.memory.text, 80) if pair.old else ''}”. The newer "
                "fact is set aside as superseded; it stays in its history."
            )
        else:
            text = "Both facts are kept as true."
        self.status.setText(text)
        self.decided.emit(pair.key, decision.value)
        self.refresh()

    def _settle_failed(self, why: Failure) -> None:
        self._deciding = None
        self._fail(f"Your decision could not be saved, so nothing changed: {why}")
        self.refresh()

    def _fail(self, text: str) -> None:
        self.status.setText(text)
        self._update_buttons()
        self.failed.emit(text)
