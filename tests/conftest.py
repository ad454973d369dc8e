"""Shared fixtures: real parts, loaded once per session, and the network guard."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

# Before anything imports Qt or a Hugging Face library.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.pop("MNEME_HOME", None)

from tests import socket_guard

socket_guard.install()

from tests.servers import free_port, running  # noqa: E402


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if socket_guard.violations:
        print("\nsocket guard: connections beyond loopback were attempted:")
        for v in socket_guard.violations:
            print(f"  {v}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    from mneme.memory import SentenceTransformerEmbedder

    e = SentenceTransformerEmbedder(threads=1)
    e.load()
    return e


@pytest.fixture
def store(tmp_path: Path, embedder):  # type: ignore[no-untyped-def]
    from mneme.memory import MemoryStore

    s = MemoryStore.open(tmp_path / "memory", embedder)
    yield s
    s.close()


@pytest.fixture(scope="session")
def smollm_path() -> Path:
    from mneme.assistant.models import bundled_model_path

    return bundled_model_path()


@pytest.fixture(scope="session")
def smollm(smollm_path: Path):  # type: ignore[no-untyped-def]
    from mneme.assistant.llm.local import LlamaCppBackend

    backend = LlamaCppBackend(smollm_path, context_length=2048, threads=1, seed=7)
    backend.load()
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.gguf_factory import write_tiny_llama

    return write_tiny_llama(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


TEST_SETTINGS = {
    "version": 2,
    "model": {"threads": 1, "context_length": 2048, "seed": 7},
    "generation": {"max_tokens": 24},
    # the consolidation machinery is tested with the model writing; the gate that
    # decides this for a person is tested on its own (tests/assistant/test_model_trust.py)
    "memory": {"model_writes": "facts_and_summaries"},
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh MNEME_HOME with settings that keep the real model quick."""
    root = tmp_path / "home"
    (root / "config").mkdir(parents=True)
    (root / "config" / "settings.json").write_text(json.dumps(TEST_SETTINGS))
    monkeypatch.setenv("MNEME_HOME", str(root))
    yield root


MODEL_SERVER_KEY_FOR_TESTS = "test-key-0123"
KEY = MODEL_SERVER_KEY_FOR_TESTS


def _server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "llama-server.log"


@pytest.fixture(scope="session")
def model_server_log(model_server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the model server writes (llama-cpp-python says there how much of each prompt
    it found already read)."""
    return _server_log(tmp_path_factory)


@pytest.fixture(scope="session")
def model_server(smollm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = _server_log(tmp_path_factory)
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(smollm_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "1",
        "--api_key",
        KEY,
        "--seed",
        "7",
    ]
    with running(command, f"http://127.0.0.1:{port}/docs", log):
        yield f"http://127.0.0.1:{port}/v1"


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)
