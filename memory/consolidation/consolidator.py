"""The consolidation pipeline: summaries, facts, reconciliation, roll-ups, decay.

Work is a queue of jobs in the ledger (``session:<conversation>``,
``week:<2024-W18>``, ``month:<2024-05>``), so it survives restarts. Every job
can be redone from the start without doing anything twice:

* memories it writes have ids derived from their inputs (``_derived_id``) and
  are written with :meth:`MemoryStore.restore`, which skips existing ids;
* every model answer, and every reconciliation decision, is stored under a key
  before it is acted on, so a redone job replays the same answers;
* updates are idempotent (sources are a union, confidence a function of the
  number of sources, a supersession sets fixed fields);
* a conversation's watermark moves in the transaction that ends its job.

Facts come first from the person's own statements (``statements.py``, no
model), then, where the model is trusted with them (``ModelUse``, decided by
``selfcheck.py`` or the person), from the model; summaries only where it is
trusted with summaries. A fact says which (``extra[ORIGIN]``).

Nothing here deletes an episode or a fact, except the user's optional
retention cap; superseded facts stay, dated, and contradictions are kept
side by side for the user to decide.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .._jobs import Job, JobBook, Run, RunAction
from ..errors import MemoryNotFoundError
from ..records import (
    CONFLICTS_WITH,
    ORIGIN,
    Author,
    Kind,
    ListQuery,
    Memory,
    Origin,
    State,
    TranscriptChoice,
)
from ..retrieval import SearchFilter
from ..store import MemoryStore
from . import _outputs as out
from .base import (
    BadModelOutput,
    ConsolidationConfig,
    ConsolidationModel,
    ModelBusy,
    ModelUse,
    RunReport,
)
from .statements import statements

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""(jobs done, jobs known, what is being done): for a progress bar."""

_ORDER = {"session": 0, "week": 1, "month": 2}
STATEMENT_IMPORTANCE = 0.6
"""What a person says about their life matters a little more than the average fact."""
_CALL_TRIES = 2
"""Asks per step before its answer is skipped: a sampled model may do better twice."""


def _derived_id(kind: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]
    return f"{kind}-{digest}"


def _confidence(n_sources: int) -> float:
    """More independent mentions, more confidence: 0.6, 0.8, 0.9, …"""
    return round(1.0 - 0.4 * 0.5 ** max(0, n_sources - 1), 4)


def decay_score(memory: Memory, now: float, half_life_days: float) -> float:
    """How much a fact or summary is still worth keeping in default retrieval.

    Importance counts half; the other half is the fresher of its age and its
    last use, or how often it was used. Pinned memories never decay.
    """
    if memory.pinned:
        return 1.0
    last = max(memory.said_at, memory.last_access or 0.0)
    age_days = max(0.0, now - last) / 86_400
    recency = 0.5 ** (age_days / half_life_days)
    use = min(1.0, math.log1p(memory.access_count) / math.log1p(20))
    return float(0.5 * memory.importance + 0.5 * max(recency, use))


def _week(timestamp: float) -> tuple[str, float, float]:
    day = datetime.fromtimestamp(timestamp, UTC)
    year, week, _ = day.isocalendar()
    start = datetime.fromisocalendar(year, week, 1).replace(tzinfo=UTC)
    return f"{year}-W{week:02d}", start.timestamp(), (start + timedelta(days=7)).timestamp()


def _month(timestamp: float) -> tuple[str, float, float]:
    day = datetime.fromtimestamp(timestamp, UTC)
    start = datetime(day.year, day.month, 1, tzinfo=UTC)
    end = datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=UTC)
    return f"{day.year}-{day.month:02d}", start.timestamp(), end.timestamp()


def _period(label: str) -> tuple[float, float]:
    if "-W" in label:
        year_text, week_text = label.split("-W")
        start = datetime.fromisocalendar(int(year_text), int(week_text), 1).replace(tzinfo=UTC)
        return start.timestamp(), (start + timedelta(days=7)).timestamp()
    year_text, month_text = label.split("-")
    start = datetime(int(year_text), int(month_text), 1, tzinfo=UTC)
    return _month(start.timestamp())[1:]


