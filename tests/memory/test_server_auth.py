"""A Chroma server that asks for a token, and one behind TLS: the app reaches the server
the person configured with the token from the keyring, says clearly when the token is
wrong or missing, verifies certificates, and never writes the token anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mneme.assistant import logs
from mneme.assistant.core import Assistant
from mneme.assistant.secrets import CHROMA_SERVER_TOKEN
from mneme.assistant.settings import updated
from mneme.memory import Embedder, MemoryStore, NewEpisode, ServerLocation, StoreUnavailableError
from tests.chroma_auth_server import chroma_token_server
from tests.servers import self_signed_certificate

TOKEN = "chroma-Token-4f9c2e71b8"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with chroma_token_server(tmp_path_factory.mktemp("chroma-auth"), TOKEN) as url:
        yield url


def files_holding(root: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_the_app_uses_the_configured_server_with_the_token_from_the_keyring(
    auth_server: str,
    home: Path,
    memory_keyring: object,
    embedder: Embedder,
) -> None:
    assistant = Assistant.from_environment(home, embedder=embedder)
    assistant.secrets.set(CHROMA_SERVER_TOKEN, TOKEN)
    assistant.apply_settings(updated(assistant.settings, {"memory.server_url": auth_server}))
    logging_on = logs.setup(assistant.paths, debug=True)  # even debug logs keep it out
    try:
        store = assistant.open_memory()
        assert store.server is not None and store.server.url == auth_server
        store.add_episode(NewEpisode("The spare key is under the blue flowerpot.", "user", "c"))
        assert "flowerpot" in store.search("where is the spare key?", k=1)[0].memory.text
        assistant.close()
        again = Assistant.from_environment(home, embedder=embedder)
        assert again.open_memory().count() >= 1
        again.close()
    finally:
        logging_on.close()
    log_text = Path(logging_on.file).read_text()
    assert "HTTP Request" in log_text  # the requests were logged, the token was not
    assert files_holding(home, TOKEN) == []
    assert (home / "config" / "settings.json").is_file()  # among the files checked above


@pytest.mark.parametrize(
    ("token", "says"), [(None, "asks for a token"), ("not-the-token", "refused the token")]
)
def test_a_missing_or_wrong_token_is_a_clear_error(
    auth_server: str, tmp_path: Path, embedder: Embedder, token: str | None, says: str
) -> None:
    folder = tmp_path / "memory"
    with pytest.raises(StoreUnavailableError, match=says) as refused:
        MemoryStore.open(folder, embedder, server=ServerLocation(auth_server, token=token))
    assert "mneme-cli secret set chroma-server" in str(refused.value)
    assert TOKEN not in str(refused.value) and (token is None or token not in str(refused.value))
    MemoryStore.open(folder, embedder).close()  # the folder's lock was let go


def test_certificates_are_verified(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHROMA_SERVER_SSL_VERIFY", "false")  # the environment cannot turn it off
    tls = self_signed_certificate(tmp_path)
    with chroma_token_server(tmp_path / "server", TOKEN, tls=tls) as url:
        assert url.startswith("https://")
        location = ServerLocation(url, token=TOKEN)
        with pytest.raises(StoreUnavailableError, match="does not trust"):
            MemoryStore.open(tmp_path / "untrusted", embedder, server=location)
        monkeypatch.setenv("SSL_CERT_FILE", str(tls[0]))  # the person trusts this certificate
        with MemoryStore.open(tmp_path / "trusted", embedder, server=location) as store:
            store.add_episode(NewEpisode("Over TLS.", "user", "c"))
            assert store.count() == 1
