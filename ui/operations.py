"""Background work for the UI: run a callable off the UI thread, report by signals.

An operation never touches a widget. If its callable returns a generator,
each yielded item is emitted as ``progress`` while the generator runs, which
is how a reply streams token by token. Signals cross to the UI thread through
Qt's queued connections, because the signal object lives there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QDeadlineTimer, QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class OperationSignals(QObject):
    progress = Signal(object)
    result = Signal(object)
    error = Signal(object)
    finished = Signal()


class Operation(QRunnable):
    def __init__(self, fn: Callable[[], Any], name: str = "operation") -> None:
        super().__init__()
        self.fn = fn
        self.name = name
        self.signals = OperationSignals()
        self.setAutoDelete(False)  # Python keeps the reference; see Operations

    def run(self) -> None:
        try:
            value = self.fn()
            if isinstance(value, Iterator):
                for item in value:
                    self.signals.progress.emit(item)
                value = None
            self.signals.result.emit(value)
        except Exception as exc:  # reported to the UI, which decides what to say
            log.debug("%s failed", self.name, exc_info=True)
            self.signals.error.emit(exc)
        finally:
            self.signals.finished.emit()


class Operations(QObject):
    """Starts operations on thread pools and keeps them alive until they finish.

    Long work (loading a model, consolidating, downloading, importing) has a pool of
    its own, so however much of it runs, a reply or a page of the memory table never
    queues behind it.
    """

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self.long_pool = QThreadPool(self)
        self.long_pool.setMaxThreadCount(max_threads)
        self._running: set[Operation] = set()

    def start(
        self,
        fn: Callable[[], Any],
        *,
        name: str = "operation",
        on_progress: Callable[[Any], None] | None = None,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        long: bool = False,
    ) -> Operation:
        op = Operation(fn, name)
        if on_progress is not None:
            op.signals.progress.connect(on_progress)
        if on_result is not None:
            op.signals.result.connect(on_result)
        if on_error is not None:
            op.signals.error.connect(on_error)
        if on_finished is not None:
            op.signals.finished.connect(on_finished)
        op.signals.finished.connect(lambda: self._running.discard(op))
        self._running.add(op)
        (self.long_pool if long else self.pool).start(op)
        return op

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def wait(self, msecs: int = -1) -> bool:
        deadline = QDeadlineTimer(msecs)
        return bool(self.pool.waitForDone(deadline) and self.long_pool.waitForDone(deadline))
