"""The memory manager: find, read, correct, pin and forget what the assistant remembers.

A search box (hybrid search, by meaning and words), filters, the lazily paged
table of every memory, and beside it the selected memory in full with where it
came from. Every action runs in the background and reports in the status
line; deleting always shows what the forgetting takes along and asks first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QModelIndex, QTimer, Signal
from PySide6.QtGui import QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.words import count
from mneme.memory import ForgetReport, Hit, ListQuery, Memory

from .core_op import CoreOp
from .forget_dialog import ForgetDialog
from .forget_topic_dialog import ForgetTopicDialog
from .memory_add_dialog import AddMemoryDialog
from .memory_detail import MemoryDetailPane
from .memory_edit_dialog import MemoryEditDialog
from .memory_filters import MemoryFilters
from .memory_table import MemoryTableModel
from .memory_table_view import MemoryTableView
from .session import AppSession, PartState
from .undo_bar import UndoBar


class MemoryManager(QWidget):
    openConversation = Signal(str, str)
    """(conversation id, memory id): the person wants to see this memory in its chat."""
    searchFinished = Signal(int)
    """A search's hits are shown (their number)."""

    SEARCH_DELAY_MS = 250
    SEARCH_LIMIT = 200

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("memoryManager")
        self.session = session
        self.edit_dialog: MemoryEditDialog | None = None
        self.add_dialog: AddMemoryDialog | None = None
        self.forget_dialog: ForgetDialog | None = None
        self.forget_topic_dialog: ForgetTopicDialog | None = None
        self._pending_current: int | None = None
        self._pending_select: tuple[str, int] | None = None
        """(memory, row) to select once the row is read."""
        self._build()
        self._connect()
        self.model.set_active(False)  # until shown
        self._memory_state(session.memory_state, "")

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.model.set_active(True)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.model.set_active(False)

    # -- layout -----------------------------------------------------------------------

    def _build(self) -> None:
        self.search = QLineEdit(self)
        self.search.setObjectName("memorySearch")
        self.search.setPlaceholderText("Search memories by meaning or words…")
        self.search.setClearButtonEnabled(True)
        self.count = QLabel("", self)
        self.count.setObjectName("memoryCount")
        self.filters = MemoryFilters(self)
        self.add_button = QPushButton("Add…", self)
        self.add_button.setToolTip("Write a fact or a note by hand")
        self.edit_button = QPushButton("Edit…", self)
        self.edit_button.setToolTip("Change the text, importance or pin; see earlier versions")
        self.pin_button = QPushButton("Pin", self)
        self.pin_button.setToolTip("Pinned memories are always given to the assistant")
        self.delete_button = QPushButton("Delete…", self)
        self.delete_button.setToolTip("Forget the selected memories (shows what goes with them)")
        self.forget_topic_button = QPushButton("Forget everything about…", self)
        self.forget_topic_button.setToolTip("Find every memory about a topic and forget them")

        self.model = MemoryTableModel(self.session, self)
        self.table = MemoryTableView(self.model, self)
        self.detail = MemoryDetailPane(self.session, self)
        self.splitter = QSplitter(self)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([900, 420])
        self.status = QLabel("", self)
        self.status.setObjectName("memoryStatus")
        self.status.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.count)
        actions = QHBoxLayout()
        for button in (
            self.add_button,
            self.edit_button,
            self.pin_button,
            self.delete_button,
        ):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.forget_topic_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.filters)
        layout.addLayout(actions)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status)
        self.undo_bar = UndoBar(self.session, self)
        layout.addWidget(self.undo_bar)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(self.SEARCH_DELAY_MS)

    def _connect(self) -> None:
        self.search.textChanged.connect(self._search_timer.start)
        self.search.returnPressed.connect(self.run_search)
        self._search_timer.timeout.connect(self.run_search)
        self.filters.changed.connect(self._filters_changed)
        self.filters.clear_button.clicked.connect(self.search.clear)  # everything shown again
        self.add_button.clicked.connect(self.add_memory)
        self.edit_button.clicked.connect(self.edit_selected)
        self.pin_button.clicked.connect(self.toggle_pin)
        self.delete_button.clicked.connect(self.delete_selected)
        self.forget_topic_button.clicked.connect(self.forget_topic)
        self.model.totalChanged.connect(self._show_count)
        self.model.conversationsLoaded.connect(self.filters.set_conversations)
        self.model.loadFailed.connect(self.status.setText)
        self.model.blockLoaded.connect(self._block_loaded)
        self.model.blockLoaded.connect(self._select_pending)
        self.model.totalChanged.connect(self._select_pending)
        self.model.modelReset.connect(self._update_buttons)
        self.model.layoutChanged.connect(self._update_buttons)
        selection = self.table.selectionModel()
        selection.currentRowChanged.connect(self._current_changed)
        selection.selectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _: self.edit_selected())
        self.detail.memoryActivated.connect(self.select_memory)
        self.detail.openConversation.connect(self.openConversation)
        self.detail.loaded.connect(self._update_buttons)
        self.session.memoryState.connect(self._memory_state)
        QShortcut(QKeySequence.StandardKey.Find, self, self.search.setFocus)
        delete = QShortcut(QKeySequence.StandardKey.Delete, self.table)
        delete.activated.connect(self.delete_selected)

    # -- browsing and searching -------------------------------------------------------

    def browse_query(self) -> ListQuery:
        """The filters, sorted as the table is."""
        current = self.model.query
        return replace(self.filters.list_query(), sort=current.sort, descending=current.descending)

    def _filters_changed(self) -> None:
        if self.search.text().strip():
            self.run_search()
        else:
            self.model.set_query(self.browse_query())

    def run_search(self) -> None:
        """Search now (the box waits for a pause in typing); empty goes back to browsing."""
        self._search_timer.stop()
        text = self.search.text().strip()
        if not self.session.memory_ready:
            return
        if not text:
            self.session.drop_answers(self, "search")  # the person cleared the box
            if self.model.searching:
                self.model.set_query(self.browse_query())
            return
        limit, filters = self.SEARCH_LIMIT, self.filters.search_filter()
        self.status.setText(f"Searching for “{text}”…")
        CoreOp(  # a newer search drops this one's answer: the person typed on
            self.session,
            lambda core: core.memories.search(text, k=limit, filters=filters),
            parent=self,
            name="search memories",
            key="search",
        ).success(self._searched).failure(
            lambda why: self.status.setText(f"The search failed: {why}")
        ).run()

    def _searched(self, hits: list[Hit]) -> None:
        self.status.setText("")
        self.model.show_hits(hits)
        self.searchFinished.emit(len(hits))

    def _show_count(self, total: int) -> None:
        if self.model.searching:
            text = self.search.text().strip()
            self.count.setText(f"{total:,} found for “{text}”" if total else "nothing found")
        else:
            self.count.setText(count(total, "memory", "memories"))

    # -- selection --------------------------------------------------------------------

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        memory = self.model.memory_at(current.row())
        if memory is None:
            self._pending_current = current.row()
            self.model.ensure_loaded(current.row())
            return
        self._pending_current = None
        self.detail.show_memory(memory.id)

    def _block_loaded(self, first: int, last: int) -> None:
        row = self._pending_current
        if row is not None and first <= row <= last:
            self._pending_current = None
            memory = self.model.memory_at(row)
            if memory is not None:
                self.detail.show_memory(memory.id)
        self._update_buttons()

    def select_memory(self, memory_id: str) -> None:
        """Select a memory in the table, wherever it is among the rows the filters list
        (its row is asked of the core, and read if it is not yet); it is shown beside
        the table at once (actions then apply to it)."""
        row = self.model.row_of(memory_id)
        if row is not None:
            self.table.select_row(row)
            return
        self.table.clearSelection()
        self.detail.show_memory(memory_id)
        if self.model.searching:
            self.status.setText("That memory is not among the results; it is shown on the right.")
            return
        query = self.model.query

        def found(row: int | None) -> None:
            if row is None:
                self.status.setText("The filters above hide that memory; it is shown on the right.")
                return
            self._pending_select = (memory_id, row)
            self._select_pending()

        CoreOp(
            self.session,
            lambda core: core.memories.position(memory_id, query),
            parent=self,
            name="find a memory's row",
            key="position",
        ).success(found).run()

    def _select_pending(self, *_: object) -> None:
        """Select the memory asked for once its row is read (see :meth:`select_memory`)."""
        if self._pending_select is None:
            return
        memory_id, row = self._pending_select
        if self.model.row_of(memory_id) is not None:
            self._pending_select = None
            self.table.select_row(self.model.row_of(memory_id) or row)
            self.table.scrollTo(self.model.index(row, 0))
        elif row < self.model.rowCount():
            self.model.ensure_loaded(row)

    def selected_memories(self) -> list[Memory]:
        """The loaded memories among the selected rows, or the one shown on the right."""
        rows = self.table.selected_rows()
        if not rows:
            memory = self.detail.memory
            return [memory] if memory is not None else []
        return [m for m in (self.model.memory_at(r) for r in rows) if m is not None]

    def with_targets(self, act: Callable[[list[Memory]], None]) -> None:
        """Call ``act`` with the memories an action applies to: the selected rows (loading
        any not yet read), or the memory shown on the right."""
        rows = self.table.selected_rows()
        if not rows:
            act(self.selected_memories())
            return

        def loaded(memories: list[Memory] | None) -> None:
            if memories is None:
                self.status.setText("The list changed meanwhile; please select again.")
            else:
                act(memories)

        self.model.load_rows(rows, loaded)

    def _update_buttons(self, *_: object) -> None:
        ready = self.session.memory_ready
        rows = self.table.selected_rows()
        count = len(rows) if rows else (1 if self.detail.memory is not None else 0)
        memories = self.selected_memories()
        self.add_button.setEnabled(ready)
        self.forget_topic_button.setEnabled(ready)
        self.edit_button.setEnabled(ready and count == 1)
        self.delete_button.setEnabled(ready and count > 0)
        self.pin_button.setEnabled(ready and count > 0)
        unpin = bool(memories) and all(m.pinned for m in memories)
        self.pin_button.setText("Unpin" if unpin else "Pin")

    # -- actions ----------------------------------------------------------------------

    def add_memory(self) -> AddMemoryDialog:
        self.add_dialog = AddMemoryDialog(self.session, self)
        self.add_dialog.added.connect(self._added)
        self.add_dialog.open()
        return self.add_dialog

    def _added(self, memory: Memory) -> None:
        self.status.setText(f"Added a {memory.kind.value}: “{memory.text[:80]}”.")
        self.detail.show_memory(memory.id)

    def edit_selected(self) -> None:
        def edit(memories: list[Memory]) -> None:
            if len(memories) == 1:
                self.edit_memory(memories[0].id)

        self.with_targets(edit)

    def edit_memory(self, memory_id: str) -> MemoryEditDialog:
        self.edit_dialog = MemoryEditDialog(self.session, memory_id, self)
        self.edit_dialog.saved.connect(
            lambda m: self.status.setText(f"Saved (version {m.version}).")
        )
        self.edit_dialog.open()
        return self.edit_dialog

    def toggle_pin(self) -> None:
        def pin(memories: list[Memory]) -> None:
            if not memories:
                return
            pinned = not all(m.pinned for m in memories)
            ids = [m.id for m in memories]
            already = sum(m.pinned == pinned for m in memories)
            verb = "Pinned" if pinned else "Unpinned"

            def done(changed: list[Memory]) -> None:
                n = len(changed) + already
                self.status.setText(f"{verb} {count(n, 'memory', 'memories')}.")

            CoreOp(
                self.session,
                lambda core: core.memories.set_pinned(ids, pinned),
                parent=self,
                name="pin memories",
            ).success(done).failure(
                lambda why: self.status.setText(f"Not {verb.lower()}: {why}")
            ).run()

        self.with_targets(pin)

    def delete_selected(self) -> None:
        def ask(memories: list[Memory]) -> None:
            if memories:
                self.forget([m.id for m in memories])

        self.with_targets(ask)

    def forget(self, ids: list[str]) -> ForgetDialog:
        """Show what forgetting ``ids`` takes along; forget if the person confirms."""
        self.forget_dialog = ForgetDialog(self.session, ids, self)
        self.forget_dialog.open()
        return self.forget_dialog

    def forget_topic(self) -> ForgetTopicDialog:
        self.forget_topic_dialog = ForgetTopicDialog(self.session, self)
        self.forget_topic_dialog.forgotten.connect(self._topic_forgotten)
        topic = self.search.text().strip()
        if topic:
            self.forget_topic_dialog.topic.setText(topic)
        self.forget_topic_dialog.open()
        return self.forget_topic_dialog

    def _topic_forgotten(self, report: object) -> None:
        """The undo bar says what was forgotten; after a topic, say what still mentions it
        (memories the person chose to keep), so that nothing stays unknowingly."""
        dialog = self.forget_topic_dialog
        topic = dialog.topic.text().strip() if dialog is not None else ""
        if not isinstance(report, ForgetReport) or not topic:
            return

        def said(left: list[Memory]) -> None:
            if left:
                self.status.setText(
                    f"{count(len(left), 'memory', 'memories')} you kept still "
                    f"{'mentions' if len(left) == 1 else 'mention'} “{topic}”."
                )
            else:
                self.status.setText(f"Nothing Mneme remembers mentions “{topic}” any more.")

        CoreOp(
            self.session,
            lambda core: core.memories.mentioning(topic),
            parent=self,
            name="what still mentions a topic",
        ).success(said).run()

    # -- memory availability ----------------------------------------------------------

    def _memory_state(self, state: str, detail: str) -> None:
        ready = state == PartState.READY
        for widget in (self.search, self.filters, self.table):
            widget.setEnabled(ready)
        if ready:
            if not self.model.loaded_once:
                self.model.set_query(self.browse_query())
            if self.status.text().startswith("Memory is"):
                self.status.setText("")
        elif state == PartState.FAILED:
            self.status.setText(f"Memory is not available: {detail}")
        else:
            self.status.setText("Memory is loading…")
        self._update_buttons()
