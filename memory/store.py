"""MemoryStore: the one API through which the app, the CLI and benchmarks remember.

A store is a folder holding the lock, the ledger (``ledger.sqlite3``, or one
per server in server mode) and, in embedded mode, Chroma's files (``chroma/``).
``_ledger.py`` says which datum lives where; ``retrieval.py`` how search ranks.

The store checks what it is asked, holds the write lock and tells listeners;
the work is done by one module per job, each given what it needs when the
store is opened:

* ``_writes.py``: the crash-safe write path (outbox intents, replay);
* ``_ledger_reads.py``: every read of memories; ``_conversations.py``,
  ``_usage.py`` and ``_jobs.py``: the per-machine books;
* ``_forgetting.py``: what a forget takes with it; ``_conflicts.py``: settling
  a contradiction;
* ``_search_index.py`` with ``retrieval.py``: search; ``_transcript.py``: what
  was said in each conversation, apart from what is remembered;
* ``_opening.py``, ``_maintenance.py``, ``backup.py``: the folder as a whole.

Why it is still some 900 lines: it is the public API, about sixty methods
with their docstrings (memories, conversations as said, forgetting and its
undo), each a few lines of checking and delegating; it holds no SQL and no
write logic. Opening is in two steps (the ledger, then Chroma when first
needed; see :meth:`MemoryStore.open`) so that reading never waits for Chroma.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import _chroma, _conflicts, _forgetting, _ledger_index, _maintenance, _opening
from . import backup as backups
from ._chroma import TEXT_FORMAT
from ._conversations import ConversationBook
from ._filelock import FolderLock
from ._forgetting import ForgetReport, ForgetUndo
from ._jobs import JobBook
from ._ledger import Ledger
from ._ledger_reads import Catalogue
from ._maintenance import Progress
from ._opening import ServerLocation
from ._search_index import StoreIndex
from ._transcript import TranscriptBook
from ._usage import UsageBook
from ._validation import (
    check_changes,
    check_extra,
    check_memory,
    check_text,
    check_time,
    check_unit,
)
from ._writes import Writer
from .backup import BackupInfo
from .embedding import Embedder
from .errors import (
    EmbedderMismatchError,
    InvalidMemoryError,
    MemoryNotFoundError,
    StoreUnavailableError,
)
from .records import (
    Author,
    Conversation,
    Hit,
    Kind,
    ListQuery,
    Memory,
    MemoryDetails,
    NewEpisode,
    Page,
    Scalar,
    State,
    Stats,
    TranscriptChoice,
    TranscriptTurn,
)
from .retrieval import RetrievalConfig, Retriever, SearchFilter

__all__ = ["Change", "DeleteReport", "MemoryStore", "ServerLocation"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Change:
    """What a write did, for listeners that keep views in sync."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeleteReport:
    deleted: tuple[str, ...]
    derived: tuple[str, ...]
    """Memories that cite a deleted one as a source; the caller decides their fate."""


@dataclass(slots=True)
class _Listeners:
    callbacks: list[Callable[[Change], None]] = field(default_factory=list)

    def emit(self, change: Change) -> None:
        for callback in list(self.callbacks):
            try:
                callback(change)
            except Exception:  # a broken listener must not undo a committed write
                log.exception("memory change listener failed")


def _new_id(kind: Kind) -> str:
    return f"{kind.value[:2]}-{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class _Vectors:
    """The parts that need Chroma: opened with the store, or when first needed."""

    client: Any
    collection: Any
    writer: Writer
    index: StoreIndex
    retriever: Retriever


