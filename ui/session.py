"""The UI's single owner of the core: opens its parts, runs the window's own work,
announces what happened.

Widgets never hold the core's parts (no store, no model): they run core calls
through :class:`~mneme.ui.core_op.CoreOp`, which asks the session whether a
part is open and runs the call on its thread pools. The session itself does
what belongs to the window as a whole (opening memory and model, replies,
consolidation in the background, settings) the same way, and answers with
signals. Memory changes from any thread (a reply being remembered, a delete)
arrive from the core as :class:`Change` announcements, merged over a moment
into one ``memoriesChanged`` signal, and views refresh themselves from it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from mneme.assistant.chat import ChatService, Finished, Reply, new_temporary_id
from mneme.assistant.consolidation import RunReport
from mneme.assistant.conversations import Turn
from mneme.assistant.core import Assistant
from mneme.assistant.drafts import DraftPacer
from mneme.assistant.errors import Part
from mneme.assistant.llm.base import CancelToken, GenerationError
from mneme.assistant.settings import Settings
from mneme.assistant.words import count as count_words
from mneme.memory import Change

from .core_op import CoreOp, Failure
from .operations import Operations

log = logging.getLogger(__name__)


class PartState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    GENERATING = "generating"
    CLOSED = "closed"
    """The session shut down: an answer arriving after that starts nothing new."""


def _unsaved(failure: Failure) -> bool:
    """Whether a failed reply also left the person's message unstored: a model that
    fails does so after the message was remembered; anything else fails before."""
    return not isinstance(failure.error, GenerationError)


class AppSession(QObject):
    memoryState = Signal(str, str)
    """(PartState, detail) of the memory store."""
    modelState = Signal(str, str)
    """(PartState, detail) of the chat model."""
    memoriesChanged = Signal(object)
    """A :class:`Change`; writes in quick succession (a consolidation run) arrive as one."""
    searchReady = Signal(bool)
    """Whether memory search can answer at once (the embedding model, loaded behind the
    window after the memory opens, is in)."""
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
    """(conversation id, its :class:`Turn` list)."""
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
    undoOffered = Signal(str)
    """A destructive action was done and can be taken back for a while: what it did."""
    undone = Signal(str)
    """What :meth:`undo` took back."""

    CONSOLIDATION_CHECK_MS = 60_000

    def __init__(self, assistant: Assistant, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.assistant = assistant
        self.operations = Operations(self)
        """The thread pools :class:`CoreOp` runs on (nothing else starts work on them)."""
        self.latest_ops: dict[tuple[int, str], int] = {}
        """The newest :class:`CoreOp` per (parent, key): older answers are dropped."""
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
        self._unsubscribe = assistant.subscribe(self._storeChanged.emit)
        self._asked: list[Settings] = []
        """Settings waiting to be applied, in order; the first is being applied."""
        self._pacer = DraftPacer()
        self._draft: tuple[str, str] | None = None
        """(conversation, text) being typed, to read ahead for."""
        self.reading_ahead = False
        self._draft_timer = QTimer(self)
        self._draft_timer.setInterval(self.DRAFT_CHECK_MS)
        self._draft_timer.timeout.connect(self._read_ahead_if_due)

    # -- loading ------------------------------------------------------------------

    def start(self) -> None:
        """Load memory and model in the background, each on its own."""
        self._open_memory()
        self._open_model()

    def _open_memory(self, *, reopen: bool = False) -> None:
        self.memory_state = PartState.LOADING
        self.memoryState.emit(PartState.LOADING, "opening memory…")

        def open_and_count(core: Assistant) -> int:
            # without the embedding model: conversations and memories show at once, and
            # the model (seconds) loads behind them, for what searches
            if reopen:
                core.reopen_memory()
            else:
                core.open_memory(load_embedder=False)
            return core.memories.count()

        CoreOp(self, open_and_count, parent=self, name="open memory", needs=(), long=True).success(
            self._memory_opened
        ).failure(self._memory_failed).run()

    def _open_model(self) -> None:
        self.model_state = PartState.LOADING
        self.modelState.emit(PartState.LOADING, "loading model…")
        CoreOp(
            self,
            lambda core: core.open_model(),
            parent=self,
            name="load model",
            needs=(),
            long=True,
        ).success(self._model_loaded).failure(self._model_failed).run()

    def _memory_opened(self, count: int) -> None:
        if self.closed:
            return
        self._consolidation_timer.start()
        self.memory_state = PartState.READY
        self.memoryState.emit(PartState.READY, count_words(count, "memory", "memories"))
        self.memoriesChanged.emit(Change())
        self._load_search()

    def _load_search(self) -> None:
        if self.assistant.search_ready:
            self.searchReady.emit(True)
            return
        self.searchReady.emit(False)
        CoreOp(
            self,
            lambda core: core.prepare_search(),
            parent=self,
            name="load the embedding model",
            needs=(),
            long=True,
        ).success(lambda _: self.searchReady.emit(True)).failure(self._memory_failed).run()

    def _memory_failed(self, why: Failure) -> None:
        if self.closed:
            return
        self.memory_state = PartState.FAILED
        self.memoryState.emit(PartState.FAILED, f"memory unavailable: {why.error or why}")

    def _model_loaded(self, backend: Any) -> None:
        if self.closed:
            return
        self.model_state = PartState.READY
        self.modelState.emit(PartState.READY, backend.name)

    def _model_failed(self, why: Failure) -> None:
        if self.closed:
            return
        self.model_state = PartState.FAILED
        self.modelState.emit(PartState.FAILED, f"the chat model cannot be used: {why.error or why}")

    def unavailable(self, part: Part) -> str | None:
        """Why ``part`` cannot be used now, as a sentence; None if it is open."""
        state = self.memory_state if part is Part.MEMORY else self.model_state
        if state in (PartState.READY, PartState.GENERATING):
            return None
        name = "Memory" if part is Part.MEMORY else "The chat model"
        if state is PartState.CLOSED:
            return "Mneme is closing."
        if state is PartState.LOADING:
            return f"{name} is still loading; try again in a moment."
        return f"{name} is not available (see the status bar)."

    def drop_answers(self, parent: QObject, key: str) -> None:
        """Forget the answer of a :class:`CoreOp` with this key still under way (the
        widget moved on to nothing)."""
        self.latest_ops.pop((id(parent), key), None)

    @property
    def closed(self) -> bool:
        return self.memory_state is PartState.CLOSED

    @property
    def memory_ready(self) -> bool:
        return self.memory_state is PartState.READY

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
        if self.memory_ready:  # counted off the UI thread: a long write may hold the ledger
            CoreOp(
                self, lambda core: core.memories.count(), parent=self, name="count memories"
            ).success(self.memoryCount.emit).run()

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

    DRAFT_CHECK_MS = 100

    def draft_changed(self, conversation_id: str, text: str) -> None:
        """The person is typing: what a reply will read is read ahead into the model
        when the pace says so (``assistant.drafts``), invisibly, never in the way."""
        self._draft = (conversation_id, text) if text.strip() else None
        if self._draft is None:
            self._pacer.sent()
            self._draft_timer.stop()
            return
        self._pacer.changed(time.monotonic())
        if not self._draft_timer.isActive():
            self._draft_timer.start()

    def _read_ahead_if_due(self) -> None:
        if not self._pacer.pending or self._draft is None:
            self._draft_timer.stop()
            return
        idle = (
            self.model_state is PartState.READY
            and not self.generating
            and not self.consolidating  # it has the model: reading ahead would only wait
        )
        if self.reading_ahead or not idle or not self._pacer.due(time.monotonic()):
            return
        conversation_id, text = self._draft
        self._pacer.started()
        self.reading_ahead = True
        CoreOp(
            self,
            lambda core: core.chat().read_ahead(conversation_id, text),
            parent=self,
            name="read ahead",
            needs=(Part.MODEL,),
        ).failure(lambda why: log.warning("reading ahead failed: %s", why)).finished(
            self._read_ahead_over
        ).run()

    def _read_ahead_over(self) -> None:
        self.reading_ahead = False

    def _reply(self, events: Callable[[ChatService, CancelToken], Iterator[object]]) -> bool:
        """Run one reply in the background; False if one is running or the model is not ready."""
        if self.model_state is not PartState.READY or self.generating:
            return False
        self._pacer.sent()  # the reply stops any read-ahead under way (ChatService)
        self._draft = None
        cancel = CancelToken()
        self._cancel = cancel
        self.model_state = PartState.GENERATING
        self.modelState.emit(PartState.GENERATING, "")
        CoreOp(
            self,
            lambda core: events(core.chat(), cancel),  # its lock may be held: not here
            parent=self,
            name="reply",
            needs=(Part.MODEL,),
        ).progress(lambda event: self._reply_event(event, cancel)).failure(
            lambda why: self.replyFailed.emit(str(why), _unsaved(why))
        ).finished(lambda: self._reply_over(cancel)).run()
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

    def reopen_memory(self) -> bool:
        """Open the memory again, e.g. once the disk has room again; not while it is in use."""
        if self.generating or self.consolidating or self.memory_state is PartState.LOADING:
            return False
        self._open_memory(reopen=True)
        return True

    # -- conversations ----------------------------------------------------------------

    def load_conversations(self, search: str = "") -> None:
        """List conversations (by title and content when ``search`` is given), off the UI
        thread; a newer listing replaces one still under way."""
        text = search.strip()
        CoreOp(
            self,
            lambda core: core.conversations.find(text) if text else core.conversations.all(),
            parent=self,
            name="list conversations",
            key="conversations",
        ).success(self.conversationsLoaded.emit).failure(
            lambda why: self.problem.emit(f"the conversations could not be listed: {why}")
        ).run()

    def load_conversation(self, conversation_id: str) -> None:
        def loaded(turns: list[Turn]) -> None:
            self.conversationLoaded.emit(conversation_id, turns)

        CoreOp(
            self,
            lambda core: core.conversations.turns(conversation_id),
            parent=self,
            name="open conversation",
            key="conversation",
        ).success(loaded).failure(self._conversation_failed).run()

    def _conversation_failed(self, why: Failure) -> None:
        # memory that is not open is said in the status bar, with its reason on the banner:
        # "could not be opened: memory is not available" would only hide that reason
        if why.error is not None:
            self.problem.emit(f"the conversation could not be opened: {why}")

    def start_temporary(self) -> str:
        """A conversation that is never remembered (known to the chat service by its id)."""
        return new_temporary_id()

    def end_temporary(self, conversation_id: str) -> None:
        if self.assistant.model is not None:
            CoreOp(
                self,
                lambda core: core.chat().end_temporary(conversation_id),
                parent=self,
                name="end temporary",
                needs=(Part.MODEL,),
            ).run()

    def rename_conversation(self, conversation_id: str, title: str) -> None:
        self._conversation_work(
            lambda core: core.conversations.rename(conversation_id, title), "renamed"
        )

    def delete_conversation(self, conversation_id: str, *, forget: bool) -> None:
        """Delete it; with ``forget`` also what was learnt only from it."""
        self._conversation_work(
            lambda core: core.conversations.delete(conversation_id, forget=forget), "deleted"
        )

    def export_conversations(self, path: str | Path, conversation_ids: Sequence[str]) -> None:
        """Markdown or JSON by the file's extension; written whole or not at all."""
        CoreOp(
            self,
            lambda core: core.conversations.export(Path(path), list(conversation_ids)),
            parent=self,
            name="export conversations",
        ).success(
            lambda n: self.notice.emit(f"Exported {count_words(n, 'conversation')} to {path}")
        ).failure(lambda why: self.problem.emit(f"the export failed: {why}")).run()

    def backup(self, folder: str | Path) -> None:
        """A consistent copy of the memory while the app runs (the CLI cannot open it then)."""
        CoreOp(
            self,
            lambda core: core.transfer.backup(Path(folder)),
            parent=self,
            name="backup",
            long=True,
        ).success(
            lambda info: self.notice.emit(
                f"Backed up {info.memories:,} memories ({info.size_bytes / 1e6:.1f} MB) "
                f"to {info.path}"
            )
        ).failure(lambda why: self.problem.emit(f"the backup failed: {why}")).run()

    def _conversation_work(self, work: Callable[[Assistant], object], done: str) -> None:
        def finished(_: object) -> None:
            self.load_conversations()
            if done == "deleted":
                self.offer_undo("Deleted the conversation.")

        CoreOp(self, work, parent=self, name=f"conversation {done}").success(finished).failure(
            lambda why: self.problem.emit(f"the conversation was not {done}: {why}")
        ).run()

    # -- undo -----------------------------------------------------------------------

    def offer_undo(self, done: str) -> None:
        """Say that something destructive was done and can be taken back (the core keeps
        what to put back, for :data:`~mneme.assistant.core.UNDO_SECONDS`)."""
        self.undoOffered.emit(done)

    def undo(self) -> None:
        """Take back the last destructive action, if it is still recent enough."""

        def taken(what: str) -> None:
            self.undone.emit(f"Took back {what}.")
            self.load_conversations()

        CoreOp(self, lambda core: core.undo(), parent=self, name="undo").success(taken).failure(
            lambda why: self.problem.emit(f"nothing was taken back: {why}")
        ).run()

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
        op: CoreOp[RunReport] = CoreOp(
            self,
            lambda core: core.consolidation.run(  # takes the assistant's lock: not here
                everything=everything,
                cancel=cancel,
                progress=lambda done, known, what: op.report((done, known, what)),
            ),
            parent=self,
            name="consolidate",
            needs=(Part.MEMORY, Part.MODEL),
            long=True,
        )
        op.progress(lambda step: self.consolidationProgress.emit(*step)).success(
            self._consolidated
        ).failure(lambda why: self._consolidated(None, why)).run()
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
        if self.memory_ready:
            CoreOp(
                self,
                lambda core: core.consolidation.conversation_left(conversation_id),
                parent=self,
                name="queue consolidation",
            ).run()

    def undo_run(self, run_id: str) -> None:
        CoreOp(
            self, lambda core: core.consolidation.undo(run_id), parent=self, name="undo run"
        ).success(lambda r: self.runUndone.emit(len(r.undone), len(r.kept))).failure(
            lambda why: self.runUndoFailed.emit(f"the run could not be undone: {why}")
        ).run()

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
        CoreOp(
            self,
            lambda core: core.apply_settings(new),
            parent=self,
            name="apply settings",
            needs=(),
            long=True,
        ).success(lambda reopen: self._settings_applied(new, reopen)).failure(
            self._settings_failed
        ).run()

    def _settings_applied(self, new: Settings, reopen: list[str]) -> None:
        self._asked.pop(0)
        if "memory" in reopen:
            self._open_memory()
        if "model" in reopen:
            self._open_model()
        self.settingsApplied.emit(new)
        if self._asked:
            self._apply_next()

    def _settings_failed(self, why: Failure) -> None:
        """Nothing was saved or closed: what showed as loading is as it was."""
        self._asked.clear()
        if self.model_state is PartState.LOADING and self.assistant.model is not None:
            self._model_loaded(self.assistant.model.backend)
        if self.memory_state is PartState.LOADING and self.assistant.memory_open:
            self.memory_state = PartState.READY
            self.memoryState.emit(PartState.READY, "memory unchanged")
        self.settingsFailed.emit(f"the settings were not saved: {why.error or why}")

    # -- shutdown -----------------------------------------------------------------

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self._unsubscribe()  # a write finishing after this must not signal a deleted object
        self._consolidation_timer.stop()
        self.stop_consolidation()
        self.stop()
        # Answers still on their way must not start new work: a core call would open
        # the memory again, and hold it from the next Mneme.
        self.memory_state = self.model_state = PartState.CLOSED
        self.operations.wait(timeout_ms)
        self.assistant.close()


__all__ = ["AppSession", "PartState", "Reply"]
