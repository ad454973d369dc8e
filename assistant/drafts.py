"""Reading ahead while a person types: when, what of the draft to search for, and what of
what was read a send keeps.

Reading ahead (:meth:`ChatService.read_ahead`) puts what a reply will read
into the model's cache before the message is sent. Started on every key it
would read, throw away and read again; started only when typing stops, a
steady typist would get none. So it starts after a short pause
(:data:`PAUSE_S`), or after :data:`EVERY_S` of typing without one. This is
the one place the pace is decided: the window asks it on a timer, and
``benchmarks.reply`` asks it as it types, so both read ahead alike.

What was read is kept as a :class:`ReadBlock`: the memories in the model's
cache, in the order read. The next draft's block and the sent message's keep
them at the front (:func:`with_read`), since anything that changes in front of
what was read must be read again; what the last words recall comes after them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mneme.memory import Hit, MemoryStore, State

PAUSE_S = 0.35
"""A pause this long (a word finished, a thought) is worth reading ahead for."""
EVERY_S = 1.5
"""During steady typing, read ahead at least this often."""


class DraftPacer:
    """Tells, from when a draft changed, whether a read-ahead is due (a clock-free rule:
    the caller passes the time, so tests and the benchmark need no sleeping)."""

    def __init__(self, *, pause_s: float = PAUSE_S, every_s: float = EVERY_S) -> None:
        self.pause_s = pause_s
        self.every_s = every_s
        self._last_change: float | None = None
        self._first_unread: float | None = None

    @property
    def pending(self) -> bool:
        """A change has not been read ahead yet."""
        return self._last_change is not None

    def changed(self, now: float) -> None:
        if self._first_unread is None:
            self._first_unread = now
        self._last_change = now

    def due(self, now: float) -> bool:
        if self._last_change is None or self._first_unread is None:
            return False
        return now - self._last_change >= self.pause_s or now - self._first_unread >= self.every_s

    def started(self) -> None:
        """A read-ahead of the draft as it is now has begun."""
        self._last_change = self._first_unread = None

    def sent(self) -> None:
        """The message went: nothing to read ahead until the next one is typed."""
        self.started()


def finished_words(draft: str) -> str:
    """A draft without the word still being typed ("Where do I grow my tomat" → "Where
    do I grow my"): a search for a half word finds nothing useful, and what the
    finished words recall is what the sent message most likely recalls."""
    if not draft or draft[-1].isspace() or draft[-1] in ".,;:!?" or len(draft.split()) < 2:
        return draft
    return draft.rsplit(None, 1)[0]


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """What was read ahead for a conversation's next message."""

    shown: tuple[str, ...] = ()
    """The memory block's memories, in order, that the model's cache holds."""
    hits: tuple[Hit, ...] = ()
    """The retrieved memories among them, as they were retrieved."""
    turns: int = -1
    """The model's :attr:`~ModelOwner.turns` then: if it was taken since, none is read."""

    def until(self, shown: tuple[str, ...]) -> ReadBlock:
        """What stays read when the block becomes ``shown`` part way: what both begin with."""
        n = 0
        while n < min(len(self.shown), len(shown)) and self.shown[n] == shown[n]:
            n += 1
        kept = set(self.shown[:n])
        return ReadBlock(
            self.shown[:n], tuple(h for h in self.hits if h.memory.id in kept), self.turns
        )


def with_read(store: MemoryStore | None, hits: list[Hit], read: ReadBlock) -> list[Hit]:
    """``hits``, then the memories read ahead that they lack (the words typed last
    changed the search): they cost the reply no wait, and without them what was read
    after them would have to be read again. As they are now: one edited since is
    shown as it is, one forgotten is not shown."""
    have = {h.memory.id for h in hits}
    place = {memory_id: i for i, memory_id in enumerate(read.shown)}
    missing = sorted(  # in the block's order: if room runs out, its end gives way
        (h for h in read.hits if h.memory.id not in have), key=lambda h: place[h.memory.id]
    )
    if store is None or not missing:
        return hits
    now = {m.id: m for m in store.get_many([h.memory.id for h in missing])}
    return hits + [
        replace(h, memory=now[h.memory.id])
        for h in missing
        if h.memory.id in now and now[h.memory.id].state is State.ACTIVE
    ]
