"""Consolidation's bookkeeping in the ledger: the job queue, model outputs, runs.

Why it lives in SQLite next to the catalogue: a job must survive a crash or a
restart, and it must be possible to redo one without doing its work twice.
Each job has a deterministic key (``session:<conversation>``…); each model
answer is stored under a key before it is acted on, so a job resumed after a
kill -9 replays the same answers and writes the same (deterministically
named) memories instead of new ones. A run's changes are logged *before* they
are made, so an undo after a crash still finds them.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ._ledger import Ledger
from .records import Memory


class JobState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    """Given up after too many attempts; ``last_error`` says why."""


@dataclass(frozen=True, slots=True)
class Job:
    key: str
    kind: str
    state: JobState
    attempts: int
    last_error: str | None
    created_at: float
    updated_at: float


class RunAction(StrEnum):
    READ = "read"
    ADDED = "added"
    UPDATED = "updated"
    """Any change that keeps the memory: reinforced, superseded, archived, re-summarised."""
    DELETED = "deleted"
    """Only summaries, which are regenerated; episodes and facts are never deleted here."""


@dataclass(frozen=True, slots=True)
class RunChange:
    memory_id: str
    action: RunAction
    before_version: int | None
    at: float


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    started_at: float
    finished_at: float | None
    status: str
    """"running", "done", "interrupted" (killed, or the model was needed), "failed"."""
    note: dict[str, Any]
    undone_at: float | None

    @property
    def undone(self) -> bool:
        return self.undone_at is not None


class JobBook:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    # -- jobs ---------------------------------------------------------------------

    # Job keys are spelt here and only here: the queue, forgetting (which queues
    # rewrites inside its own transaction) and the consolidator all ask these.

    @staticmethod
    def conversation_job(conversation_id: str) -> tuple[str, str]:
        """(key, kind) of the job that summarises and mines a conversation."""
        return f"session:{conversation_id}", "session"

    @staticmethod
    def period_job(scope: str, label: str) -> tuple[str, str]:
        """(key, kind) of the job that writes the ``week`` or ``month`` summary of ``label``."""
        return f"{scope}:{label}", scope

    @staticmethod
    def rewrite_job(summary: Memory) -> tuple[str, str] | None:
        """(key, kind) of the job that writes ``summary`` (again); None if no job
        writes it (a summary added by hand, a topic)."""
        if summary.scope in ("session", "part") and summary.conversation_id:
            return JobBook.conversation_job(summary.conversation_id)
        period = summary.extra.get("period")
        if summary.scope in ("week", "month") and isinstance(period, str):
            return JobBook.period_job(summary.scope, period)
        return None

    @staticmethod
    def subject(job: Job) -> str:
        """What a job is about: the conversation id, or the period's label."""
        return job.key.split(":", 1)[1]

    @staticmethod
    def enqueue(db: sqlite3.Connection, key: str, kind: str, now: float) -> None:
        """Queue a job inside the caller's transaction (so that it is queued exactly
        when the caller's change is made); a finished job with the same key is
        queued again, its stored outputs dropped since its input changed."""
        row = db.execute("SELECT state FROM jobs WHERE key=?", (key,)).fetchone()
        if row is not None and row[0] == JobState.PENDING:
            return
        if row is not None:
            db.execute("DELETE FROM job_outputs WHERE key LIKE ? ESCAPE '\\'", (_like(key),))
        db.execute(
            "INSERT OR REPLACE INTO jobs VALUES (?, ?, '{}', ?, 0, NULL, ?, ?)",
            (key, kind, JobState.PENDING, now, now),
        )

    def queue_conversation(self, conversation_id: str, now: float) -> str:
        """Summarise and mine this conversation on the next run (what is new in it)."""
        key, kind = self.conversation_job(conversation_id)
        with self._ledger.transaction() as db:
            self.enqueue(db, key, kind, now)
        return key

    def queue_period(self, scope: str, label: str, now: float) -> str:
        """Write (again) the ``week`` or ``month`` summary of ``label`` ("2024-W18", "2024-05")."""
        key, kind = self.period_job(scope, label)
        with self._ledger.transaction() as db:
            self.enqueue(db, key, kind, now)
        return key

    def pending(self) -> list[Job]:
        return self._jobs("state=? ORDER BY created_at, key", (JobState.PENDING,))

    def get(self, key: str) -> Job | None:
        jobs = self._jobs("key=?", (key,))
        return jobs[0] if jobs else None

    def _jobs(self, where: str, params: Sequence[Any]) -> list[Job]:
        rows = self._ledger.query(
            "SELECT key, kind, state, attempts, last_error, created_at, updated_at "
            f"FROM jobs WHERE {where}",
            params,
        )
        return [Job(r[0], r[1], JobState(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def finish(self, key: str, now: float, *, watermark: tuple[str, int] | None = None) -> None:
        """Mark a job done and, in the same transaction, move its conversation's mark
        and drop the model answers kept for replaying it."""
        with self._ledger.transaction() as db:
            db.execute(
                "UPDATE jobs SET state=?, last_error=NULL, updated_at=? WHERE key=?",
                (JobState.DONE, now, key),
            )
            db.execute("DELETE FROM job_outputs WHERE key LIKE ? ESCAPE '\\'", (_like(key),))
            if watermark is not None:
                db.execute(
                    "INSERT INTO watermarks VALUES (?, ?) ON CONFLICT(conversation_id) "
                    "DO UPDATE SET seq=max(seq, excluded.seq)",
                    watermark,
                )

    def fail(self, key: str, reason: str, now: float, *, max_attempts: int) -> bool:
        """Count a failed attempt; after ``max_attempts`` the job is given up (True)."""
        with self._ledger.transaction() as db:
            row = db.execute("SELECT attempts FROM jobs WHERE key=?", (key,)).fetchone()
            attempts = (int(row[0]) if row else 0) + 1
            give_up = attempts >= max_attempts
            db.execute(
                "UPDATE jobs SET state=?, attempts=?, last_error=?, updated_at=? WHERE key=?",
                (
                    JobState.FAILED if give_up else JobState.PENDING,
                    attempts,
                    reason[:2000],
                    now,
                    key,
                ),
            )
        return give_up

    # -- stored model outputs -----------------------------------------------------

    def output(self, key: str) -> str | None:
        rows = self._ledger.query("SELECT output FROM job_outputs WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def save_output(self, key: str, output: str) -> None:
        with self._ledger.transaction() as db:
            db.execute("INSERT OR REPLACE INTO job_outputs VALUES (?, ?)", (key, output))

    # -- watermarks ---------------------------------------------------------------

    def watermark(self, conversation_id: str) -> int:
        rows = self._ledger.query(
            "SELECT seq FROM watermarks WHERE conversation_id=?", (conversation_id,)
        )
        return int(rows[0][0]) if rows else -1

    def waiting_turns(self) -> list[tuple[str, int, float]]:
        """(conversation, turns not yet consolidated, when the newest was stored)."""
        rows = self._ledger.query(
            "SELECT i.conversation_id, count(*), max(i.stored_at) FROM items i "
            "LEFT JOIN watermarks w ON w.conversation_id = i.conversation_id "
            "WHERE i.kind = 'episode' AND i.state != 'superseded' "
            "AND i.seq > coalesce(w.seq, -1) GROUP BY i.conversation_id"
        )
        return [(str(c), int(n), float(t)) for c, n, t in rows]

    # -- runs -----------------------------------------------------------------------

    def start_run(self, now: float) -> str:
        run_id = f"run-{uuid.uuid4().hex[:12]}"
        with self._ledger.transaction() as db:
            db.execute(
                "UPDATE runs SET status='interrupted' WHERE status='running'"
            )  # a run still "running" at the start of another was killed
            db.execute("INSERT INTO runs VALUES (?, ?, NULL, 'running', '{}', NULL)", (run_id, now))
        return run_id

    def finish_run(self, run_id: str, status: str, note: dict[str, Any], now: float) -> None:
        with self._ledger.transaction() as db:
            db.execute(
                "UPDATE runs SET status=?, note=?, finished_at=? WHERE id=?",
                (status, json.dumps(note), now, run_id),
            )

    def log_change(
        self,
        run_id: str,
        memory_id: str,
        action: RunAction,
        before_version: int | None,
        now: float,
    ) -> None:
        """Logged before the change is made: the first log of a memory in a run wins,
        so the version to go back to is the one from before the run."""
        with self._ledger.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO run_changes VALUES (?, ?, ?, ?, ?)",
                (run_id, memory_id, action, before_version, now),
            )

    def log_reads(self, run_id: str, memory_ids: Sequence[str], now: float) -> None:
        with self._ledger.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO run_changes VALUES (?, ?, 'read', NULL, ?)",
                [(run_id, m, now) for m in memory_ids],
            )

    def runs(self, limit: int = 50) -> list[Run]:
        return self._runs("1 ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,))

    def run(self, run_id: str) -> Run | None:
        found = self._runs("id=?", (run_id,))
        return found[0] if found else None

    def _runs(self, where: str, params: Sequence[Any]) -> list[Run]:
        rows = self._ledger.query(
            f"SELECT id, started_at, finished_at, status, note, undone_at FROM runs WHERE {where}",
            params,
        )
        return [Run(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def changes(self, run_id: str) -> list[RunChange]:
        rows = self._ledger.query(
            "SELECT memory_id, action, before_version, at FROM run_changes WHERE run_id=? "
            "ORDER BY at, memory_id",
            (run_id,),
        )
        return [RunChange(r[0], RunAction(r[1]), r[2], r[3]) for r in rows]

    def runs_touching(
        self, memory_id: str, limit: int = 20
    ) -> list[tuple[Run, tuple[RunAction, ...]]]:
        """The runs that read or changed a memory, newest first, each with what it did
        to it: how the memory manager answers "which run made or changed this?"."""
        rows = self._ledger.query(
            "SELECT c.run_id, group_concat(c.action) FROM run_changes c "
            "JOIN runs r ON r.id = c.run_id WHERE c.memory_id=? "
            "GROUP BY c.run_id ORDER BY max(r.started_at) DESC, c.run_id LIMIT ?",
            (memory_id, limit),
        )
        found: list[tuple[Run, tuple[RunAction, ...]]] = []
        for run_id, actions in rows:
            run = self.run(str(run_id))
            if run is not None:
                found.append((run, tuple(sorted({RunAction(a) for a in actions.split(",")}))))
        return found

    def mark_undone(self, run_id: str, now: float) -> None:
        with self._ledger.transaction() as db:
            db.execute("UPDATE runs SET undone_at=? WHERE id=?", (now, run_id))


def _like(key: str) -> str:
    """Outputs of a job are keyed ``<job key>/<step>``."""
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "/%"
