"""An exclusive, advisory lock on a folder, so two Mnemes never share one store.

Embedded Chroma and the ledger are safe for one writer process only; a second
instance must be refused with a clear message rather than corrupt either.
The lock dies with the process (kill -9 included), so no stale lock survives.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import IO

from .errors import StoreLockedError

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


class FolderLock:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "lock"
        self._handle: IO[bytes] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+b")  # noqa: SIM115 - held for the store's lifetime
        if not _try_lock(handle):
            handle.close()
            holder = ""
            with contextlib.suppress(OSError):
                holder = self.path.read_text(encoding="ascii", errors="replace").strip()
            who = f" (process {holder})" if holder else ""
            raise StoreLockedError(
                f"the memory folder {self.path.parent} is in use by another Mneme{who}; "
                "close it first"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()).encode("ascii"))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the lock
            self._handle = None
