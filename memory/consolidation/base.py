"""What consolidation needs from a model, how it is tuned, and what a run reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class ConsolidationModel(Protocol):
    """A text model; the memory engine never knows which one.

    ``generate`` returns the whole answer. With ``json_schema`` the model should
    be constrained to it (llama.cpp grammars), but the answer is still checked.
    It raises :class:`ModelBusy` when the model is needed for a reply (the job
    waits and is retried later, without counting as a failure); any other
    exception is a failed attempt.
    """

    def generate(
        self,
        system: str,
        prompt: str,
        *,
        json_schema: Mapping[str, Any] | None = None,
        max_tokens: int = 512,
    ) -> str: ...


class ModelBusy(Exception):
    """The model was taken for a user's reply; consolidation yields and resumes later."""


class BadModelOutput(ValueError):
    """The answer was not the JSON asked for; the step is retried, then skipped."""


class ModelUse(StrEnum):
    """How far consolidation lets the model write into a person's memory.

    The person's own statements (``statements.py``) are kept as facts whatever
    this says: they need no model. What a model may add on top is decided by
    measuring it (``selfcheck.py``), or by the person."""

    FACTS_AND_SUMMARIES = "facts_and_summaries"
    """The model's facts (and its say in reconciling facts) and its summaries."""
    SUMMARIES = "summaries"
    """The model's summaries only; facts are the person's statements."""
    NOTHING = "nothing"
    """No model at all: the person's statements only."""


@dataclass(frozen=True, slots=True)
class ConsolidationConfig:
    model_use: ModelUse = ModelUse.FACTS_AND_SUMMARIES
    """What the model may write (see :class:`ModelUse`)."""
    idle_minutes: float = 10.0
    """A conversation is consolidated once it has been quiet this long."""
    size_trigger: int = 40
    """...or once this many turns are waiting, even if it is still going on."""
    chunk_turns: int = 12
    """Turns summarised (and mined for facts) at once; longer conversations get part
    summaries and a summary of those."""
    chunk_chars: int = 6000
    """Longest text of one chunk handed to the model (each turn is cut to fit)."""
    max_fact_chars: int = 300
    max_facts_per_chunk: int = 20
    max_summary_chars: int = 2000
    max_attempts: int = 3
    similar_facts: int = 5
    duplicate_similarity: float = 0.93
    """Cosine similarity above which two facts are the same without asking the model."""
    related_similarity: float = 0.6
    """Below this an existing fact is unrelated: the new one is added without asking."""
    half_life_days: float = 90.0
    archive_below: float = 0.25
    """Facts and summaries whose decay score falls below this are archived."""
    episode_retention_days: float | None = None
    """Delete episodes older than this (and what only they supported); off by default."""
    min_sessions_per_period: int = 2
    """A week or month summary needs at least this many summaries below it."""
    max_tokens_summary: int = 220
    max_tokens_facts: int = 400
    max_tokens_decision: int = 40


@dataclass
class RunReport:
    run_id: str
    status: str = "running"
    """"done", "interrupted" (stopped, or the model was needed), "failed"."""
    read: int = 0
    added: list[str] = field(default_factory=list)
    reinforced: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)
    summarised: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(step, reason) for model answers that were dropped."""
    failed_jobs: list[tuple[str, str]] = field(default_factory=list)
    jobs_done: int = 0
    jobs_left: int = 0
    seconds: float = 0.0

    def as_note(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "added": len(self.added),
            "reinforced": len(self.reinforced),
            "superseded": len(self.superseded),
            "contradictions": len(self.contradictions),
            "summarised": len(self.summarised),
            "archived": len(self.archived),
            "deleted": len(self.deleted),
            "skipped": self.skipped[:50],
            "failed_jobs": self.failed_jobs[:50],
            "jobs_done": self.jobs_done,
            "jobs_left": self.jobs_left,
            "seconds": round(self.seconds, 2),
        }
