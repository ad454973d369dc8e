"""When to read ahead while a person types: after a pause, and now and then while they type.

Reading ahead (:meth:`ChatService.read_ahead`) puts what a reply will read
into the model's cache before the message is sent. Started on every key it
would read, throw away and read again; started only when typing stops, a
steady typist would get none. So it starts after a short pause
(:data:`PAUSE_S`), or after :data:`EVERY_S` of typing without one. This is
the one place the pace is decided: the window asks it on a timer, and
``benchmarks.reply`` asks it as it types, so both read ahead alike.
"""

from __future__ import annotations

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
