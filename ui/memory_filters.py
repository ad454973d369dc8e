"""The memory manager's filters: kind, state, dates, conversation, pinned, written by the model.

One widget, two outputs: a :class:`ListQuery` for browsing and a
:class:`SearchFilter` for search, so both see the same memories.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QDate, QDateTime, Qt, QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from mneme.assistant.words import STATE_HELP, STATE_NAMES, one_line
from mneme.memory import Conversation, Kind, ListQuery, SearchFilter, State

ToolTipRole = Qt.ItemDataRole.ToolTipRole


class MemoryFilters(QWidget):
    changed = Signal()
    """Any filter changed (emitted once per change, not while set programmatically)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._quiet = False
        self.kind = QComboBox(self)
        self.kind.setObjectName("kindFilter")
        self.kind.addItem("Everything", None)
        for kind, label in (
            (Kind.EPISODE, "What was said"),
            (Kind.FACT, "Facts"),
            (Kind.SUMMARY, "Summaries and notes"),
        ):
            self.kind.addItem(label, kind)
        self.state = QComboBox(self)
        self.state.setObjectName("stateFilter")
        self.state.addItem("In use or not", None)
        for state in State:
            self.state.addItem(STATE_NAMES[state].capitalize(), state)
            self.state.setItemData(self.state.count() - 1, STATE_HELP[state], ToolTipRole)
        today = QDate.currentDate()
        self.use_since = QCheckBox("From", self)
        self.since = QDateEdit(today.addMonths(-1), self)
        self.use_until = QCheckBox("to", self)
        self.until = QDateEdit(today, self)
        for edit in (self.since, self.until):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
        self.conversation = QComboBox(self)
        self.conversation.setObjectName("conversationFilter")
        self.conversation.setMinimumContentsLength(18)
        self.conversation.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.conversation.addItem("All conversations", None)
        self.pinned = QCheckBox("Pinned only", self)
        self.pinned.setObjectName("pinnedFilter")
        self.by_model = QCheckBox("Written by the model", self)
        self.by_model.setObjectName("byModelFilter")
        self.by_model.setToolTip(
            "Summaries and facts the model wrote in its own words (not yours), that nobody "
            "has changed since: to review them, and forget what is wrong"
        )
        self.clear_button = QPushButton("Clear filters", self)
        self.clear_button.clicked.connect(self.clear)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Show", self))
        for widget in (
            self.kind,
            self.state,
            self.use_since,
            self.since,
            self.use_until,
            self.until,
            self.conversation,
            self.pinned,
            self.by_model,
        ):
            layout.addWidget(widget)
        layout.addStretch(1)
        layout.addWidget(self.clear_button)

        self.use_since.toggled.connect(self.since.setEnabled)
        self.use_until.toggled.connect(self.until.setEnabled)
        for combo in (self.kind, self.state, self.conversation):
            combo.currentIndexChanged.connect(self._changed)
        for box in (self.use_since, self.use_until, self.pinned, self.by_model):
            box.toggled.connect(self._changed)
        for edit in (self.since, self.until):
            edit.dateChanged.connect(self._date_changed)

    # -- reading --------------------------------------------------------------------

    def kinds(self) -> tuple[Kind, ...]:
        kind = self.kind.currentData()
        return (Kind(kind),) if kind else ()

    def states(self) -> tuple[State, ...]:
        state = self.state.currentData()
        return (State(state),) if state else ()

    def conversation_id(self) -> str | None:
        value = self.conversation.currentData()
        return str(value) if value else None

    def date_range(self) -> tuple[float | None, float | None]:
        """Local days, whole: from the start of the first to the end of the last."""
        since = until = None
        if self.use_since.isChecked():
            since = float(QDateTime(self.since.date(), QTime(0, 0)).toSecsSinceEpoch())
        if self.use_until.isChecked():
            end = QDateTime(self.until.date().addDays(1), QTime(0, 0)).toSecsSinceEpoch()
            until = float(end) - 0.001
        return since, until

    def list_query(self) -> ListQuery:
        since, until = self.date_range()
        return ListQuery(
            kinds=self.kinds(),
            states=self.states(),
            conversation_id=self.conversation_id(),
            since=since,
            until=until,
            pinned_only=self.pinned.isChecked(),
            written_by_model=self.by_model.isChecked(),
        )

    def search_filter(self) -> SearchFilter:
        since, until = self.date_range()
        return SearchFilter(
            kinds=self.kinds(),
            states=self.states(),
            conversation_id=self.conversation_id(),
            since=since,
            until=until,
            pinned_only=self.pinned.isChecked(),
            written_by_model=self.by_model.isChecked(),
        )

    # -- setting ----------------------------------------------------------------------

    def set_conversations(self, conversations: Sequence[Conversation]) -> None:
        """Offer these conversations; the chosen one stays chosen if it still exists."""
        current = self.conversation_id()
        self._quiet = True
        try:
            self.conversation.clear()
            self.conversation.addItem("All conversations", None)
            for c in conversations:
                self.conversation.addItem(one_line(c.title or c.id, 60), c.id)
            index = self.conversation.findData(current) if current else 0
            self.conversation.setCurrentIndex(max(0, index))
        finally:
            self._quiet = False
        if current and self.conversation_id() != current:
            self.changed.emit()

    def set_kind(self, kind: Kind | None) -> None:
        self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))

    def set_state(self, state: State | None) -> None:
        self.state.setCurrentIndex(max(0, self.state.findData(state)))

    def set_conversation(self, conversation_id: str | None) -> None:
        self.conversation.setCurrentIndex(max(0, self.conversation.findData(conversation_id)))

    def set_date_range(self, since: QDate | None, until: QDate | None) -> None:
        self._quiet = True
        try:
            if since is not None:
                self.since.setDate(since)
            if until is not None:
                self.until.setDate(until)
            self.use_since.setChecked(since is not None)
            self.use_until.setChecked(until is not None)
        finally:
            self._quiet = False
        self.changed.emit()

    def clear(self) -> None:
        self._quiet = True
        try:
            for combo in (self.kind, self.state, self.conversation):
                combo.setCurrentIndex(0)
            for box in (self.use_since, self.use_until, self.pinned, self.by_model):
                box.setChecked(False)
        finally:
            self._quiet = False
        self.changed.emit()

    def _changed(self, *_: object) -> None:
        if not self._quiet:
            self.changed.emit()

    def _date_changed(self, *_: object) -> None:
        if self.use_since.isChecked() or self.use_until.isChecked():
            self._changed()
