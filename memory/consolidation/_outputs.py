"""What consolidation asks the model, and the checks on what comes back.

The schemas constrain llama.cpp's sampling so that the answer parses, but a
different backend (or a truncated answer) may still send anything: every
answer goes through the ``*_from`` checks, which keep what fits and say why
the rest was dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ..records import Memory
from .base import BadModelOutput

SUMMARY_SYSTEM = (
    "You summarise conversations between a user and an assistant for the user's own "
    "records. Write plain sentences in the language of the conversation, in the third "
    "person. Keep names, places, dates, plans, decisions and preferences. Turns are "
    "numbered, dated and attributed. Answer with JSON only."
)
ROLLUP_SYSTEM = (
    "You combine several dated summaries into one short summary of the whole period, "
    "in plain sentences, keeping names, places, dates and decisions. Answer with JSON only."
)
FACTS_SYSTEM = (
    "You extract facts about the user and their world from a conversation. A fact is one "
    "short sentence that stands on its own: who, what, and when. Write dates as absolute "
    "dates: each turn shows the day it was said, so resolve 'yesterday' or 'last week' "
    "against it. Only what the conversation states; nothing about the assistant itself. "
    "For each fact give the numbers of the turns it comes from, and its importance from 0 "
    "(trivial) to 1 (life-changing). Answer with JSON only."
)
DECIDE_SYSTEM = (
    "You keep a person's list of facts consistent. Compare the new fact with the existing "
    "ones. Answer 'same' if an existing fact already says it, 'supersede' if it updates an "
    "existing fact (something changed over time), 'contradict' if both cannot be true and "
    "it is unclear which is right, or 'add' if it is new. 'existing' is the number of the "
    "existing fact concerned, or 0 for 'add'. Answer with JSON only."
)

SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"summary": {"type": "string"}},
    "required": ["summary"],
}
FACTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "facts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "fact": {"type": "string"},
                    "turns": {"type": "array", "items": {"type": "integer"}},
                    "importance": {"type": "number"},
                },
                "required": ["fact", "turns", "importance"],
            },
        }
    },
    "required": ["facts"],
}
DECISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {"type": "string", "enum": ["add", "same", "supersede", "contradict"]},
        "existing": {"type": "integer"},
    },
    "required": ["decision", "existing"],
}

Decision = Literal["add", "same", "supersede", "contradict"]


def day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def numbered_turns(turns: Sequence[Memory], max_chars: int) -> str:
    """``[3] 2023-05-08 user: …``: the numbers are what facts cite as their sources."""
    each = max(200, max_chars // max(1, len(turns)))
    lines = []
    for i, turn in enumerate(turns, 1):
        text = " ".join(turn.text.split())
        if len(text) > each:
            text = text[: each - 1] + "…"
        who = turn.speaker or turn.role or "user"
        lines.append(f"[{i}] {day(turn.said_at)} {who}: {text}")
    return "\n".join(lines)


def summary_prompt(turns: Sequence[Memory], max_chars: int) -> str:
    return (
        f"Conversation:\n{numbered_turns(turns, max_chars)}\n\n"
        'Summarise it in at most five sentences, as {"summary": "..."}.'
    )


def rollup_prompt(summaries: Sequence[Memory], label: str, max_chars: int) -> str:
    each = max(200, max_chars // max(1, len(summaries)))
    lines = [f"- {day(s.said_at)}: {' '.join(s.text.split())[:each]}" for s in summaries]
    return (
        f"Summaries from {label}:\n" + "\n".join(lines) + "\n\n"
        'Combine them into one summary of at most six sentences, as {"summary": "..."}.'
    )


def facts_prompt(turns: Sequence[Memory], max_chars: int) -> str:
    return (
        f"Conversation:\n{numbered_turns(turns, max_chars)}\n\n"
        'List the facts as {"facts": [{"fact": "...", "turns": [1], "importance": 0.5}]}; '
        "an empty list if there are none."
    )


def decision_prompt(new: str, existing: Sequence[Memory]) -> str:
    lines = [f"[{i}] {day(m.valid_from or m.said_at)}: {m.text}" for i, m in enumerate(existing, 1)]
    return (
        "Existing facts:\n" + "\n".join(lines) + f"\n\nNew fact: {new}\n\n"
        'Answer as {"decision": "add|same|supersede|contradict", "existing": 0}.'
    )


# -- checking answers -----------------------------------------------------------------


def parse_json(text: str) -> dict[str, Any]:
    """The JSON object in an answer. Small models put raw control characters inside
    strings (hence ``strict=False``) or chatter around the object."""
    candidates = [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate, strict=False)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    shown = text if len(text) <= 120 else text[:117] + "…"
    raise BadModelOutput(f"the model's answer is not a JSON object: {shown!r}")


_OPEN_SUMMARY = re.compile(r'^\s*\{\s*"summary"\s*:\s*"(.*)$', re.DOTALL)


def salvage_summary(text: str) -> dict[str, Any] | None:
    """A summary cut off by the token limit (``{"summary": "A. B. C`` …): keep its
    complete sentences rather than throw the whole answer away."""
    match = _OPEN_SUMMARY.match(text)
    if match is None:
        return None
    fragment = match.group(1)
    body = ""
    for cut in range(min(7, len(fragment) + 1)):  # a cut may split an escape ("\\u00")
        try:
            body = json.loads(f'"{fragment[: len(fragment) - cut]}"', strict=False)
            break
        except json.JSONDecodeError:
            continue
    end = max(body.rfind(". "), body.rfind("! "), body.rfind("? "), body.rfind("."))
    end = max(end, body.rfind("\n") - 1)  # a summary written as lines ends at a line
    if end < 20:
        return None
    return {"summary": body[: end + 1].strip()}


def summary_from(answer: dict[str, Any], max_chars: int) -> str:
    text = answer.get("summary")
    if not isinstance(text, str) or not text.strip():
        raise BadModelOutput("the answer has no summary text")
    text = " ".join(text.split())
    if len(text) > max_chars:  # a rambling summary is cut at a sentence, not dropped
        cut = text[:max_chars]
        end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
        text = cut[: end + 1] if end > max_chars // 2 else cut.rstrip() + "…"
    return text


@dataclass(frozen=True, slots=True)
class ExtractedFact:
    text: str
    turns: tuple[int, ...]
    """0-based positions in the chunk that was shown."""
    importance: float


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def facts_from(
    answer: dict[str, Any], n_turns: int, max_chars: int, max_facts: int
) -> tuple[list[ExtractedFact], list[str]]:
    """The facts that fit, and a reason for each one dropped."""
    raw = answer.get("facts")
    if not isinstance(raw, list):
        raise BadModelOutput("the answer has no list of facts")
    facts: list[ExtractedFact] = []
    dropped: list[str] = []
    seen: set[str] = set()
    for item in raw:
        if len(facts) >= max_facts:
            dropped.append(f"more than {max_facts} facts; the rest were ignored")
            break
        if not isinstance(item, dict):
            dropped.append(f"not a fact object: {str(item)[:60]!r}")
            continue
        text, turns, importance = item.get("fact"), item.get("turns"), item.get("importance")
        if not isinstance(text, str) or not text.strip():
            dropped.append("a fact without text")
            continue
        text = " ".join(_CONTROL.sub(" ", text).split())
        if len(text) > max_chars:
            dropped.append(f"a fact of {len(text)} characters (limit {max_chars})")
            continue
        if not isinstance(turns, list) or not turns:
            dropped.append(f"no source turns for {text[:60]!r}")
            continue
        numbers = [t for t in turns if isinstance(t, int) and not isinstance(t, bool)]
        if len(numbers) != len(turns) or not all(1 <= t <= n_turns for t in numbers):
            dropped.append(f"invented turn numbers {turns} for {text[:60]!r}")
            continue
        if isinstance(importance, bool) or not isinstance(importance, int | float):
            importance = 0.5
        key = normalise(text)
        if key in seen:
            continue
        seen.add(key)
        valid = tuple(sorted({t - 1 for t in numbers}))
        facts.append(ExtractedFact(text, valid, min(1.0, max(0.0, float(importance)))))
    return facts, dropped


def decision_from(answer: dict[str, Any], n_existing: int) -> tuple[Decision, int]:
    """The decision and the 0-based index of the existing fact it concerns."""
    decision = answer.get("decision")
    if decision not in ("add", "same", "supersede", "contradict"):
        raise BadModelOutput(f"unknown decision {decision!r}")
    if decision == "add":
        return "add", -1
    index = answer.get("existing")
    if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= n_existing:
        raise BadModelOutput(f"decision {decision!r} names no existing fact ({index!r})")
    return decision, index - 1


def normalise(text: str) -> str:
    """What two facts must share to be the same fact by rule."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())
