"""Export and import: choose a file, watch the progress, read what happened.

The work is the core's (``core.transfer``, ``core.conversations.export``),
run by :class:`CoreOp` with a stop flag: each piece of work is whole, so a
stop leaves an export's file unwritten (and the file it would replace as it
was) and an import's conversations or batches written so far complete; the
same file imported again adds the rest. What a stopped or failed import says
it did is the core's sentence, the same as the CLI's. Work without progress
shows a busy bar and cannot be stopped.

An import only adds: memories and conversations already present are skipped,
so a failed import leaves what was there before untouched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.errors import Part
from mneme.assistant.importers import ImportFormatError, ImportKind, detect
from mneme.assistant.transfer import ImportInterruptedError, StoppedError

from .core_op import CoreOp
from .session import AppSession

if TYPE_CHECKING:
    from mneme.assistant.core import Assistant

Progress = Callable[[int, int], None]
Work = Callable[["Assistant", Progress, Callable[[], bool]], "Outcome"]
"""(core, progress, should stop) → what the person is told."""
_STEPS = 1000
"""Progress bar resolution: totals in bytes overflow a QProgressBar's int."""


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    text: str
    """One or two sentences for the person."""
    details: tuple[str, ...] = ()
    """What was skipped, and why, one line each."""


def _when() -> str:
    return time.strftime("%Y-%m-%d")


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


