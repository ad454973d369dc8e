"""MemoryStore: the one API through which the app, the CLI and benchmarks remember.

A store is a folder holding the lock, the ledger (``ledger.sqlite3``, or one
per server in server mode) and, in embedded mode, Chroma's files (``chroma/``).
``_ledger.py`` says which datum lives where and how a write reaches both
stores safely; ``retrieval.py`` how search ranks.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from . import _chroma, _forgetting, _indexing, _maintenance, backup
from ._chroma import TEXT_FORMAT
from ._filelock import FolderLock
from ._forgetting import ForgetReport
from ._jobs import JobBook
from ._ledger import Ledger, LedgerDamagedError, memory_from_row, record_json, sql_where
from ._maintenance import Progress
from ._validation import (
    check_extra,
    check_id,
    check_label,
    check_memory,
    check_text,
    check_time,
    check_unit,
)
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
    ScoreExplanation,
    SortKey,
    State,
    Stats,
)
from .retrieval import Features, RetrievalConfig, Retriever, SearchFilter

log = logging.getLogger(__name__)

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
class ServerLocation:
    url: str
    token: str | None = None
    tenant: str = "default_tenant"
    database: str = "default_database"


@dataclass(slots=True)
class _Listeners:
    callbacks: list[Callable[[Change], None]] = field(default_factory=list)

    def emit(self, change: Change) -> None:
        for callback in list(self.callbacks):
            try:
                callback(change)
            except Exception:  # a broken listener must not undo a committed write
                log.exception("memory change listener failed")


_LOW_DISK = 64 * 1024 * 1024


def _not_saved(exc: BaseException, folder: Path, *, done: bool = True) -> str:
    """What a failed write means for the person: why (a full disk named as such), and
    that what was stored before is safe."""
    reason = str(exc)
    text = reason.lower()
    try:
        low = shutil.disk_usage(folder).free < _LOW_DISK
    except OSError:
        low = False
    if low and "full" not in text:
        reason = f"the disk holding your memory ({folder}) is full ({reason})"
    elif ("read-only" in text or "readonly" in text) and str(folder) not in reason:
        reason = f"the memory folder {folder} has become read-only ({reason})"
    elif "read-only" not in text and "full" not in text and "disk i/o" not in text:
        reason = f"{reason} (the disk may be full, read-only or failing)"
    if not done:
        return reason
    if "nothing was changed" not in reason:
        reason += "; nothing was changed"
    return reason + " and what was stored before is safe"


def _compensations(
    memories: Sequence[Memory], before: Mapping[str, Memory]
) -> list[dict[str, Any]]:
    """Intents that undo a failed upsert: forget what it added, put back what it changed."""
    undo: list[dict[str, Any]] = []
    fresh = [m.id for m in memories if m.id not in before]
    if fresh:
        undo.append({"op": "delete", "ids": fresh})
    old = [before[m.id] for m in memories if m.id in before]
    if old:
        records = [{"text": m.text, "record": record_json(m)} for m in old]
        undo.append({"op": "upsert", "records": records, "history": [], "reembed": True})
    return undo


def _new_id(kind: Kind) -> str:
    return f"{kind.value[:2]}-{uuid.uuid4().hex}"


def _without_flag(extra: Mapping[str, Scalar]) -> dict[str, Scalar]:
    """``extra`` without consolidation's mark of an open contradiction."""
    return {k: v for k, v in extra.items() if k != "conflicts_with"}


def _selective(filters: SearchFilter) -> bool:
    """Whether a filter keeps few memories (worth applying inside the indexes)."""
    return (
        filters.conversation_id is not None
        or filters.exclude_conversation_id is not None
        or filters.since is not None
        or filters.until is not None
        or filters.pinned_only
    )


