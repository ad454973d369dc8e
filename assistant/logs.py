"""Mneme's log: a private, rotated file in the logs folder, and the console.

What people write must never end up in a log, and neither must their keys. Unless
debug logging is switched on (``MNEME_DEBUG=1`` or ``--debug``), a record is written
with its format string as the code wrote it, but every text argument is replaced
by its length (``‹text, 42 chars›``), every exception by its type, and a traceback
keeps its files, lines and functions but not its messages. Mneme's own log calls
always use a literal format string (a test checks), so what they say is fixed
text plus numbers. Other libraries only reach the log from WARNING up, and their
messages without arguments (which may be f-strings) are left out too.

Secrets are redacted in every mode: whatever the keyring hands out is registered
here (:func:`redact`) and replaced by ``‹secret›`` wherever it would appear.

The file is created 0600 inside a 0700 folder, and so is each rotated file.
"""

from __future__ import annotations

import contextlib
import enum
import io
import logging
import logging.handlers
import os
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import PurePath
from types import TracebackType
from typing import IO, Any

from .paths import AppPaths

LOG_FILE = "mneme.log"
DEBUG_ENV = "MNEME_DEBUG"
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 3
_OWN = ("mneme", "benchmarks", "__main__")
"""The top-level names of Mneme's own loggers (``__name__`` of its modules)."""
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def redact(secret: str | None) -> None:
    """Never write ``secret`` to a log, in any mode (called for every key the app reads)."""
    if secret and len(secret) >= 4:
        with _secrets_lock:
            _secrets.add(secret)


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, "‹secret›")
    return text


def debug_requested() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _safe(value: Any) -> Any:
    """What may be shown of a log argument without debug logging."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, int | float) else value.name
    if isinstance(value, PurePath):
        return value
    if isinstance(value, str | bytes):
        return f"‹text, {len(value)} chars›"
    if isinstance(value, BaseException):
        return f"‹{type(value).__name__}›"
    return f"‹{type(value).__name__}›"


def _traceback_without_messages(
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> str:
    lines = ["Traceback (messages left out; switch on debug logging to see them):"]
    for frame in traceback.extract_tb(tb):
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
    lines.append(exc_type.__name__ if exc_type is not None else "unknown error")
    cause = exc.__cause__ or exc.__context__ if exc is not None else None
    if cause is not None:
        lines.append(f"  (from {type(cause).__name__})")
    return "\n".join(lines)


class PrivateFormatter(logging.Formatter):
    """Formats records as described in the module docstring."""

    def __init__(self, debug: bool) -> None:
        super().__init__(_FORMAT)
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        if self.debug:
            return scrub(super().format(record))
        private = logging.makeLogRecord(record.__dict__)
        private.msg = str(record.msg) if isinstance(record.msg, str) else _safe(record.msg)
        if not record.args and record.name.split(".", 1)[0] not in _OWN:
            # another library's message without arguments may have been built with an
            # f-string from anything; only Mneme's own are known to be literal
            private.msg = f"‹message, {len(str(record.msg))} chars›"
        if isinstance(record.args, dict):
            private.args = {k: _safe(v) for k, v in record.args.items()}
        elif record.args:
            private.args = tuple(_safe(a) for a in record.args)
        try:
            private.getMessage()
        except (TypeError, ValueError):  # arguments that no longer fit the format
            private.msg, private.args = f"{record.msg} (arguments left out)", None
        private.exc_info, private.exc_text, private.stack_info = None, None, None
        text = super().format(private)
        if record.exc_info:
            text += "\n" + _traceback_without_messages(*record.exc_info)
        return scrub(text)


class _Gate(logging.Filter):
    """Without debug logging, other libraries are heard only from WARNING up."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name.split(".", 1)[0] in _OWN
        return self.debug or own or record.levelno >= logging.WARNING


class PrivateFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file whose every generation is created readable only by the user."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if hasattr(os, "fchmod"):  # a file left by an older version, or another umask
            os.fchmod(fd, 0o600)
        return open(fd, "a", encoding=self.encoding or "utf-8", errors="backslashreplace")


@dataclass
class LogSetup:
    """The handlers :func:`setup` installed; :meth:`close` takes them away again."""

    file: str
    debug: bool
    handlers: list[logging.Handler] = field(default_factory=list)
    previous_level: int = logging.WARNING

    def close(self) -> None:
        root = logging.getLogger()
        for handler in self.handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(self.previous_level)
        self.handlers.clear()


_installed: LogSetup | None = None


def setup(
    paths: AppPaths,
    *,
    debug: bool | None = None,
    console: IO[str] | None = None,
    console_level: int = logging.WARNING,
) -> LogSetup:
    """Log to ``<logs>/mneme.log`` (and WARNING up to the console), privately unless
    ``debug`` (default: ``MNEME_DEBUG``). Calling it again replaces the earlier setup."""
    global _installed
    if _installed is not None:
        _installed.close()
    debug = debug_requested() if debug is None else debug
    paths.logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):  # a folder owned by someone else
        paths.logs.chmod(0o700)
    root = logging.getLogger()
    installed = LogSetup(str(paths.logs / LOG_FILE), debug, previous_level=root.level)
    formatter = PrivateFormatter(debug)
    gate = _Gate(debug)
    file_handler = PrivateFileHandler(
        installed.file, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    file_handler.setLevel(logging.DEBUG if debug else logging.INFO)
    stream = logging.StreamHandler(console if console is not None else sys.stderr)
    stream.setLevel(logging.DEBUG if debug else console_level)
    for handler in (file_handler, stream):
        handler.setFormatter(formatter)
        handler.addFilter(gate)
        root.addHandler(handler)
        installed.handlers.append(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    _installed = installed
    logging.getLogger(__name__).info("logging started (debug %s)", debug)
    return installed