class _TransferDialog(QDialog):
    """A file, a start button, a progress bar and a summary; subclasses say what to do."""

    transferFinished = Signal(bool, str)
    """(succeeded, the summary or the error shown to the person)."""

    ACTION = "Start"

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._path: Path | None = None
        self._stop: threading.Event | None = None
        self._stoppable = False
        self.path_edit = QLineEdit(self)
        self.path_edit.setReadOnly(True)
        self.path_edit.setPlaceholderText("No file chosen")
        self.choose_button = QPushButton("Choose…", self)
        self.choose_button.clicked.connect(self.choose_file)
        self.form = QFormLayout()
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(self.choose_button)
        self.form.addRow("File:", file_row)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, _STEPS)
        self.progress_bar.setValue(0)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.status.setObjectName("transferStatus")
        self.details = QPlainTextEdit(self)
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(120)
        self.details.hide()
        self.start_button = QPushButton(self.ACTION, self)
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Close", self)
        self.cancel_button.clicked.connect(self._cancel_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status)
        layout.addWidget(self.details)
        layout.addLayout(buttons)
        self.resize(560, 0)

    # -- for subclasses -------------------------------------------------------------

    def _task(self, path: Path) -> tuple[Work, bool]:
        """The work for the worker, and whether it reports progress (and can stop)."""
        raise NotImplementedError

    def _ready(self) -> str | None:
        """Why it cannot start now, or None."""
        return None if self._path is not None else "Choose a file first."

    def choose_file(self) -> None:
        raise NotImplementedError

    # -- public ---------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def running(self) -> bool:
        return self._stop is not None

    def set_path(self, path: str | Path) -> None:
        self._path = Path(path)
        self.path_edit.setText(str(self._path))
        self._update_buttons()

    def start(self) -> bool:
        """Run in a worker; False (with the reason shown) if it cannot start."""
        if self.running:
            return False
        why = self.session.unavailable(Part.MEMORY) or self._ready()
        if why is not None or self._path is None:
            self._show(Outcome(False, why or "Choose a file first."))
            return False
        work, self._stoppable = self._task(self._path)
        stop = self._stop = threading.Event()
        op: CoreOp[Outcome] = CoreOp(
            self.session,
            lambda core: work(core, lambda done, total: op.report((done, total)), stop.is_set),
            parent=self,
            name=self.ACTION.lower(),
            long=True,
        )
        self.status.setText("Working…")
        self.details.hide()
        self.progress_bar.setRange(0, 0)  # busy until the first progress
        self._update_buttons()
        op.progress(lambda step: self._progressed(*step)).success(self._done).failure(
            self._crashed
        ).run()
        return True

    def stop(self) -> None:
        """Ask the work to stop at its next whole step."""
        if self._stop is not None and self._stoppable:
            self._stop.set()
            self.status.setText("Stopping…")
            self.cancel_button.setEnabled(False)

    # -- running --------------------------------------------------------------------

    def _progressed(self, done: int, total: int) -> None:
        if total > 0:
            self.progress_bar.setRange(0, _STEPS)
            self.progress_bar.setValue(min(_STEPS, done * _STEPS // total))

    def _done(self, outcome: Outcome) -> None:
        self._stop = None
        self._show(outcome)

    def _crashed(self, why: str) -> None:
        self._stop = None
        self._show(Outcome(False, f"The {self.ACTION.lower()} failed: {why}"))

    def _show(self, outcome: Outcome) -> None:
        self.progress_bar.setRange(0, _STEPS)
        self.progress_bar.setValue(_STEPS if outcome.ok else 0)
        self.status.setText(outcome.text)
        self.status.setStyleSheet("" if outcome.ok else "QLabel { color: #8a1c12; }")
        self.details.setPlainText("\n".join(outcome.details))
        self.details.setVisible(bool(outcome.details))
        self._update_buttons()
        self.transferFinished.emit(outcome.ok, outcome.text)

    def _update_buttons(self) -> None:
        running = self.running
        self.start_button.setEnabled(not running and self._path is not None)
        self.choose_button.setEnabled(not running)
        self.cancel_button.setText("Stop" if running else "Close")
        self.cancel_button.setEnabled(not running or self._stoppable)

    def _cancel_clicked(self) -> None:
        if self.running:
            self.stop()
        else:
            self.reject()

    def reject(self) -> None:
        """Closing while running stops the work (when it can) instead of hiding it."""
        if self.running:
            self.stop()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running:
            self.stop()
            event.ignore()
            return
        super().closeEvent(event)


# -- export -------------------------------------------------------------------------


class ExportContent(StrEnum):
    MEMORIES = "memories"
    """Everything remembered: facts, summaries, turns, history."""
    CONVERSATIONS = "conversations"
    """Only the conversations, turn by turn."""


class ExportFormat(StrEnum):
    JSON = "json"
    MARKDOWN = "markdown"


_SUFFIX = {ExportFormat.JSON: ".json", ExportFormat.MARKDOWN: ".md"}
_FORMAT_OF = {
    ".json": ExportFormat.JSON,
    ".md": ExportFormat.MARKDOWN,
    ".markdown": ExportFormat.MARKDOWN,
}


def export_to(
    core: Assistant,
    path: Path,
    content: ExportContent,
    progress: Progress,
    should_stop: Callable[[], bool],
) -> Outcome:
    """Write the export; the file only appears (or is replaced) once complete."""
    try:
        if content is ExportContent.CONVERSATIONS:
            what = _count(core.conversations.export(path), "conversation", "conversations")
        else:
            n = core.transfer.export_memories(path, progress=progress, should_stop=should_stop)
            what = _count(n, "memory", "memories")
    except StoppedError as exc:
        return Outcome(False, str(exc))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return Outcome(False, f"{path.name} could not be written ({reason}); nothing was changed.")
    return Outcome(True, f"Exported {what} to {path}.")


class ExportDialog(_TransferDialog):
    """Everything remembered (JSON: complete, can be imported again; Markdown: for
    reading) or only the conversations."""

    ACTION = "Export"

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.setWindowTitle("Export memories")
        self.content_box = QComboBox(self)
        self.content_box.addItem("Everything remembered", ExportContent.MEMORIES)
        self.content_box.addItem("Conversations only", ExportContent.CONVERSATIONS)
        self.format_box = QComboBox(self)
        self.format_box.addItem("JSON (complete; can be imported again)", ExportFormat.JSON)
        self.format_box.addItem("Markdown (for reading)", ExportFormat.MARKDOWN)
        self.format_box.currentIndexChanged.connect(self._format_changed)
        self.form.insertRow(0, "What:", self.content_box)
        self.form.insertRow(1, "Format:", self.format_box)
        self._update_buttons()

    @property
    def content(self) -> ExportContent:
        return ExportContent(self.content_box.currentData())

    @property
    def format(self) -> ExportFormat:
        return ExportFormat(self.format_box.currentData())

    def set_content(self, content: ExportContent) -> None:
        self.content_box.setCurrentIndex(self.content_box.findData(content))

    def set_format(self, fmt: ExportFormat) -> None:
        self.format_box.setCurrentIndex(self.format_box.findData(fmt))

    def set_path(self, path: str | Path) -> None:
        """The file to write; its suffix sets the format (one without gets the format's)."""
        path = Path(path)
        fmt = _FORMAT_OF.get(path.suffix.lower())
        if fmt is None:
            path = path.with_name(path.name + _SUFFIX[self.format])
        super().set_path(path)
        if fmt is not None:
            self.set_format(fmt)

    def _format_changed(self, *_: object) -> None:
        if self.path is not None and _FORMAT_OF.get(self.path.suffix.lower()) != self.format:
            super().set_path(self.path.with_suffix(_SUFFIX[self.format]))

    def choose_file(self) -> None:
        name = f"mneme-{self.content.value}-{_when()}{_SUFFIX[self.format]}"
        start = str(self.path.with_name(name) if self.path else Path.home() / name)
        filters = "JSON (*.json);;Markdown (*.md)"
        chosen, _ = QFileDialog.getSaveFileName(self, "Export to", start, filters)
        if chosen:
            self.set_path(chosen)

    def _task(self, path: Path) -> tuple[Work, bool]:
        content, fmt = self.content, self.format
        stoppable = content is ExportContent.MEMORIES and fmt is ExportFormat.JSON
        return (
            lambda core, progress, stop: export_to(core, path, content, progress, stop)
        ), stoppable

    def _update_buttons(self) -> None:
        super()._update_buttons()
        self.content_box.setEnabled(not self.running)
        self.format_box.setEnabled(not self.running)


# -- import -------------------------------------------------------------------------


def import_from(
    core: Assistant, path: Path, progress: Progress, should_stop: Callable[[], bool]
) -> Outcome:
    """Import a ChatGPT or Mneme export, saying what was added, or why nothing was."""
    try:
        summary = core.transfer.import_file(path, progress=progress, should_stop=should_stop)
    except ImportInterruptedError as exc:
        return Outcome(False, str(exc))
    except OSError as exc:
        return Outcome(False, f"{path.name} cannot be read: {exc.strerror or exc}.")
    except ImportFormatError as exc:
        return Outcome(False, f"This file cannot be imported: {exc}.")
    return Outcome(not summary.stopped, summary.describe(), tuple(summary.skipped))


class ImportDialog(_TransferDialog):
    """A ChatGPT data export (conversations.json) or a Mneme export, recognised by its
    content; what is already in memory is skipped."""

    ACTION = "Import"

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.setWindowTitle("Import conversations and memories")
        self.kind_label = QLabel(
            "A ChatGPT data export (conversations.json) or a file exported from Mneme.", self
        )
        self.kind_label.setWordWrap(True)
        self.form.addRow("Kind:", self.kind_label)
        self._problem: str | None = None
        self._update_buttons()

    def set_path(self, path: str | Path) -> None:
        """The file to read; what kind of export it is shows at once."""
        super().set_path(path)
        assert self.path is not None
        try:
            kind = detect(self.path)
        except OSError as exc:
            self._problem = f"{self.path.name} cannot be read: {exc.strerror or exc}."
        except ImportFormatError as exc:
            self._problem = f"This file cannot be imported: {exc}."
        else:
            self._problem = None
            self.kind_label.setText(
                "A ChatGPT data export" if kind is ImportKind.CHATGPT else "A Mneme memory export"
            )
        if self._problem is not None:
            self.kind_label.setText("Not an export Mneme can read")
            self.status.setText(self._problem)
            self.status.setStyleSheet("QLabel { color: #8a1c12; }")
        else:
            self.status.setText("")
        self._update_buttons()

    def _ready(self) -> str | None:
        return super()._ready() or self._problem

    def choose_file(self) -> None:
        start = str(self.path or Path.home())
        filters = "Exports (*.json);;All files (*)"
        chosen, _ = QFileDialog.getOpenFileName(self, "Import from", start, filters)
        if chosen:
            self.set_path(chosen)

    def _task(self, path: Path) -> tuple[Work, bool]:
        return (lambda core, progress, stop: import_from(core, path, progress, stop)), True

    def _update_buttons(self) -> None:
        super()._update_buttons()
        if self._problem is not None:
            self.start_button.setEnabled(False)
