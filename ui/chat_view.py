"""The conversation: messages as they were said, and the reply as it streams.

Tokens are inserted at the end of the reply's block through one text cursor,
so streaming never re-lays out earlier messages (no flicker), and the view
follows the reply only while the reader is already at the bottom.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeyEvent, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QTextBrowser, QWidget

_ROLE_LABEL = {"user": "You", "assistant": "Mneme", "system": "System", "notice": ""}


class ChatView(QTextBrowser):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(False)
        self.setObjectName("chatView")
        self._reply_cursor: QTextCursor | None = None
        self._reply_text: list[str] = []

    def _at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def _append_block(self, role: str) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if not self.document().isEmpty():
            cursor.insertBlock()
            cursor.insertBlock()
        label = _ROLE_LABEL.get(role, role)
        if label:
            bold = QTextCharFormat()
            bold.setFontWeight(QFont.Weight.Bold)
            cursor.insertText(label, bold)
            cursor.insertBlock()
        cursor.setCharFormat(QTextCharFormat())
        return cursor

    def add_message(self, role: str, text: str) -> None:
        follow = self._at_bottom()
        cursor = self._append_block(role)
        if role == "notice":
            italic = QTextCharFormat()
            italic.setFontItalic(True)
            cursor.insertText(text, italic)
        else:
            cursor.insertText(text)
        if follow:
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def begin_reply(self) -> None:
        self._reply_cursor = self._append_block("assistant")
        self._reply_text = []
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def append_token(self, text: str) -> None:
        if self._reply_cursor is None:
            self.begin_reply()
        assert self._reply_cursor is not None
        follow = self._at_bottom()
        self._reply_cursor.insertText(text)
        self._reply_text.append(text)
        if follow:
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def end_reply(self, note: str | None = None) -> None:
        if self._reply_cursor is not None and note:
            italic = QTextCharFormat()
            italic.setFontItalic(True)
            self._reply_cursor.insertText(f"  [{note}]", italic)
        self._reply_cursor = None

    @property
    def streaming_text(self) -> str:
        return "".join(self._reply_text)

    def reset(self) -> None:
        self.clear()
        self._reply_cursor = None
        self._reply_text = []


class MessageInput(QPlainTextEdit):
    """Enter sends, Shift+Enter starts a new line."""

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageInput")
        self.setPlaceholderText("Message Mneme…  (Enter to send, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submit()
            return
        super().keyPressEvent(event)

    def submit(self) -> None:
        text = self.toPlainText()
        if text.strip():
            self.submitted.emit(text)
