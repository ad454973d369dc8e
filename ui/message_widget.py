"""One message of the chat: its text, its actions, and the memories a reply used.

A reply streams in as plain text appended at the end of its document (no
re-layout of what is already shown, so no flicker) and is rendered as
Markdown once it is complete.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence

from PySide6.QtCore import QSizeF, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.words import count, day, kind_name, one_line, who_said, why_chosen
from mneme.memory import Hit, TurnState

from .markdown import COPY_SCHEME, set_markdown

ROLE_LABEL = {"user": "You", "assistant": "Mneme", "system": "System", "notice": ""}
MEMORY_SCHEME = "mneme-memory"


class MessageBody(QTextBrowser):
    """As tall as its text: the chat scrolls as a whole, never each message."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBody")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setOpenLinks(False)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser { background: transparent; }")
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self._fit(self.document().size())

    def _fit(self, size: QSizeF) -> None:
        margins = self.contentsMargins()
        self.setFixedHeight(math.ceil(size.height()) + margins.top() + margins.bottom())


class MessageWidget(QFrame):
    regenerateRequested = Signal()
    editSubmitted = Signal(str)
    """The new text of this (user) message, to be sent again."""
    memoryActivated = Signal(str)

    def __init__(
        self,
        role: str,
        text: str = "",
        *,
        when: float | None = None,
        streaming: bool = False,
        memory_id: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.role = role
        self.memory_id = memory_id
        """The stored turn this message shows (None: not stored, or not yet)."""
        self.setObjectName(f"message-{role}")
        self._text = text
        self._code_blocks: tuple[str, ...] = ()
        self._used: tuple[Hit, ...] = ()
        self.note = ""
        self._build(when)
        if streaming:
            self.body.setPlainText(text)
        else:
            self._render()

    # -- layout -------------------------------------------------------------------

    def _build(self, when: float | None) -> None:
        label = ROLE_LABEL.get(self.role, self.role)
        stamp = time.strftime(" · %d %b %H:%M", time.localtime(when)) if when else ""
        # Every child is made with its parent: showing a parentless one opens a window.
        self.header = QLabel(f"<b>{html.escape(label)}</b>{html.escape(stamp)}", self)
        self.header.setVisible(bool(label))
        self.body = MessageBody(self)
        self.body.anchorClicked.connect(self._link)
        if self.role == "notice":
            self.body.setStyleSheet("QTextBrowser { background: transparent; font-style: italic; }")
        self.note_label = QLabel(self)
        self.note_label.setObjectName("messageNote")
        self.note_label.setStyleSheet("font-style: italic; color: palette(placeholder-text);")
        self.note_label.hide()
        self.remembrance = QLabel(self)
        self.remembrance.setObjectName("remembrance")
        self.remembrance.setWordWrap(True)
        self.remembrance.setStyleSheet("font-size: 90%; color: palette(placeholder-text);")
        self.remembrance.linkActivated.connect(self._memory_link)
        self.remembrance.hide()
        self.turn_state = TurnState.REMEMBERED

        self.copy_button = self._tool("Copy", "Copy this message as text")
        self.copy_button.clicked.connect(self.copy)
        self.edit_button = self._tool("Edit", "Change this message and send it again")
        self.edit_button.clicked.connect(self.start_editing)
        self.regenerate_button = self._tool("Regenerate", "Write this reply again")
        self.regenerate_button.clicked.connect(self.regenerateRequested)
        self.used_button = self._tool("", "Memories the assistant was given for this reply")
        self.used_button.setObjectName("usedMemories")
        self.used_button.setCheckable(True)
        self.used_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.used_button.setArrowType(Qt.ArrowType.RightArrow)
        self.used_button.toggled.connect(self._toggle_used)
        self.used_button.hide()
        self.edit_button.setVisible(self.role == "user")
        self.regenerate_button.hide()

        actions = QHBoxLayout()
        actions.setContentsMargins(0, 0, 0, 0)
        actions.addWidget(self.used_button)
        actions.addStretch(1)
        for button in (self.copy_button, self.edit_button, self.regenerate_button):
            actions.addWidget(button)
        self.used_list = QLabel(self)
        self.used_list.setObjectName("usedMemoryList")
        self.used_list.setWordWrap(True)
        self.used_list.setTextFormat(Qt.TextFormat.RichText)
        self.used_list.linkActivated.connect(self._memory_link)
        self.used_list.hide()

        self.edit_area = QWidget(self)
        self.editor = QPlainTextEdit(self.edit_area)
        self.editor.setObjectName("messageEditor")
        self.editor.setMaximumHeight(140)
        self.resend_button = QPushButton("Send again", self.edit_area)
        self.resend_button.setObjectName("resend")
        self.cancel_edit_button = QPushButton("Cancel", self.edit_area)
        self.resend_button.clicked.connect(self._submit_edit)
        self.cancel_edit_button.clicked.connect(self.stop_editing)
        edit_row = QHBoxLayout()
        edit_row.addStretch(1)
        edit_row.addWidget(self.cancel_edit_button)
        edit_row.addWidget(self.resend_button)
        edit_layout = QVBoxLayout(self.edit_area)
        edit_layout.setContentsMargins(0, 0, 0, 0)
        edit_layout.addWidget(self.editor)
        edit_layout.addLayout(edit_row)
        self.edit_area.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(self.body)
        layout.addWidget(self.edit_area)
        layout.addWidget(self.note_label)
        layout.addWidget(self.remembrance)
        layout.addLayout(actions)
        layout.addWidget(self.used_list)
        self.actions_visible(self.role != "notice")
        if self.role == "user":
            self.setStyleSheet(
                "#message-user { background: palette(alternate-base); border-radius: 8px; }"
            )

    def _tool(self, text: str, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setObjectName(text.lower() or "tool")
        return button

    def actions_visible(self, visible: bool) -> None:
        remembered = self.turn_state is TurnState.REMEMBERED
        self.copy_button.setVisible(visible and self.turn_state is not TurnState.WITHHELD)
        self.edit_button.setVisible(visible and self.role == "user" and remembered)

    def set_remembrance(self, state: TurnState, *, corrected: bool = False) -> None:
        """How this turn stands in memory: remembered, remembered with a correction (its
        memory was edited; the words here are as said), no longer remembered (the words
        kept, greyed), or forgotten with its words (a gap)."""
        self.turn_state = state
        link = f"<a href='{MEMORY_SCHEME}:{html.escape(self.memory_id or '')}'>"
        if state is TurnState.NOT_REMEMBERED:
            text = "Not remembered: you had Mneme forget this; it no longer uses it."
        elif state is TurnState.WITHHELD:
            text = "Forgotten: you had Mneme forget this and its words."
        elif corrected and self.memory_id:
            text = f"Remembered with your correction ({link}see the memory</a>)."
        else:
            text = ""
        self.remembrance.setText(text)
        self.remembrance.setVisible(bool(text))
        faded = state is not TurnState.REMEMBERED
        self.body.setStyleSheet(
            "QTextBrowser { background: transparent; color: palette(placeholder-text);"
            " font-style: italic; }"
            if faded
            else "QTextBrowser { background: transparent; }"
        )
        self.actions_visible(self.role != "notice")

    # -- text -----------------------------------------------------------------------

    @property
    def text(self) -> str:
        return self._text

    def _render(self) -> None:
        self._code_blocks = set_markdown(self.body.document(), self._text)

    def append(self, piece: str) -> None:
        """Add streamed text at the end, as plain text (rendered when finished)."""
        self._text += piece
        cursor = QTextCursor(self.body.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(piece)

    def finish(self, note: str | None = None, used: Sequence[Hit] = ()) -> None:
        self._render()
        self.set_note(note)
        self.set_used(used)

    def set_text(self, text: str) -> None:
        self._text = text
        self._render()

    def set_note(self, note: str | None) -> None:
        self.note = f"[{note}]" if note else ""
        self.note_label.setText(self.note)
        self.note_label.setVisible(bool(note))

    def plain_text(self) -> str:
        """What a reader sees, for copying and for tests."""
        parts = [
            ROLE_LABEL.get(self.role, self.role),
            self.body.toPlainText(),
            self.note,
            self.remembrance.text() if not self.remembrance.isHidden() else "",
        ]
        if self._used:
            parts.append(self.used_button.text())
        return "\n".join(p for p in parts if p)

    COPIED_MS = 1500

    def copy(self) -> None:
        """Copy the message; the button says so for a moment."""
        QGuiApplication.clipboard().setText(self._text)
        self.copy_button.setText("Copied ✓")
        # the button as context: the timer dies with it if the message goes first
        QTimer.singleShot(
            self.COPIED_MS, self.copy_button, lambda: self.copy_button.setText("Copy")
        )

    def _link(self, url: QUrl) -> None:
        if url.scheme() == COPY_SCHEME:
            path = url.path()
            index = int(path) if path.isdigit() else -1  # a reply may write such links too
            if 0 <= index < len(self._code_blocks):
                QGuiApplication.clipboard().setText(self._code_blocks[index])
        elif url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)  # the person clicked it; their browser decides

    # -- memories used ------------------------------------------------------------

    def set_used(self, used: Sequence[Hit]) -> None:
        self._used = tuple(used)
        n = len(self._used)
        self.used_button.setText(f"used {count(n, 'memory', 'memories')}")
        self.used_button.setVisible(n > 0)
        rows = []
        for hit in self._used:
            m = hit.memory
            what = f"{who_said(m.role, m.speaker)} said" if m.role else kind_name(m)
            why = why_chosen(hit.explanation, pinned=m.pinned)
            rows.append(
                f"<li><a href='{MEMORY_SCHEME}:{html.escape(m.id)}'>"
                f"{html.escape(one_line(m.text, 240))}</a>"
                f" <span style='color:gray'>({html.escape(what)}, {day(m.said_at)};"
                f" {html.escape(why)})</span></li>"
            )
        self.used_list.setText(f"<ul style='margin:0'>{''.join(rows)}</ul>")
        self.used_list.setToolTip(  # the numbers, for whoever wants them
            "\n".join(f"{h.score:.2f}: {h.explanation.describe()}" for h in self._used)
        )
        if not n:
            self.used_button.setChecked(False)

    @property
    def used(self) -> tuple[Hit, ...]:
        return self._used

    def _toggle_used(self, shown: bool) -> None:
        self.used_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.used_list.setVisible(shown)

    def _memory_link(self, link: str) -> None:
        scheme, _, memory_id = link.partition(":")
        if scheme == MEMORY_SCHEME and memory_id:
            self.memoryActivated.emit(memory_id)

    # -- editing --------------------------------------------------------------------

    def set_last_reply(self, last: bool) -> None:
        self.regenerate_button.setVisible(last and self.role == "assistant")

    def set_actions_enabled(self, enabled: bool) -> None:
        self.edit_button.setEnabled(enabled)
        self.regenerate_button.setEnabled(enabled)
        self.resend_button.setEnabled(enabled)

    editingStarted = Signal()
    """The editor opened (the chat brings it into view)."""

    def start_editing(self) -> None:
        self.editor.setPlainText(self._text)
        self.body.hide()
        self.edit_area.show()
        self.editor.setFocus()
        self.editingStarted.emit()

    def stop_editing(self) -> None:
        self.edit_area.hide()
        self.body.show()

    @property
    def editing(self) -> bool:
        return not self.edit_area.isHidden()

    def _submit_edit(self) -> None:
        text = self.editor.toPlainText()
        if text.strip():
            self.editSubmitted.emit(text)
