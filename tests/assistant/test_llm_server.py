"""The OpenAI-compatible server backend: a real llama_cpp.server, and servers that misbehave."""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mneme.assistant.chat import ChatService, Finished, Token
from mneme.assistant.llm import (
    CancelToken,
    ChatMessage,
    GenerationError,
    ModelLoadError,
    SamplingParams,
)
from mneme.assistant.llm.server import ServerBackend
from mneme.assistant.settings import Settings
from mneme.memory import MemoryStore
from tests.conftest import MODEL_SERVER_KEY_FOR_TESTS as KEY
from tests.servers import free_port

HELLO = [ChatMessage("user", "Say hello.")]


def test_chats_through_a_real_server(model_server: str) -> None:
    backend = ServerBackend(model_server, api_key=KEY, context_length=2048)
    backend.load()
    pieces = list(backend.stream_chat(HELLO, SamplingParams(max_tokens=12, seed=1)))
    assert len(pieces) >= 2 and "".join(pieces).strip()
    assert backend.count_tokens("hello world") == 2  # the server's own tokenizer
    assert backend.count_messages(HELLO) > backend.count_tokens("Say hello.")
    backend.close()


def test_stop_closes_the_stream_between_chunks(model_server: str) -> None:
    backend = ServerBackend(model_server, api_key=KEY)
    cancel = CancelToken()
    got = 0
    story = [ChatMessage("user", "Tell me a long story about a lighthouse.")]
    for _ in backend.stream_chat(story, SamplingParams(max_tokens=300), cancel=cancel):
        got += 1
        if got == 3:
            cancel.cancel()
    assert got == 3
    backend.close()


def test_json_schema_output_parses_through_the_server(model_server: str) -> None:
    backend = ServerBackend(model_server, api_key=KEY)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    text = "".join(
        backend.stream_chat(
            [ChatMessage("user", "Where is the Eiffel tower?")],
            SamplingParams(max_tokens=40, temperature=0.1),
            json_schema=schema,
        )
    )
    assert isinstance(json.loads(text, strict=False)["city"], str)
    backend.close()


def test_a_wrong_key_is_reported_plainly(model_server: str) -> None:
    with pytest.raises(ModelLoadError, match="refused the API key"):
        ServerBackend(model_server, api_key="wrong").load()
    backend = ServerBackend(model_server, api_key="wrong")
    with pytest.raises(GenerationError, match="refused the API key"):
        list(backend.stream_chat(HELLO, SamplingParams(max_tokens=4)))


def test_the_chat_service_works_over_the_server(model_server: str, store: MemoryStore) -> None:
    backend = ServerBackend(model_server, api_key=KEY, context_length=2048)
    settings = Settings()
    settings.generation.max_tokens = 16
    chat = ChatService(backend, store, settings)
    events = list(chat.send("c", "My bike is red."))
    reply = events[-1]
    assert isinstance(reply, Finished) and reply.reply.text
    assert [m.role for m in store.conversation("c")] == ["user", "assistant"]


def test_a_llama_cpp_server_reads_ahead_and_the_reply_finds_the_prompt_read(
    model_server: str, model_server_log: Path
) -> None:
    backend = ServerBackend(model_server, api_key=KEY, context_length=2048)
    backend.load()
    assert backend.keeps_prompts
    messages = [
        ChatMessage("system", "You are a lighthouse keeper's assistant. " * 12),
        ChatMessage("user", f"What did I say about the storm of {time.time()}?"),
    ]
    began = len(model_server_log.read_text())
    assert list(backend.read_prompt(messages, step=32)) == []  # the model is free at once
    backend.wait_read_ahead(timeout=120)
    seen = len(model_server_log.read_text())
    assert list(backend.stream_chat(messages, SamplingParams(max_tokens=2, seed=1)))
    said = model_server_log.read_text()
    read = re.compile(r"prompt eval time =.*/\s*(\d+) tokens")
    ahead, reply = read.findall(said[began:seen]), read.findall(said[seen:])
    assert ahead and int(ahead[-1]) > 100, said[began:seen][-500:]  # the whole prompt
    assert reply and int(reply[0]) <= 2, said[seen:][-500:]  # nothing left but a token
    backend.close()


