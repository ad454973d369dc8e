"""The conversation: one widget per message, and the reply as it streams.

The view follows new text only while the reader is at the bottom; a reader
who scrolled up to read stays where they are (no jumping scroll).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFrame, QLabel, QPlainTextEdit, QScrollArea, QVBoxLayout, QWidget

from mneme.memory import Hit, TurnState

from .message_widget import MessageWidget

EMPTY_HINT = (
    "Say anything to start. Mneme remembers what you tell it, so later conversations can "
    "build on it; Memories… (Ctrl+M) shows everything it keeps, and you can change or "
    "forget any of it."
)


class ChatView(QScrollArea):
    regenerateRequested = Signal()
    editSubmitted = Signal(int, str)
    """(index of the user turn in the conversation, its new text)."""
    memoryActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._content = QWidget()
        self._content.setObjectName("chatContent")
        self._layout = QVBoxLayout(self._content)
        self._layout.setContentsMargins(8, 8, 8, 8)
        self._layout.setSpacing(8)
        self.hint = QLabel(EMPTY_HINT, self._content)
        self.hint.setObjectName("emptyChatHint")
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("color: palette(placeholder-text); padding: 40px;")
        self._layout.addWidget(self.hint)
        self._layout.addStretch(1)
        self.setWidget(self._content)
        self.messages: list[MessageWidget] = []
        self._reply: MessageWidget | None = None
        self._busy = False
        self._follow = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)

    # -- scrolling ------------------------------------------------------------------

    def _scrolled(self, value: int) -> None:
        self._follow = value >= self.verticalScrollBar().maximum() - 4

    def _range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)

    def scroll_to_bottom(self) -> None:
        self._follow = True
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    # -- messages -------------------------------------------------------------------

    def _add(self, message: MessageWidget) -> MessageWidget:
        message.regenerateRequested.connect(self.regenerateRequested)
        message.editSubmitted.connect(lambda text, m=message: self._edit_submitted(m, text))
        message.memoryActivated.connect(self.memoryActivated)
        message.editingStarted.connect(lambda m=message: self._bring_into_view(m))
        self._layout.insertWidget(self._layout.count() - 1, message)
        self.messages.append(message)
        self.hint.hide()
        self._update_actions()
        return message

    def _bring_into_view(self, message: MessageWidget) -> None:
        """An editor opened on a message scrolled out of sight is brought into view (once
        laid out, as it grew)."""
        self._follow = False
        QTimer.singleShot(0, lambda: self.ensureWidgetVisible(message.edit_area, 0, 40))

    def add_message(
        self,
        role: str,
        text: str,
        *,
        when: float | None = None,
        used: Sequence[Hit] = (),
        note: str | None = None,
        memory_id: str | None = None,
        state: TurnState = TurnState.REMEMBERED,
        corrected: bool = False,
    ) -> MessageWidget:
        message = self._add(
            MessageWidget(role, text, when=when, memory_id=memory_id, parent=self._content)
        )
        if used or note:
            message.finish(note, used)
        if state is not TurnState.REMEMBERED or corrected:
            message.set_remembrance(state, corrected=corrected)
        return message

    def begin_reply(self) -> MessageWidget:
        self._reply = self._add(MessageWidget("assistant", streaming=True, parent=self._content))
        self._reply.actions_visible(False)
        self.scroll_to_bottom()
        return self._reply

    def show_reading(self, percent: int) -> None:
        """Before the first word of a reply to a long message: how far the model read it."""
        if self._reply is None:
            self.begin_reply()
        assert self._reply is not None
        self._reply.set_note(f"reading your message… {percent}%")

    def append_token(self, text: str) -> None:
        if self._reply is None:
            self.begin_reply()
        assert self._reply is not None
        if self._reply.note:
            self._reply.set_note(None)  # read: the reply itself is the progress now
        self._reply.append(text)

    def end_reply(
        self,
        note: str | None = None,
        used: Sequence[Hit] = (),
        *,
        memory_id: str | None = None,
        kept: bool = True,
    ) -> None:
        """Finish the streaming reply; one that was not ``kept`` (nothing came, or it
        failed) becomes a notice, so that the turns shown are the turns stored."""
        reply, self._reply = self._reply, None
        if reply is not None and not kept:
            self.messages.remove(reply)
            reply.deleteLater()
            self.add_message("notice", f"No reply: {note}" if note else "No reply.")
        elif reply is not None:
            reply.memory_id = memory_id
            reply.finish(note, used)
            reply.actions_visible(True)
        self._update_actions()

    def shown_memories(self, *, forgotten: bool = False) -> set[str]:
        """The ids of the turns shown (with ``forgotten``: those no longer remembered)."""
        return {
            m.memory_id
            for m in self.messages
            if m.memory_id and (not forgotten or m.turn_state is not TurnState.REMEMBERED)
        }

    def editing(self) -> bool:
        return any(m.editing for m in self.messages)

    def scroll_to_memory(self, memory_id: str) -> None:
        for message in self.messages:
            if message.memory_id == memory_id:
                self._follow = False
                self.ensureWidgetVisible(message)
                return

    @property
    def streaming_text(self) -> str:
        return self._reply.text if self._reply is not None else ""

    def turns(self) -> list[MessageWidget]:
        """The messages that are turns of the conversation (not notices)."""
        return [m for m in self.messages if m.role in ("user", "assistant")]

    def truncate_after(self, turn_index: int) -> None:
        """Remove what follows turn ``turn_index`` (it is being answered again)."""
        turns = self.turns()
        cut = self.messages.index(turns[turn_index]) + 1 if turn_index >= 0 else 0
        for message in self.messages[cut:]:
            message.deleteLater()
        del self.messages[cut:]
        self._update_actions()

    def remove_last_reply(self) -> None:
        turns = self.turns()
        if turns and turns[-1].role == "assistant":
            self.truncate_after(len(turns) - 2)

    def reset(self) -> None:
        for message in self.messages:
            message.deleteLater()
        self.messages = []
        self._reply = None
        self._follow = True
        self.hint.show()

    def set_busy(self, busy: bool) -> None:
        """While a reply is being made, nothing can be edited or regenerated."""
        self._busy = busy
        self._update_actions()

    def _update_actions(self) -> None:
        turns = self.turns()
        for i, message in enumerate(turns):
            message.set_last_reply(i == len(turns) - 1)
            message.set_actions_enabled(not self._busy)

    def _edit_submitted(self, message: MessageWidget, text: str) -> None:
        turns = self.turns()
        if message in turns and not self._busy:
            self.editSubmitted.emit(turns.index(message), text)

    def toPlainText(self) -> str:
        return "\n\n".join(m.plain_text() for m in self.messages)

    def is_empty(self) -> bool:
        return not self.messages


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