class Consolidator:
    """Runs consolidation jobs against one store with one model.

    ``run`` may be called from a worker thread; it checks ``should_stop``
    between model calls and stops at once when the model raises
    :class:`ModelBusy`, leaving the job queued.
    """

    def __init__(
        self,
        store: MemoryStore,
        model: ConsolidationModel,
        config: ConsolidationConfig | None = None,
    ) -> None:
        self.store = store
        self.model = model
        self.config = config or ConsolidationConfig()
        self.jobs: JobBook = store.jobs
        self._run_id = ""
        self._report = RunReport("")

    # -- planning -------------------------------------------------------------------

    def plan(self, *, everything: bool = False) -> list[str]:
        """Queue the conversations that are due: quiet for ``idle_minutes``, or with
        ``size_trigger`` turns waiting; with ``everything``, all that have new turns."""
        now = self.store.now()
        quiet_since = now - self.config.idle_minutes * 60
        queued = []
        for conversation, waiting, newest in self.jobs.waiting_turns():
            if everything or newest <= quiet_since or waiting >= self.config.size_trigger:
                queued.append(self.jobs.queue_conversation(conversation, now))
        return queued

    def pending(self) -> list[Job]:
        return sorted(self.jobs.pending(), key=lambda j: (_ORDER.get(j.kind, 9), j.created_at))

    # -- running --------------------------------------------------------------------

    def run(
        self,
        *,
        everything: bool = False,
        should_stop: Callable[[], bool] = lambda: False,
        progress: Progress | None = None,
    ) -> RunReport:
        started = time.perf_counter()
        self._run_id = self.jobs.start_run(self.store.now())
        report = self._report = RunReport(self._run_id)
        self.plan(everything=everything)
        tried: set[str] = set()
        try:
            while True:
                queue = [j for j in self.pending() if j.key not in tried]
                if not queue:
                    break
                if should_stop():
                    report.status = "interrupted"
                    break
                job = queue[0]
                tried.add(job.key)
                if progress is not None:
                    progress(report.jobs_done, report.jobs_done + len(queue), _describe(job))
                try:
                    self._do(job)
                    report.jobs_done += 1
                except ModelBusy:
                    report.status = "interrupted"
                    break
                except Exception as exc:  # a model error or a bug in one job: the rest go on
                    reason = f"{type(exc).__name__}: {exc}"
                    log.warning("consolidation job %s failed: %s", job.key, reason)
                    if self.jobs.fail(
                        job.key, reason, self.store.now(), max_attempts=self.config.max_attempts
                    ):
                        report.failed_jobs.append((job.key, reason))
            if report.status == "running":
                self._decay()
                self._retention()
                report.status = "done"
        finally:
            report.jobs_left = len(self.jobs.pending())
            report.seconds = time.perf_counter() - started
            self.jobs.finish_run(self._run_id, report.status, report.as_note(), self.store.now())
            if progress is not None:
                progress(report.jobs_done, report.jobs_done + report.jobs_left, report.status)
        return report

    def _do(self, job: Job) -> None:
        if job.kind == "session":
            self._session(job)
        elif job.kind in ("week", "month"):
            self._period(job)
        else:  # written by a newer version; leave it for that version
            raise ValueError(f"unknown job kind {job.kind!r}")

    # -- the model ------------------------------------------------------------------

    def _ask(
        self,
        step: str,
        system: str,
        prompt: str,
        schema: Mapping[str, Any],
        max_tokens: int,
        repair: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """The model's JSON answer for this step, from the store if it was asked before.

        ``repair`` may rescue an answer that does not parse (one cut off by the
        token limit); what it rescues is stored as the answer."""
        key = f"{step}:{hashlib.sha256((system + prompt).encode()).hexdigest()[:16]}"
        stored = self.jobs.output(key)
        if stored is not None:
            return out.parse_json(stored)
        error: BadModelOutput | None = None
        for _ in range(_CALL_TRIES):
            text = self.model.generate(system, prompt, json_schema=schema, max_tokens=max_tokens)
            try:
                answer = out.parse_json(text)
            except BadModelOutput as exc:
                rescued = repair(text) if repair is not None else None
                if rescued is None:
                    error = exc
                    continue
                answer, text = rescued, json.dumps(rescued)
            self.jobs.save_output(key, text)
            return answer
        assert error is not None
        raise error

    # -- a conversation -------------------------------------------------------------

    def _session(self, job: Job) -> None:
        conversation = self.jobs.subject(job)
        turns = [t for t in self.store.conversation(conversation) if t.text.strip()]
        mark = self.jobs.watermark(conversation)
        fresh = [t for t in turns if t.seq > mark]
        self.jobs.log_reads(self._run_id, [t.id for t in fresh], self.store.now())
        self._report.read += len(fresh)
        size = self.config.chunk_turns
        chunks = [turns[i : i + size] for i in range(0, len(turns), size)]
        use = self.config.model_use
        for chunk in chunks:
            new = [t for t in chunk if t.seq > mark]
            if new:
                self._statements(job.key, conversation, new)
                if use is ModelUse.FACTS_AND_SUMMARIES:
                    self._facts(job.key, conversation, new)
        session = (
            None
            if use is ModelUse.NOTHING
            else self._conversation_summaries(job.key, conversation, chunks)
        )
        top = max((t.seq for t in turns), default=mark)
        self.jobs.finish(job.key, self.store.now(), watermark=(conversation, top))
        if session is not None:
            self._queue_periods(session.said_at)

    def _facts(self, job_key: str, conversation: str, turns: list[Memory]) -> None:
        step = f"{job_key}/facts/{_derived_id('c', *(t.id for t in turns))}"
        try:
            answer = self._ask(
                step,
                out.FACTS_SYSTEM,
                out.facts_prompt(turns, self.config.chunk_chars),
                out.FACTS_SCHEMA,
                self.config.max_tokens_facts,
            )
            facts, dropped = out.facts_from(
                answer, len(turns), self.config.max_fact_chars, self.config.max_facts_per_chunk
            )
        except BadModelOutput as exc:
            self._skip(step, str(exc))
            return
        for reason in dropped:
            self._skip(step, reason)
        for fact in facts:
            sources = [turns[i] for i in fact.turns]
            self._reconcile(job_key, conversation, fact, sources, origin=Origin.MODEL)

    def _statements(self, job_key: str, conversation: str, turns: list[Memory]) -> None:
        """The person's own statements, kept as facts in their words (no model)."""
        for statement in statements(turns):
            fact = out.ExtractedFact(statement.text, (0,), STATEMENT_IMPORTANCE)
            self._reconcile(
                job_key,
                conversation,
                fact,
                [statement.source],
                origin=Origin.STATEMENT,
                valid_from=statement.valid_from,
            )

    def _reconcile(
        self,
        job_key: str,
        conversation: str,
        fact: out.ExtractedFact,
        sources: list[Memory],
        *,
        origin: Origin,
        valid_from: float | None = None,
    ) -> None:
        source_ids = [s.id for s in sources]
        fact_id = _derived_id("fact", conversation, out.normalise(fact.text), *source_ids)
        step = f"{job_key}/decide/{fact_id}"
        stored = self.jobs.output(step)
        if stored is not None:
            decision = out.parse_json(stored)
        else:
            decision = self._decide(step, fact_id, fact.text)
            self.jobs.save_output(step, json.dumps(decision))
        said = max(s.said_at for s in sources)
        new = Memory(
            id=fact_id,
            kind=Kind.FACT,
            text=fact.text,
            said_at=said,
            stored_at=self.store.now(),
            updated_at=self.store.now(),
            conversation_id=conversation,
            importance=fact.importance,
            confidence=_confidence(len(source_ids)),
            sources=tuple(source_ids),
            valid_from=valid_from if valid_from is not None else said,
            author=Author.CONSOLIDATION,
            extra={ORIGIN: origin.value},
        )
        kind, target_id = str(decision["decision"]), decision.get("target")
        # a fact the stored decision names may have been forgotten since: then it is new
        target = next(iter(self.store.get_many([target_id])), None) if target_id else None
        if kind == "same" and target is not None:
            merged = tuple(dict.fromkeys([*target.sources, *source_ids]))
            self._update(
                target,
                sources=merged,
                confidence=max(target.confidence, _confidence(len(merged))),
                importance=max(target.importance, fact.importance),
            )
            self._report.reinforced.append(target.id)
            return
        if kind == "contradict" and target is not None:
            new = replace(new, extra={**new.extra, CONFLICTS_WITH: target.id})
            self._report.contradictions.append(fact_id)
        self._add(new)
        if kind == "supersede" and target is not None:
            self._update(
                target,
                state=State.SUPERSEDED,
                valid_to=max(said, target.valid_from or target.said_at),
                superseded_by=fact_id,
            )
            self._report.superseded.append(target.id)

    def _decide(self, step: str, fact_id: str, text: str) -> dict[str, Any]:
        """Rules first (exact and near duplicates), the model only for related facts."""
        hits = self.store.search(
            text,
            k=self.config.similar_facts,
            filters=SearchFilter(kinds=(Kind.FACT,), states=(State.ACTIVE,)),
            exclude=(fact_id,),
        )
        key = out.normalise(text)
        for hit in hits:
            if out.normalise(hit.memory.text) == key or (
                (hit.explanation.dense or 0.0) >= self.config.duplicate_similarity
            ):
                return {"decision": "same", "target": hit.memory.id, "by": "rule"}
        related = [
            h.memory for h in hits if (h.explanation.dense or 0.0) >= self.config.related_similarity
        ]
        if not related or self.config.model_use is not ModelUse.FACTS_AND_SUMMARIES:
            # a model not trusted with facts is not trusted to judge them either
            return {"decision": "add", "target": None, "by": "rule"}
        try:
            answer = self._ask(
                step,
                out.DECIDE_SYSTEM,
                out.decision_prompt(text, related),
                out.DECISION_SCHEMA,
                self.config.max_tokens_decision,
            )
            decision, index = out.decision_from(answer, len(related))
        except BadModelOutput as exc:
            self._skip(step, f"{exc}; the fact was added beside the related ones")
            return {"decision": "add", "target": None, "by": "fallback"}
        target = related[index].id if index >= 0 else None
        return {"decision": decision, "target": target, "by": "model"}

    def _conversation_summaries(
        self, job_key: str, conversation: str, chunks: list[list[Memory]]
    ) -> Memory | None:
        """One chunk: a summary of the turns. More: a summary of each part, then of those."""
        session_id = _derived_id("summary", "session", conversation)
        if not chunks:
            return None
        if len(chunks) == 1:
            turns = chunks[0]
            return self._summary(
                job_key,
                session_id,
                out.SUMMARY_SYSTEM,
                out.summary_prompt(turns, self.config.chunk_chars),
                turns,
                scope="session",
                conversation=conversation,
            )
        parts = []
        for i, turns in enumerate(chunks):
            part = self._summary(
                job_key,
                _derived_id("summary", "part", conversation, str(i)),
                out.SUMMARY_SYSTEM,
                out.summary_prompt(turns, self.config.chunk_chars),
                turns,
                scope="part",
                conversation=conversation,
            )
            if part is not None:
                parts.append(part)
        if not parts:
            return None
        return self._summary(
            job_key,
            session_id,
            out.ROLLUP_SYSTEM,
            out.rollup_prompt(parts, "one conversation", self.config.chunk_chars),
            parts,
            scope="session",
            conversation=conversation,
        )

    def _summary(
        self,
        job_key: str,
        summary_id: str,
        system: str,
        prompt: str,
        sources: Sequence[Memory],
        *,
        scope: str,
        conversation: str | None = None,
        period: str | None = None,
    ) -> Memory | None:
        """Write (or rewrite) a summary unless the current one covers the same sources."""
        source_ids = tuple(s.id for s in sources)
        # which versions it was written from: an edited turn makes it stale too
        fingerprint = _derived_id("v", *(f"{s.id}@{s.version}" for s in sources))
        existing = next(iter(self.store.get_many([summary_id])), None)
        if existing is not None and existing.extra.get("from") == fingerprint:
            return existing
        step = f"{job_key}/summary/{summary_id}"
        try:
            answer = self._ask(
                step,
                system,
                prompt,
                out.SUMMARY_SCHEMA,
                self.config.max_tokens_summary,
                repair=out.salvage_summary,
            )
            text = out.summary_from(answer, self.config.max_summary_chars)
        except BadModelOutput as exc:
            self._skip(step, str(exc))
            return existing
        said = max(s.said_at for s in sources)
        extra = {"from": fingerprint, **({"period": period} if period else {})}
        self._report.summarised.append(summary_id)
        if existing is not None:
            return self._update(
                existing,
                text=text,
                sources=source_ids,
                said_at=said,
                state=State.ACTIVE,
                extra=extra,
            )
        memory = Memory(
            id=summary_id,
            kind=Kind.SUMMARY,
            text=text,
            said_at=said,
            stored_at=self.store.now(),
            updated_at=self.store.now(),
            conversation_id=conversation,
            importance=0.5,
            sources=source_ids,
            scope=scope,
            author=Author.CONSOLIDATION,
            extra=extra,
        )
        self._add(memory)
        return memory

    # -- periods --------------------------------------------------------------------

    def _queue_periods(self, when: float) -> None:
        """The week's job queues its month's in turn."""
        self.jobs.queue_period("week", _week(when)[0], self.store.now())

    def _period(self, job: Job) -> None:
        if self.config.model_use is ModelUse.NOTHING:  # queued before the model was measured
            self.jobs.finish(job.key, self.store.now())
            return
        scope = job.kind
        label = self.jobs.subject(job)
        since, until = _period(label)
        below = "session" if scope == "week" else "week"
        page = self.store.browse(
            ListQuery(
                kinds=(Kind.SUMMARY,),
                states=(State.ACTIVE, State.ARCHIVED),
                since=since,
                until=until - 1e-6,
                limit=500,
                descending=False,
            )
        )
        summaries = [s for s in page.items if s.scope == below]
        if scope == "month" and len(summaries) < self.config.min_sessions_per_period:
            # a month of one busy week is better summarised from its sessions
            summaries = [s for s in page.items if s.scope == "session"]
        summary_id = _derived_id("summary", scope, label)
        existing = next(iter(self.store.get_many([summary_id])), None)
        if len(summaries) >= self.config.min_sessions_per_period:
            self._summary(
                job.key,
                summary_id,
                out.ROLLUP_SYSTEM,
                out.rollup_prompt(summaries, f"the {scope} {label}", self.config.chunk_chars),
                summaries,
                scope=scope,
                period=label,
            )
        elif existing is not None:  # what it covered was forgotten: it goes too
            self.jobs.log_change(
                self._run_id, existing.id, RunAction.DELETED, existing.version, self.store.now()
            )
            # forgotten, not deleted: a month summary citing it goes in the same write
            # and is queued to be written again, so nothing is left citing it
            self._report.deleted.extend(self.store.forget([existing.id]).deleted)
        self.jobs.finish(job.key, self.store.now())
        if scope == "week":
            self.jobs.queue_period("month", _month(since + 3.5 * 86_400)[0], self.store.now())

    # -- forgetting -----------------------------------------------------------------

    def _decay(self) -> None:
        """Archive facts and summaries whose decay score fell below the threshold."""
        now = self.store.now()
        offset = 0
        while True:
            page = self.store.browse(
                ListQuery(
                    kinds=(Kind.FACT, Kind.SUMMARY),
                    states=(State.ACTIVE,),
                    offset=offset,
                    limit=1000,
                )
            )
            for memory in page.items:
                if decay_score(memory, now, self.config.half_life_days) < self.config.archive_below:
                    self._update(memory, state=State.ARCHIVED)
                    self._report.archived.append(memory.id)
                    offset -= 1  # it left the active pages
            offset += len(page.items)
            if len(page.items) < 1000:
                return

    def _retention(self) -> None:
        days = self.config.episode_retention_days
        if days is None:
            return
        cutoff = self.store.now() - days * 86_400
        while True:
            old = self.store.browse(
                ListQuery(kinds=(Kind.EPISODE,), until=cutoff, limit=500, descending=False)
            ).items
            old = tuple(m for m in old if not m.pinned)
            if not old:
                return
            for memory in old:
                self.jobs.log_change(
                    self._run_id, memory.id, RunAction.DELETED, memory.version, self.store.now()
                )
            # the person asked for old turns to be deleted: from their conversations too
            report = self.store.forget([m.id for m in old], transcript=TranscriptChoice.REMOVE_TURN)
            self._report.deleted.extend(report.deleted)

    # -- writing, with the run's log first ------------------------------------------

    def _add(self, memory: Memory) -> None:
        self.jobs.log_change(self._run_id, memory.id, RunAction.ADDED, None, self.store.now())
        if self.store.restore([memory]) and memory.kind is Kind.FACT:
            self._report.added.append(memory.id)

    def _update(self, memory: Memory, **changes: Any) -> Memory:
        self.jobs.log_change(
            self._run_id, memory.id, RunAction.UPDATED, memory.version, self.store.now()
        )
        return self.store.update(memory.id, author=Author.CONSOLIDATION, **changes)

    def _skip(self, step: str, reason: str) -> None:
        log.info("consolidation skipped part of %s: %s", step, reason)
        self._report.skipped.append((step, reason))

    # -- runs -----------------------------------------------------------------------

    def runs(self, limit: int = 20) -> list[Run]:
        return self.jobs.runs(limit)

    def undo(self, run_id: str) -> tuple[list[str], list[str]]:
        return undo_run(self.store, run_id)


def undo_run(store: MemoryStore, run_id: str) -> tuple[list[str], list[str]]:
    """Take back what a run did: what it added goes, what it changed goes back to the
    version before. Returns (undone, kept): what the user edited (or pinned) since is
    kept as it is."""
    run = store.jobs.run(run_id)
    if run is None:
        raise MemoryNotFoundError(f"no consolidation run {run_id!r}")
    undone: list[str] = []
    kept: list[str] = []
    if run.undone:
        return undone, kept
    changes = [c for c in store.jobs.changes(run_id) if c.action is not RunAction.READ]
    for change in reversed(changes):
        current = next(iter(store.get_many([change.memory_id])), None)
        if current is None:
            continue
        edited_since = current.author is not Author.CONSOLIDATION and current.version > (
            change.before_version or 1
        )
        if edited_since or (change.action is RunAction.ADDED and current.pinned):
            kept.append(current.id)
            continue
        if change.action is RunAction.ADDED:
            store.delete([current.id])
            undone.append(current.id)
        elif change.action is RunAction.UPDATED and change.before_version is not None:
            versions = {m.version for m in store.history(current.id)}
            if current.version > change.before_version and change.before_version in versions:
                store.restore_version(current.id, change.before_version)
                undone.append(current.id)
    store.jobs.mark_undone(run_id, store.now())
    return undone, kept


def _describe(job: Job) -> str:
    if job.kind == "session":
        return "summarising a conversation and extracting facts"
    return f"summarising the {job.kind} {JobBook.subject(job)}"