# -- servers that misbehave ---------------------------------------------------------------

Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


def serve(handler: Handler) -> tuple[str, Callable[[], None]]:
    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            handler(self)

        def do_GET(self) -> None:
            handler(self)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/v1", server.shutdown


def sse(handler: http.server.BaseHTTPRequestHandler, lines: list[bytes]) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.end_headers()
    for line in lines:
        handler.wfile.write(line)
        handler.wfile.flush()


def chunk(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"delta": {"content": text}}]}).encode() + b"\n\n"


def test_a_server_that_is_down() -> None:
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match="cannot be reached"):
        ServerBackend(f"http://127.0.0.1:{free_port()}/v1", retries=1).load()
    assert time.monotonic() - started < 10
    with pytest.raises(GenerationError, match="cannot be reached"):
        list(
            ServerBackend(f"http://127.0.0.1:{free_port()}/v1", retries=0).stream_chat(
                HELLO, SamplingParams()
            )
        )


def test_a_slow_server_times_out() -> None:
    url, stop = serve(lambda h: time.sleep(3))
    try:
        backend = ServerBackend(url, timeout=0.5, retries=0)
        with pytest.raises(GenerationError, match="did not answer"):
            list(backend.stream_chat(HELLO, SamplingParams()))
    finally:
        stop()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([b"hello, I am not an event stream\n"], "not a stream"),
        ([b"data: {not json\n\n"], "malformed chunk"),
        ([b'data: {"choices": []}\n\n'], "malformed chunk"),
        ([chunk("one"), chunk(" two")], "closed the connection mid-reply"),
    ],
)
def test_garbage_and_broken_streams_are_reported(lines: list[bytes], message: str) -> None:
    url, stop = serve(lambda h: sse(h, lines))
    try:
        got: list[str] = []
        with pytest.raises(GenerationError, match=message):
            for piece in ServerBackend(url, retries=0).stream_chat(HELLO, SamplingParams()):
                got.append(piece)
        if "mid-reply" in message:
            assert got == ["one", " two"]
    finally:
        stop()


def test_an_error_status_is_reported_with_its_detail() -> None:
    def fail(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(500)
        h.end_headers()
        h.wfile.write(b"model exploded")

    url, stop = serve(fail)
    try:
        with pytest.raises(GenerationError, match="500: model exploded"):
            list(ServerBackend(url, retries=0).stream_chat(HELLO, SamplingParams()))
    finally:
        stop()


def test_a_reply_cut_off_by_the_server_is_kept(store: MemoryStore) -> None:
    url, stop = serve(lambda h: sse(h, [chunk("It is"), chunk(" rainy")]))
    try:
        chat = ChatService(ServerBackend(url, retries=0), store, Settings())
        events = list(chat.send("c", "What's the weather?"))
        assert [e.text for e in events if isinstance(e, Token)] == ["It is", " rainy"]
        reply = events[-1]
        assert isinstance(reply, Finished) and "mid-reply" in (reply.reply.error or "")
        assert [m.text for m in store.conversation("c")] == ["What's the weather?", "It is rainy"]
    finally:
        stop()


def test_reading_ahead_asks_nothing_of_a_server_that_does_not_keep_prompts() -> None:
    asked: list[str] = []

    def answer(h: http.server.BaseHTTPRequestHandler) -> None:
        asked.append(h.path)
        h.send_response(404)
        h.end_headers()

    url, stop = serve(answer)
    try:
        backend = ServerBackend(url, retries=0)
        assert list(backend.read_prompt(HELLO, step=32)) == []
        backend.wait_read_ahead()
        assert not backend.keeps_prompts
        assert asked and not any(path.endswith("/chat/completions") for path in asked)
    finally:
        stop()


def test_not_a_server_url_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="not a model server URL"):
        ServerBackend("ftp://example.org")
