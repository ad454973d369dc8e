"""MemoryStore: the one API through which the app, the CLI and benchmarks remember.

A store is a folder holding the ledger (``ledger.sqlite3``), the lock and, in
embedded mode, Chroma's files (``chroma/``). See ``_ledger.py`` for which datum
lives where and how a write reaches both stores safely.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import _chroma
from ._filelock import FolderLock
from ._ledger import Ledger, record_json
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
    Memory,
    NewEpisode,
    ScoreExplanation,
    State,
)

log = logging.getLogger(__name__)

#: Longest text a memory may hold. A pasted book chapter fits; a whole book
#: does not, and should be imported as a document instead.
MAX_TEXT_CHARS = 1_000_000

_CHROMA_BATCH = 1000


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


@dataclass(frozen=True, slots=True)
class SearchFilter:
    kinds: tuple[Kind, ...] = ()
    states: tuple[State, ...] = (State.ACTIVE,)
    conversation_id: str | None = None
    exclude_conversation_id: str | None = None
    since: float | None = None
    until: float | None = None
    pinned_only: bool = False


@dataclass(frozen=True, slots=True)
class ServerLocation:
    url: str
    token: str | None = None


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


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidMemoryError(f"a memory's text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise InvalidMemoryError("a memory cannot be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidMemoryError(
            f"a memory can hold at most {MAX_TEXT_CHARS:,} characters; this one has {len(text):,}"
        )
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")  # SQLite and Chroma truncate at NUL
    return text


_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str:
    """An FTS5 expression that ORs the words of free text, each quoted literally."""
    words = {w.lower() for w in _WORD.findall(text) if len(w) > 1 or w.isdigit()}
    return " OR ".join(f'"{w}"' for w in sorted(words))


class MemoryStore:
    """Episodes, facts and summaries, searchable by meaning and by words."""

    def __init__(
        self,
        folder: Path,
        ledger: Ledger,
        collection: Any,
        embedder: Embedder,
        lock: FolderLock,
        clock: Callable[[], float],
    ) -> None:
        self.folder = folder
        self._ledger = ledger
        self._collection = collection
        self._embedder = embedder
        self._lock = lock
        self._clock = clock
        self._write_lock = threading.RLock()
        self._listeners = _Listeners()
        self._closed = False

    # -- opening ------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        folder: str | Path,
        embedder: Embedder,
        *,
        server: ServerLocation | None = None,
        clock: Callable[[], float] = time.time,
    ) -> MemoryStore:
        """Open (or create) the store in ``folder``.

        Raises :class:`StoreLockedError` if another process has it open,
        :class:`EmbedderMismatchError` if it was indexed with another model and
        :class:`StoreUnavailableError` if it cannot be read or written.
        """
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot create the memory folder {folder}: {exc}") from exc
        lock = FolderLock(folder)
        try:
            lock.acquire()
        except OSError as exc:
            raise StoreUnavailableError(
                f"the memory folder {folder} is not writable: {exc}"
            ) from exc
        try:
            ledger = Ledger(folder / "ledger.sqlite3")
            stored_embedder = ledger.get_meta("embedder")
            if stored_embedder is not None and stored_embedder != embedder.name:
                ledger.close()
                raise EmbedderMismatchError(stored_embedder, embedder.name)
            location = (
                _chroma.ChromaLocation(url=server.url, token=server.token)
                if server
                else _chroma.ChromaLocation(path=folder / "chroma")
            )
            client = _chroma.open_client(location)
            collection = _chroma.open_collection(client, embedder)
            stored_in_chroma = (collection.metadata or {}).get("embedder")
            if stored_in_chroma and stored_in_chroma != embedder.name:
                ledger.close()
                raise EmbedderMismatchError(str(stored_in_chroma), embedder.name)
            if stored_embedder is None:
                ledger.set_meta("embedder", embedder.name)
            store = cls(folder, ledger, collection, embedder, lock, clock)
            store._replay_outbox()
            return store
        except BaseException:
            lock.release()
            raise

    def close(self) -> None:
        if self._closed:
            return
        with self._write_lock:
            self._closed = True
            self._ledger.close()
            self._lock.release()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def subscribe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``callback`` after every committed write; returns an unsubscribe."""
        self._listeners.callbacks.append(callback)
        return lambda: self._listeners.callbacks.remove(callback)

    # -- writing ------------------------------------------------------------------

    def add_episodes(self, episodes: Sequence[NewEpisode]) -> list[Memory]:
        """Remember chat turns, in order, as one batch (one embedding call, one commit)."""
        if not episodes:
            return []
        now = self._clock()
        memories: list[Memory] = []
        with self._write_lock:
            next_seq: dict[str, int] = {}
            for episode in episodes:
                text = _check_text(episode.text)
                if not episode.conversation_id:
                    raise InvalidMemoryError("an episode needs a conversation id")
                conv = episode.conversation_id
                if conv not in next_seq:
                    next_seq[conv] = self._ledger.next_seq(conv)
                memories.append(
                    Memory(
                        id=_new_id(Kind.EPISODE),
                        kind=Kind.EPISODE,
                        text=text,
                        said_at=float(episode.said_at if episode.said_at is not None else now),
                        stored_at=now,
                        updated_at=now,
                        conversation_id=conv,
                        role=episode.role,
                        speaker=episode.speaker,
                        seq=next_seq[conv],
                        author=episode.author,
                    )
                )
                next_seq[conv] += 1
            self._commit_upserts(memories, history=[])
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
        pinned: bool = False,
        author: Author = Author.USER,
        conversation_id: str | None = None,
    ) -> Memory:
        """Add a fact or summary (or a note written by hand)."""
        text = _check_text(text)
        if not 0.0 <= importance <= 1.0 or math.isnan(importance):
            raise InvalidMemoryError("importance must be between 0 and 1")
        now = self._clock()
        memory = Memory(
            id=_new_id(kind),
            kind=kind,
            text=text,
            said_at=float(said_at if said_at is not None else now),
            stored_at=now,
            updated_at=now,
            conversation_id=conversation_id,
            importance=importance,
            pinned=pinned,
            sources=tuple(dict.fromkeys(sources)),
            author=author,
        )
        with self._write_lock:
            self._commit_upserts([memory], history=[])
        self._listeners.emit(Change(added=(memory.id,)))
        return memory

    def edit(self, memory_id: str, text: str, *, author: Author = Author.USER) -> Memory:
        """Change a memory's text; the previous version goes to its history."""
        text = _check_text(text)
        with self._write_lock:
            old = self.get(memory_id)
            if old.text == text:
                return old
            new = replace(
                old, text=text, version=old.version + 1, author=author, updated_at=self._clock()
            )
            self._commit_upserts([new], history=[old])
        self._listeners.emit(Change(updated=(memory_id,)))
        return new

    def set_pinned(self, memory_id: str, pinned: bool) -> Memory:
        with self._write_lock:
            old = self.get(memory_id)
            if old.pinned == pinned:
                return old
            new = replace(old, pinned=pinned, updated_at=self._clock())
            self._commit_upserts([new], history=[], reembed=False)
        self._listeners.emit(Change(updated=(memory_id,)))
        return new

    def delete(self, ids: Iterable[str]) -> DeleteReport:
        """Delete memories for real: from Chroma, every index and their history."""
        wanted = list(dict.fromkeys(ids))
        with self._write_lock:
            existing = [i for i in wanted if i in self._ledger.get(wanted)]
            if not existing:
                return DeleteReport((), ())
            derived = self._ledger.derived_from(existing)
            seq = self._ledger.push_intent({"op": "delete", "ids": existing})
            self._apply_delete(seq, existing)
        self._listeners.emit(Change(deleted=tuple(existing)))
        return DeleteReport(tuple(existing), tuple(derived))

    # -- reading ------------------------------------------------------------------

    def get(self, memory_id: str) -> Memory:
        found = self._ledger.get([memory_id])
        if memory_id not in found:
            raise MemoryNotFoundError(f"no memory with id {memory_id!r}")
        return found[memory_id]

    def get_many(self, ids: Sequence[str]) -> list[Memory]:
        found = self._ledger.get(list(ids))
        return [found[i] for i in ids if i in found]

    def history(self, memory_id: str) -> list[Memory]:
        """Earlier versions of a memory, oldest first (the current one excluded)."""
        return self._ledger.history(memory_id)

    def derived_from(self, ids: Sequence[str]) -> list[str]:
        return self._ledger.derived_from(list(ids))

    def count(self, kind: Kind | None = None) -> int:
        if kind is None:
            return self._ledger.count()
        return self._ledger.count("kind=?", (kind.value,))

    def memories(
        self,
        *,
        kind: Kind | None = None,
        conversation_id: str | None = None,
        newest_first: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Memory]:
        clauses, params = [], []
        if kind is not None:
            clauses.append("items.kind=?")
            params.append(kind.value)
        if conversation_id is not None:
            clauses.append("items.conversation_id=?")
            params.append(conversation_id)
        order = "DESC" if newest_first else "ASC"
        return self._ledger.select(
            " AND ".join(clauses),
            [*params, limit, offset],
            f"ORDER BY items.said_at {order}, items.seq {order} LIMIT ? OFFSET ?",
        )

    def conversation(self, conversation_id: str) -> list[Memory]:
        """The turns of a conversation in the order they were said."""
        return self._ledger.select(
            "items.conversation_id=? AND items.kind='episode'",
            (conversation_id,),
            "ORDER BY items.seq",
        )

    def search(self, query: str, *, k: int = 8, filters: SearchFilter | None = None) -> list[Hit]:
        """Memories most related to ``query``, by meaning and by words, fused.

        Reciprocal-rank fusion keeps the two rankings' very different score
        scales from having to be calibrated against each other.
        """
        filters = filters or SearchFilter()
        if not query.strip() or k <= 0 or self.count() == 0:
            return []
        depth = max(4 * k, 20)
        dense = self._dense(query, depth, filters)
        lexical = self._lexical(query, depth, filters)
        rrf_k = 60.0
        fused: dict[str, float] = {}
        for rank, (memory_id, _) in enumerate(dense, 1):
            fused[memory_id] = fused.get(memory_id, 0.0) + 1.0 / (rrf_k + rank)
        for rank, (memory_id, _) in enumerate(lexical, 1):
            fused[memory_id] = fused.get(memory_id, 0.0) + 1.0 / (rrf_k + rank)
        dense_info = {m: (s, r) for r, (m, s) in enumerate(dense, 1)}
        lexical_info = {m: (s, r) for r, (m, s) in enumerate(lexical, 1)}
        ranked = sorted(fused, key=lambda m: -fused[m])[:k]
        found = self._ledger.get(ranked)
        hits = []
        for memory_id in ranked:
            if memory_id not in found:
                continue
            d = dense_info.get(memory_id)
            lx = lexical_info.get(memory_id)
            hits.append(
                Hit(
                    memory=found[memory_id],
                    score=fused[memory_id],
                    explanation=ScoreExplanation(
                        dense=d[0] if d else None,
                        dense_rank=d[1] if d else None,
                        lexical=lx[0] if lx else None,
                        lexical_rank=lx[1] if lx else None,
                        fused=fused[memory_id],
                        importance=found[memory_id].importance,
                    ),
                )
            )
        return hits

    # -- conversations ------------------------------------------------------------

    def conversations(self) -> list[Conversation]:
        """Conversations with at least one remembered turn or a title, newest first."""
        return self._ledger.conversations()

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = self._ledger.conversations("c.id = ?", (conversation_id,))
        return found[0] if found else None

    def set_conversation_title(self, conversation_id: str, title: str) -> None:
        title = " ".join(title.split())[:200]
        now = self._clock()
        with self._ledger.transaction() as db:
            db.execute(
                "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET title = excluded.title",
                (conversation_id, title, now, now),
            )
        self._listeners.emit(Change(updated=(conversation_id,)))

    def delete_conversation(self, conversation_id: str, *, forget: bool) -> DeleteReport:
        """Drop a conversation from the list; with ``forget``, delete its turns too.

        Without ``forget`` its turns stay in memory (and keep being recalled),
        listed under no conversation.
        """
        report = DeleteReport((), ())
        if forget:
            ids = [m.id for m in self.conversation(conversation_id)]
            report = self.delete(ids)
        with self._ledger.transaction() as db:
            db.execute("DELETE FROM conversations WHERE id=?", (conversation_id,))
        self._listeners.emit(Change(deleted=(conversation_id,)))
        return report

    # -- internals ----------------------------------------------------------------

    def _index_text(self, memory: Memory) -> str:
        return memory.text

    def _commit_upserts(
        self, memories: list[Memory], history: list[Memory], *, reembed: bool = True
    ) -> None:
        payload = {
            "op": "upsert",
            "records": [{"text": m.text, "record": record_json(m)} for m in memories],
            "history": [{"text": h.text, "record": record_json(h)} for h in history],
            "reembed": reembed,
            "at": self._clock(),
        }
        seq = self._ledger.push_intent(payload)
        self._apply_upsert(seq, memories, history, reembed=reembed)

    def _apply_upsert(
        self, seq: int, memories: list[Memory], history: list[Memory], *, reembed: bool
    ) -> None:
        try:
            for chunk in _chroma.batched(memories, _CHROMA_BATCH):
                ids = [m.id for m in chunk]
                metadatas = [_chroma.metadata_of(m) for m in chunk]
                if reembed:
                    vectors = self._embedder.embed([self._index_text(m) for m in chunk])
                    self._collection.upsert(
                        ids=ids,
                        embeddings=vectors,
                        documents=[m.text for m in chunk],
                        metadatas=metadatas,
                    )
                else:
                    self._collection.update(ids=ids, metadatas=metadatas)
        except Exception as exc:
            raise StoreUnavailableError(f"the memory could not be written: {exc}") from exc
        with self._ledger.transaction() as db:
            for old in history:
                Ledger.add_history(db, old, self._clock())
            Ledger.put_items(db, memories, {})
            Ledger.touch_conversations(db, memories)
            db.execute("DELETE FROM outbox WHERE seq=?", (seq,))

    def _apply_delete(self, seq: int, ids: list[str]) -> None:
        try:
            for chunk in _chroma.batched(ids, _CHROMA_BATCH):
                self._collection.delete(ids=list(chunk))
        except Exception as exc:
            raise StoreUnavailableError(f"the memory could not be deleted: {exc}") from exc
        with self._ledger.transaction() as db:
            Ledger.remove_items(db, ids)
            db.execute("DELETE FROM outbox WHERE seq=?", (seq,))

    def _replay_outbox(self) -> None:
        """Finish writes that a crash interrupted; each step is idempotent."""
        from ._ledger import memory_from_row

        for seq, payload in self._ledger.pending_intents():
            log.info("replaying interrupted memory write #%d (%s)", seq, payload.get("op"))
            if payload["op"] == "delete":
                self._apply_delete(seq, list(payload["ids"]))
            elif payload["op"] == "upsert":
                memories = [memory_from_row(r["record"], r["text"]) for r in payload["records"]]
                history = [memory_from_row(r["record"], r["text"]) for r in payload["history"]]
                self._apply_upsert(seq, memories, history, reembed=bool(payload["reembed"]))

    def _chroma_where(self, filters: SearchFilter) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if filters.kinds:
            clauses.append({"kind": {"$in": [k.value for k in filters.kinds]}})
        if filters.states:
            clauses.append({"state": {"$in": [s.value for s in filters.states]}})
        if filters.conversation_id is not None:
            clauses.append({"conversation_id": filters.conversation_id})
        if filters.exclude_conversation_id is not None:
            clauses.append({"conversation_id": {"$ne": filters.exclude_conversation_id}})
        if filters.since is not None:
            clauses.append({"said_at": {"$gte": float(filters.since)}})
        if filters.until is not None:
            clauses.append({"said_at": {"$lte": float(filters.until)}})
        if filters.pinned_only:
            clauses.append({"pinned": True})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def _sql_where(self, filters: SearchFilter) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if filters.kinds:
            clauses.append(f"items.kind IN ({','.join('?' * len(filters.kinds))})")
            params += [k.value for k in filters.kinds]
        if filters.states:
            clauses.append(f"items.state IN ({','.join('?' * len(filters.states))})")
            params += [s.value for s in filters.states]
        if filters.conversation_id is not None:
            clauses.append("items.conversation_id = ?")
            params.append(filters.conversation_id)
        if filters.exclude_conversation_id is not None:
            clauses.append("coalesce(items.conversation_id, '') != ?")
            params.append(filters.exclude_conversation_id)
        if filters.since is not None:
            clauses.append("items.said_at >= ?")
            params.append(filters.since)
        if filters.until is not None:
            clauses.append("items.said_at <= ?")
            params.append(filters.until)
        if filters.pinned_only:
            clauses.append("items.pinned = 1")
        return " AND ".join(clauses), params

    def _dense(self, query: str, depth: int, filters: SearchFilter) -> list[tuple[str, float]]:
        vector = self._embedder.embed([query])[0]
        result = self._collection.query(
            query_embeddings=[vector],
            n_results=depth,
            where=self._chroma_where(filters),
            include=["distances"],
        )
        ids = result["ids"][0] if result["ids"] else []
        distances = result["distances"][0] if result.get("distances") else [1.0] * len(ids)
        return [(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=False)]

    def _lexical(self, query: str, depth: int, filters: SearchFilter) -> list[tuple[str, float]]:
        match = fts_query(query)
        if not match:
            return []
        where, params = self._sql_where(filters)
        return self._ledger.lexical(match, depth, where, params)
