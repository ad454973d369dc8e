"""Where a store's parts live in its folder, and getting hold of them safely.

The folder is created private, locked against a second process (a clear
error if it is read-only or taken), and the ledger is opened: one per Chroma
server in server mode, since it indexes what that server holds. A damaged
ledger is moved aside, not deleted (it holds the edit history), and a new one
is rebuilt from Chroma by the store's recovery.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from . import _chroma
from ._filelock import FolderLock
from ._ledger import Ledger, LedgerDamagedError
from .errors import StoreUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerLocation:
    url: str
    token: str | None = None
    tenant: str = "default_tenant"
    database: str = "default_database"


def ledger_path(folder: Path, server: ServerLocation | None) -> Path:
    if server is None:
        return folder / "ledger.sqlite3"
    key = f"{server.url}|{server.tenant}|{server.database}".encode()
    return folder / f"ledger-{hashlib.sha256(key).hexdigest()[:12]}.sqlite3"


def location(folder: Path, server: ServerLocation | None) -> _chroma.ChromaLocation:
    if server is None:
        return _chroma.ChromaLocation(path=folder / "chroma")
    return _chroma.ChromaLocation(
        url=server.url, token=server.token, tenant=server.tenant, database=server.database
    )


def prepare_folder(folder: Path) -> FolderLock:
    """Create the folder if needed and take its lock; the caller releases it."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError as exc:
        raise StoreUnavailableError(f"{folder} exists and is not a memory folder") from exc
    except OSError as exc:
        raise StoreUnavailableError(f"cannot create the memory folder {folder}: {exc}") from exc
    lock = FolderLock(folder)
    try:
        lock.acquire()
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise StoreUnavailableError(
                f"the memory folder {folder} is read-only; Mneme needs to write there"
            ) from exc
        raise StoreUnavailableError(f"the memory folder {folder} is not usable: {exc}") from exc
    return lock


def open_ledger(path: Path, warnings: list[str]) -> Ledger:
    """Open the ledger; a damaged one is kept aside and rebuilt from Chroma."""
    try:
        return Ledger(path)
    except LedgerDamagedError as exc:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            part = path.with_name(path.name + suffix)
            if part.exists():
                part.replace(part.with_name(f"{part.name}.damaged-{stamp}"))
        log.warning("%s; rebuilding it from the memory store", exc)
        warnings.append(
            f"{exc}. It was moved aside ({path.name}.damaged-{stamp}) and rebuilt from "
            "your memories; edit history and conversation titles from before are in the "
            "moved file."
        )
        return Ledger(path)
