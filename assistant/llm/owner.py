"""One owner for the model: callers take turns, and the person always goes first.

A chat reply and background consolidation share one model. Generations never
interleave (a local model has one KV cache); a background generation checks
between tokens whether a person is waiting and, if so, stops at once with
:class:`Preempted`, so a new message waits at most one generation step. The
background job retries later.

The owner also measures how fast the model reads a prompt (tokens a second,
over every read it follows), which decides how many memories the model has
not yet read a reply may wait for (``memory.max_delay_s``).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .base import (
    CancelToken,
    ChatMessage,
    GenerationError,
    LLMBackend,
    ReadProgress,
    SamplingParams,
)


class Priority(IntEnum):
    USER = 0
    BACKGROUND = 1


class Preempted(GenerationError):
    """A background generation gave the model up to a person's request."""


@dataclass(frozen=True, slots=True)
class ReadAhead:
    tokens: int
    """Prompt tokens read."""
    whole: bool
    """The model's cache now holds the whole prompt (the last token aside)."""


class ModelOwner:
    """Wraps a backend; it is itself an LLMBackend, so callers need not know."""

    SPEED_SAMPLES = 9
    """Reads the reading speed is the median of (the latest ones)."""
    MIN_SAMPLE_TOKENS = 64
    """A read shorter than this says little about the speed: not counted."""

    def __init__(self, backend: LLMBackend, *, reading_speed: float | None = None) -> None:
        """``reading_speed``: tokens a second measured earlier for this model, if any."""
        self.backend = backend
        self._speeds: deque[float] = deque(
            [reading_speed] if reading_speed else [], maxlen=self.SPEED_SAMPLES
        )
        self.turns = 0
        """Times the model was taken for anything but reading ahead: what was read ahead
        before the latest is no longer in its cache."""
        self._cond = threading.Condition()
        self._busy = False
        self._users_waiting = 0
        self._waiting = 0
        self._closing = False
        """Anyone waiting for the model, at any priority: reading ahead gives way to all."""

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def context_length(self) -> int:
        return self.backend.context_length

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def user_waiting(self) -> bool:
        return self._users_waiting > 0

    @property
    def reading_speed(self) -> float | None:
        """Prompt tokens the model reads a second (the median of its latest reads), or
        None until a read long enough to tell was followed (a server says nothing)."""
        return statistics.median(self._speeds) if self._speeds else None

    def _timed(self, reads: Iterator[tuple[int, int]]) -> Iterator[tuple[int, int]]:
        """``reads`` passed on, their speed measured, also when the caller stops early."""
        began, read = time.perf_counter(), 0
        try:
            for read, total in reads:
                yield read, total
        finally:
            took = time.perf_counter() - began
            if read >= self.MIN_SAMPLE_TOKENS and took > 0:
                self._speeds.append(read / took)

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def count_messages(self, messages: Sequence[ChatMessage]) -> int:
        return self.backend.count_messages(messages)

    def close(self) -> None:
        self._closing = True  # a read-ahead stops at its next step
        with self._cond:
            self._cond.wait_for(lambda: not self._busy, timeout=30)
            self.backend.close()

    def _acquire(self, priority: Priority, cancel: CancelToken | None) -> bool:
        with self._cond:
            self._waiting += 1
            if priority is Priority.USER:
                self._users_waiting += 1
                self._cond.notify_all()
            try:
                while True:
                    free = not self._busy and (
                        priority is Priority.USER or self._users_waiting == 0
                    )
                    if free:
                        self._busy = True
                        self.turns += 1
                        return True
                    if cancel is not None and cancel.cancelled:
                        return False
                    self._cond.wait(timeout=0.1)
            finally:
                self._waiting -= 1
                if priority is Priority.USER:
                    self._users_waiting -= 1

    def _release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def read_prompt(
        self,
        messages: Sequence[ChatMessage],
        *,
        cancel: CancelToken | None = None,
        continue_last: bool = False,
        step: int | None = None,
    ) -> Iterator[tuple[int, int]]:
        return self.backend.read_prompt(
            messages, cancel=cancel, continue_last=continue_last, step=step
        )

    READ_AHEAD_STEP = 32
    """Tokens read at a time ahead of a message: a few hundredths of a second on a small
    model, so that a reply asked for meanwhile starts almost at once."""

    def read_ahead(
        self, messages: Sequence[ChatMessage], *, cancel: CancelToken | None = None
    ) -> ReadAhead:
        """Read ``messages`` into the model's cache while nobody needs the model, so that a
        reply to them (or to messages that begin the same) has less to read. Only if the
        model is idle now; stops at once when anyone asks for it, or on ``cancel``."""
        with self._cond:
            if self._busy or self._waiting:
                return ReadAhead(0, whole=False)
            self._busy = True
        read, whole = 0, True
        try:
            for done, _ in self._timed(
                self.backend.read_prompt(messages, cancel=cancel, step=self.READ_AHEAD_STEP)
            ):
                read = done
                if self._waiting or self._closing:
                    whole = False
                    break
        finally:
            self._release()
        return ReadAhead(read, whole=whole and not (cancel is not None and cancel.cancelled))

    def reply(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        *,
        cancel: CancelToken | None = None,
        continue_last: bool = False,
    ) -> Iterator[str | ReadProgress]:
        """A person's reply: the model taken first, the prompt read with progress (a long
        one can be stopped while it is read), then the reply piece by piece, all in one
        turn with the model so nothing else reads in between."""
        if not self._acquire(Priority.USER, cancel):
            return
        try:
            for done, total in self._timed(
                self.backend.read_prompt(messages, cancel=cancel, continue_last=continue_last)
            ):
                yield ReadProgress(done, total)
            if cancel is not None and cancel.cancelled:
                return
            yield from self.backend.stream_chat(
                messages, params, cancel=cancel, continue_last=continue_last
            )
        finally:
            self._release()

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        *,
        cancel: CancelToken | None = None,
        json_schema: dict[str, Any] | None = None,
        continue_last: bool = False,
        priority: Priority = Priority.USER,
    ) -> Iterator[str]:
        if not self._acquire(priority, cancel):
            return
        try:
            stream = self.backend.stream_chat(
                messages,
                params,
                cancel=cancel,
                json_schema=json_schema,
                continue_last=continue_last,
            )
            try:
                for piece in stream:
                    if priority is Priority.BACKGROUND and self._users_waiting:
                        raise Preempted("the model was needed for a reply")
                    yield piece
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        finally:
            self._release()
