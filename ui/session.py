"""The UI's single owner of the assistant: loads it, runs its work, announces what happened.

Widgets never call the assistant directly; they ask the session, which runs
the work as background operations and answers with signals. Memory changes
from any thread (a reply being remembered, a delete) arrive as one
``memoriesChanged`` signal, and views refresh themselves from it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from assistant.chat import Finished, Reply
from assistant.core import Assistant
from assistant.llm.base import CancelToken
from memory import Change, MemoryStore
from memory.consolidation import RunReport, undo_run

from .operations import Operations

log = logging.getLogger(__name__)


class PartState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    GENERATING = "generating"


class AppSession(QObject):
    memoryState = Signal(str, str)
    """(PartState, detail) of the memory store."""
    modelState = Signal(str, str)
    """(PartState, detail) of the chat model."""
    memoriesChanged = Signal(object)
    """A :class:`Change`; writes in quick succession (a consolidation run) arrive as one."""
    _storeChanged = Signal(object)
    """From whichever thread wrote; delivered to the UI thread to be merged."""

    CHANGE_COALESCE_MS = 150
    replyEvent = Signal(object)
    """Each event of the reply being made (Retrieved, PromptReady, Token, Finished)."""
    replyFinished = Signal(object)
    replyFailed = Signal(str)
    consolidationProgress = Signal(int, int, str)
    """(jobs done, jobs known, what): emitted from the worker, delivered queued."""
    consolidationFinished = Signal(object)
    """The :class:`RunReport` of a consolidation run (or None if it could not start)."""
    runUndone = Signal(int, int)
    """(changes undone, changes kept because the user made them since)."""

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

    # -- loading ------------------------------------------------------------------

    def start(self) -> None:
        """Load memory and model in the background, each on its own."""
        self.memoryState.emit(PartState.LOADING, "opening memory…")
        self.operations.start(
            self.assistant.open_memory,
            name="open memory",
            on_result=self._memory_opened,
            on_error=self._memory_failed,
        )
        self.modelState.emit(PartState.LOADING, "loading model…")
        self.operations.start(
            self.assistant.open_model,
            name="load model",
            on_result=self._model_loaded,
            on_error=self._model_failed,
        )

    def _memory_opened(self, store: MemoryStore) -> None:
        store.subscribe(self._storeChanged.emit)
        self._consolidation_timer.start()
        self.memory_state = PartState.READY
        self.memoryState.emit(PartState.READY, f"{store.count():,} memories")
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

    @property
    def store(self) -> MemoryStore | None:
        return self.assistant.store if self.memory_state is PartState.READY else None

    # -- replying -----------------------------------------------------------------

    @property
    def generating(self) -> bool:
        return self._cancel is not None

    def send(self, conversation_id: str, text: str) -> None:
        if self.model_state is not PartState.READY or self.generating:
            return
        chat = self.assistant.chat()
        cancel = CancelToken()
        self._cancel = cancel
        self.model_state = PartState.GENERATING
        self.modelState.emit(PartState.GENERATING, "")
        self.operations.start(
            lambda: chat.send(conversation_id, text, cancel=cancel),
            name="reply",
            on_progress=self._reply_event,
            on_error=lambda exc: self.replyFailed.emit(str(exc)),
            on_finished=self._reply_done,
        )

    def _reply_event(self, event: object) -> None:
        self.replyEvent.emit(event)
        if isinstance(event, Finished):
            self.replyFinished.emit(event.reply)

    def _reply_done(self) -> None:
        self._cancel = None
        self.model_state = PartState.READY
        backend = self.assistant.backend
        self.modelState.emit(PartState.READY, backend.name if backend else "")

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    # -- memory -------------------------------------------------------------------

    def delete_memories(self, ids: Sequence[str]) -> None:
        """Forget them and what only they supported (summaries are rewritten later)."""
        store = self.store
        if store is None:
            return
        self.operations.start(
            lambda: store.forget(list(ids)),
            name="delete memories",
            on_error=lambda exc: self.replyFailed.emit(str(exc)),
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
        consolidator = self.assistant.consolidator(cancel)
        self._consolidation = cancel

        def run() -> RunReport:
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
        )
        return True

    def _consolidated(self, report: RunReport | None, error: str = "") -> None:
        self._consolidation = None
        if report is not None:
            self.last_consolidation = report
        elif error:
            self.replyFailed.emit(f"consolidation failed: {error}")
        self.consolidationFinished.emit(report)

    def conversation_left(self, conversation_id: str) -> None:
        """A conversation the user moved away from is due now, not after the idle delay."""
        store = self.store
        if store is not None and store.get_conversation(conversation_id) is not None:
            store.jobs.queue_conversation(conversation_id, store.now())

    def undo_run(self, run_id: str) -> None:
        store = self.store
        if store is None:
            return
        self.operations.start(
            lambda: undo_run(store, run_id),
            name="undo run",
            on_result=lambda r: self.runUndone.emit(len(r[0]), len(r[1])),
            on_error=lambda exc: self.replyFailed.emit(f"the run could not be undone: {exc}"),
        )

    def stop_consolidation(self) -> None:
        if self._consolidation is not None:
            self._consolidation.cancel()

    # -- shutdown -----------------------------------------------------------------

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self._consolidation_timer.stop()
        self.stop_consolidation()
        self.stop()
        self.operations.wait(timeout_ms)
        self.assistant.close()


__all__ = ["AppSession", "PartState", "Reply"]
