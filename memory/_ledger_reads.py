"""Reads of memories from the ledger: lookups, pages, counts, provenance, ranking features.

Every question the store, retrieval and maintenance ask about memories is a
method here, so that the SQL (and the indexes it relies on) is in one place;
the store only checks arguments and shapes answers. Reads never write: what
changes memories is ``_ledger_index.py``, under the write path.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from . import _indexing
from ._ledger import Ledger, memory_from_row
from .records import (
    CONFLICTS_WITH,
    ORIGIN,
    Author,
    Kind,
    ListQuery,
    Memory,
    Origin,
    Page,
    SortKey,
    State,
)
from .retrieval import Features, SearchFilter

_SELECT = (
    "SELECT items.record, fts.text, usage.access_count, usage.last_access FROM items"
    " JOIN fts ON fts.rowid = items.rowid LEFT JOIN usage ON usage.id = items.id"
)
_CHUNK = 500
"""Ids per ``IN (...)``: well under SQLite's limit on bound parameters."""


class Catalogue:
    """Memories as the ledger's catalogue, lexical index and links hold them."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def _select(self, where: str, params: Sequence[Any] = (), tail: str = "") -> list[Memory]:
        sql = f"{_SELECT} WHERE {where}" + (f" {tail}" if tail else "")
        return [memory_from_row(*row) for row in self._ledger.query(sql, params)]

    def _count(self, where: str = "", params: Sequence[Any] = ()) -> int:
        sql = "SELECT count(*) FROM items" + (f" WHERE {where}" if where else "")
        return int(self._ledger.query(sql, params)[0][0])

    # -- lookups ------------------------------------------------------------------

    def get(self, ids: Sequence[str]) -> dict[str, Memory]:
        found: dict[str, Memory] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            for memory in self._select(f"items.id IN ({marks})", chunk):
                found[memory.id] = memory
        return found

    def count(self, kind: Kind | None = None) -> int:
        if kind is None:
            return self._ledger.count()
        return self._count("kind=?", (kind.value,))

    def versions(self) -> dict[str, tuple[float, int]]:
        """Each memory's (updated_at, version): what a rebuild from Chroma compares."""
        rows = self._ledger.query(
            "SELECT id, updated_at, json_extract(record, '$.version') FROM items"
        )
        return {str(i): (float(u), int(v)) for i, u, v in rows}

    def derived_from(self, ids: Sequence[str]) -> list[str]:
        """Memories citing any of ``ids`` as a source (``ids`` themselves left out)."""
        if not ids:
            return []
        found: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._ledger.query(
                f"SELECT DISTINCT derived FROM links WHERE source IN ({marks})", chunk
            )
            found.update(str(r[0]) for r in rows)
        return sorted(found - set(ids))

    def superseded_by(self, memory_id: str) -> list[str]:
        """Ids of the facts that ``memory_id`` superseded."""
        rows = self._ledger.query(
            "SELECT id FROM items WHERE state='superseded' "
            "AND json_extract(record, '$.superseded_by') = ?",
            (memory_id,),
        )
        return [str(r[0]) for r in rows]

    def facts_as_of(self, when: float) -> list[Memory]:
        """Facts current or superseded that were valid at ``when``, oldest said first."""
        return self._select(
            "items.kind='fact' AND items.state IN ('active', 'superseded') "
            "AND coalesce(json_extract(items.record, '$.valid_from'), items.said_at) <= ? "
            "AND (json_extract(items.record, '$.valid_to') IS NULL "
            "OR json_extract(items.record, '$.valid_to') > ?)",
            (when, when),
            "ORDER BY items.said_at",
        )

    def flagged_conflicts(self) -> list[Memory]:
        """Active or archived facts that carry the contradiction flag, newest first
        (decay may archive a fact whose contradiction is still open)."""
        return self._select(
            "items.kind='fact' AND items.state IN ('active', 'archived') "
            "AND coalesce(json_extract(items.record, ?), '') != ''",
            (f"$.extra.{CONFLICTS_WITH}",),
            "ORDER BY items.said_at DESC, items.rowid DESC",
        )

    # -- conversations' turns -------------------------------------------------------

    def turns(self, conversation_id: str, *, superseded: bool) -> list[Memory]:
        """A conversation's episodes in the order said (replaced ones only if asked)."""
        states = "" if superseded else " AND items.state != 'superseded'"
        return self._select(
            f"items.conversation_id=? AND items.kind='episode'{states}",
            (conversation_id,),
            "ORDER BY items.seq",
        )

    def neighbour(self, conversation_id: str, seq: int, step: int) -> Memory | None:
        """The episode ``step`` places before (negative) or after (positive) ``seq``."""
        if step == 0:
            return None
        op, order = ("<", "DESC") if step < 0 else (">", "ASC")
        found = self._select(
            f"items.conversation_id=? AND items.kind='episode' AND items.seq {op} ?",
            (conversation_id, seq, abs(step) - 1),
            f"ORDER BY items.seq {order} LIMIT 1 OFFSET ?",
        )
        return found[0] if found else None

    def next_seq(self, conversation_id: str) -> int:
        rows = self._ledger.query(
            "SELECT coalesce(max(seq), 0) FROM items WHERE conversation_id=?", (conversation_id,)
        )
        return int(rows[0][0]) + 1

    def speakers(self) -> list[str]:
        rows = self._ledger.query(
            "SELECT DISTINCT json_extract(record, '$.speaker') FROM items WHERE kind='episode'"
        )
        return [str(r[0]) for r in rows if r[0]]

    # -- the browser ------------------------------------------------------------------

    def position(self, memory_id: str, query: ListQuery) -> int | None:
        """Where a memory stands among those ``query`` lists (its row, counting from 0), or
        None if the query's filters leave it out: how a list shows a memory wherever it
        is, without reading the rows before it."""
        where, params = self._filtered(query)
        rows = self._ledger.query(
            f"SELECT items.rowid, items.seq, {self._sort_column(query)} FROM items"
            f" WHERE items.id = ?{' AND ' + where if where else ''}",
            [memory_id, *params],
        )
        if not rows:
            return None
        rowid, seq, value = rows[0]
        before = ">" if query.descending else "<"
        clause = f"({self._sort_column(query)}, items.seq, items.rowid) {before} (?, ?, ?)"
        return self._count(
            " AND ".join(c for c in (where, clause) if c), [*params, value, seq, rowid]
        )

    @staticmethod
    def _sort_column(query: ListQuery) -> str:
        return {SortKey.KIND: "items.kind"}.get(query.sort, f"items.{query.sort.value}")

    def _filtered(self, query: ListQuery) -> tuple[str, list[Any]]:
        """The WHERE clause of a query's filters, with its parameters."""
        where, params = sql_where(
            SearchFilter(
                kinds=query.kinds,
                states=query.states,
                conversation_id=query.conversation_id,
                since=query.since,
                until=query.until,
                pinned_only=query.pinned_only,
                written_by_model=query.written_by_model,
            )
        )
        clauses = [where] if where else []
        terms = _indexing.words(query.contains) if query.contains else []
        if terms:
            clauses.append("items.rowid IN (SELECT rowid FROM fts WHERE fts MATCH ?)")
            params.append(  # the memory's own words, not its neighbours' context
                " AND ".join('text : "' + t.replace('"', '""') + '"' for t in terms)
            )
        return " AND ".join(clauses), params

    def page(self, query: ListQuery) -> Page:
        """A page of memories, filtered and sorted, with the total over all pages."""
        where, params = self._filtered(query)
        total = self._count(where, params)
        column = self._sort_column(query)
        order = "DESC" if query.descending else "ASC"
        ordering = f"ORDER BY {column} {order}, items.seq {order}, items.rowid {order}"
        # The page's rows are picked from the items table alone, then read with their text:
        # ordering the join with the text table sorted every row (0.5 s a page at 100k).
        page = (
            f"items.rowid IN (SELECT items.rowid FROM items{' WHERE ' + where if where else ''}"
            f" {ordering} LIMIT ? OFFSET ?)"
        )
        items = self._select(page, [*params, max(0, query.limit), max(0, query.offset)], ordering)
        return Page(tuple(items), total, query.offset)

    def counts(self) -> tuple[dict[Kind, int], dict[State, int], int]:
        """Memories by kind, by state, and how many are pinned."""
        by_kind = {k: 0 for k in Kind}
        for kind, n in self._ledger.query("SELECT kind, count(*) FROM items GROUP BY kind"):
            by_kind[Kind(kind)] = int(n)
        by_state = {s: 0 for s in State}
        for state, n in self._ledger.query("SELECT state, count(*) FROM items GROUP BY state"):
            by_state[State(state)] = int(n)
        return by_kind, by_state, self._count("pinned=1")

    # -- history ----------------------------------------------------------------------

    def history(self, memory_id: str) -> list[Memory]:
        rows = self._ledger.query(
            "SELECT record, text FROM history WHERE id=? ORDER BY version", (memory_id,)
        )
        return [memory_from_row(record, text) for record, text in rows]

    def history_of(self, ids: Sequence[str]) -> list[tuple[Memory, float]]:
        """The earlier versions of these memories, with the time each was replaced."""
        found: list[tuple[Memory, float]] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._ledger.query(
                f"SELECT record, text, changed_at FROM history WHERE id IN ({marks})"
                " ORDER BY id, version",
                chunk,
            )
            found += [(memory_from_row(record, text), float(at)) for record, text, at in rows]
        return found

    def all_history(self) -> list[tuple[Memory, float]]:
        rows = self._ledger.query(
            "SELECT record, text, changed_at FROM history ORDER BY id, version"
        )
        return [(memory_from_row(record, text), float(at)) for record, text, at in rows]

    # -- retrieval ----------------------------------------------------------------------

    def document_frequency(self, term: str) -> int:
        """Memories whose text, speaker/date words or context contain ``term`` (stemmed)."""
        try:
            rows = self._ledger.query(
                "SELECT count(*) FROM fts WHERE fts MATCH ?", ('"' + term.replace('"', '""') + '"',)
            )
        except sqlite3.OperationalError:
            return 0
        return int(rows[0][0])

    def features(self, ids: Sequence[str]) -> dict[str, Features]:
        """What ranking needs of each memory, read without decoding whole records."""
        found: dict[str, Features] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._ledger.query(
                "SELECT items.id, kind, state, said_at, importance, pinned, conversation_id,"
                " json_extract(record, '$.speaker'), json_extract(record, '$.sources'),"
                f" usage.last_access, json_extract(record, '$.role'), {BY_MODEL}"
                " FROM items LEFT JOIN usage ON usage.id = items.id"
                f" WHERE items.id IN ({marks})",
                chunk,
            )
            for (
                i,
                kind,
                state,
                said,
                imp,
                pinned,
                conv,
                speaker,
                sources,
                last,
                role,
                model,
            ) in rows:
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
                    role,
                    bool(model),
                )
        return found

    def lexical(self, match: str, limit: int, filters: SearchFilter) -> list[tuple[str, float]]:
        """Ids and BM25 scores (higher is better) for an FTS5 match expression.

        Without a filter (no kinds, no states…) the catalogue is only joined for the
        rows returned: joining every match before ranking costs a third more on a
        large store.
        """
        where, params = sql_where(filters)
        w = _indexing.LEXICAL_WEIGHTS
        score = f"-bm25(fts, {w[0]}, {w[1]}, {w[2]})"
        try:
            if where:
                rows = self._ledger.query(
                    f"SELECT items.id, {score} AS score FROM fts"
                    f" JOIN items ON items.rowid = fts.rowid WHERE fts MATCH ? AND {where}"
                    " ORDER BY score DESC LIMIT ?",
                    [match, *params, limit],
                )
            else:
                rows = self._ledger.query(
                    f"SELECT items.id, ranked.score FROM (SELECT rowid, {score} AS score FROM fts"
                    " WHERE fts MATCH ? ORDER BY score DESC LIMIT ?) AS ranked"
                    " JOIN items ON items.rowid = ranked.rowid ORDER BY ranked.score DESC",
                    [match, limit],
                )
        except sqlite3.OperationalError:  # a query FTS5 cannot parse finds nothing
            return []
        return [(str(i), float(s)) for i, s in rows]


BY_MODEL = (
    f"(json_extract(items.record, '$.author') = '{Author.CONSOLIDATION.value}' AND"
    f" coalesce(json_extract(items.record, '$.extra.{ORIGIN}'), '') != '{Origin.STATEMENT.value}')"
)
"""SQL for ``records.written_by_model``."""


def sql_where(filters: SearchFilter) -> tuple[str, list[Any]]:
    """A filter as a WHERE clause over ``items`` and its parameters."""
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
    if filters.written_by_model:
        clauses.append(BY_MODEL)
    return " AND ".join(clauses), params
