"""Conversations as records of what was said, apart from what is remembered.

A chat turn becomes two things when it is written: a memory (the episode,
which retrieval uses, consolidation reads, the person may edit or forget) and
a line of its conversation's transcript (what was said, as it was said). The
two start with the same text and the same id, and then live their own lives:

* editing the memory never rewrites the transcript, so a conversation never
  shows words nobody typed;
* forgetting the memory leaves the transcript as the person chooses
  (:class:`TranscriptChoice`): the words kept and marked as not remembered,
  the words withheld, or the turn removed;
* a regenerated reply or an edited message replaces turns in the transcript
  (they are hidden) while their memories stay, superseded, in history.

The transcript is per-machine data in the ledger (see ``_ledger.py``). A turn
enters it in the same transaction that indexes its memory, so no turn is
remembered without being in its conversation; a ledger rebuilt from Chroma
gets the transcript of every turn still remembered (the words of turns that
were no longer remembered are lost with the old ledger).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ._ledger import Ledger
from .records import Kind, Memory, State, TranscriptChoice, TranscriptTurn, TurnState

_COLUMNS = "id, conversation_id, seq, role, speaker, said_at, text, state"


def _turn(row: Sequence[Any]) -> TranscriptTurn:
    return TranscriptTurn(
        str(row[0]),
        str(row[1]),
        int(row[2]),
        str(row[3]),
        row[4],
        float(row[5]),
        str(row[6]),
        TurnState(row[7]),
    )


def _marks(ids: Sequence[str]) -> str:
    return ",".join("?" * len(ids))


class TranscriptBook:
    """Reads of the transcript; the writes are static, run inside a write's transaction."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def turns(self, conversation_id: str, *, replaced: bool = False) -> list[TranscriptTurn]:
        """The conversation as shown, in the order said (replaced turns only if asked)."""
        hidden = "" if replaced else " AND state != 'replaced'"
        rows = self._ledger.query(
            f"SELECT {_COLUMNS} FROM transcript WHERE conversation_id=?{hidden} ORDER BY seq",
            (conversation_id,),
        )
        return [_turn(r) for r in rows]

    def get(self, ids: Sequence[str]) -> dict[str, TranscriptTurn]:
        found: dict[str, TranscriptTurn] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            rows = self._ledger.query(
                f"SELECT {_COLUMNS} FROM transcript WHERE id IN ({_marks(chunk)})", chunk
            )
            found.update((str(r[0]), _turn(r)) for r in rows)
        return found

    def everything(self) -> list[TranscriptTurn]:
        """Every turn of every conversation (for a lossless export)."""
        rows = self._ledger.query(
            f"SELECT {_COLUMNS} FROM transcript ORDER BY conversation_id, seq"
        )
        return [_turn(r) for r in rows]

    def last_seq(self, conversation_id: str) -> int:
        rows = self._ledger.query(
            "SELECT coalesce(max(seq), 0) FROM transcript WHERE conversation_id=?",
            (conversation_id,),
        )
        return int(rows[0][0])

    # -- inside a write's transaction ---------------------------------------------------

    @staticmethod
    def record(db: sqlite3.Connection, memories: Iterable[Memory]) -> None:
        """New turns enter their conversation with the words they were said with; a
        turn already there keeps its words whatever its memory becomes."""
        db.executemany(
            f"INSERT OR IGNORE INTO transcript ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    m.id,
                    m.conversation_id,
                    m.seq,
                    m.role or "user",
                    m.speaker,
                    m.said_at,
                    m.text,
                    (
                        TurnState.REPLACED if m.state is State.SUPERSEDED else TurnState.REMEMBERED
                    ).value,
                )
                for m in memories
                if m.kind is Kind.EPISODE and m.conversation_id
            ],
        )

    @staticmethod
    def restore(db: sqlite3.Connection, turns: Iterable[TranscriptTurn]) -> None:
        """Put back turns as exported; a turn already here is kept as it is."""
        _insert(db, "INSERT OR IGNORE", turns)

    @staticmethod
    def put_back(db: sqlite3.Connection, turns: Iterable[TranscriptTurn]) -> None:
        """Turns exactly as they were (undoing a forget), whatever they are now."""
        _insert(db, "INSERT OR REPLACE", turns)

    @staticmethod
    def apply(db: sqlite3.Connection, changes: Sequence[dict[str, Any]]) -> None:
        """Changes a chat makes to what was said, in the same transaction as its memory's:
        ``{"op": "replace", "ids": [...]}`` (regenerated or edited away) and
        ``{"op": "words", "id": ..., "text": ...}`` (the person changed their message, or
        a reply was continued)."""
        for change in changes:
            if change["op"] == "replace":
                ids = [str(i) for i in change["ids"]]
                db.execute(
                    f"UPDATE transcript SET state='replaced' WHERE id IN ({_marks(ids)})", ids
                )
            elif change["op"] == "words":
                db.execute(
                    "UPDATE transcript SET text=? WHERE id=?", (str(change["text"]), change["id"])
                )
            else:
                raise ValueError(f"unknown transcript change {change['op']!r}")

    @staticmethod
    def forgotten(db: sqlite3.Connection, ids: Sequence[str], choice: TranscriptChoice) -> None:
        """The memories of these turns were forgotten: the transcript as the person chose.
        A replaced turn is not shown anyway, so it simply goes."""
        if not ids:
            return
        marks = _marks(ids)
        db.execute(f"DELETE FROM transcript WHERE state='replaced' AND id IN ({marks})", ids)
        if choice is TranscriptChoice.REMOVE_TURN:
            db.execute(f"DELETE FROM transcript WHERE id IN ({marks})", ids)
        elif choice is TranscriptChoice.HIDE_WORDS:
            db.execute(
                f"UPDATE transcript SET state='withheld', text='' WHERE id IN ({marks})", ids
            )
        else:
            db.execute(
                f"UPDATE transcript SET state='not-remembered' WHERE state='remembered'"
                f" AND id IN ({marks})",
                ids,
            )

    @staticmethod
    def remove(db: sqlite3.Connection, ids: Sequence[str]) -> None:
        if ids:
            db.execute(f"DELETE FROM transcript WHERE id IN ({_marks(ids)})", list(ids))

    @staticmethod
    def remove_conversation(db: sqlite3.Connection, conversation_id: str) -> None:
        db.execute("DELETE FROM transcript WHERE conversation_id=?", (conversation_id,))


def _insert(db: sqlite3.Connection, verb: str, turns: Iterable[TranscriptTurn]) -> None:
    db.executemany(
        f"{verb} INTO transcript ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
        [
            (t.id, t.conversation_id, t.seq, t.role, t.speaker, t.said_at, t.text, t.state)
            for t in turns
        ],
    )
