"""Taking memories out and bringing them in: export, import, backup, restore.

One place decides what a file is (:func:`~mneme.assistant.importers.detect`), how
an import or export is stopped, and what a stopped or failed import says it
did: each of them works in whole pieces (a conversation, a batch of
memories), so a stop or a failure leaves what came before complete and the
rest to a second run of the same file, and the person is told which.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from mneme.memory import InvalidMemoryError, MemoryStore, MemoryStoreError, backup
from mneme.memory.backup import BackupInfo
from mneme.memory.export import export_json, export_markdown

from . import importers
from . import settings as settings_mod
from .actions import action
from .errors import CoreError, InvalidRequestError
from .importers import ImportFormatError, ImportKind, ImportSummary, detect

if TYPE_CHECKING:
    from .core import Assistant

Progress = Callable[[int, int], None]
"""(done, total) in the unit of the work: bytes of a file read, memories written."""


class StoppedError(CoreError):
    """The person stopped the work; nothing was left half-done (the message says what)."""


class _Stop(Exception):
    """Raised from a progress callback to stop work between whole pieces."""


class ImportInterruptedError(CoreError):
    """An import failed midway; what it imported before is whole (``done``)."""

    def __init__(self, message: str, done: ImportSummary) -> None:
        super().__init__(message)
        self.done = done


@dataclass(frozen=True, slots=True)
class RestoreReport:
    memories: int
    aside: Path | None
    """Where the memory that was replaced is kept."""
    settings_restored: bool


class ExportFormat(StrEnum):
    JSON = "json"
    """Complete: every memory, its history and the conversations; can be imported again."""
    MARKDOWN = "markdown"
    """For reading."""

    @classmethod
    def of(cls, path: Path) -> ExportFormat:
        return cls.MARKDOWN if path.suffix.lower() in (".md", ".markdown") else cls.JSON


def _stoppable(progress: Progress | None, should_stop: Callable[[], bool]) -> Progress:
    def step(done: int, total: int) -> None:
        if should_stop() and done < total:  # the last step finishes what is whole anyway
            raise _Stop
        if progress is not None:
            progress(done, total)

    return step


class TransferActions:
    """The transfer facet of the core: ``assistant.transfer``."""

    def __init__(self, core: Assistant) -> None:
        self._core = core

    @action
    def export_memories(
        self,
        path: Path,
        *,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Everything remembered, as JSON (complete) or Markdown (by the file's suffix),
        written whole or not at all; returns how many memories."""
        store = self._core.open_memory(load_embedder=False)
        try:
            if ExportFormat.of(path) is ExportFormat.MARKDOWN:
                return export_markdown(store, path)
            return export_json(store, path, _stoppable(progress, should_stop))
        except _Stop:
            raise StoppedError(f"Export stopped; {path.name} was not written or changed.") from None

    @action
    def import_file(
        self,
        path: Path,
        *,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> ImportSummary:
        """A ChatGPT data export or a Mneme export, recognised from the file; what is
        already in memory is skipped, so importing again only adds what is missing."""
        kind = detect(path)  # before anything is written: a wrong file changes nothing
        store = self._core.open_memory()
        memories, listed = store.count(), {c.id for c in store.conversations()}
        try:
            return importers.import_file(store, path, _stoppable(progress, should_stop))
        except _Stop:
            return self._done_before(store, kind, memories, listed, stopped=True)
        except (ImportFormatError, MemoryStoreError, OSError) as exc:
            done = self._done_before(store, kind, memories, listed, stopped=False)
            raise ImportInterruptedError(self._interrupted(exc, done), done) from exc

    @staticmethod
    def _done_before(
        store: MemoryStore, kind: ImportKind, memories: int, listed: set[str], *, stopped: bool
    ) -> ImportSummary:
        new = [c for c in store.conversations() if c.id not in listed]
        added = max(0, store.count() - memories)
        return ImportSummary(kind, memories=added, conversations=len(new), stopped=stopped)

    @staticmethod
    def _interrupted(exc: Exception, done: ImportSummary) -> str:
        if isinstance(exc, OSError):
            return f"The file could not be read ({exc.strerror or exc}). {done.partial()}"
        if isinstance(exc, ImportFormatError | InvalidMemoryError):
            return f"This file cannot be imported: {exc}. {done.partial()}"
        return f"The import could not finish: {exc}. {done.partial()}"

    @action
    def backup(self, folder: Path) -> BackupInfo:
        """The memory (consistent even while in use) and the settings, into a new
        ``folder``; :meth:`restore` reads it."""
        folder = Path(folder)
        info = self._core.open_memory(load_embedder=False).backup(folder / "memory")
        if self._core.paths.settings_file.exists():
            shutil.copy2(self._core.paths.settings_file, folder / "settings.json")
        return info

    @staticmethod
    def backup_info(folder: Path) -> BackupInfo:
        """What a backup holds (to ask before restoring); raises if it is not one."""
        return backup.read_info(Path(folder) / "memory")

    @action
    def restore(self, folder: Path) -> RestoreReport:
        """Replace the memory and settings with a backup; the memory replaced is kept
        aside. Refused while the memory is open (here or in another Mneme)."""
        folder = Path(folder)
        if self._core.memory_open:
            raise InvalidRequestError("the memory is open; close Mneme's window and try again")
        settings_backup = folder / "settings.json"
        if settings_backup.exists():  # checked first: a bad file must not half-restore
            settings_mod.validate(json.loads(settings_backup.read_text(encoding="utf-8")))
        info, aside = MemoryStore.restore_backup(
            folder / "memory", self._core.paths.memory, self._core.embedder()
        )
        if settings_backup.exists():
            current = self._core.paths.settings_file
            if current.exists():
                current.replace(current.with_name(f"{current.name}.before-restore"))
            shutil.copy2(settings_backup, current)
            self._core.settings = settings_mod.load(current).settings
        return RestoreReport(info.memories, aside, settings_backup.exists())
