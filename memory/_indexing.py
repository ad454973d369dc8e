"""What each index sees of a memory: the text behind its vector and its lexical fields.

Measured on LoCoMo dev data (see ``benchmarks/locomo.py``), three choices carry
most of the engine's recall:

* the vector embeds ``[date] speaker: text``: questions name people and
  times, and MiniLM matches them far better with the speaker in the text;
* the lexical index has three columns, ``text`` (verbatim), ``meta`` (speaker
  and date words) and ``context``: the words of the two turns before and
  after, at half weight. A question's words are often spread over a short
  exchange ("what did you research?" / "adoption agencies"), and this lets a
  turn be found by the exchange it belongs to;
* common words are dropped from lexical queries.

The context column is derived from neighbours, so it is refreshed whenever a
neighbour is added, edited or deleted (see ``_ledger.refresh_context``).
"""

from __future__ import annotations

import re
import time

from .records import Kind, Memory

#: How many turns on each side feed a turn's lexical context.
CONTEXT_TURNS = 2
#: A neighbour contributes at most this much text to a turn's context.
CONTEXT_CHARS = 1000
#: BM25 weights of the lexical columns: text, meta, context.
LEXICAL_WEIGHTS = (1.0, 1.0, 0.5)

STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during
    before after above below to from up down in out on off over under again further then once
    here there when where why how all any both each few more most other some such no nor not
    only own same so than too very s t can will just don should now i me my myself we our ours
    ourselves you your yours yourself yourselves he him his himself she her hers herself it its
    itself they them their theirs themselves what which who whom this that these those am is are
    was were be been being have has had having do does did doing would could ought im youre hes
    shes its were theyre ive youve weve theyve id youd hed shed wed theyd ill youll hell shell
    well theyll isnt arent wasnt werent hasnt havent hadnt doesnt dont didnt wont wouldnt shant
    shouldnt cant cannot couldnt mustnt lets thats whos whats heres theres whens wheres whys
    hows ll ve re d m""".split()
)

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def query_terms(text: str) -> list[str]:
    """Content words of a query, in order, without repeats."""
    seen: dict[str, None] = {}
    for w in words(text):  # split like FTS5's unicode61 tokenizer: "Ana's" -> "ana", "s"
        if w not in STOPWORDS and (len(w) > 1 or w.isdigit()):
            seen.setdefault(w, None)
    return list(seen)


def fts_match(terms: list[str]) -> str:
    """An FTS5 expression matching any of the terms, each quoted literally."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def date_words(when: float) -> str:
    t = time.localtime(when)
    return f"{t.tm_mday} {time.strftime('%B %Y %A', t)}"


def who(memory: Memory) -> str:
    return memory.speaker or memory.role or memory.kind.value


def dense_text(memory: Memory) -> str:
    """What the vector of a memory is computed from."""
    t = time.localtime(memory.said_at)
    date = f"{t.tm_mday} {time.strftime('%B %Y', t)}"
    if memory.kind is Kind.EPISODE:
        return f"[{date}] {who(memory)}: {memory.text}"
    return f"[{date}] {memory.text}"


def lexical_meta(memory: Memory) -> str:
    parts = [who(memory) if memory.kind is Kind.EPISODE else memory.kind.value]
    if memory.scope:
        parts.append(memory.scope)
    parts.append(date_words(memory.said_at))
    return " ".join(parts)


def context_line(speaker: str, text: str) -> str:
    return f"{speaker}: {text[:CONTEXT_CHARS]}"
