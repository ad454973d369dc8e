"""Facts that need no model: what a person says about themselves, in their own words.

"My sister moved to Lisbon", "I started a new job at the bakery", "we adopted
a dog last week": a person's plain statements about their life are the best
facts a memory can keep, and a weak model rewrites them into something worse
or invents general knowledge beside them. This module finds them with rules
only, so a memory stays clean whatever model (or none) is loaded:

* only the turns of people: the person's own (role ``user``) and, in imported
  conversations between people, any turn with a named speaker; never Mneme's;
* split into sentences; a sentence is kept when it is a **statement** (no
  question, no request to the assistant), in the **first person** (I, my,
  we, our…) outside any quotation, **not hypothetical** (if, would, wish,
  imagine…), **not addressed to the listener** (you, your: thanks, praise
  and advice are about the conversation, not the person) and **not filler**
  ("I see", "I agree"), with a few words of substance;
* relative dates ("last week", "three days ago") are resolved against the
  turn's time with the engine's own :func:`memory.timeparse.parse_time`, and
  the fact is valid from then and says the date it means.

The text is the person's sentence, word for word (prefixed with the
speaker's name where a conversation names its speakers), with the turn as
its source: nothing is paraphrased, so nothing can be got wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..records import Kind, Memory
from ..timeparse import parse_time

PERSON_ROLE = "user"

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)]*\s+|\n+")
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|‘[^’]*’|'[^']{3,}'(?=\W|$)")
_WORD = re.compile(r"[\w’']+")

_FIRST_PERSON = frozenset(
    "i i'm im i've i'll i'd me my mine myself we we're we've we'll us our ours ourselves".split()
)
_SECOND_PERSON = frozenset("you you're you've you'll you'd your yours yourself ya u ur".split())
_HYPOTHETICAL = frozenset(
    "if would wouldn't i'd we'd could couldn't might wish imagine imagining suppose "
    "supposing hypothetically maybe perhaps unless".split()
)
"""A sentence with any of these may not be true of the person (``I'd`` is mostly
"I would"; "I'd been" is rare enough to lose)."""
_QUESTION_START = frozenset(
    "what who whom whose which when where why how do does did is are am was were can "
    "could should shall will would may might have has had isn't aren't don't doesn't "
    "didn't won't wouldn't can't couldn't shouldn't".split()
)
_REQUEST_START = frozenset(
    "please tell give show help explain write make list let remind suggest recommend "
    "find describe summarise summarize translate".split()
    # thanks and congratulations are said to the listener, even without "you"
    + "thanks thank congrats congratulations".split()
)
_FILLER = frozenset(
    {
        "i see",
        "i know",
        "i agree",
        "i guess",
        "i guess so",
        "i think so",
        "i hope so",
        "i mean",
        "me too",
        "i'm fine",
        "i'm good",
        "i am fine",
        "i am good",
        "i'm okay",
        "i'm ok",
        "i understand",
        "i got it",
        "i get it",
        "i'm not sure",
        "i don't know",
    }
)
_PRONOUNS = _FIRST_PERSON | frozenset("a an the is am are was were be been it this that".split())

_NAMING = re.compile(r"\b(?:I['’]m|I am|my name is|call me)\s+[A-Z][\w-]+", re.IGNORECASE)
"""A person saying their name is a fact however short ("I'm Rosa.")."""

MIN_SUBSTANCE = 3
"""Words besides pronouns, articles and forms of "be" that a statement needs."""
MAX_CHARS = 300
"""Longer sentences are stories, not facts: the turn itself is kept anyway."""


@dataclass(frozen=True, slots=True)
class Statement:
    """A fact in the person's words, ready to be reconciled like any fact."""

    text: str
    source: Memory
    """The turn it was said in."""
    valid_from: float
    """When it became true: the time it names ("last week"), else when it was said."""


def is_persons(turn: Memory) -> bool:
    """Whether a turn was said by a person (the user, or a named speaker of an imported
    conversation), not by Mneme."""
    return turn.kind is Kind.EPISODE and (turn.role == PERSON_ROLE or bool(turn.speaker))


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _words(text: str) -> list[str]:
    """Lower-case words, with one apostrophe ("I’m" and "I'm" alike)."""
    return [w.casefold().replace("’", "'") for w in _WORD.findall(text)]


def is_statement(sentence: str) -> bool:
    """Whether a sentence says something about the speaker, by the rules above."""
    if sentence.rstrip().endswith("?") or len(sentence) > MAX_CHARS:
        return False
    words = _words(sentence)
    if not words or words[0] in _QUESTION_START or words[0] in _REQUEST_START:
        return False
    if " ".join(words).rstrip(".!") in _FILLER:
        return False
    unquoted = _words(_QUOTED.sub(" ", sentence))  # another's words are not the speaker's
    said = set(unquoted)
    if not said & _FIRST_PERSON or said & _SECOND_PERSON or said & _HYPOTHETICAL:
        return False
    substance = [w for w in unquoted if w not in _PRONOUNS]
    return len(substance) >= MIN_SUBSTANCE or _NAMING.search(sentence) is not None


def _dated(sentence: str, said_at: float) -> tuple[str, float]:
    """The sentence with the date a relative time in it means, and when it was true from."""
    hint = parse_time(sentence, said_at)
    if hint is None or hint.since is None or hint.event is not None:
        return sentence, said_at
    start = datetime.fromtimestamp(hint.since)
    # the hint's end is the start of the next day (or week, month): the last day is before
    last = datetime.fromtimestamp(hint.until - 1) if hint.until is not None else start
    meant = _day(start) if last.date() <= start.date() else f"{_day(start)} to {_day(last)}"
    stem = sentence.rstrip(".!… ")
    return f"{stem} ({meant}){sentence[len(stem) :].strip() or '.'}", min(hint.since, said_at)


def _day(d: datetime) -> str:
    return f"{d.day} {d.strftime('%B %Y')}"


def statements(turns: Sequence[Memory]) -> list[Statement]:
    """The statements in the people's turns among ``turns``, in order, each once."""
    found: list[Statement] = []
    seen: set[str] = set()
    for turn in turns:
        if not is_persons(turn):
            continue
        for sentence in sentences(turn.text):
            if not is_statement(sentence):
                continue
            key = " ".join(_words(sentence))
            if key in seen:
                continue
            seen.add(key)
            text, valid_from = _dated(sentence, turn.said_at)
            if turn.speaker:
                text = f"{turn.speaker}: {text}"
            found.append(Statement(text, turn, valid_from))
    return found
