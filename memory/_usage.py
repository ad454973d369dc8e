"""How memories were used: access counts, and which memories each reply was given.

Per-machine data (see ``_ledger.py``) written outside the outbox: losing the
last access to a crash costs a little recency, never a memory. Access counts
feed ranking and decay; the uses let a reply show what it remembered and why.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from ._ledger import Ledger
from .records import ScoreExplanation


class UsageBook:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def record_access(self, ids: Sequence[str], when: float) -> None:
        """One more use of each of ``ids`` (give each once), at ``when``."""
        with self._ledger.transaction() as db:
            db.executemany(
                "INSERT INTO usage (id, access_count, last_access) VALUES (?, 1, ?)"
                " ON CONFLICT(id) DO UPDATE SET access_count = access_count + 1,"
                " last_access = excluded.last_access",
                [(i, when) for i in ids],
            )

    def set_usage(self, rows: Sequence[tuple[str, int, float | None]]) -> None:
        """Put back (id, access count, last access) as exported."""
        with self._ledger.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO usage (id, access_count, last_access) VALUES (?, ?, ?)",
                [(i, n, at or 0.0) for i, n, at in rows],
            )

    def record_use(
        self, reply_id: str, used: Sequence[tuple[str, float, ScoreExplanation]]
    ) -> None:
        """Replace what ``reply_id`` was given with ``used`` (id, score, why), best first."""
        rows = [
            (reply_id, rank, memory_id, score, json.dumps(asdict(why), separators=(",", ":")))
            for rank, (memory_id, score, why) in enumerate(used)
        ]
        with self._ledger.transaction() as db:
            db.execute("DELETE FROM uses WHERE reply_id=?", (reply_id,))
            db.executemany("INSERT INTO uses VALUES (?, ?, ?, ?, ?)", rows)

    def uses(self, reply_id: str) -> list[tuple[str, float, ScoreExplanation]]:
        """What ``reply_id`` was given, best first (deleted memories' rows go with them)."""
        rows = self._ledger.query(
            "SELECT memory_id, score, explanation FROM uses WHERE reply_id=? ORDER BY rank",
            (reply_id,),
        )
        return [(str(m), float(s), ScoreExplanation(**json.loads(e))) for m, s, e in rows]
