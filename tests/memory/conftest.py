"""Every store test runs twice: on embedded Chroma and on a real Chroma server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mneme.memory import MemoryStore, ServerLocation
from tests.servers import chroma_command, free_port, running


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(
        chroma_command(folder / "data", port),
        f"{url}/api/v2/heartbeat",
        folder / "server.log",
        env={"ANONYMIZED_TELEMETRY": "False"},
    ):
        yield url


def new_database(url: str) -> ServerLocation:
    """A fresh database on the server, so tests never see each other's memories."""
    import chromadb
    from chromadb.config import Settings

    host, port = url.removeprefix("http://").split(":")
    admin = chromadb.AdminClient(
        Settings(
            anonymized_telemetry=False,
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            chroma_server_host=host,
            chroma_server_http_port=int(port),
        )
    )
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin.create_database(name)
    return ServerLocation(url=url, database=name)


@pytest.fixture(params=["embedded", "server"])
def location(request: pytest.FixtureRequest) -> ServerLocation | None:
    if request.param == "embedded":
        return None
    url = request.getfixturevalue("chroma_server")
    return new_database(url)


@pytest.fixture
def open_store(tmp_path: Path, embedder, location):  # type: ignore[no-untyped-def]
    """Open stores in this test's folder, on this test's Chroma (embedded or server).

    ``separate=True`` gives a store of its own: another folder and, on a server,
    another database (two folders on one server database share one memory).
    """
    opened: list[MemoryStore] = []

    def open_(folder: Path | None = None, *, separate: bool = False, **kwargs):  # type: ignore[no-untyped-def]
        server = location
        if separate and location is not None:
            server = new_database(location.url)
        s = MemoryStore.open(
            folder or tmp_path / "memory",
            kwargs.pop("embedder", embedder),
            server=server,
            **kwargs,
        )
        opened.append(s)
        return s

    yield open_
    for s in opened:
        s.close()


@pytest.fixture
def store(open_store):  # type: ignore[no-untyped-def]
    return open_store()
