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

import datetime
import ipaddress
import os
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PROVIDER = "chromadb.auth.token_authn.TokenAuthenticationServerProvider"


@contextmanager
def chroma_token_server(
    folder: Path, token: str, *, tls: tuple[Path, Path] | None = None, timeout: float = 90.0
) -> Iterator[str]:
    """A running server; yields its URL (``https://`` with ``tls``: certificate, key)."""
    from tests.servers import free_port

    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "CHROMA_SERVER_AUTHN_PROVIDER": PROVIDER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": token,
        "IS_PERSISTENT": "TRUE",
        "PERSIST_DIRECTORY": str(folder / "data"),
        "ANONYMIZED_TELEMETRY": "False",
    }
    command = [sys.executable, "-m", "tests.chroma_auth_server", str(port)]
    if tls is not None:
        command += [str(tls[0]), str(tls[1])]
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    with open(folder / "server.log", "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited:\n{(folder / 'server.log').read_text()}")
                try:
                    # readiness only: the certificate is what the tests are about
                    if httpx.get(f"{url}/api/v2/heartbeat", timeout=1.0, verify=False).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no answer:\n{(folder / 'server.log').read_text()}")
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that signs itself (so no system trusts it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mneme test chroma")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


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

    from memory import _chroma

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
