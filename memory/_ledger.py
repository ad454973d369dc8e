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
  - *per-machine data*: edit history, conversation titles, access statistics,
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
acknowledged is lost.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import _indexing
from .errors import StoreUnavailableError
from .records import Author, Conversation, Kind, Memory, State
from .retrieval import Features, SearchFilter

SCHEMA_VERSION = 2

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
CREATE INDEX IF NOT EXISTS run_changes_memory ON run_changes(memory_id)
"""
_FTS_COLUMNS = "text, meta, context, tokenize = 'porter unicode61 remove_diacritics 2'"
_FTS = f"CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5({_FTS_COLUMNS})"

# Fields of a Memory kept in the catalogue's JSON; text lives in the fts table
# and access statistics in the usage table.
_NOT_IN_RECORD = {"text", "access_count", "last_access"}
_RECORD_FIELDS = tuple(f for f in Memory.__dataclass_fields__ if f not in _NOT_IN_RECORD)


def record_json(memory: Memory) -> str:
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


_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2}


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
            db.execute("DELETE FROM outbox WHERE seq=?", (seq,))

    def pending_intents(self) -> list[tuple[int, dict[str, Any]]]:
        rows = self.query("SELECT seq, payload FROM outbox ORDER BY seq")
        return [(int(seq), json.loads(payload)) for seq, payload in rows]

    # -- derived indexes (called inside a transaction) ----------------------------

    @staticmethod
    def put_items(db: sqlite3.Connection, memories: Iterable[Memory]) -> None:
        touched: dict[str, list[int]] = {}
        for m in memories:
            row = db.execute("SELECT rowid, seq FROM items WHERE id=?", (m.id,)).fetchone()
            values = (
                m.id,
                m.kind.value,
                m.state.value,
                m.conversation_id,
                m.said_at,
                m.stored_at,
                m.updated_at,
                m.seq,
                int(m.pinned),
                m.importance,
                record_json(m),
            )
            if row is None:
                cursor = db.execute(
                    "INSERT INTO items (id, kind, state, conversation_id, said_at, stored_at,"
                    " updated_at, seq, pinned, importance, record)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    values,
                )
                rowid = cursor.lastrowid
            else:
                rowid = row[0]
                db.execute(
                    "UPDATE items SET id=?, kind=?, state=?, conversation_id=?, said_at=?,"
                    " stored_at=?, updated_at=?, seq=?, pinned=?, importance=?, record=?"
                    " WHERE rowid=?",
                    (*values, rowid),
                )
                db.execute("DELETE FROM fts WHERE rowid=?", (rowid,))
            db.execute(
                "INSERT INTO fts (rowid, text, meta, context) VALUES (?, ?, ?, '')",
                (rowid, m.text, _indexing.lexical_meta(m)),
            )
            db.execute("DELETE FROM links WHERE derived=?", (m.id,))
            db.executemany(
                "INSERT OR IGNORE INTO links (source, derived) VALUES (?, ?)",
                [(source, m.id) for source in m.sources],
            )
            if m.kind is Kind.EPISODE and m.conversation_id:
                touched.setdefault(m.conversation_id, []).append(m.seq)
        for conversation_id, seqs in touched.items():
            Ledger.refresh_context(db, conversation_id, min(seqs), max(seqs))

    @staticmethod
    def refresh_context(db: sqlite3.Connection, conversation_id: str, lo: int, hi: int) -> None:
        """Recompute the neighbour context of turns near seqs lo..hi of a conversation."""
        n = _indexing.CONTEXT_TURNS
        select = (
            "SELECT items.rowid, items.seq, items.record, fts.text FROM items"
            " JOIN fts ON fts.rowid = items.rowid"
            " WHERE items.conversation_id=? AND items.kind='episode'"
        )
        before = db.execute(
            f"{select} AND items.seq < ? ORDER BY items.seq DESC LIMIT ?",
            (conversation_id, lo, 2 * n),
        ).fetchall()
        middle = db.execute(
            f"{select} AND items.seq BETWEEN ? AND ? ORDER BY items.seq", (conversation_id, lo, hi)
        ).fetchall()
        after = db.execute(
            f"{select} AND items.seq > ? ORDER BY items.seq LIMIT ?", (conversation_id, hi, 2 * n)
        ).fetchall()
        rows = [*reversed(before), *middle, *after]
        lines = []
        for _, _, record, text in rows:
            data = json.loads(record)
            lines.append(
                _indexing.context_line(data.get("speaker") or data.get("role") or "", text)
            )
        first = max(0, len(before) - n)
        last = min(len(rows), len(before) + len(middle) + n)
        for i in range(first, last):
            context = " ".join(
                lines[j] for j in range(max(0, i - n), min(len(rows), i + n + 1)) if j != i
            )
            db.execute("UPDATE fts SET context=? WHERE rowid=?", (context, rows[i][0]))

    @staticmethod
    def refresh_all_lexical(db: sqlite3.Connection) -> None:
        """Recompute every memory's meta and context columns (after a format change)."""
        rows = db.execute(
            "SELECT items.rowid, items.record, fts.text FROM items"
            " JOIN fts ON fts.rowid = items.rowid"
        ).fetchall()
        for rowid, record, text in rows:
            meta = _indexing.lexical_meta(memory_from_row(record, text))
            db.execute("UPDATE fts SET meta=? WHERE rowid=?", (meta, rowid))
        spans = db.execute(
            "SELECT conversation_id, min(seq), max(seq) FROM items"
            " WHERE kind='episode' AND conversation_id IS NOT NULL GROUP BY conversation_id"
        ).fetchall()
        for conversation_id, lo, hi in spans:
            Ledger.refresh_context(db, conversation_id, int(lo), int(hi))
        db.execute("DELETE FROM meta WHERE key='lexical_stale'")

    @staticmethod
    def touch_conversations(db: sqlite3.Connection, memories: Iterable[Memory]) -> None:
        for m in memories:
            if m.kind is Kind.EPISODE and m.conversation_id:
                db.execute(
                    "INSERT INTO conversations (id, title, created_at, updated_at)"
                    " VALUES (?, '', ?, ?) ON CONFLICT(id) DO UPDATE SET"
                    " updated_at = max(updated_at, excluded.updated_at)",
                    (m.conversation_id, m.said_at, m.said_at),
                )

    @staticmethod
    def remove_items(db: sqlite3.Connection, ids: Iterable[str]) -> None:
        touched: dict[str, list[int]] = {}
        for memory_id in ids:
            row = db.execute(
                "SELECT rowid, kind, conversation_id, seq FROM items WHERE id=?", (memory_id,)
            ).fetchone()
            if row is not None:
                db.execute("DELETE FROM fts WHERE rowid=?", (row[0],))
                db.execute("DELETE FROM items WHERE rowid=?", (row[0],))
                if row[1] == Kind.EPISODE.value and row[2]:
                    touched.setdefault(row[2], []).append(int(row[3]))
            db.execute("DELETE FROM links WHERE derived=?", (memory_id,))
            db.execute("DELETE FROM usage WHERE id=?", (memory_id,))
            db.execute("DELETE FROM history WHERE id=?", (memory_id,))
            db.execute("DELETE FROM uses WHERE reply_id=? OR memory_id=?", (memory_id, memory_id))
        for conversation_id, seqs in touched.items():
            Ledger.refresh_context(db, conversation_id, min(seqs), max(seqs))

    @staticmethod
    def add_history(db: sqlite3.Connection, previous: Memory, changed_at: float) -> None:
        db.execute(
            "INSERT OR IGNORE INTO history (id, version, changed_at, author, text, record)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                previous.id,
                previous.version,
                changed_at,
                previous.author.value,
                previous.text,
                record_json(previous),
            ),
        )

    # -- reads ------------------------------------------------------------------

    _SELECT = (
        "SELECT items.record, fts.text, usage.access_count, usage.last_access FROM items"
        " JOIN fts ON fts.rowid = items.rowid LEFT JOIN usage ON usage.id = items.id"
    )

    def get(self, ids: Sequence[str]) -> dict[str, Memory]:
        found: dict[str, Memory] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for row in self.query(f"{self._SELECT} WHERE items.id IN ({marks})", chunk):
                memory = memory_from_row(*row)
                found[memory.id] = memory
        return found

    def select(self, where: str = "", params: Sequence[Any] = (), tail: str = "") -> list[Memory]:
        sql = self._SELECT + (f" WHERE {where}" if where else "") + (f" {tail}" if tail else "")
        return [memory_from_row(*row) for row in self.query(sql, params)]

    def count(self, where: str = "", params: Sequence[Any] = ()) -> int:
        sql = "SELECT count(*) FROM items" + (f" WHERE {where}" if where else "")
        return int(self.query(sql, params)[0][0])

    def rowids(self, ids: Sequence[str]) -> dict[str, int]:
        marks = ",".join("?" * len(ids))
        rows = self.query(f"SELECT id, rowid FROM items WHERE id IN ({marks})", list(ids))
        return {str(i): int(r) for i, r in rows}

    def derived_from(self, ids: Sequence[str]) -> list[str]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.query(
            f"SELECT DISTINCT derived FROM links WHERE source IN ({marks})", list(ids)
        )
        return sorted(str(r[0]) for r in rows if r[0] not in ids)

    def next_seq(self, conversation_id: str) -> int:
        rows = self.query(
            "SELECT coalesce(max(seq), 0) FROM items WHERE conversation_id=?", (conversation_id,)
        )
        return int(rows[0][0]) + 1

    def speakers(self) -> list[str]:
        rows = self.query(
            "SELECT DISTINCT json_extract(record, '$.speaker') FROM items WHERE kind='episode'"
        )
        return [str(r[0]) for r in rows if r[0]]

    def document_frequency(self, term: str) -> int:
        """Memories whose text, speaker/date words or context contain ``term`` (stemmed)."""
        try:
            rows = self.query(
                "SELECT count(*) FROM fts WHERE fts MATCH ?", ('"' + term.replace('"', '""') + '"',)
            )
        except sqlite3.OperationalError:
            return 0
        return int(rows[0][0])

    def features(self, ids: Sequence[str]) -> dict[str, Features]:
        """What ranking needs of each memory, read without decoding whole records."""
        found: dict[str, Features] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.query(
                "SELECT items.id, kind, state, said_at, importance, pinned, conversation_id,"
                " json_extract(record, '$.speaker'), json_extract(record, '$.sources'),"
                " usage.last_access FROM items LEFT JOIN usage ON usage.id = items.id"
                f" WHERE items.id IN ({marks})",
                chunk,
            )
            for i, kind, state, said, imp, pinned, conv, speaker, sources, last in rows:
                found[str(i)] = Features(
                    Kind(kind),
                    State(state),
                    float(said),
                    float(imp),
                    bool(pinned),
                    conv,
                    speaker,
                    last,
                    tuple(json.loads(sources)) if sources and sources != "[]" else (),
                )
        return found

    def lexical(
        self, match: str, limit: int, where: str = "", params: Sequence[Any] = ()
    ) -> list[tuple[str, float]]:
        """Ids and BM25 scores (higher is better) for an FTS5 match expression.

        Without a ``where`` the catalogue is only joined for the rows returned: joining
        every match before ranking costs a third more on a large store.
        """
        w = _indexing.LEXICAL_WEIGHTS
        score = f"-bm25(fts, {w[0]}, {w[1]}, {w[2]})"
        try:
            if where:
                rows = self.query(
                    f"SELECT items.id, {score} AS score FROM fts"
                    f" JOIN items ON items.rowid = fts.rowid WHERE fts MATCH ? AND {where}"
                    " ORDER BY score DESC LIMIT ?",
                    [match, *params, limit],
                )
            else:
                rows = self.query(
                    f"SELECT items.id, ranked.score FROM (SELECT rowid, {score} AS score FROM fts"
                    " WHERE fts MATCH ? ORDER BY score DESC LIMIT ?) AS ranked"
                    " JOIN items ON items.rowid = ranked.rowid ORDER BY ranked.score DESC",
                    [match, limit],
                )
        except sqlite3.OperationalError:  # a query FTS5 cannot parse finds nothing
            return []
        return [(str(i), float(s)) for i, s in rows]

    def conversations(self, where: str = "", params: Sequence[Any] = ()) -> list[Conversation]:
        rows = self.query(
            "SELECT c.id, c.title, c.created_at, c.updated_at,"
            # INDEXED BY: left to itself SQLite counts through items_kind_said, reading
            # every turn once per conversation (4 s for 100 conversations at 100k items).
            " (SELECT count(*) FROM items i INDEXED BY items_conversation"
            "  WHERE i.conversation_id = c.id AND i.kind='episode')"
            " FROM conversations c"
            + (f" WHERE {where}" if where else "")
            + " ORDER BY c.updated_at DESC",
            params,
        )
        return [
            Conversation(str(r[0]), str(r[1]), float(r[2]), float(r[3]), int(r[4])) for r in rows
        ]

    def history(self, memory_id: str) -> list[Memory]:
        rows = self.query(
            "SELECT record, text FROM history WHERE id=? ORDER BY version", (memory_id,)
        )
        return [memory_from_row(record, text) for record, text in rows]

    def all_history(self) -> list[tuple[Memory, float]]:
        rows = self.query("SELECT record, text, changed_at FROM history ORDER BY id, version")
        return [(memory_from_row(record, text), float(at)) for record, text, at in rows]

    def set_usage(self, rows: Sequence[tuple[str, int, float | None]]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO usage (id, access_count, last_access) VALUES (?, ?, ?)",
                [(i, n, at or 0.0) for i, n, at in rows],
            )

    def record_access(self, ids: Sequence[str], when: float) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO usage (id, access_count, last_access) VALUES (?, 1, ?)"
                " ON CONFLICT(id) DO UPDATE SET access_count = access_count + 1,"
                " last_access = excluded.last_access",
                [(i, when) for i in ids],
            )


def sql_where(filters: SearchFilter) -> tuple[str, list[Any]]:
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
