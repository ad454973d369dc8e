"""Backups of a memory folder that can be trusted, and restoring one without losing the present.

A backup is taken by the process that has the store open, under its write
lock: no write can happen meanwhile, so Chroma's files are quiescent and can
be copied; the SQLite files (the ledger and Chroma's own database) are copied
with SQLite's backup API, which gives a consistent snapshot even of a WAL
database. The copy is written to ``<dest>.partial`` and renamed when
complete, so a half-written backup never looks like a backup.

Restoring moves the current folder aside (``<folder>.before-restore-<time>``)
rather than deleting it, opens the restored copy to check it, and puts the
old folder back if that fails.

This module never reaches into a store: the store hands it a
:class:`Quiescent` view while it holds its write lock (``MemoryStore.backup``)
and an opener to check a restored copy with (``MemoryStore.restore_backup``).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ._filelock import FolderLock
from .errors import StoreUnavailableError

MANIFEST = "mneme-backup.json"
FORMAT = 1


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    created_at: float
    memories: int
    embedder: str
    size_bytes: int


class LiveDatabase(Protocol):
    """A SQLite file the store has open: copied through its own connection."""

    @property
    def path(self) -> Path: ...

    def backup_to(self, target: Path) -> None: ...


@dataclass(frozen=True, slots=True)
class Quiescent:
    """A store as a backup needs it, handed over while no write can happen."""

    folder: Path
    ledger: LiveDatabase
    memories: int
    embedder: str
    now: float
    on_server: bool
    """A server's memory is backed up where it lives, not copied by folder."""


def _copy_sqlite(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _copy_tree(source: Path, target: Path, ledger: LiveDatabase) -> None:
    target.mkdir(mode=0o700)
    for item in sorted(source.iterdir()):
        name = item.name
        if name == "lock" or name.endswith(("-wal", "-shm")) or ".damaged-" in name:
            continue  # a snapshot of the database includes its WAL; locks stay behind
        if item.is_dir():
            _copy_tree(item, target / name, ledger)
        elif name.endswith(".sqlite3") and item == ledger.path:
            ledger.backup_to(target / name)
        elif name.endswith(".sqlite3"):
            _copy_sqlite(item, target / name)
        else:
            shutil.copy2(item, target / name)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def create(store: Quiescent, dest: Path) -> BackupInfo:
    """Copy ``store`` to ``dest``; the caller holds the store's write lock throughout
    (no write from this process, and the folder lock keeps other processes out)."""
    dest = Path(dest)
    if dest.exists():
        raise StoreUnavailableError(f"{dest} already exists; choose a new folder for the backup")
    if store.on_server:
        raise StoreUnavailableError(
            "this memory lives on a Chroma server, which is backed up there; "
            "use export for a copy on this machine"
        )
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _copy_tree(store.folder, partial, store.ledger)
        (partial / MANIFEST).write_text(
            json.dumps(
                {
                    "format": FORMAT,
                    "created_at": store.now,
                    "memories": store.memories,
                    "embedder": store.embedder,
                }
            ),
            encoding="utf-8",
        )
        os.replace(partial, dest)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise StoreUnavailableError(f"the backup could not be written to {dest}: {exc}") from exc
    return BackupInfo(dest, store.now, store.memories, store.embedder, _size(dest))


def read_info(backup: Path) -> BackupInfo:
    try:
        raw = json.loads((Path(backup) / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError(f"unknown backup format {raw.get('format')!r}")
        return BackupInfo(
            Path(backup), float(raw["created_at"]), int(raw["memories"]), str(raw["embedder"]), 0
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreUnavailableError(f"{backup} is not a Mneme memory backup: {exc}") from exc


def restore(
    backup: Path, folder: Path, count_opened: Callable[[Path], int]
) -> tuple[BackupInfo, Path | None]:
    """Replace ``folder`` with the backup; returns where the previous folder was kept.

    ``count_opened`` opens the restored folder as a store (replaying, rebuilding
    what it must) and returns how many memories it holds; the restore is undone
    unless it opens and holds what the backup says. ``MemoryStore.restore_backup``
    passes it.
    """
    info = read_info(backup)
    folder = Path(folder)
    aside: Path | None = None
    if folder.exists():
        lock = FolderLock(folder)
        lock.acquire()  # refuses while the app has it open; a damaged store is fine
        try:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            aside = folder.with_name(f"{folder.name}.before-restore-{stamp}")
            folder.replace(aside)
        finally:
            lock.release()
    try:
        shutil.copytree(backup, folder, ignore=shutil.ignore_patterns(MANIFEST))
        os.chmod(folder, 0o700)
        found = count_opened(folder)
        if found != info.memories:
            raise StoreUnavailableError(
                f"the restored memory holds {found} memories, the backup says {info.memories}"
            )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if aside is not None:
            aside.replace(folder)
        raise
    return info, aside
