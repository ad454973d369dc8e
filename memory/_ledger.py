"""The SQLite ledger: what Chroma cannot do for us, next to the store.

Source of truth, datum by datum:

* **Chroma** holds every memory (episodes, facts, summaries): its verbatim text,
  its vector and all of its metadata, provenance included. That is "the
  memory"; a second machine pointed at the same Chroma server sees all of it.
* **This ledger** holds
  - *derived indexes*, rebuildable from Chroma at any time: the catalogue
    (``items``, sorted listing and paging), the lexical index (``fts``, BM25 via
    FTS5; local Chroma has no sparse/BM25 search) and the provenance reverse
    index (``links``);
  - *per-machine data*: edit history, conversation titles, access statistics,
    the write-ahead ``outbox`` and job bookkeeping. In server mode these stay
    on the machine that made them: another machine sees every memory and its
    current state, but not the earlier versions edited elsewhere.

Writes that touch both stores go through the ``outbox``: the intent is
committed here first, then applied to Chroma (idempotent upsert/delete), then
to the derived indexes in the same transaction that removes the intent. A
crash at any point leaves either no trace or an intent that the next open
replays, so Chroma and the indexes never disagree for long and nothing
acknowledged is lost.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .errors import StoreUnavailableError
from .records import Author, Conversation, Kind, Memory, State

SCHEMA_VERSION = 1

_SCHEMA = """
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
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    text, keys, tokenize = 'porter unicode61 remove_diacritics 2'
);
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
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL
);
"""

# Fields of a Memory kept in the catalogue's JSON; text lives in the fts table.
_RECORD_FIELDS = tuple(f for f in Memory.__dataclass_fields__ if f != "text")


def record_json(memory: Memory) -> str:
    data = asdict(memory)
    del data["text"]
    data["sources"] = list(memory.sources)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def memory_from_row(record: str, text: str) -> Memory:
    data: dict[str, Any] = json.loads(record)
    data["kind"] = Kind(data["kind"])
    data["state"] = State(data["state"])
    data["author"] = Author(data.get("author", Author.CHAT))
    data["sources"] = tuple(data.get("sources", ()))
    return Memory(text=text, **{k: data[k] for k in _RECORD_FIELDS if k in data})


class Ledger:
    """One SQLite connection shared by the store's threads under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=5.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._lock = threading.RLock()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailableError(
                f"the memory ledger {path} cannot be opened: {exc}"
            ) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- plumbing ---------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._db.execute(sql, params)
            rows: list[Any] = cursor.fetchall()
            return rows

    def _migrate(self) -> None:
        with self.transaction() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreUnavailableError(
                    f"the memory ledger {self.path} was written by a newer Mneme "
                    f"(format {row[0]}, this version reads up to {SCHEMA_VERSION})"
                )

    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- outbox -----------------------------------------------------------------

    def push_intent(self, payload: dict[str, Any]) -> int:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO outbox (payload) VALUES (?)",
                (json.dumps(payload, ensure_ascii=False),),
            )
            return int(cursor.lastrowid or 0)

    def pending_intents(self) -> list[tuple[int, dict[str, Any]]]:
        rows = self.query("SELECT seq, payload FROM outbox ORDER BY seq")
        return [(int(seq), json.loads(payload)) for seq, payload in rows]

    # -- derived indexes (called inside a transaction) ----------------------------

    @staticmethod
    def put_items(db: sqlite3.Connection, memories: Iterable[Memory], keys: dict[str, str]) -> None:
        for m in memories:
            row = db.execute("SELECT rowid FROM items WHERE id=?", (m.id,)).fetchone()
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
                "INSERT INTO fts (rowid, text, keys) VALUES (?, ?, ?)",
                (rowid, m.text, keys.get(m.id, "")),
            )
            db.execute("DELETE FROM links WHERE derived=?", (m.id,))
            db.executemany(
                "INSERT OR IGNORE INTO links (source, derived) VALUES (?, ?)",
                [(source, m.id) for source in m.sources],
            )

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
        for memory_id in ids:
            row = db.execute("SELECT rowid FROM items WHERE id=?", (memory_id,)).fetchone()
            if row is not None:
                db.execute("DELETE FROM fts WHERE rowid=?", (row[0],))
                db.execute("DELETE FROM items WHERE rowid=?", (row[0],))
            db.execute("DELETE FROM links WHERE derived=?", (memory_id,))
            db.execute("DELETE FROM usage WHERE id=?", (memory_id,))
            db.execute("DELETE FROM history WHERE id=?", (memory_id,))

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

    _SELECT = "SELECT items.record, fts.text FROM items JOIN fts ON fts.rowid = items.rowid"

    def get(self, ids: Sequence[str]) -> dict[str, Memory]:
        found: dict[str, Memory] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for record, text in self.query(f"{self._SELECT} WHERE items.id IN ({marks})", chunk):
                memory = memory_from_row(record, text)
                found[memory.id] = memory
        return found

    def select(self, where: str = "", params: Sequence[Any] = (), tail: str = "") -> list[Memory]:
        sql = self._SELECT + (f" WHERE {where}" if where else "") + (f" {tail}" if tail else "")
        return [memory_from_row(record, text) for record, text in self.query(sql, params)]

    def count(self, where: str = "", params: Sequence[Any] = ()) -> int:
        sql = "SELECT count(*) FROM items" + (f" WHERE {where}" if where else "")
        return int(self.query(sql, params)[0][0])

    def ids(self) -> set[str]:
        return {str(r[0]) for r in self.query("SELECT id FROM items")}

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

    def lexical(
        self, match: str, limit: int, where: str = "", params: Sequence[Any] = ()
    ) -> list[tuple[str, float]]:
        """Ids and BM25 scores (higher is better) for an FTS5 match expression."""
        sql = (
            "SELECT items.id, -bm25(fts, 1.0, 0.5) AS score FROM fts"
            " JOIN items ON items.rowid = fts.rowid WHERE fts MATCH ?"
            + (f" AND {where}" if where else "")
            + " ORDER BY score DESC LIMIT ?"
        )
        try:
            rows = self.query(sql, [match, *params, limit])
        except sqlite3.OperationalError:  # a query FTS5 cannot parse finds nothing
            return []
        return [(str(i), float(s)) for i, s in rows]

    def conversations(self, where: str = "", params: Sequence[Any] = ()) -> list[Conversation]:
        rows = self.query(
            "SELECT c.id, c.title, c.created_at, c.updated_at,"
            " (SELECT count(*) FROM items i WHERE i.conversation_id = c.id AND i.kind='episode')"
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
