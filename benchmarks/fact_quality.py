"""What consolidation wrote, scored against LoCoMo's reference facts and summaries.

Used by ``benchmarks.consolidation``; the rule that decides a match lives in
``mneme.memory.consolidation.quality`` (the self-check uses the same one).
The references (``locomo_dev_references.json``, or any file of its schema)
are read here only to score; consolidation never sees them.

* **known facts** of a run: the reference observations whose evidence turns
  were all ingested (with ``--turns N``, facts about later turns are not
  asked for); each belongs to one speaker and one session.
* a written fact **matches** a known fact when the matcher says it states it
  and, when the fact names a speaker of the conversation, the known fact is
  about that speaker;
* a written fact is **supported** when it matches a known fact or states a
  sentence of the turns it cites (the speaker's name put before the turn,
  as the reference facts are written). The person's statements are supported
  by construction, so for them ``reference_precision`` (matches only) is the
  figure to read;
* **summary coverage**: the share of each session's known facts that some
  sentence of that session's summaries states.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_ID = re.compile(r"D:?(\d+):(\d+)")
_SESSION = re.compile(r"session_(\d+)_")
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "fact_pairs.json"


@dataclass(frozen=True, slots=True)
class KnownFact:
    text: str
    person: str
    session: int
    evidence: tuple[str, ...]


def _ids(raw: Any) -> tuple[str, ...]:
    text = " ".join(raw) if isinstance(raw, list) else str(raw)
    return tuple(f"D{a}:{b}" for a, b in _ID.findall(text))


def load_known(path: Path, sample_id: str, ingested: set[str]) -> list[KnownFact]:
    """The reference facts of one conversation that the ingested turns can state."""
    for sample in json.loads(path.read_text(encoding="utf-8")):
        if sample["sample_id"] != sample_id:
            continue
        known = []
        for key, people in sample["observation"].items():
            session = int(_SESSION.match(key).group(1))  # type: ignore[union-attr]
            for person, facts in people.items():
                for text, evidence in facts:
                    ids = _ids(evidence)
                    if ids and set(ids) <= ingested:
                        known.append(KnownFact(text, person, session, ids))
        return known
    raise SystemExit(f"{path}: no references for {sample_id}")


def _names(text: str, people: Sequence[str]) -> set[str]:
    words = set(re.findall(r"[a-z]+", text.casefold()))
    return {p for p in people if p.casefold() in words}


def score_facts(
    matcher: Any,
    facts: Sequence[Any],
    known: Sequence[KnownFact],
    people: Sequence[str],
    sources: dict[str, Any],
) -> dict[str, Any]:
    """Score written fact memories (each with ``sources``) against the known facts."""
    from mneme.memory.consolidation.quality import is_about_a_person
    from mneme.memory.consolidation.statements import sentences

    texts = [f.text for f in facts]
    hits = matcher.matrix(texts, [k.text for k in known])
    for i, text in enumerate(texts):
        named = _names(text, people)
        if named:
            hits[i] &= np.array([k.person in named for k in known], dtype=bool)
    matched = hits.any(axis=1) if len(known) else np.zeros(len(texts), dtype=bool)
    cited: list[tuple[int, str]] = []
    for i, fact in enumerate(facts):
        for source_id in fact.sources:
            turn = sources.get(source_id)
            if turn is None:
                continue
            said = f"{turn.speaker}: " if turn.speaker else ""
            cited += [(i, said + s) for s in sentences(turn.text)]
    supported = matched.copy()
    for (i, _), same in zip(cited, matcher.same([(texts[i], s) for i, s in cited]), strict=True):
        supported[i] |= same
    about = [bool(m) or is_about_a_person(t, people) for t, m in zip(texts, matched, strict=True)]
    n = len(texts)
    return {
        "facts": n,
        "known_facts": len(known),
        "fact_precision": round(float(supported.mean()), 3) if n else None,
        "reference_precision": round(float(matched.mean()), 3) if n else None,
        "fact_recall": (round(float(hits.any(axis=0).mean()), 3) if len(known) and n else 0.0),
        "about_person_share": round(float(np.mean(about)), 3) if n else None,
    }


def summary_coverage(
    matcher: Any, summaries: dict[int, list[str]], known: Sequence[KnownFact]
) -> float | None:
    """The share of known facts stated by a sentence of their own session's summaries."""
    from mneme.memory.consolidation.statements import sentences

    if not summaries:
        return None
    covered = 0
    for session in {k.session for k in known}:
        facts = [k.text for k in known if k.session == session]
        parts = [s for text in summaries.get(session, []) for s in sentences(text)]
        if parts:
            covered += int(matcher.matrix(parts, facts).any(axis=0).sum())
    return round(covered / len(known), 3) if known else None


def matcher_error(matcher: Any) -> dict[str, Any]:
    """The match rule's own error on the hand-labelled pairs it was chosen on."""
    pairs = json.loads(FIXTURE.read_text(encoding="utf-8"))["pairs"]
    said = matcher.same([(a, b) for a, b, _ in pairs])
    wrong = [p for p, s in zip(pairs, said, strict=True) if bool(p[2]) != s]
    return {
        "pairs": len(pairs),
        "errors": len(wrong),
        "false_matches": sum(1 for p in wrong if not p[2]),
        "missed_matches": sum(1 for p in wrong if p[2]),
        "error_rate": round(len(wrong) / len(pairs), 3),
    }
