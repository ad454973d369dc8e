"""API keys and tokens, kept in the system keyring and nowhere else by default.

On a machine without a keyring service (a headless Linux box has only
keyring's "fail" backend) saving a secret fails with an explanation, unless
the person has opted in to a file fallback: a JSON file readable only by
them (0600). That file is plain text on disk, which is why it is never used
silently. Secrets never go into settings, logs or exports.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

from . import logs
from .actions import action
from .errors import CoreError

log = logging.getLogger(__name__)

SERVICE = "mneme"
MODEL_SERVER_KEY = "model-server-api-key"
CHROMA_SERVER_TOKEN = "chroma-server-token"


class SecretsUnavailableError(CoreError):
    """There is nowhere safe to keep a secret; the message says what the person can do."""


def _keyring_backend() -> object | None:
    """The usable keyring backend, or None when only the fail backend exists."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:  # pragma: no cover - keyring is a dependency
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return None
    chained = getattr(backend, "backends", None)
    if chained is not None and not chained:
        return None
    return backend


class Secrets:
    def __init__(self, fallback_file: Path, *, allow_file: bool = False) -> None:
        self.fallback_file = fallback_file
        self.allow_file = allow_file

    @property
    def keyring_available(self) -> bool:
        return _keyring_backend() is not None

    @action
    def describe(self) -> str:
        """Where secrets are kept, in words."""
        backend = _keyring_backend()
        if backend is not None:
            return f"system keyring ({type(backend).__module__}.{type(backend).__name__})"
        if self.allow_file:
            return f"file readable only by you ({self.fallback_file}), no keyring found"
        return "none: no system keyring found and the file fallback is off"

    # -- reading and writing ---------------------------------------------------------

    def get(self, name: str) -> str | None:
        if _keyring_backend() is not None:
            import keyring
            from keyring.errors import KeyringError

            try:
                value = keyring.get_password(SERVICE, name)
            except KeyringError as exc:
                log.warning("the keyring could not be read: %s", type(exc).__name__)
                return None
        elif self.allow_file:
            value = self._read_file().get(name)
        else:
            return None
        logs.redact(value)
        return value

    @action
    def set(self, name: str, value: str) -> None:
        """Keep a server's key (an empty value deletes it)."""
        if not value:
            self.delete(name)
            return
        logs.redact(value)
        if _keyring_backend() is not None:
            import keyring
            from keyring.errors import KeyringError

            try:
                keyring.set_password(SERVICE, name, value)
                return
            except KeyringError as exc:
                raise SecretsUnavailableError(
                    f"the system keyring refused to store the secret ({type(exc).__name__})"
                ) from None
        if not self.allow_file:
            raise SecretsUnavailableError(
                "no system keyring is available to keep the secret safely. Install and unlock "
                "one (for example GNOME Keyring or KWallet), or allow Mneme to keep secrets in "
                f"a file readable only by you ({self.fallback_file}); that file is not encrypted."
            )
        data = self._read_file()
        data[name] = value
        self._write_file(data)

    @action
    def delete(self, name: str) -> None:
        if _keyring_backend() is not None:
            import keyring
            from keyring.errors import KeyringError

            with contextlib.suppress(KeyringError):
                keyring.delete_password(SERVICE, name)
        if self.fallback_file.exists():
            data = self._read_file()
            if data.pop(name, None) is not None:
                self._write_file(data)

    # -- the opt-in file ---------------------------------------------------------------

    def _read_file(self) -> dict[str, str]:
        try:
            data = json.loads(self.fallback_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("the secrets file %s is unreadable; ignoring it", self.fallback_file)
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write_file(self, data: dict[str, str]) -> None:
        folder = self.fallback_file.parent
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".secrets-", dir=folder)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.fallback_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
