"""How good what consolidation writes is: facts and summaries scored against known facts.

One rule decides whether a written sentence states a known fact, used both by
the benchmark (``benchmarks/fact_quality.py``, against LoCoMo's reference
facts) and by the self-check that decides how far a model is trusted with a
person's memory (``selfcheck.py``):

* **a match** is similar meaning (MiniLM cosine ≥ :data:`MEANING`) *and*
  shared content words (at least :data:`WORDS` of the shorter sentence's
  content words, lightly stemmed, appear in the other). Meaning alone pairs
  "Tomatoes grow well in the sun" with "Rosa grows tomatoes"; words alone
  pair "Tom began at the bakery" with "Tom quit the bakery" only as often as
  meaning does. Both thresholds were chosen on hand-labelled pairs kept in
  ``tests/fixtures/fact_pairs.json``; the benchmark reports the rule's own
  error on them.
* **fact precision**: the share of written facts that match some known fact;
  **fact recall**: the share of known facts that some written fact matches;
* **about the person**: the share of written facts that match a known fact,
  or name a person of the conversation, or speak in the first person or of
  "the user" (general knowledge, "Tomatoes grow well in a sunny location",
  does none of these);
* **summary coverage**: the share of known facts that some sentence of a
  summary matches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..embedding import Embedder

MEANING = 0.80
"""Cosine similarity from which two sentences may state the same fact."""
WORDS = 0.35
"""Share of the shorter sentence's content words the other must share."""

_STOP = frozenset(
    """a an the and or but of to in on at for with from by as is are was were be been
    being am has have had do does did i me my mine we us our you your he him his she her
    hers they them their it its this that these those there here who whom which what
    when where why how not no so very really just also too then than up down out about
    into over after before again user user's s t will would can could should may might
    must shall now get got""".split()
)
_WORD = re.compile(r"[a-z0-9]+")
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|i'll|my|me|we|our|us|the user)\b", re.IGNORECASE)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.casefold()) if w not in _STOP}


def word_share(a: str, b: str) -> float:
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))


class FactMatcher:
    """Decides, for sentences and known facts, which state which (see the module)."""

    def __init__(self, embedder: Embedder, *, meaning: float = MEANING, words: float = WORDS):
        self._embedder = embedder
        self.meaning = meaning
        self.words = words

    def matrix(self, written: Sequence[str], known: Sequence[str]) -> np.ndarray:
        """``[i, j]`` is True where ``written[i]`` states ``known[j]``."""
        if not written or not known:
            return np.zeros((len(written), len(known)), dtype=bool)
        a = np.asarray(self._embedder.embed(list(written)), dtype=np.float32)
        b = np.asarray(self._embedder.embed(list(known)), dtype=np.float32)
        close = (a @ b.T) >= self.meaning
        for i, j in zip(*np.nonzero(close), strict=True):
            close[i, j] = word_share(written[i], known[j]) >= self.words
        return close

    def same(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """For each (written, known) pair, whether the first states the second."""
        if not pairs:
            return []
        a = np.asarray(self._embedder.embed([p[0] for p in pairs]), dtype=np.float32)
        b = np.asarray(self._embedder.embed([p[1] for p in pairs]), dtype=np.float32)
        cosine = (a * b).sum(axis=1)
        return [
            bool(c >= self.meaning and word_share(x, y) >= self.words)
            for c, (x, y) in zip(cosine, pairs, strict=True)
        ]


def is_about_a_person(fact: str, people: Sequence[str]) -> bool:
    """Whether a fact names a person of the conversation or speaks of the person."""
    if _FIRST_PERSON.search(fact):
        return True
    words = set(_WORD.findall(fact.casefold()))
    return any(name.casefold() in words for name in people if name)
