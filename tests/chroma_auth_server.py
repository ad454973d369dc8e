"""Chroma's own Python server with token authentication (and optionally TLS), on loopback.

``chroma run`` (the Rust server the other tests use) has no authentication; the
Python server that ships in the chromadb package does, with
``chromadb.auth.token_authn.TokenAuthenticationServerProvider``. Two things make it
start here: the OpenTelemetry FastAPI instrumentation it imports is not installed
(a no-op stand-in is put in its place; it only matters when tracing is configured),
and the server rebuilds every collection's embedding function by name, so
Mneme's ("mneme") is registered in the server process.

    python -m tests.chroma_auth_server PORT [CERTFILE KEYFILE]

with ``CHROMA_SERVER_AUTHN_CREDENTIALS`` (the token) and ``PERSIST_DIRECTORY`` set.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import free_port, running

ROOT = Path(__file__).resolve().parents[1]
PROVIDER = "chromadb.auth.token_authn.TokenAuthenticationServerProvider"


@contextmanager
def chroma_token_server(
    folder: Path, token: str, *, tls: tuple[Path, Path] | None = None, timeout: float = 90.0
) -> Iterator[str]:
    """A running server; yields its URL (``https://`` with ``tls``: certificate, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        "CHROMA_SERVER_AUTHN_PROVIDER": PROVIDER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": token,
        "IS_PERSISTENT": "TRUE",
        "PERSIST_DIRECTORY": str(folder / "data"),
        "ANONYMIZED_TELEMETRY": "False",
    }
    command = [sys.executable, "-m", "tests.chroma_auth_server", str(port)]
    if tls is not None:
        command += [str(tls[0]), str(tls[1])]
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    # verify=False for the readiness probe only: the certificate is what the tests are about
    with running(
        command,
        f"{url}/api/v2/heartbeat",
        folder / "server.log",
        timeout=timeout,
        env=env,
        cwd=ROOT,
        verify=False,
    ):
        yield url


def _serve(port: int, certfile: str | None, keyfile: str | None) -> None:
    instrumentation = types.ModuleType("opentelemetry.instrumentation.fastapi")

    class FastAPIInstrumentor:
        @staticmethod
        def instrument_app(*args: object, **kwargs: object) -> None:
            return None

    instrumentation.FastAPIInstrumentor = FastAPIInstrumentor  # type: ignore[attr-defined]
    sys.modules.setdefault(
        "opentelemetry.instrumentation", types.ModuleType("opentelemetry.instrumentation")
    )
    sys.modules["opentelemetry.instrumentation.fastapi"] = instrumentation

    from mneme.memory import _chroma

    _chroma._adapter_class()  # registers "mneme" with Chroma's embedding-function registry

    import uvicorn

    uvicorn.run(
        "chromadb.app:app",
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    _serve(int(args[0]), args[1] if len(args) > 2 else None, args[2] if len(args) > 2 else None)
