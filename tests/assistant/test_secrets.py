"""Secrets go to the keyring; without one, only to a 0600 file the person opted in to."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mneme.assistant.secrets import MODEL_SERVER_KEY, Secrets, SecretsUnavailableError
from tests.conftest import MemoryKeyring


def test_secrets_go_to_the_keyring(memory_keyring: MemoryKeyring, tmp_path: Path) -> None:
    secrets = Secrets(tmp_path / "secrets.json", allow_file=True)
    secrets.set(MODEL_SERVER_KEY, "sk-123")
    assert memory_keyring.store[("mneme", MODEL_SERVER_KEY)] == "sk-123"
    assert secrets.get(MODEL_SERVER_KEY) == "sk-123"
    assert not (tmp_path / "secrets.json").exists()  # the file is only a fallback
    assert "system keyring" in secrets.describe()
    secrets.delete(MODEL_SERVER_KEY)
    assert secrets.get(MODEL_SERVER_KEY) is None


def test_without_a_keyring_saving_is_refused_with_advice(no_keyring: None, tmp_path: Path) -> None:
    secrets = Secrets(tmp_path / "secrets.json")
    with pytest.raises(SecretsUnavailableError, match="no system keyring") as err:
        secrets.set(MODEL_SERVER_KEY, "sk-123")
    assert "not encrypted" in str(err.value)
    assert not (tmp_path / "secrets.json").exists()
    assert secrets.get(MODEL_SERVER_KEY) is None
    assert "file fallback is off" in secrets.describe()


def test_the_opt_in_file_is_private_to_the_user(no_keyring: None, tmp_path: Path) -> None:
    path = tmp_path / "config" / "secrets.json"
    secrets = Secrets(path, allow_file=True)
    secrets.set(MODEL_SERVER_KEY, "sk-456")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {MODEL_SERVER_KEY: "sk-456"}
    assert secrets.get(MODEL_SERVER_KEY) == "sk-456"
    secrets.delete(MODEL_SERVER_KEY)
    assert secrets.get(MODEL_SERVER_KEY) is None
    path.write_text("{broken")
    assert secrets.get(MODEL_SERVER_KEY) is None  # a damaged file is ignored, not fatal
