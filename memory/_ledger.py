"""The SQLite ledger: what Chroma cannot do for us, next to the store.

Source of truth, datum by datum:

* **Chroma** holds every memory (episodes, facts, summaries): its verbatim text,
  its vector and all of its metadata, provenance included. That is "the
  memory"; a second machine pointed at the same Chroma server sees all of it.
* **This ledger** holds
  - *derived indexes*, rebuilt from Chroma whenever they are missing or
    behind: the catalogue (``items``: sorted listing, paging, filters), the
    lexical index (``fts``: BM25 via FTS5, because local Chroma has no
    sparse/BM25 search) and the provenance reverse index (``links``);
  - *per-machine data*: edit history, conversation titles and transcripts (what
    was said, apart from what is remembered: ``_transcript.py``), access statistics,
    the write-ahead ``outbox`` and consolidation's bookkeeping (``jobs``,
    stored model outputs, per-conversation watermarks, ``runs`` and what each
    changed). In server mode these stay
    on the machine that made them: another machine sees every memory in its
    current state, but not versions edited elsewhere, and titles fall back to
    the first words of the conversation.

Writes that touch both stores go through the ``outbox``: the intent is
committed here first, then applied to Chroma (idempotent upsert/delete), then
to the derived indexes in the same transaction that removes the intent. A
crash at any point leaves either no trace or an intent that the next open
replays, so Chroma and the indexes never disagree after an open and nothing
acknowledged is lost (``_writes.py`` is that path).

This module is the connection, the schema and the outbox. The rest of the SQL
is split by job, each part taking this ledger (or a transaction of it):
``_ledger_index.py`` writes the derived indexes, ``_ledger_reads.py`` reads
memories, ``_conversations.py``, ``_transcript.py``, ``_usage.py`` and
``_jobs.py`` keep the per-machine data.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .errors import StoreUnavailableError
from .records import Author, Kind, Memory, State

SCHEMA_VERSION = 3

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    conversation_id TEXT,
    said_at REAL NOT NULL,
    stored_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    pinned INTEGER NOT NULL,
    importance REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_conversation ON items(conversation_id, seq);
CREATE INDEX IF NOT EXISTS items_kind_said ON items(kind, said_at);
CREATE INDEX IF NOT EXISTS items_said ON items(said_at);
CREATE INDEX IF NOT EXISTS items_stored ON items(stored_at);
CREATE INDEX IF NOT EXISTS items_updated ON items(updated_at);
CREATE INDEX IF NOT EXISTS items_pinned ON items(pinned) WHERE pinned = 1;
CREATE TABLE IF NOT EXISTS links (
    source TEXT NOT NULL, derived TEXT NOT NULL, PRIMARY KEY (source, derived)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_derived ON links(derived);
CREATE TABLE IF NOT EXISTS usage (
    id TEXT PRIMARY KEY, access_count INTEGER NOT NULL, last_access REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    id TEXT NOT NULL, version INTEGER NOT NULL, changed_at REAL NOT NULL,
    author TEXT NOT NULL, text TEXT NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uses (
    reply_id TEXT NOT NULL, rank INTEGER NOT NULL, memory_id TEXT NOT NULL,
    score REAL NOT NULL, explanation TEXT NOT NULL, PRIMARY KEY (reply_id, rank)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uses_memory ON uses(memory_id);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL, last_error TEXT, created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS job_outputs (key TEXT PRIMARY KEY, output TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS watermarks (conversation_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, started_at REAL NOT NULL, finished_at REAL, status TEXT NOT NULL,
    note TEXT NOT NULL, undone_at REAL
);
CREATE TABLE IF NOT EXISTS run_changes (
    run_id TEXT NOT NULL, memory_id TEXT NOT NULL, action TEXT NOT NULL,
    before_version INTEGER, at REAL NOT NULL, PRIMARY KEY (run_id, memory_id, action)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS run_changes_memory ON run_changes(memory_id);
CREATE TABLE IF NOT EXISTS transcript (
    id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, seq INTEGER NOT NULL,
    role TEXT NOT NULL, speaker TEXT, said_at REAL NOT NULL, text TEXT NOT NULL,
    state TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS transcript_conversation ON transcript(conversation_id, seq)
"""
_FTS_COLUMNS = "text, meta, context, tokenize = 'porter unicode61 remove_diacritics 2'"
_FTS = f"CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5({_FTS_COLUMNS})"

# Fields of a Memory kept in the catalogue's JSON; text lives in the fts table
# and access statistics in the usage table.
_NOT_IN_RECORD = {"text", "access_count", "last_access"}
_RECORD_FIELDS = tuple(f for f in Memory.__dataclass_fields__ if f not in _NOT_IN_RECORD)


def record_json(memory: Memory) -> str:
    """A memory as the catalogue (and the outbox) keep it: JSON without its text."""
    data = asdict(memory)
    for key in _NOT_IN_RECORD:
        del data[key]
    data["sources"] = list(memory.sources)
    data["extra"] = dict(memory.extra)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def memory_from_row(
    record: str, text: str, access_count: int | None = 0, last_access: float | None = None
) -> Memory:
    data: dict[str, Any] = json.loads(record)
    data["kind"] = Kind(data["kind"])
    data["state"] = State(data["state"])
    data["author"] = Author(data.get("author", Author.CHAT))
    data["sources"] = tuple(data.get("sources", ()))
    data["extra"] = dict(data.get("extra") or {})
    fields = {k: data[k] for k in _RECORD_FIELDS if k in data}
    return Memory(text=text, access_count=int(access_count or 0), last_access=last_access, **fields)


