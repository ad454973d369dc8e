"""The UI's single owner of the assistant: loads it, runs its work, announces what happened.

Widgets never call the assistant directly; they ask the session, which runs
the work as background operations and answers with signals. Memory changes
from any thread (a reply being remembered, a delete) arrive as one
``memoriesChanged`` signal, and views refresh themselves from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from assistant import conversations
from assistant.chat import ChatService, Finished, Reply, new_temporary_id
from assistant.core import Assistant
from assistant.llm.base import CancelToken, GenerationError
from assistant.settings import Settings
from memory import Change, Hit, Memory, MemoryStore, StoreUnavailableError
from memory.consolidation import RunReport, undo_run

from .operations import Operations

log = logging.getLogger(__name__)


class PartState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    GENERATING = "generating"


def _unsaved(exc: Exception) -> bool:
    """Whether a failed reply also left the person's message unstored: a model that
    fails does so after the message was remembered; anything else fails before."""
    return not isinstance(exc, GenerationError)


class AppSession(QObject):
    memoryState = Signal(str, str)
    """(PartState, detail) of the memory store."""
    modelState = Signal(str, str)
    """(PartState, detail) of the chat model."""
    memoriesChanged = Signal(object)
    """A :class:`Change`; writes in quick succession (a consolidation run) arrive as one."""
    memoryCount = Signal(int)
    """How many memories there are, counted in a worker after each announced change."""
    _storeChanged = Signal(object)
    """From whichever thread wrote; delivered to the UI thread to be merged."""

    CHANGE_COALESCE_MS = 150
    replyEvent = Signal(object)
    """Each event of the reply being made (Retrieved, PromptReady, Token, Finished)."""
    replyFinished = Signal(object)
    replyFailed = Signal(str, bool)
    """(why, whether the message went unsaved): the reply could not be made; when the
    message was not stored either, the window gives it back to the person."""
    problem = Signal(str)
    """Any other work that failed, as a sentence for the person."""
    notice = Signal(str)
    """Work that finished and is worth a word in the status bar."""
    conversationsLoaded = Signal(object)
    """The conversations (newest first) matching the last :meth:`load_conversations`."""
    conversationLoaded = Signal(str, object)
    """(conversation id, its turns as ``(Memory, memories the turn used)``)."""
    consolidationProgress = Signal(int, int, str)
    """(jobs done, jobs known, what): emitted from the worker, delivered queued."""
    consolidationFinished = Signal(object)
    """The :class:`RunReport` of a consolidation run (or None if it could not start)."""
    runUndone = Signal(int, int)
    """(changes undone, changes kept because the user made them since)."""
    runUndoFailed = Signal(str)
    settingsApplied = Signal(object)
    """The :class:`Settings` now saved and in use."""
    settingsFailed = Signal(str)
    """Why new settings could not be saved (nothing changed)."""

    CONSOLIDATION_CHECK_MS = 60_000

    def __init__(self, assistant: Assistant, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.assistant = assistant
        self.operations = Operations(self)
        self._cancel: CancelToken | None = None
        self.memory_state = PartState.LOADING
        self.model_state = PartState.LOADING
        self._consolidation: CancelToken | None = None
        self.last_consolidation: RunReport | None = None
        self._consolidation_timer = QTimer(self)
        self._consolidation_timer.setInterval(self.CONSOLIDATION_CHECK_MS)
        self._consolidation_timer.timeout.connect(self.consolidate_if_due)
        self._pending_change = Change()
        self._change_timer = QTimer(self)
        self._change_timer.setSingleShot(True)
        self._change_timer.setInterval(self.CHANGE_COALESCE_MS)
        self._change_timer.timeout.connect(self._announce_change)
        self._storeChanged.connect(self._merge_change)
        self._unsubscribe: Callable[[], None] = lambda: None
        self._asked: list[Settings] = []
        """Settings waiting to be applied, in order; the first is being applied."""

    # -- loading ------------------------------------------------------------------

    def start(self) -> None:
        """Load memory and model in the background, each on its own."""
        self._open_memory()
        self._open_model()

    def _open_memory(self, *, reopen: bool = False) -> None:
        self.memory_state = PartState.LOADING
        self.memoryState.emit(PartState.LOADING, "opening memory…")
        opener = self.assistant.reopen_memory if reopen else self.assistant.open_memory

        def open_and_count() -> tuple[MemoryStore, int]:
            store = opener()
            return store, store.count()

        self.operations.start(
            open_and_count,
            name="open memory",
            on_result=lambda opened: self._memory_opened(*opened),
            on_error=self._memory_failed,
            long=True,
        )

    def _open_model(self) -> None:
        self.model_state = PartState.LOADING
        self.modelState.emit(PartState.LOADING, "loading model…")
        self.operations.start(
            self.assistant.open_model,
            name="load model",
            on_result=self._model_loaded,
            on_error=self._model_failed,
            long=True,
        )

    def _memory_opened(self, store: MemoryStore, count: int) -> None:
        self._unsubscribe()
        self._unsubscribe = store.subscribe(self._storeChanged.emit)
        self._consolidation_timer.start()
        self.memory_state = PartState.READY
        self.memoryState.emit(PartState.READY, f"{count:,} memories")
        self.memoriesChanged.emit(Change())

    def _memory_failed(self, exc: Exception) -> None:
        self.memory_state = PartState.FAILED
        self.memoryState.emit(PartState.FAILED, f"memory unavailable: {exc}")

    def _model_loaded(self, backend: Any) -> None:
        self.model_state = PartState.READY
        self.modelState.emit(PartState.READY, backend.name)

    def _model_failed(self, exc: Exception) -> None:
        self.model_state = PartState.FAILED
        self.modelState.emit(PartState.FAILED, f"the chat model cannot be used: {exc}")

    def _merge_change(self, change: Change) -> None:
        p = self._pending_change
        self._pending_change = Change(
            p.added + change.added, p.updated + change.updated, p.deleted + change.deleted
        )
        if not self._change_timer.isActive():
            self._change_timer.start()

    def _announce_change(self) -> None:
        change, self._pending_change = self._pending_change, Change()
        self.memoriesChanged.emit(change)
        store = self.store
        if store is not None:  # counted off the UI thread: a long write may hold the ledger
            self.operations.start(
                store.count, name="count memories", on_result=self.memoryCount.emit
            )

    @property
    def store(self) -> MemoryStore | None:
        return self.assistant.store if self.memory_state is PartState.READY else None

    # -- replying -----------------------------------------------------------------

    @property
    def generating(self) -> bool:
        return self._cancel is not None

    def send(self, conversation_id: str, text: str) -> bool:
        return self._reply(lambda chat, cancel: chat.send(conversation_id, text, cancel=cancel))

    def regenerate(self, conversation_id: str) -> bool:
        """A new reply to the last message; the old one is kept in the memory's history."""
        return self._reply(lambda chat, cancel: chat.regenerate(conversation_id, cancel=cancel))

    def edit_and_resend(self, conversation_id: str, index: int, text: str) -> bool:
        return self._reply(
            lambda chat, cancel: chat.edit_and_resend(conversation_id, index, text, cancel=cancel)
        )

    def _reply(self, events: Callable[[ChatService, CancelToken], Iterator[object]]) -> bool:
        """Run one reply in the background; False if one is running or the model is not ready."""
        if self.model_state is not PartState.READY or self.generating:
            return False
        cancel = CancelToken()
        self._cancel = cancel
        self.model_state = PartState.GENERATING
        self.modelState.emit(PartState.GENERATING, "")
        self.operations.start(
            lambda: events(self.assistant.chat(), cancel),  # its lock may be held: not here
            name="reply",
            on_progress=lambda event: self._reply_event(event, cancel),
            on_error=lambda exc: self.replyFailed.emit(self.explain(exc), _unsaved(exc)),
            on_finished=lambda: self._reply_over(cancel),
        )
        return True

    def _reply_event(self, event: object, cancel: CancelToken) -> None:
        if isinstance(event, Finished):
            # Ready before anyone hears of the reply, so a listener may send the next one.
            self._reply_over(cancel)
        self.replyEvent.emit(event)
        if isinstance(event, Finished):
            self.replyFinished.emit(event.reply)

    def _reply_over(self, cancel: CancelToken) -> None:
        if self._cancel is not cancel:
            return  # already wound up, or a later reply is running
        self._cancel = None
        if self.model_state is not PartState.GENERATING:
            return  # the model is being loaded again meanwhile (new settings)
        self.model_state = PartState.READY
        backend = self.assistant.backend
        self.modelState.emit(PartState.READY, backend.name if backend else "")

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    # -- memory -------------------------------------------------------------------

    @staticmethod
    def explain(exc: Exception) -> str:
        """The error as the person should read it, with what they can do about it."""
        if isinstance(exc, StoreUnavailableError):
            return f"{exc}. Once the disk can be written again, choose Memory → Reopen memory."
        return str(exc)

    def reopen_memory(self) -> bool:
        """Open the memory again, e.g. once the disk has room again; not while it is in use."""
        if self.generating or self.consolidating or self.memory_state is PartState.LOADING:
            return False
        self._open_memory(reopen=True)
        return True

    # -- conversations ----------------------------------------------------------------

    def load_conversations(self, search: str = "") -> None:
        """List conversations (by title and content when ``search`` is given), off the UI thread."""
        store = self.store
        if store is None:
            return
        text = search.strip()
        self.operations.start(
            lambda: store.find_conversations(text, limit=500) if text else store.conversations(),
            name="list conversations",
            on_result=self.conversationsLoaded.emit,
            on_error=lambda exc: self.problem.emit(f"the conversations could not be listed: {exc}"),
        )

    def load_conversation(self, conversation_id: str) -> None:
        store = self.store
        if store is None:
            return

        def read() -> list[tuple[Memory, list[Hit]]]:
            turns = store.conversation(conversation_id)
            return [(t, store.uses(t.id) if t.role == "assistant" else []) for t in turns]

        self.operations.start(
            read,
            name="open conversation",
            on_result=lambda turns: self.conversationLoaded.emit(conversation_id, turns),
            on_error=lambda exc: self.problem.emit(f"the conversation could not be opened: {exc}"),
        )

    def start_temporary(self) -> str:
        """A conversation that is never remembered (known to the chat service by its id)."""
        return new_temporary_id()

    def end_temporary(self, conversation_id: str) -> None:
        if self.assistant.model is not None:
            self.operations.start(
                lambda: self.assistant.chat().end_temporary(conversation_id), name="end temporary"
            )

    def rename_conversation(self, conversation_id: str, title: str) -> None:
        self._conversation_work(
            lambda store: conversations.rename(store, conversation_id, title), "renamed"
        )

    def delete_conversation(self, conversation_id: str, *, forget: bool) -> None:
        """Delete it; with ``forget`` also what was learnt only from it."""
        self._conversation_work(
            lambda store: conversations.delete(store, conversation_id, forget=forget), "deleted"
        )

    def export_conversations(self, path: str | Path, conversation_ids: Sequence[str]) -> None:
        """Markdown or JSON by the file's extension; written whole or not at all."""
        store = self.store
        if store is None:
            return
        self.operations.start(
            lambda: conversations.export(store, Path(path), list(conversation_ids)),
            name="export conversations",
            on_result=lambda n: self.notice.emit(f"Exported {n} conversation(s) to {path}"),
            on_error=lambda exc: self.problem.emit(f"the export failed: {exc}"),
        )

    def backup(self, folder: str | Path) -> None:
        """A consistent copy of the memory while the app runs (the CLI cannot open it then)."""
        if self.store is None:
            return
        self.operations.start(
            lambda: self.assistant.backup(Path(folder)),
            name="backup",
            on_result=lambda info: self.notice.emit(
                f"Backed up {info.memories:,} memories ({info.size_bytes / 1e6:.1f} MB) "
                f"to {info.path}"
            ),
            on_error=lambda exc: self.problem.emit(f"the backup failed: {self.explain(exc)}"),
            long=True,
        )

    def _conversation_work(self, work: Callable[[MemoryStore], object], done: str) -> None:
        store = self.store
        if store is None:
            return
        self.operations.start(
            lambda: work(store),
            name=f"conversation {done}",
            on_result=lambda _: self.load_conversations(),
            on_error=lambda exc: self.problem.emit(f"the conversation was not {done}: {exc}"),
        )

    # -- consolidation --------------------------------------------------------------

    @property
    def consolidating(self) -> bool:
        return self._consolidation is not None

    def consolidate_if_due(self) -> None:
        """Called by a timer: consolidate when allowed, idle and everything is loaded."""
        if self.assistant.settings.memory.auto_consolidate and not self.generating:
            self.consolidate()

    def consolidate(self, *, everything: bool = False) -> bool:
        """Start a run in the background; False if it cannot start now."""
        ready = self.model_state is PartState.READY and self.memory_state is PartState.READY
        if not ready or self.consolidating:
            return False
        cancel = CancelToken()
        self._consolidation = cancel

        def run() -> RunReport:
            consolidator = self.assistant.consolidator(cancel)  # takes the assistant's lock
            return consolidator.run(
                everything=everything,
                should_stop=lambda: cancel.cancelled,
                progress=self.consolidationProgress.emit,
            )

        self.operations.start(
            run,
            name="consolidate",
            on_result=self._consolidated,
            on_error=lambda exc: self._consolidated(None, str(exc)),
            long=True,
        )
        return True

    def _consolidated(self, report: RunReport | None, error: str = "") -> None:
        self._consolidation = None
        if report is not None:
            self.last_consolidation = report
        elif error:
            self.problem.emit(f"consolidation failed: {error}")
        self.consolidationFinished.emit(report)

    def conversation_left(self, conversation_id: str) -> None:
        """A conversation the user moved away from is due now, not after the idle delay."""
        store = self.store
        if store is None:
            return

        def queue() -> None:
            if store.get_conversation(conversation_id) is not None:
                store.jobs.queue_conversation(conversation_id, store.now())

        self.operations.start(queue, name="queue consolidation")

    def undo_run(self, run_id: str) -> None:
        store = self.store
        if store is None:
            return
        self.operations.start(
            lambda: undo_run(store, run_id),
            name="undo run",
            on_result=lambda r: self.runUndone.emit(len(r[0]), len(r[1])),
            on_error=lambda exc: self.runUndoFailed.emit(
                f"the run could not be undone: {self.explain(exc)}"
            ),
        )

    def stop_consolidation(self) -> None:
        if self._consolidation is not None:
            self._consolidation.cancel()

    # -- settings -------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The settings as last asked for: build changes on these, so that two quick
        changes (the welcome closing, a model chosen) both hold."""
        return self._asked[-1] if self._asked else self.assistant.settings

    def apply_settings(self, new: Settings) -> None:
        """Save and use ``new``, one change at a time, in the background.

        Only if the model or the memory must be opened again is a running reply or
        consolidation stopped, and that part shows as loading from now on, so nothing
        is sent to a model being closed.
        """
        reopen = Assistant.parts_to_reopen(self.settings, new)
        if reopen:
            self.stop()
            self.stop_consolidation()
        if "model" in reopen:
            self.model_state = PartState.LOADING
            self.modelState.emit(PartState.LOADING, "loading model…")
        if "memory" in reopen:
            self.memory_state = PartState.LOADING
            self.memoryState.emit(PartState.LOADING, "opening memory…")
        self._asked.append(new)
        if len(self._asked) == 1:
            self._apply_next()

    def _apply_next(self) -> None:
        new = self._asked[0]
        self.operations.start(
            lambda: self.assistant.apply_settings(new),
            name="apply settings",
            on_result=lambda reopen: self._settings_applied(new, reopen),
            on_error=lambda exc: self._settings_failed(exc),
            long=True,
        )

    def _settings_applied(self, new: Settings, reopen: list[str]) -> None:
        self._asked.pop(0)
        if "memory" in reopen:
            self._open_memory()
        if "model" in reopen:
            self._open_model()
        self.settingsApplied.emit(new)
        if self._asked:
            self._apply_next()

    def _settings_failed(self, exc: Exception) -> None:
        """Nothing was saved or closed: what showed as loading is as it was."""
        self._asked.clear()
        if self.model_state is PartState.LOADING and self.assistant.model is not None:
            self._model_loaded(self.assistant.model.backend)
        if self.memory_state is PartState.LOADING and self.assistant.store is not None:
            self.memory_state = PartState.READY
            self.memoryState.emit(PartState.READY, "memory unchanged")
        self.settingsFailed.emit(f"the settings were not saved: {exc}")

    # -- shutdown -----------------------------------------------------------------

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self._unsubscribe()  # a write finishing after this must not signal a deleted object
        self._consolidation_timer.stop()
        self.stop_consolidation()
        self.stop()
        self.operations.wait(timeout_ms)
        self.assistant.close()


__all__ = ["AppSession", "PartState", "Reply"]