class _StoreIndex:
    """The store as retrieval sees it (see ``retrieval.Index``)."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def embed_query(self, text: str) -> list[float]:
        return self.store._embedder.embed([text])[0]

    def dense(
        self, vector: Sequence[float], n: int, filters: SearchFilter, *, strict: bool = False
    ) -> list[tuple[str, float]]:
        # Chroma answers in ~3 ms without a metadata filter and ~30 ms with one, so
        # filters that keep most memories (kind, state) are left to retrieval, which
        # checks every result; selective ones go to Chroma.
        where = _chroma.where_of(filters) if strict or _selective(filters) else None
        return self._query(vector, n, where)

    def _query(
        self, vector: Sequence[float], n: int, where: dict[str, Any] | None
    ) -> list[tuple[str, float]]:
        try:
            result = self.store._collection.query(
                query_embeddings=[list(vector)], n_results=n, where=where, include=["distances"]
            )
        except Exception as exc:
            raise StoreUnavailableError(f"the memory search failed: {exc}") from exc
        ids = result["ids"][0] if result["ids"] else []
        distances = result["distances"][0] if result.get("distances") else []
        return [(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=False)]

    def lexical(
        self, terms: Sequence[str], n: int, filters: SearchFilter, *, strict: bool = False
    ) -> list[tuple[str, float]]:
        where, params = sql_where(filters if strict or _selective(filters) else SearchFilter())
        return self.store._ledger.lexical(_indexing.fts_match(list(terms)), n, where, params)

    def document_frequency(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        return self.store._document_frequency(terms)

    def vectors(self, ids: Sequence[str]) -> dict[str, Sequence[float]]:
        if not ids:
            return {}
        got = self.store._collection.get(ids=list(ids), include=["embeddings"])
        return dict(zip(got["ids"], got["embeddings"], strict=False))

    def features(self, ids: Sequence[str]) -> dict[str, Features]:
        return self.store._ledger.features(list(ids))

    def memories(self, ids: Sequence[str]) -> dict[str, Memory]:
        return self.store._ledger.get(list(ids))

    def speakers(self) -> list[str]:
        return self.store._speaker_names()


class MemoryStore:
    """Episodes, facts and summaries, searchable by meaning and by words."""

    def __init__(
        self,
        folder: Path,
        ledger: Ledger,
        client: Any,
        collection: Any,
        embedder: Embedder,
        lock: FolderLock,
        clock: Callable[[], float],
        retrieval: RetrievalConfig | None,
        server: ServerLocation | None,
    ) -> None:
        self.folder = folder
        self.server = server
        self._ledger = ledger
        self._client = client
        self._collection = collection
        self._embedder = embedder
        self._lock = lock
        self._clock = clock
        self._jobs = JobBook(ledger)
        self._write_lock = threading.RLock()
        self._listeners = _Listeners()
        self._speakers: list[str] | None = None
        self._df: dict[str, tuple[int, int]] = {}
        self._closed = False
        self._unwritable: str | None = None
        """Why writes are refused until the store is opened again (after a storage failure)."""
        self.warnings: list[str] = []
        """Things the person should know about how the store was opened."""
        self.retriever = Retriever(_StoreIndex(self), clock, retrieval)

    # -- opening ------------------------------------------------------------------

    @staticmethod
    def _ledger_path(folder: Path, server: ServerLocation | None) -> Path:
        if server is None:
            return folder / "ledger.sqlite3"
        key = f"{server.url}|{server.tenant}|{server.database}".encode()
        return folder / f"ledger-{hashlib.sha256(key).hexdigest()[:12]}.sqlite3"

    @staticmethod
    def _prepare_folder(folder: Path) -> FolderLock:
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except FileExistsError as exc:
            raise StoreUnavailableError(f"{folder} exists and is not a memory folder") from exc
        except OSError as exc:
            raise StoreUnavailableError(f"cannot create the memory folder {folder}: {exc}") from exc
        lock = FolderLock(folder)
        try:
            lock.acquire()
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise StoreUnavailableError(
                    f"the memory folder {folder} is read-only; Mneme needs to write there"
                ) from exc
            raise StoreUnavailableError(f"the memory folder {folder} is not usable: {exc}") from exc
        return lock

    @staticmethod
    def _location(folder: Path, server: ServerLocation | None) -> _chroma.ChromaLocation:
        if server is None:
            return _chroma.ChromaLocation(path=folder / "chroma")
        return _chroma.ChromaLocation(
            url=server.url, token=server.token, tenant=server.tenant, database=server.database
        )

    @classmethod
    def open(
        cls,
        folder: str | Path,
        embedder: Embedder,
        *,
        server: ServerLocation | None = None,
        clock: Callable[[], float] = time.time,
        retrieval: RetrievalConfig | None = None,
    ) -> MemoryStore:
        """Open (or create) the store in ``folder``.

        Raises :class:`StoreLockedError` if another process has it open,
        :class:`EmbedderMismatchError` if it was indexed with another model
        (nothing is changed; see :meth:`reindex`) and
        :class:`StoreUnavailableError` if it cannot be read or written.
        """
        folder = Path(folder)
        lock = cls._prepare_folder(folder)
        ledger: Ledger | None = None
        client: Any = None
        warnings: list[str] = []
        try:
            ledger = cls._open_ledger(cls._ledger_path(folder, server), warnings)
            client = _chroma.open_client(cls._location(folder, server))
            collection, others, _ = _chroma.find_collection(client, embedder)
            if collection is None:
                if others:
                    raise EmbedderMismatchError(others[0], embedder.name)
                collection = _chroma.create_collection(client, embedder)
            store = cls(
                folder, ledger, client, collection, embedder, lock, clock, retrieval, server
            )
            store.warnings.extend(warnings)
            store._recover()
            return store
        except BaseException:
            if ledger is not None:
                ledger.close()
            _chroma.close_client(client)
            lock.release()
            raise

    @staticmethod
    def _open_ledger(path: Path, warnings: list[str]) -> Ledger:
        """Open the ledger; a damaged one is kept aside and rebuilt from Chroma."""
        try:
            return Ledger(path)
        except LedgerDamagedError as exc:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for suffix in ("", "-wal", "-shm"):
                part = path.with_name(path.name + suffix)
                if part.exists():
                    part.replace(part.with_name(f"{part.name}.damaged-{stamp}"))
            log.warning("%s; rebuilding it from the memory store", exc)
            warnings.append(
                f"{exc}. It was moved aside ({path.name}.damaged-{stamp}) and rebuilt from "
                "your memories; edit history and conversation titles from before are in the "
                "moved file."
            )
            return Ledger(path)

    def _recover(self) -> None:
        """Bring the ledger and vectors up to date after a crash, an upgrade or another machine."""
        self._replay_outbox()
        if int((self._collection.metadata or {}).get("text_format", 1)) < TEXT_FORMAT:
            _maintenance.reembed_all(self._collection, self._embedder)
        if self.server is not None or self._ledger.count() != self._collection.count():
            self.resync()
        if self._ledger.get_meta("lexical_stale"):
            with self._ledger.transaction() as db:
                Ledger.refresh_all_lexical(db)

    def close(self) -> None:
        if self._closed:
            return
        with self._write_lock:
            self._closed = True
            self._ledger.close()
            _chroma.close_client(self._client)
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

    def backup(self, dest: str | Path) -> backup.BackupInfo:
        """A consistent copy of the whole memory folder in ``dest`` (see ``memory.backup``);
        safe while the store is in use."""
        return backup.create(self, Path(dest))

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
                if conv not in next_seq:
                    next_seq[conv] = self._ledger.next_seq(conv)
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
            self._commit_upserts([memory], history=[])
        self._listeners.emit(Change(added=(memory.id,)))
        return memory

    _UPDATABLE = frozenset(
        {
            "text",
            "importance",
            "confidence",
            "state",
            "valid_from",
            "valid_to",
            "superseded_by",
            "sources",
            "scope",
            "extra",
            "said_at",
        }
    )

    def update(self, memory_id: str, *, author: Author = Author.USER, **changes: Any) -> Memory:
        """Change a memory; the previous version goes to its history with who changed it."""
        unknown = set(changes) - self._UPDATABLE
        if unknown:
            raise InvalidMemoryError(
                f"these fields cannot be changed: {', '.join(sorted(unknown))}"
            )
        if "text" in changes:
            changes["text"] = check_text(changes["text"])
        for name in ("importance", "confidence"):
            if name in changes:
                changes[name] = check_unit(name, changes[name])
        for name in ("valid_from", "valid_to", "said_at"):
            if name in changes:
                changes[name] = check_time(name, changes[name])
        if "said_at" in changes and changes["said_at"] is None:
            raise InvalidMemoryError("said_at cannot be empty")
        if "state" in changes:
            changes["state"] = State(changes["state"])
        if "sources" in changes:
            changes["sources"] = tuple(dict.fromkeys(changes["sources"]))
        if "extra" in changes:
            changes["extra"] = check_extra(changes["extra"])
        with self._write_lock:
            old = self.get(memory_id)
            if all(getattr(old, k) == v for k, v in changes.items()):
                return old
            new = replace(
                old, **changes, version=old.version + 1, author=author, updated_at=self._clock()
            )
            reembed = any(k in changes for k in ("text", "said_at"))
            self._commit_upserts([new], history=[(old, new.updated_at)], reembed=reembed)
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
            self._commit_upserts([new], history=[], reembed=False)
        self._listeners.emit(Change(updated=(memory_id,)))
        return new

    def delete(self, ids: Iterable[str]) -> DeleteReport:
        """Delete memories for real: from Chroma, every index and their history."""
        wanted = list(dict.fromkeys(ids))
        with self._write_lock:
            found = self._ledger.get(wanted)
            existing = [i for i in wanted if i in found]
            if not existing:
                return DeleteReport((), ())
            derived = self._ledger.derived_from(existing)
            self._check_writable()
            seq = self._ledger.push_intent({"op": "delete", "ids": existing})
            try:
                self._apply_delete(seq, existing)
            except StoreUnavailableError as exc:  # what was asked for is done at the next open
                message = (
                    f"{_not_saved(exc, self.folder, done=False)}; the deletion will be "
                    "finished the next time the memory is opened"
                )
                self._refuse_writes(message)
                raise StoreUnavailableError(message) from exc
            self._speakers = None
        self._listeners.emit(Change(deleted=tuple(existing)))
        return DeleteReport(tuple(existing), tuple(derived))

    def forget(self, ids: Iterable[str]) -> ForgetReport:
        """Delete memories and everything that only they supported (see ``_forgetting``).

        Summaries that used them are deleted now and queued to be written again.
        """
        return _forgetting.cascade(self, list(dict.fromkeys(ids)))

    def forget_preview(self, ids: Iterable[str]) -> tuple[list[Memory], list[Memory]]:
        """What :meth:`forget` would delete, and the facts it would keep with fewer sources."""
        gone, trimmed, _ = _forgetting.plan(self, list(dict.fromkeys(ids)))
        return self.get_many(sorted(gone)), self.get_many(sorted(trimmed))

    def facts_as_of(self, when: float) -> list[Memory]:
        """The facts that were true at ``when``: superseded ones included, if they were
        still valid then."""
        return self._ledger.select(
            "items.kind='fact' AND items.state IN ('active', 'superseded') "
            "AND coalesce(json_extract(items.record, '$.valid_from'), items.said_at) <= ? "
            "AND (json_extract(items.record, '$.valid_to') IS NULL "
            "OR json_extract(items.record, '$.valid_to') > ?)",
            (when, when),
            "ORDER BY items.said_at",
        )

    def superseded_by(self, memory_id: str) -> list[str]:
        """Ids of the facts that ``memory_id`` superseded."""
        rows = self._ledger.query(
            "SELECT id FROM items WHERE state='superseded' "
            "AND json_extract(record, '$.superseded_by') = ?",
            (memory_id,),
        )
        return [str(r[0]) for r in rows]

    def resolve_conflict(self, keep_id: str, drop_id: str | None = None) -> list[Memory]:
        """Settle a contradiction that consolidation flagged (``extra["conflicts_with"]``
        on the newer fact) the way the person decided; returns the changed memories.

        With ``drop_id``, ``keep_id`` holds and ``drop_id`` is superseded by it the
        way consolidation supersedes: valid until the later of the two became valid
        (a dropped older fact stays in ``facts_as_of`` for the time it held; a
        dropped newer one never held), linked by ``superseded_by``, its earlier
        version in history; nothing is deleted. Without ``drop_id`` both are true.
        The flag goes from whichever of the two carries it, in one commit, so a
        crash leaves the pair either undecided or decided.
        """
        with self._write_lock:
            keep = self.get(keep_id)
            drop = self.get(drop_id) if drop_id is not None else None
            if drop is not None and drop.id == keep.id:
                raise InvalidMemoryError("a fact cannot be kept instead of itself")
            wanted: list[tuple[Memory, dict[str, Any]]] = []
            if drop is None or keep.extra.get("conflicts_with") == drop.id:
                wanted.append((keep, {"extra": _without_flag(keep.extra)}))
            if drop is not None:
                changes: dict[str, Any] = {}
                if drop.extra.get("conflicts_with") == keep.id:
                    changes["extra"] = _without_flag(drop.extra)
                if drop.state is not State.SUPERSEDED:  # one superseded already keeps its successor
                    start = max(keep.valid_from or keep.said_at, drop.valid_from or drop.said_at)
                    changes.update(state=State.SUPERSEDED, valid_to=start, superseded_by=keep.id)
                wanted.append((drop, changes))
            now, user = self._clock(), Author.USER
            changed = [
                (old, replace(old, **c, version=old.version + 1, updated_at=now, author=user))
                for old, c in wanted
                if any(getattr(old, k) != v for k, v in c.items())
            ]
            if changed:
                self._commit_upserts(
                    [new for _, new in changed], [(old, now) for old, _ in changed], reembed=False
                )
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
            existing = self._ledger.get([m.id for m in memories])
            new: list[Memory] = []
            for m in memories:  # an id given twice is written once, the first time
                if m.id not in existing:
                    existing[m.id] = m
                    new.append(m)
            for chunk in _chroma.batched(new, 500):
                ids = {m.id for m in chunk}
                self._commit_upserts(list(chunk), [h for h in history if h[0].id in ids])
                self._ledger.set_usage(
                    [(m.id, m.access_count, m.last_access) for m in chunk if m.access_count]
                )
            self._speakers = None
        written = [m.id for m in new]
        if written:
            self._listeners.emit(Change(added=tuple(written)))
        return written

    def record_access(self, ids: Sequence[str]) -> None:
        """Note that these memories were handed to a prompt (feeds recency and decay).

        One call is one use: an id listed twice counts once."""
        if ids:
            self._ledger.record_access(list(dict.fromkeys(ids)), self._clock())

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

    def all_history(self) -> list[tuple[Memory, float]]:
        """Every earlier version in the store, with the time it was replaced."""
        return self._ledger.all_history()

    def derived_from(self, ids: Sequence[str]) -> list[str]:
        return self._ledger.derived_from(list(ids))

    def details(self, memory_id: str) -> MemoryDetails:
        memory = self.get(memory_id)
        return MemoryDetails(
            memory=memory,
            history=tuple(self.history(memory_id)),
            sources=tuple(self.get_many(memory.sources)),
            derived=tuple(self.get_many(self.derived_from([memory_id]))),
        )

    def count(self, kind: Kind | None = None) -> int:
        if kind is None:
            return self._ledger.count()
        return self._ledger.count("kind=?", (kind.value,))

    def browse(self, query: ListQuery = ListQuery()) -> Page:  # noqa: B008 - frozen
        """A page of memories, filtered and sorted, with the total over all pages."""
        where, params = sql_where(
            SearchFilter(
                kinds=query.kinds,
                states=query.states,
                conversation_id=query.conversation_id,
                since=query.since,
                until=query.until,
                pinned_only=query.pinned_only,
            )
        )
        clauses = [where] if where else []
        if query.contains and query.contains.strip():
            terms = _indexing.words(query.contains)
            if terms:
                clauses.append("items.rowid IN (SELECT rowid FROM fts WHERE fts MATCH ?)")
                params.append(  # the memory's own words, not its neighbours' context
                    " AND ".join('text : "' + t.replace('"', '""') + '"' for t in terms)
                )
        where = " AND ".join(clauses)
        total = self._ledger.count(where, params)
        column = {SortKey.KIND: "items.kind"}.get(query.sort, f"items.{query.sort.value}")
        order = "DESC" if query.descending else "ASC"
        ordering = f"ORDER BY {column} {order}, items.seq {order}, items.rowid {order}"
        # The page's rows are picked from the items table alone, then read with their text:
        # ordering the join with the text table sorted every row (0.5 s a page at 100k).
        page = (
            f"items.rowid IN (SELECT items.rowid FROM items{' WHERE ' + where if where else ''}"
            f" {ordering} LIMIT ? OFFSET ?)"
        )
        items = self._ledger.select(
            page, [*params, max(0, query.limit), max(0, query.offset)], ordering
        )
        return Page(tuple(items), total, query.offset)

    def conversation(self, conversation_id: str, *, superseded: bool = False) -> list[Memory]:
        """The turns of a conversation in the order they were said.

        Turns replaced by a regenerated reply or an edit are left out unless
        ``superseded``; they stay in memory, browsable, with their history.
        """
        states = "" if superseded else " AND items.state != 'superseded'"
        return self._ledger.select(
            f"items.conversation_id=? AND items.kind='episode'{states}",
            (conversation_id,),
            "ORDER BY items.seq",
        )

    def find_conversations(self, text: str, limit: int = 50) -> list[Conversation]:
        """Conversations in which every word of ``text`` appears, in the title or a turn."""
        terms = _indexing.words(text)
        if not terms:
            return self.conversations()[:limit]
        clauses, params = [], []
        for term in terms:
            clauses.append(
                "(c.title LIKE ? OR c.id IN (SELECT items.conversation_id FROM items"
                " JOIN fts ON fts.rowid = items.rowid WHERE fts MATCH ?))"
            )
            params += [f"%{term}%", 'text : "' + term.replace('"', '""') + '"']
        return self._ledger.conversations(" AND ".join(clauses), params)[:limit]

    def record_use(self, reply_id: str, hits: Sequence[Hit]) -> None:
        """Remember which memories a reply was given, with why, for showing later."""
        rows = [
            (
                reply_id,
                rank,
                h.memory.id,
                h.score,
                json.dumps(asdict(h.explanation), separators=(",", ":")),
            )
            for rank, h in enumerate(hits)
        ]
        with self._ledger.transaction() as db:
            db.execute("DELETE FROM uses WHERE reply_id=?", (reply_id,))
            db.executemany("INSERT INTO uses VALUES (?, ?, ?, ?, ?)", rows)

    def uses(self, reply_id: str) -> list[Hit]:
        """The memories a reply was given (those still remembered), best first."""
        rows = self._ledger.query(
            "SELECT memory_id, score, explanation FROM uses WHERE reply_id=? ORDER BY rank",
            (reply_id,),
        )
        found = self._ledger.get([r[0] for r in rows])
        return [
            Hit(found[m], float(score), ScoreExplanation(**json.loads(explanation)))
            for m, score, explanation in rows
            if m in found
        ]

    def neighbour(self, memory: Memory, step: int) -> Memory | None:
        """The turn ``step`` places before (negative) or after (positive) an episode."""
        if memory.kind is not Kind.EPISODE or not memory.conversation_id or step == 0:
            return None
        op, order = ("<", "DESC") if step < 0 else (">", "ASC")
        found = self._ledger.select(
            f"items.conversation_id=? AND items.kind='episode' AND items.seq {op} ?",
            (memory.conversation_id, memory.seq),
            f"ORDER BY items.seq {order} LIMIT 1 OFFSET {abs(step) - 1}",
        )
        return found[0] if found else None

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
        by_kind = {k: 0 for k in Kind}
        for kind, n in self._ledger.query("SELECT kind, count(*) FROM items GROUP BY kind"):
            by_kind[Kind(kind)] = int(n)
        by_state = {s: 0 for s in State}
        for state, n in self._ledger.query("SELECT state, count(*) FROM items GROUP BY state"):
            by_state[State(state)] = int(n)
        size = sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())
        return Stats(
            by_kind=by_kind,
            by_state=by_state,
            conversations=len(self._ledger.conversations()),
            pinned=self._ledger.count("pinned=1"),
            size_bytes=size,
            embedder=self._embedder.name,
        )

    def _document_frequency(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """Per-term memory counts, cached until the store grows or shrinks by a tenth."""
        total = self._ledger.count()
        found: dict[str, int] = {}
        for term in terms:
            cached = self._df.get(term)
            if cached is None or abs(cached[1] - total) > total / 10:
                cached = (self._ledger.document_frequency(term), total)
                self._df[term] = cached
            found[term] = cached[0]
        return found, total

    def _speaker_names(self) -> list[str]:
        if self._speakers is None:
            self._speakers = self._ledger.speakers()
        return self._speakers

    # -- conversations ------------------------------------------------------------

    def conversations(self) -> list[Conversation]:
        """Conversations with at least one remembered turn or a title, newest first."""
        return self._ledger.conversations()

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = self._ledger.conversations("c.id = ?", (conversation_id,))
        return found[0] if found else None

    def set_conversation_title(self, conversation_id: str, title: str) -> None:
        title = " ".join(str(title).split())[:200]
        now = self._clock()
        with self._ledger.transaction() as db:
            db.execute(
                "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET title = excluded.title",
                (conversation_id, title, now, now),
            )
        self._listeners.emit(Change(updated=(conversation_id,)))

    def restore_conversations(self, conversations: Sequence[Conversation]) -> None:
        """Put back conversation titles and times as exported (the import path)."""
        for c in conversations:
            check_id("a conversation's id", c.id)
            check_label("a conversation's title", c.title)
            if (
                check_time("created_at", c.created_at) is None
                or check_time("updated_at", c.updated_at) is None
            ):
                raise InvalidMemoryError("a conversation needs the times it began and changed")
        with self._ledger.transaction() as db:
            db.executemany(
                "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET title = excluded.title,"
                " created_at = min(created_at, excluded.created_at),"
                " updated_at = max(updated_at, excluded.updated_at)",
                [(c.id, c.title, c.created_at, c.updated_at) for c in conversations],
            )
        if conversations:
            self._listeners.emit(Change(updated=tuple(c.id for c in conversations)))

    def delete_conversation(self, conversation_id: str, *, forget: bool) -> DeleteReport:
        """Drop a conversation from the list; with ``forget``, delete its turns too.

        Without ``forget`` its turns stay in memory and keep being recalled.
        """
        report = DeleteReport((), ())
        if forget:
            turns = self.conversation(conversation_id, superseded=True)
            forgotten = self.forget([m.id for m in turns])
            report = DeleteReport(forgotten.deleted, forgotten.trimmed)
        with self._ledger.transaction() as db:
            db.execute("DELETE FROM conversations WHERE id=?", (conversation_id,))
        self._listeners.emit(Change(deleted=(conversation_id,)))
        return report

    # -- maintenance --------------------------------------------------------------

    def resync(self, progress: Progress | None = None) -> int:
        """Make the ledger's derived indexes match Chroma; returns how many records changed.

        Needed when the ledger is new or damaged, or when another machine wrote to
        the same Chroma server.
        """
        with self._write_lock:
            stale, gone = _maintenance.resync(self._collection, self._ledger, progress)
            self._speakers = None
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
        lock = cls._prepare_folder(folder)
        client = None
        try:
            client = _chroma.open_client(cls._location(folder, server))
            return _maintenance.reindex(client, embedder, progress)
        finally:
            _chroma.close_client(client)
            lock.release()

    # -- internals ----------------------------------------------------------------

    def _commit_upserts(
        self,
        memories: list[Memory],
        history: list[tuple[Memory, float]],
        *,
        reembed: bool = True,
    ) -> None:
        payload = {
            "op": "upsert",
            "records": [{"text": m.text, "record": record_json(m)} for m in memories],
            "history": [
                {"text": h.text, "record": record_json(h), "changed_at": at} for h, at in history
            ],
            "reembed": reembed,
        }
        self._check_writable()
        before = self._ledger.get([m.id for m in memories])
        seq = self._ledger.push_intent(payload)
        try:
            self._apply_upsert(seq, memories, history, reembed=reembed)
        except InvalidMemoryError:
            # Refused for what it is, not for where it goes (Chroma is fine): put back
            # what was written and forget it; replayed, it would fail at every open.
            self._undo_upsert(seq, memories, before)
            raise
        except StoreUnavailableError as exc:
            # The caller is told the write failed, so it must not come back at the next
            # open (a message sent again would then be there twice). Chroma cannot be
            # asked to put things back now (right after a failed write on a full disk
            # it can hang), so the intent is swapped, in the ledger, for writes that
            # restore what was there; they run first at the next open, and until then
            # the store takes no more writes. If even the ledger cannot be written, the
            # intent stays and the next open finishes the write; the message says which.
            undone = self._ledger.replace_intent(seq, _compensations(memories, before))
            message = _not_saved(exc, self.folder, done=undone)
            if not undone:
                message += "; it will be finished the next time the memory is opened"
            self._refuse_writes(message)
            raise StoreUnavailableError(message) from exc
        if self._speakers is not None:
            self._speakers = sorted(
                set(self._speakers) | {m.speaker for m in memories if m.speaker}
            )

    def _check_writable(self) -> None:
        if self._unwritable is not None:
            raise StoreUnavailableError(self._unwritable)

    def _refuse_writes(self, reason: str) -> None:
        self._unwritable = (
            f"the memory takes no more changes until Mneme opens it again, after an earlier "
            f"write failed ({reason[:300]}); restart Mneme once the disk can be written"
        )

    def _undo_upsert(self, seq: int, memories: list[Memory], before: dict[str, Memory]) -> bool:
        """Make Chroma hold what the ledger holds again after a write it refused; False if
        that failed too (the intent then stays, and the next open finishes the write)."""
        try:
            fresh = [m.id for m in memories if m.id not in before]
            for chunk in _chroma.batched(fresh, _CHROMA_BATCH):
                self._collection.delete(ids=list(chunk))
            failed = {m.id: m for m in memories}
            old = [before[m.id] for m in memories if m.id in before]
            for chunk in _chroma.batched(old, _CHROMA_BATCH):
                self._collection.upsert(
                    ids=[m.id for m in chunk],
                    embeddings=self._embedder.embed([_indexing.dense_text(m) for m in chunk]),
                    documents=[m.text for m in chunk],
                    metadatas=[_chroma_metadata(m, failed[m.id]) for m in chunk],
                )
            self._ledger.drop_intent(seq)
        except Exception:
            log.warning("a failed memory write could not be undone; the next open finishes it")
            return False
        return True

    def _apply_upsert(
        self,
        seq: int,
        memories: list[Memory],
        history: list[tuple[Memory, float]],
        *,
        reembed: bool,
    ) -> None:
        replaced = {old.id: old for old, _ in history}
        try:
            for chunk in _chroma.batched(memories, _CHROMA_BATCH):
                ids = [m.id for m in chunk]
                metadatas = [_chroma_metadata(m, replaced.get(m.id)) for m in chunk]
                if reembed:
                    vectors = self._embedder.embed([_indexing.dense_text(m) for m in chunk])
                    self._collection.upsert(
                        ids=ids,
                        embeddings=vectors,
                        documents=[m.text for m in chunk],
                        metadatas=metadatas,
                    )
                else:
                    self._collection.update(ids=ids, metadatas=metadatas)
        except (ValueError, TypeError, OverflowError) as exc:  # Chroma's checks of a record
            raise InvalidMemoryError(f"the memory could not be written: {exc}") from exc
        except Exception as exc:
            raise StoreUnavailableError(f"the memory could not be written: {exc}") from exc
        try:
            with self._ledger.transaction() as db:
                for old, changed_at in history:
                    Ledger.add_history(db, old, changed_at)
                Ledger.put_items(db, memories)
                Ledger.touch_conversations(db, memories)
                db.execute("DELETE FROM outbox WHERE seq=?", (seq,))
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, ValueError, TypeError) as exc:
            if isinstance(exc, InvalidMemoryError):
                raise
            raise InvalidMemoryError(f"the memory could not be indexed: {exc}") from exc

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
        """Finish writes that a crash interrupted; each step is idempotent.

        A write that can never be applied (refused for its content) is kept in a file
        beside the store instead, with a warning: it must not stop the store opening.
        """
        for seq, payload in self._ledger.pending_intents():
            log.info("replaying interrupted memory write #%d (%s)", seq, payload.get("op"))
            try:
                if payload["op"] == "delete":
                    self._apply_delete(seq, list(payload["ids"]))
                elif payload["op"] == "upsert":
                    memories = [memory_from_row(r["record"], r["text"]) for r in payload["records"]]
                    history = [
                        (memory_from_row(r["record"], r["text"]), float(r["changed_at"]))
                        for r in payload["history"]
                    ]
                    self._apply_upsert(seq, memories, history, reembed=bool(payload["reembed"]))
                else:
                    raise InvalidMemoryError(f"unknown kind of write {payload['op']!r}")
            except (InvalidMemoryError, KeyError, TypeError, ValueError) as exc:
                self._set_aside(seq, payload, exc)

    def _set_aside(self, seq: int, payload: dict[str, Any], exc: Exception) -> None:
        folder = self.folder / "unfinished-writes"
        folder.mkdir(exist_ok=True, mode=0o700)
        path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{seq}.json"
        path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        self._ledger.drop_intent(seq)
        log.warning("an interrupted memory write could not be finished; it was kept aside")
        self.warnings.append(
            f"A memory write interrupted earlier could not be finished ({str(exc)[:200]}); "
            f"what it held is kept in {path}."
        )


def _chroma_metadata(memory: Memory, replaced: Memory | None) -> dict[str, Any]:
    """Chroma merges metadata into what it holds, so a key the new version dropped (a
    cleared flag, a ``valid_to`` reset by an undo) is sent as None, which deletes it;
    otherwise a ledger rebuilt from Chroma would bring the old value back."""
    meta = _chroma.metadata_of(memory)
    if replaced is not None:
        meta.update({k: None for k in _chroma.metadata_of(replaced) if k not in meta})
    return meta