def _v1_to_v2(db: sqlite3.Connection) -> None:
    """Version 1 had a two-column lexical index (text, keys); version 2 adds
    speaker/date words and neighbouring turns. The text is kept; the new
    columns are filled by the store's full lexical refresh after opening."""
    db.execute(f"CREATE VIRTUAL TABLE fts_v2 USING fts5({_FTS_COLUMNS})")
    db.execute(
        "INSERT INTO fts_v2 (rowid, text, meta, context) SELECT rowid, text, '', '' FROM fts"
    )
    db.execute("DROP TABLE fts")
    db.execute("ALTER TABLE fts_v2 RENAME TO fts")
    db.execute("INSERT OR REPLACE INTO meta VALUES ('lexical_stale', '1')")


def _v2_to_v3(db: sqlite3.Connection) -> None:
    """Version 3 keeps each conversation's transcript apart from its memories (see
    ``_transcript.py``); it starts as the turns remembered now, with their words as
    they stand (earlier versions are in the history)."""
    db.execute(
        "INSERT OR IGNORE INTO transcript"
        " (id, conversation_id, seq, role, speaker, said_at, text, state)"
        " SELECT items.id, items.conversation_id, items.seq,"
        " coalesce(json_extract(items.record, '$.role'), 'user'),"
        " json_extract(items.record, '$.speaker'), items.said_at, fts.text,"
        " CASE items.state WHEN 'superseded' THEN 'replaced' ELSE 'remembered' END"
        " FROM items JOIN fts ON fts.rowid = items.rowid"
        " WHERE items.kind = 'episode' AND items.conversation_id IS NOT NULL"
    )


_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3}


def _explain(exc: sqlite3.Error, path: Path) -> str:
    """What a storage failure means for the person, in their words."""
    text = str(exc).lower()
    if "full" in text:
        return f"the disk holding your memory ({path.parent}) is full; nothing was changed"
    if "readonly" in text or "read-only" in text:
        return f"the memory folder {path.parent} is read-only; nothing was changed"
    if "locked" in text or "busy" in text:
        return f"another program is using the memory ledger {path}; try again"
    if "disk i/o" in text:
        return (
            f"the memory ledger {path} could not be written (disk I/O error: the disk may be "
            "full or failing); nothing was changed"
        )
    return f"the memory ledger {path} could not be written: {exc}"


class LedgerDamagedError(StoreUnavailableError):
    """The ledger file is not a readable SQLite database."""


class Ledger:
    """One SQLite connection shared by the store's threads under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=5.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except sqlite3.OperationalError as exc:  # locked, read-only, disk full, missing folder
            raise StoreUnavailableError(
                f"the memory ledger {path} cannot be opened: {exc}"
            ) from exc
        except sqlite3.DatabaseError as exc:  # not a database, malformed
            raise LedgerDamagedError(f"the memory ledger {path} is damaged: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def backup_to(self, target: Path) -> None:
        """A consistent copy through SQLite's backup API (WAL content included)."""
        with self._lock:
            copy = sqlite3.connect(target)
            try:
                self._db.backup(copy)
            finally:
                copy.close()

    # -- plumbing ---------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise StoreUnavailableError(_explain(exc, self.path)) from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "fts5" in str(exc) or "syntax" in str(exc):
                    raise  # a query the caller built badly, not a storage fault
                raise StoreUnavailableError(_explain(exc, self.path)) from exc

    def _migrate(self) -> None:
        with self.transaction() as db:
            for statement in _TABLES.split(";"):
                db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            version = int(row[0]) if row else None
            if version is None:  # a new ledger
                db.execute(_FTS)
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                return
            if version > SCHEMA_VERSION:
                raise StoreUnavailableError(
                    f"the memory ledger {self.path} was written by a newer Mneme "
                    f"(format {version}, this version reads up to {SCHEMA_VERSION})"
                )
            while version < SCHEMA_VERSION:
                _MIGRATIONS[version](db)
                version += 1
            db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))

    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key=?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- outbox -----------------------------------------------------------------

    def push_intent(self, payload: dict[str, Any]) -> int:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO outbox (payload) VALUES (?)",
                (json.dumps(payload, ensure_ascii=False),),
            )
            return int(cursor.lastrowid or 0)

    def replace_intent(self, seq: int, payloads: list[dict[str, Any]]) -> bool:
        """Swap an intent for others in one transaction; False if the ledger cannot be
        written (the intent then stays)."""
        try:
            with self.transaction() as db:
                db.execute("DELETE FROM outbox WHERE seq=?", (seq,))
                for payload in payloads:
                    db.execute(
                        "INSERT INTO outbox (payload) VALUES (?)",
                        (json.dumps(payload, ensure_ascii=False),),
                    )
        except StoreUnavailableError:
            return False
        return True

    def drop_intent(self, seq: int) -> None:
        with self.transaction() as db:
            self.settle_intent(db, seq)

    @staticmethod
    def settle_intent(db: sqlite3.Connection, seq: int) -> None:
        """Inside the transaction that applies an intent to the indexes: it is done."""
        db.execute("DELETE FROM outbox WHERE seq=?", (seq,))

    def pending_intents(self) -> list[tuple[int, dict[str, Any]]]:
        rows = self.query("SELECT seq, payload FROM outbox ORDER BY seq")
        return [(int(seq), json.loads(payload)) for seq, payload in rows]

    # -- the catalogue's size ----------------------------------------------------

    def count(self) -> int:
        """How many memories the catalogue holds: what opening compares with Chroma's
        count to see whether the indexes fell behind."""
        return int(self.query("SELECT count(*) FROM items")[0][0])