class MemoryStore:
    """Episodes, facts and summaries, searchable by meaning and by words."""

    def __init__(
        self,
        folder: Path,
        ledger: Ledger,
        embedder: Embedder,
        lock: FolderLock,
        clock: Callable[[], float],
        retrieval: RetrievalConfig | None,
        server: ServerLocation | None,
    ) -> None:
        self.folder = folder
        self.server = server
        self._ledger = ledger
        self._embedder = embedder
        self._lock = lock
        self._clock = clock
        self._retrieval = retrieval
        self._catalogue = Catalogue(ledger)
        self._jobs = JobBook(ledger)
        self._conversations = ConversationBook(ledger)
        self._transcript = TranscriptBook(ledger)
        self._usage = UsageBook(ledger)
        self._vectors: _Vectors | None = None
        self._write_lock = threading.RLock()
        self._listeners = _Listeners()
        self._closed = False
        self.warnings: list[str] = []
        """Things the person should know about how the store was opened."""

    # -- opening ------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        folder: str | Path,
        embedder: Embedder,
        *,
        server: ServerLocation | None = None,
        clock: Callable[[], float] = time.time,
        retrieval: RetrievalConfig | None = None,
        connect: bool = True,
    ) -> MemoryStore:
        """Open (or create) the store in ``folder``.

        Without ``connect``, only the ledger is opened (a fraction of a second, where
        Chroma takes seconds at 100,000 memories): listing, reading conversations and
        browsing work at once, and Chroma is opened by :meth:`connect` or by the first
        call that needs it (searching, writing). The store connects at once anyway
        when the ledger cannot be trusted alone: after a crash left a write to finish,
        with a new or rebuilt ledger, or on a server others may write to.

        Raises :class:`StoreLockedError` if another process has it open,
        :class:`EmbedderMismatchError` if it was indexed with another model
        (nothing is changed; see :meth:`reindex`; raised by :meth:`connect` when
        not connecting here) and :class:`StoreUnavailableError` if it cannot be read
        or written.
        """
        folder = Path(folder)
        lock = _opening.prepare_folder(folder)
        ledger: Ledger | None = None
        store: MemoryStore | None = None
        warnings: list[str] = []
        try:
            ledger = _opening.open_ledger(_opening.ledger_path(folder, server), warnings)
            store = cls(folder, ledger, embedder, lock, clock, retrieval, server)
            store.warnings.extend(warnings)
            if connect or warnings or not store._ledger_alone_is_current():
                store.connect()
            return store
        except BaseException:
            if store is not None:
                store.close()
            else:
                if ledger is not None:
                    ledger.close()
                lock.release()
            raise

    def _ledger_alone_is_current(self) -> bool:
        """Whether reads from the ledger alone show what Chroma holds."""
        return (
            self.server is None and not self._ledger.pending_intents() and self._ledger.count() > 0
        )

    @property
    def connected(self) -> bool:
        """Whether Chroma is open (see :meth:`open`)."""
        return self._vectors is not None

    def connect(self) -> None:
        """Open Chroma now and finish what recovery needs (idempotent; see :meth:`open`)."""
        self._connected()

    def _connected(self) -> _Vectors:
        vectors = self._vectors
        if vectors is not None:
            return vectors
        with self._write_lock:
            if self._vectors is not None:
                return self._vectors
            if self._closed:
                raise StoreUnavailableError("the memory is closed")
            client = _chroma.open_client(_opening.location(self.folder, self.server))
            try:
                collection, others, _ = _chroma.find_collection(client, self._embedder)
                if collection is None:
                    if others:
                        raise EmbedderMismatchError(others[0], self._embedder.name)
                    collection = _chroma.create_collection(client, self._embedder)
                writer = Writer(
                    self.folder, self._ledger, self._catalogue, collection, self._embedder
                )
                index = StoreIndex(self._catalogue, collection, self._embedder)
                retriever = Retriever(index, self._clock, self._retrieval)
                self._vectors = _Vectors(client, collection, writer, index, retriever)
                self._recover()
            except BaseException:
                self._vectors = None
                _chroma.close_client(client)
                raise
            return self._vectors

    @property
    def _client(self) -> Any:
        return self._connected().client

    @property
    def _collection(self) -> Any:
        return self._connected().collection

    @property
    def _writer(self) -> Writer:
        return self._connected().writer

    @property
    def _index(self) -> StoreIndex:
        return self._connected().index

    @property
    def retriever(self) -> Retriever:
        """Search's ranking over this store (opens Chroma if it is not yet)."""
        return self._connected().retriever

    def _recover(self) -> None:
        """Bring the ledger and vectors up to date after a crash, an upgrade or another machine."""
        self._writer.replay()
        self.warnings.extend(self._writer.warnings)
        if int((self._collection.metadata or {}).get("text_format", 1)) < TEXT_FORMAT:
            _maintenance.reembed_all(self._collection, self._embedder)
        if self.server is not None or self._ledger.count() != self._collection.count():
            self.resync()
        if self._ledger.get_meta("lexical_stale"):
            with self._ledger.transaction() as db:
                _ledger_index.refresh_all_lexical(db)

    def close(self) -> None:
        if self._closed:
            return
        with self._write_lock:
            self._closed = True
            self._ledger.close()
            if self._vectors is not None:
                _chroma.close_client(self._vectors.client)
                self._vectors = None
            self._lock.release()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def jobs(self) -> JobBook:
        """Consolidation's queue, stored answers and runs (kept in the ledger)."""
        return self._jobs

    def now(self) -> float:
        return self._clock()

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def subscribe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``callback`` after every committed write; returns an unsubscribe, which
        may be called more than once."""
        self._listeners.callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.callbacks.remove(callback)

        return unsubscribe

    # -- writing ------------------------------------------------------------------

    def _commit(
        self,
        memories: list[Memory],
        history: list[tuple[Memory, float]],
        *,
        reembed: bool = True,
        transcript: Sequence[dict[str, Any]] = (),
    ) -> None:
        self._writer.upsert(memories, history, reembed=reembed, transcript=transcript)
        self._index.written(memories)

    def add_episodes(self, episodes: Sequence[NewEpisode]) -> list[Memory]:
        """Remember chat turns, in order, as one batch (one embedding call, one commit)."""
        if not episodes:
            return []
        now = self._clock()
        memories: list[Memory] = []
        with self._write_lock:
            next_seq: dict[str, int] = {}
            for episode in episodes:
                text = check_text(episode.text)
                if not episode.conversation_id or not isinstance(episode.conversation_id, str):
                    raise InvalidMemoryError("an episode needs a conversation id")
                conv = episode.conversation_id
                if conv not in next_seq:  # after every turn said, remembered or not
                    next_seq[conv] = max(
                        self._catalogue.next_seq(conv), self._transcript.last_seq(conv) + 1
                    )
                said = check_time("said_at", episode.said_at)
                memories.append(
                    Memory(
                        id=_new_id(Kind.EPISODE),
                        kind=Kind.EPISODE,
                        text=text,
                        said_at=said if said is not None else now,
                        stored_at=now,
                        updated_at=now,
                        conversation_id=conv,
                        role=episode.role,
                        speaker=episode.speaker,
                        seq=next_seq[conv],
                        author=episode.author,
                        extra=check_extra(episode.extra),
                    )
                )
                next_seq[conv] += 1
            self._commit(memories, history=[])
        self._listeners.emit(Change(added=tuple(m.id for m in memories)))
        return memories

    def add_episode(self, episode: NewEpisode) -> Memory:
        return self.add_episodes([episode])[0]

    def add_memory(
        self,
        kind: Kind,
        text: str,
        *,
        sources: Sequence[str] = (),
        said_at: float | None = None,
        importance: float = 0.5,
        confidence: float = 1.0,
        pinned: bool = False,
        author: Author = Author.USER,
        conversation_id: str | None = None,
        scope: str | None = None,
        valid_from: float | None = None,
        extra: Mapping[str, Scalar] | None = None,
    ) -> Memory:
        """Add a fact or summary, or a note written by hand."""
        now = self._clock()
        said = check_time("said_at", said_at)
        memory = Memory(
            id=_new_id(kind),
            kind=Kind(kind),
            text=check_text(text),
            said_at=said if said is not None else now,
            stored_at=now,
            updated_at=now,
            conversation_id=conversation_id,
            importance=check_unit("importance", importance),
            confidence=check_unit("confidence", confidence),
            pinned=bool(pinned),
            sources=tuple(dict.fromkeys(sources)),
            author=author,
            scope=scope,
            valid_from=check_time("valid_from", valid_from),
            extra=check_extra(extra or {}),
        )
        with self._write_lock:
            self._commit([memory], history=[])
        self._listeners.emit(Change(added=(memory.id,)))
        return memory

    def update(self, memory_id: str, *, author: Author = Author.USER, **changes: Any) -> Memory:
        """Change a memory; the previous version goes to its history with who changed it."""
        changes = check_changes(changes)
        with self._write_lock:
            old = self.get(memory_id)
            if all(getattr(old, k) == v for k, v in changes.items()):
                return old
            new = replace(
                old, **changes, version=old.version + 1, author=author, updated_at=self._clock()
            )
            reembed = any(k in changes for k in ("text", "said_at"))
            self._commit([new], history=[(old, new.updated_at)], reembed=reembed)
        self._listeners.emit(Change(updated=(memory_id,)))
        return new

    def edit(self, memory_id: str, text: str, *, author: Author = Author.USER) -> Memory:
        """Change a memory's text; the previous version goes to its history."""
        return self.update(memory_id, author=author, text=text)

    def restore_version(self, memory_id: str, version: int) -> Memory:
        """Make an earlier version current again (as a new version, by the user)."""
        earlier = {m.version: m for m in self.history(memory_id)}
        if version not in earlier:
            raise MemoryNotFoundError(f"{memory_id!r} has no version {version}")
        old = earlier[version]
        return self.update(
            memory_id,
            author=Author.USER,
            text=old.text,
            importance=old.importance,
            confidence=old.confidence,
            state=old.state,
            valid_to=old.valid_to,
            superseded_by=old.superseded_by,
            sources=old.sources,
            extra=old.extra,
            said_at=old.said_at,
        )

    def set_pinned(self, memory_id: str, pinned: bool) -> Memory:
        """Pin or unpin; a flag, not an edit, so no version is recorded."""
        with self._write_lock:
            old = self.get(memory_id)
            if old.pinned == pinned:
                return old
            new = replace(old, pinned=pinned, updated_at=self._clock())
            self._commit([new], history=[], reembed=False)
        self._listeners.emit(Change(updated=(memory_id,)))
        return new

    def delete(self, ids: Iterable[str]) -> DeleteReport:
        """Delete memories for real: from Chroma, every index and their history."""
        wanted = list(dict.fromkeys(ids))
        with self._write_lock:
            found = self._catalogue.get(wanted)
            existing = [i for i in wanted if i in found]
            if not existing:
                return DeleteReport((), ())
            derived = self._catalogue.derived_from(existing)
            self._writer.delete(existing)
            self._index.reload_speakers()
        self._listeners.emit(Change(deleted=tuple(existing)))
        return DeleteReport(tuple(existing), tuple(derived))

    def forget(
        self,
        ids: Iterable[str],
        *,
        transcript: TranscriptChoice = TranscriptChoice.KEEP_WORDS,
    ) -> ForgetReport:
        """Delete memories and everything that only they supported (see ``_forgetting``),
        in one write: facts they partly supported lose them as sources, facts a deleted
        fact superseded are current again, and summaries that used them are deleted now
        and queued to be written again. The conversations the forgotten turns were said
        in keep them as ``transcript`` says (see ``_transcript.py``)."""
        wanted = list(dict.fromkeys(ids))
        choice = TranscriptChoice(transcript)
        with self._write_lock:
            now = self._clock()
            forgetting = _forgetting.decide(self._catalogue, wanted, now)
            if not forgetting.deleted:
                return forgetting.report
            self._writer.forget(forgetting, now, choice)
            self._index.reload_speakers()
        updated = tuple(new.id for _, new in forgetting.changed)
        self._listeners.emit(Change(updated=updated, deleted=forgetting.deleted))
        return forgetting.report

    def capture_forget(self, ids: Iterable[str]) -> ForgetUndo:
        """What forgetting ``ids`` would change, as it is now: hand it to
        :meth:`undo_forget` to take the forget back. Kept by the caller, in memory."""
        with self._write_lock:
            return _forgetting.capture(self._catalogue, self._transcript, list(dict.fromkeys(ids)))

    def undo_forget(self, undo: ForgetUndo) -> list[str]:
        """Put back what a forget took (see :meth:`capture_forget`): the memories with
        their history, the facts as they were, the turns in their conversations as they
        were. Returns the ids put back; what was written again since is kept."""
        with self._write_lock:
            back = self.restore(list(undo.deleted), list(undo.history))
            self.put_back_turns(undo.turns)
            for before in undo.changed:
                current = self.get_many([before.id])
                if current and current[0].version > before.version:
                    self.update(
                        before.id,
                        author=Author.USER,
                        sources=before.sources,
                        state=before.state,
                        valid_to=before.valid_to,
                        superseded_by=before.superseded_by,
                    )
        conversations = tuple({t.conversation_id for t in undo.turns})
        self._listeners.emit(Change(added=tuple(back), updated=conversations))
        return back

    def forget_preview(self, ids: Iterable[str]) -> tuple[list[Memory], list[Memory]]:
        """What :meth:`forget` would delete, and the facts it would keep with fewer sources."""
        gone, trimmed, _ = _forgetting.plan(self._catalogue, list(dict.fromkeys(ids)))
        return self.get_many(sorted(gone)), self.get_many(sorted(trimmed))

    def resolve_conflict(self, keep_id: str, drop_id: str | None = None) -> list[Memory]:
        """Settle a contradiction that consolidation flagged (``extra[CONFLICTS_WITH]``
        on the newer fact) the way the person decided; returns the changed memories.

        With ``drop_id``, ``keep_id`` holds and ``drop_id`` is superseded by it (a
        dropped older fact stays in ``facts_as_of`` for the time it held; a dropped
        newer one never held), its earlier version in history; nothing is deleted.
        Without ``drop_id`` both are true. One commit (see ``_conflicts``).
        """
        with self._write_lock:
            keep = self.get(keep_id)
            drop = self.get(drop_id) if drop_id is not None else None
            changed = _conflicts.settle(keep, drop, self._clock())
            if changed:
                history = [(old, new.updated_at) for old, new in changed]
                self._commit([new for _, new in changed], history, reembed=False)
        if changed:
            self._listeners.emit(Change(updated=tuple(new.id for _, new in changed)))
        return [new for _, new in changed]

    def restore(
        self, memories: Sequence[Memory], history: Sequence[tuple[Memory, float]] = ()
    ) -> list[str]:
        """Put back memories exactly as given (ids, times, versions): the import path,
        and consolidation's, whose memories have ids derived from their inputs so
        that a job redone after a crash writes nothing twice.

        ``history`` holds earlier versions with the time each was replaced.
        Memories whose id already exists are skipped; returns the ids written.
        """
        memories = [check_memory(m) for m in memories]
        history = [(check_memory(h), check_time("changed_at", at) or 0.0) for h, at in history]
        with self._write_lock:
            existing = self._catalogue.get([m.id for m in memories])
            new: list[Memory] = []
            for m in memories:  # an id given twice is written once, the first time
                if m.id not in existing:
                    existing[m.id] = m
                    new.append(m)
            for chunk in _chroma.batched(new, 500):
                ids = {m.id for m in chunk}
                self._commit(list(chunk), [h for h in history if h[0].id in ids])
                self._usage.set_usage(
                    [(m.id, m.access_count, m.last_access) for m in chunk if m.access_count]
                )
            self._index.reload_speakers()
        written = [m.id for m in new]
        if written:
            self._listeners.emit(Change(added=tuple(written)))
        return written

    def record_access(self, ids: Sequence[str]) -> None:
        """Note that these memories were handed to a prompt (feeds recency and decay).

        One call is one use: an id listed twice counts once."""
        if ids:
            self._usage.record_access(list(dict.fromkeys(ids)), self._clock())

    def record_use(self, reply_id: str, hits: Sequence[Hit]) -> None:
        """Remember which memories a reply was given, with why, for showing later."""
        self._usage.record_use(reply_id, [(h.memory.id, h.score, h.explanation) for h in hits])

    # -- reading ------------------------------------------------------------------

    def get(self, memory_id: str) -> Memory:
        found = self._catalogue.get([memory_id])
        if memory_id not in found:
            raise MemoryNotFoundError(f"no memory with id {memory_id!r}")
        return found[memory_id]

    def get_many(self, ids: Sequence[str]) -> list[Memory]:
        found = self._catalogue.get(list(ids))
        return [found[i] for i in ids if i in found]

    def history(self, memory_id: str) -> list[Memory]:
        """Earlier versions of a memory, oldest first (the current one excluded)."""
        return self._catalogue.history(memory_id)

    def all_history(self) -> list[tuple[Memory, float]]:
        """Every earlier version in the store, with the time it was replaced."""
        return self._catalogue.all_history()

    def derived_from(self, ids: Sequence[str]) -> list[str]:
        return self._catalogue.derived_from(list(ids))

    def details(self, memory_id: str) -> MemoryDetails:
        memory = self.get(memory_id)
        return MemoryDetails(
            memory=memory,
            history=tuple(self.history(memory_id)),
            sources=tuple(self.get_many(memory.sources)),
            derived=tuple(self.get_many(self.derived_from([memory_id]))),
        )

    def count(self, kind: Kind | None = None) -> int:
        return self._catalogue.count(kind)

    def browse(self, query: ListQuery = ListQuery()) -> Page:  # noqa: B008 - frozen
        """A page of memories, filtered and sorted, with the total over all pages."""
        return self._catalogue.page(query)

    def position(self, memory_id: str, query: ListQuery) -> int | None:
        """The row at which :meth:`browse` with ``query`` lists a memory (None if the
        query's filters leave it out)."""
        return self._catalogue.position(memory_id, query)

    def facts_as_of(self, when: float) -> list[Memory]:
        """The facts that were true at ``when``: superseded ones included, if they were
        still valid then."""
        return self._catalogue.facts_as_of(when)

    def superseded_by(self, memory_id: str) -> list[str]:
        """Ids of the facts that ``memory_id`` superseded."""
        return self._catalogue.superseded_by(memory_id)

    def conflicts(self) -> list[tuple[Memory, Memory | None]]:
        """The open contradictions, newest first: each flagged fact (active or archived)
        with the older fact it contradicts, or None if that one was forgotten since.
        One query, however many facts there are."""
        return _conflicts.open_pairs(self._catalogue)

    def conversation(self, conversation_id: str, *, superseded: bool = False) -> list[Memory]:
        """The turns of a conversation in the order they were said.

        Turns replaced by a regenerated reply or an edit are left out unless
        ``superseded``; they stay in memory, browsable, with their history.
        """
        return self._catalogue.turns(conversation_id, superseded=superseded)

    def uses(self, reply_id: str) -> list[Hit]:
        """The memories a reply was given (those still remembered), best first."""
        used = self._usage.uses(reply_id)
        found = self._catalogue.get([memory_id for memory_id, _, _ in used])
        return [Hit(found[m], score, why) for m, score, why in used if m in found]

    def neighbour(self, memory: Memory, step: int) -> Memory | None:
        """The turn ``step`` places before (negative) or after (positive) an episode."""
        if memory.kind is not Kind.EPISODE or not memory.conversation_id:
            return None
        return self._catalogue.neighbour(memory.conversation_id, memory.seq, step)

    def search(
        self,
        query: str,
        *,
        k: int = 8,
        filters: SearchFilter | None = None,
        exclude: Sequence[str] = (),
        query_vector: Sequence[float] | None = None,
    ) -> list[Hit]:
        """Memories most related to ``query`` (see ``retrieval.py`` for how they rank)."""
        if not isinstance(query, str) or not query.strip() or self.count() == 0:
            return []
        return self.retriever.search(
            query, k=k, filters=filters, exclude=exclude, query_vector=query_vector
        )

    def stats(self) -> Stats:
        by_kind, by_state, pinned = self._catalogue.counts()
        size = sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())
        return Stats(
            by_kind=by_kind,
            by_state=by_state,
            conversations=self._conversations.count(),
            pinned=pinned,
            size_bytes=size,
            embedder=self._embedder.name,
        )

    # -- conversations ------------------------------------------------------------

    def conversations(self) -> list[Conversation]:
        """Conversations with at least one remembered turn or a title, newest first."""
        return self._conversations.all()

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        return self._conversations.get(conversation_id)

    def find_conversations(self, text: str, limit: int = 50) -> list[Conversation]:
        """Conversations in which every word of ``text`` appears, in the title or a turn."""
        return self._conversations.find(text, limit)

    def set_conversation_title(self, conversation_id: str, title: str) -> None:
        self._conversations.set_title(conversation_id, title, self._clock())
        self._listeners.emit(Change(updated=(conversation_id,)))

    def restore_conversations(self, conversations: Sequence[Conversation]) -> None:
        """Put back conversation titles and times as exported (the import path)."""
        self._conversations.restore(conversations)
        if conversations:
            self._listeners.emit(Change(updated=tuple(c.id for c in conversations)))

    def delete_conversation(self, conversation_id: str, *, forget: bool) -> DeleteReport:
        """Drop a conversation from the list, with what was said in it; with ``forget``,
        forget its turns too (and what only they supported).

        Without ``forget`` its turns stay in memory and keep being recalled.
        """
        report = DeleteReport((), ())
        if forget:
            turns = self.conversation(conversation_id, superseded=True)
            forgotten = self.forget([m.id for m in turns], transcript=TranscriptChoice.REMOVE_TURN)
            report = DeleteReport(forgotten.deleted, forgotten.trimmed)
        self._conversations.delete(conversation_id)
        self._listeners.emit(Change(deleted=(conversation_id,)))
        return report

    # -- what was said ------------------------------------------------------------

    def transcript(self, conversation_id: str, *, replaced: bool = False) -> list[TranscriptTurn]:
        """A conversation as it was said, in order: its turns with their words as they
        were said (a memory edited since keeps its own text), also turns whose memory
        was forgotten if the person kept them (see :class:`TurnState`); with
        ``replaced``, the turns a regenerated reply or an edit replaced too."""
        return self._transcript.turns(conversation_id, replaced=replaced)

    def put_back_turns(self, turns: Sequence[TranscriptTurn]) -> None:
        """Turns exactly as they were (undoing a forget or a deletion), whatever they
        are now."""
        if turns:
            with self._write_lock, self._ledger.transaction() as db:
                TranscriptBook.put_back(db, turns)
            self._listeners.emit(Change(updated=tuple({t.conversation_id for t in turns})))

    def transcripts(self) -> list[TranscriptTurn]:
        """Every conversation's turns as said (for a lossless export)."""
        return self._transcript.everything()

    def restore_transcript(self, turns: Sequence[TranscriptTurn]) -> None:
        """Put back turns as exported (the import path); turns already here are kept."""
        if turns:
            with self._write_lock, self._ledger.transaction() as db:
                TranscriptBook.restore(db, turns)
            self._listeners.emit(Change(updated=tuple({t.conversation_id for t in turns})))

    def transcript_turns(self, ids: Sequence[str]) -> dict[str, TranscriptTurn]:
        """These turns as said (those still in a conversation), by id."""
        return self._transcript.get(list(ids))

    def replace_turns(self, ids: Sequence[str], *, author: Author = Author.USER) -> None:
        """Turns a regenerated reply or an edited message replaces: gone from their
        conversation; their memories stay in memory as superseded versions. One write."""
        wanted = list(dict.fromkeys(ids))
        with self._write_lock:
            now = self._clock()
            olds = [m for m in self.get_many(wanted) if m.state is not State.SUPERSEDED]
            news = [
                replace(
                    m, state=State.SUPERSEDED, version=m.version + 1, author=author, updated_at=now
                )
                for m in olds
            ]
            self._commit(
                news,
                [(m, now) for m in olds],
                reembed=False,
                transcript=[{"op": "replace", "ids": wanted}],
            )
        self._listeners.emit(Change(updated=tuple(wanted)))

    def change_words(self, turn_id: str, text: str, *, author: Author = Author.USER) -> Memory:
        """What was said in a turn changes (the person edited their message, a reply was
        continued): its words in the conversation and its memory, in one write."""
        text = check_text(text)
        with self._write_lock:
            old = self.get(turn_id)
            new = replace(
                old, text=text, version=old.version + 1, author=author, updated_at=self._clock()
            )
            self._commit(
                [new],
                [(old, new.updated_at)],
                transcript=[{"op": "words", "id": turn_id, "text": text}],
            )
        self._listeners.emit(Change(updated=(turn_id,)))
        return new

    # -- the folder as a whole ----------------------------------------------------

    def resync(self, progress: Progress | None = None) -> int:
        """Make the ledger's derived indexes match Chroma; returns how many records changed.

        Needed when the ledger is new or damaged, or when another machine wrote to
        the same Chroma server.
        """
        with self._write_lock:
            stale, gone = _maintenance.resync(
                self._collection, self._ledger, self._catalogue, progress
            )
            self._index.reload_speakers()
        if stale or gone:
            log.info("memory ledger resynced: %d updated, %d removed", len(stale), len(gone))
            self._listeners.emit(Change(updated=tuple(stale), deleted=tuple(gone)))
        return len(stale) + len(gone)

    @classmethod
    def reindex(
        cls,
        folder: str | Path,
        embedder: Embedder,
        *,
        server: ServerLocation | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Re-embed the whole store with ``embedder`` from the verbatim texts.

        Builds a new collection beside the old one and switches only when it is
        complete, so an interruption leaves the old index in use; run again to
        finish. Returns the number of memories re-indexed (0 if already done).
        """
        folder = Path(folder)
        lock = _opening.prepare_folder(folder)
        client = None
        try:
            client = _chroma.open_client(_opening.location(folder, server))
            return _maintenance.reindex(client, embedder, progress)
        finally:
            _chroma.close_client(client)
            lock.release()

    def backup(self, dest: str | Path) -> BackupInfo:
        """A consistent copy of the whole memory folder in ``dest`` (see ``memory.backup``);
        safe while the store is in use: writes wait until the copy is made."""
        with self._write_lock:  # quiescent: no write from this process, none from others
            quiescent = backups.Quiescent(
                folder=self.folder,
                ledger=self._ledger,
                memories=self.count(),
                embedder=self._embedder.name,
                now=self._clock(),
                on_server=self.server is not None,
            )
            return backups.create(quiescent, Path(dest))

    @classmethod
    def restore_backup(
        cls, source: str | Path, folder: str | Path, embedder: Embedder
    ) -> tuple[BackupInfo, Path | None]:
        """Replace the memory in ``folder`` with the backup in ``source``, checked by
        opening it; returns the backup's description and where the previous folder
        was kept (see ``memory.backup``). Refused while the memory is open."""

        def count_opened(restored: Path) -> int:
            with cls.open(restored, embedder) as store:
                return store.count()

        return backups.restore(Path(source), Path(folder), count_opened)
