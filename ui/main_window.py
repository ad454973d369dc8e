"""The main window: conversations, the chat, and the way into everything else.

The window only shows and commands; every read and write goes through the
:class:`AppSession`, which does the work off the UI thread and answers with
signals.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.chat import (
    Finished,
    MessageFit,
    Reading,
    Reply,
    Token,
    new_conversation_id,
)
from mneme.assistant.consolidation import RunReport
from mneme.assistant.conversations import Turn
from mneme.assistant.errors import Part
from mneme.assistant.words import count as count_words
from mneme.memory import Change, Conversation

from .chat_view import ChatView, MessageInput
from .contradictions import ContradictionsInbox
from .core_op import CoreOp
from .memory_manager import MemoryManager
from .model_manager import ModelManagerDialog
from .runs_dialog import RunsDialog
from .session import AppSession, PartState
from .settings_dialog import SettingsDialog
from .transfer_dialog import ExportDialog, ImportDialog
from .undo_bar import UndoBar

CONVERSATION_ROLE = Qt.ItemDataRole.UserRole + 1
_BANNER_STYLE = "QLabel { background: %s; color: %s; padding: 8px; border-radius: 4px; }"
_TEMPORARY_STYLE = "#chatView { border: 2px dashed #b26a00; }"


class MainWindow(QMainWindow):
    def __init__(self, session: AppSession) -> None:
        super().__init__()
        self.session = session
        self.conversation_id = new_conversation_id()
        self.temporary = False
        self.runs_dialog: RunsDialog | None = None
        self.model_manager: ModelManagerDialog | None = None
        self.memory_dialog: QDialog | None = None
        self.memory_manager: MemoryManager | None = None
        self._reply_started = 0.0
        self._reply_pieces = 0
        self._open_latest = True
        self._last_sent = ""
        self._scroll_to: str | None = None
        self.setWindowTitle("Mneme")
        self.resize(1100, 720)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(self._search_conversations)
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(self.FIT_CHECK_MS)
        self._fit_timer.timeout.connect(self._check_fit)
        self._build()
        self._build_menus()
        self._connect()

    # -- layout -------------------------------------------------------------------

    def _build(self) -> None:
        self.new_button = QPushButton("New chat")
        self.new_button.setObjectName("newChat")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.temporary_button = QPushButton("Temporary chat")
        self.temporary_button.setObjectName("temporaryChat")
        self.temporary_button.setCheckable(True)
        self.temporary_button.setToolTip(
            "A conversation that is not remembered: nothing of it is stored"
        )
        self.search = QLineEdit()
        self.search.setObjectName("conversationSearch")
        self.search.setPlaceholderText("Search conversations (Ctrl+K)")
        self.search.setClearButtonEnabled(True)
        self.conversations = QListWidget()
        self.conversations.setObjectName("conversationList")
        self.conversations.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversations.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.conversations.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 0, 6)
        top = QHBoxLayout()
        top.addWidget(self.new_button, 1)
        top.addWidget(self.temporary_button)
        left_layout.addLayout(top)
        left_layout.addWidget(self.search)
        left_layout.addWidget(self.conversations)

        self.banner = QLabel()
        self.banner.setObjectName("errorBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setStyleSheet(_BANNER_STYLE % ("#fdecea", "#611a15"))
        self.banner.hide()
        self.temporary_banner = QLabel(
            "Temporary chat — nothing said here is remembered, and it is gone when you leave it."
        )
        self.temporary_banner.setObjectName("temporaryBanner")
        self.temporary_banner.setWordWrap(True)
        self.temporary_banner.setStyleSheet(_BANNER_STYLE % ("#fff4e5", "#663c00"))
        self.temporary_banner.hide()
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
        center_layout.addWidget(self.temporary_banner)
        center_layout.addWidget(self.chat_view, 1)
        self.too_long = QLabel()
        self.too_long.setObjectName("tooLong")
        self.too_long.setWordWrap(True)
        self.too_long.setStyleSheet("color: #8a4b00;")
        self.too_long.hide()
        center_layout.addWidget(self.too_long)
        center_layout.addLayout(input_row)

        self.memories_button = QPushButton("Memories…")
        self.memories_button.setObjectName("openMemories")
        self.memories_button.setToolTip(
            "Browse, search, edit and forget what Mneme remembers (Ctrl+M)"
        )
        left_layout.addWidget(self.memories_button)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(center)
        splitter.setSizes([240, 860])
        splitter.setStretchFactor(1, 1)
        self.setCentralWidget(splitter)

        self.model_status = QLabel("Model: loading…")
        self.model_status.setObjectName("modelStatus")
        self.memory_status = QLabel("Memory: opening…")
        self._memory_text = "Memory: opening…"
        self._searching_soon = False
        self.memory_status.setObjectName("memoryStatus")
        self.consolidation_status = QLabel("")
        self.consolidation_status.setObjectName("consolidationStatus")
        self.inbox = ContradictionsInbox(self.session, self)
        self.review_button = QPushButton(self)
        self.review_button.setObjectName("reviewContradictions")
        self.review_button.setFlat(True)
        self.review_button.setToolTip("Facts that contradict each other: decide which holds")
        self.review_button.hide()
        self.undo_bar = UndoBar(self.session, self)
        self.statusBar().addWidget(self.model_status, 1)
        self.statusBar().addPermanentWidget(self.undo_bar)
        self.statusBar().addPermanentWidget(self.consolidation_status)
        self.statusBar().addPermanentWidget(self.review_button)
        self.statusBar().addPermanentWidget(self.memory_status)
        self._update_buttons()

    def _action(
        self,
        menu: QMenu,
        text: str,
        slot: Callable[[], object],
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
    ) -> QAction:
        action = menu.addAction(text)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        chat = bar.addMenu("&Chat")
        self.new_action = self._action(
            chat, "&New chat", self.new_conversation, QKeySequence.StandardKey.New
        )
        self._action(chat, "&Temporary chat", self.temporary_button.toggle)
        self.search_action = self._action(
            chat, "&Search conversations", self.focus_search, "Ctrl+K"
        )
        self.stop_action = self._action(chat, "S&top reply", self.session.stop, "Esc")
        chat.addSeparator()
        self._action(chat, "&Export conversation…", self.export_current_conversation)
        self._action(chat, "&Import…", self.show_import)
        chat.addSeparator()
        self._action(chat, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        memory = bar.addMenu("&Memory")
        self.memories_action = self._action(memory, "&Memories…", self.show_memories, "Ctrl+M")
        self._action(memory, "&Consolidation runs…", self.show_runs)
        self._action(memory, "Facts to &review…", self.show_inbox)
        memory.addSeparator()
        self._action(memory, "&Export memories…", self.show_export)
        self._action(memory, "&Import…", self.show_import)
        self._action(memory, "&Back up…", self.back_up)
        memory.addSeparator()
        self._action(memory, "Re&open memory", self.reopen_memory)
        self.settings_menu = bar.addMenu("&Settings")
        self.settings_action = self._action(
            self.settings_menu, "&Settings…", self.show_settings, "Ctrl+,"
        )
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.models_action = self._action(self.settings_menu, "&Models…", self.show_models)

    def _connect(self) -> None:
        s = self.session
        s.modelState.connect(self._model_state)
        s.memoryState.connect(self._memory_state)
        s.searchReady.connect(self._search_ready)
        s.memoriesChanged.connect(self._memories_changed)
        s.memoryCount.connect(self._memory_count)
        s.replyEvent.connect(self._reply_event)
        s.replyFailed.connect(self._reply_failed)
        s.problem.connect(self.show_error)
        s.runUndoFailed.connect(self.show_error)
        s.notice.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        s.conversationsLoaded.connect(self._conversations_loaded)
        s.conversationLoaded.connect(self._conversation_loaded)
        s.consolidationProgress.connect(self._consolidation_progress)
        s.consolidationFinished.connect(self._consolidation_finished)
        self.memories_button.clicked.connect(self.show_memories)
        self.inbox.countChanged.connect(self._review_count)
        self.inbox.editRequested.connect(
            lambda memory_id: self.show_memories().edit_memory(memory_id)
        )
        self.review_button.clicked.connect(self.show_inbox)
        self.input.submitted.connect(self.send)
        self.input.textChanged.connect(self._update_buttons)
        self.input.textChanged.connect(self._text_changed)
        self.send_button.clicked.connect(self.input.submit)
        self.stop_button.clicked.connect(self.session.stop)
        self.new_button.clicked.connect(self.new_conversation)
        self.temporary_button.toggled.connect(self.set_temporary)
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        self.conversations.itemActivated.connect(self._open_item)
        self.conversations.itemClicked.connect(self._open_item)
        self.conversations.customContextMenuRequested.connect(self._conversation_menu)
        self.chat_view.regenerateRequested.connect(self.regenerate)
        self.chat_view.editSubmitted.connect(self.edit_and_resend)
        self.chat_view.memoryActivated.connect(self.show_memory)

    # -- state --------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()

    def _update_buttons(self) -> None:
        ready = self.session.model_state is PartState.READY
        has_text = bool(self.input.toPlainText().strip())
        self.send_button.setEnabled(ready and has_text)
        self.stop_button.setEnabled(self.session.generating)
        self.chat_view.set_busy(self.session.generating or not ready)

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
                f"{detail}\n\nYour memories are still here. Choose another model in "
                "Settings → Models…, or reinstall the bundled model."
            )
        self._update_buttons()

    def _memory_state(self, state: str, detail: str) -> None:
        if state == PartState.READY:
            self._memory_text = f"Memory: {detail}"
            self._show_memory_status()
            self.session.load_conversations()
        elif state == PartState.FAILED:
            self.memory_status.setText("Memory: unavailable")
            self.show_error(detail)
        else:
            self.memory_status.setText(f"Memory: {detail}")

    def show_runs(self) -> RunsDialog | None:
        """One dialog, raised again if it is already open."""
        if not self.session.memory_ready:
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

    def show_memories(self) -> MemoryManager:
        """The memory manager, in a window of its own that is kept while hidden."""
        if self.memory_dialog is None or self.memory_manager is None:
            dialog = QDialog(self)
            dialog.setObjectName("memoryDialog")
            dialog.setWindowTitle("Memories — Mneme")
            dialog.resize(1300, 780)
            manager = MemoryManager(self.session, dialog)
            QVBoxLayout(dialog).addWidget(manager)
            manager.openConversation.connect(self._open_memory_in_chat)
            self.memory_dialog, self.memory_manager = dialog, manager
        self.memory_dialog.show()
        self.memory_dialog.raise_()
        self.memory_dialog.activateWindow()
        return self.memory_manager

    def show_memory(self, memory_id: str) -> None:
        """From a reply's "used N memories" list: that memory, in the manager."""
        self.show_memories().select_memory(memory_id)

    def _open_memory_in_chat(self, conversation_id: str, memory_id: str) -> None:
        self._scroll_to = memory_id
        self.open_conversation(conversation_id)
        self.raise_()
        self.activateWindow()

    def reopen_memory(self) -> None:
        if self.session.reopen_memory():
            self.banner.hide()

    def show_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.session, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _review_count(self, n: int) -> None:
        self.review_button.setText(f"{n} to review")
        self.review_button.setVisible(n > 0)

    def show_inbox(self) -> ContradictionsInbox:
        self.inbox.show()
        self.inbox.raise_()
        self.inbox.activateWindow()
        return self.inbox

    def show_export(self) -> ExportDialog:
        dialog = ExportDialog(self.session, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def back_up(self, folder: str | None = None) -> None:
        """A copy of everything remembered, restorable with ``mneme-cli restore``."""
        if folder is None:
            parent = QFileDialog.getExistingDirectory(self, "Where to put the backup")
            if not parent:
                return
            folder = str(Path(parent) / time.strftime("mneme-backup-%Y%m%d-%H%M%S"))
        self.session.backup(folder)

    def show_import(self) -> ImportDialog:
        dialog = ImportDialog(self.session, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.transferFinished.connect(lambda *_: self.session.load_conversations())
        dialog.show()
        return dialog

    def show_models(self) -> ModelManagerDialog:
        """One model manager, kept while hidden so a paused download can be resumed."""
        if self.model_manager is None:
            self.model_manager = ModelManagerDialog(self.session, self)
        else:
            self.model_manager.refresh()
        self.model_manager.show()
        self.model_manager.raise_()
        self.model_manager.activateWindow()
        return self.model_manager

    def _consolidation_progress(self, done: int, total: int, what: str) -> None:
        self.consolidation_status.setText(f"Tidying memory ({done} of {total} done)…")
        self.consolidation_status.setToolTip(what)

    def _consolidation_finished(self, report: RunReport | None) -> None:
        if report is None:
            self.consolidation_status.setText("")
            return
        if report.status == "interrupted":
            text = "Tidying memory paused (the model was needed); it goes on when you are idle"
        elif report.jobs_done or report.archived:
            text = (
                f"Memory tidied: {count_words(len(report.added), 'new fact')}, "
                f"{count_words(len(report.summarised), 'summary', 'summaries')}"
                + (f", {len(report.contradictions)} to review" if report.contradictions else "")
            )
        else:
            text = ""
        self.consolidation_status.setText(text)

    def _memories_changed(self, change: Change) -> None:
        """The memories of turns shown here were forgotten, edited or put back (in the
        memory manager, by retention, by an undo): show the conversation as it is now,
        unless the person is busy with it."""
        back = set(change.added) & self.chat_view.shown_memories(forgotten=True)
        gone = ({*change.deleted, *change.updated} & self.chat_view.shown_memories()) | back
        busy = self.session.generating or self.chat_view.editing()
        if gone and not busy and not self.temporary:
            self.session.load_conversation(self.conversation_id)
            self.session.load_conversations(self.search.text())

    def _memory_count(self, count: int) -> None:
        self._memory_text = f"Memory: {count_words(count, 'memory', 'memories')}"
        self._show_memory_status()

    def _search_ready(self, ready: bool) -> None:
        self._searching_soon = not ready
        self._show_memory_status()

    def _show_memory_status(self) -> None:
        """The count, and while the embedding model loads behind the window, that memory
        search (and what needs it) waits for it."""
        soon = " · search getting ready…" if self._searching_soon else ""
        self.memory_status.setText(self._memory_text + soon)
        self.memory_status.setToolTip(
            "Your conversations and memories can be read now; searching them (and replies "
            "that recall them) waits a few seconds while the search model loads."
            if soon
            else ""
        )

    # -- conversations ------------------------------------------------------------

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def _search_conversations(self) -> None:
        self.session.load_conversations(self.search.text())

    def _conversations_loaded(self, listed: Sequence[Conversation]) -> None:
        self.conversations.clear()
        titles = Counter(conv.title or "Untitled" for conv in listed)
        for conv in listed:
            title = conv.title or "Untitled"
            if titles[title] > 1:  # the same title twice: when each was, tells them apart
                title += time.strftime(" · %d %b %H:%M", time.localtime(conv.updated_at))
            item = QListWidgetItem(title)
            item.setData(CONVERSATION_ROLE, conv.id)
            item.setToolTip(time.strftime("%Y-%m-%d %H:%M", time.localtime(conv.updated_at)))
            self.conversations.addItem(item)
            if conv.id == self.conversation_id:
                item.setSelected(True)
        if self._open_latest and listed and self.chat_view.is_empty() and not self.temporary:
            self.open_conversation(listed[0].id)  # at start, where the person left off
        self._open_latest = False

    def _open_item(self, item: QListWidgetItem) -> None:
        self.open_conversation(str(item.data(CONVERSATION_ROLE)))

    def open_conversation(self, conversation_id: str) -> None:
        if self.session.generating:
            return
        self._leave_temporary()
        if conversation_id != self.conversation_id:
            self.session.conversation_left(self.conversation_id)
        self.conversation_id = conversation_id
        self.session.load_conversation(conversation_id)

    def _conversation_loaded(self, conversation_id: str, turns: Sequence[Turn]) -> None:
        if conversation_id != self.conversation_id or self.session.generating:
            return  # the person moved on meanwhile
        self.chat_view.reset()
        for turn in turns:
            self.chat_view.add_message(
                turn.said.role,
                turn.text,
                when=turn.said.said_at,
                used=turn.used,
                memory_id=turn.id,
                state=turn.said.state,
                corrected=turn.corrected,
            )
        if self._scroll_to is not None:
            self.chat_view.scroll_to_memory(self._scroll_to)
            self._scroll_to = None

    def new_conversation(self) -> None:
        if self.session.generating:
            return
        self._leave_temporary()
        self.session.conversation_left(self.conversation_id)
        self.conversation_id = new_conversation_id()
        self.chat_view.reset()
        self.conversations.clearSelection()
        self.input.setFocus()

    def set_temporary(self, on: bool) -> None:
        """A temporary chat is visibly marked, and ends when the person leaves it."""
        if on == self.temporary:
            return
        if self.session.generating:
            self.temporary_button.setChecked(self.temporary)
            return
        if on:
            conversation_id = self.session.start_temporary()
            self.session.conversation_left(self.conversation_id)
            self.temporary = True
            self.conversation_id = conversation_id
            self.chat_view.reset()
            self.conversations.clearSelection()
            self.input.setFocus()
        else:
            self.new_conversation()
        self._show_temporary()

    def _leave_temporary(self) -> None:
        if self.temporary:
            self.session.end_temporary(self.conversation_id)
            self.temporary = False
            self._show_temporary()

    def _show_temporary(self) -> None:
        self.temporary_banner.setVisible(self.temporary)
        self.chat_view.setStyleSheet(_TEMPORARY_STYLE if self.temporary else "")
        self.setWindowTitle("Mneme — temporary chat" if self.temporary else "Mneme")
        self.temporary_button.blockSignals(True)
        self.temporary_button.setChecked(self.temporary)
        self.temporary_button.blockSignals(False)

    def _conversation_menu(self, where: QPoint) -> None:
        item = self.conversations.itemAt(where)
        if item is None:
            return
        conversation_id = str(item.data(CONVERSATION_ROLE))
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.rename_conversation(conversation_id))
        menu.addAction("Export…", lambda: self.export_conversation(conversation_id))
        menu.addSeparator()
        menu.addAction("Delete…", lambda: self.delete_conversation(conversation_id))
        menu.popup(self.conversations.viewport().mapToGlobal(where))

    def _title_of(self, conversation_id: str) -> str:
        for i in range(self.conversations.count()):
            item = self.conversations.item(i)
            if item.data(CONVERSATION_ROLE) == conversation_id:
                return item.text()
        return ""

    def rename_conversation(self, conversation_id: str, title: str | None = None) -> None:
        if title is None:
            title, ok = QInputDialog.getText(
                self, "Rename conversation", "Title:", text=self._title_of(conversation_id)
            )
            if not ok:
                return
        if title.strip():
            self.session.rename_conversation(conversation_id, title.strip())

    def delete_conversation(self, conversation_id: str, *, forget: bool | None = None) -> None:
        """Asks first: delete from the list only, or also forget what was said in it."""
        if forget is None:
            box = QMessageBox(self)
            box.setIcon(QMessageBox.Icon.Warning)
            box.setWindowTitle("Delete conversation")
            box.setText(f"Delete “{self._title_of(conversation_id)}”?")
            box.setInformativeText(
                "“Delete and forget” also removes its turns from the assistant's memory, "
                "with the facts and summaries learnt only from them. This cannot be undone."
            )
            keep = box.addButton("Delete, keep memories", QMessageBox.ButtonRole.AcceptRole)
            drop = box.addButton("Delete and forget", QMessageBox.ButtonRole.DestructiveRole)
            box.addButton(QMessageBox.StandardButton.Cancel)
            box.exec()
            if box.clickedButton() not in (keep, drop):
                return
            forget = box.clickedButton() is drop
        if conversation_id == self.conversation_id:
            self.new_conversation()
        self.session.delete_conversation(conversation_id, forget=forget)

    def export_current_conversation(self) -> None:
        if not self.temporary and not self.chat_view.is_empty():
            self.export_conversation(self.conversation_id)

    def export_conversation(self, conversation_id: str, path: str | None = None) -> None:
        if path is None:
            title = self._title_of(conversation_id) or "conversation"
            path, _ = QFileDialog.getSaveFileName(
                self, "Export conversation", f"{title}.md", "Markdown (*.md);;JSON (*.json)"
            )
            if not path:
                return
        self.session.export_conversations(path, [conversation_id])

    # -- replying -----------------------------------------------------------------

    def _begin(self) -> None:
        self.banner.hide()
        self.chat_view.begin_reply()
        self._reply_started = time.perf_counter()
        self._reply_pieces = 0
        self._update_buttons()

    def _model_ready_or_say_so(self) -> bool:
        if self.session.model_state is PartState.READY and not self.session.generating:
            return True
        if self.session.model_state is not PartState.GENERATING:
            self.show_error("The model is not ready yet; your message is still in the box.")
        return False

    def send(self, text: str) -> None:
        if not text.strip() or not self._model_ready_or_say_so():
            return
        if not self.session.send(self.conversation_id, text):
            return
        self._last_sent = text
        self.input.clear()
        self.chat_view.add_message("user", text, when=time.time())
        self._begin()

    def regenerate(self) -> None:
        if not self._model_ready_or_say_so():
            return
        if self.session.regenerate(self.conversation_id):
            self._last_sent = ""
            self.chat_view.remove_last_reply()
            self._begin()

    def edit_and_resend(self, index: int, text: str) -> None:
        if not self._model_ready_or_say_so():
            return
        if self.session.edit_and_resend(self.conversation_id, index, text):
            self._last_sent = ""
            turns = self.chat_view.turns()
            turns[index].stop_editing()
            turns[index].set_text(text)
            self.chat_view.truncate_after(index)
            self._begin()

    FIT_CHECK_MS = 400
    LONG_MESSAGE_CHARS = 2000
    """Shorter messages always fit: the model is not asked."""

    def _text_changed(self) -> None:
        self.session.draft_changed(self.conversation_id, self.input.toPlainText())
        if len(self.input.toPlainText()) > self.LONG_MESSAGE_CHARS:
            self._fit_timer.start()
        else:
            self._fit_timer.stop()
            self.session.drop_answers(self, "fit")
            self.too_long.hide()

    def _check_fit(self) -> None:
        """A message longer than the model can read is said so as it is pasted, not after
        the model has read it."""
        text = self.input.toPlainText()

        def said(fit: MessageFit) -> None:
            self.too_long.setVisible(not fit.fits)
            self.too_long.setText(
                "This message is longer than the model can read: it will read about the "
                f"first {fit.read_share:.0%} of it, and the rest is left out. Split it in "
                "parts, or choose a model that reads more (Settings → Models…)."
            )

        CoreOp(
            self.session,
            lambda core: core.chat().fit(text),
            parent=self,
            name="check a message's length",
            needs=(Part.MODEL,),
            key="fit",
        ).success(said).run()

    def _reply_event(self, event: object) -> None:
        if isinstance(event, Reading):
            percent = event.done * 100 // max(1, event.total)
            self.chat_view.show_reading(percent)
            self.model_status.setText(f"Model: reading your message… {percent}% (Esc stops)")
        elif isinstance(event, Token):
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
        if reply.error:
            notes.append(f"the model failed: {reply.error}")
        user_turn = self.chat_view.turns()[-2:-1]
        if user_turn and reply.user_memory is not None:
            user_turn[0].memory_id = reply.user_memory.id
        self.chat_view.end_reply(
            "; ".join(notes) or None,
            reply.used,
            memory_id=reply.assistant_memory.id if reply.assistant_memory else None,
            kept=bool(reply.text),
        )
        self._last_sent = ""
        if not self.temporary:
            self.session.load_conversations(self.search.text())
        self._update_buttons()

    def _reply_failed(self, message: str, unsaved: bool) -> None:
        self.chat_view.end_reply("the reply failed", kept=False)
        if unsaved and self._last_sent and not self.input.toPlainText():
            self.input.setPlainText(self._last_sent)  # nothing typed is lost
            message += "\n\nYour message is back in the box."
        self.show_error(message)
        self._update_buttons()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.model_manager is not None:
            self.model_manager.stop_download()  # keeps the .part for a later resume
        self.session.shutdown()
        super().closeEvent(event)
