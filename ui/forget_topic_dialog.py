"""Forget everything about a topic: search by meaning, review, then forget.

The person types a topic; the matches come back as a checklist, all checked,
to be reviewed; the checked ones then go through :class:`ForgetDialog`, which
shows what else forgetting them takes along and asks once more. Which
memories are "about" a topic is the core's rule
(:meth:`~mneme.assistant.memories.MemoryActions.find_about`), the same as the
CLI's ``memory forget-about``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.memories import TopicMatch
from mneme.assistant.words import count, describe

from .core_op import CoreOp
from .forget_dialog import ForgetDialog
from .look import ERROR_STYLE
from .session import AppSession

ID_ROLE = Qt.ItemDataRole.UserRole + 1


class ForgetTopicDialog(QDialog):
    forgotten = Signal(object)
    """The :class:`ForgetReport` once the checked memories were forgotten."""
    searched = Signal(int)
    """How many matches were listed."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Forget everything about…")
        self.setObjectName("forgetTopicDialog")
        self.session = session
        self.confirm: ForgetDialog | None = None
        self.topic = QLineEdit(self)
        self.topic.setObjectName("forgetTopic")
        self.topic.setPlaceholderText("A topic, a person, a place…")
        self.topic.returnPressed.connect(self.search)
        self.find_button = QPushButton("Find", self)
        self.find_button.clicked.connect(self.search)
        self.matches = QListWidget(self)
        self.matches.setObjectName("forgetMatches")
        self.matches.setWordWrap(True)
        self.matches.itemChanged.connect(self._update)
        self.check_all = QPushButton("Check all", self)
        self.check_all.clicked.connect(lambda: self._check_all(True))
        self.uncheck_all = QPushButton("Uncheck all", self)
        self.uncheck_all.clicked.connect(lambda: self._check_all(False))
        self.status = QLabel("Type a topic and press Find.", self)
        self.status.setObjectName("forgetTopicStatus")
        self.status.setWordWrap(True)
        self.error = QLabel("", self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.review_button = QPushButton("Forget checked…", self)
        self.review_button.setObjectName("forgetChecked")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.buttons.addButton(self.review_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)
        self.review_button.clicked.connect(self.review)

        search_row = QHBoxLayout()
        search_row.addWidget(QLabel("Forget everything about", self))
        search_row.addWidget(self.topic, 1)
        search_row.addWidget(self.find_button)
        check_row = QHBoxLayout()
        check_row.addWidget(self.check_all)
        check_row.addWidget(self.uncheck_all)
        check_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(search_row)
        layout.addWidget(self.status)
        layout.addWidget(self.matches, 1)
        layout.addLayout(check_row)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(680, 520)
        self._update()

    def checked_ids(self) -> list[str]:
        return [
            str(item.data(ID_ROLE))
            for item in (self.matches.item(i) for i in range(self.matches.count()))
            if item.checkState() == Qt.CheckState.Checked
        ]

    def search(self) -> None:
        topic = self.topic.text().strip()
        if not topic:
            return
        self.error.setText("")
        self.status.setText(f"Looking for everything about “{topic}”…")
        CoreOp(
            self.session,
            lambda core: core.memories.find_about(topic),
            parent=self,
            name="find a topic",
            key="topic",
        ).success(self._found).failure(
            lambda why: self.error.setText(f"The search failed: {why}")
        ).run()

    def _found(self, found: list[TopicMatch]) -> None:
        self.matches.blockSignals(True)
        self.matches.clear()
        for match in found:
            kept = f" — not checked: {match.left_out}" if match.left_out else ""
            item = QListWidgetItem(f"{describe(match.memory)}  ({match.reason}{kept})")
            item.setToolTip(match.memory.text[:2000])
            item.setData(ID_ROLE, match.memory.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            checked = match.left_out is None
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            self.matches.addItem(item)
        self.matches.blockSignals(False)
        topic = self.topic.text().strip()
        left_out = sum(m.left_out is not None for m in found)
        if found:
            text = (
                f"{count(len(found), 'memory is', 'memories are')} about “{topic}”. "
                "Uncheck any you want Mneme to keep, then press “Forget checked…”."
            )
            if left_out:
                text += (
                    f" {count(left_out, 'memory is', 'memories are')} not checked because you "
                    "pinned them; check them to forget them too."
                )
            self.status.setText(text)
        else:
            self.status.setText(f"No memory is about “{topic}”.")
        self._update()
        self.searched.emit(len(found))

    def _check_all(self, checked: bool) -> None:
        state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        for i in range(self.matches.count()):
            self.matches.item(i).setCheckState(state)

    def review(self) -> None:
        """Show what forgetting the checked memories takes along, and ask."""
        ids = self.checked_ids()
        if not ids:
            return
        self.confirm = ForgetDialog(self.session, ids, self)
        self.confirm.forgotten.connect(self._forgot)
        self.confirm.open()

    def _forgot(self, report: object) -> None:
        self.forgotten.emit(report)
        self.accept()

    def _update(self, *_: object) -> None:
        n = len(self.checked_ids())
        self.review_button.setEnabled(n > 0)
        self.review_button.setText(f"Forget {n} checked…" if n else "Forget checked…")
        has = self.matches.count() > 0
        self.check_all.setEnabled(has)
        self.uncheck_all.setEnabled(has)
