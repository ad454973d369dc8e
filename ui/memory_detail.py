"""One memory, all of it: text, dates, where it came from, what was made from it,
its earlier versions and the consolidation runs that touched it.

It answers "why does the assistant believe this?" and lets the person act on
the answer: open the conversation it came from, go to a source or a derived
memory, put back an earlier version, or undo the run that wrote it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.memories import MemoryOverview
from mneme.assistant.words import (
    STATE_HELP,
    STATE_NAMES,
    author_name,
    describe,
    kind_name,
    one_line,
)
from mneme.memory import Author, Kind, Memory, MemoryNotFoundError, Run, RunAction

from .core_op import CoreOp, Failure
from .look import as_sentence
from .memory_table import fill_history, when
from .session import AppSession

ID_ROLE = Qt.ItemDataRole.UserRole + 1


_DID = {
    RunAction.READ: "read it",
    RunAction.ADDED: "wrote it",
    RunAction.UPDATED: "changed it",
    RunAction.DELETED: "removed it",
}
_RUN_STATUS = {
    "done": "finished",
    "running": "running",
    "interrupted": "paused",
    "failed": "failed",
}
TABS = ("Comes from", "Led to", "Earlier versions", "Changes by Mneme")


def _run_line(run: Run, actions: tuple[RunAction, ...]) -> str:
    did = ", ".join(_DID.get(a, a.value) for a in actions)
    status = "taken back" if run.undone else _RUN_STATUS.get(run.status, run.status)
    return f"{when(run.started_at)}: tidying its memory, Mneme {did} ({status})"


class MemoryDetailPane(QWidget):
    openConversation = Signal(str, str)
    """(conversation id, memory id): show this memory in its conversation."""
    memoryActivated = Signal(str)
    """A source or derived memory was clicked: the manager selects it."""
    loaded = Signal(object)
    """The :class:`MemoryOverview` now shown."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("memoryDetail")
        self.session = session
        self.memory_id: str | None = None
        self.shown: MemoryOverview | None = None
        self._undoing = False
        self._previous_id: str | None = None
        self._missed_change = False

        self.heading = QLabel("No memory selected", self)
        self.heading.setObjectName("detailHeading")
        self.heading.setWordWrap(True)
        self.text = QTextBrowser(self)
        self.text.setObjectName("detailText")
        self.text.setOpenLinks(False)
        self.facts = QLabel("", self)
        self.facts.setObjectName("detailFacts")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open in conversation", self)
        self.open_button.setObjectName("openInConversation")
        self.open_button.setToolTip("Show the conversation this memory came from")
        self.open_button.clicked.connect(self._open_conversation)

        self.sources = QListWidget(self)
        self.sources.setObjectName("sourcesList")
        self.derived = QListWidget(self)
        self.derived.setObjectName("derivedList")
        for memories in (self.sources, self.derived):
            memories.setWordWrap(True)
            memories.itemClicked.connect(self._activate)
        self.history = QListWidget(self)
        self.history.setObjectName("historyList")
        self.restore_button = QPushButton("Restore this version", self)
        self.restore_button.setObjectName("restoreVersion")
        self.restore_button.setToolTip("Make the selected version current again (kept in history)")
        self.restore_button.clicked.connect(self._restore)
        self.runs = QListWidget(self)
        self.runs.setObjectName("runsList")
        self.undo_button = QPushButton("Take back that tidying…", self)
        self.undo_button.setObjectName("undoRun")
        self.undo_button.setToolTip("Take back everything Mneme wrote or changed in that run")
        self.undo_button.clicked.connect(self._undo)
        self.history.currentRowChanged.connect(self._update_buttons)
        self.runs.currentRowChanged.connect(self._update_buttons)

        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.sources, TABS[0])
        self.tabs.setTabToolTip(0, "What this memory was learnt from")
        self.tabs.addTab(self.derived, TABS[1])
        self.tabs.setTabToolTip(1, "Facts and summaries learnt from this memory")
        self.tabs.addTab(self._with_button(self.history, self.restore_button), TABS[2])
        self.tabs.setTabToolTip(2, "How this memory read before it was changed")
        self.tabs.addTab(self._with_button(self.runs, self.undo_button), TABS[3])
        self.tabs.setTabToolTip(3, "When Mneme tidied its memory and touched this one")
        self.status = QLabel("", self)
        self.status.setObjectName("detailStatus")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.text, 2)
        layout.addWidget(self.facts)
        layout.addWidget(self.open_button)
        layout.addWidget(self.tabs, 2)
        layout.addWidget(self.status)
        session.memoriesChanged.connect(self._memories_changed)
        session.runUndone.connect(self._run_undone)
        session.runUndoFailed.connect(self._undo_failed)
        self._clear("No memory selected")

    def _with_button(self, widget: QWidget, button: QPushButton) -> QWidget:
        box = QWidget(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(widget)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(button)
        layout.addLayout(row)
        return box

    @property
    def memory(self) -> Memory | None:
        return self.shown.details.memory if self.shown is not None else None

    # -- loading --------------------------------------------------------------------

    def show_memory(self, memory_id: str | None) -> None:
        """Show this memory (read in the background), or nothing."""
        if memory_id != self.memory_id:
            self.status.setText("")
        self.memory_id = memory_id
        self.reload()

    def reload(self) -> None:
        memory_id = self.memory_id
        if memory_id is None or not self.session.memory_ready:
            self.session.drop_answers(self, "details")  # of a reload still under way
            ready = self.session.memory_ready
            self._clear("No memory selected" if ready else "Memory is not available.")
            return
        CoreOp(
            self.session,
            lambda core: core.memories.overview(memory_id),
            parent=self,
            name="memory details",
            key="details",
        ).success(self._loaded).failure(self._failed).run()

    def _failed(self, why: Failure) -> None:
        if isinstance(why.error, MemoryNotFoundError):
            self.memory_id = None
            self._clear("This memory was deleted.")
        else:
            self.status.setText(f"The memory's details could not be read: {why}")

    def _memories_changed(self, *_: object) -> None:
        if self.memory_id is None:
            return
        if self.isVisible():
            self.reload()
        else:
            self._missed_change = True  # read when shown, not while nobody looks

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._missed_change:
            self._missed_change = False
            self.reload()

    def _clear(self, message: str) -> None:
        self.shown = None
        self.heading.setText(message)
        self.text.clear()
        self.facts.clear()
        for widget in (self.sources, self.derived, self.history, self.runs):
            widget.clear()
        self._retitle()
        self._update_buttons()

    def _loaded(self, loaded: MemoryOverview) -> None:
        self.shown = loaded
        memory = loaded.details.memory
        pinned = " · pinned" if memory.pinned else ""
        self.heading.setText(
            f"<b>{kind_name(memory).capitalize()}</b> · {STATE_NAMES[memory.state]}{pinned}"
        )
        self.heading.setToolTip(STATE_HELP[memory.state])
        self.text.setPlainText(memory.text)
        self.facts.setText(self._facts(loaded))
        self._fill(self.sources, loaded.details.sources)
        self._fill(self.derived, loaded.details.derived)
        kept_version = self._chosen(self.history)
        kept_run = self._chosen(self.runs)
        fill_history(self.history, loaded.details.history, 160)
        self.runs.clear()
        for run, actions in loaded.runs:
            item = QListWidgetItem(_run_line(run, actions))
            item.setData(ID_ROLE, run.id)
            self.runs.addItem(item)
        if loaded.details.memory.id == self._previous_id:
            self._choose(self.history, kept_version)
            self._choose(self.runs, kept_run)
        self._previous_id = loaded.details.memory.id
        self._retitle()
        self._update_buttons()
        self.loaded.emit(loaded)

    @staticmethod
    def _chosen(widget: QListWidget) -> object:
        item = widget.currentItem()
        return item.data(ID_ROLE) if item is not None else None

    @staticmethod
    def _choose(widget: QListWidget, value: object) -> None:
        """Select again, after a reload, the row that was selected before."""
        if value is None:
            return
        for row in range(widget.count()):
            if widget.item(row).data(ID_ROLE) == value:
                widget.setCurrentRow(row)
                return

    def _facts(self, loaded: MemoryOverview) -> str:
        m = loaded.details.memory
        title = (loaded.conversation.title if loaded.conversation else "") or "Untitled"
        if m.kind is Kind.EPISODE:
            first = f"Said {when(m.said_at)}"
            if m.conversation_id:
                first += f" in the conversation “{title}”"
            if m.author is not Author.CHAT:
                first += f" ({author_name(m.author)})"
        else:
            first = f"{author_name(m.author).capitalize()}, {when(m.said_at)}"
            if m.conversation_id:
                first += f", from the conversation “{title}”"
        lines = [first]
        if m.version > 1:
            lines.append(f"Changed {when(m.updated_at)} (version {m.version})")
        if loaded.said is not None and loaded.said.text != m.text:
            lines.append(f"Said as: “{one_line(loaded.said.text, 300)}” (you corrected it)")
        if m.valid_to is not None:
            lines.append(f"True until {when(m.valid_to)}; a newer fact replaced it")
        if m.sources and len(loaded.details.sources) < len(m.sources):
            lines.append("Some of what it came from was forgotten since")
        return "\n".join(lines)

    def _fill(self, widget: QListWidget, memories: tuple[Memory, ...]) -> None:
        widget.clear()
        for memory in memories:
            item = QListWidgetItem(describe(memory))
            item.setToolTip(memory.text[:2000])
            item.setData(ID_ROLE, memory.id)
            widget.addItem(item)

    def _retitle(self) -> None:
        counts = [self.sources.count(), self.derived.count(), self.history.count()]
        counts.append(self.runs.count())
        for tab, (name, count) in enumerate(zip(TABS, counts, strict=True)):
            self.tabs.setTabText(tab, f"{name} ({count})" if count else name)

    def _update_buttons(self, *_: object) -> None:
        self.open_button.setEnabled(self.conversation_target() is not None)
        self.restore_button.setEnabled(self.history.currentItem() is not None)
        run = self.selected_run()
        self.undo_button.setEnabled(
            run is not None and not run.undone and run.status != "running" and not self._undoing
        )

    # -- acting ---------------------------------------------------------------------

    def conversation_target(self) -> tuple[str, str] | None:
        """(conversation, memory) to open: the memory's own, or its first source turn's."""
        if self.shown is None:
            return None
        memory = self.shown.details.memory
        if memory.kind is Kind.EPISODE and memory.conversation_id:
            return memory.conversation_id, memory.id
        for source in self.shown.details.sources:
            if (
                source.kind is Kind.EPISODE
                and source.conversation_id
                and memory.conversation_id in (None, source.conversation_id)
            ):
                return source.conversation_id, source.id
        if memory.conversation_id:
            return memory.conversation_id, memory.id
        return None

    def _open_conversation(self) -> None:
        target = self.conversation_target()
        if target is not None:
            self.openConversation.emit(*target)

    def _activate(self, item: QListWidgetItem) -> None:
        self.memoryActivated.emit(str(item.data(ID_ROLE)))

    def _restore(self) -> None:
        item, memory_id = self.history.currentItem(), self.memory_id
        if item is None or memory_id is None:
            return
        version = int(item.data(ID_ROLE))
        self.restore_button.setEnabled(False)
        self.status.setText(f"Restoring version {version}…")
        CoreOp(
            self.session,
            lambda core: core.memories.restore_version(memory_id, version),
            parent=self,
            name="restore version",
        ).success(
            lambda m: self.status.setText(
                f"Version {version} is current again (saved as version {m.version})."
            )
        ).failure(lambda why: self.status.setText(f"The version was not restored: {why}")).run()

    def selected_run(self) -> Run | None:
        item = self.runs.currentItem()
        if item is None or self.shown is None:
            return None
        run_id = item.data(ID_ROLE)
        return next((run for run, _ in self.shown.runs if run.id == run_id), None)

    def _undo(self) -> None:
        run = self.selected_run()
        if run is None:
            return
        answer = QMessageBox.question(
            self,
            "Undo consolidation run",
            f"Undo the consolidation run of {when(run.started_at)}? The facts and summaries "
            "it added are removed and what it changed goes back to how it was. What you "
            "edited since is kept.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self._undoing = True
        self.status.setText("Undoing the run…")
        self._update_buttons()
        self.session.undo_run(run.id)

    def _undo_failed(self, message: str) -> None:
        if self._undoing:
            self._undoing = False
            self.status.setText(as_sentence(message))
            self._update_buttons()

    def _run_undone(self, undone: int, kept: int) -> None:
        if not self._undoing:
            return
        self._undoing = False
        extra = f"; {kept} that you changed since were kept" if kept else ""
        self.status.setText(f"Undid {undone} changes{extra}.")
        self._update_buttons()
