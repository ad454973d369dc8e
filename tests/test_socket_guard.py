"""The network guard itself: loopback passes, anything else fails the run."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests import socket_guard


@pytest.fixture
def expected_violation() -> Iterator[None]:
    """The attempts these tests make on purpose must not fail the session."""
    before = len(socket_guard.violations)
    yield
    assert len(socket_guard.violations) > before
    del socket_guard.violations[before:]


def test_loopback_connections_work() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    with server, socket.create_connection(server.getsockname(), timeout=5):
        pass


@pytest.mark.usefixtures("expected_violation")
def test_a_connection_beyond_loopback_is_refused() -> None:
    with pytest.raises(socket_guard.NetworkGuardError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)


@pytest.mark.usefixtures("expected_violation")
def test_a_name_lookup_is_refused() -> None:
    with pytest.raises(socket_guard.NetworkGuardError):
        socket.getaddrinfo("huggingface.co", 443)


@pytest.mark.usefixtures("expected_violation")
def test_an_http_client_is_refused() -> None:
    import httpx

    with pytest.raises(httpx.ConnectError):
        httpx.get("https://example.com", timeout=2)
