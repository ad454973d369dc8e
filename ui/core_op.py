"""The window's one way to run core work: :class:`CoreOp`.

Modelled on Anki's ``CollectionOp``: a widget asks for one call of the core
(:mod:`mneme.assistant.core`) and says what to do with the answer::

    CoreOp(self.session, lambda core: core.memories.forget(ids), parent=self)
        .success(self._forgotten)
        .failure(self.error.setText)
        .run()

and the helper does the rest, the same way for every widget:

* it refuses at once, with the reason, when a part the call needs (memory,
  model) is not open, instead of queueing work that cannot succeed;
* it runs the call on a worker thread, never the UI thread (long work on a
  pool of its own, so a page of memories never queues behind an import);
* it turns an error into what is shown (the typed errors' messages are written
  for a person; where the memory stopped taking writes, the window's way out);
* it drops an answer that a newer call with the same ``key`` from the same
  parent has replaced (a search typed on, a pane moved to another memory);
* it delivers nothing once the parent widget is gone.

Refreshing is not its job: writes announce what changed through the core,
the session merges those announcements and each view decides for itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from PySide6.QtCore import QObject, Signal

from mneme.assistant.errors import Part, storage_failed

if TYPE_CHECKING:
    from mneme.assistant.core import Assistant

    from .session import AppSession

T = TypeVar("T")

REOPEN_ADVICE = "Once the disk can be written again, choose Memory → Reopen memory."


class Failure(str):
    """The sentence shown for a failed call; ``error`` is what was raised (None when the
    call could not start because a part is not open)."""

    error: Exception | None

    def __new__(cls, message: str, error: Exception | None = None) -> Failure:
        failure = super().__new__(cls, message)
        failure.error = error
        return failure


def describe(exc: Exception) -> str:
    """An error as the window says it after "…could not be done: ": what the error says
    (the engine's and the core's messages are written for a person), and where the
    memory stopped taking writes, the window's way out."""
    return f"{exc}. {REOPEN_ADVICE}" if storage_failed(exc) else str(exc)


class _Relay(QObject):
    """Carries a report from the worker to the UI thread (a signal may only be emitted
    by an object, and this one belongs to the op, not to a widget)."""

    reported = Signal(object)


class _Receiver(QObject):
    """Lives as the parent widget's child: when the widget goes, so does it, and Qt
    drops what was still on its way to it."""

    def __init__(self, parent: QObject, op: CoreOp[Any]) -> None:
        super().__init__(parent)
        self.op: CoreOp[Any] | None = op

    def progress(self, item: object) -> None:
        if self.op is not None:
            self.op._deliver_progress(item)

    def result(self, value: object) -> None:
        if self.op is not None:
            self.op._deliver_result(value)

    def error(self, exc: object) -> None:
        if self.op is not None:
            self.op._deliver_error(exc)

    def finished(self) -> None:
        op, self.op = self.op, None
        if op is not None:
            op._deliver_finished()
        self.deleteLater()


_serial = itertools.count(1)


class CoreOp(Generic[T]):
    """One core call from the window (see the module's docstring)."""

    def __init__(
        self,
        session: AppSession,
        work: Callable[[Assistant], T],
        *,
        parent: QObject,
        name: str = "core call",
        needs: Iterable[Part] = (Part.MEMORY,),
        key: str | None = None,
        long: bool = False,
    ) -> None:
        self.session = session
        self.work = work
        self.parent = parent
        self.name = name
        self.needs = tuple(needs)
        self.key = (id(parent), key) if key is not None else None
        self.long = long
        self.serial = next(_serial)
        self._relay = _Relay()
        self._on_success: list[Callable[[T], None]] = []
        self._on_failure: list[Callable[[Failure], None]] = []
        self._on_progress: list[Callable[[Any], None]] = []
        self._on_finished: list[Callable[[], None]] = []

    # -- what to do with the answer ---------------------------------------------------

    def success(self, callback: Callable[[T], None]) -> CoreOp[T]:
        self._on_success.append(callback)
        return self

    def failure(self, callback: Callable[[Failure], None]) -> CoreOp[T]:
        """``callback`` gets the sentence to show (a :class:`Failure`, which is a str)."""
        self._on_failure.append(callback)
        return self

    def progress(self, callback: Callable[[Any], None]) -> CoreOp[T]:
        """Each item the call yields (if it returns an iterator) or passes to
        :meth:`report`, on the UI thread."""
        self._on_progress.append(callback)
        return self

    def finished(self, callback: Callable[[], None]) -> CoreOp[T]:
        """After success or failure (not after an answer that was dropped)."""
        self._on_finished.append(callback)
        return self

    def report(self, item: object) -> None:
        """From the worker: pass ``item`` to the progress callbacks (thread-safe)."""
        self._relay.reported.emit(item)

    # -- running ----------------------------------------------------------------------

    def run(self) -> bool:
        """Start the call; False (and the failure callbacks told why) if a part it needs
        is not open."""
        for part in self.needs:
            reason = self.session.unavailable(part)
            if reason is not None:
                self._fail(Failure(reason))
                self._finish()
                return False
        if self.key is not None:
            self.session.latest_ops[self.key] = self.serial
        receiver = _Receiver(self.parent, self)
        self._relay.reported.connect(receiver.progress)
        core, work = self.session.assistant, self.work
        self.session.operations.start(
            lambda: work(core),
            name=self.name,
            on_progress=receiver.progress,
            on_result=receiver.result,
            on_error=receiver.error,
            on_finished=receiver.finished,
            long=self.long,
        )
        return True

    # -- delivery (UI thread) ---------------------------------------------------------

    def _current(self) -> bool:
        """False once a newer call with the same key was started from the same parent."""
        return self.key is None or self.session.latest_ops.get(self.key) == self.serial

    def _deliver_progress(self, item: object) -> None:
        if self._current():
            for callback in self._on_progress:
                callback(item)

    def _deliver_result(self, value: object) -> None:
        if self._current():
            for callback in self._on_success:
                callback(value)  # type: ignore[arg-type]

    def _deliver_error(self, exc: object) -> None:
        if self._current():
            error = exc if isinstance(exc, Exception) else RuntimeError(str(exc))
            self._fail(Failure(describe(error), error))

    def _deliver_finished(self) -> None:
        if self._current():
            if self.key is not None:
                self.session.latest_ops.pop(self.key, None)
            self._finish()

    def _fail(self, failure: Failure) -> None:
        for callback in self._on_failure:
            callback(failure)

    def _finish(self) -> None:
        for callback in self._on_finished:
            callback()
