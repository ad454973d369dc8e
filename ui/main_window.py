"""The main window: conversations, the chat, and what the assistant remembers."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from assistant.chat import Finished, Reply, Token, new_conversation_id
from memory import Change
from memory.consolidation import RunReport

from .chat_view import ChatView, MessageInput
from .memory_panel import MemoryPanel
from .runs_dialog import RunsDialog
from .session import AppSession, PartState

CONVERSATION_ROLE = Qt.ItemDataRole.UserRole + 1


class MainWindow(QMainWindow):
    def __init__(self, session: AppSession) -> None:
        super().__init__()
        self.session = session
        self.conversation_id = new_conversation_id()
        self.runs_dialog: RunsDialog | None = None
        self._reply_started = 0.0
        self._reply_pieces = 0
        self.setWindowTitle("Mneme")
        self.resize(1100, 720)
        self._build()
        self._connect()

    # -- layout -------------------------------------------------------------------

    def _build(self) -> None:
        self.new_button = QPushButton("New chat")
        self.new_button.setObjectName("newChat")
        self.conversations = QListWidget()
        self.conversations.setObjectName("conversationList")
        self.conversations.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversations.setTextElideMode(Qt.TextElideMode.ElideRight)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 0, 6)
        left_layout.addWidget(self.new_button)
        left_layout.addWidget(self.conversations)

        self.banner = QLabel()
        self.banner.setObjectName("errorBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setStyleSheet(
            "QLabel { background: #fdecea; color: #611a15; padding: 8px; border-radius: 4px; }"
        )
        self.banner.hide()
        self.chat_view = ChatView()
        self.input = MessageInput()
        self.input.setMaximumHeight(120)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("send")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stop")
        self.stop_button.setToolTip("Stop the reply (Esc)")
        self.stop_button.setEnabled(False)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        input_row = QHBoxLayout()
        input_row.addWidget(self.input, 1)
        input_row.addLayout(buttons)
        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(6, 6, 6, 6)
        center_layout.addWidget(self.banner)
        center_layout.addWidget(self.chat_view, 1)
        center_layout.addLayout(input_row)

        self.memory_panel = MemoryPanel()
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 6, 6, 6)
        right_layout.addWidget(self.memory_panel)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(center)
        splitter.addWidget(right)
        splitter.setSizes([220, 580, 300])
        splitter.setStretchFactor(1, 1)
        self.setCentralWidget(splitter)

        self.model_status = QLabel("Model: loading…")
        self.model_status.setObjectName("modelStatus")
        self.memory_status = QLabel("Memory: opening…")
        self.memory_status.setObjectName("memoryStatus")
        self.consolidation_status = QLabel("")
        self.consolidation_status.setObjectName("consolidationStatus")
        self.statusBar().addWidget(self.model_status, 1)
        self.statusBar().addPermanentWidget(self.consolidation_status)
        self.statusBar().addPermanentWidget(self.memory_status)

        stop = QAction("Stop", self)
        stop.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        stop.triggered.connect(self.session.stop)
        new = QAction("New chat", self)
        new.setShortcut(QKeySequence.StandardKey.New)
        new.triggered.connect(self.new_conversation)
        self.addActions([stop, new])
        self._update_buttons()

    def _connect(self) -> None:
        s = self.session
        s.modelState.connect(self._model_state)
        s.memoryState.connect(self._memory_state)
        s.memoriesChanged.connect(self._memories_changed)
        s.replyEvent.connect(self._reply_event)
        s.replyFailed.connect(self._reply_failed)
        s.consolidationProgress.connect(self._consolidation_progress)
        self.memory_panel.runsRequested.connect(self.show_runs)
        s.consolidationFinished.connect(self._consolidation_finished)
        self.input.submitted.connect(self.send)
        self.input.textChanged.connect(self._update_buttons)
        self.send_button.clicked.connect(self.input.submit)
        self.stop_button.clicked.connect(self.session.stop)
        self.new_button.clicked.connect(self.new_conversation)
        self.conversations.itemActivated.connect(self._open_item)
        self.conversations.itemClicked.connect(self._open_item)
        self.memory_panel.deleteRequested.connect(self.session.delete_memories)

    # -- state --------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()

    def _update_buttons(self) -> None:
        ready = self.session.model_state is PartState.READY
        has_text = bool(self.input.toPlainText().strip())
        self.send_button.setEnabled(ready and has_text)
        self.stop_button.setEnabled(self.session.generating)

    def _model_state(self, state: str, detail: str) -> None:
        if state == PartState.LOADING:
            self.model_status.setText("Model: loading…")
        elif state == PartState.READY:
            self.model_status.setText(f"Model: {detail} — ready")
        elif state == PartState.GENERATING:
            self.model_status.setText("Model: generating…")
        else:
            self.model_status.setText("Model: unavailable")
            self.show_error(
                f"{detail}\n\nYour memories are still here. Choose another GGUF file "
                "in the settings file, or reinstall the bundled model."
            )
        self._update_buttons()

    def _memory_state(self, state: str, detail: str) -> None:
        if state == PartState.READY:
            self.memory_status.setText(f"Memory: {detail}")
            self._reload_conversations(open_latest=True)
        elif state == PartState.FAILED:
            self.memory_status.setText("Memory: unavailable")
            self.show_error(detail)
        else:
            self.memory_status.setText(f"Memory: {detail}")

    def show_runs(self) -> RunsDialog | None:
        """One dialog, raised again if it is already open."""
        if self.session.store is None:
            return None
        if self.runs_dialog is None:
            self.runs_dialog = RunsDialog(self.session, self)
            self.runs_dialog.finished.connect(self._runs_dialog_closed)
        self.runs_dialog.show()
        self.runs_dialog.raise_()
        return self.runs_dialog

    def _runs_dialog_closed(self) -> None:
        if self.runs_dialog is not None:
            self.runs_dialog.deleteLater()
            self.runs_dialog = None

    def _consolidation_progress(self, done: int, total: int, what: str) -> None:
        self.consolidation_status.setText(f"Consolidating memory {done}/{total}: {what}")

    def _consolidation_finished(self, report: RunReport | None) -> None:
        if report is None:
            self.consolidation_status.setText("")
            return
        if report.status == "interrupted":
            text = "Consolidation paused (the model was needed); it resumes when idle"
        elif report.jobs_done or report.archived:
            text = (
                f"Memory consolidated: {len(report.added)} new facts, "
                f"{len(report.summarised)} summaries"
                + (f", {len(report.contradictions)} to review" if report.contradictions else "")
            )
        else:
            text = ""
        self.consolidation_status.setText(text)

    def _memories_changed(self, change: Change) -> None:
        store = self.session.store
        self.memory_panel.reload(store)
        if store is not None:
            self.memory_status.setText(f"Memory: {store.count():,} memories")
            if change.deleted and not self.session.generating:
                self._show_conversation(self.conversation_id)

    # -- conversations ------------------------------------------------------------

    def _reload_conversations(self, *, open_latest: bool = False) -> None:
        store = self.session.store
        self.conversations.clear()
        if store is None:
            return
        listed = store.conversations()
        for conv in listed:
            item = QListWidgetItem(conv.title or "Untitled")
            item.setData(CONVERSATION_ROLE, conv.id)
            item.setToolTip(time.strftime("%Y-%m-%d %H:%M", time.localtime(conv.updated_at)))
            self.conversations.addItem(item)
            if conv.id == self.conversation_id:
                item.setSelected(True)
        if open_latest and listed and self.chat_view.document().isEmpty():
            self.open_conversation(listed[0].id)

    def _open_item(self, item: QListWidgetItem) -> None:
        self.open_conversation(str(item.data(CONVERSATION_ROLE)))

    def open_conversation(self, conversation_id: str) -> None:
        if self.session.generating:
            return
        if conversation_id != self.conversation_id:
            self.session.conversation_left(self.conversation_id)
        self.conversation_id = conversation_id
        self._show_conversation(conversation_id)

    def _show_conversation(self, conversation_id: str) -> None:
        store = self.session.store
        self.chat_view.reset()
        if store is None:
            return
        for turn in store.conversation(conversation_id):
            self.chat_view.add_message(turn.role or "user", turn.text)

    def new_conversation(self) -> None:
        if self.session.generating:
            return
        self.session.conversation_left(self.conversation_id)
        self.conversation_id = new_conversation_id()
        self.chat_view.reset()
        self.conversations.clearSelection()
        self.input.setFocus()

    # -- replying -----------------------------------------------------------------

    def send(self, text: str) -> None:
        if not text.strip() or self.session.generating:
            return
        if self.session.model_state is not PartState.READY:
            self.show_error("The model is not ready yet; your message is still in the box.")
            return
        self.banner.hide()
        self.input.clear()
        self.chat_view.add_message("user", text)
        self.chat_view.begin_reply()
        self._reply_started = time.perf_counter()
        self._reply_pieces = 0
        self.session.send(self.conversation_id, text)
        self._update_buttons()

    def _reply_event(self, event: object) -> None:
        if isinstance(event, Token):
            self._reply_pieces += 1
            self.chat_view.append_token(event.text)
            elapsed = time.perf_counter() - self._reply_started
            if elapsed > 0.5:
                rate = self._reply_pieces / elapsed
                self.model_status.setText(f"Model: generating… {rate:.0f} tokens/s")
        elif isinstance(event, Finished):
            self._reply_finished(event.reply)

    def _reply_finished(self, reply: Reply) -> None:
        notes = []
        if reply.stopped:
            notes.append("stopped")
        if reply.message_truncated:
            notes.append("your message was cut to fit the model's context")
        if reply.used:
            notes.append(f"used {len(reply.used)} memories")
        self.chat_view.end_reply("; ".join(notes) or None)
        self._reload_conversations()
        self._update_buttons()

    def _reply_failed(self, message: str) -> None:
        self.chat_view.end_reply("failed")
        self.show_error(message)
        self._update_buttons()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.session.shutdown()
        super().closeEvent(event)
