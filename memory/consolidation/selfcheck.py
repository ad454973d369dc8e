"""How far a model may be trusted with a person's memory, measured before it writes any.

A model writes facts and summaries into a memory a person is meant to trust
and edit; a weak one writes general knowledge ("Tomatoes grow well in a sunny
location") and headings ("### 1. **Watering**") instead. Before a model is
first used for consolidation it takes this check: a few fixed, hand-written
conversations whose facts are known are put to it with exactly the prompts,
schemas and answer checks consolidation uses, and what it writes is scored
with the same :class:`~.quality.FactMatcher` the benchmark uses:

* its **facts** are trusted when most of them state something the person
  said (:data:`FACT_PRECISION`), they find enough of what was said
  (:data:`FACT_RECALL`) and nearly all are about the person
  (:data:`ABOUT_PERSON`);
* its **summaries** are trusted when they state enough of the known facts
  (:data:`SUMMARY_COVERAGE`) and most of their sentences state something
  said (:data:`SUMMARY_PRECISION`: headings and general advice do not).

The verdict is a :class:`ModelUse`: both, summaries only (facts come from the
person's own statements, which need no model), or nothing. Whoever calls it
keeps the verdict per model file; the person can override it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from ..embedding import Embedder
from ..records import Kind, Memory
from . import _outputs as out
from .base import BadModelOutput, ConsolidationConfig, ConsolidationModel, ModelUse
from .quality import FactMatcher, is_about_a_person
from .statements import sentences

FACT_PRECISION = 0.75
FACT_RECALL = 0.4
ABOUT_PERSON = 0.9
SUMMARY_COVERAGE = 0.4
SUMMARY_PRECISION = 0.6


@dataclass(frozen=True, slots=True)
class _Sample:
    turns: tuple[tuple[str, str], ...]
    """(role, text)"""
    known: tuple[str, ...]
    """Every fact about the person the turns state."""


SAMPLES = (
    _Sample(
        (
            ("user", "I grow tomatoes and basil on my balcony in Lisbon."),
            (
                "assistant",
                "That sounds lovely! Tomatoes and basil are great companions. Make sure "
                "they get at least six hours of sun and water them in the morning.",
            ),
            ("user", "The balcony faces south, so they get sun all afternoon."),
            ("assistant", "A south-facing balcony is ideal. Watch for dry soil in summer."),
            ("user", "My sister Ana gave me the seeds for my birthday in March."),
            ("assistant", "What a thoughtful gift!"),
        ),
        (
            "The user grows tomatoes and basil on a balcony in Lisbon.",
            "The user's balcony faces south and gets sun all afternoon.",
            "The user's sister Ana gave the user the seeds for the user's birthday in March.",
        ),
    ),
    _Sample(
        (
            ("user", "I started a new job as a nurse at the city hospital on Monday."),
            ("assistant", "Congratulations on the new job! How was your first day?"),
            ("user", "Tiring. I work night shifts, three nights a week."),
            (
                "assistant",
                "Night shifts can be hard on sleep. Try to keep a regular routine, a dark "
                "bedroom and a light meal before the shift.",
            ),
            ("user", "I cycle to the hospital because I sold my car last year."),
            ("assistant", "Cycling is a great way to stay fit."),
        ),
        (
            "The user started a new job as a nurse at the city hospital.",
            "The user works night shifts three nights a week.",
            "The user cycles to the hospital.",
            "The user sold their car last year.",
        ),
    ),
    _Sample(
        (
            ("user", "We adopted a dog called Biscuit from the shelter last week."),
            ("assistant", "How exciting! What kind of dog is Biscuit?"),
            ("user", "He is a three-year-old beagle and he is scared of thunder."),
            (
                "assistant",
                "Many dogs fear thunderstorms. A quiet den and calm music can help them "
                "feel safe during storms.",
            ),
            ("user", "My partner Tom walks him before work every morning."),
            ("assistant", "Biscuit is lucky to have you both."),
        ),
        (
            "The user adopted a dog called Biscuit from the shelter.",
            "Biscuit is a three-year-old beagle who is scared of thunder.",
            "The user's partner Tom walks Biscuit every morning before work.",
        ),
    ),
)
_WHEN = datetime(2024, 4, 15, 18, 0, tzinfo=UTC).timestamp()
_PEOPLE = ("Ana", "Tom", "Biscuit")


@dataclass(frozen=True, slots=True)
class ModelCheck:
    """What a model wrote on the fixed conversations, and what it may therefore do."""

    use: ModelUse
    reasons: tuple[str, ...]
    """Plain sentences: what was measured, against which bar."""
    fact_precision: float
    fact_recall: float
    about_person_share: float
    summary_coverage: float
    summary_precision: float
    bad_answers: int
    """Answers that did not parse or fit their schema."""
    examples: tuple[str, ...] = field(default=())
    """A few things it wrote, for the person to judge."""


def _turns(sample: _Sample) -> list[Memory]:
    return [
        Memory(
            id=f"check-{i}",
            kind=Kind.EPISODE,
            text=text,
            said_at=_WHEN + 60 * i,
            stored_at=_WHEN + 60 * i,
            updated_at=_WHEN + 60 * i,
            role=role,
        )
        for i, (role, text) in enumerate(sample.turns)
    ]


def _share(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else 0.0


def _said(turns: list[Memory]) -> list[str]:
    return [t.text for t in turns if t.role == "user"]


def check_model(
    model: ConsolidationModel,
    embedder: Embedder,
    config: ConsolidationConfig | None = None,
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> ModelCheck | None:
    """Put the fixed conversations to ``model`` and decide its :class:`ModelUse`;
    None if stopped before the end (:class:`ModelBusy` passes through)."""
    config = config or ConsolidationConfig()
    matcher = FactMatcher(embedder)
    facts: list[tuple[str, _Sample, list[Memory]]] = []
    summaries: list[tuple[str, _Sample, list[Memory]]] = []
    bad = 0
    for sample in SAMPLES:
        turns = _turns(sample)
        for system, prompt, schema, tokens in (
            (
                out.FACTS_SYSTEM,
                out.facts_prompt(turns, config.chunk_chars),
                out.FACTS_SCHEMA,
                config.max_tokens_facts,
            ),
            (
                out.SUMMARY_SYSTEM,
                out.summary_prompt(turns, config.chunk_chars),
                out.SUMMARY_SCHEMA,
                config.max_tokens_summary,
            ),
        ):
            if should_stop():
                return None
            text = model.generate(system, prompt, json_schema=schema, max_tokens=tokens)
            try:
                answer = out.parse_json(text)
                if schema is out.FACTS_SCHEMA:
                    found, _ = out.facts_from(
                        answer, len(turns), config.max_fact_chars, config.max_facts_per_chunk
                    )
                    facts += [(f.text, sample, turns) for f in found]
                else:
                    summary = out.summary_from(answer, config.max_summary_chars)
                    summaries.append((summary, sample, turns))
            except BadModelOutput:
                bad += 1
    return _verdict(matcher, facts, summaries, bad)


def _states(matcher: FactMatcher, text: str, sample: _Sample, turns: list[Memory]) -> bool:
    """Whether ``text`` states a known fact of its sample or a sentence the person said."""
    return bool(matcher.matrix([text], [*sample.known, *_said(turns)]).any())


def _verdict(
    matcher: FactMatcher,
    facts: list[tuple[str, _Sample, list[Memory]]],
    summaries: list[tuple[str, _Sample, list[Memory]]],
    bad: int,
) -> ModelCheck:
    true = [_states(matcher, text, sample, turns) for text, sample, turns in facts]
    about = [t or is_about_a_person(f[0], _PEOPLE) for f, t in zip(facts, true, strict=True)]
    found = 0
    for sample in SAMPLES:
        mine = [text for text, s, _ in facts if s is sample]
        if mine:
            found += int(matcher.matrix(mine, list(sample.known)).any(axis=0).sum())
    known = sum(len(s.known) for s in SAMPLES)
    covered = 0
    stated: list[bool] = []
    for text, sample, turns in summaries:
        parts = sentences(text)
        covered += int(matcher.matrix(parts, list(sample.known)).any(axis=0).sum())
        stated += [_states(matcher, part, sample, turns) for part in parts]
    precision, recall, about_share = _share(true), found / known, _share(about)
    coverage, summary_precision = covered / known, _share(stated)

    facts_ok = precision >= FACT_PRECISION and recall >= FACT_RECALL and about_share >= ABOUT_PERSON
    summaries_ok = coverage >= SUMMARY_COVERAGE and summary_precision >= SUMMARY_PRECISION
    use = (
        ModelUse.FACTS_AND_SUMMARIES
        if facts_ok and summaries_ok
        else ModelUse.SUMMARIES
        if summaries_ok
        else ModelUse.NOTHING
    )
    n = len(facts)
    reasons = (
        f"Facts: {sum(true)} of {n} it wrote state what was said "
        f"({precision:.0%}; needs {FACT_PRECISION:.0%}), {sum(about)} of {n} are about "
        f"the person ({about_share:.0%}; needs {ABOUT_PERSON:.0%}), and they find {found} "
        f"of {known} known facts ({recall:.0%}; needs {FACT_RECALL:.0%}).",
        f"Summaries: they state {covered} of {known} known facts ({coverage:.0%}; needs "
        f"{SUMMARY_COVERAGE:.0%}), and {sum(stated)} of {len(stated)} of their sentences "
        f"state what was said ({summary_precision:.0%}; needs {SUMMARY_PRECISION:.0%}).",
    ) + ((f"{bad} answers could not be read.",) if bad else ())
    return ModelCheck(
        use=use,
        reasons=reasons,
        fact_precision=round(precision, 3),
        fact_recall=round(recall, 3),
        about_person_share=round(about_share, 3),
        summary_coverage=round(coverage, 3),
        summary_precision=round(summary_precision, 3),
        bad_answers=bad,
        examples=tuple(text for text, _, _ in facts[:3])
        + tuple(text[:160] for text, _, _ in summaries[:1]),
    )
