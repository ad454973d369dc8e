"""The quality gate: what a model may write, decided from what it writes on fixed
conversations, with scripted models whose quality is known (and the real matcher)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from mneme.memory import Embedder
from mneme.memory.consolidation import ModelBusy, ModelUse
from mneme.memory.consolidation.selfcheck import SAMPLES, ModelCheck, check_model


class _Scripted:
    """Answers each fixed conversation with facts and a summary chosen by the test."""

    def __init__(self, facts: str, summary: str) -> None:
        self.facts, self.summary = facts, summary
        self.calls = 0

    def _sample(self, prompt: str) -> Any:
        return next(s for s in SAMPLES if s.turns[0][1][:30] in prompt)

    def generate(self, system: str, prompt: str, **_: Any) -> str:
        self.calls += 1
        sample = self._sample(prompt)
        if system.startswith("You extract"):
            return json.dumps({"facts": _write(self.facts, sample)})
        return json.dumps({"summary": " ".join(f["fact"] for f in _write(self.summary, sample))})


def _write(how: str, sample: Any) -> list[dict[str, Any]]:
    if how == "true":  # what a good model writes: each known fact, citing the first turn
        return [{"fact": k, "turns": [1], "importance": 0.7} for k in sample.known]
    if how == "junk":  # what a weak one writes: advice and headings from the assistant's turns
        advice = [text for role, text in sample.turns if role == "assistant"]
        return [
            {"fact": f"### {i}. {a}", "turns": [2], "importance": 0.5}
            for i, a in enumerate(advice, 1)
        ]
    return []


def _check(model: Any, embedder: Embedder) -> ModelCheck:
    found = check_model(model, embedder)
    assert found is not None
    return found


def test_a_model_that_writes_what_was_said_is_trusted_with_both(embedder: Embedder) -> None:
    check = _check(_Scripted("true", "true"), embedder)
    assert check.use is ModelUse.FACTS_AND_SUMMARIES, check.reasons
    assert check.fact_precision == 1.0 and check.fact_recall >= 0.9
    assert check.summary_coverage >= 0.9


def test_junk_facts_with_good_summaries_leave_facts_to_the_persons_words(
    embedder: Embedder,
) -> None:
    check = _check(_Scripted("junk", "true"), embedder)
    assert check.use is ModelUse.SUMMARIES, check.reasons
    assert check.fact_precision < 0.5
    assert re.search(r"Facts: 0 of \d+ it wrote state what was said", check.reasons[0])


def test_junk_everywhere_is_trusted_with_nothing_and_says_why(embedder: Embedder) -> None:
    check = _check(_Scripted("junk", "junk"), embedder)
    assert check.use is ModelUse.NOTHING
    assert "needs 75%" in check.reasons[0] and "needs 60%" in check.reasons[1]
    assert check.examples and check.examples[0].startswith("### 1.")


def test_good_facts_cannot_make_up_for_junk_summaries(embedder: Embedder) -> None:
    assert _check(_Scripted("true", "junk"), embedder).use is ModelUse.NOTHING


def test_answers_that_cannot_be_read_count_against_the_model(embedder: Embedder) -> None:
    class Broken:
        def generate(self, system: str, prompt: str, **_: Any) -> str:
            return '{"facts": [{"fact": "unterminated'

    check = _check(Broken(), embedder)
    assert check.use is ModelUse.NOTHING and check.bad_answers == 2 * len(SAMPLES)
    assert check.reasons[-1] == f"{2 * len(SAMPLES)} answers could not be read."


def test_a_stopped_check_decides_nothing_and_a_busy_model_says_so(embedder: Embedder) -> None:
    model = _Scripted("true", "true")
    assert check_model(model, embedder, should_stop=lambda: model.calls >= 2) is None
    assert model.calls == 2

    class Busy:
        def generate(self, system: str, prompt: str, **_: Any) -> str:
            raise ModelBusy("a reply needs the model")

    with pytest.raises(ModelBusy):
        check_model(Busy(), embedder)
