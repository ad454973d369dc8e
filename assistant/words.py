"""The few words a person needs for Mneme's memory, the same in the window and the CLI.

A glossary, kept small on purpose:

* a **conversation** is a record of what was said;
* a **memory** is something Mneme keeps and uses to answer: what was **said**
  in a conversation, a **fact** learnt from it, a **summary** of it, or a
  **note** a person wrote;
* a **pinned** memory is given to the assistant with every message.

Everything here turns the engine's records into those words, so that no view
shows "episode", "superseded" or "score 1.79: meaning 0.43" to a person; the
numbers stay available where someone asks for them (a tooltip, ``--json``).
"""

from __future__ import annotations

import time

from mneme.memory import Author, Kind, Memory, ScoreExplanation, State

from .memories import NOTE_SCOPE

KIND_NAMES = {Kind.EPISODE: "said", Kind.FACT: "fact", Kind.SUMMARY: "summary"}
"""What each kind of memory is called (a summary written by a person is a note)."""

STATE_NAMES = {State.ACTIVE: "in use", State.SUPERSEDED: "replaced", State.ARCHIVED: "faded"}
"""Active memories are used; a replaced fact was followed by a newer one; a faded memory
was not used for a long time and is left out of answers (still here, still searchable)."""

STATE_HELP = {
    State.ACTIVE: "Mneme uses it to answer.",
    State.SUPERSEDED: "A newer memory replaced it; it is kept as what was true before.",
    State.ARCHIVED: "Not used for a long time, so left out of answers; it is still here.",
}


def kind_name(memory: Memory) -> str:
    if memory.kind is Kind.SUMMARY and memory.scope == NOTE_SCOPE:
        return "note"
    return KIND_NAMES[memory.kind]


def who_said(role: str | None, speaker: str | None = None) -> str:
    if speaker:
        return speaker
    return {"user": "You", "assistant": "Mneme"}.get(role or "", "Someone")


def day(t: float) -> str:
    local = time.localtime(t)
    return f"{local.tm_mday} {time.strftime('%b %Y', local)}"


def one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe(memory: Memory, limit: int = 160) -> str:
    """One memory in a line a person reads: who said it or what it is, when, what."""
    text = one_line(memory.text, limit)
    if memory.kind is Kind.EPISODE:
        return f"{who_said(memory.role, memory.speaker)} said on {day(memory.said_at)}: “{text}”"
    return f"{kind_name(memory).capitalize()} ({day(memory.said_at)}): {text}"


def author_name(author: Author) -> str:
    return {
        Author.CHAT: "said in a chat",
        Author.USER: "written by you",
        Author.CONSOLIDATION: "written by Mneme while tidying its memory",
        Author.IMPORT: "imported",
    }[author]


MEANING_CLOSE = 0.4
"""Cosine similarity (MiniLM) from which two texts read as close in meaning."""


def why_chosen(why: ScoreExplanation, *, pinned: bool = False) -> str:
    """Why a memory was recalled, in words ("similar meaning · same words · recent");
    the numbers are in :meth:`ScoreExplanation.describe` for whoever asks."""
    reasons = []
    if pinned:
        reasons.append("you pinned it")
    if why.dense is not None and why.dense >= MEANING_CLOSE:
        reasons.append("similar meaning")
    if why.lexical and why.lexical >= 0.1:
        reasons.append("same words")
    if why.speaker:
        reasons.append("who said it")
    if why.time:
        reasons.append("when it was said")
    if why.via:
        reasons.append("a fact or summary pointed to it")
    if why.recency >= 0.05:
        reasons.append("recent")
    return " · ".join(reasons) or "loosely related"


def count(n: int, one: str, many: str | None = None) -> str:
    """``1 memory``, ``3 memories``: never "1 memories"."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"
