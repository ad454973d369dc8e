"""Conversations as the person sees them: titles, times, listing, finding.

A conversation is its turns (episodes carry its id) plus a row here with a
title and the times it began and last changed. The row is per-machine data
(see ``_ledger.py``): on a shared Chroma server another machine sees the
turns but not the titles. Kept apart from the memories because its life is
different: a title changes without a new version, a conversation can be
dropped from the list while its turns stay remembered.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from . import _indexing
from ._ledger import Ledger
from ._transcript import TranscriptBook
from ._validation import check_id, check_label, check_time
from .errors import InvalidMemoryError
from .records import Conversation, Kind, Memory

MAX_TITLE = 200


class ConversationBook:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def _list(self, where: str = "", params: Sequence[Any] = ()) -> list[Conversation]:
        rows = self._ledger.query(
            "SELECT c.id, c.title, c.created_at, c.updated_at,"
            # the turns shown, counted through the transcript's (conversation, seq) index
            " (SELECT count(*) FROM transcript t"
            "  WHERE t.conversation_id = c.id AND t.state != 'replaced')"
            " FROM conversations c"
            + (f" WHERE {where}" if where else "")
            + " ORDER BY c.updated_at DESC",
            params,
        )
        return [
            Conversation(str(r[0]), str(r[1]), float(r[2]), float(r[3]), int(r[4])) for r in rows
        ]

    def all(self) -> list[Conversation]:
        """Conversations with at least one remembered turn or a title, newest first."""
        return self._list()

    def count(self) -> int:
        return int(self._ledger.query("SELECT count(*) FROM conversations")[0][0])

    def get(self, conversation_id: str) -> Conversation | None:
        found = self._list("c.id = ?", (conversation_id,))
        return found[0] if found else None

    def find(self, text: str, limit: int) -> list[Conversation]:
        """Conversations in which every word of ``text`` appears, in the title or a turn."""
        terms = _indexing.words(text)
        if not terms:
            return self.all()[:limit]
        clauses, params = [], []
        for term in terms:
            clauses.append(
                "(c.title LIKE ? OR c.id IN (SELECT items.conversation_id FROM items"
                " JOIN fts ON fts.rowid = items.rowid WHERE fts MATCH ?))"
            )
            params += [f"%{term}%", 'text : "' + term.replace('"', '""') + '"']
        return self._list(" AND ".join(clauses), params)[:limit]

    def set_title(self, conversation_id: str, title: str, now: float) -> None:
        title = " ".join(str(title).split())[:MAX_TITLE]
        with self._ledger.transaction() as db:
            db.execute(
                "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET title = excluded.title",
                (conversation_id, title, now, now),
            )

    def restore(self, conversations: Sequence[Conversation]) -> None:
        """Put back titles and times as exported: the earlier start and the later
        change win, so an import never makes a conversation look younger."""
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

    def delete(self, conversation_id: str) -> None:
        """Drop the row (title and times) and what was said (the transcript); whether
        its turns stay remembered is the caller's business."""
        with self._ledger.transaction() as db:
            db.execute("DELETE FROM conversations WHERE id=?", (conversation_id,))
            TranscriptBook.remove_conversation(db, conversation_id)

    @staticmethod
    def touch(db: sqlite3.Connection, memories: Iterable[Memory]) -> None:
        """Inside the write's transaction: a new turn makes its conversation known
        (untitled) and moves its last change forward."""
        for m in memories:
            if m.kind is Kind.EPISODE and m.conversation_id:
                db.execute(
                    "INSERT INTO conversations (id, title, created_at, updated_at)"
                    " VALUES (?, '', ?, ?) ON CONFLICT(id) DO UPDATE SET"
                    " updated_at = max(updated_at, excluded.updated_at)",
                    (m.conversation_id, m.said_at, m.said_at),
                )
