"""Writes to the ledger's derived indexes, inside a transaction the caller holds.

The catalogue (``items``), the lexical index (``fts``, with each turn's
neighbouring turns as context), the provenance reverse index (``links``) and
the edit history change together with Chroma: the write path
(``_writes.py``) and the rebuild from Chroma (``_maintenance.py``) call these
in the transaction that also settles their outbox intent, so the indexes never
show half a write. They are plain functions of a connection because they own
no state and must never open a transaction of their own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from . import _indexing
from ._ledger import memory_from_row, record_json
from .records import Kind, Memory


def put_items(db: sqlite3.Connection, memories: Iterable[Memory]) -> None:
    """Insert or replace memories in the catalogue, lexical index and links."""
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
        refresh_context(db, conversation_id, min(seqs), max(seqs))


def remove_items(db: sqlite3.Connection, ids: Iterable[str]) -> None:
    """Remove memories from every index, with their history, usage and uses."""
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
        refresh_context(db, conversation_id, min(seqs), max(seqs))


def add_history(db: sqlite3.Connection, previous: Memory, changed_at: float) -> None:
    """Keep a replaced version; a version already kept stays as it was (replays)."""
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
        lines.append(_indexing.context_line(data.get("speaker") or data.get("role") or "", text))
    first = max(0, len(before) - n)
    last = min(len(rows), len(before) + len(middle) + n)
    for i in range(first, last):
        context = " ".join(
            lines[j] for j in range(max(0, i - n), min(len(rows), i + n + 1)) if j != i
        )
        db.execute("UPDATE fts SET context=? WHERE rowid=?", (context, rows[i][0]))


def refresh_all_lexical(db: sqlite3.Connection) -> None:
    """Recompute every memory's meta and context columns (after a format change)."""
    rows = db.execute(
        "SELECT items.rowid, items.record, fts.text FROM items JOIN fts ON fts.rowid = items.rowid"
    ).fetchall()
    for rowid, record, text in rows:
        meta = _indexing.lexical_meta(memory_from_row(record, text))
        db.execute("UPDATE fts SET meta=? WHERE rowid=?", (meta, rowid))
    spans = db.execute(
        "SELECT conversation_id, min(seq), max(seq) FROM items"
        " WHERE kind='episode' AND conversation_id IS NOT NULL GROUP BY conversation_id"
    ).fetchall()
    for conversation_id, lo, hi in spans:
        refresh_context(db, conversation_id, int(lo), int(hi))
    db.execute("DELETE FROM meta WHERE key='lexical_stale'")
