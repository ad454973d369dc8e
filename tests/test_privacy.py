"""Privacy: the app, as installed with default settings, opens no connection; its folders
and files are private to the user; its log holds neither what people write nor their
keys (unless they switch debug logging on, and then still no keys); no key reaches a
file or an export."""

from __future__ import annotations

import ast
import http.server
import io
import json
import logging
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mneme.assistant import cli, logs
from mneme.assistant.chat import Finished
from mneme.assistant.core import Assistant
from mneme.assistant.paths import AppPaths
from mneme.assistant.secrets import MODEL_SERVER_KEY, Secrets

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY")
PHRASE = "my locker code is 4471-tangerine"
KEY = "sk-mneme-test-91c0d7e2a5"


# -- no connection ----------------------------------------------------------------------------


def record_sockets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every connect, bind and name lookup made from Python from now on, loopback included
    (the suite's socket guard only refuses what goes beyond loopback)."""
    seen: list[str] = []

    def wrap(owner: Any, name: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            seen.append(f"{name}{args[1:] if owner is socket.socket else args}")
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, recorded)

    for name in ("connect", "connect_ex", "bind"):
        wrap(socket.socket, name)
    wrap(socket, "getaddrinfo")
    return seen


def test_the_app_with_default_settings_opens_no_connection(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory, model, a reply and a search, with nothing set by the test to keep it offline."""
    for flag in (*OFFLINE_FLAGS, "ANONYMIZED_TELEMETRY"):
        monkeypatch.delenv(flag, raising=False)
    seen = record_sockets(monkeypatch)
    assistant = Assistant.from_environment(home)
    try:
        store = assistant.open_memory()
        assistant.open_model()
        reply = list(assistant.chat().send("c", "I keep my bicycle in the shed."))[-1]
        assert store.search("where is my bicycle?", k=3)
        telemetry = store._client.get_settings().anonymized_telemetry
    finally:
        assistant.close()
    assert seen == []
    assert isinstance(reply, Finished) and reply.reply.text
    assert telemetry is False
    for flag in OFFLINE_FLAGS:  # set by the app itself (memory.embedding.force_offline)
        assert os.environ.get(flag) == "1", flag


CHILD = """
import json, sys
sys.path.insert(0, {root!r})
from mneme.assistant.core import Assistant
assistant = Assistant.from_environment()
store = assistant.open_memory()
assistant.open_model()
chat = assistant.chat()
events = list(chat.send("c", "My favourite colour is teal; my cat is called Miso."))
hits = store.search("what is my cat called?", k=3)
report = assistant.consolidation.run(everything=True)
import huggingface_hub.constants, transformers.utils.hub
print(json.dumps({{
    "reply": events[-1].reply.text,
    "hits": len(hits),
    "consolidation": report.status,
    "hub_offline": huggingface_hub.constants.HF_HUB_OFFLINE,
    "transformers_offline": transformers.utils.hub.is_offline_mode(),
    "telemetry": store._client.get_settings().anonymized_telemetry,
}}))
assistant.close()
"""


def _strace() -> str | None:
    path = shutil.which("strace")
    if path is None:
        return None
    probe = subprocess.run([path, "-f", "-o", os.devnull, "true"], capture_output=True)
    return path if probe.returncode == 0 else None


@pytest.mark.slow
def test_not_even_native_code_opens_a_connection(tmp_path: Path) -> None:
    """The same and a consolidation run, in a fresh process traced by strace, so that
    llama.cpp, Chroma's Rust core and torch are watched too: no internet socket is even
    created. The only connect allowed is glibc asking the local name-service cache
    daemon (nscd, a Unix socket) about the user, which happens when USER is unset."""
    strace = _strace()
    if strace is None:
        pytest.skip("strace is not available here")
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    settings = {"version": 2, "model": {"threads": 1, "context_length": 2048, "seed": 7}}
    settings["generation"] = {"max_tokens": 24}
    (home / "config" / "settings.json").write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if k not in (*OFFLINE_FLAGS, "ANONYMIZED_TELEMETRY")}
    env["MNEME_HOME"] = str(home)
    trace = tmp_path / "trace.txt"
    traced = [strace, "-f", "-qq", "-e", "trace=socket,connect,bind", "-o", str(trace)]
    done = subprocess.run(
        [*traced, sys.executable, "-c", CHILD.format(root=str(ROOT))],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["reply"] and result["hits"] and result["consolidation"] == "done"
    assert result["hub_offline"] is True and result["transformers_offline"] is True
    assert result["telemetry"] is False
    calls = [line.split(None, 1)[1] for line in trace.read_text().splitlines() if " " in line]
    internet = [c for c in calls if "AF_INET" in c]
    connects = [c for c in calls if c.startswith("connect(") and "nscd" not in c]
    assert internet == [] and connects == [], (internet + connects)[:10]


# -- private folders and files ----------------------------------------------------------------


def run_cli(home: Path, *args: str) -> None:
    env = {**os.environ, "MNEME_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "mneme.assistant.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_folders_and_files_are_private_even_under_a_permissive_umask(tmp_path: Path) -> None:
    home = tmp_path / "home"
    previous = os.umask(0o022)  # what most systems give a new process: files readable by all
    try:
        run_cli(home, "settings", "set", "ui.font_size", "12")
        run_cli(home, "conversations", "list")  # opens (creates) the memory store
        paths = AppPaths.resolve(tmp_path / "other").ensure()  # the library path, in process
    finally:
        os.umask(previous)
    for folder in (paths.data, paths.config, paths.cache, paths.logs):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder

    def mode(relative: str) -> int:
        return stat.S_IMODE((home / relative).stat().st_mode)

    for name in ("data", "config", "cache", "logs", "data/memory"):
        assert mode(name) == 0o700, name
    for name in ("config/settings.json", "data/memory/ledger.sqlite3", "logs/mneme.log"):
        assert mode(name) == 0o600, name
    found = list(home.rglob("*"))
    assert any(p.name == "chroma.sqlite3" for p in found)
    loose = [p for p in found if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert loose == [], loose[:5]


# -- logs, files and exports hold no key, and no text unless asked --------------------------


def test_mnemes_log_calls_use_literal_format_strings() -> None:
    """What the private log relies on: text only ever reaches a record as an argument."""
    levels = {"debug", "info", "warning", "error", "exception", "critical", "log"}
    loose = []
    for package in ("memory", "assistant", "ui"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                base = node.func.value
                name = base.id if isinstance(base, ast.Name) else ""
                if node.func.attr not in levels or name not in ("log", "logger", "logging"):
                    continue
                args = node.args[1:] if node.func.attr == "log" else node.args
                if not args or not (
                    isinstance(args[0], ast.Constant) and isinstance(args[0].value, str)
                ):
                    loose.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert loose == []


class CarelessServer(http.server.BaseHTTPRequestHandler):
    """An OpenAI-style model server that wants the key, and code in the same process that
    logs carelessly: what was sent, the key, an exception holding both, and another
    library's f-string."""

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {KEY}":
            return True
        self.send_response(401)
        self.end_headers()
        return False

    def do_GET(self) -> None:
        if not self._authorised():
            return
        body = b'{"data": [{"id": "careless"}]}' if self.path == "/v1/models" else b"{}"
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        sent = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if not self._authorised():
            return
        if not self.path.endswith("/chat/completions"):
            self.send_response(404)
            self.end_headers()
            return
        auth = self.headers.get("Authorization", "")
        logging.getLogger("mneme.assistant.llm.server").warning("sent %s with %s", sent, auth)
        logging.getLogger("httpx").warning(f"raw request {auth} {sent[:300]}")
        try:
            raise ValueError(f"could not handle {sent} from {auth}")
        except ValueError:
            logging.getLogger("mneme.memory.store").exception("failed on %r", sent)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        piece = {"choices": [{"delta": {"content": "Noted."}}]}
        self.wfile.write(b"data: " + json.dumps(piece).encode() + b"\n\ndata: [DONE]\n\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def careless_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CarelessServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def use_server(home: Path, url: str) -> None:
    settings = json.loads((home / "config" / "settings.json").read_text())
    settings["server"] = {"enabled": True, "url": url, "retries": 0}
    (home / "config" / "settings.json").write_text(json.dumps(settings))
    Secrets(home / "config" / "secrets.json").set(MODEL_SERVER_KEY, KEY)


def mneme(home: Path, *args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--home", str(home), *args], out=out, err=err)
    assert code == 0, err.getvalue()
    return out.getvalue()


def files_holding(root: Path, text: str) -> list[str]:
    needle = text.encode()
    return [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and needle in p.read_bytes()
    ]


def test_no_message_text_or_key_reaches_the_log_and_no_key_a_file_or_export(
    home: Path, careless_server: str, memory_keyring: object
) -> None:
    use_server(home, careless_server)
    assert "Noted." in mneme(home, "ask", f"Please remember that {PHRASE}.")
    exports = home / "exports"
    exports.mkdir()
    mneme(home, "memory", "export", str(exports / "all.json"))
    mneme(home, "memory", "export", str(exports / "all.md"))
    mneme(home, "conversations", "export", str(exports / "chats.md"))

    log = (home / "logs" / logs.LOG_FILE).read_text(encoding="utf-8")
    assert "sent ‹text," in log and "ValueError" in log  # the careless records are there...
    assert PHRASE not in log and "4471" not in log  # ...without what was written
    assert files_holding(home, KEY) == []  # not in the log, settings, memory or exports
    assert files_holding(home / "logs", "tangerine") == []
    assert files_holding(home / "config", "tangerine") == []
    assert all(PHRASE in (exports / name).read_text() for name in ("all.json", "all.md"))


def test_debug_logging_shows_the_text_and_still_no_key(
    home: Path, careless_server: str, memory_keyring: object
) -> None:
    use_server(home, careless_server)
    mneme(home, "--debug", "ask", "--temporary", f"Please remember that {PHRASE}.")
    log = (home / "logs" / logs.LOG_FILE).read_text(encoding="utf-8")
    assert PHRASE in log  # debug logging is what the person asked for...
    assert KEY not in log and "‹secret›" in log  # ...but keys are never written
    assert files_holding(home, KEY) == []


def test_rotated_logs_stay_private(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        setup = logs.setup(AppPaths.resolve(tmp_path).ensure(), debug=False)
        try:
            handler = setup.handlers[0]
            assert isinstance(handler, logs.PrivateFileHandler)
            handler.maxBytes = 300
            for i in range(40):
                logging.getLogger("mneme.assistant.test").info("record number %d", i)
        finally:
            setup.close()
    finally:
        os.umask(previous)
    files = sorted((tmp_path / "logs").iterdir())
    assert len(files) == 1 + logs.BACKUPS
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
