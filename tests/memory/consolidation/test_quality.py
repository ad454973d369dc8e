"""The rule that decides whether a written sentence states a known fact, on the
hand-labelled pairs its thresholds were chosen on (real MiniLM)."""

from __future__ import annotations

import json
from pathlib import Path

from mneme.memory import Embedder
from mneme.memory.consolidation.quality import FactMatcher, is_about_a_person, word_share

PAIRS = Path(__file__).parents[2] / "fixtures" / "fact_pairs.json"


def test_the_matcher_gets_most_hand_labelled_pairs_right(embedder: Embedder) -> None:
    pairs = json.loads(PAIRS.read_text(encoding="utf-8"))["pairs"]
    said = FactMatcher(embedder).same([(a, b) for a, b, _ in pairs])
    wrong = [p for p, s in zip(pairs, said, strict=True) if bool(p[2]) != s]
    assert len(pairs) >= 40 and len(wrong) / len(pairs) <= 0.15, wrong


def test_general_knowledge_is_neither_a_match_nor_about_the_person(embedder: Embedder) -> None:
    matcher = FactMatcher(embedder)
    known = "Rosa grows tomatoes and basil on her balcony in Lisbon."
    assert matcher.same([("Rosa: I grow tomatoes and basil on my balcony in Lisbon.", known)])
    assert not matcher.same([("Tomatoes grow well in a sunny location.", known)])[0]
    assert not is_about_a_person("Tomatoes grow well in a sunny location.", ["Rosa"])
    assert is_about_a_person("Rosa waters them at night.", ["Rosa"])
    assert is_about_a_person("The user waters them at night.", [])
    assert word_share("Tom began at the bakery", "Tom quit the bakery") > 0.5  # so meaning too
